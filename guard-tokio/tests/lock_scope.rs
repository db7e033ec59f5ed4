//! The async lock's guards in scopes: an `OwnedMutexGuard` entered in an async scope is
//! unlocked at the scope's end, in reverse order of entry, and a waiter then gets it; a
//! cancelled scope unlocks the guard it held; a `MutexGuard` enters guard-core's sync
//! scope. Each under a watchdog: a lock never unlocked hangs, which fails.

use guard_tokio::lock::Mutex;
use guard_tokio::scope;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn on_runtime<Fut>(make: impl FnOnce() -> Fut + Send + 'static)
where
    Fut: Future<Output = ()>,
{
    guard_testkit::watchdog(LIMIT, move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(make())
    })
}

/// A resource whose release records which of `locks` are free at that moment.
struct Probe {
    name: &'static str,
    locks: Vec<Arc<Mutex<u32>>>,
    log: Arc<StdMutex<Vec<String>>>,
}

impl guard_core::Resource for Probe {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        let free: Vec<bool> = self.locks.iter().map(|m| m.try_lock().is_ok()).collect();
        self.log
            .lock()
            .unwrap()
            .push(format!("{}: free {free:?}", self.name));
        Ok(())
    }
}
impl guard_core::UniqueResource for Probe {}

#[test]
fn owned_guards_unlock_at_the_scope_end_newest_first_and_a_waiter_gets_them() {
    on_runtime(|| async {
        let (m1, m2) = (Arc::new(Mutex::new(0u32)), Arc::new(Mutex::new(0u32)));
        let log = Arc::new(StdMutex::new(Vec::new()));
        let probe = |name| Probe {
            name,
            locks: vec![m1.clone(), m2.clone()],
            log: log.clone(),
        };
        // A task that waits for m1 while the scope holds it.
        let waiter = tokio::spawn({
            let m1 = m1.clone();
            async move { *m1.lock_owned().await + 1 }
        });
        scope(async |s| {
            let _p0 = s.enter(probe("p0"));
            let mut g1 = s.enter(m1.clone().lock_owned().await);
            **g1 = 41;
            let _p1 = s.enter(probe("p1"));
            let _g2 = s.enter(m2.clone().lock_owned().await);
            let _p2 = s.enter(probe("p2"));
            tokio::task::yield_now().await; // the waiter queues on m1 meanwhile
            assert!(!waiter.is_finished());
            Ok::<_, std::convert::Infallible>(())
        })
        .await
        .unwrap();
        assert_eq!(
            *log.lock().unwrap(),
            [
                "p2: free [false, false]",
                "p1: free [false, true]",
                "p0: free [true, true]"
            ]
        );
        assert_eq!(waiter.await.unwrap(), 42); // the waiter got m1 after the scope
    });
}

#[test]
fn a_cancelled_scope_unlocks_the_guard_it_held_and_a_waiter_gets_it() {
    on_runtime(|| async {
        let m = Arc::new(Mutex::new(0u32));
        let (entered, wait_entered) = tokio::sync::oneshot::channel();
        let held = tokio::spawn({
            let m = m.clone();
            async move {
                let _ = scope(async |s| {
                    let mut g = s.enter(m.lock_owned().await);
                    **g = 7;
                    entered.send(()).unwrap();
                    std::future::pending::<()>().await; // cancelled here
                    Ok::<_, std::convert::Infallible>(())
                })
                .await;
            }
        });
        wait_entered.await.unwrap();
        assert!(m.try_lock().is_err(), "the scope holds it");
        let waiter = tokio::spawn({
            let m = m.clone();
            async move { *m.lock_owned().await }
        });
        tokio::task::yield_now().await;
        held.abort(); // drops the scope's future mid-body
        assert!(held.await.unwrap_err().is_cancelled());
        assert_eq!(waiter.await.unwrap(), 7);
        assert!(m.try_lock().is_ok());
    });
}

#[test]
fn a_mutex_guard_enters_guard_cores_sync_scope_and_is_unlocked_at_its_end() {
    on_runtime(|| async {
        let m = Mutex::new(1u32);
        let held = m.lock().await;
        let n = guard_core::scope(|s| {
            let mut g = s.enter(held);
            **g += 1;
            assert!(m.try_lock().is_err(), "held inside the scope");
            Ok::<_, std::convert::Infallible>(**g)
        })
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(*m.try_lock().expect("unlocked at the scope's end"), 2);
    });
}
