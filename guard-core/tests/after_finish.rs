//! F1 after a runtime guard ends (issue 12): `finish()` drains and reports, and releases
//! dropped later still run on the finalizer, never inline and never recursively. (Own test
//! binary: the stuck deadline is process-wide.)

use guard_core::{Counted, CountedResource, Resource, finalizer};
use guard_testkit::watchdog;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LINKS: usize = 100_000;

/// A link of a chain: its release drops the next link's last handle.
struct Link {
    next: Option<Counted<Link>>,
    released: Arc<AtomicUsize>,
    /// Held by the head only: its release waits for the gate before dropping the rest.
    gate: Option<Mutex<mpsc::Receiver<()>>>,
}

impl Resource for Link {
    type Error = std::convert::Infallible;
    fn release(mut self) -> Result<(), Self::Error> {
        if let Some(gate) = self.gate.take() {
            let _ = gate
                .into_inner()
                .unwrap()
                .recv_timeout(Duration::from_secs(60));
        }
        self.released.fetch_add(1, Ordering::SeqCst);
        drop(self.next.take());
        Ok(())
    }
}
impl CountedResource for Link {}

fn chain(released: &Arc<AtomicUsize>, gate: Option<mpsc::Receiver<()>>) -> Counted<Link> {
    let mut next = None;
    for _ in 1..LINKS {
        next = Some(Counted::new(Link {
            next,
            released: released.clone(),
            gate: None,
        }));
    }
    Counted::new(Link {
        next,
        released: released.clone(),
        gate: gate.map(Mutex::new),
    })
}

/// Flushes until the whole chain is released: each flush covers the links dropped before
/// it, and each release drops the next link.
fn flush_chain(released: &AtomicUsize) {
    while released.load(Ordering::SeqCst) < LINKS {
        finalizer::flush_all_timeout(Duration::from_secs(100)).unwrap();
    }
}

fn not_about_stuck_releases() {
    // A loaded machine can hold a release up past the default 1 s deadline; these tests are
    // not about stuck releases.
    finalizer::set_stuck_deadline(Duration::from_secs(120));
}

#[test]
fn a_100k_link_chain_dropped_after_finish_is_released_without_recursion() {
    not_about_stuck_releases();
    let exit = guard_core::runtime().finish();
    assert!(exit.flush.is_ok(), "{exit}");
    let released = Arc::new(AtomicUsize::new(0));
    let head = chain(&released, None);
    let counter = released.clone();
    watchdog(Duration::from_secs(120), move || {
        drop(head);
        flush_chain(&counter);
    });
    assert_eq!(released.load(Ordering::SeqCst), LINKS);
}

#[test]
fn a_chain_still_queued_when_the_drain_deadline_passes_is_released_later() {
    not_about_stuck_releases();
    let rt = guard_core::runtime().with_drain_deadline(Duration::from_millis(10));
    let released = Arc::new(AtomicUsize::new(0));
    let (open, gate) = mpsc::channel();
    drop(chain(&released, Some(gate)));
    // The head's release waits at its gate: the drain deadline passes with the whole chain
    // still to release.
    let exit = rt.finish();
    assert!(exit.flush.is_err(), "{exit}");
    open.send(()).unwrap();
    let counter = released.clone();
    watchdog(Duration::from_secs(120), move || flush_chain(&counter));
    assert_eq!(released.load(Ordering::SeqCst), LINKS);
}

/// Tratt's program: a value whose release takes a mutex.
struct TakesLock(Arc<Mutex<()>>, Arc<AtomicUsize>);

impl Resource for TakesLock {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        drop(self.0.lock().unwrap());
        self.1.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
impl CountedResource for TakesLock {}

#[test]
fn a_thread_holding_the_mutex_a_release_takes_drops_its_last_handle_after_finish() {
    not_about_stuck_releases();
    let exit = guard_core::runtime().finish();
    assert!(exit.flush.is_ok(), "{exit}");
    let lock = Arc::new(Mutex::new(()));
    let released = Arc::new(AtomicUsize::new(0));
    let value = Counted::new(TakesLock(lock.clone(), released.clone()));
    watchdog(Duration::from_secs(30), move || {
        let held = lock.lock().unwrap();
        drop(value);
        drop(held);
        finalizer::flush().unwrap();
    });
    assert_eq!(released.load(Ordering::SeqCst), 1);
}
