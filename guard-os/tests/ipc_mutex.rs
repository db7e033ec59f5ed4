//! The OS mutex between processes: holder death is reported to the next owner; mutual
//! exclusion holds under contention between processes and threads.

mod common;

use common::{temp_path, watchdog};
use guard_core::{Counted, scope};
use guard_os::{Error, IpcMutex, LockError};
use std::io::{BufRead, BufReader};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

const ITERATIONS: u32 = 200;

/// A mutex name no other test or process uses: this process's pid and a counter.
fn unique_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("test-{tag}-{}-{n}", std::process::id())
}

/// Takes the poisoned lock, marks the state consistent and unlocks.
fn recover(m: &IpcMutex) {
    let mut lock = m.lock_poisoned().unwrap();
    assert!(lock.is_poisoned());
    lock.mark_consistent().unwrap();
    lock.unlock().unwrap();
}

fn arg() -> String {
    std::env::var("GUARD_OS_TEST_PATH").expect("GUARD_OS_TEST_PATH")
}

/// Adds one to the counter in `counter`, under the mutex.
fn increment(m: &IpcMutex, counter: &std::path::Path) {
    let lock = m.lock().expect("no holder died");
    let n: u32 = std::fs::read_to_string(counter)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    std::thread::yield_now(); // widen the race window
    std::fs::write(counter, (n + 1).to_string()).unwrap();
    lock.unlock().unwrap();
}

#[test]
fn holder_death_is_reported_to_the_next_owner() {
    match common::role().as_deref() {
        Some("hold") => {
            let m = IpcMutex::open_path(arg()).unwrap();
            let lock = m.lock().unwrap();
            println!("locked");
            std::thread::sleep(Duration::from_secs(120)); // SIGKILLed before this ends
            drop(lock);
            return;
        }
        Some(_) => return,
        None => {}
    }
    watchdog(60, || {
        let path = temp_path("mutex-death");
        let mut child = common::child("holder_death_is_reported_to_the_next_owner", "hold")
            .env("GUARD_OS_TEST_PATH", &path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if line.is_ok_and(|l| l.trim() == "locked") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("the child took the lock");

        let m = Counted::new(IpcMutex::open_path(&path).unwrap());
        assert!(m.try_lock().unwrap().is_none(), "the child holds it");
        let pid = child.id();
        child.kill().unwrap(); // SIGKILL while locked
        child.wait().unwrap();

        // The next owner is told, with the dead holder's pid, and holds the lock.
        let died = match m.lock() {
            Err(LockError::OwnerDied(d)) => d,
            other => panic!("owner death hidden: {other:?}"),
        };
        assert_eq!(died.pid(), pid);
        let lock = m.lock_poisoned().unwrap();
        assert!(lock.is_poisoned());
        lock.unlock().unwrap(); // not repaired: the next owner is told too

        let err: Error = m.lock().map(drop).unwrap_err().into(); // `?`-style conversion
        assert!(
            matches!(err, Error::OwnerDied { pid: p, .. } if p == pid),
            "{err}"
        );

        match m.lock() {
            Err(LockError::OwnerDied(_)) => recover(&m),
            other => panic!("poison lost: {other:?}"),
        }
        let clean = m.lock().expect("recovered: clean from now on");
        assert!(!clean.is_poisoned());
        clean.unlock().unwrap();
        drop(m);
        std::fs::remove_file(path).unwrap();
    });
}

#[test]
fn mutual_exclusion_between_processes_and_threads() {
    match common::role().as_deref() {
        Some("count") => {
            let path = std::path::PathBuf::from(arg());
            let m = IpcMutex::open_path(path.with_extension("lock")).unwrap();
            for _ in 0..ITERATIONS {
                increment(&m, &path);
            }
            return;
        }
        Some(_) => return,
        None => {}
    }
    watchdog(120, || {
        let counter = temp_path("mutex-counter");
        let children: Vec<_> = (0..3)
            .map(|_| {
                common::child("mutual_exclusion_between_processes_and_threads", "count")
                    .env("GUARD_OS_TEST_PATH", &counter)
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // Two threads sharing one handle, one thread with a handle of its own.
        let shared = Counted::new(IpcMutex::open_path(counter.with_extension("lock")).unwrap());
        let threads: Vec<_> = (0..3)
            .map(|i| {
                let shared = shared.clone();
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let own;
                    let m: &IpcMutex = if i == 2 {
                        own = IpcMutex::open_path(counter.with_extension("lock")).unwrap();
                        &own
                    } else {
                        &shared
                    };
                    for _ in 0..ITERATIONS {
                        increment(m, &counter);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for c in children {
            assert!(common::wait_output(c, 100).status.success());
        }
        let total: u32 = std::fs::read_to_string(&counter).unwrap().parse().unwrap();
        assert_eq!(
            total,
            6 * ITERATIONS,
            "lost updates: the mutex did not exclude"
        );
        std::fs::remove_file(&counter).unwrap();
        std::fs::remove_file(counter.with_extension("lock")).unwrap();
    });
}

#[test]
fn an_acquisition_is_unique_and_a_dropped_one_still_unlocks() {
    if common::role().is_some() {
        return;
    }
    let path = temp_path("mutex-scope");
    let m = IpcMutex::open_path(&path).unwrap();
    scope(|s| {
        let held = s.enter(m.lock().map_err(Error::from)?);
        assert!(!held.is_poisoned());
        let other = IpcMutex::open_path(&path)?;
        assert!(
            other.try_lock().map_err(Error::from)?.is_none(),
            "held across handles"
        );
        Ok::<_, Error>(())
    })
    .unwrap();
    let before = guard_core::report().unreleased();
    drop(m.lock().unwrap()); // dropped without release: unlocked anyway, reported
    assert!(guard_core::report().unreleased() > before);
    let again = m
        .try_lock()
        .unwrap()
        .expect("the dropped acquisition unlocked");
    again.unlock().unwrap();
    m.close().unwrap();
    std::fs::remove_file(path).unwrap();
}

#[test]
fn names_are_checked() {
    if common::role().is_some() {
        return;
    }
    let long = "x".repeat(201);
    for (bad, why) in [
        ("", "1 to 200 bytes"),
        (long.as_str(), "1 to 200 bytes"),
        ("a/b", "`/` or NUL"),
        ("../escape", "`/` or NUL"),
        ("nul\0", "`/` or NUL"),
        (".", "`.` or `..`"),
        ("..", "`.` or `..`"),
    ] {
        for err in [
            IpcMutex::open(bad).unwrap_err(),
            IpcMutex::path_of(bad).unwrap_err(),
            IpcMutex::remove(bad).unwrap_err(),
        ] {
            assert!(
                matches!(&err, Error::InvalidName { name, reason } if name == bad && reason.contains(why)),
                "{bad:?}: {err:?}"
            );
        }
    }
    assert!(
        IpcMutex::path_of(&"x".repeat(200)).is_ok(),
        "200 bytes is fine"
    );
    let name = unique_name("names");
    let m = IpcMutex::open(&name).unwrap();
    assert!(
        m.path()
            .to_string_lossy()
            .ends_with(&format!("guard-mutex.{name}"))
    );
    let p = m.path().to_owned();
    m.close().unwrap();
    IpcMutex::remove(&name).unwrap();
    assert!(!p.exists(), "removed");
}

/// Asserts `err` is the typed "not a guard lock file" refusal for `path`.
fn assert_not_a_lock_file(err: &Error, path: &Path) {
    let Error::Lock {
        path: p, source, ..
    } = err
    else {
        panic!("not the lock error: {err:?}");
    };
    assert_eq!(p, path);
    assert_eq!(source.kind(), std::io::ErrorKind::InvalidData, "{err:?}");
    assert!(
        source.to_string().contains("not a guard lock file"),
        "{source}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_a_lock_file_is_refused_and_left_unchanged() {
    if common::role().is_some() {
        return;
    }
    watchdog(60, || {
        // Longer and shorter than an owner record, and an almost-magic prefix.
        let contents: [&[u8]; 3] = [
            b"precious user data, much longer than the 32-byte owner record\n",
            b"hi",
            b"guardmtx",
        ];
        for content in contents {
            let path = temp_path("mutex-not-a-lock");
            std::fs::write(&path, content).unwrap();
            let err = IpcMutex::open_path(&path).expect_err("a non-lock file was opened");
            assert_not_a_lock_file(&err, &path);
            assert_eq!(
                std::fs::read(&path).unwrap(),
                content,
                "the file was changed"
            );
            std::fs::remove_file(&path).unwrap();
        }

        // `open` (in /dev/shm, writable by everyone) refuses the same way.
        let name = unique_name("not-a-lock");
        let path = IpcMutex::path_of(&name).unwrap();
        std::fs::write(&path, b"someone else's file").unwrap();
        let err = IpcMutex::open(&name).expect_err("a non-lock file was opened");
        assert_not_a_lock_file(&err, &path);
        assert_eq!(std::fs::read(&path).unwrap(), b"someone else's file");
        std::fs::remove_file(&path).unwrap();

        // A file replaced after the open is refused by `lock`, still unchanged.
        let path = temp_path("mutex-replaced");
        let m = IpcMutex::open_path(&path).expect("an empty file is a fresh lock file");
        std::fs::write(&path, b"written by someone else after the open").unwrap();
        let err = match m.lock() {
            Err(LockError::Os(e)) => e,
            other => panic!("locked a non-lock file: {other:?}"),
        };
        assert_not_a_lock_file(&err, &path);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"written by someone else after the open"
        );
        m.close().unwrap();
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn a_symlink_is_refused_not_followed() {
    if common::role().is_some() {
        return;
    }
    watchdog(60, || {
        let target = temp_path("mutex-symlink-target");
        let link = temp_path("mutex-symlink");
        // A lock file would be accepted at its own path: only the link is refused.
        IpcMutex::open_path(&target).unwrap().close().unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let before = std::fs::read(&target).unwrap();
        let err = IpcMutex::open_path(&link).expect_err("a symlink was followed");
        assert!(
            matches!(&err, Error::Open { path, .. } if *path == link),
            "{err:?}"
        );
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err:?}");
        assert_eq!(
            std::fs::read(&target).unwrap(),
            before,
            "the target changed"
        );

        // A dangling symlink: the target is not created either.
        let missing = temp_path("mutex-symlink-missing");
        let dangling = temp_path("mutex-symlink-dangling");
        std::os::unix::fs::symlink(&missing, &dangling).unwrap();
        let err = IpcMutex::open_path(&dangling).expect_err("a symlink was followed");
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err:?}");
        assert!(!missing.exists(), "the symlink's target was created");

        for p in [&target, &link, &dangling] {
            std::fs::remove_file(p).unwrap();
        }
    });
}

#[test]
fn a_panic_while_holding_the_lock_poisons_it_until_recovered() {
    match common::role().as_deref() {
        Some("check-poisoned") => {
            // Another process sees the poisoning too: it is in the lock file.
            let m = IpcMutex::open_path(arg()).unwrap();
            match m.try_lock() {
                Err(LockError::OwnerDied(d)) => {
                    println!("BEGIN\npoisoned by {}\nEND", d.pid());
                    m.lock_poisoned().unwrap().unlock().unwrap(); // not repaired
                }
                other => println!("BEGIN\nnot poisoned: {other:?}\nEND"),
            }
            return;
        }
        Some(_) => return,
        None => {}
    }
    watchdog(60, || {
        let path = temp_path("mutex-panic");
        let m = Counted::new(IpcMutex::open_path(&path).unwrap());

        // A thread panics holding the lock (the lock is dropped during unwinding).
        let held = m.clone();
        let panicked = std::thread::spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                let _lock = held.lock().unwrap();
                panic!("panicking while holding the OS mutex (expected by the test)");
            }))
            .is_err()
        })
        .join()
        .unwrap();
        assert!(panicked);

        let me = std::process::id();
        let died = match m.try_lock() {
            Err(LockError::OwnerDied(d)) => d,
            other => panic!("panic not reported to the next owner: {other:?}"),
        };
        assert_eq!(died.pid(), me);
        let lock = m.lock_poisoned().unwrap();
        assert!(lock.is_poisoned());
        lock.unlock().unwrap(); // not repaired: the next owner is told too

        let child = common::child(
            "a_panic_while_holding_the_lock_poisons_it_until_recovered",
            "check-poisoned",
        )
        .env("GUARD_OS_TEST_PATH", &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
        let out = common::wait_output(child, 50);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(common::payload(&out), [format!("poisoned by {me}")]);

        match m.lock() {
            Err(LockError::OwnerDied(_)) => recover(&m),
            other => panic!("poison lost: {other:?}"),
        }
        let clean = m.lock().expect("recovered: clean from now on");
        assert!(!clean.is_poisoned());
        clean.unlock().unwrap();

        // The same through a scope: its guard is released during the unwinding.
        let body = catch_unwind(AssertUnwindSafe(|| {
            scope(|s| {
                let _held = s.enter(m.lock().map_err(Error::from)?);
                panic!("panicking in a scope holding the OS mutex (expected by the test)");
                #[allow(unreachable_code)]
                Ok::<_, Error>(())
            })
        }));
        assert!(body.is_err());
        match m.try_lock() {
            Err(LockError::OwnerDied(_)) => recover(&m),
            other => panic!("panic in a scope not reported: {other:?}"),
        }

        // A lock taken and released during unwinding (in a `Drop`) does not poison, as
        // with std's `Mutex`.
        struct Relock<'a>(&'a IpcMutex);
        impl Drop for Relock<'_> {
            fn drop(&mut self) {
                self.0.lock().unwrap().unlock().unwrap();
            }
        }
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            let _relock = Relock(&m);
            panic!("unwinding through a Drop that locks (expected by the test)");
        }));
        assert!(unwound.is_err());
        let clean = m.try_lock().unwrap().expect("free");
        assert!(!clean.is_poisoned());
        clean.unlock().unwrap();

        drop(m);
        std::fs::remove_file(path).unwrap();
    });
}

/// Drops this process to `uid` (and its group to the same number, with no supplementary
/// groups), for the roles that play another user.
fn become_user(uid: u32) {
    // SAFETY: plain syscalls on this process's credentials; no memory is passed but a
    // null list of length 0.
    unsafe {
        assert_eq!(libc::setgroups(0, std::ptr::null()), 0, "setgroups");
        assert_eq!(libc::setgid(uid), 0, "setgid");
        assert_eq!(libc::setuid(uid), 0, "setuid");
    }
}

/// What `open` gave, as one line: `refused UID MODE` for the typed refusal.
fn outcome(r: guard_os::Result<IpcMutex>) -> String {
    match r {
        Err(Error::UntrustedLockFile { uid, mode, .. }) => format!("refused {uid} {mode:04o}"),
        Err(e) => format!("error: {e}"),
        Ok(m) => match m.try_lock() {
            Ok(Some(_)) => "opened, free".to_owned(),
            Ok(None) => "opened, held".to_owned(),
            Err(e) => format!("opened: {e}"),
        },
    }
}

const SQUATTER: u32 = 65534;
const OTHER_VICTIM: u32 = 65533;

/// Another local user creates the lock file first, in a shared sticky directory and in
/// /dev/shm: holds the mutex, forges the owner record ("poisoned by pid 1") and makes it
/// writable by everyone, or private. Root and a third user must get the typed refusal,
/// never wait on it (watchdog) and never report the forged owner.
#[test]
fn another_users_lock_file_is_refused_never_waited_on_or_believed() {
    match common::role().as_deref() {
        Some("squat") => {
            let mode: u32 = std::env::var("GUARD_SQUAT_MODE").unwrap().parse().unwrap();
            become_user(SQUATTER);
            let by_path = IpcMutex::open_path(arg()).unwrap();
            let by_name = IpcMutex::open(&std::env::var("GUARD_SQUAT_NAME").unwrap()).unwrap();
            let held = [by_path.lock().unwrap(), by_name.lock().unwrap()];
            for m in [&by_path, &by_name] {
                use std::os::unix::fs::{FileExt, PermissionsExt};
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(m.path())
                    .unwrap();
                // The owner record after the magic word: holder, poisoned, dead.
                for (at, v) in [(8, 1u32), (12, 1), (16, 1)] {
                    f.write_at(&v.to_le_bytes(), at).unwrap();
                }
                let perms = std::fs::Permissions::from_mode(mode);
                std::fs::set_permissions(m.path(), perms).unwrap();
            }
            println!("ready");
            let mut rest = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut rest).unwrap();
            for lock in held {
                lock.unlock().unwrap();
            }
            return;
        }
        Some("victim") => {
            become_user(OTHER_VICTIM);
            let by_path = outcome(IpcMutex::open_path(arg()));
            let by_name = outcome(IpcMutex::open(&std::env::var("GUARD_SQUAT_NAME").unwrap()));
            println!("BEGIN\n{by_path}\n{by_name}\nEND");
            return;
        }
        Some(_) => return,
        None => {}
    }
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("skipped: playing several users needs root");
        return;
    }
    watchdog(120, || {
        let dir = temp_path("two-users");
        std::fs::create_dir(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let name = unique_name("squatted");
        let named = IpcMutex::path_of(&name).unwrap();
        for mode in [0o666, 0o600] {
            let path = dir.join(format!("guard-mutex.{mode:o}"));
            let mut squatter = common::child(
                "another_users_lock_file_is_refused_never_waited_on_or_believed",
                "squat",
            )
            .env("GUARD_OS_TEST_PATH", &path)
            .env("GUARD_SQUAT_NAME", &name)
            .env("GUARD_SQUAT_MODE", mode.to_string())
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
            let (tx, rx) = mpsc::channel();
            let stdout = squatter.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    if line.is_ok_and(|l| l.trim() == "ready") {
                        let _ = tx.send(());
                    }
                }
            });
            rx.recv_timeout(Duration::from_secs(30))
                .expect("the squatter is in place");

            // Root: refused, naming the squatter and the mode.
            let expect = format!("refused {SQUATTER} {mode:04o}");
            for p in [&path, &named] {
                let err = IpcMutex::open_path(p).expect_err("another user's file was trusted");
                assert_eq!(outcome(Err(err)), expect, "{}", p.display());
            }
            let err = IpcMutex::open(&name).expect_err("another user's file was trusted");
            let text = err.to_string();
            assert!(
                text.contains(&format!("uid {SQUATTER}")) && text.contains(&format!("{mode:04o}")),
                "{text}"
            );
            assert!(!text.contains("pid 1"), "{text}");

            // A third user: refused the same way (also when it cannot even open the file).
            let victim = common::child(
                "another_users_lock_file_is_refused_never_waited_on_or_believed",
                "victim",
            )
            .env("GUARD_OS_TEST_PATH", &path)
            .env("GUARD_SQUAT_NAME", &name)
            .env_remove("XDG_RUNTIME_DIR")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
            let out = common::wait_output(victim, 30);
            assert!(out.status.success(), "{out:?}");
            assert_eq!(common::payload(&out), [expect.clone(), expect.clone()]);

            drop(squatter.stdin.take()); // the squatter leaves
            assert!(common::wait_output(squatter, 30).status.success());
            std::fs::remove_file(&path).unwrap();
            std::fs::remove_file(&named).unwrap();
        }
        std::fs::remove_dir(&dir).unwrap();
    });
}

/// `$XDG_RUNTIME_DIR` is used only when it is absolute and a directory of this user with
/// mode 0700.
#[test]
fn named_mutexes_live_in_a_private_runtime_dir_when_there_is_one() {
    match common::role().as_deref() {
        Some("xdg") => {
            let path = IpcMutex::path_of("jobs").unwrap();
            println!("BEGIN\n{}\nEND", path.parent().unwrap().display());
            return;
        }
        Some(_) => return,
        None => {}
    }
    watchdog(60, || {
        use std::os::unix::fs::PermissionsExt;
        let private = temp_path("xdg-private");
        let open = temp_path("xdg-open");
        for (dir, mode) in [(&private, 0o700), (&open, 0o755)] {
            std::fs::create_dir(dir).unwrap();
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let fallback = if Path::new("/dev/shm").is_dir() {
            "/dev/shm".to_owned()
        } else {
            std::env::temp_dir().display().to_string()
        };
        let private_s = private.display().to_string();
        for (xdg, expect) in [
            (Some(private_s.as_str()), private_s.as_str()),
            (Some(&*open.display().to_string()), &*fallback),
            (Some("relative/dir"), &*fallback),
            (None, &*fallback),
        ] {
            let mut cmd = common::child(
                "named_mutexes_live_in_a_private_runtime_dir_when_there_is_one",
                "xdg",
            );
            match xdg {
                Some(x) => cmd.env("XDG_RUNTIME_DIR", x),
                None => cmd.env_remove("XDG_RUNTIME_DIR"),
            };
            let out = common::output_of(&mut cmd, 30);
            assert!(out.status.success(), "{out:?}");
            assert_eq!(common::payload(&out), [expect], "XDG_RUNTIME_DIR={xdg:?}");
        }
        std::fs::remove_dir(&private).unwrap();
        std::fs::remove_dir(&open).unwrap();
    });
}

/// A thread that holds the mutex and locks it again gets an error, not a deadlock, through
/// the same handle or another one for the same file; `try_lock` says "held".
#[test]
fn relocking_from_the_holding_thread_is_an_error_not_a_hang() {
    if common::role().is_some() {
        return;
    }
    watchdog(60, || {
        let name = unique_name("relock");
        let m = IpcMutex::open(&name).unwrap();
        let other = IpcMutex::open(&name).unwrap();
        let held = m.lock().unwrap();
        for again in [&m, &other] {
            match again.lock() {
                Err(LockError::Os(e)) => assert_eq!(e.raw_os_error(), Some(libc::EDEADLK), "{e}"),
                other => panic!("relocked: {other:?}"),
            }
            assert!(again.try_lock().unwrap().is_none());
        }
        held.unlock().unwrap();
        other.lock().unwrap().unlock().unwrap();
        drop((m, other));
        IpcMutex::remove(&name).unwrap();
    });
}

/// Lock errors own what they say: `?` takes them into guard's error, and into a boxed
/// `Send + Sync` error (what anyhow needs too).
#[test]
fn lock_errors_convert_with_question_mark() {
    if common::role().is_some() {
        return;
    }
    fn boxed(m: &IpcMutex) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        m.lock()?.unlock()?;
        Ok(())
    }
    fn core(m: &IpcMutex) -> Result<(), guard_core::Error> {
        m.lock()?.unlock()?;
        Ok(())
    }
    let name = unique_name("question-mark");
    let m = IpcMutex::open(&name).unwrap();
    boxed(&m).unwrap();
    core(&m).unwrap();
    let held = m.lock().unwrap();
    let err = boxed(&m).unwrap_err(); // EDEADLK, as a boxed error
    assert!(err.to_string().contains(&name), "{err}");
    held.unlock().unwrap();
    m.close().unwrap();
    IpcMutex::remove(&name).unwrap();
}

/// Threads racing to open a new lock file all get the same working mutex: the first
/// initialises it under the file's `flock`, the others wait for the magic word.
#[test]
fn racing_opens_of_a_new_file_share_one_mutex() {
    if common::role().is_some() {
        return;
    }
    watchdog(60, || {
        for _ in 0..20 {
            let path = temp_path("mutex-race");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let m = IpcMutex::open_path(&path).expect("a racing open failed");
                        m.lock().expect("clean").unlock().unwrap();
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            std::fs::remove_file(&path).unwrap();
        }
    });
}

/// A lock forgotten (`mem::forget`, safe) stays in its thread's robust list: closing its
/// handle must not unmap the page that list points into, or the next unlock of another
/// mutex on that thread crashes.
#[test]
fn a_forgotten_lock_does_not_crash_the_thread_later() {
    if common::role().is_some() {
        return;
    }
    watchdog(60, || {
        let (a, b) = (temp_path("mutex-kept"), temp_path("mutex-forgotten"));
        let kept = IpcMutex::open_path(&a).unwrap();
        let outer = kept.lock().unwrap();
        let forgotten = IpcMutex::open_path(&b).unwrap();
        std::mem::forget(forgotten.lock().unwrap());
        forgotten.close().unwrap();
        outer.unlock().unwrap(); // walks the robust list past the forgotten one
        kept.lock().unwrap().unlock().unwrap();
        kept.close().unwrap();
        std::fs::remove_file(&a).unwrap();
        std::fs::remove_file(&b).unwrap();
    });
}
