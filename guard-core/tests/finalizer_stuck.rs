//! F3: a release that blocks past the deadline is reported as stuck, with its type name,
//! and a fresh worker releases the rest of the queue; `flush` reports the stuck release
//! instead of hanging. (Own test binary: the deadline and hook are process-wide.)

mod common;

use common::{Log, Probe, watchdog};
use guard_core::event::{self, Event};
use guard_core::{Counted, CountedResource, FlushError, Resource, finalizer};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Blocks its release until told to go (or 30 s pass).
struct Blocker {
    go: mpsc::Receiver<()>,
    log: Log,
}

impl Resource for Blocker {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        self.log.push("blocker started");
        let _ = self.go.recv_timeout(Duration::from_secs(30));
        self.log.push("blocker done");
        Ok(())
    }
}
impl CountedResource for Blocker {}

#[test]
fn a_stuck_release_is_reported_and_a_fresh_worker_takes_over() {
    finalizer::set_stuck_deadline(Duration::from_millis(200));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    event::set_hook(move |e: &Event<'_>| sink.lock().unwrap().push(e.to_string()));

    let log = Log::default();
    let (go, wait) = mpsc::channel();
    drop(Counted::new(Blocker {
        go: wait,
        log: log.clone(),
    }));
    for _ in 0..50 {
        drop(Counted::new(Probe::new("queued behind", &log)));
    }
    // Everything except the blocker gets released; flush says one is stuck.
    let flushed = watchdog(Duration::from_secs(20), finalizer::flush);
    assert_eq!(flushed, Err(FlushError::Stuck { stuck: 1 }));
    assert_eq!(log.count("queued behind"), 50);
    assert_eq!(log.count("blocker done"), 0);
    assert_eq!(finalizer::stats().stuck, 1);
    // The stuck event is delivered from a thread of its own (the hook must not block the
    // watchdog): give it a moment.
    let seen2 = seen.clone();
    let stuck_lines: Vec<String> = watchdog(Duration::from_secs(10), move || {
        loop {
            let lines: Vec<String> = seen2
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains("stuck"))
                .cloned()
                .collect();
            if !lines.is_empty() {
                break lines;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    assert_eq!(stuck_lines.len(), 1, "{stuck_lines:?}");
    assert!(stuck_lines[0].contains("Blocker"), "{}", stuck_lines[0]);

    // The replacement worker keeps serving the queue.
    drop(Counted::new(Probe::new("later", &log)));
    assert_eq!(
        watchdog(Duration::from_secs(20), finalizer::flush),
        Err(FlushError::Stuck { stuck: 1 })
    );
    assert_eq!(log.count("later"), 1);

    // flush_timeout does not wait for a stuck release (it answers at once); flush_all_timeout
    // does, until its timeout.
    let started = std::time::Instant::now();
    let prompt = watchdog(Duration::from_secs(20), || {
        finalizer::flush_timeout(Duration::from_secs(10))
    });
    assert_eq!(prompt, Err(FlushError::Stuck { stuck: 1 }));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "flush_timeout waited for the stuck one"
    );
    let short = watchdog(Duration::from_secs(20), || {
        finalizer::flush_all_timeout(Duration::from_millis(50))
    });
    assert_eq!(short, Err(FlushError::Stuck { stuck: 1 }));
    // The stuck release finishes on its own thread; flush_all_timeout sees it through.
    go.send(()).unwrap();
    let waited = watchdog(Duration::from_secs(20), || {
        finalizer::flush_all_timeout(Duration::from_secs(10))
    });
    assert_eq!(waited, Ok(()));
    assert_eq!(log.count("blocker done"), 1);
    assert_eq!(watchdog(Duration::from_secs(20), finalizer::flush), Ok(()));
    let s = finalizer::stats();
    assert_eq!(s.pending, 0);
    assert_eq!(s.enqueued, s.released + s.failed + s.panicked);
    event::reset_hook();
}
