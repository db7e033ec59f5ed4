//! `#[resource]` on fields that hold their resources through `Option`, `Box`, `Vec`,
//! arrays and boxed slices: each resource is released, last first, and every error is returned, naming the
//! field and the element; `None` releases nothing.

mod support;

use guard::{Counted, ReleaseErrors, Resource};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;
use support::{Fd, Log, Outcome, Unique};

fn parts(errors: &ReleaseErrors) -> Vec<(String, String)> {
    errors
        .parts()
        .map(|(field, e)| (field.to_owned(), e.to_string()))
        .collect()
}

#[derive(Resource)]
#[resource(unique)]
struct Session {
    #[resource]
    log: Option<Unique>,
    #[resource]
    conn: Box<Unique>,
    #[resource]
    streams: Vec<Unique>,
    #[resource]
    pair: [Unique; 2],
    #[resource]
    spare: Box<[Unique]>,
}

fn session(log: &Log, journal: Option<Outcome>, streams: &[Outcome]) -> Session {
    Session {
        log: journal.map(|o| Unique::with("log", log, o)),
        conn: Box::new(Unique::new("conn", log)),
        streams: streams
            .iter()
            .zip(["s0", "s1", "s2"])
            .map(|(o, name)| Unique::with(name, log, *o))
            .collect(),
        pair: [Unique::new("p0", log), Unique::new("p1", log)],
        spare: Box::new([Unique::new("b0", log), Unique::new("b1", log)]),
    }
}

#[test]
fn option_box_vec_and_array_fields_release_everything_last_first() {
    let log = Log::new();
    session(&log, Some(Outcome::Ok), &[Outcome::Ok; 3])
        .release()
        .unwrap();
    assert_eq!(
        log.entries(),
        ["b1", "b0", "p1", "p0", "s2", "s1", "s0", "conn", "log"]
    );
}

#[test]
fn none_releases_nothing() {
    let log = Log::new();
    session(&log, None, &[]).release().unwrap();
    assert_eq!(log.entries(), ["b1", "b0", "p1", "p0", "conn"]);
}

#[test]
fn every_element_error_is_returned_with_its_field_and_index() {
    let log = Log::new();
    let errors = session(
        &log,
        Some(Outcome::Fail),
        &[Outcome::Fail, Outcome::Ok, Outcome::Fail],
    )
    .release()
    .unwrap_err();
    assert_eq!(
        log.entries(),
        ["b1", "b0", "p1", "p0", "s2", "s1", "s0", "conn", "log"],
        "every part is attempted"
    );
    assert_eq!(
        parts(&errors),
        [
            ("streams".into(), "element [2]: s2 failed".into()),
            ("streams".into(), "element [0]: s0 failed".into()),
            ("log".into(), "log failed".into()),
        ]
    );
    let (_, element) = errors.parts().next().unwrap();
    assert_eq!(
        element.source().map(ToString::to_string).as_deref(),
        Some("s2 failed"),
        "the element's own error is the source"
    );
}

#[test]
fn a_panicking_element_does_not_skip_the_others_and_resumes_after_them() {
    let log = Log::new();
    let value = session(
        &log,
        Some(Outcome::Panic),
        &[Outcome::Ok, Outcome::Panic, Outcome::Ok],
    );
    let panic = catch_unwind(AssertUnwindSafe(|| value.release())).unwrap_err();
    assert_eq!(
        log.entries(),
        ["b1", "b0", "p1", "p0", "s2", "s1", "s0", "conn", "log"]
    );
    assert_eq!(
        panic.downcast_ref::<String>().map(String::as_str),
        Some("s1 panicked"),
        "the first panic resumes"
    );
}

/// Nesting, tuple fields and enums.
#[allow(clippy::vec_box)] // the point: every level is seen through
#[derive(Resource)]
#[resource(unique)]
enum Pool {
    Idle,
    Busy(
        #[resource] Option<Vec<Box<Unique>>>,
        #[resource] [[Unique; 2]; 2],
    ),
}

#[test]
fn nested_containers_name_each_level_of_the_index() {
    let log = Log::new();
    let errors = Pool::Busy(
        Some(vec![
            Box::new(Unique::new("a", &log)),
            Box::new(Unique::with("b", &log, Outcome::Fail)),
        ]),
        [
            [Unique::new("c", &log), Unique::new("d", &log)],
            [
                Unique::with("e", &log, Outcome::Fail),
                Unique::new("f", &log),
            ],
        ],
    )
    .release()
    .unwrap_err();
    assert_eq!(log.entries(), ["f", "e", "d", "c", "b", "a"]);
    assert_eq!(
        parts(&errors),
        [
            ("Busy.1".into(), "element [1][0]: e failed".into()),
            ("Busy.0".into(), "element [1]: b failed".into()),
        ]
    );
    Pool::Idle.release().unwrap();
}

/// A generic container field: the bound is on the element type.
#[derive(Resource)]
#[resource(unique)]
struct Batch<T> {
    #[resource]
    items: Vec<T>,
}

#[test]
fn a_generic_element_type_is_bounded_as_a_resource() {
    let log = Log::new();
    Batch {
        items: vec![Unique::new("x", &log), Unique::new("y", &log)],
    }
    .release()
    .unwrap();
    assert_eq!(log.entries(), ["y", "x"]);
}

/// A counted type holds counted parts through containers too.
#[derive(Resource)]
#[resource(counted)]
struct Listeners {
    #[resource]
    primary: Option<Fd>,
    #[resource]
    extra: Vec<Counted<Fd>>,
}

#[test]
fn a_counted_type_releases_its_containers_on_the_finalizer() {
    guard_testkit::watchdog(Duration::from_secs(30), || {
        let log = Log::new();
        let shared = Counted::new(Fd::new("shared", &log));
        let listeners = Counted::new(Listeners {
            primary: Some(Fd::with("primary", &log, Outcome::Fail)),
            extra: vec![shared.clone()],
        });
        drop(listeners);
        guard::finalizer::flush().unwrap();
        assert_eq!(
            log.entries(),
            ["primary on guard-finalizer"],
            "the element was a handle: releasing it drops one count"
        );
        drop(shared);
        guard::finalizer::flush().unwrap();
        assert_eq!(log.entries()[1], "shared on guard-finalizer");
    });
}

#[test]
fn scope_errors_carry_element_errors() {
    let log = Log::new();
    let err = guard::scope(|s| {
        let _session = s.enter(session(&log, None, &[Outcome::Ok, Outcome::Fail]));
        Ok::<_, std::convert::Infallible>(())
    })
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("Session") && message.contains("`streams`: element [1]: s1 failed"),
        "{message}"
    );
}
