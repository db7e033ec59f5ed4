//! The worker: the `guard-finalizer` thread that takes batches from the queue and works
//! them through its [`Shift`](super::shift::Shift).

use super::batch::Batch;
use super::global::Finalizer;
use super::shift::ShiftEnd;
use crate::loom::{StdArc, StdMutex};
use std::cell::Cell;
use std::time::Duration;

/// How long an idle worker sleeps before checking in (it is woken on demand; the timeout
/// only bounds the cost of a missed wake, which the protocol excludes).
const IDLE_SLEEP: Duration = Duration::from_secs(5);

/// How long `linger` watches: a few microseconds of spinning, then a few yields.
///
/// A linger is CPU the worker burns after every batch, so it is kept short: longer
/// (2,000 spins and 100 yields were tried) steadies `counted/last_drop` under a bench's
/// steady stream (3.4-4.2 ns against 4-9 ns) but costs an isolated drop 60-130 us of CPU
/// instead of 30-70 (`cargo run --release --example trickle_cpu`; std's inline close of the
/// same file: 15-23 us, all of it the loop's own open, close and sleep). Types whose release
/// takes no lock (guard-os's fds) no longer pay it: an isolated drop finds its lane drained
/// and releases inline (`inline.rs`), at std's cost; other types still do.
const LINGER_SPINS: u32 = 200;
const LINGER_ROUNDS: u32 = LINGER_SPINS + 20;

thread_local! {
    /// True on finalizer worker threads (so `flush` can refuse to wait for itself).
    static IN_FINALIZER: Cell<bool> = const { Cell::new(false) };
}

/// True if the calling thread is a finalizer worker. False if the thread-local is gone
/// (the thread is exiting), which no worker ever is while running a release.
pub(crate) fn on_finalizer_thread() -> bool {
    IN_FINALIZER.try_with(Cell::get).unwrap_or(false)
}

/// Spawns a worker, first running `rest` (a batch taken from a stuck worker) if given.
/// `seq` continues the sequence numbers so a number is never reused. If the thread cannot
/// be spawned, `rest` comes back with the error, unrun, for the caller to try again.
pub(crate) fn spawn_worker(
    f: &'static Finalizer,
    rest: Option<Batch>,
    seq: u64,
) -> Result<(), (std::io::Error, Option<Batch>)> {
    // The batch goes through a slot rather than the closure: a failed spawn drops its
    // closure, and the batch must survive that.
    let slot = StdArc::new(StdMutex::new(rest));
    let theirs = StdArc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name("guard-finalizer".into())
        .spawn(move || {
            let rest = theirs.lock().unwrap_or_else(|e| e.into_inner()).take();
            drop(theirs);
            run_worker(f, rest, seq);
        });
    match spawned {
        Ok(_) => Ok(()),
        Err(error) => Err((error, slot.lock().unwrap_or_else(|e| e.into_inner()).take())),
    }
}

/// Before sleeping, watches the queue for a short while (spinning, then yielding): under a
/// steady stream of drops the next job arrives within microseconds, and sleeping between
/// jobs would make each producer pay a futex wake. True if work arrived.
fn linger(f: &Finalizer) -> bool {
    for round in 0..LINGER_ROUNDS {
        if f.queue.has_work() {
            return true;
        }
        if round < LINGER_SPINS {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    false
}

fn run_worker(f: &'static Finalizer, rest: Option<Batch>, mut seq: u64) {
    IN_FINALIZER.with(|flag| flag.set(true));
    let record = |vtable, outcome| f.counters.record(vtable, outcome);
    if let Some(rest) = rest
        && f.shift.work(rest, &mut seq, record) == ShiftEnd::Abandoned
    {
        return f.counters.finish_stuck();
    }
    loop {
        let batch = f.queue.take_all();
        if batch.is_empty() {
            if !linger(f) {
                f.queue.sleep(IDLE_SLEEP);
            }
            continue;
        }
        f.counters.note_depth(batch.len());
        if f.shift.work(batch, &mut seq, record) == ShiftEnd::Abandoned {
            return f.counters.finish_stuck();
        }
    }
}
