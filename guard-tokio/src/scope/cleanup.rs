//! Where the releases of a cancelled scope go: a cleanup task on the current runtime, or,
//! with none to take them, the dropping thread, which runs them to the end before the drop
//! returns.

use super::releases::Releases;
use guard_core::event::{self, Event};
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

impl Drop for Releases {
    /// Dropped before they all ran (the scope's future was dropped): what was collected
    /// goes to the hook, and the rest to [`hand_off`]. Nothing is skipped or dropped.
    fn drop(&mut self) {
        self.take_ended().report_lost();
        if self.pending() > 0 {
            hand_off(self.take_rest());
        }
    }
}

/// Runs `rest` (releases whose outcomes go to the hook) to the end, elsewhere: spawned on
/// the current runtime the first time; on the dropping thread if there is no runtime, or
/// if the cleanup task itself was dropped unfinished (a runtime shutting down drops its
/// tasks). Reports [`Event::ScopeCancelled`] first.
pub(super) fn hand_off(mut rest: Releases) {
    let pending = rest.pending();
    let runtime = match rest.handed_off {
        false => tokio::runtime::Handle::try_current().ok(),
        true => None,
    };
    event::emit(&Event::ScopeCancelled {
        pending,
        cleanup_task: runtime.is_some(),
    });
    rest.handed_off = true;
    match runtime {
        // A runtime that is shutting down drops the task at once: `rest` is dropped with
        // it, unfinished, and comes back here with `handed_off` set.
        Some(runtime) => drop(runtime.spawn(async move { rest.run().await })),
        None => run_here(rest),
    }
}

/// Runs `rest` to the end before returning, on a thread of its own with a current-thread
/// runtime (so that tokio's timers and I/O work in a release, and so that this thread,
/// which may be a runtime's worker, starts no runtime inside another).
fn run_here(rest: Releases) {
    // Shared with the thread, so that a thread that cannot be spawned leaves it here.
    let shared = Arc::new(Mutex::new(Some(rest)));
    let theirs = Arc::clone(&shared);
    let cleanup = std::thread::Builder::new()
        .name("guard-scope-cleanup".to_owned())
        .spawn(move || {
            let rest = theirs.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(rest) = rest {
                run_on_own_runtime(rest);
            }
        });
    if let Ok(thread) = cleanup {
        // Panics are caught inside each release and in the hook: the thread returns.
        let _ = thread.join();
    }
    // No thread to be had: this thread polls the releases itself (with no runtime, a
    // release that needs tokio's timers or I/O panics, which is caught and reported).
    let rest = shared.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(rest) = rest {
        block_on(run_all(rest));
    }
}

async fn run_all(mut rest: Releases) {
    rest.run().await;
}

fn run_on_own_runtime(rest: Releases) {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run_all(rest)),
        Err(_) => block_on(run_all(rest)),
    }
}

/// Polls `future` to its end on this thread, parking between polls.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}
