//! A tour of guard's core: a scope releasing unique resources in reverse order with every
//! error returned, counted handles released on the finalizer thread (including one whose
//! release takes a lock the dropping thread holds), and the final report.
//!
//! `cargo run --release --example tour`

use guard::{Counted, CountedResource, Resource, UniqueResource, finalizer, scope};
use std::process::ExitCode;
use std::sync::Mutex;

/// A lock acquisition: unique, released at the end of its scope.
struct Acquisition {
    name: &'static str,
}

impl Resource for Acquisition {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        println!("  released {} (on {})", self.name, thread_name());
        Ok(())
    }
}
impl UniqueResource for Acquisition {}

/// A journal whose close fails (as a full disk would make it).
struct FailingJournal;

impl Resource for FailingJournal {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        Err(std::io::Error::other(
            "write-back failed: no space left on device",
        ))
    }
}
impl UniqueResource for FailingJournal {}

static REGISTRY_LOCK: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// An OS handle: counted. Its release takes `REGISTRY_LOCK`: with a plain `Drop`, dropping
/// the last handle while holding that lock would deadlock.
struct OsHandle {
    name: &'static str,
}

impl Resource for OsHandle {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        REGISTRY_LOCK
            .lock()
            .map_err(|_| std::io::Error::other("registry lock poisoned"))?
            .push(self.name);
        Ok(())
    }
}
impl CountedResource for OsHandle {}

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_owned()
}

fn main() -> ExitCode {
    let rt = guard::runtime();
    let mut ok = true;

    println!("== 1. A scope: unique resources, released in reverse order of entry");
    let result = scope(|s| {
        let _outer = s.enter(Acquisition { name: "outer lock" });
        let _inner = s.enter(Acquisition { name: "inner lock" });
        let _journal = s.enter(FailingJournal);
        println!("  body done; leaving the scope");
        Ok::<_, std::io::Error>("body value")
    });
    match result {
        Err(e) => println!("  the scope returned every error: {e}"),
        Ok(_) => {
            println!("  FAILED: the journal's close error was lost");
            ok = false;
        }
    }

    println!("\n== 2. Counted handles: released later, on the finalizer thread");
    let handles: Vec<_> = (0..100)
        .map(|_| Counted::new(OsHandle { name: "handle" }))
        .collect();
    let extra = handles[0].clone();
    {
        let held = REGISTRY_LOCK.lock();
        drop(handles);
        drop(extra); // the last handles go while this thread holds REGISTRY_LOCK
        println!("  dropped 100 handles while holding the lock their release needs: no deadlock");
        drop(held);
    }
    match finalizer::flush() {
        Ok(()) => {
            let released = REGISTRY_LOCK.lock().map(|v| v.len()).unwrap_or(0);
            println!("  after flush: {released} released on `guard-finalizer`");
            if released != 100 {
                ok = false;
            }
        }
        Err(e) => {
            println!("  FAILED: flush: {e}");
            ok = false;
        }
    }

    println!("\n== 3. The report");
    let kept = Counted::new(OsHandle { name: "kept" });
    println!("{}", guard::report());
    drop(kept);

    let exit = rt.finish();
    println!(
        "\n== At exit: {}",
        if exit.is_clean() {
            "clean"
        } else {
            "NOT clean"
        }
    );
    if exit.flush.is_err() {
        ok = false;
    }
    if ok {
        println!("\nguard's guarantees held.");
        ExitCode::SUCCESS
    } else {
        println!("\nA guarantee did not hold: see above.");
        ExitCode::FAILURE
    }
}
