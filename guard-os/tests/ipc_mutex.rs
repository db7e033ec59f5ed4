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
        let lock = died.into_lock();
        assert!(lock.is_poisoned());
        lock.unlock().unwrap(); // not repaired: the next owner is told too

        let err: Error = m.lock().map(drop).unwrap_err().into(); // `?`-style conversion
        assert!(
            matches!(err, Error::OwnerDied { pid: p, .. } if p == pid),
            "{err}"
        );

        match m.lock() {
            Err(LockError::OwnerDied(d)) => d.recover().unwrap().unlock().unwrap(),
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
    for bad in ["", "a/b", "nul\0"] {
        assert!(
            matches!(IpcMutex::open(bad), Err(Error::InvalidName { .. })),
            "{bad:?}"
        );
    }
    let name = format!("test-{}", std::process::id());
    let m = IpcMutex::open(&name).unwrap();
    assert!(
        m.path()
            .to_string_lossy()
            .ends_with(&format!("guard-mutex.{name}"))
    );
    let p = m.path().to_owned();
    m.close().unwrap();
    std::fs::remove_file(p).unwrap();
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
        let name = format!("test-not-a-lock-{}", std::process::id());
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_owned()
        } else {
            std::env::temp_dir()
        };
        let path = dir.join(format!("guard-mutex.{name}"));
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
                    d.into_lock().unlock().unwrap(); // not repaired
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
        let lock = died.into_lock();
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
            Err(LockError::OwnerDied(d)) => d.recover().unwrap().unlock().unwrap(),
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
            Err(LockError::OwnerDied(d)) => d.recover().unwrap().unlock().unwrap(),
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
