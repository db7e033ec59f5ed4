//! Scenario 4 (seed 003, Slatkin): lost updates. `count += 1` is a load, an add and a store;
//! threads interleaved between the load and the store overwrite each other's increments.
//! The same counter as a guarded resource: the handle shared by the threads is counted, each
//! increment holds a unique acquisition entered in a scope, and no increment is lost.

use crate::common::{Result, Verdict, Watchdog};
use guard::{Counted, Resource};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The scenario's title in the tour.
pub const TITLE: &str = "counter: lost updates without a lock";

/// What the scenario shows, in three lines.
pub const ABOUT: &[&str] = &[
    "Slatkin's sensor counter: 5 threads each add 1, 100 000 times. A load then a store",
    "loses increments even though each access is atomic. The guarded counter takes a",
    "unique acquisition per increment, released at the end of its scope: nothing is lost.",
];

/// Threads, as in the seed.
pub const THREADS: u64 = 5;

/// Increments per thread, as in the seed.
pub const ITERATIONS: u64 = 100_000;

/// How many times the unsynchronised race is run, at most, until it loses updates.
pub const ROUNDS: u32 = 20;

/// Slatkin's `Counter`: `self.count += offset`, written out as the interpreter runs it.
/// Every access is atomic (so this is not undefined behaviour in Rust), yet the
/// read-modify-write as a whole is not.
#[derive(Debug, Default)]
pub struct Unsynchronised {
    count: AtomicU64,
}

impl Unsynchronised {
    fn increment(&self) {
        let value = self.count.load(Ordering::Relaxed); // getattr(counter, 'count')
        let result = value + 1; //                         value + 1
        self.count.store(result, Ordering::Relaxed); //    setattr(counter, 'count', result)
    }
}

/// Slatkin's `LockingCounter`: the count behind a mutex. Counted: the threads share it
/// through `Counted` handles (as through an `Arc`), and it is released on the finalizer
/// thread after the last one lets go.
#[derive(Resource)]
#[resource(counted)]
pub struct LockingCounter {
    count: parking_lot::Mutex<u64>,
}

impl LockingCounter {
    /// Takes the lock: the acquisition is to be entered in a scope.
    pub fn acquire(&self) -> Increment<'_> {
        Increment {
            count: self.count.lock(),
        }
    }
}

/// Holding the counter's lock (Python's `with self.lock:`). Unique: released, so unlocked,
/// at the end of the scope it is entered in.
#[derive(Resource)]
#[resource(unique)]
pub struct Increment<'a> {
    count: parking_lot::MutexGuard<'a, u64>,
}

impl Increment<'_> {
    fn add(&mut self, offset: u64) {
        *self.count += offset;
    }
}

/// What the scenario measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// `threads * iterations`.
    pub expected: u64,
    /// The unsynchronised counter's final value (in the first run that lost updates, or
    /// the last of [`ROUNDS`]).
    pub unsynchronised: u64,
    /// Runs of the unsynchronised race until it lost updates.
    pub rounds: u32,
    /// The guarded counter's final value.
    pub guarded: u64,
    /// How long the guarded run took.
    pub guarded_took: Duration,
    /// The checks.
    pub verdict: Verdict,
}

/// Starts `threads` threads together; each makes its worker with `make` and runs it
/// `iterations` times. The threads wait for each other spinning (yielding), not blocked
/// on a barrier, so that those on a CPU when the last one arrives start at the same moment.
fn race<W: FnMut()>(threads: u64, iterations: u64, make: impl Fn() -> W + Sync) {
    let arrived = AtomicU64::new(0);
    std::thread::scope(|t| {
        for _ in 0..threads {
            t.spawn(|| {
                let mut work = make();
                arrived.fetch_add(1, Ordering::SeqCst);
                while arrived.load(Ordering::SeqCst) < threads {
                    std::thread::yield_now();
                }
                for _ in 0..iterations {
                    work();
                }
            });
        }
    });
}

/// Runs the scenario with `threads` threads doing `iterations` increments each.
pub fn run(threads: u64, iterations: u64) -> Result<Outcome> {
    let _watchdog = Watchdog::arm("counter", Duration::from_secs(60));
    let mut out = Outcome {
        expected: threads * iterations,
        ..Outcome::default()
    };

    // The race depends on timing (threads must be interrupted between the load and the
    // store), so it can hide in one run: repeat, as a test suite running daily would.
    let mut round = 0;
    while round < ROUNDS {
        round += 1;
        let counter = Unsynchronised::default();
        race(threads, iterations, || || counter.increment());
        out.unsynchronised = counter.count.load(Ordering::Relaxed);
        if out.unsynchronised < out.expected {
            break;
        }
    }
    out.rounds = round;
    let lost = out.expected - out.unsynchronised;
    println!(
        "  load, then store:              should be {}, got {} ({lost} increments lost)",
        out.expected, out.unsynchronised
    );
    match (lost, round) {
        (0, _) => {
            println!("    (no run lost any this time: the race depends on timing, and it can hide)")
        }
        (_, 1) => {}
        (_, 2) => println!("    (the first run lost none: the race depends on timing)"),
        (_, r) => println!(
            "    (the first {} runs lost none: the race depends on timing)",
            r - 1
        ),
    }

    let counter = Counted::new(LockingCounter {
        count: parking_lot::Mutex::new(0),
    });
    let failed = AtomicU64::new(0);
    let started = Instant::now();
    race(threads, iterations, || {
        let handle = counter.clone(); // each worker's own handle to the shared counter
        let failed = &failed;
        move || {
            let result = guard::scope(|s| {
                let mut held = s.enter(handle.acquire());
                held.add(1);
                Ok::<_, std::convert::Infallible>(())
            }); // `held` is released here: unlocked
            if result.is_err() {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    out.guarded_took = started.elapsed();
    out.guarded = *counter.count.lock();
    println!(
        "  a scoped acquisition per add:  should be {}, got {} ({:.0?} for {} scopes)",
        out.expected, out.guarded, out.guarded_took, out.expected
    );
    drop(counter); // the last handle: the counter itself is released on the finalizer
    guard::finalizer::flush()?;

    let v = &mut out.verdict;
    v.check(
        failed.load(Ordering::Relaxed) == 0,
        "a scope reported a release error",
    );
    v.check(
        out.guarded == out.expected,
        format!(
            "the guarded counter lost {} increments",
            out.expected.saturating_sub(out.guarded)
        ),
    );
    Ok(out)
}
