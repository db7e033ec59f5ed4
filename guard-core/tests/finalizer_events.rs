//! F2: a release that panics (even with a payload whose own `Drop` panics) is caught and
//! reported with its type name; the finalizer survives and everything else is released.
//! Release errors of counted resources go to the event hook. (Own test binary: the hook is
//! process-wide.)

mod common;

use common::{Log, Probe, watchdog};
use guard_core::event::{self, Event};
use guard_core::{Counted, CountedResource, Resource, finalizer};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);
static SERIAL: Mutex<()> = Mutex::new(());

/// One test at a time (the hook is process-wide), and a stuck deadline far above any
/// release here: these tests are about panics and errors, not stuck releases, and under
/// valgrind a panic that prints its backtrace can take longer than the default 1 s.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    let serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    finalizer::set_stuck_deadline(LIMIT);
    serial
}

/// Captures every event as a line.
fn capture() -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    event::set_hook(move |e: &Event<'_>| sink.lock().unwrap().push(e.to_string()));
    seen
}

/// A panic payload whose `Drop` panics too.
struct NastyPayload;
impl Drop for NastyPayload {
    fn drop(&mut self) {
        panic!("the payload's drop panics as well");
    }
}

struct PanicsNastily;
impl Resource for PanicsNastily {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        std::panic::panic_any(NastyPayload)
    }
}
impl CountedResource for PanicsNastily {}

#[test]
fn a_panicking_release_is_reported_and_the_finalizer_survives() {
    let _serial = serial();
    let seen = capture();
    let log = Log::default();
    let before = finalizer::stats();
    drop(Counted::new(Probe::panicking("boom", &log)));
    drop(Counted::new(PanicsNastily));
    drop(Counted::new(Probe::new("after", &log)));
    watchdog(LIMIT, finalizer::flush).unwrap();
    event::reset_hook();
    let after = finalizer::stats();
    assert_eq!(
        log.names(),
        ["boom", "after"],
        "the release after the panics still ran"
    );
    assert_eq!(
        log.threads(),
        ["guard-finalizer", "guard-finalizer"],
        "the same thread survived"
    );
    assert_eq!(after.panicked - before.panicked, 2);
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|l| l.contains("Probe") && l.contains("boom panicked in release")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains("PanicsNastily") && l.contains("non-string panic payload")),
        "{seen:?}"
    );
}

#[test]
fn a_failed_counted_release_goes_to_the_hook_with_its_type_and_error() {
    let _serial = serial();
    let seen = capture();
    let log = Log::default();
    let before = finalizer::stats();
    drop(Counted::new(Probe::failing("flaky", &log)));
    watchdog(LIMIT, finalizer::flush).unwrap();
    event::reset_hook();
    assert_eq!(finalizer::stats().failed - before.failed, 1);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].starts_with("releasing counted `"), "{}", seen[0]);
    assert!(
        seen[0].contains("common::Probe") && seen[0].ends_with("flaky failed to close"),
        "{}",
        seen[0]
    );
}

#[test]
fn a_panicking_hook_does_not_take_the_finalizer_down() {
    let _serial = serial();
    event::set_hook(|_| panic!("the hook itself panics"));
    let log = Log::default();
    drop(Counted::new(Probe::failing("first", &log)));
    drop(Counted::new(Probe::new("second", &log)));
    watchdog(LIMIT, finalizer::flush).unwrap();
    event::reset_hook();
    assert_eq!(log.names(), ["first", "second"]);
}

/// A release error whose own `Drop` panics.
#[derive(Debug)]
struct NastyError;
impl std::fmt::Display for NastyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("nasty error")
    }
}
impl std::error::Error for NastyError {}
impl Drop for NastyError {
    fn drop(&mut self) {
        panic!("the error's drop panics");
    }
}

struct FailsNastily;
impl Resource for FailsNastily {
    type Error = NastyError;
    fn release(self) -> Result<(), Self::Error> {
        Err(NastyError)
    }
}
impl CountedResource for FailsNastily {}

#[test]
fn an_error_whose_drop_panics_does_not_take_the_finalizer_down() {
    let _serial = serial();
    let seen = capture();
    let log = Log::default();
    let before = finalizer::stats();
    drop(Counted::new(Probe::new("before", &log)));
    drop(Counted::new(FailsNastily));
    drop(Counted::new(Probe::new("after", &log)));
    watchdog(LIMIT, finalizer::flush).unwrap();
    event::reset_hook();
    let after = finalizer::stats();
    assert_eq!(log.names(), ["before", "after"]);
    assert_eq!(
        log.threads(),
        ["guard-finalizer", "guard-finalizer"],
        "the same worker ran on"
    );
    assert_eq!(after.failed - before.failed, 1);
    assert_eq!(after.stuck, before.stuck, "no worker was replaced");
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|l| l.contains("FailsNastily") && l.contains("nasty error")),
        "{seen:?}"
    );
}
