//! The fd registry: R1 (never a closed or reused fd in a callback), R2 (no deadlock
//! whatever the callback does), R3 (closed exactly once, failed closes still deregister).
//!
//! Tests here look at fd numbers, so they are serialised (a number freed by one test could
//! be reused by another running in parallel).
// Linux only: it reads /proc/self/fd (macOS and FreeBSD are compile-checked, README).
#![cfg(target_os = "linux")]

mod common;

use common::{serial, watchdog};
use guard_core::{Counted, Kind};
use guard_os::{Fd, ReadFile, WriteFile, fds};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn is_open(fd: BorrowedFd<'_>) -> bool {
    rustix::io::fcntl_getfd(fd).is_ok()
}

fn raw_is_open(n: i32) -> bool {
    guard_testkit::fd_target(n).is_some()
}

#[test]
fn r1_a_close_during_the_callback_waits_for_the_callback() {
    let _s = serial();
    watchdog(30, || {
        let mut owned: HashMap<i32, ReadFile> = HashMap::new();
        for _ in 0..40 {
            let f = ReadFile::open("/dev/null").unwrap();
            owned.insert(f.as_raw_fd(), f);
        }
        let owned = Mutex::new(owned);
        let mut closed_numbers = Vec::new();
        fds().for_each(|fd| {
            let Some(file) = owned.lock().unwrap().remove(&fd.number()) else {
                return;
            };
            // Closing the fd we are looking at: deferred until this visit ends.
            file.close().expect("a deferred close reports no error now");
            assert!(
                is_open(fd.as_fd()),
                "R1: fd {} closed during its callback",
                fd.number()
            );
            assert_eq!(
                std::fs::read_link(format!("/proc/self/fd/{}", fd.number())).unwrap(),
                std::path::Path::new("/dev/null")
            );
            closed_numbers.push(fd.number());
        });
        assert_eq!(closed_numbers.len(), 40);
        for n in closed_numbers {
            assert!(!raw_is_open(n), "fd {n} still open after the pass");
        }
    });
}

#[test]
fn r1_concurrent_closes_never_show_a_closed_or_reused_fd() {
    let _s = serial();
    watchdog(60, || {
        let stop = Arc::new(AtomicBool::new(false));
        let churn = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) && n < 5_000 {
                    let f = ReadFile::open("/dev/null").unwrap();
                    let (r, w) = guard_os::pipe().unwrap();
                    drop(f);
                    w.close().unwrap();
                    drop(r);
                    n += 1;
                }
            })
        };
        let visited = AtomicUsize::new(0);
        let long_lived: Vec<ReadFile> = (0..8)
            .map(|_| ReadFile::open("/dev/null").unwrap())
            .collect();
        while !churn.is_finished() {
            fds().for_each(|fd| {
                assert!(
                    is_open(fd.as_fd()),
                    "R1: visited a closed fd {}",
                    fd.number()
                );
                let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.number()))
                    .expect("a leased fd is open");
                let target = target.to_string_lossy();
                let name = fd.type_name();
                if name.ends_with("ReadFile") {
                    assert_eq!(target, "/dev/null", "R1: fd {} reused", fd.number());
                } else if name.contains("Pipe") {
                    assert!(
                        target.starts_with("pipe:"),
                        "R1: fd {} reused: {target}",
                        fd.number()
                    );
                }
                visited.fetch_add(1, Ordering::Relaxed);
            });
        }
        stop.store(true, Ordering::Relaxed);
        churn.join().unwrap();
        drop(long_lived);
        assert!(visited.load(Ordering::Relaxed) > 0);
    });
}

#[test]
fn r2_callbacks_may_open_drop_iterate_and_panic() {
    let _s = serial();
    watchdog(30, || {
        let base = fds().len();
        let counted: Vec<Counted<ReadFile>> = (0..5)
            .map(|_| Counted::new(ReadFile::open("/dev/null").unwrap()))
            .collect();
        let counted = Mutex::new(counted);
        let mut opened = Vec::new();
        fds().for_each(|_| {
            // open, drop a counted fd (goes to the finalizer), iterate, all from the callback
            opened.push(ReadFile::open("/dev/null").unwrap());
            drop(counted.lock().unwrap().pop());
            let mut inner = 0;
            fds().for_each(|_| inner += 1);
            assert!(inner > 0);
            guard_core::finalizer::flush().unwrap();
        });
        drop(opened);
        drop(counted);
        guard_core::finalizer::flush().unwrap();
        assert_eq!(fds().len(), base);

        // A panicking callback ends its leases: the registry stays consistent.
        let files: Vec<ReadFile> = (0..50)
            .map(|_| ReadFile::open("/dev/null").unwrap())
            .collect();
        let numbers: Vec<i32> = files.iter().map(AsRawFd::as_raw_fd).collect();
        let files = Mutex::new(Some(files));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fds().for_each(|_| {
                drop(files.lock().unwrap().take()); // closes 50 leased fds (deferred)
                panic!("callback panics");
            })
        }));
        assert!(r.is_err());
        assert_eq!(fds().len(), base);
        for n in numbers {
            assert!(!raw_is_open(n), "fd {n} leaked by the panicking pass");
        }
    });
}

#[test]
fn r3_an_fd_closed_behind_the_registry_reports_ebadf_and_is_deregistered() {
    let _s = serial();
    let sentinel = ReadFile::open("/dev/null").unwrap();
    let victim = ReadFile::open("/dev/null").unwrap();
    let n = victim.as_raw_fd();
    let before = fds().len();
    // SAFETY: deliberately breaking I/O safety to simulate foreign code closing our fd;
    // nothing is opened before the registry's close, so the number is not reused.
    assert_eq!(unsafe { libc::close(n) }, 0);
    let err = victim.close().unwrap_err();
    assert!(matches!(err, guard_os::Error::Close { fd, .. } if fd == n));
    assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    assert_eq!(fds().len(), before - 1, "the entry is removed anyway");
    assert!(is_open(sentinel.as_fd()), "no other fd touched");
    let mut still_listed = false;
    fds().for_each(|fd| still_listed |= fd.number() == n);
    assert!(!still_listed);
}

#[test]
fn keeping_an_fd_closed_behind_the_registry_is_refused_before_spawning() {
    use guard_os::{CommandExt, Inherit};
    let _s = serial();
    let victim = ReadFile::open("/dev/null").unwrap();
    // SAFETY: simulate foreign code closing a registered fd behind the registry's back;
    // nothing is opened before the registry's own close (serialised test).
    assert_eq!(unsafe { libc::close(victim.as_raw_fd()) }, 0);
    let mut cmd = std::process::Command::new("/bin/true");
    let e = cmd.inherit(Inherit::new().keep(&victim)).unwrap_err();
    assert!(matches!(e, guard_os::Error::InheritClosed { .. }), "{e}");
    drop(cmd);
    assert_eq!(
        victim.close().unwrap_err().raw_os_error(),
        Some(libc::EBADF)
    );
}

#[test]
fn unique_leaves_dropped_without_release_are_released_and_reported() {
    let _s = serial();
    let before = guard_core::report().unreleased();
    let path = common::temp_path("dropped");
    {
        use std::io::Write;
        let mut f = WriteFile::create(&path).unwrap();
        f.write_all(b"still flushed").unwrap();
        let (_r, w) = guard_os::pipe().unwrap();
        drop(w);
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"still flushed");
    assert!(guard_core::report().unreleased() >= before + 2);
    // What the event hook is told: tests/events.rs.
    std::fs::remove_file(path).unwrap();
}

#[test]
fn registered_fds_carry_kind_type_and_site_and_are_cloexec() {
    let _s = serial();
    let file = ReadFile::open("/dev/null").unwrap();
    let line = line!() - 1;
    let mut found = None;
    fds().for_each(|fd| {
        assert!(
            rustix::io::fcntl_getfd(fd.as_fd())
                .unwrap()
                .contains(rustix::io::FdFlags::CLOEXEC),
            "{fd} lacks FD_CLOEXEC"
        );
        if fd.number() == file.as_raw_fd() {
            found = Some((fd.kind(), fd.type_name(), fd.site().line(), fd.to_string()));
        }
    });
    let (kind, name, at, shown) = found.unwrap();
    assert_eq!(
        (kind, name, at),
        (Kind::Counted, std::any::type_name::<ReadFile>(), line)
    );
    assert!(shown.contains("registry.rs"), "{shown}");
    let report = guard_core::report().to_string();
    assert!(
        report.contains("registered fds") && report.contains("ReadFile"),
        "{report}"
    );
}

#[test]
fn untracked_lists_foreign_fds_only() {
    let _s = serial();
    let ours = ReadFile::open("/dev/null").unwrap();
    let theirs = std::fs::File::open("/dev/null").unwrap();
    let untracked = guard_os::untracked().unwrap();
    assert!(untracked.iter().any(|u| u.number == theirs.as_raw_fd()));
    assert!(!untracked.iter().any(|u| u.number == ours.as_raw_fd()));
    let u = untracked
        .iter()
        .find(|u| u.number == theirs.as_raw_fd())
        .unwrap();
    assert_eq!(u.target.as_deref(), Some(std::path::Path::new("/dev/null")));
}

#[test]
fn untracked_leaves_out_pending_closes_and_reserved_placeholders() {
    use guard_os::{CommandExt, Inherit};
    let _s = serial();
    let listed = |n: i32| guard_os::untracked().unwrap().iter().any(|u| u.number == n);

    // A close a pass defers: still open until the batch ends, but guard's, not foreign.
    let file = ReadFile::open("/dev/null").unwrap();
    let n = file.as_raw_fd();
    let mut file = Some(file);
    let mut checked = false;
    fds().for_each(|live| {
        if live.number() == n
            && let Some(file) = file.take()
        {
            file.close().unwrap();
            assert!(raw_is_open(n), "the close waits for the batch");
            assert!(!listed(n), "a pending close listed as untracked");
            checked = true;
        }
    });
    assert!(checked);
    assert!(!raw_is_open(n));

    // A placeholder holding a live Command's free target number.
    const TARGET: i32 = 700; // high: other tests' threads take the lowest free numbers
    let (reader, writer) = guard_os::pipe().unwrap();
    let mut cmd = std::process::Command::new("/bin/true");
    cmd.inherit(Inherit::new().keep_at(&reader, TARGET))
        .unwrap();
    assert!(raw_is_open(TARGET), "reserved by a placeholder");
    assert!(!listed(TARGET), "a placeholder listed as untracked");
    drop(cmd);
    assert!(!raw_is_open(TARGET));
    writer.close().unwrap();
    drop(reader);
}

#[test]
fn adopt_and_into_owned_move_fds_in_and_out_of_the_registry() {
    let _s = serial();
    let before = fds().len();
    let fd = Fd::adopt(std::fs::File::open("/dev/null").unwrap().into());
    assert_eq!(fd.registered_origin().unwrap().kind(), Kind::Counted);
    assert_eq!(fds().len(), before + 1);
    let owned: std::os::fd::OwnedFd = fd.into();
    assert_eq!(fds().len(), before);
    assert!(is_open(owned.as_fd()));

    // Taken out while a callback leases it: a duplicate, the original closed after the pass.
    let fd = Mutex::new(Some(Fd::adopt(owned)));
    let n = fd.lock().unwrap().as_ref().unwrap().as_raw_fd();
    let mut out = None;
    fds().for_each(|live| {
        if live.number() == n {
            let f = fd.lock().unwrap().take().unwrap();
            out = Some(f.into_owned().unwrap());
            assert!(is_open(live.as_fd()));
        }
    });
    let out = out.unwrap();
    assert!(is_open(out.as_fd()));
    assert_ne!(out.as_raw_fd(), n);
    assert!(!raw_is_open(n));
    assert_eq!(fds().len(), before);
}

#[test]
fn counted_fds_are_closed_on_the_finalizer() {
    let _s = serial();
    let before = fds().len();
    let file = Counted::new(ReadFile::open("/dev/null").unwrap());
    let n = file.as_raw_fd();
    let clone = file.clone();
    drop(file);
    assert!(raw_is_open(n));
    drop(clone);
    guard_core::finalizer::flush().unwrap();
    assert_eq!(fds().len(), before);
    assert!(!raw_is_open(n));
}

#[test]
fn adopted_fds_become_cloexec() {
    use std::os::fd::FromRawFd;
    let _s = serial();
    // SAFETY: a plain open(2) without O_CLOEXEC, as C code would; the OwnedFd owns it.
    let raw = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
    assert!(raw >= 0);
    // SAFETY: `raw` was just opened and nobody else owns it.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
    let cloexec = |fd: BorrowedFd<'_>| {
        rustix::io::fcntl_getfd(fd)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC)
    };
    assert!(!cloexec(owned.as_fd()));
    let fd = Fd::adopt(owned);
    assert!(cloexec(fd.as_fd()), "every registered fd is close-on-exec");
    fd.close().unwrap();
}
