//! A scope with one resource vs the hand-written RAII it replaces and the `scopeguard`
//! crate, in one run.
//!
//! The sides are interleaved: each measured iteration of one side runs after an untimed
//! iteration of another, so all see the same mix of machine states (fd numbers, caches,
//! neighbours) and a ratio is not the drift between two measurement windows.
//!
//! `cargo bench --bench scope`

mod common;

use common::{Nothing, NullFd};
use criterion::{Criterion, criterion_group, criterion_main};
use guard::Resource;
use std::hint::black_box;
use std::time::{Duration, Instant};

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

/// Times `timed`, running `other` untimed before each call.
fn interleaved(iters: u64, mut timed: impl FnMut(), mut other: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        other();
        let start = Instant::now();
        timed();
        total += start.elapsed();
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

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = one_fd, one_trivial
}
criterion_main!(benches);
