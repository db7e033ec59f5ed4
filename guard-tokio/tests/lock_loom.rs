//! Loom models of the async lock's wake protocol: every interleaving of a release with a
//! waiter registering, retrying, or leaving. A lost wake is a loom deadlock (the waiter's
//! `block_on` parks forever).
//!
//! `RUSTFLAGS="--cfg guard_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p guard-tokio --release --test lock_loom`
#![cfg(guard_loom)]

use guard_tokio::lock::Mutex;
use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

#[test]
fn a_release_racing_a_registration_loses_no_wake() {
    loom::model(|| {
        let m = Arc::new(Mutex::new(0));
        let held = m.try_lock().expect("free");
        let waiter = {
            let m = m.clone();
            thread::spawn(move || *block_on(m.lock()) += 1)
        };
        drop(held);
        waiter.join().expect("the waiter");
        assert_eq!(*m.try_lock().expect("free"), 1);
    });
}

#[test]
fn two_waiters_both_get_the_lock_once() {
    loom::model(|| {
        let m = Arc::new(Mutex::new(0));
        let held = m.try_lock().expect("free");
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                thread::spawn(move || *block_on(m.lock()) += 1)
            })
            .collect();
        drop(held);
        for w in waiters {
            w.join().expect("a waiter");
        }
        assert_eq!(*m.try_lock().expect("free"), 2);
    });
}

#[test]
fn a_waiter_leaving_while_the_lock_is_released_passes_the_wake_on() {
    loom::model(|| {
        let m = Arc::new(Mutex::new(0));
        let held = m.try_lock().expect("free");
        let leaver = {
            let m = m.clone();
            thread::spawn(move || {
                // Registers (unless the lock is already free), then is dropped unpolled,
                // perhaps after the release woke it.
                let mut lock = pin!(m.lock());
                let polled = lock.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                drop(polled);
            })
        };
        let waiter = {
            let m = m.clone();
            thread::spawn(move || *block_on(m.lock()) += 1)
        };
        drop(held);
        leaver.join().expect("the leaver");
        waiter.join().expect("the waiter");
        assert_eq!(*m.try_lock().expect("free"), 1);
    });
}

#[test]
fn a_woken_waiter_losing_to_a_barger_is_woken_again() {
    // The waiter clears `WOKEN` without the queue's lock when it finds the lock taken; the
    // barger's unlock must then see it cleared and wake it.
    loom::model(|| {
        let m = Arc::new(Mutex::new(0));
        let held = m.try_lock().expect("free");
        let waiter = {
            let m = m.clone();
            thread::spawn(move || *block_on(m.lock()) += 1)
        };
        let barger = {
            let m = m.clone();
            thread::spawn(move || {
                if let Ok(mut g) = m.try_lock() {
                    *g += 10;
                }
            })
        };
        drop(held);
        barger.join().expect("the barger");
        waiter.join().expect("the waiter");
        let total = *m.try_lock().expect("free");
        assert!(total == 1 || total == 11, "{total}");
    });
}

#[test]
fn a_waiter_that_was_not_woken_finds_its_wake_later() {
    // One release wakes one waiter; the other, polled without a wake of its own (a
    // spurious poll) returns without the queue's lock, and the first one's release wakes it.
    loom::model(|| {
        let m = Arc::new(Mutex::new(0));
        let held = m.try_lock().expect("free");
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                thread::spawn(move || {
                    let mut lock = pin!(m.lock());
                    // A spurious poll first, then wait properly.
                    if let Poll::Ready(mut g) =
                        lock.as_mut().poll(&mut Context::from_waker(Waker::noop()))
                    {
                        *g += 1;
                        return;
                    }
                    *block_on(lock) += 1;
                })
            })
            .collect();
        drop(held);
        for w in waiters {
            w.join().expect("a waiter");
        }
        assert_eq!(*m.try_lock().expect("free"), 2);
    });
}
