//! The async scope's slots, without a runtime (polled by hand), so that Miri can check
//! the unsafe code behind guards: reads and writes through guards across await points,
//! guards taken out in any order, forgotten guards, and a body's future dropped with
//! values that read a guard in their own `Drop` (they must run before the scope drains).
//! Each under a watchdog.

mod scope_kit;

use guard_tokio::scope;
use guard_tokio::scope::Guard;
use scope_kit::{End, Log, Step, YieldOnce, poll_n, poll_to_end};
use std::pin::pin;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

fn released(log: &Log) -> Vec<String> {
    log.get()
        .into_iter()
        .filter(|l| l.starts_with("released"))
        .collect()
}

#[test]
fn guards_read_and_write_across_awaits_and_leave_in_any_order() {
    guard_testkit::watchdog(LIMIT, || {
        let log = Log::default();
        let l = log.clone();
        let future = scope(async move |s| {
            let mut guards: Vec<Guard<'_, Step>> = ["a", "b", "c", "d", "e"]
                .into_iter()
                .map(|n| s.enter(Step::new(n, &l, 1, End::Ok)))
                .collect();
            YieldOnce::default().await;
            guards[2].name = "C";
            let c = guards.remove(2).into_inner();
            assert_eq!(c.name, "C");
            YieldOnce::default().await;
            let b = guards.remove(1);
            b.release().await.unwrap();
            let last = guards.pop().unwrap();
            #[allow(clippy::forget_non_drop)]
            std::mem::forget(last);
            assert_eq!(
                guards.iter().map(|g| g.name).collect::<Vec<_>>(),
                ["a", "d"]
            );
            Ok::<_, std::io::Error>(())
        });
        poll_to_end(pin!(future)).0.unwrap();
        // The body's end drops the vector (a, then d: a vector drops in index order), then
        // the scope releases the forgotten e.
        assert_eq!(
            released(&log),
            ["released b", "released a", "released d", "released e"]
        );
    });
}

/// Reads its guard when dropped.
struct Peek<'a, 'g>(&'a Guard<'g, Step>, Log);

impl Drop for Peek<'_, '_> {
    fn drop(&mut self) {
        self.1.push(format!("peeked {}", self.0.name));
    }
}

#[test]
fn a_body_dropped_mid_way_drops_its_values_before_the_scope_releases() {
    guard_testkit::watchdog(LIMIT, || {
        for k in 1..3 {
            let log = Log::default();
            let l = log.clone();
            {
                let mut future = pin!(scope(async move |s| {
                    let a = s.enter(Step::new("a", &l, 0, End::Ok));
                    let _peek = Peek(&a, l.clone());
                    YieldOnce::default().await;
                    YieldOnce::default().await;
                    Ok::<_, std::io::Error>(())
                }));
                assert!(poll_n(future.as_mut(), k).is_none());
            }
            assert_eq!(log.get(), ["entered a", "peeked a", "released a"]);
        }
    });
}
