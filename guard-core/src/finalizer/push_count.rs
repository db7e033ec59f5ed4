//! The count of jobs handed to the finalizer, kept per thread: each thread owns a counter
//! that only it writes (a plain load and store, no atomic read-modify-write), and readers
//! (`stats`) sum them under a lock. It keeps an atomic read-modify-write off the dropping
//! thread: see `counted/last_drop/guard_counted` in `benches/counted.rs`. Each counter sits
//! on lines of its own, so that a heap neighbour another thread writes does not share them.
//!
//! Every `CHECK_EVERY` pushes a thread also publishes them into one shared count, whose
//! value is the ticket the bound on pending releases admits (`bound.rs`); a thread
//! publishes the rest when it exits.
//!
//! A statistic, not part of the queue protocol: it uses std atomics under both backends.

use super::bound::CHECK_EVERY;
use crate::loom::{StdArc, StdAtomicU64, StdMutex, StdOrdering};
use crate::padded::CachePadded;

/// Counters of live threads, plus what exited threads had counted.
struct Threads {
    live: Vec<StdArc<CachePadded<StdAtomicU64>>>,
    retired: u64,
}

static THREADS: StdMutex<Threads> = StdMutex::new(Threads {
    live: Vec::new(),
    retired: 0,
});

/// Pushes counted where a thread's own counter is unavailable (its thread-locals are being
/// destroyed, e.g. a handle dropped by another thread-local's destructor).
static FALLBACK: StdAtomicU64 = StdAtomicU64::new(0);

/// Pushes published for the bound: each thread's in chunks of `CHECK_EVERY`, the rest when
/// it exits, fallback pushes one by one. At most `CHECK_EVERY - 1` per live thread behind
/// the total.
static PUBLISHED: StdAtomicU64 = StdAtomicU64::new(0);

struct Own(StdArc<CachePadded<StdAtomicU64>>);

impl Own {
    fn register() -> Own {
        let counter = StdArc::new(CachePadded(StdAtomicU64::new(0)));
        lock().live.push(counter.clone());
        Own(counter)
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        let mut threads = lock();
        let own = self.0.load(StdOrdering::Relaxed);
        PUBLISHED.fetch_add(own % CHECK_EVERY, StdOrdering::Relaxed);
        threads.retired += own;
        threads.live.retain(|c| !StdArc::ptr_eq(c, &self.0));
    }
}

thread_local! {
    static OWN: Own = Own::register();
}

fn lock() -> std::sync::MutexGuard<'static, Threads> {
    THREADS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The per-thread counters, locked across a `fork` (see `crate::fork`).
pub(crate) struct ForkHeld(std::sync::MutexGuard<'static, Threads>);

/// Takes the counters' lock for a `fork`: no thread is registering or retiring a counter
/// when the process is copied.
pub(crate) fn lock_for_fork() -> ForkHeld {
    ForkHeld(lock())
}

impl ForkHeld {
    /// In a forked child: the child counts its own pushes, from zero (the parent's threads'
    /// counters stay listed, at zero; only this thread's is written again).
    pub(crate) fn zero(&mut self) {
        self.0.retired = 0;
        for c in &self.0.live {
            c.store(0, StdOrdering::Relaxed);
        }
        FALLBACK.store(0, StdOrdering::Relaxed);
        // The bound's tickets start again from zero, as the child's finished count does.
        PUBLISHED.store(0, StdOrdering::Relaxed);
    }
}

/// Counts one push by the calling thread. Every `CHECK_EVERY`th push of a thread (and
/// every fallback push) also publishes, and returns its ticket for the bound: the pushes
/// published so far, its own included.
#[inline]
pub(crate) fn add_one() -> Option<u64> {
    let counted = OWN.try_with(|own| {
        // Only this thread writes its counter: load + store, no locked instruction.
        let n = own.0.load(StdOrdering::Relaxed) + 1;
        own.0.store(n, StdOrdering::Relaxed);
        n % CHECK_EVERY == 0
    });
    match counted {
        Ok(false) => None,
        Ok(true) => Some(publish(CHECK_EVERY)),
        Err(_) => {
            FALLBACK.fetch_add(1, StdOrdering::Relaxed);
            Some(publish(1))
        }
    }
}

#[cold]
fn publish(pushes: u64) -> u64 {
    PUBLISHED.fetch_add(pushes, StdOrdering::Relaxed) + pushes
}

/// The total so far. Every push that happened before an operation this thread has
/// synchronised with (e.g. an acquire load of a count of finished jobs) is included.
pub(crate) fn total() -> u64 {
    let threads = lock();
    let live: u64 = threads
        .live
        .iter()
        .map(|c| c.load(StdOrdering::Relaxed))
        .sum();
    threads.retired + live + FALLBACK.load(StdOrdering::Relaxed)
}
