//! Leaks: open/close cycles of every kind on two threads, with counted handles released on
//! the finalizer; after a flush, /proc/self/fd is back to its baseline. Alone in its test
//! binary, so no other test's fds disturb the count.

mod common;

use guard_core::Counted;
use guard_os::{Fd, ReadFile, UnixStream, WriteFile, fds, pipe};
use std::io::Write;

const CYCLES_PER_THREAD: usize = 10_000;

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
    common::watchdog(300, || {
        // Warm up lazily-opened process state (finalizer thread, registry) first.
        drop(Counted::new(ReadFile::open("/dev/null").unwrap()));
        guard_core::finalizer::flush().unwrap();
        let baseline = common::open_fds();
        let registered = fds().len();
        let released = guard_core::finalizer::stats().released;

        let threads: Vec<_> = (0..2)
            .map(|t| {
                std::thread::spawn(move || {
                    let path = common::temp_path(&format!("leak-{t}"));
                    for i in 0..CYCLES_PER_THREAD {
                        cycle(i, &path);
                    }
                    std::fs::remove_file(path).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        guard_core::finalizer::flush().unwrap();
        let on_finalizer = guard_core::finalizer::stats().released - released;
        assert!(
            on_finalizer >= (2 * 2 * CYCLES_PER_THREAD / 5) as u64,
            "{on_finalizer}"
        );
        assert_eq!(fds().len(), registered, "registry back to baseline");
        assert_eq!(
            common::open_fds(),
            baseline,
            "/proc/self/fd back to baseline"
        );
    });
}
