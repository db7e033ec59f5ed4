//! The leased registry, generic form of R1-R3: a value is never released while a callback
//! or lease looks at it, stale keys reach nothing, callbacks may do anything (insert,
//! remove, iterate, panic) without deadlock, and every value is released exactly once.

mod common;

use common::watchdog;
use guard_core::Kind;
use guard_core::census::Origin;
use guard_core::registry::{Registry, Removal};
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A registry whose deferred releases are recorded in `released`.
fn recording() -> (Arc<Registry<u32>>, Arc<Mutex<Vec<u32>>>) {
    let released = Arc::new(Mutex::new(Vec::new()));
    let sink = released.clone();
    (
        Arc::new(Registry::new(move |v| sink.lock().unwrap().push(v))),
        released,
    )
}

fn origin() -> Origin {
    Origin::here::<u32>(Kind::Counted)
}

#[test]
fn a_stale_key_never_reaches_the_entry_that_reuses_its_slot() {
    let (r, _) = recording();
    let old = r.insert(1, origin());
    assert_eq!(r.remove(old), Removal::Removed(1));
    let new = r.insert(2, origin());
    assert_ne!(old, new);
    assert_eq!(r.get(old), None);
    assert_eq!(r.remove(old), Removal::Stale);
    assert!(r.lease(old).is_none());
    assert_eq!(r.get(new).map(|(v, _)| v), Some(2));
}

#[test]
fn removing_the_visited_entry_from_its_callback_defers_the_release_past_it() {
    let (r, released) = recording();
    let keys: Vec<_> = (0..5).map(|v| r.insert(v, origin())).collect();
    let mut visited = Vec::new();
    r.for_each(|lease| {
        let v = *lease.value();
        visited.push(v);
        assert!(
            r.remove(lease.key()).is_deferred(),
            "a leased entry cannot go at once"
        );
        assert!(
            !released.lock().unwrap().contains(&v),
            "released during its own callback"
        );
    });
    assert_eq!(visited, [0, 1, 2, 3, 4]);
    let mut done = released.lock().unwrap().clone();
    done.sort();
    assert_eq!(
        done,
        [0, 1, 2, 3, 4],
        "each released exactly once, right after the pass"
    );
    assert!(r.is_empty());
    assert!(keys.iter().all(|&k| r.remove(k) == Removal::Stale));
}

/// The pass rule: a pass delays the removal of an entry only while it visits that entry.
/// Entries of the batch not yet visited, or already visited, go at once (and are not
/// visited after); the entry under visit goes when its visit returns.
#[test]
fn a_pass_delays_only_the_removal_of_the_entry_under_visit() {
    let (r, released) = recording();
    let keys: Vec<_> = (0..10).map(|v| r.insert(v, origin())).collect();
    let mut visited = Vec::new();
    r.for_each(|lease| {
        let v = *lease.value();
        visited.push(v);
        match v {
            // Not reached yet: removed (and released by the caller) at once.
            0 => assert_eq!(r.remove(keys[7]), Removal::Removed(7)),
            // Already visited, same batch: at once too.
            3 => assert_eq!(r.remove(keys[1]), Removal::Removed(1)),
            // Under visit, removed by the visitor: when this visit returns.
            5 => assert!(r.remove(keys[5]).is_deferred()),
            6 => assert_eq!(*released.lock().unwrap(), [5], "released after its visit"),
            _ => {}
        }
        assert!(
            !released.lock().unwrap().contains(&v),
            "visited after release"
        );
    });
    assert_eq!(
        visited,
        [0, 1, 2, 3, 4, 5, 6, 8, 9],
        "7 went before its visit"
    );
    assert_eq!(*released.lock().unwrap(), [5]);
    assert_eq!(r.len(), 7);
}

/// Another thread's removal of an entry the pass has leased but not reached does not wait
/// for the pass.
#[test]
fn a_removal_on_another_thread_does_not_wait_for_the_pass() {
    let (r, _released) = recording();
    let keys: Vec<_> = (0..4).map(|v| r.insert(v, origin())).collect();
    let r2 = r.clone();
    watchdog(Duration::from_secs(10), move || {
        r2.for_each(|lease| {
            if *lease.value() == 0 {
                let r3 = r2.clone();
                let key = keys[2];
                let removal = std::thread::spawn(move || r3.remove(key)).join().unwrap();
                assert_eq!(removal, Removal::Removed(2), "not deferred to the pass");
            }
        });
    });
}

#[test]
fn callbacks_may_insert_iterate_and_lease_without_deadlock() {
    let (r, _) = recording();
    for v in 0..3 {
        r.insert(v, origin());
    }
    let r2 = r.clone();
    watchdog(Duration::from_secs(10), move || {
        let mut inner_visits = 0;
        r2.for_each(|lease| {
            let k = r2.insert(100 + lease.value(), origin());
            r2.for_each(|_| inner_visits += 1);
            let again = r2
                .lease(lease.key())
                .expect("a live entry can be leased twice");
            drop(again);
            assert_eq!(r2.remove(k), Removal::Removed(100 + lease.value()));
        });
        assert!(inner_visits >= 3 * 4);
    });
    assert_eq!(r.len(), 3);
}

#[test]
fn a_panicking_callback_ends_its_leases_and_completes_deferred_removals() {
    let (r, released) = recording();
    let keys: Vec<_> = (0..4).map(|v| r.insert(v, origin())).collect();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        r.for_each(|lease| {
            if *lease.value() == 1 {
                assert!(r.remove(keys[1]).is_deferred());
                panic!("callback exploded");
            }
        })
    }));
    assert!(caught.is_err());
    assert_eq!(
        *released.lock().unwrap(),
        [1],
        "the deferred release ran during unwinding"
    );
    assert_eq!(r.len(), 3);
    // Every other entry is unleased again: removal is immediate.
    assert_eq!(r.remove(keys[0]), Removal::Removed(0));
    assert_eq!(r.remove(keys[3]), Removal::Removed(3));
}

#[test]
fn removal_waits_for_the_last_of_several_leases() {
    let (r, released) = recording();
    let k = r.insert(9, origin());
    let a = r.lease(k).unwrap();
    let b = r.lease(k).unwrap();
    assert!(r.remove(k).is_deferred());
    assert!(r.lease(k).is_none(), "a closing entry takes no new lease");
    assert_eq!(r.get(k), None);
    drop(a);
    assert!(released.lock().unwrap().is_empty());
    drop(b);
    assert_eq!(*released.lock().unwrap(), [9]);
}

#[test]
fn census_groups_by_origin() {
    let (r, _) = recording();
    let here = Origin::here::<String>(Kind::Unique);
    for v in 0..3 {
        r.insert(v, here);
    }
    r.insert(3, Origin::here::<u8>(Kind::Counted));
    let census = r.census();
    assert_eq!(census.len(), 2);
    assert_eq!(census[0].origin, here);
    assert_eq!(census[0].count, 3);
    assert_eq!(census[1].count, 1);
}

/// Threads insert and remove while others iterate: no callback ever sees a released
/// value, and every value is released exactly once (by `remove` or deferred).
#[test]
fn concurrent_churn_never_shows_a_released_value() {
    let released: Arc<Mutex<HashSet<u32>>> = Arc::default();
    let sink = released.clone();
    let r = Arc::new(Registry::new(move |v: u32| {
        assert!(sink.lock().unwrap().insert(v), "{v} released twice");
    }));
    let rounds = common::rounds(3_000) as u32;
    let r2 = r.clone();
    let rel = released.clone();
    watchdog(Duration::from_secs(60), move || {
        std::thread::scope(|t| {
            for id in 0..2u32 {
                let (r, rel) = (&r2, &rel);
                t.spawn(move || {
                    for i in 0..rounds {
                        let v = id * rounds + i;
                        let k = r.insert(v, origin());
                        if let Removal::Removed(v) = r.remove(k) {
                            assert!(rel.lock().unwrap().insert(v), "{v} released twice");
                        }
                    }
                });
            }
            for _ in 0..2 {
                let (r, rel) = (&r2, &rel);
                t.spawn(move || {
                    for _ in 0..common::rounds(200) {
                        r.for_each(|lease| {
                            assert!(
                                !rel.lock().unwrap().contains(lease.value()),
                                "visited after release"
                            );
                        });
                    }
                });
            }
        });
    });
    assert!(r.is_empty());
    assert_eq!(released.lock().unwrap().len(), 2 * rounds as usize);
}

/// A deferred release that panics (on value 1) and records the others.
fn panicking_on_one() -> (Arc<Registry<u32>>, Arc<Mutex<Vec<u32>>>) {
    let released = Arc::new(Mutex::new(Vec::new()));
    let sink = released.clone();
    let registry = Registry::new(move |v| {
        if v == 1 {
            panic!("deferred release of 1 exploded");
        }
        sink.lock().unwrap().push(v);
    });
    (Arc::new(registry), released)
}

#[test]
fn a_panicking_deferred_release_ends_each_lease_once_and_the_others_still_run() {
    let (r, released) = panicking_on_one();
    let keys: Vec<_> = (0..4).map(|v| r.insert(v, origin())).collect();
    // A lease held past the pass: ending a lease twice would finish this removal early.
    let held = r.lease(keys[3]).unwrap();
    r.for_each(|lease| {
        let v = *lease.value();
        if v <= 2 {
            assert!(r.remove(keys[v as usize]).is_deferred());
        }
    });
    assert_eq!(
        *released.lock().unwrap(),
        [0, 2],
        "0 and 2 released, 1 reported"
    );
    assert_eq!(r.len(), 1);
    assert!(
        r.remove(keys[3]).is_deferred(),
        "the held lease still holds"
    );
    assert!(released.lock().unwrap().len() == 2);
    drop(held);
    assert_eq!(*released.lock().unwrap(), [0, 2, 3]);
    // The slots are free and reusable; no stale lease reaches the new entries.
    let fresh: Vec<_> = (10..14).map(|v| r.insert(v, origin())).collect();
    let mut seen = Vec::new();
    r.for_each(|lease| seen.push(*lease.value()));
    seen.sort_unstable();
    assert_eq!(seen, [10, 11, 12, 13]);
    for k in fresh {
        assert!(matches!(r.remove(k), Removal::Removed(_)));
    }
}

#[test]
fn a_panicking_deferred_release_in_a_lease_drop_while_unwinding_does_not_abort() {
    let (r, released) = panicking_on_one();
    let one = r.insert(1, origin());
    let two = r.insert(2, origin());
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _a = r.lease(one).unwrap();
        let _b = r.lease(two).unwrap();
        assert!(r.remove(one).is_deferred());
        assert!(r.remove(two).is_deferred());
        panic!("the caller panics while holding both leases");
    }));
    assert!(caught.is_err());
    assert_eq!(*released.lock().unwrap(), [2]);
    assert!(r.is_empty());
}

#[test]
fn unreleased_values_include_removed_entries_a_lease_still_holds() {
    let (r, released) = recording();
    let kept = r.insert(1, origin());
    let closing = r.insert(2, origin());
    let gone = r.insert(3, origin());
    let lease = r.lease(closing).unwrap();
    assert!(r.remove(closing).is_deferred());
    assert_eq!(r.remove(gone), Removal::Removed(3));
    let mut values = r.unreleased_values();
    values.sort_unstable();
    assert_eq!(values, [1, 2], "2 is removed but not released: still held");
    assert_eq!(r.len(), 1, "only 1 is live");
    drop(lease);
    assert_eq!(*released.lock().unwrap(), [2]);
    assert_eq!(r.unreleased_values(), [1]);
    assert_eq!(r.remove(kept), Removal::Removed(1));
    assert!(r.unreleased_values().is_empty());
}
