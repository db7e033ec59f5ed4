//! Counted handles and the finalizer's everyday path: F1 (never released on the dropping
//! thread), F4 (flush covers everything dropped before it), F5 (stats balance: see
//! finalizer_depth.rs for depth and high-water), explicit
//! release, and the design's finalizer deadlock, which must complete.

mod common;

use common::{Log, Probe, watchdog};
use guard_core::{Counted, CountedResource, FlushError, Resource, TryReleaseError, finalizer};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// Called first by every test here: a stuck deadline far above any release in this file.
/// None of these tests is about stuck releases (finalizer_stuck.rs is), and under valgrind
/// on a loaded machine a trivial release can sit descheduled mid-run for hundreds of
/// milliseconds (the churn test's producers compete with the worker), so the default 1 s
/// could declare one stuck and make a `flush` here return `Stuck`. Process-wide and
/// idempotent: whichever test runs first sets it before dropping anything.
fn no_stuck_deadline() {
    finalizer::set_stuck_deadline(LIMIT);
}

#[test]
fn the_last_drop_releases_on_the_finalizer_thread_never_the_dropping_one() {
    no_stuck_deadline();
    let log = Log::default();
    let a = Counted::new(Probe::new("fd", &log));
    let b = a.clone();
    assert_eq!(Counted::handle_count(&a), 2);
    drop(a);
    drop(b);
    watchdog(LIMIT, finalizer::flush).unwrap();
    assert_eq!(log.names(), ["fd"]);
    assert_eq!(log.threads(), ["guard-finalizer"]);
}

#[test]
fn handles_on_many_threads_release_exactly_once() {
    no_stuck_deadline();
    let log = Log::default();
    let handle = Counted::new(Probe::new("shared", &log));
    std::thread::scope(|t| {
        for _ in 0..4 {
            let h = handle.clone();
            t.spawn(move || {
                for _ in 0..common::rounds(1000) {
                    drop(h.clone());
                }
            });
        }
    });
    drop(handle);
    watchdog(LIMIT, finalizer::flush).unwrap();
    assert_eq!(log.count("shared"), 1);
}

#[test]
fn flush_returns_after_everything_dropped_before_it() {
    no_stuck_deadline();
    let log = Log::default();
    for i in 0..common::rounds(2000) {
        drop(Counted::new(Probe::new(
            if i % 2 == 0 { "even" } else { "odd" },
            &log,
        )));
    }
    watchdog(LIMIT, finalizer::flush).unwrap();
    assert_eq!(log.count("even"), common::rounds(2000) / 2);
    assert_eq!(log.count("odd"), common::rounds(2000) / 2);
}

#[test]
fn try_release_on_the_last_handle_releases_now_and_returns_the_error() {
    no_stuck_deadline();
    let log = Log::default();
    let a = Counted::new(Probe::failing("now", &log));
    let b = a.clone();
    let a = match a.try_release() {
        Err(TryReleaseError::Shared(a)) => a,
        other => panic!("expected Shared, got {other:?}"),
    };
    assert!(
        log.names().is_empty(),
        "not the last handle: nothing released"
    );
    drop(a);
    match b.try_release() {
        Err(TryReleaseError::Failed(e)) => assert_eq!(e.to_string(), "now failed to close"),
        other => panic!("expected Failed, got {other:?}"),
    }
    let me = std::thread::current().name().map(str::to_owned);
    assert_eq!(
        log.threads(),
        [me.unwrap_or_default()],
        "released synchronously, here"
    );
    watchdog(LIMIT, finalizer::flush).unwrap();
    assert_eq!(log.count("now"), 1, "the deferred release was disarmed");
}

#[test]
fn into_inner_takes_the_value_back_and_disarms_the_release() {
    no_stuck_deadline();
    let log = Log::default();
    let a = Counted::new(Probe::new("taken", &log));
    let probe = Counted::into_inner(a).ok().expect("last handle");
    watchdog(LIMIT, finalizer::flush).unwrap();
    assert!(log.names().is_empty());
    probe.release().unwrap();
    assert_eq!(log.count("taken"), 1);
}

static HELD: parking_lot::Mutex<u32> = parking_lot::Mutex::new(0);

/// Locks `HELD` when released: with a plain `Drop`, dropping it while holding `HELD` would
/// deadlock the dropping thread (parking_lot mutexes are not reentrant).
struct NeedsTheLock(Log);

impl Resource for NeedsTheLock {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        *HELD.lock() += 1;
        self.0.push("locked");
        Ok(())
    }
}
impl CountedResource for NeedsTheLock {}

#[test]
fn a_release_that_locks_what_the_dropping_thread_holds_completes() {
    no_stuck_deadline();
    let log = Log::default();
    let l = log.clone();
    watchdog(LIMIT, move || {
        let handle = Counted::new(NeedsTheLock(l));
        let guard = HELD.lock();
        drop(handle); // the last handle, dropped while holding the lock
        drop(guard);
        finalizer::flush().unwrap();
    });
    assert_eq!(log.names(), ["locked"]);
}

/// A release that drops another counted handle: it is queued, not run recursively.
struct Chain {
    next: Option<Counted<Probe>>,
    log: Log,
}

impl Resource for Chain {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        self.log.push("chain");
        drop(self.next);
        self.log.push("chain done");
        Ok(())
    }
}
impl CountedResource for Chain {}

#[test]
fn dropping_a_handle_inside_a_release_enqueues_it_instead_of_recursing() {
    no_stuck_deadline();
    let log = Log::default();
    let inner = Counted::new(Probe::new("inner", &log));
    drop(Counted::new(Chain {
        next: Some(inner),
        log: log.clone(),
    }));
    watchdog(LIMIT, finalizer::flush).unwrap();
    watchdog(LIMIT, finalizer::flush).unwrap();
    assert_eq!(log.names(), ["chain", "chain done", "inner"]);
}

/// A release that calls `flush`: it must get an error, not wait for itself.
struct Flusher(std::sync::mpsc::Sender<Result<(), FlushError>>);

impl Resource for Flusher {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        let _ = self.0.send(finalizer::flush());
        Ok(())
    }
}
impl CountedResource for Flusher {}

#[test]
fn flush_from_a_release_refuses_instead_of_hanging() {
    no_stuck_deadline();
    let (tx, rx) = std::sync::mpsc::channel();
    drop(Counted::new(Flusher(tx)));
    let got = rx
        .recv_timeout(LIMIT)
        .expect("the release ran and reported");
    assert_eq!(got, Err(FlushError::InFinalizer));
}

thread_local! {
    static KEPT: std::cell::RefCell<Option<Counted<Probe>>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn a_handle_dropped_by_a_thread_local_destructor_is_released() {
    no_stuck_deadline();
    let log = Log::default();
    let handle = Counted::new(Probe::new("tls", &log));
    std::thread::spawn(move || KEPT.with(|k| *k.borrow_mut() = Some(handle)))
        .join()
        .unwrap();
    watchdog(LIMIT, finalizer::flush).unwrap();
    assert_eq!(log.names(), ["tls"]);
    assert_eq!(log.threads(), ["guard-finalizer"]);
}

#[test]
fn two_threads_of_churn_release_every_value_once() {
    no_stuck_deadline();
    let log = Log::default();
    let per_thread = common::rounds(20_000);
    std::thread::scope(|t| {
        for name in ["left", "right"] {
            let log = log.clone();
            t.spawn(move || {
                for _ in 0..per_thread {
                    let h = Counted::new(Probe::new(name, &log));
                    let h2 = h.clone();
                    drop(h);
                    drop(h2);
                }
            });
        }
    });
    watchdog(LIMIT, finalizer::flush).unwrap();
    assert_eq!(log.count("left"), per_thread);
    assert_eq!(log.count("right"), per_thread);
    assert!(log.threads().iter().all(|t| t == "guard-finalizer"));
}

fn _handles_are_send_and_sync_when_the_value_is() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<Counted<Probe>>();
}

/// A counted value whose release takes no lock (it may run on the dropping thread) and
/// fails or panics as asked, recording the thread it ran on.
struct NoLock {
    log: Log,
    panics: bool,
}

impl Resource for NoLock {
    type Error = std::io::Error;
    fn release(self) -> Result<(), Self::Error> {
        self.log.push("no-lock");
        if self.panics {
            panic!("no-lock release panicked");
        }
        Err(std::io::Error::other("no-lock release failed"))
    }
}

impl CountedResource for NoLock {
    const RELEASE_TAKES_NO_LOCK: bool = true;
}

/// Wherever the release ran (on the dropping thread when its lane was drained, else on
/// the finalizer), its failure and its panic are reported once each, by the finalizer (the
/// event hook is user code, never run on the dropping thread), and counted, by the time
/// `flush` returns. Under Miri this runs the report job's allocation (`finalizer/late.rs`).
#[test]
fn a_lock_free_release_that_fails_or_panics_is_reported_by_the_finalizer() {
    no_stuck_deadline();
    let reports = Log::default();
    let hook_log = reports.clone();
    guard_core::event::set_hook(move |event| match event {
        guard_core::event::Event::ReleaseFailed { resource, .. }
        | guard_core::event::Event::ReleasePanicked { resource, .. }
            if resource.contains("NoLock") =>
        {
            hook_log.push(resource);
        }
        _ => {}
    });
    let before = finalizer::stats();
    let log = Log::default();
    for panics in [false, true] {
        // A fresh thread: its lane is new, so the drop runs inline unless the finalizer
        // holds its list of lanes at that moment (then it is queued); tried until inline.
        let inline = (0..1000).any(|_| {
            let idle = finalizer::stats().inline_idle;
            let log = log.clone();
            std::thread::spawn(move || drop(Counted::new(NoLock { log, panics })))
                .join()
                .unwrap();
            let ran_inline = finalizer::stats().inline_idle > idle;
            watchdog(LIMIT, finalizer::flush).unwrap();
            ran_inline
        });
        assert!(
            inline,
            "never released on the dropping thread (panics: {panics})"
        );
    }
    guard_core::event::reset_hook();
    let released = log.count("no-lock");
    assert_eq!(
        reports.len(),
        released,
        "each of {released} releases reported once: {:?}",
        reports.names()
    );
    assert!(
        reports.threads().iter().all(|t| t == "guard-finalizer"),
        "reported on {:?}",
        reports.threads()
    );
    let after = finalizer::stats();
    assert!(after.failed > before.failed, "{after}");
    assert!(after.panicked > before.panicked, "{after}");
}
