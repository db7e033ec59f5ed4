//! Bad input: a table of runtime misuse. Each row gives a typed error (or shows that the
//! misuse cannot be written) and loses nothing: afterwards every fd involved is still open
//! and registered (or closed exactly once, where the misuse consumed it), no fd leaked,
//! no lease is left behind (a later close is not deferred), and the objects still work.
//!
//! Each row prints its own result line; the tests are serialised (they look at fd numbers
//! and close one behind the registry's back).
//!
//! Two rows were bugs when the suite was written, now fixed and kept as regression tests:
//! an exec error lost when a kept fd landed on the number of std's exec-error pipe, and
//! `flush_timeout(Duration::ZERO)` reporting a timeout with nothing pending.

mod reliability;

use guard::os::{
    CommandExt, Error, Fd, Inherit, IpcMutex, ReadFile, TcpListener, TcpStream, UdpSocket,
    UnixListener, UnixStream, WriteFile, fds, pipe,
};
use guard::{Counted, FlushError, TryReleaseError, scope};
use reliability::{Events, FdSnapshot, Record, is_open, size, temp_path, watchdog};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::time::Duration;

const SUITE: &str = "bad_input";

/// One row of the table: what was done, the error it gave, and that nothing was lost.
fn row(test: &str, misuse: &str, error: &str) {
    Record::new(SUITE, test)
        .text("misuse", misuse)
        .text("error", error)
        .emit();
}

/// Checks that `fd` is open, registered, and not leased: visible to `for_each`, and closes
/// at once (a close that met a lease would be deferred).
fn intact(n: i32) {
    assert!(is_open(n), "fd {n} closed");
    let mut listed = 0;
    fds().for_each(|live| listed += usize::from(live.number() == n));
    assert_eq!(listed, 1, "fd {n} registered once");
}

/// The fds and registry entries of the process, before a row.
struct Baseline {
    fds: FdSnapshot,
    registered: usize,
}

impl Baseline {
    fn take() -> Baseline {
        reliability::flush();
        Baseline {
            fds: FdSnapshot::take(),
            registered: fds().len(),
        }
    }

    /// Nothing leaked or lost since the baseline.
    fn check(&self, what: &str) {
        reliability::flush();
        let (leaked, lost) = FdSnapshot::take().diff(&self.fds);
        assert!(
            leaked.is_empty() && lost.is_empty(),
            "{what}: leaked {leaked:?}, lost {lost:?}"
        );
        assert_eq!(fds().len(), self.registered, "{what}: registry");
    }
}

#[test]
fn adopting_a_closed_fd() {
    watchdog("adopting_a_closed_fd", 120, adopting_a_closed_fd_body);
}

fn adopting_a_closed_fd_body() {
    let _s = reliability::serial();
    let base = Baseline::take();
    let n = ReadFile::open("/dev/null").unwrap().into_raw_number();
    // SAFETY: deliberately breaks I/O safety: `n` is closed, and an `OwnedFd` claims it is
    // open. This is the misuse under test; nothing opens a new fd before it is settled.
    let closed = unsafe { OwnedFd::from_raw_fd(n) };
    let fd = Fd::adopt(closed); // infallible: an `OwnedFd` is open by contract
    // The first use that needs it open reports it, typed.
    let mut cmd = Command::new("/bin/true");
    let e = cmd.inherit(Inherit::new().keep_at(&fd, 10)).unwrap_err();
    assert!(matches!(e, Error::InheritClosed { fd: f } if f == n), "{e}");
    drop(cmd);
    let e = fd.close().unwrap_err();
    assert!(matches!(e, Error::Close { fd: f, .. } if f == n), "{e}");
    assert_eq!(e.raw_os_error(), Some(libc::EBADF));
    base.check("adopt closed");
    row(
        "adopting_a_closed_fd",
        "Fd::adopt(OwnedFd of a closed number, made with unsafe)",
        "adopt cannot fail (OwnedFd is open by contract); then InheritClosed at inherit, Close(EBADF) at close; entry removed",
    );
}

trait IntoRawNumber {
    fn into_raw_number(self) -> i32;
}

impl IntoRawNumber for ReadFile {
    /// Closes the file and returns the number it had (free now).
    fn into_raw_number(self) -> i32 {
        let n = self.as_raw_fd();
        self.close().unwrap();
        n
    }
}

#[test]
fn double_release_is_impossible_or_typed() {
    watchdog(
        "double_release_is_impossible_or_typed",
        120,
        double_release_is_impossible_or_typed_body,
    );
}

fn double_release_is_impossible_or_typed_body() {
    let _s = reliability::serial();
    let base = Baseline::take();
    // 1. `release(self)`, `Guard::release(self)`, `close(self)` consume their value: a
    //    second call does not compile (E0382, use of moved value). A forgotten guard is
    //    released once, by the scope (S3).
    let path = temp_path("double.txt");
    let events = Events::capture();
    scope(|s| {
        let g = s.enter(WriteFile::create(&path)?);
        std::mem::forget(g);
        Ok::<_, Error>(())
    })
    .unwrap();
    assert!(
        events.take().is_empty(),
        "released once, by the scope: no EBADF, no unreleased drop"
    );
    // 2. A counted value: `try_release` on a shared handle releases nothing and gives the
    //    handle back; only the last one releases.
    let a = Counted::new(ReadFile::open("/dev/null").unwrap());
    let b = a.clone();
    let a = match a.try_release() {
        Err(TryReleaseError::Shared(a)) => a,
        other => panic!("{other:?}"),
    };
    intact(b.as_raw_fd());
    let b = match Counted::into_inner(b) {
        Err(b) => b,
        Ok(_) => panic!("not the last handle"),
    };
    drop(a);
    b.try_release().unwrap();
    // 3. Two owners of one number (only with `unsafe`): the second close gets EBADF.
    let f = ReadFile::open("/dev/null").unwrap();
    // SAFETY: deliberately two owners for one fd (the misuse under test); the second owner
    // is closed right after the first, with nothing opened in between.
    let twin = Fd::adopt(unsafe { OwnedFd::from_raw_fd(f.as_raw_fd()) });
    f.close().unwrap();
    let e = twin.close().unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
    drop(events);
    std::fs::remove_file(&path).unwrap();
    base.check("double release");
    row(
        "double_release_is_impossible_or_typed",
        "release twice: by value (E0382), a forgotten guard, try_release on a shared handle, two owners of one fd",
        "does not compile; released once by the scope; Shared(handle back); Close(EBADF) for the second owner",
    );
}

#[test]
fn keep_list_collisions() {
    watchdog("keep_list_collisions", 120, keep_list_collisions_body);
}

fn keep_list_collisions_body() {
    let _s = reliability::serial();
    let base = Baseline::take();
    let a = ReadFile::open("/dev/null").unwrap();
    let b = ReadFile::open("/dev/null").unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let (r, w) = pipe().unwrap();
    let an = a.as_raw_fd();
    let plans: Vec<(&str, Inherit)> = vec![
        (
            "two fds at one number",
            Inherit::new().keep_at(&a, 7).keep_at(&b, 7),
        ),
        (
            "one fd kept twice at its number",
            Inherit::new().keep(&a).keep(&a),
        ),
        (
            "listen_fds and keep_at(3)",
            Inherit::new().listen_fds(&[&l]).keep_at(&b, 3),
        ),
        (
            "two stdouts",
            Inherit::new().keep_as_stdio(&w, 1).keep_as_stdio(&a, 1),
        ),
        (
            "keep_where and keep of the same fd",
            Inherit::new().keep_where(|fd| fd.number() == an).keep(&a),
        ),
    ];
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "exit 0"]);
    for (what, plan) in plans {
        let e = cmd.inherit(plan).unwrap_err();
        assert!(matches!(e, Error::InheritCollision { .. }), "{what}: {e}");
        for n in [
            a.as_raw_fd(),
            b.as_raw_fd(),
            l.as_raw_fd(),
            r.as_raw_fd(),
            w.as_raw_fd(),
        ] {
            intact(n);
        }
        row("keep_list_collisions", what, &e.to_string());
    }
    // The Command still works with a valid plan; the refused plans left no lease behind.
    assert!(
        cmd.inherit(Inherit::new().keep_at(&a, 7))
            .unwrap()
            .status()
            .unwrap()
            .success()
    );
    drop(cmd);
    a.close().unwrap();
    b.close().unwrap();
    w.close().unwrap();
    drop((l, r));
    base.check("collisions");
}

#[test]
fn targets_below_three() {
    watchdog("targets_below_three", 120, targets_below_three_body);
}

fn targets_below_three_body() {
    let _s = reliability::serial();
    let base = Baseline::take();
    let a = ReadFile::open("/dev/null").unwrap();
    let cases: Vec<(String, Inherit)> = vec![
        ("keep_at(fd, 0)".into(), Inherit::new().keep_at(&a, 0)),
        ("keep_at(fd, 1)".into(), Inherit::new().keep_at(&a, 1)),
        ("keep_at(fd, 2)".into(), Inherit::new().keep_at(&a, 2)),
        ("keep_at(fd, -1)".into(), Inherit::new().keep_at(&a, -1)),
        (
            "keep_as_stdio(fd, 3)".into(),
            Inherit::new().keep_as_stdio(&a, 3),
        ),
        (
            "keep_as_stdio(fd, -5)".into(),
            Inherit::new().keep_as_stdio(&a, -5),
        ),
        (
            "keep_foreign_at(std fd, 2)".into(),
            Inherit::new().keep_foreign_at(std::io::stdin(), 2),
        ),
    ];
    let mut cmd = Command::new("/bin/true");
    for (what, plan) in cases {
        let e = cmd.inherit(plan).unwrap_err();
        assert!(matches!(e, Error::InheritStdio { .. }), "{what}: {e}");
        intact(a.as_raw_fd());
        row("targets_below_three", &what, &e.to_string());
    }
    assert!(
        cmd.inherit(Inherit::new().keep_at(&a, 3))
            .unwrap()
            .status()
            .unwrap()
            .success()
    );
    drop(cmd);
    a.close().unwrap();
    base.check("targets");
}

#[test]
fn exec_of_a_missing_binary_with_fds_kept() {
    watchdog(
        "exec_of_a_missing_binary_with_fds_kept",
        120,
        exec_of_a_missing_binary_with_fds_kept_body,
    );
}

fn exec_of_a_missing_binary_with_fds_kept_body() {
    let _s = reliability::serial();
    let base = Baseline::take();
    let a = ReadFile::open("/dev/null").unwrap();
    let (r, w) = pipe().unwrap();
    for how in ["spawn", "status", "output"] {
        let mut cmd = Command::new("/nonexistent/guard-reliability-binary");
        cmd.inherit(Inherit::new().keep_at(&a, 10).keep_at(&w, 11))
            .unwrap();
        let e = match how {
            "spawn" => cmd.spawn().map(drop).unwrap_err(),
            "status" => cmd.status().map(drop).unwrap_err(),
            _ => cmd.output().map(drop).unwrap_err(),
        };
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{how}: {e}");
        drop(cmd); // ends the plan's leases
        intact(a.as_raw_fd());
        intact(w.as_raw_fd());
        row(
            "exec_of_a_missing_binary_with_fds_kept",
            &format!("Command::{how} of a missing binary keeping 2 fds"),
            &format!("{e} (io::ErrorKind::NotFound); kept fds open, registered, unleased"),
        );
    }
    // The kept write end still works: nothing was written into it by the failed exec.
    (&w).write_all(b"ok").unwrap();
    w.close().unwrap();
    let mut got = Vec::new();
    (&r).read_to_end(&mut got).unwrap();
    assert_eq!(got, b"ok");
    a.close().unwrap();
    drop(r);
    base.check("missing binary");
}

/// The lowest two free fd numbers now (where the next `pipe2` lands).
fn next_two_free() -> (i32, i32) {
    let x = ReadFile::open("/dev/null").unwrap();
    let y = ReadFile::open("/dev/null").unwrap();
    (x.into_raw_number(), y.into_raw_number())
}

#[test]
fn exec_failure_is_reported_whatever_the_target_number() {
    watchdog(
        "exec_failure_is_reported_whatever_the_target_number",
        120,
        exec_failure_is_reported_whatever_the_target_number_body,
    );
}

fn exec_failure_is_reported_whatever_the_target_number_body() {
    let _s = reliability::serial();
    let base = Baseline::take();
    let (r, w) = pipe().unwrap();
    // std's `spawn` creates its close-on-exec error pipe (pipe2: the two lowest free
    // numbers) after `inherit` computed the plan; the child's write end is the second.
    let (_, err_write_end) = next_two_free();
    let mut cmd = Command::new("/nonexistent/guard-reliability-binary");
    cmd.inherit(Inherit::new().keep_at(&w, err_write_end))
        .unwrap();
    let spawned = cmd.spawn();
    let status = spawned.as_ref().ok().map(|_| ());
    let mut child = spawned.ok();
    let exit = child.as_mut().map(|c| c.wait().unwrap());
    drop(cmd);
    w.close().unwrap();
    let mut got = Vec::new();
    (&r).read_to_end(&mut got).unwrap();
    drop(r);
    Record::new(SUITE, "exec_failure_is_reported_whatever_the_target_number")
        .count("target", err_write_end as u64)
        .flag("spawn_ok", status.is_some())
        .text("child_exit", &format!("{exit:?}"))
        .count("stray_bytes_in_kept_pipe", got.len() as u64)
        .emit();
    base.check("error pipe");
    assert!(
        status.is_none(),
        "spawning a missing binary succeeded (child exit {exit:?}): the exec error was lost"
    );
    assert!(
        got.is_empty(),
        "std's exec-error bytes landed in the kept pipe: {got:?}"
    );
}

#[test]
fn a_failing_body_and_two_failing_releases() {
    watchdog(
        "a_failing_body_and_two_failing_releases",
        120,
        a_failing_body_and_two_failing_releases_body,
    );
}

fn a_failing_body_and_two_failing_releases_body() {
    let _s = reliability::serial();
    let base = Baseline::take();
    let mut numbers = Vec::new();
    let err = scope(|s| {
        // /dev/full: the buffered byte fails to flush at release (ENOSPC); the fd is
        // closed anyway.
        for _ in 0..2 {
            let mut f = s.enter(WriteFile::append("/dev/full")?);
            f.write_all(b"x")?;
            numbers.push(f.as_raw_fd());
            std::mem::forget(f); // released by the scope, at its end
        }
        Err::<(), _>(std::io::Error::other("the body failed"))
    })
    .unwrap_err();
    assert_eq!(err.body().unwrap().to_string(), "the body failed");
    assert_eq!(err.releases().len(), 2, "{err}");
    for (failure, n) in err.releases().iter().zip(numbers.iter().rev()) {
        assert!(failure.resource().ends_with("::WriteFile"));
        let text = failure.to_string();
        assert!(text.contains(&format!("flushing fd {n} failed")), "{text}");
    }
    // Converted to the facade's one error type with `?`: all three still there.
    let all: guard::Error = err.into();
    let text = all.to_string();
    assert!(text.contains("the body failed") && text.matches("flushing fd").count() == 2);
    for n in numbers {
        assert!(!is_open(n), "fd {n} closed anyway");
    }
    base.check("body and releases");
    row(
        "a_failing_body_and_two_failing_releases",
        "scope body returns Err while two WriteFile releases fail (ENOSPC)",
        &text,
    );
}

#[test]
fn invalid_os_mutex_names() {
    watchdog("invalid_os_mutex_names", 120, invalid_os_mutex_names_body);
}

fn invalid_os_mutex_names_body() {
    let _s = reliability::serial();
    let base = Baseline::take();
    let long = "x".repeat(201);
    for name in ["", "a/b", "../escape", "nul\0byte", long.as_str()] {
        let e = IpcMutex::open(name).unwrap_err();
        assert!(matches!(e, Error::InvalidName { .. }), "{name:?}: {e}");
        let file = std::path::Path::new("/dev/shm").join(format!("guard-mutex.{name}"));
        if !name.contains(['/', '\0']) {
            assert!(!file.exists(), "{name:?}: no lock file created");
        }
        row(
            "invalid_os_mutex_names",
            &format!("IpcMutex::open({name:.20?})"),
            &e.to_string(),
        );
    }
    let dir = std::env::temp_dir();
    for (what, path) in [
        ("open_path(a directory)", dir.clone()),
        (
            "open_path(in a missing directory)",
            dir.join("guard-rel-missing/x"),
        ),
    ] {
        let e = IpcMutex::open_path(&path).unwrap_err();
        assert!(matches!(e, Error::Open { .. }), "{what}: {e}");
        row(
            "invalid_os_mutex_names",
            what,
            &format!("{e}: {:?}", e.io_error().unwrap().kind()),
        );
    }
    // A valid name still works afterwards, and try_lock from the holder's own thread says
    // "held" instead of deadlocking.
    let m = IpcMutex::open(&format!("rel-{}", std::process::id())).unwrap();
    let lock = m.lock().unwrap();
    assert!(m.try_lock().unwrap().is_none());
    lock.unlock().unwrap();
    let path = m.path().to_owned();
    m.close().unwrap();
    std::fs::remove_file(path).unwrap();
    base.check("mutex names");
}

#[test]
fn bad_addresses_and_paths() {
    watchdog("bad_addresses_and_paths", 120, bad_addresses_and_paths_body);
}

fn bad_addresses_and_paths_body() {
    let _s = reliability::serial();
    let base = Baseline::take();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap();
    let free_port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        l.close().unwrap();
        a
    };
    let sock = temp_path("bad.sock");
    let _unix = UnixListener::bind(&sock).unwrap();
    let too_long = std::path::PathBuf::from(format!("/tmp/{}", "s".repeat(120)));
    type Attempt = Box<dyn Fn() -> Result<(), Error>>;
    let attempts: Vec<(&str, Attempt)> = vec![
        (
            "TcpListener::bind(a port in use)",
            Box::new(move || TcpListener::bind(port).map(drop)),
        ),
        (
            "TcpStream::connect(a closed port)",
            Box::new(move || TcpStream::connect(free_port).map(drop)),
        ),
        (
            "UdpSocket::bind(\"not an address\")",
            Box::new(|| UdpSocket::bind("not an address").map(drop)),
        ),
        (
            "TcpListener::bind(\"host.invalid:80\")",
            Box::new(|| TcpListener::bind("host.invalid:80").map(drop)),
        ),
        (
            "UnixListener::bind(an existing path)",
            Box::new({
                let sock = sock.clone();
                move || UnixListener::bind(&sock).map(drop)
            }),
        ),
        (
            "UnixListener::bind(a 125-byte path)",
            Box::new({
                let p = too_long.clone();
                move || UnixListener::bind(&p).map(drop)
            }),
        ),
        (
            "UnixStream::connect(a missing path)",
            Box::new(|| UnixStream::connect("/nonexistent/guard.sock").map(drop)),
        ),
        (
            "ReadFile::open(a missing file)",
            Box::new(|| ReadFile::open("/nonexistent/guard").map(drop)),
        ),
        (
            "WriteFile::create(in a missing directory)",
            Box::new(|| WriteFile::create("/nonexistent/guard/f").map(drop)),
        ),
    ];
    for (what, attempt) in attempts {
        let before = FdSnapshot::take();
        let e = attempt().unwrap_err();
        assert!(
            matches!(e, Error::Socket { .. } | Error::Open { .. }),
            "{what}: {e}"
        );
        assert_eq!(FdSnapshot::take(), before, "{what}: no fd left behind");
        let os = e
            .io_error()
            .map(|io| format!("{:?}", io.kind()))
            .unwrap_or_default();
        row("bad_addresses_and_paths", what, &format!("{e} ({os})"));
    }
    drop((taken, _unix));
    std::fs::remove_file(&sock).unwrap();
    base.check("addresses");
}

#[test]
fn bad_configuration_values() {
    watchdog(
        "bad_configuration_values",
        120,
        bad_configuration_values_body,
    );
}

fn bad_configuration_values_body() {
    let _s = reliability::serial();
    // A zero stuck deadline is clamped, not taken literally.
    let old = guard::finalizer::stuck_deadline();
    guard::finalizer::set_stuck_deadline(Duration::ZERO);
    assert_eq!(guard::finalizer::stuck_deadline(), Duration::from_millis(1));
    guard::finalizer::set_stuck_deadline(Duration::MAX);
    assert!(guard::finalizer::stuck_deadline() > Duration::from_secs(1 << 30));
    guard::finalizer::set_stuck_deadline(old);
    assert_eq!(guard::finalizer::stuck_deadline(), old);
    row(
        "bad_configuration_values",
        "set_stuck_deadline(0) / (Duration::MAX)",
        "clamped to 1 ms / saturated; no panic",
    );
}

#[test]
fn flush_timeout_zero_with_nothing_pending() {
    watchdog(
        "flush_timeout_zero_with_nothing_pending",
        120,
        flush_timeout_zero_with_nothing_pending_body,
    );
}

fn flush_timeout_zero_with_nothing_pending_body() {
    let _s = reliability::serial();
    // The finalizer is running (as in any program that has released a counted resource).
    drop(Counted::new(ReadFile::open("/dev/null").unwrap()));
    reliability::flush();
    let tries = size(100, 1_000);
    let mut timeouts = 0;
    for _ in 0..tries {
        // Let the finalizer go idle (it sleeps after a few microseconds without work), as
        // a program polling "is everything released?" would usually find it.
        std::thread::sleep(Duration::from_millis(5));
        match guard::finalizer::flush_timeout(Duration::ZERO) {
            Ok(()) => {}
            Err(FlushError::Timeout { pending: 0, .. }) => timeouts += 1,
            Err(e) => panic!("{e}"),
        }
    }
    Record::new(SUITE, "flush_timeout_zero_with_nothing_pending")
        .count("tries", tries as u64)
        .count("timeouts_with_nothing_pending", timeouts)
        .emit();
    assert_eq!(
        timeouts, 0,
        "{timeouts}/{tries} zero-timeout flushes failed with nothing pending"
    );
}
