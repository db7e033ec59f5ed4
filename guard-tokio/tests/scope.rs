//! Async scopes: order of release, every error returned, a body error with release errors,
//! panics, early release, forgotten guards, guard-core's unique resources, a scope spawned
//! on a multi-thread runtime. Each under a watchdog.

mod scope_kit;

use guard_tokio::{AsyncRelease, scope};
use scope_kit::{End, Events, Log, Step, YieldOnce, catch};
use std::future::Future;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// Runs `make()`'s future on a current-thread runtime, under the watchdog.
fn on_runtime<F, Fut>(make: F) -> Fut::Output
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future,
    Fut::Output: Send + 'static,
{
    guard_testkit::watchdog(LIMIT, move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(make())
    })
}

fn released(log: &Log) -> Vec<String> {
    log.get()
        .into_iter()
        .filter(|l| l.starts_with("released"))
        .collect()
}

#[test]
fn releases_newest_first_each_awaited_to_its_end() {
    let log = Log::default();
    let l = log.clone();
    let n = on_runtime(move || async move {
        scope(async |s| {
            let _a = s.enter(Step::new("a", &l, 2, End::Ok));
            YieldOnce::default().await;
            let _b = s.enter(Step::new("b", &l, 0, End::Ok));
            let _c = s.enter(Step::new("c", &l, 3, End::Ok));
            tokio::task::yield_now().await;
            l.push("body ends");
            Ok::<_, std::io::Error>(7)
        })
        .await
    })
    .unwrap();
    assert_eq!(n, 7);
    assert_eq!(
        log.get(),
        [
            "entered a",
            "entered b",
            "entered c",
            "body ends",
            "released c",
            "released b",
            "released a"
        ]
    );
}

#[test]
fn every_release_error_is_returned_in_release_order() {
    let log = Log::default();
    let l = log.clone();
    let err = on_runtime(move || async move {
        scope(async |s| {
            let _a = s.enter(Step::new("a", &l, 1, End::Fail));
            let _b = s.enter(Step::new("b", &l, 1, End::Ok));
            let _c = s.enter(Step::new("c", &l, 1, End::Fail));
            Ok::<_, std::io::Error>(())
        })
        .await
    })
    .unwrap_err();
    assert!(err.body().is_none());
    let failures: Vec<_> = err.releases().iter().map(|f| f.to_string()).collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures[0].contains("c failed"), "{failures:?}");
    assert!(failures[1].contains("a failed"), "{failures:?}");
    assert!(
        failures[0].contains("Step"),
        "names the resource: {failures:?}"
    );
    assert_eq!(released(&log), ["released c", "released b", "released a"]);
}

#[test]
fn a_body_error_comes_back_with_every_release_error() {
    let log = Log::default();
    let l = log.clone();
    let err = on_runtime(move || async move {
        scope(async |s| {
            let _a = s.enter(Step::new("a", &l, 1, End::Fail));
            let _b = s.enter(Step::new("b", &l, 2, End::Fail));
            YieldOnce::default().await;
            Err::<(), _>(std::io::Error::other("body failed"))
        })
        .await
    })
    .unwrap_err();
    assert_eq!(err.body().unwrap().to_string(), "body failed");
    assert_eq!(err.releases().len(), 2);
    let text = err.to_string();
    assert!(
        text.starts_with("scope failed: body failed; 2 release errors"),
        "{text}"
    );
    assert_eq!(released(&log), ["released b", "released a"]);
    // Into guard-core's one error type, as the sync scope's.
    let _: guard_core::Error = err.into();
}

#[test]
fn a_body_panic_resumes_after_every_release_and_release_errors_go_to_the_hook() {
    let events = Events::capture();
    let log = Log::default();
    let l = log.clone();
    let result = on_runtime(move || async move {
        catch(scope(async |s| {
            let _a = s.enter(Step::new("a", &l, 1, End::Ok));
            let _b = s.enter(Step::new("b", &l, 1, End::Fail));
            YieldOnce::default().await;
            if l.get().len() == 2 {
                panic!("body panicked");
            }
            Ok::<_, std::io::Error>(())
        }))
        .await
    });
    let payload = result.unwrap_err();
    assert_eq!(*payload.downcast_ref::<&str>().unwrap(), "body panicked");
    assert_eq!(released(&log), ["released b", "released a"]);
    let seen = events.get();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains("b failed"), "{seen:?}");
}

#[test]
fn a_release_panic_does_not_skip_the_others_and_resumes_after_them() {
    let events = Events::capture();
    let log = Log::default();
    let l = log.clone();
    let result = on_runtime(move || async move {
        catch(scope(async |s| {
            let _a = s.enter(Step::new("a", &l, 1, End::Panic));
            let _b = s.enter(Step::new("b", &l, 1, End::Fail));
            let _c = s.enter(Step::new("c", &l, 2, End::Panic));
            let _d = s.enter(Step::new("d", &l, 0, End::Ok));
            Err::<(), _>(std::io::Error::other("body failed"))
        }))
        .await
    });
    let payload = result.unwrap_err();
    // The first release panic resumes: c's (newest first).
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("c panicked")
    );
    assert_eq!(
        released(&log),
        ["released d", "released c", "released b", "released a"]
    );
    // What the panic cannot carry, once each: the body's error, b's error, a's panic.
    let seen = events.get();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.iter().any(|e| e.contains("body failed")), "{seen:?}");
    assert!(seen.iter().any(|e| e.contains("b failed")), "{seen:?}");
    assert!(seen.iter().any(|e| e.contains("a panicked")), "{seen:?}");
}

#[test]
fn a_panic_when_the_release_future_is_made_is_caught_like_one_inside_it() {
    struct Eager;
    impl AsyncRelease for Eager {
        type Error = std::convert::Infallible;
        #[allow(clippy::manual_async_fn)]
        fn release_async(self) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
            panic!("eager release panicked");
            #[allow(unreachable_code)]
            async {
                Ok(())
            }
        }
    }
    let log = Log::default();
    let l = log.clone();
    let result = on_runtime(move || async move {
        catch(scope(async |s| {
            let _a = s.enter(Step::new("a", &l, 1, End::Ok));
            let _e = s.enter(Eager);
            Ok::<_, std::io::Error>(())
        }))
        .await
    });
    let payload = result.unwrap_err();
    assert_eq!(
        *payload.downcast_ref::<&str>().unwrap(),
        "eager release panicked"
    );
    assert_eq!(released(&log), ["released a"]);
}

#[test]
fn early_release_returns_its_error_a_dropped_guard_releases_beside_the_body() {
    let log = Log::default();
    let l = log.clone();
    let err = on_runtime(move || async move {
        scope(async |s| {
            let a = s.enter(Step::new("a", &l, 1, End::Ok));
            let b = s.enter(Step::new("b", &l, 1, End::Fail));
            let c = s.enter(Step::new("c", &l, 1, End::Fail));
            let err = b.release().await.unwrap_err();
            assert_eq!(err.to_string(), "b failed");
            // A guard has no resource of its own (it lives in the scope): forgetting it
            // leaves the release to the end of the scope.
            #[allow(clippy::forget_non_drop)]
            std::mem::forget(a);
            drop(c); // released now, beside the body; its error goes into the result
            for _ in 0..3 {
                YieldOnce::default().await;
            }
            let d = s.enter(Step::new("d", &l, 1, End::Ok));
            let d = d.into_inner();
            assert_eq!(d.name, "d");
            l.push("body ends");
            Ok::<_, std::io::Error>(())
        })
        .await
    })
    .unwrap_err();
    assert!(err.body().is_none());
    assert_eq!(err.releases().len(), 1);
    assert!(err.releases()[0].to_string().contains("c failed"), "{err}");
    assert_eq!(
        log.get(),
        [
            "entered a",
            "entered b",
            "entered c",
            "released b",
            "released c",
            "entered d",
            "body ends",
            "released a"
        ]
    );
}

#[test]
fn a_loop_of_enter_and_drop_holds_one_resource_at_a_time() {
    let log = Log::default();
    let l = log.clone();
    on_runtime(move || async move {
        scope(async |s| {
            for _ in 0..1000 {
                let step = s.enter(Step::new("x", &l, 1, End::Ok));
                assert_eq!(format!("{s:?}"), "Scope { held: 1 }");
                drop(step);
                assert_eq!(format!("{s:?}"), "Scope { held: 0 }");
                YieldOnce::default().await;
                YieldOnce::default().await;
            }
            let released = l.get().iter().filter(|e| *e == "released x").count();
            assert_eq!(released, 1000, "each released while the body went on");
            Ok::<_, std::io::Error>(())
        })
        .await
        .unwrap();
    });
    assert_eq!(released(&log).len(), 1000);
}

#[test]
fn guard_cores_unique_resources_and_guard_os_streams_enter_as_they_are() {
    struct Sync(Log);
    impl guard_core::Resource for Sync {
        type Error = std::convert::Infallible;
        fn release(self) -> Result<(), Self::Error> {
            self.0.push("released sync");
            Ok(())
        }
    }
    impl guard_core::UniqueResource for Sync {}

    let log = Log::default();
    let l = log.clone();
    let got = on_runtime(move || async move {
        let (a, b) = guard_os::UnixStream::pair().unwrap();
        scope(async |s| {
            let _s = s.enter(Sync(l.clone()));
            let mut a = s.enter(a);
            std::io::Write::write_all(&mut *a, b"hello").unwrap();
            let _t = s.enter(Step::new("async", &l, 1, End::Ok));
            Ok::<_, std::io::Error>(())
        })
        .await
        .unwrap();
        // The stream was released (shutdown, close) at the scope's end: the peer reads EOF.
        let mut got = String::new();
        std::io::Read::read_to_string(&mut &b, &mut got).unwrap();
        b.close().unwrap();
        got
    });
    assert_eq!(got, "hello");
    assert_eq!(released(&log), ["released async", "released sync"]);
}

#[test]
fn a_scope_holding_guards_across_awaits_runs_as_a_task_on_a_multi_thread_runtime() {
    let log = Log::default();
    let l = log.clone();
    guard_testkit::watchdog(LIMIT, move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let l = l.clone();
                    tokio::spawn(async move {
                        scope(async |s| {
                            let a = s.enter(Step::new("a", &l, 1, End::Ok));
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            assert_eq!(a.name, "a");
                            let _b = s.enter(Step::new("b", &l, 2, End::Ok));
                            tokio::task::yield_now().await;
                            Ok::<_, std::io::Error>(i)
                        })
                        .await
                        .unwrap()
                    })
                })
                .collect();
            for (i, t) in tasks.into_iter().enumerate() {
                assert_eq!(t.await.unwrap(), i);
            }
        });
    });
    let released = released(&log);
    assert_eq!(released.iter().filter(|r| *r == "released a").count(), 8);
    assert_eq!(released.iter().filter(|r| *r == "released b").count(), 8);
}

#[test]
fn releases_are_counted_live_in_the_report_until_they_end() {
    let log = Log::default();
    let l = log.clone();
    on_runtime(move || async move {
        scope(async |s| {
            let _a = s.enter(Step::new("a", &l, 1, End::Ok));
            let live = guard_core::report()
                .live(guard_core::Kind::Unique)
                .filter(|g| g.origin.type_name().ends_with("Step"))
                .map(|g| g.count)
                .sum::<usize>();
            assert!(live >= 1);
            Ok::<_, std::io::Error>(())
        })
        .await
        .unwrap();
    });
}
