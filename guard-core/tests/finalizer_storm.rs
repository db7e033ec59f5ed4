//! F3 bounded (issue 12): a storm of stuck releases. With a 1 ms stuck deadline, 10,000
//! releases that each take a lock another thread holds for 5 s would have the watchdog
//! start a replacement worker for each in turn; the cap on stuck workers keeps the thread
//! count under `max_stuck_workers` more than before the storm, the stuck releases are
//! reported, and every release completes once the lock is free. (Own test binary: the
//! deadline, the cap and the hook are process-wide.)
// Linux only: it counts threads in /proc/self/task.
#![cfg(target_os = "linux")]

use guard_core::event::{self, Event};
use guard_core::{Counted, CountedResource, FlushError, Resource, finalizer};
use guard_testkit::watchdog;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

const RELEASES: usize = 10_000;
const CAP: u64 = 4;

/// A release that takes the lock.
struct TakesLock(Arc<Mutex<()>>, Arc<AtomicUsize>);

impl Resource for TakesLock {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        drop(self.0.lock().unwrap_or_else(|e| e.into_inner()));
        self.1.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
impl CountedResource for TakesLock {}

/// The process's thread count now.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

#[test]
fn a_storm_of_stuck_releases_stays_under_the_worker_cap_and_completes() {
    finalizer::set_stuck_deadline(Duration::from_millis(1));
    finalizer::set_max_stuck_workers(CAP);
    let stuck_events = Arc::new(AtomicUsize::new(0));
    let seen = stuck_events.clone();
    event::set_hook(move |e: &Event<'_>| {
        if matches!(e, Event::Stuck { .. }) {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    let released = Arc::new(AtomicUsize::new(0));
    let counter = released.clone();
    let (most, baseline, flushed_while_held) = watchdog(Duration::from_secs(120), move || {
        // The finalizer's worker and watchdog run before the baseline is taken.
        let free = Arc::new(AtomicUsize::new(0));
        drop(Counted::new(TakesLock(Arc::default(), free.clone())));
        finalizer::flush().unwrap();
        assert_eq!(free.load(Ordering::SeqCst), 1);
        let lock = Arc::new(Mutex::new(()));
        let held = Arc::new(Barrier::new(2));
        let done = Arc::new(AtomicBool::new(false));
        let holder = {
            let (lock, held, done) = (lock.clone(), held.clone(), done.clone());
            std::thread::spawn(move || {
                let guard = lock.lock().unwrap();
                held.wait();
                std::thread::sleep(Duration::from_secs(5));
                drop(guard);
                done.store(true, Ordering::SeqCst);
            })
        };
        let sampler = {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut most = 0;
                while !done.load(Ordering::SeqCst) {
                    most = most.max(threads());
                    std::thread::sleep(Duration::from_millis(2));
                }
                most
            })
        };
        held.wait();
        let baseline = threads();
        for _ in 0..RELEASES {
            drop(Counted::new(TakesLock(lock.clone(), counter.clone())));
        }
        // While the lock is held the queue waits behind a stuck release: flush says so
        // rather than waiting for the lock.
        let flushed_while_held = if done.load(Ordering::SeqCst) {
            None
        } else {
            Some(finalizer::flush())
        };
        holder.join().unwrap();
        let most = sampler.join().unwrap();
        while counter.load(Ordering::SeqCst) < RELEASES {
            finalizer::flush_all_timeout(Duration::from_secs(60)).unwrap();
        }
        (most, baseline, flushed_while_held)
    });
    event::reset_hook();
    assert_eq!(released.load(Ordering::SeqCst), RELEASES);
    // Stuck workers, plus one thread delivering stuck reports.
    let cap = usize::try_from(CAP).unwrap();
    assert!(
        most <= baseline + cap + 1,
        "{most} threads at most during the storm, {baseline} before it, cap {CAP}"
    );
    assert!(finalizer::stats().stuck >= 1);
    assert!(stuck_events.load(Ordering::SeqCst) >= 1);
    if let Some(flushed) = flushed_while_held {
        assert!(
            matches!(flushed, Err(FlushError::Stuck { .. })),
            "{flushed:?}"
        );
    }
    let s = finalizer::stats();
    assert_eq!(s.pending, 0, "{s}");
}
