//! The detector: a guard held by a future that is no longer polled (the held-across-select
//! futurelock no lock design prevents) is named, with the lock's and the holder's sites,
//! once per episode; `lock_timeout` returns the same as an error.

use guard_core::event::{self, Event};
use guard_testkit::watchdog;
use guard_tokio::lock::Mutex;
use std::panic::Location;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;
use tokio::time::sleep;

const LIMIT: Duration = Duration::from_secs(20);

/// A `LockWait` event, owned.
#[derive(Debug, Clone)]
struct Seen {
    site: &'static Location<'static>,
    holder_site: Option<&'static Location<'static>>,
    holder_task: Option<u64>,
    waiters: usize,
    text: String,
}

/// Collects the `LockWait` events about locks created in this file (tests run in parallel;
/// the hook is the process's).
fn capture(reported: Arc<tokio::sync::Notify>) -> Arc<StdMutex<Vec<Seen>>> {
    let seen = Arc::new(StdMutex::new(Vec::new()));
    let sink = seen.clone();
    event::set_hook(move |e| {
        if let Event::LockWait {
            site,
            holder_site,
            holder_task,
            waiters,
            ..
        } = e
            && site.file() == file!()
        {
            sink.lock().unwrap().push(Seen {
                site,
                holder_site: *holder_site,
                holder_task: *holder_task,
                waiters: *waiters,
                text: e.to_string(),
            });
            reported.notify_one();
        }
    });
    seen
}

#[test]
fn a_guard_held_across_select_is_named_with_both_sites_once() {
    let reported = Arc::new(tokio::sync::Notify::new());
    let seen = capture(reported.clone());
    let (created, acquired, timeout) = watchdog(LIMIT, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            tokio::spawn(async move {
                let created = line!() + 1;
                let m = Mutex::new(0);
                m.set_patience(Duration::from_millis(100));
                let acquired = line!() + 2;
                let op1 = async {
                    let mut held = m.lock().await;
                    sleep(Duration::from_secs(3600)).await; // not polled again anyway
                    *held += 1;
                };
                tokio::pin!(op1);
                tokio::select! {
                    _ = &mut op1 => unreachable!("op1 sleeps for an hour"),
                    _ = sleep(Duration::from_millis(5)) => {}
                }
                // op1 holds the guard and will not be polled while this waits: a futurelock.
                // Nothing wakes this wait but the detector's tick, and the report ends it.
                tokio::select! {
                    _ = m.lock() => unreachable!("op1 holds the lock"),
                    _ = reported.notified() => {}
                }
                // A new episode (the last waiter left); no second report within this test.
                m.set_patience(Duration::from_secs(3600));
                let timeout = m
                    .lock_timeout(Duration::from_millis(50))
                    .await
                    .expect_err("op1 holds the lock");
                (created, acquired, timeout)
            })
            .await
            .expect("the task")
        })
    });
    let seen = seen.lock().unwrap().clone();
    event::reset_hook();
    assert_eq!(seen.len(), 1, "one report per stuck episode: {seen:#?}");
    let report = &seen[0];
    assert_eq!(report.site.line(), created, "the lock's creation site");
    let holder = report.holder_site.expect("the holder's site");
    assert_eq!(holder.line(), acquired, "op1's acquisition site");
    assert!(report.holder_task.is_some(), "the holder's task");
    assert_eq!(report.waiters, 1);
    assert!(report.text.contains("acquired at"), "{}", report.text);
    assert_eq!(timeout.holder_site(), Some(holder));
    assert_eq!(timeout.site(), report.site);
    assert_eq!(timeout.holder_task(), report.holder_task);
}

#[test]
fn a_waiter_nobody_woke_takes_a_lock_left_free_at_the_detectors_tick() {
    // The release woke op1, whose task never polls it again; the other task's waiter was
    // not woken. The tick (the lock's patience) makes it re-check and take the free lock.
    let total = watchdog(LIMIT, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            let m = Arc::new(Mutex::new(0));
            m.set_patience(Duration::from_millis(50));
            let held = m.clone().lock_owned().await;
            let (stalled_tx, stalled_rx) = tokio::sync::oneshot::channel::<()>();
            let m1 = m.clone();
            let stuck = tokio::spawn(async move {
                let op1 = async { *m1.lock().await += 1 };
                tokio::pin!(op1);
                tokio::select! {
                    _ = &mut op1 => {}
                    _ = sleep(Duration::from_millis(5)) => {}
                }
                let _ = stalled_rx.await; // waits for the other task: op1 is not polled
            });
            sleep(Duration::from_millis(20)).await;
            let m2 = m.clone();
            let other = tokio::spawn(async move { *m2.lock().await += 10 });
            sleep(Duration::from_millis(20)).await;
            drop(held); // wakes op1 only
            other.await.expect("the other task");
            let _ = stalled_tx.send(());
            stuck.await.expect("the stuck task");
            *m.lock().await
        })
    });
    assert_eq!(total, 10);
}
