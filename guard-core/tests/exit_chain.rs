//! F1's one exception, at exit (issue 12): once `main` has returned, releases run inline,
//! and never recursively. A child process (this binary again) holds a 100,000-link chain of
//! counted values in a thread-local of its main thread, which the C runtime destroys after
//! `main` returns; the chain must be released in full, on a stack of constant depth. The
//! parent checks the child's exit and output under a watchdog. (Its own `main`, no test
//! harness: the harness runs tests off the main thread.)

use guard_core::{Counted, CountedResource, Resource, finalizer};
use std::cell::RefCell;
use std::io::Write as _;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const LINKS: usize = 100_000;
const CHILD: &str = "GUARD_EXIT_CHAIN_CHILD";

static RELEASED: AtomicUsize = AtomicUsize::new(0);

/// A link of a chain: its release drops the next link's last handle.
struct Link(Option<Counted<Link>>);

impl Resource for Link {
    type Error = std::convert::Infallible;
    fn release(mut self) -> Result<(), Self::Error> {
        let n = RELEASED.fetch_add(1, Ordering::SeqCst) + 1;
        drop(self.0.take());
        if n == LINKS {
            let s = finalizer::stats();
            let _ = writeln!(std::io::stdout(), "released {n}, inline {}", s.inline);
        }
        Ok(())
    }
}
impl CountedResource for Link {}

thread_local! {
    static CHAIN: RefCell<Option<Counted<Link>>> = const { RefCell::new(None) };
}

fn child() {
    let mut head = None;
    for _ in 0..LINKS {
        head = Some(Counted::new(Link(head)));
    }
    // First used before the runtime guard arms its exit sentinel, so destroyed after it.
    CHAIN.with(|c| *c.borrow_mut() = head);
    let _rt = guard_core::runtime();
    guard_core::event::set_hook(|_| {});
}

fn main() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let exe = std::env::current_exe().expect("own path");
    let out = guard_testkit::output_of(Command::new(exe).env(CHILD, "1"), Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {:?}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim(),
        format!("released {LINKS}, inline {LINKS}"),
        "every link released inline at exit"
    );
    println!(
        "exit_chain: a {LINKS}-link chain dropped after main returned is released inline, without recursion: ok"
    );
}
