//! Release errors that have no caller go to guard-core's event hook, naming the real type
//! and kind of the fd (a deferred close after a lease, a dropped fd, a unique resource
//! dropped without release); nothing goes through the finalizer or appears in the report.
//!
//! The hook is process-wide and the tests close fds behind the registry's back (a freed
//! number must not be reused meanwhile), so they run serialised, alone in this binary.

mod common;

use common::watchdog;
use guard_core::Kind;
use guard_core::event::{self, Event};
use guard_os::{Error, Fd, IpcMutex, PipeWriter, ReadFile, WriteFile, fds, pipe};
use std::any::type_name;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard};

/// What the hook saw, in the parts the tests check.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Failed {
        resource: &'static str,
        kind: Kind,
        /// `Some(fd)` for [`Error::Close`], `None` for other guard-os errors.
        closed: Option<i32>,
        os: Option<i32>,
    },
    /// A release error that is not a `guard_os::Error` (never expected here).
    Foreign(String),
    Unreleased {
        type_name: &'static str,
        kind: Kind,
        file: &'static str,
        line: u32,
    },
    Other(String),
}

/// The events captured so far (shareable with a watchdog's thread).
#[derive(Clone)]
struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
}

/// Serialises the test and captures every event until it is dropped.
struct Capture {
    log: Log,
    _serial: MutexGuard<'static, ()>,
}

impl Capture {
    fn start() -> Capture {
        let serial = guard_testkit::serial();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        event::set_hook(move |e: &Event<'_>| {
            let s = match e {
                Event::ReleaseFailed {
                    resource,
                    kind,
                    error,
                } => match error.downcast_ref::<Error>() {
                    Some(os) => Seen::Failed {
                        resource,
                        kind: *kind,
                        closed: match os {
                            Error::Close { fd, .. } => Some(*fd),
                            _ => None,
                        },
                        os: os.raw_os_error(),
                    },
                    None => Seen::Foreign(error.to_string()),
                },
                Event::Unreleased { origin, .. } => Seen::Unreleased {
                    type_name: origin.type_name(),
                    kind: origin.kind(),
                    file: origin.site().file(),
                    line: origin.site().line(),
                },
                other => Seen::Other(other.to_string()),
            };
            sink.lock().unwrap().push(s);
        });
        Capture {
            log: Log(seen),
            _serial: serial,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.log.seen()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        event::reset_hook();
    }
}

fn failed_close(resource: &'static str, kind: Kind, fd: i32) -> Seen {
    Seen::Failed {
        resource,
        kind,
        closed: Some(fd),
        os: Some(libc::EBADF),
    }
}

/// Closes `n` behind its owner's back (what foreign code breaking I/O safety would do).
fn close_behind_the_registry(n: i32) {
    // SAFETY: deliberately breaks I/O safety to make the owner's own close fail with
    // EBADF. The test is serialised and opens nothing before the owner's close, so the
    // number is not reused by anybody meanwhile.
    assert_eq!(unsafe { libc::close(n) }, 0);
}

/// Leases the fd `n` in a `for_each` pass, closes it behind the registry's back and has
/// its owner (taken out of `owner`) close it: deferred to the end of the lease, so the
/// failure has no caller. Returns the events seen while the lease was held.
fn deferred_close<T: Send>(
    log: &Log,
    n: i32,
    owner: T,
    close: impl Fn(T) -> guard_os::Result<()>,
) -> Vec<Seen> {
    let owner = Mutex::new(Some(owner));
    let mut during = None;
    fds().for_each(|fd| {
        if fd.number() == n {
            close_behind_the_registry(n);
            let owner = owner.lock().unwrap().take().unwrap();
            close(owner).expect("deferred: no error now");
            during = Some(log.seen());
        }
    });
    during.expect("the fd was visited")
}

#[test]
fn a_deferred_close_failure_names_the_fds_real_type_and_kind() {
    let capture = Capture::start();
    let log = capture.log.clone();
    watchdog(30, move || {
        let failed_before = guard_core::finalizer::stats().failed;

        // Counted: a ReadFile.
        let file = ReadFile::open("/dev/null").unwrap();
        let n = file.as_raw_fd();
        let during = deferred_close(&log, n, file, ReadFile::close);
        assert_eq!(
            during,
            [],
            "nothing is reported while the lease holds the fd"
        );
        let want = failed_close(type_name::<ReadFile>(), Kind::Counted, n);
        // Reported by the thread that ended the lease, when the pass ended: no flush.
        assert_eq!(log.seen(), std::slice::from_ref(&want));

        // Unique: a pipe's write end.
        let (reader, writer) = pipe().unwrap();
        let n = writer.as_raw_fd();
        deferred_close(&log, n, writer, PipeWriter::close);
        let want_writer = failed_close(type_name::<PipeWriter>(), Kind::Unique, n);
        assert_eq!(log.seen(), [want, want_writer]);
        reader.close().unwrap();

        // Straight to the hook: not through the finalizer (no failed release counted there).
        assert_eq!(guard_core::finalizer::stats().failed, failed_before);
        let report = guard_core::report().to_string();
        assert!(!report.contains("DeferredRelease"), "{report}");
    });
}

#[test]
fn a_dropped_fd_whose_close_fails_reports_its_type() {
    let capture = Capture::start();
    let fd = Fd::adopt(std::fs::File::open("/dev/null").unwrap().into());
    let n = fd.as_raw_fd();
    let clone = fd.try_clone().unwrap();
    close_behind_the_registry(n);
    drop(fd); // counted, dropped outside a `Counted`: closed now, its error to the hook
    assert_eq!(
        capture.seen(),
        [failed_close(type_name::<Fd>(), Kind::Counted, n)]
    );
    clone.close().unwrap(); // the clone was untouched
    assert_eq!(capture.seen().len(), 1);
}

#[test]
fn unique_resources_dropped_without_release_report_their_errors_and_the_drop() {
    let capture = Capture::start();
    let line = line!() + 2;
    {
        let mut full = WriteFile::append("/dev/full").unwrap();
        full.write_all(b"lost").unwrap(); // buffered; the flush at the drop fails (ENOSPC)
        let (_r, w) = pipe().unwrap();
        drop(w);
    }
    let unreleased = |type_name, line| Seen::Unreleased {
        type_name,
        kind: Kind::Unique,
        file: file!(),
        line,
    };
    assert_eq!(
        capture.seen(),
        [
            unreleased(type_name::<PipeWriter>(), line + 2), // dropped first
            Seen::Failed {
                resource: type_name::<WriteFile>(),
                kind: Kind::Unique,
                closed: None,
                os: Some(libc::ENOSPC),
            },
            unreleased(type_name::<WriteFile>(), line),
        ]
    );

    let path = common::temp_path("events-mutex");
    let m = IpcMutex::open_path(&path).unwrap();
    let lock_line = line!() + 1;
    drop(m.lock().unwrap());
    let seen = capture.seen();
    assert_eq!(
        seen.last(),
        Some(&unreleased(type_name::<guard_os::IpcLock<'_>>(), lock_line)),
        "{seen:?}"
    );
    m.close().unwrap();
    std::fs::remove_file(path).unwrap();
}
