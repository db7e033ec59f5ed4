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
use std::task::{Context, Waker};

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
