//! Flush markers: queue jobs that release nothing and signal a waiter when the finalizer
//! reaches them. Jobs run in push order, so reaching a marker means every job pushed before
//! it has run (or was declared stuck).

use super::job::{Job, Node, RunOutcome, VTable};
use super::queue::Queue;
use crate::loom::{Arc, Condvar, Mutex};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

/// The waiter's side of a flush marker.
pub(crate) struct Signal {
    reached: Mutex<bool>,
    cv: Condvar,
}

impl Signal {
    /// Waits until the marker is reached or `deadline` passes; true if reached.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let mut reached = self.reached.lock();
        while !*reached {
            match deadline {
                None => self.cv.wait(&mut reached),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left == Duration::ZERO {
                        return false;
                    }
                    let _ = self.cv.wait_for(&mut reached, left);
                }
            }
        }
        true
    }
}

#[repr(C)]
struct Marker {
    node: Node,
    signal: Arc<Signal>,
}

static MARKER_VTABLE: VTable = VTable {
    run: run_marker,
    type_name: || "flush marker",
    is_marker: true,
};

unsafe fn run_marker(node: NonNull<Node>) -> RunOutcome {
    // SAFETY: `node` heads a `Marker` leaked by `push_marker` (the vtable says so).
    let marker = unsafe { Box::from_raw(node.cast::<Marker>().as_ptr()) };
    *marker.signal.reached.lock() = true;
    marker.signal.cv.notify_all();
    RunOutcome::Marker
}

/// Pushes a flush marker and returns the signal it will raise.
pub(crate) fn push_marker(queue: &Queue) -> Arc<Signal> {
    let signal = Arc::new(Signal {
        reached: Mutex::new(false),
        cv: Condvar::new(),
    });
    let marker = Box::new(Marker {
        node: Node::new(&MARKER_VTABLE),
        signal: signal.clone(),
    });
    let node = NonNull::from(Box::leak(marker)).cast::<Node>();
    // SAFETY: a fresh, owned, unlinked node heading a `Marker`, matching its vtable; a
    // marker holds only an `Arc<Signal>` (mutex and condvar), which is `Send`.
    queue.push_shared(unsafe { Job::from_raw(node) });
    signal
}
