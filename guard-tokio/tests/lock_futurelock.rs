//! RFD 609's futurelock and its variants: with guard's `Mutex` each program completes; with
//! `tokio::sync::Mutex` (a fair lock that hands the lock to the first waiter) the first one
//! hangs, shown under a short watchdog.

use guard_testkit::{try_watchdog, watchdog};
use guard_tokio::lock::Mutex;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::sleep;

const LIMIT: Duration = Duration::from_secs(20);

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
        .block_on(f)
}

/// The lock is held by a background task for a moment, so `op1` queues on it.
/// Patience is set far past the watchdog: the detector's tick (which wakes every waiter) must
/// not be what completes a program.
async fn held_briefly(m: &Arc<Mutex<u32>>) {
    m.set_patience(Duration::from_secs(3600));
    let held = m.clone().lock_owned().await;
    tokio::spawn(async move {
        sleep(Duration::from_millis(20)).await;
        drop(held);
    });
}

async fn op(m: &Mutex<u32>, n: u32) {
    *m.lock().await += n;
}

#[test]
fn rfd609_select_by_reference_completes() {
    let total = watchdog(LIMIT, || {
        block_on(async {
            let m = Arc::new(Mutex::new(0));
            held_briefly(&m).await;
            let op1 = op(&m, 1);
            tokio::pin!(op1);
            tokio::select! {
                _ = &mut op1 => {}
                _ = sleep(Duration::from_millis(5)) => op(&m, 10).await,
            }
            // op1 was woken when the holder released, but never polled: it holds nothing.
            *m.lock().await
        })
    });
    assert_eq!(total, 10);
}

#[test]
fn rfd609_with_tokio_mutex_hangs() {
    let hung = try_watchdog("tokio-rfd609", Duration::from_millis(500), || {
        block_on(async {
            let m = Arc::new(tokio::sync::Mutex::new(0));
            let held = m.clone().lock_owned().await;
            tokio::spawn(async move {
                sleep(Duration::from_millis(20)).await;
                drop(held);
            });
            let op1 = async { *m.lock().await += 1 };
            tokio::pin!(op1);
            tokio::select! {
                _ = &mut op1 => {}
                _ = sleep(Duration::from_millis(5)) => *m.lock().await += 10,
            }
        })
    });
    assert!(
        hung.is_err(),
        "tokio's fair mutex handed the lock to op1, never polled again"
    );
}

#[test]
fn join_of_two_waiters_completes() {
    let total = watchdog(LIMIT, || {
        block_on(async {
            let m = Arc::new(Mutex::new(0));
            held_briefly(&m).await;
            tokio::join!(op(&m, 1), op(&m, 2), async {
                sleep(Duration::from_millis(5)).await;
                op(&m, 4).await
            });
            *m.lock().await
        })
    });
    assert_eq!(total, 7);
}

#[test]
fn nested_selects_by_reference_complete() {
    let total = watchdog(LIMIT, || {
        block_on(async {
            let m = Arc::new(Mutex::new(0));
            held_briefly(&m).await;
            let op1 = op(&m, 1);
            tokio::pin!(op1);
            let outer = async {
                let op2 = op(&m, 2);
                tokio::pin!(op2);
                tokio::select! {
                    _ = &mut op2 => {}
                    _ = sleep(Duration::from_millis(2)) => op(&m, 10).await,
                }
            };
            tokio::pin!(outer);
            tokio::select! {
                biased;
                _ = &mut outer => {}
                _ = &mut op1 => {}
            }
            op(&m, 100).await;
            *m.lock().await
        })
    });
    // op1 and op2 both queued; the inner select's body took the lock, polled first after the
    // release, while op1 (woken first) and op2 were never polled again.
    assert_eq!(total, 110);
}

#[test]
fn a_waiter_cancelled_mid_wait_releases_nothing_and_loses_no_wake() {
    let total = watchdog(LIMIT, || {
        block_on(async {
            let m = Arc::new(Mutex::new(0));
            held_briefly(&m).await;
            let timed_out = tokio::time::timeout(Duration::from_millis(2), op(&m, 1)).await;
            assert!(timed_out.is_err());
            // A waiter in another task, and this one: both get it once the holder releases.
            let m2 = m.clone();
            let other = tokio::spawn(async move { op(&m2, 2).await });
            op(&m, 4).await;
            other.await.expect("the other task");
            *m.lock().await
        })
    });
    assert_eq!(total, 6);
}

#[test]
fn a_waiter_dropped_after_being_woken_passes_the_wake_on() {
    let total = watchdog(LIMIT, || {
        block_on(async {
            let m = Arc::new(Mutex::new(0));
            held_briefly(&m).await;
            let op1 = op(&m, 1);
            let mut op1 = Box::pin(op1);
            // op1 queues first; a task queues second.
            assert!(futures_poll_once(op1.as_mut()).await.is_pending());
            let m2 = m.clone();
            let other = tokio::spawn(async move { op(&m2, 2).await });
            sleep(Duration::from_millis(40)).await; // the holder released: op1 was woken
            drop(op1); // ... and is dropped without being polled: the task must be woken
            other.await.expect("the other task");
            *m.lock().await
        })
    });
    assert_eq!(total, 2);
}

/// Polls `f` once.
async fn futures_poll_once<F: Future + Unpin>(mut f: F) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut f).poll(cx))).await
}

#[test]
fn the_guard_is_a_unique_resource_released_at_scope_end() {
    watchdog(LIMIT, || {
        block_on(async {
            let m = Mutex::new(1);
            let held = m.lock().await;
            guard_core::scope(|s| {
                let held = s.enter(held);
                assert_eq!(**held, 1);
                assert!(m.try_lock().is_err());
                Ok::<_, std::convert::Infallible>(())
            })
            .expect("the scope");
            assert!(m.try_lock().is_ok());
        })
    });
}

#[test]
fn contended_on_a_multi_thread_runtime_loses_no_increment() {
    const TASKS: u64 = 16;
    const EACH: u64 = 2000;
    let total = watchdog(LIMIT, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("a runtime");
        rt.block_on(async {
            let m = Arc::new(Mutex::new(0u64));
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let m = m.clone();
                    tokio::spawn(async move {
                        for _ in 0..EACH {
                            *m.lock().await += 1;
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("a task");
            }
            *m.lock().await
        })
    });
    assert_eq!(total, TASKS * EACH);
}
