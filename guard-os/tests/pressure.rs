//! fd pressure (F5): when creating an fd fails with EMFILE, pending counted releases are
//! drained and the creation retried once. Runs in a child process with a low
//! RLIMIT_NOFILE, so that the limit does not disturb other tests.

mod common;

use guard_core::Counted;
use guard_os::{ReadFile, pipe, pressure_retries};
use guard_testkit::Blocker;
use std::time::{Duration, Instant};

/// Opens ReadFiles until the process is out of fds.
fn fill() -> Vec<Counted<ReadFile>> {
    let mut held = Vec::new();
    loop {
        match ReadFile::open("/dev/null") {
            Ok(f) => held.push(Counted::new(f)),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                return held;
            }
        }
        assert!(held.len() < 1000, "RLIMIT_NOFILE was not lowered");
    }
}

fn child_role() {
    let limit = rustix::process::Rlimit {
        current: Some(64),
        maximum: None,
    };
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            maximum: hard,
            ..limit
        },
    )
    .unwrap();
    // Start the finalizer before the fds run out (a flush alone starts nothing).
    drop(Counted::new(Blocker(Duration::ZERO)));
    guard_core::finalizer::flush().unwrap();

    // Without anything pending, the retry cannot help: EMFILE comes back.
    let mut held = fill();
    let before = pressure_retries();
    let e = ReadFile::open("/dev/null").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
    assert_eq!(pressure_retries(), before + 1);

    // With counted fds pending behind a slow release: the drain frees them, the retry works.
    drop(Counted::new(Blocker(Duration::from_millis(300))));
    for _ in 0..4 {
        drop(held.pop());
    }
    let start = Instant::now();
    let f = ReadFile::open("/dev/null").expect("drain + retry succeeds");
    assert!(
        start.elapsed() >= Duration::from_millis(200),
        "it waited for the finalizer"
    );
    assert_eq!(pressure_retries(), before + 2);

    // pipe() (two fds at once) gets the same treatment, from a full table again.
    held.extend(fill());
    let before_pipe = pressure_retries();
    drop(Counted::new(Blocker(Duration::from_millis(100))));
    for _ in 0..3 {
        drop(held.pop());
    }
    let (r, w) = pipe().expect("drain + retry succeeds for pipes");
    assert_eq!(
        pressure_retries(),
        before_pipe + 1,
        "the pipe needed the retry"
    );
    w.close().unwrap();
    drop((r, f, held));
    println!("BEGIN\nok\nEND");
}

#[test]
fn emfile_drains_pending_counted_releases_and_retries_once() {
    if common::role().as_deref() == Some("emfile") {
        return child_role();
    }
    if common::role().is_some() {
        return;
    }
    let out = common::output_of(
        &mut common::child(
            "emfile_drains_pending_counted_releases_and_retries_once",
            "emfile",
        ),
        60,
    );
    assert!(
        out.status.success() && common::payload(&out) == ["ok"],
        "child failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
