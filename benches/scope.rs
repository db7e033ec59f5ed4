//! A scope with one resource vs the hand-written RAII it replaces, in one run.
//!
//! `cargo bench --bench scope`

mod common;

use common::{Nothing, NullFd};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

fn one_fd(c: &mut Criterion) {
    let mut g = c.benchmark_group("scope/one_fd");
    g.bench_function("guard_scope", |b| {
        b.iter(|| {
            guard::scope(|s| {
                let f = s.enter(NullFd::open());
                black_box(&f.0);
                Ok::<_, std::io::Error>(())
            })
            .unwrap()
        })
    });
    g.bench_function("raii", |b| {
        b.iter(|| {
            let f = NullFd::open();
            black_box(&f.0);
        })
    });
    g.finish();
}

fn one_trivial(c: &mut Criterion) {
    let mut g = c.benchmark_group("scope/one_trivial");
    g.bench_function("guard_scope", |b| {
        b.iter(|| {
            guard::scope(|s| {
                let n = s.enter(Nothing(black_box(1)));
                black_box(n.0);
                Ok::<_, std::io::Error>(())
            })
            .unwrap()
        })
    });
    g.bench_function("raii", |b| {
        b.iter(|| {
            // Hand-written: use it, then give it back at the end of the block.
            let n = Nothing(black_box(1));
            black_box(n.0);
            let _ = guard::Resource::release(n);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = one_fd, one_trivial
}
criterion_main!(benches);
