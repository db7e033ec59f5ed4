//! `fork()` without exec (issue 12, item 3): a forked child can use guard.
//!
//! - **a thousand forks while other threads churn** counted values and `for_each` passes:
//!   each child drops counted fds it inherited and counted fds it opened, flushes, and
//!   checks in `/proc/self/fd` that every one of them is closed and that nothing is
//!   pending; no child may hang (each waited for under a timeout) or leak;
//! - **a pre-fork server**: a parent forks 4 workers that each serve requests opening and
//!   dropping counted fds at `RLIMIT_NOFILE` 64, with no failure.
//!
//! Children end with `_exit`; their verdict is their exit code. Sizes: CI by default;
//! `GUARD_FULL=1` for the (see `RELIABILITY.md`).
// Linux only: it reads /proc/self/fd (macOS and FreeBSD are compile-checked, README).
#![cfg(target_os = "linux")]

mod reliability;

use guard::Counted;
use guard::os::{ReadFile, fds};
use reliability::{FdSnapshot, Record, size, wait_pid, watchdog};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const SUITE: &str = "fork";

/// Exit codes of a forked child.
const OK: i32 = 0;
const FLUSH_FAILED: i32 = 10;
const STILL_OPEN: i32 = 11;
const PENDING: i32 = 12;
const OPEN_FAILED: i32 = 13;
const REGISTRY: i32 = 14;
const PANICKED: i32 = 15;

/// Ends a forked child without running the parent's destructors or atexit handlers.
fn exit_child(code: i32) -> ! {
    // SAFETY: _exit ends the process at once; the child owns nothing that must be flushed.
    unsafe { libc::_exit(code) }
}

/// Forks; the child runs `child` and `_exit`s with its code.
fn fork_into(child: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: the child runs only `child` (guard and std calls, which is what this suite
    // checks) and ends in `_exit`, never returning into the test harness.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child));
        exit_child(code.unwrap_or(PANICKED));
    }
    assert!(pid > 0, "fork failed: {}", std::io::Error::last_os_error());
    pid
}

/// In the child: drops `inherited` (counted fds the parent made before the fork) and fds
/// of its own, flushes, and checks that each is closed and nothing is pending.
fn child_drops_and_checks(inherited: Vec<Counted<ReadFile>>) -> i32 {
    let mut numbers: Vec<i32> = inherited.iter().map(|c| c.as_raw_fd()).collect();
    let mut own = Vec::new();
    for _ in 0..4 {
        match ReadFile::open("/dev/null") {
            Ok(f) => own.push(Counted::new(f)),
            Err(_) => return OPEN_FAILED,
        }
    }
    numbers.extend(own.iter().map(|c| c.as_raw_fd()));
    let registered = fds().len();
    drop(inherited);
    drop(own);
    if guard::finalizer::flush_timeout(Duration::from_secs(20)).is_err() {
        return FLUSH_FAILED;
    }
    if numbers
        .iter()
        .any(|&n| guard_testkit::fd_target(n).is_some())
    {
        return STILL_OPEN;
    }
    if guard::finalizer::stats().pending != 0 {
        return PENDING;
    }
    if fds().len() + numbers.len() != registered {
        return REGISTRY;
    }
    OK
}

#[test]
fn a_thousand_forks_while_threads_churn_counted_values_and_passes() {
    let _s = reliability::serial();
    let forks = size(100, 1_000);
    watchdog("a thousand forks", 900, move || {
        reliability::flush();
        let base = FdSnapshot::take();
        let start = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        // Parent threads keep the finalizer's queue, the census and the registry busy.
        let churn: Vec<_> = (0..3)
            .map(|t| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match t {
                            0 => drop(Counted::new(ReadFile::open("/dev/null").unwrap())),
                            1 => fds().for_each(|_| {}),
                            _ => {
                                let held: Vec<_> = (0..8)
                                    .map(|_| Counted::new(ReadFile::open("/dev/null").unwrap()))
                                    .collect();
                                fds().for_each(|_| {});
                                drop(held);
                            }
                        }
                    }
                })
            })
            .collect();
        let (mut ok, mut hung, mut failed) = (0u64, 0u64, Vec::new());
        for _ in 0..forks {
            let inherited: Vec<_> = (0..4)
                .map(|_| Counted::new(ReadFile::open("/dev/null").unwrap()))
                .collect();
            // Moved in: in the child these are the last handles; in the parent the closure
            // (and the handles) are dropped when `fork_into` returns.
            let pid = fork_into(move || child_drops_and_checks(inherited));
            match wait_pid(pid, Duration::from_secs(30)) {
                Some(OK) => ok += 1,
                Some(code) => failed.push(code),
                None => hung += 1,
            }
        }
        stop.store(true, Ordering::Relaxed);
        for t in churn {
            t.join().unwrap();
        }
        reliability::flush();
        let (leaked, lost) = FdSnapshot::take().diff(&base);
        Record::new(
            SUITE,
            "a_thousand_forks_while_threads_churn_counted_values_and_passes",
        )
        .count("forks", forks as u64)
        .count("children_ok", ok)
        .count("children_hung", hung)
        .count("children_failed", failed.len() as u64)
        .count("fds_leaked_in_parent", leaked.len() as u64)
        .secs("seconds", start)
        .emit();
        assert_eq!(hung, 0, "children hung");
        assert!(failed.is_empty(), "children failed with codes {failed:?}");
        assert!(leaked.is_empty() && lost.is_empty(), "{leaked:?} {lost:?}");
    });
}

/// A worker of the pre-fork server: `requests` requests, each opening counted fds, reading
/// one and dropping them all, at `RLIMIT_NOFILE` 64. Its exit code is its failures
/// (capped), 0 if none.
fn worker(requests: usize) -> i32 {
    reliability::set_nofile(64);
    let mut failures = 0i32;
    for _ in 0..requests {
        let opened: Result<Vec<_>, _> = (0..8)
            .map(|_| ReadFile::open("/dev/null").map(Counted::new))
            .collect();
        match opened {
            Ok(files) => {
                let mut buf = [0u8; 1];
                if std::io::Read::read(&mut &*files[0], &mut buf).is_err() {
                    failures += 1;
                }
            }
            Err(_) => failures += 1,
        }
    }
    if guard::finalizer::flush_timeout(Duration::from_secs(20)).is_err() {
        failures += 1;
    }
    failures.min(100)
}

#[test]
fn a_pre_fork_server_with_four_workers_at_nofile_64() {
    let _s = reliability::serial();
    let requests = size(500, 5_000);
    watchdog("pre-fork server", 600, move || {
        // The parent uses guard first, as a server would: its finalizer runs at the fork.
        let listener_like = Counted::new(ReadFile::open("/dev/null").unwrap());
        drop(Counted::new(ReadFile::open("/dev/null").unwrap()));
        let start = Instant::now();
        let pids: Vec<_> = (0..4).map(|_| fork_into(|| worker(requests))).collect();
        let codes: Vec<_> = pids
            .into_iter()
            .map(|pid| wait_pid(pid, Duration::from_secs(300)))
            .collect();
        drop(listener_like);
        let hung = codes.iter().filter(|c| c.is_none()).count();
        let failures: i32 = codes.iter().flatten().sum();
        Record::new(SUITE, "a_pre_fork_server_with_four_workers_at_nofile_64")
            .count("workers", 4)
            .count("requests_per_worker", requests as u64)
            .count("workers_hung", hung as u64)
            .count("failures", failures as u64)
            .secs("seconds", start)
            .emit();
        assert_eq!(hung, 0, "workers hung: {codes:?}");
        assert_eq!(failures, 0, "workers failed: {codes:?}");
    });
}
