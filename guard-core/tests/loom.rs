//! Loom models of guard-core's concurrent cores. Run with
//! `RUSTFLAGS="--cfg guard_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p guard-core --release --test loom`.

#![cfg(guard_loom)]

use guard_core::Kind;
use guard_core::model::{Queue, Shift};
use guard_core::registry::{Origin, Registry, Removal};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

/// Two producers push into the queue while the consumer takes batches and sleeps when it
/// finds the queue empty. A lost wake-up leaves the consumer asleep forever, which loom
/// reports as a deadlock; every job must run exactly once.
#[test]
fn queue_push_take_sleep_never_loses_a_wakeup() {
    loom::model(|| {
        let queue = Arc::new(Queue::new());
        let ran = Arc::new(AtomicUsize::new(0));
        let producers: Vec<_> = (0..2)
            .map(|_| {
                let (queue, ran) = (queue.clone(), ran.clone());
                thread::spawn(move || queue.push_job(&ran))
            })
            .collect();
        while ran.load(Ordering::SeqCst) < 2 {
            if !queue.take_and_run() {
                queue.sleep();
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        assert!(!queue.take_and_run(), "nothing may be left behind");
        assert_eq!(ran.load(Ordering::SeqCst), 2);
    });
}

/// A worker runs a batch of two jobs while the watchdog tries to take the rest of the
/// batch over. Whoever wins, each job runs exactly once.
#[test]
fn stuck_worker_hand_over_runs_each_job_once() {
    loom::model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let shift = Arc::new(Shift::with_jobs(2, &ran));
        let watchdog = {
            let shift = shift.clone();
            thread::spawn(move || shift.steal_and_run())
        };
        let abandoned = shift.work();
        let stole = watchdog.join().unwrap();
        assert_eq!(
            abandoned, stole,
            "the worker stops exactly when the watchdog stole"
        );
        assert_eq!(ran.load(Ordering::SeqCst), 2);
    });
}

/// One thread iterates the registry while another removes an entry. The value is released
/// exactly once, never while a callback looks at it, and the key goes stale.
#[test]
fn lease_defers_removal_until_the_callback_ends() {
    loom::model(|| {
        let released = Arc::new(AtomicUsize::new(0));
        let in_callback = Arc::new(AtomicBool::new(false));
        let registry = {
            let (released, in_callback) = (released.clone(), in_callback.clone());
            Arc::new(Registry::new(move |v: u32| {
                assert_eq!(v, 7);
                assert!(
                    !in_callback.load(Ordering::SeqCst),
                    "released under a lease"
                );
                released.fetch_add(1, Ordering::SeqCst);
            }))
        };
        let key = registry.insert(7, Origin::here::<u32>(Kind::Counted));
        let remover = {
            let (registry, released) = (registry.clone(), released.clone());
            thread::spawn(move || match registry.remove(key) {
                Removal::Removed(v) => {
                    assert_eq!(v, 7);
                    released.fetch_add(1, Ordering::SeqCst);
                }
                Removal::Deferred => {}
                Removal::Stale => panic!("the key was live"),
            })
        };
        registry.for_each(|lease| {
            in_callback.store(true, Ordering::SeqCst);
            assert_eq!(*lease.value(), 7);
            in_callback.store(false, Ordering::SeqCst);
        });
        remover.join().unwrap();
        assert_eq!(released.load(Ordering::SeqCst), 1);
        assert_eq!(registry.remove(key), Removal::Stale);
        assert!(registry.is_empty());
    });
}

/// Two threads end leases on the same removed entry: exactly one of them runs the
/// deferred release.
#[test]
fn last_of_two_leases_releases_once() {
    loom::model(|| {
        let released = Arc::new(AtomicUsize::new(0));
        let registry = {
            let released = released.clone();
            Arc::new(Registry::new(move |_: u32| {
                released.fetch_add(1, Ordering::SeqCst);
            }))
        };
        let key = registry.insert(1, Origin::here::<u32>(Kind::Unique));
        let leased = Arc::new(AtomicUsize::new(0));
        let t = {
            let (registry, leased) = (registry.clone(), leased.clone());
            thread::spawn(move || {
                let b = registry.lease(key).unwrap();
                leased.fetch_add(1, Ordering::SeqCst);
                while leased.load(Ordering::SeqCst) < 2 {
                    thread::yield_now();
                }
                drop(b);
            })
        };
        let a = registry.lease(key).unwrap();
        leased.fetch_add(1, Ordering::SeqCst);
        while leased.load(Ordering::SeqCst) < 2 {
            thread::yield_now();
        }
        assert!(registry.remove(key).is_deferred(), "two leases are held");
        drop(a);
        t.join().unwrap();
        assert_eq!(released.load(Ordering::SeqCst), 1);
    });
}
