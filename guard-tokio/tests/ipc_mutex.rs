//! guard-tokio's `IpcMutex`: locking never blocks a runtime worker (current-thread and
//! multi-thread runtimes, a holder across an `.await`), excludes tasks and processes, is
//! cancel-safe, and still reports a holder's death.

// Linux only: the child waits (`guard_tokio::child`, through pidfds) are.
#![cfg(target_os = "linux")]

mod ipc_common;

use ipc_common::free_for_others;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const ROLE: &str = "GUARD_TOKIO_TEST_ROLE";

fn name(tag: &str) -> String {
    format!("guard-tokio-test-{tag}-{}", std::process::id())
}

fn runtime(multi: bool) -> tokio::runtime::Runtime {
    let mut b = if multi {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(4);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    b.enable_all().build().unwrap()
}

/// Runs `f` on a runtime under a watchdog: a worker blocked by a lock fails the test.
fn on_runtime<F: Future<Output = ()> + Send + 'static>(multi: bool, f: F) {
    guard_testkit::watchdog(Duration::from_secs(60), move || runtime(multi).block_on(f));
}

/// A task holds the lock across an `.await` while another task of the same thread asks
/// for it: the second waits (does not fail, does not hang the thread) and gets it after.
fn held_across_an_await(multi: bool) {
    let n = name(if multi { "across-mt" } else { "across-ct" });
    let m = guard_tokio::IpcMutex::open(&n).unwrap();
    on_runtime(multi, async move {
        let (taken, wait_taken) = tokio::sync::oneshot::channel();
        let (go, wait_go) = tokio::sync::oneshot::channel::<()>();
        let holder = {
            let m = m.clone();
            tokio::spawn(async move {
                let held = m.lock().await.unwrap();
                taken.send(()).unwrap();
                wait_go.await.unwrap(); // held across an await
                held.unlock().unwrap();
            })
        };
        wait_taken.await.unwrap();
        let waiter = {
            let m = m.clone();
            tokio::spawn(async move { m.lock().await.unwrap().unlock().unwrap() })
        };
        tokio::task::yield_now().await; // the waiter queues, and must not block us
        go.send(()).unwrap();
        holder.await.unwrap();
        waiter.await.unwrap();
    });
    guard_os::IpcMutex::remove(&n).unwrap();
}

#[test]
fn a_lock_held_across_an_await_on_a_current_thread_runtime() {
    held_across_an_await(false);
}

#[test]
fn a_lock_held_across_an_await_on_a_multi_thread_runtime() {
    held_across_an_await(true);
}

/// Tasks on several workers: never two inside at once.
#[test]
fn tasks_exclude_each_other_on_a_multi_thread_runtime() {
    let n = name("exclude");
    let m = guard_tokio::IpcMutex::open(&n).unwrap();
    on_runtime(true, async move {
        let inside = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (m, inside, count) = (m.clone(), inside.clone(), count.clone());
                tokio::spawn(async move {
                    for _ in 0..50 {
                        let held = m.lock().await.unwrap();
                        assert!(!inside.swap(true, Ordering::SeqCst), "two holders");
                        tokio::task::yield_now().await;
                        inside.store(false, Ordering::SeqCst);
                        count.fetch_add(1, Ordering::Relaxed);
                        held.unlock().unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(count.load(Ordering::Relaxed), 400);
    });
    guard_os::IpcMutex::remove(&n).unwrap();
}

/// A lock future dropped while it waits gives its place up; the lock stays usable.
#[test]
fn a_cancelled_lock_leaves_the_mutex_usable() {
    let n = name("cancel");
    let m = guard_tokio::IpcMutex::open(&n).unwrap();
    on_runtime(false, async move {
        let held = m.lock().await.unwrap();
        tokio::select! {
            biased;
            _ = m.lock() => panic!("granted while held"),
            () = tokio::task::yield_now() => {} // the lock future is dropped here
        }
        held.unlock().unwrap();
        m.lock().await.unwrap().unlock().unwrap();
    });
    guard_os::IpcMutex::remove(&n).unwrap();
}

/// Waits until another handle can take the OS lock (after a posted unlock, the holder
/// thread does it soon); the watchdog fails a lock that stays held.
async fn becomes_free(n: &str) {
    while !free_for_others(n) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A task unlocking while another task of this process waits may pass the OS lock on
/// without unlocking it; the OS lock is unlocked for other processes once no task wants
/// it: after the last unlock, and when the task it was passed to gives up before taking it.
#[test]
fn a_passed_lock_is_unlocked_once_no_task_wants_it() {
    let n = name("pass");
    let m = guard_tokio::IpcMutex::open(&n).unwrap();
    let nn = n.clone();
    on_runtime(false, async move {
        // Passed to a waiter that takes it, then unlocked by the last one.
        let held = m.lock().await.unwrap();
        let waiter = tokio::spawn({
            let m = m.clone();
            async move { m.lock().await.unwrap().unlock_and_wait().await.unwrap() }
        });
        tokio::task::yield_now().await; // the waiter queues
        // Kept for the waiter, or unlocked if it does not come for it within the keep's
        // grace (this thread blocks in `free_for_others`): either is right, so neither is
        // asserted.
        held.unlock().unwrap();
        waiter.await.unwrap();
        assert!(free_for_others(&nn), "the last task unlocked it");

        // Passed to a waiter that is cancelled before it takes it.
        let held = m.lock().await.unwrap();
        let waiter = tokio::spawn({
            let m = m.clone();
            async move { m.lock().await.unwrap().unlock().unwrap() }
        });
        tokio::task::yield_now().await;
        held.unlock().unwrap();
        waiter.abort(); // dropped while its turn is granted, before it ran
        assert!(waiter.await.unwrap_err().is_cancelled());
        becomes_free(&nn).await; // given up: unlocked (posted to the holder thread)
        m.lock().await.unwrap().unlock().unwrap();
    });
    guard_os::IpcMutex::remove(&n).unwrap();
}

/// The read-modify-write of a counter file, `n` times, under the lock.
async fn increment(m: &guard_tokio::IpcMutex, file: &std::path::Path, n: u64) {
    for _ in 0..n {
        let held = m.lock().await.unwrap();
        let v: u64 = std::fs::read_to_string(file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        tokio::task::yield_now().await;
        std::fs::write(file, (v + 1).to_string()).unwrap();
        held.unlock().unwrap();
    }
}

fn child(test: &str, role: &str, mutex: &str, file: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE, role)
        .env("GUARD_TOKIO_TEST_MUTEX", mutex)
        .env("GUARD_TOKIO_TEST_FILE", file);
    cmd
}

/// Two processes, each with tasks on a multi-thread runtime, increment one counter.
#[test]
fn two_processes_exclude_each_other() {
    const TEST: &str = "two_processes_exclude_each_other";
    if std::env::var(ROLE).as_deref() == Ok("incrementer") {
        let n = std::env::var("GUARD_TOKIO_TEST_MUTEX").unwrap();
        let file = std::path::PathBuf::from(std::env::var("GUARD_TOKIO_TEST_FILE").unwrap());
        let m = guard_tokio::IpcMutex::open(&n).unwrap();
        runtime(true).block_on(increment(&m, &file, 200));
        return;
    }
    let n = name("procs");
    let file = std::env::temp_dir().join(format!("{n}.count"));
    std::fs::write(&file, "0").unwrap();
    let m = guard_tokio::IpcMutex::open(&n).unwrap();
    let mut other = child(TEST, "incrementer", &n, &file).spawn().unwrap();
    on_runtime(true, {
        let file = file.clone();
        async move {
            let ours = tokio::spawn({
                let (m, file) = (m.clone(), file.clone());
                async move { increment(&m, &file, 200).await }
            });
            let status = guard_tokio::child::wait_std(&mut other).await.unwrap();
            assert!(status.success(), "the other process failed: {status}");
            ours.await.unwrap();
        }
    });
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "400");
    std::fs::remove_file(&file).unwrap();
    guard_os::IpcMutex::remove(&n).unwrap();
}

/// A process that dies holding the lock: the next async owner is told its pid, repairs,
/// and the mutex is clean again.
#[test]
fn a_holders_death_is_reported_to_the_async_owner() {
    const TEST: &str = "a_holders_death_is_reported_to_the_async_owner";
    if std::env::var(ROLE).as_deref() == Ok("dier") {
        let n = std::env::var("GUARD_TOKIO_TEST_MUTEX").unwrap();
        let m = guard_tokio::IpcMutex::open(&n).unwrap();
        runtime(true).block_on(async {
            let held = m.lock().await.unwrap();
            std::mem::forget(held);
            std::process::exit(0); // dies holding it
        });
        return;
    }
    let n = name("death");
    let m = guard_tokio::IpcMutex::open(&n).unwrap();
    let mut dier = child(TEST, "dier", &n, std::path::Path::new("-"))
        .spawn()
        .unwrap();
    let pid = dier.id();
    on_runtime(true, async move {
        assert!(
            guard_tokio::child::wait_std(&mut dier)
                .await
                .unwrap()
                .success()
        );
        match m.lock().await {
            Err(guard_os::LockError::OwnerDied(died)) => assert_eq!(died.pid(), pid),
            other => panic!("expected OwnerDied, got {other:?}"),
        }
        let mut held = m.lock_poisoned().await.unwrap();
        assert!(held.is_poisoned());
        held.mark_consistent().unwrap();
        assert!(!held.is_poisoned());
        held.unlock().unwrap();
        m.lock().await.unwrap().unlock().unwrap(); // clean again
    });
    guard_os::IpcMutex::remove(&n).unwrap();
}

/// A task that panics holding the lock poisons it, as a panicking thread does.
#[test]
fn a_task_that_panics_holding_the_lock_poisons_it() {
    let n = name("panic");
    let m = guard_tokio::IpcMutex::open(&n).unwrap();
    on_runtime(true, async move {
        let task = {
            let m = m.clone();
            tokio::spawn(async move {
                let _held = m.lock().await.unwrap();
                panic!("a task panics holding the lock");
            })
        };
        assert!(task.await.unwrap_err().is_panic());
        match m.lock().await {
            Err(guard_os::LockError::OwnerDied(died)) => assert_eq!(died.pid(), std::process::id()),
            other => panic!("expected OwnerDied, got {other:?}"),
        }
        let mut held = m.lock_poisoned().await.unwrap();
        held.mark_consistent().unwrap();
        held.unlock().unwrap();
    });
    guard_os::IpcMutex::remove(&n).unwrap();
}
