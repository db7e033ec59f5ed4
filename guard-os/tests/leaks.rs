//! Leaks: open/close cycles of every kind on two threads, with counted handles released on
//! the finalizer; after a flush, /proc/self/fd is back to its baseline. Alone in its test
//! binary, so no other test's fds disturb the count.
//!
//! Sizes: 20,000 cycles by default (CI); `GUARD_FULL=1` runs the 100,000. Each
//! thread flushes the finalizer every `CHUNK` cycles, so that at most a few thousand counted
//! fds are pending at once: RLIMIT_NOFILE may be as low as 20,000 and cannot be raised, and
//! this test is about leaks, not fd pressure (tests/pressure.rs), so it also checks that
//! no fd creation needed the pressure retry.
// Linux only: it reads /proc/self/fd (macOS and FreeBSD are compile-checked, README).
#![cfg(target_os = "linux")]

mod common;

use guard_core::Counted;
use guard_os::{Fd, ReadFile, UnixStream, WriteFile, fds, pipe, pressure_retries};
use std::io::Write;
use std::time::Instant;

/// Cycles per thread between two flushes of the finalizer.
const CHUNK: usize = 5_000;

fn cycle(i: usize, path: &std::path::Path) {
    match i % 5 {
        0 => ReadFile::open("/dev/null").unwrap().close().unwrap(),
        1 => drop(Counted::new(ReadFile::open("/dev/null").unwrap())), // finalizer closes
        2 => {
            let (r, w) = pipe().unwrap();
            w.close().unwrap();
            drop(Counted::new(r));
        }
        3 => {
            let mut f = WriteFile::append(path).unwrap();
            f.write_all(b".").unwrap();
            f.close().unwrap();
            let fd = Fd::adopt(std::fs::File::open("/dev/null").unwrap().into());
            drop(fd.into_owned().unwrap());
        }
        _ => {
            let (a, b) = UnixStream::pair().unwrap();
            a.close().unwrap();
            b.close().unwrap();
        }
    }
}

#[test]
fn open_close_cycles_leave_no_fd_behind() {
    let total = common::size(20_000, 100_000);
    let per_thread = total / 2;
    common::watchdog(if common::full() { 1200 } else { 300 }, move || {
        // Warm up lazily-opened process state (finalizer thread, registry) first.
        drop(Counted::new(ReadFile::open("/dev/null").unwrap()));
        guard_core::finalizer::flush().unwrap();
        let baseline = common::open_fds();
        let registered = fds().len();
        let released = guard_core::finalizer::stats().released;
        let retries = pressure_retries();
        let start = Instant::now();

        let threads: Vec<_> = (0..2)
            .map(|t| {
                std::thread::spawn(move || {
                    let path = common::temp_path(&format!("leak-{t}"));
                    for i in 0..per_thread {
                        cycle(i, &path);
                        if (i + 1) % CHUNK == 0 {
                            guard_core::finalizer::flush().unwrap();
                        }
                    }
                    std::fs::remove_file(path).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        guard_core::finalizer::flush().unwrap();
        let elapsed = start.elapsed();
        let on_finalizer = guard_core::finalizer::stats().released - released;
        let now = common::open_fds();
        let leaked = now.len() as i64 - baseline.len() as i64;
        eprintln!(
            "leaks: {total} cycles on 2 threads in {:.2}s; {on_finalizer} closed on the \
             finalizer; {leaked} fds leaked; {} pressure retries",
            elapsed.as_secs_f64(),
            pressure_retries() - retries
        );
        assert!(on_finalizer >= (2 * total / 5) as u64, "{on_finalizer}");
        assert_eq!(pressure_retries(), retries, "no fd creation hit EMFILE");
        assert_eq!(fds().len(), registered, "registry back to baseline");
        assert_eq!(now, baseline, "/proc/self/fd back to baseline");
    });
}
