//! RFD 609's futurelock on guard-tokio's `IpcMutex`: the tasks' turns are never handed to a
//! lock future that is not polled, so the program completes; a waiter that is never polled
//! again does not keep the OS lock from other processes; a turn waited on past the
//! mutex's patience is named by the detector.

// Linux only, as the IpcMutex tests.
#![cfg(target_os = "linux")]

mod ipc_common;

use ipc_common::free_for_others;

use guard_core::event::{self, Event};
use guard_testkit::watchdog;
use std::panic::Location;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;
use tokio::time::sleep;

const LIMIT: Duration = Duration::from_secs(20);

fn name(tag: &str) -> String {
    format!("guard-tokio-test-futurelock-{tag}-{}", std::process::id())
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
        .block_on(f)
}

/// Held by a background task for a moment, so that `op1` waits for its turn.
async fn held_briefly(m: &guard_tokio::IpcMutex) {
    m.set_patience(Duration::from_secs(3600)); // the detector's tick must not end it
    let held = m.lock().await.unwrap();
    tokio::spawn(async move {
        sleep(Duration::from_millis(20)).await;
        held.unlock().unwrap();
    });
}

#[test]
fn rfd609_on_an_ipc_mutex_completes() {
    let n = name("rfd609");
    let nn = n.clone();
    watchdog(LIMIT, move || {
        block_on(async {
            let m = guard_tokio::IpcMutex::open(&nn).unwrap();
            held_briefly(&m).await;
            let op1 = async { m.lock().await.unwrap().unlock().unwrap() };
            tokio::pin!(op1);
            tokio::select! {
                () = &mut op1 => unreachable!("held for 20ms"),
                () = sleep(Duration::from_millis(5)) => {
                    // op1 waits, and is not polled while this body runs.
                    m.lock().await.unwrap().unlock().unwrap();
                }
            }
            // op1 completes too, once polled.
            op1.await;
        });
    });
    guard_os::IpcMutex::remove(&n).unwrap();
}

#[test]
fn rfd609_nested_selects_and_join_on_an_ipc_mutex_complete() {
    let n = name("nested");
    let nn = n.clone();
    watchdog(LIMIT, move || {
        block_on(async {
            let m = guard_tokio::IpcMutex::open(&nn).unwrap();
            held_briefly(&m).await;
            let op1 = async { m.lock().await.unwrap().unlock().unwrap() };
            tokio::pin!(op1);
            tokio::select! {
                () = &mut op1 => unreachable!("held for 20ms"),
                () = sleep(Duration::from_millis(5)) => {
                    let op2 = async { m.lock().await.unwrap().unlock().unwrap() };
                    tokio::pin!(op2);
                    tokio::select! {
                        () = &mut op2 => unreachable!("held for 20ms"),
                        () = sleep(Duration::from_millis(5)) => {
                            // op1 and op2 wait, neither polled: a third takes its turn.
                            m.lock().await.unwrap().unlock().unwrap();
                        }
                    }
                    op2.await;
                }
            }
            let a = async { m.lock().await.unwrap().unlock().unwrap() };
            let b = async { m.lock().await.unwrap().unlock().unwrap() };
            tokio::join!(op1, a, b);
        });
    });
    guard_os::IpcMutex::remove(&n).unwrap();
}

/// A task waits for its turn in a `select!` branch that lost and then awaits something
/// else for good; the holder unlocks. No other task of the process wants the lock, so it
/// must become free for other processes (on main it was passed to the waiting future and
/// kept held for it for as long as that future lived).
#[test]
fn a_waiter_never_polled_again_does_not_keep_the_os_lock_from_other_processes() {
    let n = name("unpolled");
    let nn = n.clone();
    watchdog(LIMIT, move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            let m = guard_tokio::IpcMutex::open(&nn).unwrap();
            m.set_patience(Duration::from_secs(3600));
            let held = m.lock().await.unwrap();
            let (queued_tx, queued_rx) = tokio::sync::oneshot::channel();
            let (end_tx, end_rx) = tokio::sync::oneshot::channel::<()>();
            let stuck = tokio::spawn({
                let m = m.clone();
                async move {
                    let op1 = m.lock();
                    tokio::pin!(op1);
                    tokio::select! {
                        _ = &mut op1 => unreachable!("held"),
                        () = sleep(Duration::from_millis(5)) => {}
                    }
                    queued_tx.send(()).unwrap();
                    let _ = end_rx.await; // op1 lives on, never polled
                }
            });
            queued_rx.await.unwrap();
            held.unlock().unwrap();
            // Another process (a handle on another thread) gets the lock: polled until it
            // does; the watchdog fails a lock kept held for the unpolled future.
            while !free_for_others(&nn) {
                sleep(Duration::from_millis(1)).await;
            }
            end_tx.send(()).unwrap();
            stuck.await.unwrap();
            m.lock().await.unwrap().unlock().unwrap();
        });
    });
    guard_os::IpcMutex::remove(&n).unwrap();
}

/// A `LockWait` event about an `IpcMutex`, owned.
#[derive(Debug, Clone)]
struct Seen {
    lock: &'static str,
    site: &'static Location<'static>,
    holder_site: Option<&'static Location<'static>>,
    holder_task: Option<u64>,
    waiters: usize,
}

/// A task holds the lock across an await on something that never comes; another waits
/// for its turn past the patience: the detector names the IpcMutex, where it was opened,
/// and where and by which task it was acquired.
#[test]
fn a_turn_held_too_long_is_named_by_the_detector() {
    let seen = Arc::new(StdMutex::new(Vec::new()));
    let reported = Arc::new(tokio::sync::Notify::new());
    let (sink, notify) = (seen.clone(), reported.clone());
    event::set_hook(move |e| {
        if let Event::LockWait {
            lock,
            site,
            holder_site,
            holder_task,
            waiters,
            ..
        } = e
            && site.file() == file!()
        {
            sink.lock().unwrap().push(Seen {
                lock,
                site,
                holder_site: *holder_site,
                holder_task: *holder_task,
                waiters: *waiters,
            });
            notify.notify_one();
        }
    });
    let n = name("detector");
    let nn = n.clone();
    let (opened, acquired) = watchdog(LIMIT, move || {
        block_on(async {
            let opened = line!() + 1;
            let m = guard_tokio::IpcMutex::open(&nn).unwrap();
            m.set_patience(Duration::from_millis(100));
            let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
            let (taken_tx, taken_rx) = tokio::sync::oneshot::channel();
            let acquired = line!() + 4;
            let holder = tokio::spawn({
                let m = m.clone();
                async move {
                    let held = m.lock().await.unwrap();
                    taken_tx.send(()).unwrap();
                    let _ = go_rx.await; // held until the report
                    held.unlock().unwrap();
                }
            });
            taken_rx.await.unwrap();
            tokio::select! {
                _ = m.lock() => unreachable!("held until the report"),
                () = reported.notified() => {}
            }
            go_tx.send(()).unwrap();
            holder.await.unwrap();
            m.lock().await.unwrap().unlock().unwrap();
            (opened, acquired)
        })
    });
    event::reset_hook();
    guard_os::IpcMutex::remove(&n).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one report per stuck episode: {seen:#?}");
    let report = &seen[0];
    assert_eq!(report.lock, "guard_tokio::IpcMutex");
    assert_eq!(report.site.line(), opened, "where it was opened");
    let holder = report.holder_site.expect("the holder's site");
    assert_eq!(
        (holder.file(), holder.line()),
        (file!(), acquired),
        "the holder's lock() call"
    );
    assert!(report.holder_task.is_some(), "the holder's task");
    assert_eq!(report.waiters, 1);
}
