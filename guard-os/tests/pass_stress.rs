//! Closes race `for_each` passes on real fds for a bounded time (issue 14): two threads open
//! pipes and `/dev/null` fds and close them while two others walk `fds()`. A close meets a
//! pass's batch lease before, during or after its visit, on the other core, over and over:
//! the pass never visits a closed or reused fd (R1), every close happens (a pipe's reader
//! sees EOF, no number stays open once the passes end), and nothing hangs (a watchdog).
//!
//! One test in its own binary: the registry holds only this test's fds, so closes keep
//! meeting the passes' current batches.
// Linux only: it reads /proc/self/fd (macOS and FreeBSD are compile-checked, README).
#![cfg(target_os = "linux")]

mod common;

use guard_os::{Fd, LiveFd, ReadFile, fds};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long the closers and the passes race.
fn race_time() -> Duration {
    Duration::from_millis(common::size(1_500, 15_000) as u64)
}

/// R1 for one visited fd: open, and still the fd of the type that registered it. Returns
/// what it points to (a pipe's inode is new for each pipe).
fn check(fd: &LiveFd<'_>) -> String {
    let n = fd.number();
    assert!(
        rustix::io::fcntl_getfd(fd.as_fd()).is_ok(),
        "R1: visited fd {n} closed"
    );
    let target = guard_testkit::fd_target(n).unwrap_or_else(|| panic!("R1: visited fd {n} closed"));
    let name = fd.type_name();
    if name.contains("Pipe") {
        assert!(target.starts_with("pipe:"), "R1: fd {n} reused: {target}");
    } else {
        assert_eq!(target, "/dev/null", "R1: fd {n} ({name}) reused");
    }
    target
}

#[test]
fn closes_racing_passes_never_show_a_closed_fd_and_all_happen() {
    common::watchdog(60, || {
        let before = common::open_fds();
        // Enough long-lived fds for two batches per pass, so that closes meet batches at
        // every position.
        let long_lived: Vec<ReadFile> = (0..40)
            .map(|_| ReadFile::open("/dev/null").unwrap())
            .collect();
        let stop = AtomicBool::new(false);
        let (closes, visits) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let until = Instant::now() + race_time();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    // Each closer keeps 16 pipes and a `/dev/null` fd per pipe open, and
                    // closes the oldest: the passes lease and visit them meanwhile.
                    let mut ring = VecDeque::new();
                    while Instant::now() < until || !ring.is_empty() {
                        if Instant::now() < until {
                            let (reader, mut writer) = guard_os::pipe().unwrap();
                            let null = Fd::adopt(File::open("/dev/null").unwrap().into());
                            writer.write_all(b"x").unwrap();
                            ring.push_back((reader, writer, null));
                            if ring.len() < 16 {
                                continue;
                            }
                        }
                        let (mut reader, writer, null) = ring.pop_front().unwrap();
                        writer.close().expect("close the writer");
                        null.close().expect("close /dev/null");
                        // A close that met a visit happens when the visit returns: the
                        // reader sees the byte, then EOF, soon (never a hang).
                        let mut got = Vec::new();
                        reader.read_to_end(&mut got).unwrap();
                        assert_eq!(got, b"x");
                        reader.close().expect("close the reader");
                        closes.fetch_add(3, Ordering::Relaxed);
                        // Leave the passes their share of the two cores.
                        std::thread::yield_now();
                    }
                    stop.store(true, Ordering::Relaxed);
                });
            }
            for _ in 0..2 {
                s.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        fds().for_each(|fd| {
                            let first = check(fd);
                            // Let a closer run mid-visit (4 threads on 2 cores here).
                            std::thread::yield_now();
                            let n = fd.number();
                            assert_eq!(check(fd), first, "R1: fd {n} reused during its visit");
                            visits.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                });
            }
        });
        assert!(closes.load(Ordering::Relaxed) > 0 && visits.load(Ordering::Relaxed) > 0);
        drop(long_lived);
        assert_eq!(common::open_fds(), before, "an fd outlived its close");
        assert_eq!(fds().len(), 0);
    });
}
