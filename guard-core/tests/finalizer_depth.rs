//! F5: the queue's depth and high-water mark are observable, and every enqueued release
//! ends as exactly one outcome. (Own test binary, so the counters are this test's alone.)

mod common;

use common::{Log, Probe, watchdog};
use guard_core::{Counted, CountedResource, Resource, finalizer};
use std::sync::mpsc;
use std::time::Duration;

struct Gate(mpsc::Receiver<()>);

impl Resource for Gate {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        // Only a backstop against a hang: if the test fails, `open` is dropped and this
        // returns at once. Opening on its own before the test opens it would fail the test.
        let _ = self.0.recv_timeout(Duration::from_secs(60));
        Ok(())
    }
}
impl CountedResource for Gate {}

#[test]
fn depth_and_high_water_follow_the_queue_and_outcomes_balance() {
    // The gate holds one release on purpose while 300 more queue up behind it; under
    // valgrind on a loaded machine that takes from 0.2 s to over 2 s. Past the stuck
    // deadline (default 1 s) the watchdog would hand the queue to a fresh worker, which
    // drains it, and the depth checks below fail. This test is not about stuck releases
    // (finalizer_stuck.rs is): a deadline far above the gate's own timeout.
    finalizer::set_stuck_deadline(Duration::from_secs(120));
    let log = Log::default();
    let before = finalizer::stats();
    let (open, gate) = mpsc::channel();
    drop(Counted::new(Gate(gate)));
    // Wait until the worker is inside the gate's release, so the rest queues up.
    watchdog(Duration::from_secs(10), || {
        while finalizer::stats().pending > 0 && finalizer::stats().high_water == 0 {
            std::thread::yield_now();
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    for i in 0..300 {
        let probe = if i % 3 == 0 {
            Probe::failing("f", &log)
        } else {
            Probe::new("ok", &log)
        };
        drop(Counted::new(probe));
    }
    let blocked = finalizer::stats();
    assert!(
        blocked.pending >= 300,
        "300 waiting behind the gate: {blocked:?}"
    );
    open.send(()).unwrap();
    guard_core::event::set_hook(|_| {});
    watchdog(Duration::from_secs(20), finalizer::flush).unwrap();
    guard_core::event::reset_hook();
    let after = finalizer::stats();
    assert_eq!(after.pending, 0);
    assert_eq!(after.enqueued - before.enqueued, 301);
    assert_eq!(after.released - before.released, 201);
    assert_eq!(after.failed - before.failed, 100);
    assert!(
        after.high_water >= 300,
        "the batch behind the gate was seen: {after:?}"
    );
}
