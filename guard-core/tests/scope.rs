//! Scopes: invariants S1 (every resource released exactly once, in reverse order of entry,
//! on normal exit, `?` and panic), S2 (no error dropped), S3 (guards cannot escape; forget
//! leaks nothing).

mod common;

use common::{Log, Probe};
use guard_core::{Kind, Resource, Scope, UniqueResource, scope};
use std::panic::{AssertUnwindSafe, catch_unwind};

#[test]
fn releases_in_reverse_order_of_entry_on_normal_exit() {
    let log = Log::default();
    let value = scope(|s| {
        let _a = s.enter(Probe::new("a", &log));
        let _b = s.enter(Probe::new("b", &log));
        let _c = s.enter(Probe::new("c", &log));
        assert!(
            log.names().is_empty(),
            "nothing is released while the body runs"
        );
        Ok::<_, std::io::Error>(42)
    })
    .unwrap();
    assert_eq!(value, 42);
    assert_eq!(log.names(), ["c", "b", "a"]);
}

#[test]
fn forgotten_guards_are_released_at_scope_end_in_reverse_order() {
    let log = Log::default();
    scope(|s| {
        std::mem::forget(s.enter(Probe::new("a", &log)));
        std::mem::forget(s.enter(Probe::new("b", &log)));
        assert!(log.names().is_empty());
        Ok::<_, std::io::Error>(())
    })
    .unwrap();
    assert_eq!(log.names(), ["b", "a"], "the scope still owned both");
}

#[test]
fn early_return_with_question_mark_releases_everything() {
    let log = Log::default();
    fn body<'s>(s: &'s Scope<'s, '_>, log: &Log) -> std::io::Result<u8> {
        let _a = s.enter(Probe::new("a", log));
        let _b = s.enter(Probe::new("b", log));
        std::fs::read("/nonexistent/guard-test")?;
        unreachable!("the read fails");
    }
    let err = scope(|s| body(s, &log)).unwrap_err();
    assert_eq!(log.names(), ["b", "a"]);
    assert_eq!(err.body().unwrap().kind(), std::io::ErrorKind::NotFound);
    assert!(err.releases().is_empty());
}

#[test]
fn panic_in_body_releases_everything_then_resumes_the_panic() {
    let log = Log::default();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _ = scope(|s| {
            let _a = s.enter(Probe::new("a", &log));
            std::mem::forget(s.enter(Probe::new("b", &log)));
            panic!("body exploded");
            #[allow(unreachable_code)]
            Ok::<_, std::io::Error>(())
        });
    }))
    .unwrap_err();
    assert_eq!(caught.downcast_ref::<&str>(), Some(&"body exploded"));
    // `_a` is dropped while unwinding (released first); `b` was forgotten: the scope.
    assert_eq!(log.names(), ["a", "b"]);
}

#[test]
fn every_error_is_returned_with_the_body_error() {
    let log = Log::default();
    let err = scope(|s| {
        let _a = s.enter(Probe::failing("a", &log));
        let _b = s.enter(Probe::new("b", &log));
        let _c = s.enter(Probe::failing("c", &log));
        Err::<(), _>(std::io::Error::other("body failed"))
    })
    .unwrap_err();
    assert_eq!(log.names(), ["c", "b", "a"], "every release attempted");
    assert_eq!(err.body().unwrap().to_string(), "body failed");
    let failures: Vec<String> = err
        .releases()
        .iter()
        .map(|f| f.error().to_string())
        .collect();
    assert_eq!(failures, ["c failed to close", "a failed to close"]);
    assert!(
        err.releases()
            .iter()
            .all(|f| f.resource().ends_with("common::Probe"))
    );
    let shown = err.to_string();
    for part in [
        "body failed",
        "2 release errors",
        "c failed to close",
        "a failed to close",
    ] {
        assert!(shown.contains(part), "{shown:?} lacks {part:?}");
    }
}

#[test]
fn a_failed_release_fails_a_successful_body() {
    let log = Log::default();
    let err = scope(|s| {
        let _a = s.enter(Probe::failing("a", &log));
        Ok::<_, std::io::Error>(1)
    })
    .unwrap_err();
    assert!(err.body().is_none());
    assert_eq!(err.releases().len(), 1);
    assert_eq!(
        err.to_string(),
        format!(
            "scope released with errors; 1 release error: {}",
            err.releases()[0]
        )
    );
}

#[test]
fn a_panicking_release_does_not_skip_the_others_and_resumes_after() {
    let log = Log::default();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _ = scope(|s| {
            let _a = s.enter(Probe::new("a", &log));
            let _b = s.enter(Probe::panicking("b", &log));
            let _c = s.enter(Probe::new("c", &log));
            Ok::<_, std::io::Error>(())
        });
    }))
    .unwrap_err();
    assert_eq!(log.names(), ["c", "b", "a"]);
    let message = caught.downcast_ref::<String>().cloned().unwrap_or_default();
    assert_eq!(message, "b panicked in release");
}

#[test]
fn early_release_returns_the_error_to_the_caller_and_only_once() {
    let log = Log::default();
    scope(|s| {
        let a = s.enter(Probe::failing("a", &log));
        let err = a.release().unwrap_err();
        assert_eq!(err.to_string(), "a failed to close");
        assert_eq!(log.names(), ["a"]);
        Ok::<_, std::io::Error>(())
    })
    .unwrap();
    assert_eq!(log.count("a"), 1, "released exactly once");
}

#[test]
fn dropping_a_guard_releases_at_once_and_records_the_error_in_the_scope() {
    let log = Log::default();
    let err = scope(|s| {
        {
            let _inner = s.enter(Probe::failing("inner", &log));
        }
        assert_eq!(log.names(), ["inner"], "released when its block ended");
        let _outer = s.enter(Probe::new("outer", &log));
        Ok::<_, std::io::Error>(())
    })
    .unwrap_err();
    assert_eq!(log.names(), ["inner", "outer"]);
    assert_eq!(err.releases().len(), 1);
    assert_eq!(
        err.releases()[0].error().to_string(),
        "inner failed to close"
    );
}

#[test]
fn into_inner_takes_the_resource_out_of_the_scope() {
    let log = Log::default();
    let probe = scope(|s| {
        let g = s.enter(Probe::new("kept", &log));
        Ok::<_, std::io::Error>(g.into_inner())
    })
    .unwrap();
    assert!(log.names().is_empty(), "the scope released nothing");
    probe.release().unwrap();
    assert_eq!(log.names(), ["kept"]);
}

/// A resource that, while being released at the end of its scope, enters another one.
struct Spawner<'s, 'e> {
    scope: &'s Scope<'s, 'e>,
    log: Log,
}

impl Resource for Spawner<'_, '_> {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        self.log.push("spawner");
        std::mem::forget(self.scope.enter(Probe::new("late", &self.log)));
        Ok(())
    }
}
impl UniqueResource for Spawner<'_, '_> {}

#[test]
fn a_release_that_enters_a_new_resource_gets_it_released_too() {
    let log = Log::default();
    scope(|s| {
        std::mem::forget(s.enter(Spawner {
            scope: s,
            log: log.clone(),
        }));
        Ok::<_, std::io::Error>(())
    })
    .unwrap();
    assert_eq!(log.names(), ["spawner", "late"]);
}

#[test]
fn a_loop_of_enter_and_drop_releases_each_and_stays_registered_once() {
    let log = Log::default();
    scope(|s| {
        for i in 0..common::rounds(10_000) {
            let g = s.enter(Probe::new("loop", &log));
            assert_eq!(log.len(), i);
            drop(g);
        }
        Ok::<_, std::io::Error>(())
    })
    .unwrap();
    assert_eq!(log.count("loop"), common::rounds(10_000));
}

#[test]
fn entered_resources_are_live_in_the_report_until_released() {
    let log = Log::default();
    let site_line = line!() + 3;
    scope(|s| {
        let before = count_probes_at(site_line);
        let g = s.enter(Probe::new("reported", &log));
        assert_eq!(count_probes_at(site_line), before + 1);
        drop(g);
        assert_eq!(count_probes_at(site_line), before);
        Ok::<_, std::io::Error>(())
    })
    .unwrap();
}

fn count_probes_at(line: u32) -> usize {
    guard_core::report()
        .live(Kind::Unique)
        .filter(|c| c.origin.type_name().ends_with("Probe") && c.origin.site().line() == line)
        .map(|c| c.count)
        .sum()
}

/// Holds a guard to a newer resource, and is forgotten: at the end of the scope the newer
/// resource is released first, then this one, whose drop of the guard must touch nothing
/// freed (a slot freed as soon as its resource is released would be touched here after
/// it was freed).
struct Holder<'s> {
    kept: std::cell::RefCell<Option<guard_core::Guard<'s, Probe>>>,
    log: Log,
}

impl Resource for Holder<'_> {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        self.log.push("holder");
        drop(self.kept.into_inner()); // the guard's resource was already released
        Ok(())
    }
}
impl UniqueResource for Holder<'_> {}

#[test]
fn a_guard_kept_in_an_older_resource_outlives_its_slot_safely() {
    let log = Log::default();
    scope(|s| {
        let holder = s.enter(Holder {
            kept: Default::default(),
            log: log.clone(),
        });
        let newer = s.enter(Probe::new("newer", &log));
        *holder.kept.borrow_mut() = Some(newer);
        std::mem::forget(holder);
        Ok::<_, std::io::Error>(())
    })
    .unwrap();
    assert_eq!(log.names(), ["newer", "holder"]);
}

/// The same, but the holder uses the guard after its resource was released: a clear panic
/// (caught and resumed by the scope), never a read of freed memory.
struct Peeker<'s> {
    kept: std::cell::RefCell<Option<guard_core::Guard<'s, Probe>>>,
}

impl Resource for Peeker<'_> {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        let kept = self.kept.into_inner();
        let _name = kept.as_ref().map(|g| g.name.clone());
        Ok(())
    }
}
impl UniqueResource for Peeker<'_> {}

#[test]
fn using_a_guard_after_its_resource_was_released_panics_clearly() {
    let log = Log::default();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _ = scope(|s| {
            let peeker = s.enter(Peeker {
                kept: Default::default(),
            });
            let newer = s.enter(Probe::new("newer", &log));
            *peeker.kept.borrow_mut() = Some(newer);
            std::mem::forget(peeker);
            Ok::<_, std::io::Error>(())
        });
    }))
    .unwrap_err();
    let message = caught.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("already released this guard's resource"),
        "{message}"
    );
    assert_eq!(log.names(), ["newer"]);
}

/// Guards dropped in every order while the body runs (middle, oldest, newest), then a
/// forgotten one and one taken back: each slot leaves the scope's list at once, and the
/// list stays whole (Miri checks every link followed).
#[test]
fn guards_dropped_in_any_order_release_once_and_keep_the_rest_in_order() {
    let log = Log::default();
    let kept = scope(|s| {
        for _ in 0..common::rounds(1_000) {
            let a = s.enter(Probe::new("a", &log));
            let b = s.enter(Probe::new("b", &log));
            let c = s.enter(Probe::new("c", &log));
            drop(b); // middle
            let d = s.enter(Probe::new("d", &log));
            drop(a); // oldest
            drop(d); // newest
            drop(c); // the last one
        }
        let e = s.enter(Probe::new("e", &log));
        let f = s.enter(Probe::new("f", &log));
        let g = s.enter(Probe::new("g", &log));
        let h = s.enter(Probe::new("h", &log));
        std::mem::forget(e);
        let taken = f.into_inner(); // from the middle
        drop(h);
        std::mem::forget(g);
        assert!(format!("{s:?}").contains("held: 2"), "{s:?}");
        Ok::<_, std::io::Error>(taken)
    })
    .unwrap();
    let n = common::rounds(1_000);
    let names = log.names();
    assert_eq!(names[..4], ["b", "a", "d", "c"]);
    assert_eq!(
        names[4 * n..],
        ["h", "g", "e"],
        "forgotten ones, newest first"
    );
    assert_eq!(kept.name, "f");
}

/// A guard kept in an older resource while slots around both come and go: the scope
/// releases the kept guard's resource first (it is newer), then the holder, whose drop of
/// the guard touches only memory still allocated.
#[test]
fn a_kept_guard_survives_its_neighbours_leaving_the_list() {
    let log = Log::default();
    scope(|s| {
        let before = s.enter(Probe::new("before", &log));
        let holder = s.enter(Holder {
            kept: Default::default(),
            log: log.clone(),
        });
        let between = s.enter(Probe::new("between", &log));
        let newer = s.enter(Probe::new("newer", &log));
        let after = s.enter(Probe::new("after", &log));
        *holder.kept.borrow_mut() = Some(newer);
        drop(between);
        drop(before);
        std::mem::forget(holder);
        std::mem::forget(after);
        Ok::<_, std::io::Error>(())
    })
    .unwrap();
    assert_eq!(
        log.names(),
        ["between", "before", "after", "newer", "holder"]
    );
}
