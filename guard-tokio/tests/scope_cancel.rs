//! Cancellation of an async scope at every await point: the scope's future is polled k
//! times by hand (a waker that does nothing; every await point here wakes itself) and then
//! dropped, for every k up to completion. Each resource entered is released exactly once,
//! newest first, by a cleanup task on the runtime, by the dropping thread with no runtime,
//! or by the dropping thread when a runtime shutting down drops the cleanup task. Each
//! context under a watchdog.

mod scope_kit;

use guard_tokio::scope;
use scope_kit::{End, Events, Log, Step, YieldOnce, poll_n, poll_to_end};
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// The scope every test cancels: five resources with releases that await 0-3 times, await
/// points between entries, an early release (which a drop may cut short too), a guard
/// dropped mid-body (its release runs beside the body) and a failing release.
fn the_scope(log: Log) -> impl Future<Output = Result<(), guard_core::ScopeError<std::io::Error>>> {
    scope(async move |s| {
        let _a = s.enter(Step::new("a", &log, 2, End::Ok));
        YieldOnce::default().await;
        let b = s.enter(Step::new("b", &log, 3, End::Ok));
        YieldOnce::default().await;
        let _c = s.enter(Step::new("c", &log, 1, End::Fail));
        b.release().await?;
        let _d = s.enter(Step::new("d", &log, 0, End::Ok));
        YieldOnce::default().await;
        drop(s.enter(Step::new("e", &log, 2, End::Ok))); // released beside the body
        YieldOnce::default().await;
        Ok::<_, std::io::Error>(())
    })
}

/// How many polls the scope takes to end when nobody drops it, and checks its outcome.
fn polls_to_end() -> usize {
    let log = Log::default();
    let ((result, polls), ()) = (poll_to_end(pin!(the_scope(log.clone()))), ());
    let err = result.unwrap_err();
    assert!(err.body().is_none());
    assert_eq!(err.releases().len(), 1, "c's release fails");
    assert_eq!(
        log.get(),
        [
            "entered a",
            "entered b",
            "entered c",
            "released b",
            "entered d",
            "entered e",
            "released e",
            "released d",
            "released c",
            "released a"
        ]
    );
    // Five entries, await points between them, an early release, a release beside the
    // body and the closing releases' own awaits: every one of them is a point to cancel at.
    assert_eq!(polls, 11, "the scope's await points changed");
    polls
}

/// Every resource entered was released exactly once, and those the scope released at its
/// end (all but `b`, released early, maybe finished by a cleanup of its own, and `e`,
/// dropped mid-body) newest first.
fn check_each_released_once(log: &[String], k: usize) {
    let entered: Vec<&str> = log
        .iter()
        .filter_map(|l| l.strip_prefix("entered "))
        .collect();
    let released: Vec<&str> = log
        .iter()
        .filter_map(|l| l.strip_prefix("released "))
        .collect();
    for name in &entered {
        let n = released.iter().filter(|r| *r == name).count();
        assert_eq!(n, 1, "after {k} polls: {name} released {n} times: {log:?}");
    }
    assert_eq!(entered.len(), released.len(), "after {k} polls: {log:?}");
    let at_end = |n: &&str| *n != "b" && *n != "e";
    let mut by_scope: Vec<&str> = entered.iter().copied().filter(at_end).collect();
    by_scope.reverse();
    let released_by_scope: Vec<&str> = released.iter().copied().filter(at_end).collect();
    assert_eq!(released_by_scope, by_scope, "after {k} polls: {log:?}");
}

/// Releases made so far: complete when every entered resource is released.
fn settled(log: &Log) -> bool {
    let log = log.get();
    let entered = log.iter().filter(|l| l.starts_with("entered ")).count();
    let released = log.iter().filter(|l| l.starts_with("released ")).count();
    released >= entered
}

/// Events are complete when every failure has been reported: `c` failed if it was
/// released by a cleanup (its error has no caller left).
fn cancelled_events(events: &[String]) -> usize {
    events
        .iter()
        .filter(|e| e.starts_with("an async scope was dropped before its end"))
        .count()
}

#[test]
fn outside_any_runtime_the_dropping_thread_runs_every_release_before_the_drop_returns() {
    guard_testkit::watchdog(LIMIT, || {
        let events = Events::capture();
        let n = polls_to_end();
        for k in 0..n {
            events.clear();
            let log = Log::default();
            {
                let mut future = pin!(the_scope(log.clone()));
                assert!(poll_n(future.as_mut(), k).is_none(), "ended early at {k}");
            } // dropped here, unfinished
            let seen = log.get();
            check_each_released_once(&seen, k);
            let pending = seen.iter().any(|l| l.starts_with("entered"));
            let events = events.get();
            if pending {
                assert!(
                    cancelled_events(&events) >= 1,
                    "after {k} polls: {events:?}"
                );
                assert!(
                    events.iter().all(|e| !e.contains("cleanup task")),
                    "no runtime, no task: {events:?}"
                );
            }
            if seen.iter().any(|l| l == "released c") {
                assert!(
                    events.iter().any(|e| e.contains("c failed")),
                    "c's error reaches the hook after {k} polls: {events:?}"
                );
            }
        }
    });
}

/// Polls and drops the scope for every k inside `rt.block_on`, then waits (yielding to the
/// runtime) until the cleanup task has released everything.
fn on_runtime(rt: tokio::runtime::Runtime) {
    let events = Events::capture();
    let n = polls_to_end();
    rt.block_on(async {
        for k in 0..n {
            events.clear();
            let log = Log::default();
            {
                let mut future = pin!(the_scope(log.clone()));
                assert!(poll_n(future.as_mut(), k).is_none(), "ended early at {k}");
            }
            // Bounded, so that a release never run fails the check below rather than
            // hang here.
            let give_up = std::time::Instant::now() + Duration::from_secs(10);
            while !settled(&log) && std::time::Instant::now() < give_up {
                tokio::task::yield_now().await;
            }
            let seen = log.get();
            check_each_released_once(&seen, k);
            if seen.iter().any(|l| l.starts_with("entered")) {
                // Wait for the cleanup's report of c's failure, if it ran c's release.
                let c_by_cleanup = seen.iter().any(|l| l == "released c");
                while c_by_cleanup
                    && !events.get().iter().any(|e| e.contains("c failed"))
                    && std::time::Instant::now() < give_up
                {
                    tokio::task::yield_now().await;
                }
                let events = events.get();
                assert!(
                    events
                        .iter()
                        .any(|e| e.contains("handed to a cleanup task")),
                    "after {k} polls: {events:?}"
                );
            }
        }
        // Nothing released twice after the fact either.
        tokio::time::sleep(Duration::from_millis(20)).await;
    });
}

#[test]
fn on_a_current_thread_runtime_a_cleanup_task_runs_every_release_once() {
    guard_testkit::watchdog(LIMIT, || {
        on_runtime(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        )
    });
}

#[test]
fn on_a_multi_thread_runtime_a_cleanup_task_runs_every_release_once() {
    guard_testkit::watchdog(LIMIT, || {
        on_runtime(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
        )
    });
}

#[test]
fn a_runtime_shut_down_before_its_cleanup_task_ran_still_runs_every_release_once() {
    guard_testkit::watchdog(LIMIT, || {
        let _events = Events::capture();
        let n = polls_to_end();
        for k in 0..n {
            let log = Log::default();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut future = pin!(the_scope(log.clone()));
                assert!(poll_n(future.as_mut(), k).is_none(), "ended early at {k}");
            }); // the cleanup task is spawned, never polled
            drop(rt); // drops it unfinished: its releases run here, before this returns
            check_each_released_once(&log.get(), k);
        }
    });
}

/// A scope in a task that never ends on its own: two resources entered, then it waits.
async fn a_waiting_scope(log: Log, entered: tokio::sync::oneshot::Sender<()>) {
    let _ = scope(async move |s| {
        let _a = s.enter(Step::new("a", &log, 2, End::Ok));
        let _b = s.enter(Step::new("b", &log, 1, End::Ok));
        let _ = entered.send(());
        std::future::pending::<()>().await;
        Ok::<_, std::io::Error>(())
    })
    .await;
}

#[test]
fn an_aborted_task_s_scope_is_released_by_a_cleanup_task() {
    guard_testkit::watchdog(LIMIT, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let log = Log::default();
        rt.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(a_waiting_scope(log.clone(), tx));
            rx.await.unwrap();
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
            let give_up = std::time::Instant::now() + Duration::from_secs(10);
            while !settled(&log) && std::time::Instant::now() < give_up {
                tokio::task::yield_now().await;
            }
        });
        let log = log.get();
        check_each_released_once(&log, 0);
        assert_eq!(log.len(), 4, "{log:?}");
    });
}

#[test]
fn a_runtime_shut_down_under_a_waiting_scope_runs_its_releases_once_before_it_is_gone() {
    guard_testkit::watchdog(LIMIT, || {
        let log = Log::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        rt.spawn(a_waiting_scope(log.clone(), tx));
        rt.block_on(rx).unwrap();
        drop(rt); // drops the task, and the scope's future in it
        let log = log.get();
        check_each_released_once(&log, 0);
        assert_eq!(log.len(), 4, "{log:?}");
    });
}

#[test]
fn a_scope_cut_short_by_a_timeout_releases_everything_once() {
    guard_testkit::watchdog(LIMIT, || {
        let log = Log::default();
        let l = log.clone();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(async move {
                let (tx, _rx) = tokio::sync::oneshot::channel();
                let timed =
                    tokio::time::timeout(Duration::from_secs(5), a_waiting_scope(l.clone(), tx));
                assert!(timed.await.is_err());
                while !settled(&l) {
                    tokio::task::yield_now().await;
                }
            });
        let log = log.get();
        check_each_released_once(&log, 0);
        assert_eq!(log.len(), 4, "{log:?}");
    });
}
