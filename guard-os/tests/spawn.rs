//! guard's own spawn ([`Spawn`], no `fork`): the child gets exactly 0-2 and its keep-list
//! at the numbers asked (R5), checked from outside through `/proc/<pid>/fd`, also under fd
//! churn and with fds other code opened without `O_CLOEXEC`; exec errors come back typed
//! and never reach a passed fd; signals through the pidfd; dropped children are reaped.
//!
//! Tests that open and close fds at a rate, that need a number to stay closed, or that
//! start children (a zombie check looks at every child of this process), take `FDS` so
//! that they do not run at once.
// Compiled everywhere; run on Linux only: every check reads /proc/<pid>/fd or
// /proc/<pid>/stat from outside (macOS and FreeBSD would need their own listing).

mod common;

use common::{any_unreaped_child, is_zombie_of_ours, raw_open_without_cloexec, serial, watchdog};
use guard_os::{Child, Error, Fd, Inherit, ReadFile, Spawn, TcpListener, pipe};
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn sleeper() -> Command {
    let mut cmd = Command::new("/bin/sleep");
    cmd.arg("60");
    cmd
}

/// The child's fds (number -> target), read from outside once it sleeps (the dynamic
/// loader opens and closes fds after `exec`; `sleep` is in state S only in `nanosleep`).
fn fds_of(child: &Child) -> BTreeMap<i32, String> {
    let pid = child.id();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let state = stat.rsplit_once(") ").unwrap().1.chars().next().unwrap();
        if state == 'S' {
            break;
        }
        std::thread::yield_now();
    }
    let mut fds = BTreeMap::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let e = e.unwrap();
        let n: i32 = e.file_name().to_str().unwrap().parse().unwrap();
        let target = std::fs::read_link(e.path()).unwrap_or_default();
        fds.insert(n, target.display().to_string());
    }
    fds
}

fn target(fd: &impl AsRawFd) -> String {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap()
        .display()
        .to_string()
}

/// Kills the child through its pidfd: its status says SIGKILL.
fn kill_and_check(mut child: Child) {
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert_eq!(status.code(), None);
    child.kill().unwrap(); // exited already: Ok
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "checks through /proc/<pid>: Linux only"
)]
fn child_gets_exactly_its_keep_list_at_the_numbers_asked() {
    watchdog(60, || {
        let _serial = serial();
        let raw = raw_open_without_cloexec(); // must not reach the child
        let stray = std::fs::File::open("/dev/null").unwrap(); // CLOEXEC, not kept
        let unkept = ReadFile::open("/dev/null").unwrap(); // registered, not kept
        let kept_here = ReadFile::open("/dev/null").unwrap();
        let (pr, pw) = pipe().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // Targets 700 and 701, far above the numbers this process uses: one is the
        // listener's, one a pipe's; and `raw` is moved onto one of them first (an fd other
        // code has at a target is overwritten, not kept).
        let raw_at_700 = {
            // SAFETY: dup2 onto a free number; the new fd is owned by the OwnedFd below.
            let n = unsafe { libc::dup2(raw.as_raw_fd(), 700) };
            assert_eq!(n, 700);
            use std::os::fd::FromRawFd;
            // SAFETY: just created, owned by nobody else.
            unsafe { OwnedFd::from_raw_fd(n) }
        };
        let child = Spawn::from_command(&sleeper())
            .inherit(
                Inherit::new()
                    .keep(&kept_here)
                    .keep_at(&pr, 701)
                    .keep_at(&listener, 700),
            )
            .unwrap()
            .spawn()
            .unwrap();
        let got = fds_of(&child);
        let mut want = vec![0, 1, 2, 700, 701, kept_here.as_raw_fd()];
        want.sort_unstable();
        assert_eq!(got.keys().copied().collect::<Vec<_>>(), want, "{got:?}");
        assert_eq!(got[&kept_here.as_raw_fd()], "/dev/null");
        assert_eq!(got[&701], target(&pr));
        assert_eq!(got[&700], target(&listener));
        kill_and_check(child);
        drop((raw, raw_at_700, stray, unkept, pr, listener));
        pw.close().unwrap();
    });
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "checks through /proc/<pid>: Linux only"
)]
fn swapped_sources_and_targets_land_where_asked() {
    watchdog(60, || {
        let _serial = serial();
        let a = ReadFile::open("/dev/null").unwrap();
        let (b, bw) = pipe().unwrap();
        let (na, nb) = (a.as_raw_fd(), b.as_raw_fd());
        let child = Spawn::from_command(&sleeper())
            .inherit(Inherit::new().keep_at(&a, nb).keep_at(&b, na))
            .unwrap()
            .spawn()
            .unwrap();
        let got = fds_of(&child);
        let mut want = vec![0, 1, 2, na, nb];
        want.sort_unstable();
        assert_eq!(got.keys().copied().collect::<Vec<_>>(), want, "{got:?}");
        assert_eq!(got[&nb], "/dev/null");
        assert_eq!(got[&na], target(&b));
        kill_and_check(child);
        bw.close().unwrap();
    });
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "checks through /proc/<pid>: Linux only"
)]
fn spawns_under_churn_inherit_nothing_unexpected() {
    let spawns = common::size(200, 1_000);
    watchdog(600, move || {
        let _serial = serial();
        let stop = Arc::new(AtomicBool::new(false));
        let churners = common::churn(&stop, || {});
        let (pr, pw) = pipe().unwrap();
        let mut spawn = Spawn::from_command(&sleeper())
            .inherit(Inherit::new().keep_at(&pr, 10))
            .unwrap();
        for i in 0..spawns {
            let child = spawn.spawn().unwrap();
            let got = fds_of(&child);
            assert_eq!(
                got.keys().copied().collect::<Vec<_>>(),
                [0, 1, 2, 10],
                "spawn {i}"
            );
            assert_eq!(got[&10], target(&pr));
            kill_and_check(child);
        }
        stop.store(true, Ordering::Relaxed);
        let churned: usize = churners.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(churned > 0, "the churners ran during the spawns");
        pw.close().unwrap();
    });
}

/// A missing program, spawned while other threads open and close fds: every spawn is an
/// `exec` error (`ENOENT`), and nothing is written into the passed pipe.
#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "checks through /proc/<pid>: Linux only"
)]
fn a_missing_program_is_an_error_every_time_and_writes_nothing() {
    let spawns = common::size(1_000, 10_000);
    watchdog(600, move || {
        let _serial = serial();
        let stop = Arc::new(AtomicBool::new(false));
        let churners = common::churn(&stop, || {});
        let (pr, pw) = pipe().unwrap();
        let mut spawn = Spawn::from_command(&Command::new("/no/such/program"))
            .inherit(Inherit::new().keep_at(&pw, 6).keep_at(&pr, 7))
            .unwrap();
        let mut oks = 0;
        for _ in 0..spawns {
            match spawn.spawn() {
                Ok(mut child) => {
                    oks += 1;
                    let _ = child.wait();
                }
                Err(e) => {
                    assert!(matches!(e, Error::Spawn { op: "exec", .. }), "{e}");
                    assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        for t in churners {
            t.join().unwrap();
        }
        drop(spawn);
        pw.close().unwrap();
        let mut written = Vec::new();
        std::io::Read::read_to_end(&mut &pr, &mut written).unwrap();
        assert_eq!((oks, written.len()), (0, 0), "Ok spawns, bytes in the pipe");
        assert!(!any_unreaped_child(), "a failed child left a zombie");
    });
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "checks through /proc/<pid>: Linux only"
)]
fn a_child_killed_by_a_signal_is_reported_as_such() {
    watchdog(60, || {
        let _serial = serial();
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "kill -TERM $$"]);
        let status = Spawn::from_command(&cmd).spawn().unwrap().wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
        assert!(!status.success());
        let child = Spawn::from_command(&sleeper()).spawn().unwrap();
        kill_and_check(child);
    });
}

/// The pidfd fallbacks of a kernel without `CLONE_PIDFD` (before 5.2: `pidfd_open`) and
/// without pidfds at all (before 5.3: the spawn fails, its child killed and reaped), forced
/// here by a test switch: a child is spawned, polled, waited, signalled and killed through
/// a pidfd from `pidfd_open` as through one from `clone`.
#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "pidfds: Linux only (the switch has no effect elsewhere)"
)]
fn the_pidfd_open_fallback_spawns_waits_and_kills() {
    use guard_os::PidfdStrategy;
    watchdog(60, || {
        let _serial = serial();
        for how in [PidfdStrategy::ClonePidfd, PidfdStrategy::PidfdOpen] {
            let mut cmd = Command::new("/bin/sh");
            cmd.args(["-c", "exit 3"]);
            let mut child = Spawn::from_command(&cmd)
                .__pidfd_strategy(how)
                .spawn()
                .unwrap();
            assert_eq!(child.wait().unwrap().code(), Some(3), "{how:?}");

            let mut child = Spawn::from_command(&sleeper())
                .__pidfd_strategy(how)
                .spawn()
                .unwrap();
            let fd = std::os::fd::AsFd::as_fd(&child).as_raw_fd();
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
            assert!(
                info.contains(&format!("Pid:\t{}", child.id())),
                "{how:?}: fd {fd} is the child's pidfd: {info}"
            );
            assert_eq!(child.try_wait().unwrap(), None, "{how:?}: it sleeps");
            child.signal(libc::SIGSTOP).unwrap();
            child.signal(libc::SIGCONT).unwrap();
            assert_eq!(
                child.try_wait().unwrap(),
                None,
                "{how:?}: stopped, not exited"
            );
            kill_and_check(child);
        }
        let err = Spawn::from_command(&sleeper())
            .__pidfd_strategy(PidfdStrategy::PidfdOpenFails)
            .spawn()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Spawn {
                    op: "pidfd_open",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.raw_os_error(), Some(libc::ENOSYS), "{err}");
        assert!(
            !any_unreaped_child(),
            "the child it could not watch was reaped"
        );
    });
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "checks through /proc/<pid>: Linux only"
)]
fn bad_input_is_a_typed_error() {
    watchdog(60, || {
        let _serial = serial();
        let a = ReadFile::open("/dev/null").unwrap();
        let b = ReadFile::open("/dev/null").unwrap();
        let spawn = || Spawn::from_command(&Command::new("/bin/true"));
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .map_or(i32::MAX, |n| i32::try_from(n).unwrap_or(i32::MAX));
        let e = spawn()
            .inherit(Inherit::new().keep_at(&a, limit))
            .unwrap_err();
        assert!(
            matches!(e, Error::InheritTargetTooHigh { target, .. } if target == limit),
            "{e}"
        );
        let e = spawn()
            .inherit(Inherit::new().keep(&a).keep(&a))
            .unwrap_err();
        assert!(matches!(e, Error::InheritCollision { .. }), "{e}");
        let e = spawn()
            .inherit(Inherit::new().keep_at(&a, 9).keep_at(&b, 9))
            .unwrap_err();
        assert!(
            matches!(e, Error::InheritCollision { target: 9, .. }),
            "{e}"
        );
        // An fd closed behind the registry's back (`FDS` keeps the number closed).
        let closed = Fd::adopt(raw_open_without_cloexec());
        let n = closed.as_raw_fd();
        // SAFETY: closes the number behind `closed`'s back, for the test; it is reopened
        // below before `closed` is dropped.
        assert_eq!(unsafe { libc::close(n) }, 0);
        let e = spawn().inherit(Inherit::new().keep(&closed)).unwrap_err();
        assert!(matches!(e, Error::InheritClosed { fd } if fd == n), "{e}");
        // SAFETY: puts an fd back at `n`, so that `closed`'s drop closes an open fd.
        assert_eq!(unsafe { libc::dup2(a.as_raw_fd(), n) }, n);
        drop(closed);
        let mut cmd = Command::new("/bin/true");
        cmd.env("A", "a\0b"); // (std replaces an argument with a NUL before its getter)
        let e = Spawn::from_command(&cmd).spawn().unwrap_err();
        assert!(
            matches!(
                e,
                Error::SpawnNul {
                    what: "environment variable",
                    ..
                }
            ),
            "{e}"
        );
    });
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "checks through /proc/<pid>: Linux only"
)]
fn path_cwd_and_env_are_the_commands() {
    watchdog(60, || {
        let _serial = serial();
        let dir = std::env::temp_dir();
        let mut cmd = Command::new("sh"); // found through PATH
        cmd.args(["-c", "test \"$(pwd -P)\" = \"$WANT\" && test -z \"$GONE\""])
            .current_dir(&dir)
            .env("WANT", dir.canonicalize().unwrap())
            .env_remove("GONE");
        // SAFETY: not read concurrently by this test binary's other tests.
        unsafe { std::env::set_var("GONE", "1") };
        let status = Spawn::from_command(&cmd).spawn().unwrap().wait().unwrap();
        assert!(status.success(), "{status:?}");
    });
}

/// Children dropped while they run are reaped by the reaper as they exit.
#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "checks through /proc/<pid>: Linux only"
)]
fn dropped_children_never_stay_zombies() {
    watchdog(120, || {
        let _serial = serial();
        let mut cmd = Command::new("/bin/sleep");
        cmd.arg("0.2");
        let pids: Vec<u32> = (0..100)
            .map(|_| Spawn::from_command(&cmd).spawn().unwrap().id())
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(300));
        while pids.iter().any(|&p| is_zombie_of_ours(p)) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
}
