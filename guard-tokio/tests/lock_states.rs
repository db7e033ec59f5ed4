//! The lock's hand-over states, driven by hand: each acquisition is polled explicitly with a
//! waker that counts its wakes, so who is woken, who gets the lock and when is exact.

use guard_testkit::watchdog;
use guard_tokio::lock::{Lock, Mutex, MutexGuard};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// An acquisition polled by hand, with its own counting waker.
struct Waiter<'a> {
    lock: Pin<Box<Lock<'a, u32>>>,
    wakes: Arc<Count>,
}

impl<'a> Waiter<'a> {
    fn new(m: &'a Mutex<u32>) -> Self {
        let m: &'a Mutex<u32> = m;
        m.set_patience(Duration::from_secs(3600));
        // No reservation or wake lapses behind a test's back when its thread is descheduled
        // between two steps (a loaded CI machine): the tests of the lapse shorten it.
        m.set_reservation_grace(Duration::from_secs(3600));
        Waiter {
            lock: Box::pin(m.lock()),
            wakes: Arc::default(),
        }
    }

    fn poll(&mut self) -> Option<MutexGuard<'a, u32>> {
        let waker = Waker::from(self.wakes.clone());
        match self.lock.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(g) => Some(g),
            Poll::Pending => None,
        }
    }

    fn wakes(&self) -> usize {
        self.wakes.0.load(Ordering::SeqCst)
    }
}

#[test]
fn a_release_wakes_one_waiter_and_grants_it_nothing() {
    watchdog(LIMIT, || {
        let m = Mutex::new(0);
        let held = m.try_lock().expect("free");
        let (mut a, mut b) = (Waiter::new(&m), Waiter::new(&m));
        assert!(a.poll().is_none() && b.poll().is_none());
        drop(held);
        assert_eq!(
            (a.wakes(), b.wakes()),
            (1, 0),
            "one wake, to the first waiter"
        );
        // a is not polled; b is, and takes the lock: whoever polls first wins.
        let got = b.poll().expect("b takes the free lock");
        assert!(a.poll().is_none(), "a lost to b, which was polled first");
        drop(got);
        assert_eq!(a.wakes(), 2, "b's release woke a again");
        assert!(a.poll().is_some());
    });
}

#[test]
fn a_woken_waiter_dropped_unpolled_passes_its_wake_on() {
    watchdog(LIMIT, || {
        let m = Mutex::new(0);
        let held = m.try_lock().expect("free");
        let (mut a, mut b) = (Waiter::new(&m), Waiter::new(&m));
        assert!(a.poll().is_none() && b.poll().is_none());
        drop(held);
        assert_eq!((a.wakes(), b.wakes()), (1, 0));
        drop(a);
        assert_eq!(b.wakes(), 1, "a's wake went to b");
        assert!(b.poll().is_some());
    });
}

#[test]
fn a_waiter_dropped_unwoken_wakes_nobody() {
    watchdog(LIMIT, || {
        let m = Mutex::new(0);
        let held = m.try_lock().expect("free");
        let (mut a, mut b) = (Waiter::new(&m), Waiter::new(&m));
        assert!(a.poll().is_none() && b.poll().is_none());
        drop(b);
        assert_eq!(a.wakes(), 0);
        drop(held);
        assert_eq!(a.wakes(), 1);
        assert!(a.poll().is_some());
    });
}

#[test]
fn a_polled_waiter_wins_within_four_lost_wakes() {
    watchdog(LIMIT, || {
        let m = Mutex::new(0);
        let mut held = Some(m.try_lock().expect("free"));
        let mut a = Waiter::new(&m);
        assert!(a.poll().is_none());
        let mut rounds = 0;
        loop {
            rounds += 1;
            assert!(rounds <= 5, "a starved: lost {rounds} polls in a row");
            drop(held.take());
            // A barging acquisition is polled before a, every time it can.
            match m.try_lock() {
                Ok(barger) => {
                    assert!(a.poll().is_none());
                    held = Some(barger);
                }
                Err(_) => {
                    assert!(a.poll().is_some(), "the release was reserved for a");
                    break;
                }
            }
        }
        assert_eq!(rounds, 5, "four lost wakes, then the reservation");
    });
}

#[test]
fn a_reservation_not_taken_within_its_grace_lapses() {
    watchdog(LIMIT, || {
        let m = Mutex::new(0);
        let mut a = Waiter::new(&m);
        let mut held = m.try_lock().expect("free");
        assert!(a.poll().is_none());
        for _ in 0..4 {
            drop(held);
            held = m
                .try_lock()
                .expect("barging is allowed before the reservation");
            assert!(a.poll().is_none());
        }
        drop(held);
        assert!(m.try_lock().is_err(), "reserved for a");
        // a is not polled (a `select!` moved on): the reservation lapses after its grace.
        m.set_reservation_grace(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        let other = m
            .try_lock()
            .expect("the lapsed reservation holds nobody up");
        assert!(a.poll().is_none());
        drop(other);
        assert!(a.poll().is_some());
    });
}

#[test]
fn a_reserved_waiter_dropped_unpolled_passes_the_release_on() {
    watchdog(LIMIT, || {
        let m = Mutex::new(0);
        let mut held = m.try_lock().expect("free");
        let (mut a, mut b) = (Waiter::new(&m), Waiter::new(&m));
        assert!(a.poll().is_none() && b.poll().is_none());
        for _ in 0..4 {
            drop(held);
            held = m.try_lock().expect("barging");
            assert!(a.poll().is_none());
        }
        drop(held);
        assert_eq!(
            b.wakes(),
            1,
            "a reserved release also wakes the next waiter"
        );
        drop(a);
        assert!(b.poll().is_some(), "a's reservation left with it");
    });
}

#[test]
fn under_a_barger_that_always_polls_first_every_waiter_wins_within_a_bound() {
    const WAITERS: usize = 8;
    watchdog(LIMIT, || {
        let m = Mutex::new(0);
        let mut held = m.try_lock().ok();
        let mut waiters: Vec<Option<Waiter<'_>>> =
            (0..WAITERS).map(|_| Some(Waiter::new(&m))).collect();
        for w in waiters.iter_mut().flatten() {
            assert!(w.poll().is_none());
        }
        let mut rounds = 0;
        while waiters.iter().any(Option::is_some) {
            rounds += 1;
            // Each waiter may lose four wakes, then wins the release it reserved.
            assert!(
                rounds <= WAITERS * 6,
                "a waiter starved: {rounds} rounds, {} still waiting",
                waiters.iter().flatten().count()
            );
            drop(held.take());
            held = m.try_lock().ok(); // the barger, polled before any waiter
            for slot in &mut waiters {
                if let Some(w) = slot
                    && let Some(g) = w.poll()
                {
                    assert!(held.is_none(), "two holders");
                    held = Some(g);
                    *slot = None;
                }
            }
        }
        drop(held);
        assert_eq!(*m.try_lock().expect("free"), 0);
    });
}

#[test]
fn a_holder_that_takes_the_lock_back_at_once_wakes_one_waiter_not_each_in_turn() {
    watchdog(LIMIT, || {
        let m = Mutex::new(0);
        let mut held = m.try_lock().expect("free");
        let mut waiters: Vec<Waiter<'_>> = (0..3).map(|_| Waiter::new(&m)).collect();
        for w in &mut waiters {
            assert!(w.poll().is_none());
        }
        // The holder releases and takes the lock back (as a task looping on it does, before
        // any woken waiter can run): the first release's wake is still to come, so the next
        // releases wake nobody.
        for _ in 0..20 {
            drop(held);
            held = m.try_lock().expect("barging is allowed");
        }
        let wakes: Vec<usize> = waiters.iter().map(Waiter::wakes).collect();
        assert_eq!(wakes, [1, 0, 0], "one outstanding wake at a time");
        // The woken waiter comes, loses, and the next release wakes it again.
        assert!(waiters[0].poll().is_none());
        drop(held);
        let wakes: Vec<usize> = waiters.iter().map(Waiter::wakes).collect();
        assert_eq!(wakes, [2, 0, 0]);
        for w in &mut waiters {
            drop(w.poll().expect("the lock is free"));
        }
    });
}

#[test]
fn a_woken_waiter_that_does_not_come_within_the_grace_no_longer_holds_the_others_up() {
    fn cycle<'a>(m: &'a Mutex<u32>, held: &mut Option<MutexGuard<'a, u32>>, n: usize) {
        for _ in 0..n {
            drop(held.take());
            *held = Some(m.try_lock().expect("barging is allowed"));
        }
    }
    watchdog(LIMIT, || {
        let m = Mutex::new(0);
        let mut held = Some(m.try_lock().expect("free"));
        let (mut a, mut b) = (Waiter::new(&m), Waiter::new(&m));
        assert!(a.poll().is_none() && b.poll().is_none());
        // a is woken and never comes (the `select!` branch that holds it moved on), while
        // others keep taking the lock: now and then an unlock checks how old the wake is.
        cycle(&m, &mut held, 1);
        assert_eq!((a.wakes(), b.wakes()), (1, 0));
        cycle(&m, &mut held, 100);
        assert_eq!(
            b.wakes(),
            0,
            "a's wake stands until the grace is seen to pass"
        );
        m.set_reservation_grace(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        cycle(&m, &mut held, 200);
        assert_eq!(b.wakes(), 1, "past the grace, b is woken too");
        drop(held);
        assert!(b.poll().is_some(), "b takes the free lock");
        drop(a);
    });
}
