//! A hook that blocks while reporting a finished release is reported as the hook, not as
//! the release (issue 13, bullet 5). (Own test binary: the deadline and hook are
//! process-wide.)

mod common;

use common::watchdog;
use guard_core::event::{self, Event};
use guard_core::{Counted, CountedResource, Resource, finalizer};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Releases at once, with an error.
struct Fails;

impl Resource for Fails {
    type Error = std::io::Error;
    fn release(self) -> Result<(), Self::Error> {
        Err(std::io::Error::other("EIO"))
    }
}
impl CountedResource for Fails {}

#[test]
fn a_blocked_hook_is_blamed_not_the_release() {
    finalizer::set_stuck_deadline(Duration::from_millis(200));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (go, wait) = mpsc::channel::<()>();
    let wait = Mutex::new(wait);
    let sink = seen.clone();
    event::set_hook(move |e: &Event<'_>| {
        if let Event::ReleaseFailed { .. } = e {
            // The hook blocks (a full pipe, a lock): the release itself returned long ago.
            let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(30));
        } else {
            sink.lock().unwrap().push(e.to_string());
        }
    });
    drop(Counted::new(Fails));
    let seen2 = seen.clone();
    let line = watchdog(Duration::from_secs(20), move || {
        loop {
            if let Some(line) = seen2.lock().unwrap().first() {
                return line.clone();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    go.send(()).unwrap();
    assert!(line.contains("hook"), "{line}");
    assert!(line.contains("Fails"), "{line}");
    assert!(!line.starts_with("finalizer stuck"), "{line}");
}
