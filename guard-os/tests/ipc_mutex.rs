//! The OS mutex between processes: holder death is reported to the next owner; mutual
//! exclusion holds under contention between processes and threads.

mod common;

use common::{temp_path, watchdog};
use guard_core::{Counted, scope};
use guard_os::{Error, IpcMutex, LockError};
use std::io::{BufRead, BufReader};
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
