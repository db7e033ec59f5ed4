//! Loom models of guard-core's concurrent cores. Run with
//! `RUSTFLAGS="--cfg guard_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p guard-core --release --test loom`.

#![cfg(guard_loom)]

use guard_core::Kind;
use guard_core::census::Origin;
use guard_core::model::{Bounded, Queue, Shift};
use guard_core::registry::{Registry, Removal};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

/// Two producers, each through its own lane, while the consumer takes passes and sleeps
/// when it finds nothing: the first pushes two jobs (the second asserts, when it runs, that
/// the first ran: one thread's jobs run in push order), the second one; then each exits
/// (orphans its lane). Between the first producer's two pushes the consumer may give its
/// lane up and sleep, so the second push takes the slow path. A lost wake-up leaves the
/// consumer asleep forever, which loom reports as a deadlock; every job runs exactly once,
/// and every orphaned lane is freed once drained.
#[test]
fn lanes_push_drain_sleep_wake_with_two_producers_and_exit() {
    let mut builder = loom::model::Builder::new();
    // Three threads, three mutexes and a fence pair per sleep: more steps than loom's
    // default allows one execution (each round of the consumer is bounded below).
    builder.max_branches = 20_000;
    builder.check(|| {
        let queue = Arc::new(Queue::new());
        let first = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let one = {
            let (queue, first, ran) = (queue.clone(), first.clone(), ran.clone());
            thread::spawn(move || {
                let lane = queue.lane();
                lane.push_job(&first);
                lane.push_job_after(&ran, &first);
            })
        };
        let two = {
            let (queue, ran) = (queue.clone(), ran.clone());
            thread::spawn(move || queue.lane().push_job(&ran))
        };
        let done = || ran.load(Ordering::SeqCst) == 2 && queue.lanes() == 0;
        let mut rounds = 0;
        while !done() {
            rounds += 1;
            assert!(rounds < 30, "the consumer spins without progress");
            // A pass may free the last lane and take nothing: then there is nothing to wait for.
            if !queue.take_and_run() && !done() {
                queue.sleep();
            }
        }
        one.join().unwrap();
        two.join().unwrap();
        assert!(!queue.take_and_run(), "nothing may be left behind");
        assert_eq!(first.load(Ordering::SeqCst), 1);
        assert_eq!(ran.load(Ordering::SeqCst), 2);
    });
}

/// Set by an execution of the model below that found its lane drained (across executions,
/// so a std atomic).
static SEEN_DRAINED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A producer pushes two jobs, then asks whether its lane is drained (what a last drop of a
/// type that releases inline asks before releasing on its own thread), while the consumer
/// takes passes and sleeps. Whenever the answer is yes, both jobs have run: the consumer
/// may give the lane up between finding it empty and seeing the second push (then it takes
/// the lane back), and a producer that read the care bit in that window without the
/// consumer's lock would release out of order.
#[test]
fn a_drained_lane_has_run_every_job_pushed() {
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 20_000;
    // The window takes three preemptions to reach (consumer between its empty check and
    // its give-up, producer between its push and its question, consumer before its second
    // look); the model is small enough to explore them all in a second.
    builder.preemption_bound = Some(builder.preemption_bound.unwrap_or(3).max(3));
    builder.check(|| {
        let queue = Arc::new(Queue::new());
        let ran = Arc::new(AtomicUsize::new(0));
        let producer = {
            let (queue, ran) = (queue.clone(), ran.clone());
            thread::spawn(move || {
                let lane = queue.lane();
                lane.push_job(&ran);
                lane.push_job(&ran);
                if lane.is_drained() {
                    assert_eq!(ran.load(Ordering::SeqCst), 2, "drained with a job pending");
                    SEEN_DRAINED.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            })
        };
        let done = || ran.load(Ordering::SeqCst) == 2 && queue.lanes() == 0;
        let mut rounds = 0;
        while !done() {
            rounds += 1;
            assert!(rounds < 30, "the consumer spins without progress");
            if !queue.take_and_run() && !done() {
                queue.sleep();
            }
        }
        producer.join().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 2);
    });
    assert!(
        SEEN_DRAINED.load(std::sync::atomic::Ordering::Relaxed),
        "no execution found the lane drained: the model checks nothing"
    );
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

/// The pass's step against a removal ahead of it: a pass over two entries while another
/// thread removes the second. The step to a slot (a store, `barrier::light`, a load of the
/// claims) and the remover's claim (a store, `barrier::heavy`, a load of where the pass is)
/// form a store-buffering pair: whether the removal meets the batch lease before the
/// visit (it takes the lease over and the caller releases at once), during it (deferred to
/// the visit's end) or after it, the value is released exactly once, never while the
/// callback looks at it, and never visited once released. With `light` reduced to a
/// compiler fence, loom finds the interleaving where both sides miss each other.
#[test]
fn a_removal_ahead_of_the_pass_never_meets_its_visit() {
    loom::model(|| {
        let released = Arc::new(AtomicUsize::new(0));
        let visiting = Arc::new(AtomicUsize::new(0));
        let registry = {
            let (released, visiting) = (released.clone(), visiting.clone());
            Arc::new(Registry::new(move |v: u32| {
                assert_ne!(
                    visiting.load(Ordering::SeqCst),
                    v as usize,
                    "deferred release under visit"
                );
                released.fetch_add(1, Ordering::SeqCst);
            }))
        };
        registry.insert(1, Origin::here::<u32>(Kind::Counted));
        let key = registry.insert(2, Origin::here::<u32>(Kind::Counted));
        let remover = {
            let (registry, released, visiting) =
                (registry.clone(), released.clone(), visiting.clone());
            thread::spawn(move || match registry.remove(key) {
                Removal::Removed(2) => {
                    assert_ne!(visiting.load(Ordering::SeqCst), 2, "removed under visit");
                    released.fetch_add(1, Ordering::SeqCst);
                }
                Removal::Deferred => {}
                other => panic!("{other:?}"),
            })
        };
        registry.for_each(|lease| {
            let v = *lease.value() as usize;
            visiting.store(v, Ordering::SeqCst);
            if v == 2 {
                assert_eq!(released.load(Ordering::SeqCst), 0, "visited once released");
            }
            visiting.store(0, Ordering::SeqCst);
        });
        remover.join().unwrap();
        assert_eq!(released.load(Ordering::SeqCst), 1);
        assert_eq!(registry.len(), 1);
    });
}

/// A removal of the first of two entries on another thread, while the pass may be visiting
/// it: if it meets the visit, the pass ends the lease at its next step (it sees the claim
/// there) or at the end of the batch; the value is released exactly once, after the visit.
#[test]
fn a_removal_that_meets_the_visit_is_released_after_it() {
    loom::model(|| {
        let released = Arc::new(AtomicUsize::new(0));
        let visiting = Arc::new(AtomicUsize::new(0));
        let registry = {
            let (released, visiting) = (released.clone(), visiting.clone());
            Arc::new(Registry::new(move |v: u32| {
                assert_ne!(
                    visiting.load(Ordering::SeqCst),
                    v as usize,
                    "deferred release under visit"
                );
                released.fetch_add(1, Ordering::SeqCst);
            }))
        };
        let key = registry.insert(1, Origin::here::<u32>(Kind::Counted));
        registry.insert(2, Origin::here::<u32>(Kind::Counted));
        let remover = {
            let (registry, released, visiting) =
                (registry.clone(), released.clone(), visiting.clone());
            thread::spawn(move || match registry.remove(key) {
                Removal::Removed(1) => {
                    assert_ne!(visiting.load(Ordering::SeqCst), 1, "removed under visit");
                    released.fetch_add(1, Ordering::SeqCst);
                }
                Removal::Deferred => {}
                other => panic!("{other:?}"),
            })
        };
        registry.for_each(|lease| {
            let v = *lease.value() as usize;
            visiting.store(v, Ordering::SeqCst);
            if v == 1 {
                assert_eq!(released.load(Ordering::SeqCst), 0, "visited once released");
            }
            visiting.store(0, Ordering::SeqCst);
        });
        remover.join().unwrap();
        assert_eq!(released.load(Ordering::SeqCst), 1);
        assert_eq!(registry.len(), 1);
    });
}

/// A callback removes the entry it visits and the next one while another thread removes
/// the next one too: the pass's own removals need no barrier (its thread is not mid-step),
/// each value is released once, the visited one after its visit, the next one never
/// visited once released.
#[test]
fn a_callback_and_another_thread_remove_from_the_batch() {
    loom::model(|| {
        let released = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let visiting = Arc::new(AtomicUsize::new(usize::MAX));
        let registry = {
            let (released, visiting) = (released.clone(), visiting.clone());
            Arc::new(Registry::new(move |v: usize| {
                assert_ne!(visiting.load(Ordering::SeqCst), v, "released under visit");
                released[v].fetch_add(1, Ordering::SeqCst);
            }))
        };
        let keys = [
            registry.insert(0, Origin::here::<usize>(Kind::Counted)),
            registry.insert(1, Origin::here::<usize>(Kind::Counted)),
        ];
        let settle = |released: &[AtomicUsize; 2], visiting: &AtomicUsize, removal| {
            if let Removal::Removed(v) = removal {
                assert_ne!(visiting.load(Ordering::SeqCst), v, "removed under visit");
                released[v].fetch_add(1, Ordering::SeqCst);
            }
        };
        let remover = {
            let (registry, released, visiting) =
                (registry.clone(), released.clone(), visiting.clone());
            thread::spawn(move || settle(&released, &visiting, registry.remove(keys[1])))
        };
        registry.for_each(|lease| {
            let v = *lease.value();
            visiting.store(v, Ordering::SeqCst);
            assert_eq!(
                released[v].load(Ordering::SeqCst),
                0,
                "visited once released"
            );
            if v == 0 {
                assert!(registry.remove(keys[0]).is_deferred(), "under visit");
                settle(&released, &visiting, registry.remove(keys[1]));
            }
            visiting.store(usize::MAX, Ordering::SeqCst);
        });
        remover.join().unwrap();
        assert_eq!(released[0].load(Ordering::SeqCst), 1);
        assert_eq!(released[1].load(Ordering::SeqCst), 1);
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

/// Flush ordering (F4): "`flush` returns once everything dropped before it was released"
/// rests on a pass running the lanes' jobs before the markers it took from the shared
/// stack, across lanes. One thread pushes a job through its lane (a drop) and exits; a
/// second thread, after joining the first, pushes the "marker" on the shared stack (a flush
/// ordered after the drop); a consumer takes passes (and sleeps) as the finalizer does. An observer looks at the
/// two counts once, at any point loom chooses: the marker never shows as run while the job
/// pushed before it has not.
#[test]
fn a_marker_runs_after_every_job_pushed_before_it() {
    loom::model(|| {
        let queue = Arc::new(Queue::new());
        let job = Arc::new(AtomicUsize::new(0));
        let marker = Arc::new(AtomicUsize::new(0));
        let dropper = {
            let (queue, job) = (queue.clone(), job.clone());
            thread::spawn(move || queue.lane().push_job(&job))
        };
        let flusher = {
            let (queue, marker) = (queue.clone(), marker.clone());
            thread::spawn(move || {
                dropper.join().unwrap();
                queue.push_marker(&marker);
            })
        };
        let consumer = {
            let (queue, marker) = (queue.clone(), marker.clone());
            thread::spawn(move || {
                while marker.load(Ordering::SeqCst) == 0 {
                    if !queue.take_and_run() {
                        queue.sleep();
                    }
                }
            })
        };
        while marker.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
        assert_eq!(job.load(Ordering::SeqCst), 1, "the marker overtook a job");
        flusher.join().unwrap();
        consumer.join().unwrap();
        assert_eq!(job.load(Ordering::SeqCst), 1);
        assert!(!queue.take_and_run(), "nothing may be left behind");
    });
}

/// Insertion during a pass: one thread iterates while another removes the visited entry
/// and inserts a new one (which may reuse the freed slot). No callback ever sees a
/// released value, each value is released exactly once, and the new entry's key works.
#[test]
fn insert_during_for_each_never_shows_a_released_value() {
    loom::model(|| {
        let released = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let in_use = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        let registry = {
            let (released, in_use) = (released.clone(), in_use.clone());
            Arc::new(Registry::new(move |v: usize| {
                assert!(!in_use[v].load(Ordering::SeqCst), "released under a lease");
                released[v].fetch_add(1, Ordering::SeqCst);
            }))
        };
        let first = registry.insert(0, Origin::here::<usize>(Kind::Counted));
        let churner = {
            let (registry, released, in_use) = (registry.clone(), released.clone(), in_use.clone());
            thread::spawn(move || {
                match registry.remove(first) {
                    Removal::Removed(v) => {
                        assert!(!in_use[v].load(Ordering::SeqCst), "removed under a lease");
                        released[v].fetch_add(1, Ordering::SeqCst);
                    }
                    Removal::Deferred => {}
                    Removal::Stale => panic!("the key was live"),
                }
                registry.insert(1, Origin::here::<usize>(Kind::Unique))
            })
        };
        registry.for_each(|lease| {
            let v = *lease.value();
            in_use[v].store(true, Ordering::SeqCst);
            assert_eq!(
                released[v].load(Ordering::SeqCst),
                0,
                "visited a released value"
            );
            in_use[v].store(false, Ordering::SeqCst);
        });
        let second = churner.join().unwrap();
        assert_eq!(registry.remove(first), Removal::Stale);
        assert_eq!(registry.get(second).map(|(v, _)| v), Some(1));
        match registry.remove(second) {
            Removal::Removed(v) => {
                released[v].fetch_add(1, Ordering::SeqCst);
            }
            other => panic!("no lease is held: {other:?}"),
        }
        assert_eq!(released[0].load(Ordering::SeqCst), 1);
        assert_eq!(released[1].load(Ordering::SeqCst), 1);
        assert!(registry.is_empty());
    });
}

/// The stuck-worker hand-over with a longer batch: the watchdog may steal before the
/// first, second or third job; each of the three still runs exactly once.
#[test]
fn hand_over_of_a_three_job_batch_runs_each_job_once() {
    loom::model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let shift = Arc::new(Shift::with_jobs(3, &ran));
        let watchdog = {
            let shift = shift.clone();
            thread::spawn(move || shift.steal_and_run())
        };
        let abandoned = shift.work();
        let stole = watchdog.join().unwrap();
        assert_eq!(abandoned, stole);
        assert_eq!(ran.load(Ordering::SeqCst), 3);
    });
}

/// Two passes on two threads and a removal on a third: the value is released once, after
/// the last lease on it ends, and never while either callback looks at it.
#[test]
fn two_passes_and_a_removal_release_once() {
    loom::model(|| {
        let released = Arc::new(AtomicUsize::new(0));
        let looking = Arc::new(AtomicUsize::new(0));
        let registry = {
            let (released, looking) = (released.clone(), looking.clone());
            Arc::new(Registry::new(move |_: u32| {
                assert_eq!(looking.load(Ordering::SeqCst), 0, "released under a lease");
                released.fetch_add(1, Ordering::SeqCst);
            }))
        };
        let key = registry.insert(5, Origin::here::<u32>(Kind::Counted));
        let pass = |registry: Arc<Registry<u32>>, looking: Arc<AtomicUsize>| {
            move || {
                registry.for_each(|_| {
                    looking.fetch_add(1, Ordering::SeqCst);
                    looking.fetch_sub(1, Ordering::SeqCst);
                });
            }
        };
        let a = thread::spawn(pass(registry.clone(), looking.clone()));
        let b = thread::spawn(pass(registry.clone(), looking.clone()));
        if let Removal::Removed(_) = registry.remove(key) {
            // Returned to us: no lease held it, so no callback can be looking at it.
            assert_eq!(looking.load(Ordering::SeqCst), 0, "removed under a lease");
            released.fetch_add(1, Ordering::SeqCst);
        }
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(released.load(Ordering::SeqCst), 1);
        assert!(registry.is_empty());
    });
}

/// A producer drops three values against a bound of one while the worker runs: however
/// the two interleave (the producer waiting for room, or going past the bound when the
/// worker is not scheduled for a while), every job runs exactly once and the producer
/// finishes.
#[test]
fn a_full_queue_admits_every_job_once() {
    loom::model(|| {
        let queue = Arc::new(Bounded::new());
        let ran = Arc::new(AtomicUsize::new(0));
        let producer = {
            let (queue, ran) = (queue.clone(), ran.clone());
            thread::spawn(move || {
                let lane = queue.lane();
                for _ in 0..3 {
                    queue.drop_one(&lane, 1, &ran);
                }
            })
        };
        while ran.load(Ordering::SeqCst) < 3 {
            if !queue.work() {
                thread::yield_now();
            }
        }
        producer.join().unwrap();
        assert!(!queue.work(), "nothing may be left behind");
        assert_eq!(ran.load(Ordering::SeqCst), 3);
    });
}

/// Tratt's deadlock under the bound: the worker cannot run (it waits for a lock the
/// producer holds) until the producer is done. The producer must not wait for room
/// forever: it goes past the bound, and once it lets go every job runs once.
#[test]
fn a_full_queue_never_holds_a_producer_whose_worker_is_stuck() {
    loom::model(|| {
        let queue = Arc::new(Bounded::new());
        let ran = Arc::new(AtomicUsize::new(0));
        let held = Arc::new(AtomicBool::new(true));
        let worker = {
            let (queue, ran, held) = (queue.clone(), ran.clone(), held.clone());
            thread::spawn(move || {
                while held.load(Ordering::SeqCst) {
                    thread::yield_now();
                }
                while ran.load(Ordering::SeqCst) < 3 {
                    if !queue.work() {
                        thread::yield_now();
                    }
                }
            })
        };
        let lane = queue.lane();
        let past = (0..3).filter(|_| queue.drop_one(&lane, 1, &ran)).count();
        drop(lane);
        held.store(false, Ordering::SeqCst);
        worker.join().unwrap();
        assert!(past >= 1, "the producer went past the bound");
        assert_eq!(ran.load(Ordering::SeqCst), 3);
    });
}
