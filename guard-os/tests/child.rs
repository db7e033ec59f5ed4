//! The guard [`Child`] as a resource: a scope returns a child's failure (an exit code, a
//! signal) from its release; `Counted<Child>`s are reaped on the finalizer (no zombie
//! after a `flush`); `kill_on_release` and a drop's kill; stdio pipes round-trip, also
//! with more output than a pipe holds; the pidfd shows in `fds()`; bad input is a typed
//! error.
//!
//! Every test takes `serial()`: the zombie checks look for children of this process by pid,
//! and no other test may be starting or reaping children meanwhile.
// Compiled everywhere (`Spawn` and `Child` are on macOS and FreeBSD too); the tests that
// look at a child from outside through /proc, or open a pidfd, are Linux only.

mod common;

use common::{any_unreaped_child, is_zombie_of_ours, serial, watchdog};
use guard_core::{Counted, scope};
use guard_os::{Child, Error, Spawn, Stdio};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", script]);
    cmd
}

/// The one release failure of a scope's error, as guard-os's error.
fn release_failure<E: std::fmt::Debug>(err: &guard_core::ScopeError<E>) -> &Error {
    assert!(err.body().is_none(), "{err:?}");
    assert_eq!(err.releases().len(), 1, "{err:?}");
    err.releases()[0]
        .error()
        .downcast_ref::<Error>()
        .expect("a guard_os::Error")
}

#[test]
fn a_scope_returns_its_childs_exit_code() {
    watchdog(60, || {
        let _serial = serial();
        let err = scope(|s| {
            let _child = s.enter(Spawn::from_command(&sh("exit 3")).spawn()?);
            Ok::<_, Error>(())
        })
        .unwrap_err();
        let failure = release_failure(&err);
        assert!(
            matches!(failure, Error::ChildFailed { status, .. } if status.code() == Some(3)),
            "{failure}"
        );
        assert!(
            failure.to_string().contains("exited with code 3"),
            "{failure}"
        );
        // Success is no error.
        scope(|s| {
            let _child = s.enter(Spawn::from_command(&sh("exit 0")).spawn()?);
            Ok::<_, Error>(())
        })
        .unwrap();
    });
}

#[test]
fn a_child_killed_by_a_signal_is_a_release_error_naming_it() {
    watchdog(60, || {
        let _serial = serial();
        let err = scope(|s| {
            let _child = s.enter(Spawn::from_command(&sh("kill -TERM $$")).spawn()?);
            Ok::<_, Error>(())
        })
        .unwrap_err();
        let failure = release_failure(&err);
        assert!(
            matches!(failure, Error::ChildFailed { status, .. } if status.signal() == Some(libc::SIGTERM)),
            "{failure}"
        );
        assert!(
            failure.to_string().contains("killed by signal 15"),
            "{failure}"
        );
        // A SIGKILL from elsewhere (here: the child's own `kill()`) is a failure too.
        let err = scope(|s| {
            let mut child = s.enter(Spawn::from_command(&sh("sleep 60")).spawn()?);
            child.kill()?;
            Ok::<_, Error>(())
        })
        .unwrap_err();
        assert!(matches!(
            release_failure(&err),
            Error::ChildFailed { status, .. } if status.signal() == Some(libc::SIGKILL)
        ));
    });
}

/// `kill_on_release`: the release signals a child that runs on; dying of that signal is
/// no failure; one that ignores it gets SIGKILL after the grace period.
#[test]
fn kill_on_release_ends_a_running_child() {
    watchdog(60, || {
        let _serial = serial();
        let mut sleeper = Command::new("/bin/sleep");
        sleeper.arg("60");
        let mut spawn =
            Spawn::from_command(&sleeper).kill_on_release(libc::SIGTERM, Duration::from_secs(30));
        scope(|s| {
            let _child = s.enter(spawn.spawn()?);
            Ok::<_, Error>(())
        })
        .unwrap();
        // Ignores SIGTERM: killed after the grace period. `exec` keeps the ignored
        // disposition, and the pipe says when the trap is set.
        let mut stubborn = Spawn::from_command(&sh("trap '' TERM; echo ready; exec sleep 60"))
            .stdout(Stdio::Piped)
            .kill_on_release(libc::SIGTERM, Duration::from_millis(100));
        scope(|s| {
            let mut child = s.enter(stubborn.spawn()?);
            let mut ready = [0; 6];
            child.take_stdout().unwrap().read_exact(&mut ready)?;
            assert_eq!(&ready, b"ready\n");
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .unwrap();
        // An exit code is still judged.
        let err = scope(|s| {
            let _c = s.enter(
                Spawn::from_command(&sh("exit 4"))
                    .kill_on_release(libc::SIGTERM, Duration::from_secs(30))
                    .spawn()?,
            );
            std::thread::sleep(Duration::from_millis(50));
            Ok::<_, Error>(())
        });
        if let Err(err) = err {
            assert!(matches!(release_failure(&err), Error::ChildFailed { .. }));
        } // (else SIGTERM came first: it ended the shell, no failure)
    });
}

/// 1,000 `Counted<Child>`s dropped, then `flush()`: every one was reaped on the finalizer.
#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "checks through /proc/<pid>: Linux only"
)]
fn counted_children_are_reaped_by_a_flush() {
    let n = common::size(200, 1_000);
    watchdog(300, move || {
        let _serial = serial();
        let mut pids = Vec::with_capacity(n);
        for _ in 0..n {
            let child = Spawn::from_command(&Command::new("/bin/true"))
                .spawn()
                .unwrap();
            pids.push(child.id());
            drop(Counted::new(child));
        }
        guard_core::finalizer::flush().unwrap();
        let zombies: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|&p| is_zombie_of_ours(p))
            .collect();
        assert_eq!(zombies, [], "zombies after the flush");
        assert!(
            !any_unreaped_child(),
            "waitid(WNOWAIT) finds an unreaped child"
        );
    });
}

/// A counted child with `kill_on_release` does not hold the finalizer: the flush ends it.
#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "checks through /proc/<pid>: Linux only"
)]
fn a_counted_child_with_kill_on_release_is_killed_by_its_release() {
    watchdog(60, || {
        let _serial = serial();
        let mut sleeper = Command::new("/bin/sleep");
        sleeper.arg("600");
        let child = Spawn::from_command(&sleeper)
            .kill_on_release(libc::SIGTERM, Duration::from_secs(30))
            .spawn()
            .unwrap();
        let pid = child.id();
        let shared = Counted::new(child);
        let other = shared.clone();
        drop(shared);
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        drop(other);
        guard_core::finalizer::flush().unwrap();
        assert!(!is_zombie_of_ours(pid));
        assert!(!any_unreaped_child());
    });
}

/// A dropped child with `kill_on_release` gets SIGKILL at once; the reaper reaps it.
#[cfg(target_os = "linux")] // opens a pidfd of its own
#[test]
fn a_dropped_child_with_kill_on_release_is_killed_and_reaped() {
    watchdog(60, || {
        let _serial = serial();
        let mut sleeper = Command::new("/bin/sleep");
        sleeper.arg("600");
        let child = Spawn::from_command(&sleeper)
            .kill_on_release(libc::SIGTERM, Duration::from_secs(30))
            .spawn()
            .unwrap();
        let pid = child.id();
        let pidfd = rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(pid.try_into().unwrap()).unwrap(),
            rustix::process::PidfdFlags::empty(),
        )
        .unwrap();
        drop(child);
        // Our own pidfd turns readable when the process exits (it never would: 600 s).
        let mut p = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd of an open fd.
        assert_eq!(unsafe { libc::poll(&raw mut p, 1, -1) }, 1);
        while is_zombie_of_ours(pid) {
            std::thread::yield_now(); // the reaper reaps it
        }
    });
}

#[test]
fn stdio_pipes_round_trip() {
    watchdog(60, || {
        let _serial = serial();
        let mut child = Spawn::from_command(&Command::new("/bin/cat"))
            .stdin(Stdio::Piped)
            .stdout(Stdio::Piped)
            .spawn()
            .unwrap();
        let mut stdin = child.take_stdin().unwrap();
        let mut stdout = child.take_stdout().unwrap();
        stdin.write_all(b"round trip").unwrap();
        stdin.close().unwrap();
        let mut got = String::new();
        stdout.read_to_string(&mut got).unwrap();
        assert_eq!(got, "round trip");
        assert!(child.wait().unwrap().success());

        // More than a pipe holds on both stdout and stderr: read at once, no deadlock.
        let big = sh("head -c 1000000 /dev/zero; head -c 1000000 /dev/zero >&2; exit 5");
        let out = Spawn::from_command(&big)
            .stdin(Stdio::Null)
            .stdout(Stdio::Piped)
            .stderr(Stdio::Piped)
            .spawn()
            .unwrap()
            .wait_with_output()
            .unwrap();
        assert_eq!((out.stdout.len(), out.stderr.len()), (1_000_000, 1_000_000));
        assert_eq!(out.status.code(), Some(5));

        // stdin piped and not taken: wait_with_output closes it (cat sees EOF).
        let out = Spawn::from_command(&Command::new("/bin/cat"))
            .stdin(Stdio::Piped)
            .stdout(Stdio::Piped)
            .spawn()
            .unwrap()
            .wait_with_output()
            .unwrap();
        assert!(out.status.success() && out.stdout.is_empty());

        // In a scope, the release closes stdin: a child reading to EOF ends.
        scope(|s| {
            let _cat = s.enter(
                Spawn::from_command(&Command::new("/bin/cat"))
                    .stdin(Stdio::Piped)
                    .stdout(Stdio::Null)
                    .spawn()?,
            );
            Ok::<_, Error>(())
        })
        .unwrap();
    });
}

/// The pidfd is a registered fd: owned by a `Child`, created at the `spawn` call.
#[test]
fn the_pidfd_shows_in_fds_with_its_owner_and_site() {
    watchdog(60, || {
        let _serial = serial();
        let mut spawn = Spawn::from_command(&Command::new("/bin/true"));
        let (mut child, line): (Child, u32) = (spawn.spawn().unwrap(), line!());
        let n = child.as_fd().as_raw_fd();
        let mut seen = None;
        guard_os::fds().for_each(|fd| {
            if fd.number() == n {
                seen = Some((
                    fd.type_name(),
                    fd.kind(),
                    fd.site().file(),
                    fd.site().line(),
                ));
            }
        });
        assert_eq!(
            seen,
            Some((
                std::any::type_name::<Child>(),
                guard_core::Kind::Unique,
                file!(),
                line
            ))
        );
        child.wait().unwrap();
    });
}

#[test]
fn a_nul_in_an_argument_or_the_environment_is_a_typed_error() {
    watchdog(60, || {
        let _serial = serial();
        let mut cmd = Command::new("/bin/echo");
        cmd.arg("a\0b"); // std shows "<string-with-nul>" for it
        let e = Spawn::from_command(&cmd).spawn().unwrap_err();
        assert!(
            matches!(
                e,
                Error::SpawnNul {
                    what: "argument",
                    ..
                }
            ),
            "{e}"
        );
        let mut cmd = Command::new("/bin/echo");
        cmd.env("K", "v\0w");
        let e = Spawn::from_command(&cmd).spawn().unwrap_err();
        assert!(
            matches!(&e, Error::SpawnNul { what: "environment variable", value, .. } if value == "K=v\0w"),
            "{e}"
        );
        let mut cmd = Command::new("/bin/true");
        cmd.current_dir("/tm\0p");
        let e = Spawn::from_command(&cmd).spawn().unwrap_err();
        assert!(
            matches!(
                e,
                Error::SpawnNul {
                    what: "directory",
                    ..
                }
            ),
            "{e}"
        );
        // A stdio setting where the plan puts an fd: a collision, not a silent choice.
        let f = guard_os::ReadFile::open("/dev/null").unwrap();
        let e = Spawn::from_command(&Command::new("/bin/true"))
            .inherit(guard_os::Inherit::new().keep_as_stdio(&f, 0))
            .unwrap()
            .stdin(Stdio::Null)
            .spawn()
            .unwrap_err();
        assert!(
            matches!(e, Error::InheritCollision { target: 0, .. }),
            "{e}"
        );
    });
}

/// With the drop bomb armed (`set_panic_on_unreleased`), a counted child is released on
/// the finalizer and never reported unreleased, while a unique child dropped before its
/// status was collected is reported like any unique value, with its spawn site (and, in
/// debug builds, the bomb goes off in its `drop`).
#[test]
fn the_drop_bomb_spares_counted_children_and_reports_unique_ones() {
    use guard_core::event::{self, Event};
    use std::sync::Arc;
    watchdog(60, || {
        let _serial = serial();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        event::set_hook(move |e| match e {
            Event::Unreleased { origin, .. } if origin.type_name().ends_with("Child") => {
                sink.lock()
                    .unwrap()
                    .push((e.to_string(), origin.site().line()));
            }
            Event::ReleasePanicked { .. } => sink.lock().unwrap().push((e.to_string(), 0)),
            _ => {}
        });
        guard_core::report::set_panic_on_unreleased(true);
        let counted = Spawn::from_command(&Command::new("/bin/true"))
            .spawn()
            .unwrap();
        drop(Counted::new(counted));
        guard_core::finalizer::flush().unwrap();
        let after_counted = std::mem::take(&mut *seen.lock().unwrap());
        let spawned_at = line!() + 1;
        let unique = Spawn::from_command(&sh("exit 0")).spawn().unwrap();
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(unique)));
        guard_core::report::set_panic_on_unreleased(false);
        event::reset_hook();
        assert_eq!(
            after_counted,
            [],
            "a counted child is released, not dropped"
        );
        assert_eq!(
            dropped.is_err(),
            cfg!(debug_assertions),
            "the bomb in debug builds"
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].1, spawned_at, "{seen:?}");
        assert!(seen[0].0.contains("created at"), "{seen:?}");
    });
}

/// `wait_with_output` takes the child: when it fails (here a read of its stdout, whose fd
/// was closed behind the registry's back), the error is returned and the child is neither
/// reported as dropped unreleased nor set off the drop bomb, and it is still reaped.
#[test]
#[cfg(target_os = "linux")]
fn a_failed_wait_with_output_returns_its_error_and_reports_no_drop() {
    use guard_core::event::{self, Event};
    use std::sync::Arc;
    watchdog(60, || {
        let _serial = serial();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        event::set_hook(move |e| {
            if let Event::Unreleased { origin, .. } = e
                && origin.type_name().ends_with("Child")
            {
                sink.lock().unwrap().push(e.to_string());
            }
        });
        guard_core::report::set_panic_on_unreleased(true);
        let pipes = || -> Vec<i32> {
            std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .filter_map(|e| {
                    let e = e.ok()?;
                    let link = std::fs::read_link(e.path()).ok()?;
                    link.to_string_lossy().starts_with("pipe:").then_some(())?;
                    e.file_name().to_str()?.parse().ok()
                })
                .collect()
        };
        let before = pipes();
        let child = Spawn::from_command(&sh("exit 3"))
            .stdout(Stdio::Piped)
            .spawn()
            .unwrap();
        let pid = child.id();
        let new_pipes: Vec<i32> = pipes()
            .into_iter()
            .filter(|fd| !before.contains(fd))
            .collect();
        assert_eq!(new_pipes.len(), 1, "the child's stdout: {new_pipes:?}");
        let stdout = new_pipes[0];
        // SAFETY: the fault under test: the pipe's number is closed behind its owner, which
        // then reads EBADF; no other fd is opened meanwhile (the test holds `serial()`).
        assert_eq!(unsafe { libc::close(stdout) }, 0);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            child.wait_with_output()
        }));
        guard_core::report::set_panic_on_unreleased(false);
        event::reset_hook();
        let result = result.expect("the drop bomb went off for a child the caller gave up");
        assert!(result.is_err(), "{result:?}");
        assert_eq!(*seen.lock().unwrap(), Vec::<String>::new());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while is_zombie_of_ours(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "child {pid} never reaped"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}
