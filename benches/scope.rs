//! A scope with one resource vs the hand-written RAII it replaces and the `scopeguard`
//! crate, in one run; and a scoped lock acquisition vs the bare `lock` + unlock.
//!
//! Each side is timed over batches of [`BATCH`] iterations, never one iteration at a time
//! (reading the clock costs more than the operations measured). The sides are interleaved
//! batch by batch: each timed batch of one side runs after an untimed batch of the other,
//! so both see the same mix of machine states (fd numbers, caches, neighbours) and a ratio
//! is not the drift between two measurement windows.
//!
//! `cargo bench --bench scope -- --warm-up-time 1 --measurement-time 3`

mod common;

use common::{Nothing, NullFd};
use criterion::{Criterion, criterion_group, criterion_main};
use guard::Resource;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Iterations per timed batch.
const BATCH: u64 = 1_000;

fn with_scope<R: Resource>(make: impl FnOnce() -> R) {
    guard::scope(|s| {
        let r = s.enter(make());
        black_box(&*r);
        Ok::<_, std::io::Error>(())
    })
    .expect("scope")
}

fn by_hand<R: Resource>(make: impl FnOnce() -> R) {
    let r = make();
    black_box(&r);
    let _ = r.release();
}

fn with_scopeguard<R: Resource>(make: impl FnOnce() -> R) {
    let r = scopeguard::guard(make(), |r| {
        let _ = r.release();
    });
    black_box(&*r);
}

/// Times `iters` calls of `timed` in batches of [`BATCH`], running a batch of `other`
/// untimed before each timed batch.
fn interleaved(iters: u64, mut timed: impl FnMut(), mut other: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        for _ in 0..n {
            other();
        }
        let start = Instant::now();
        for _ in 0..n {
            timed();
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

fn group<R: Resource>(c: &mut Criterion, name: &str, make: fn() -> R) {
    let mut g = c.benchmark_group(name);
    let guard = || with_scope(make);
    let raii = || by_hand(make);
    let sg = || with_scopeguard(make);
    g.bench_function("guard_scope", |b| {
        b.iter_custom(|n| interleaved(n, guard, raii))
    });
    g.bench_function("raii", |b| b.iter_custom(|n| interleaved(n, raii, guard)));
    g.bench_function("scopeguard", |b| {
        b.iter_custom(|n| interleaved(n, sg, guard))
    });
    g.finish();
}

fn one_fd(c: &mut Criterion) {
    group(c, "scope/one_fd", NullFd::open);
}

fn one_trivial(c: &mut Criterion) {
    group(c, "scope/one_trivial", || Nothing(black_box(1)));
}

/// Holding a counter's lock: a derived unique resource whose release unlocks (by dropping
/// the guard), as `examples/scenarios/counter.rs` uses it.
#[derive(guard::Resource)]
#[resource(unique)]
struct Increment<'a> {
    count: parking_lot::MutexGuard<'a, u64>,
}

/// One increment under the lock, entered in a scope of its own.
fn scoped_increment(counter: &parking_lot::Mutex<u64>) {
    guard::scope(|s| {
        let mut held = s.enter(Increment {
            count: counter.lock(),
        });
        *held.count += 1;
        Ok::<_, std::convert::Infallible>(())
    })
    .expect("an infallible scope");
}

/// The same lock acquisition as a leaf resource written by hand (no derive).
struct LeafIncrement<'a>(parking_lot::MutexGuard<'a, u64>);

impl Resource for LeafIncrement<'_> {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        Ok(())
    }
}
impl guard::UniqueResource for LeafIncrement<'_> {}

/// One increment under the lock, the hand-written leaf entered in a scope of its own.
fn leaf_increment(counter: &parking_lot::Mutex<u64>) {
    guard::scope(|s| {
        let mut held = s.enter(LeafIncrement(counter.lock()));
        *held.0 += 1;
        Ok::<_, std::convert::Infallible>(())
    })
    .expect("an infallible scope");
}

/// One increment under the lock, by hand, inside a scope that enters nothing.
fn empty_scope_increment(counter: &parking_lot::Mutex<u64>) {
    guard::scope(|_| {
        bare_increment(counter);
        Ok::<_, std::convert::Infallible>(())
    })
    .expect("an infallible scope");
}

/// One increment under the lock, by hand.
fn bare_increment(counter: &parking_lot::Mutex<u64>) {
    let mut count = counter.lock();
    *count += 1;
}

/// `scope/lock`: a scoped lock acquisition (scope, enter, census count, slot, release with
/// its panic handling) vs the bare `lock` + increment + unlock, one thread, uncontended.
/// Two rows split the difference: `empty_scope` (the bare increment inside a scope that
/// enters nothing: what the scope itself costs) and `leaf` (a hand-written resource entered:
/// what entering costs, the derive's code aside). Each row is interleaved with `bare`.
fn lock(c: &mut Criterion) {
    let counter = parking_lot::Mutex::new(0u64);
    let counter = black_box(&counter);
    let scoped = || scoped_increment(counter);
    let leaf = || leaf_increment(counter);
    let empty = || empty_scope_increment(counter);
    let bare = || bare_increment(counter);
    let mut g = c.benchmark_group("scope/lock");
    g.bench_function("guard_scope", |b| {
        b.iter_custom(|n| interleaved(n, scoped, bare))
    });
    g.bench_function("bare", |b| b.iter_custom(|n| interleaved(n, bare, scoped)));
    g.bench_function("leaf", |b| b.iter_custom(|n| interleaved(n, leaf, bare)));
    g.bench_function("empty_scope", |b| {
        b.iter_custom(|n| interleaved(n, empty, bare))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = lock, one_trivial, one_fd
}
criterion_main!(benches);
