//! The leased registry: register + deregister, and `for_each` per entry.
//!
//! `cargo bench --bench registry`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use guard::Kind;
use guard::registry::{Origin, Registry};
use std::hint::black_box;
use std::time::Duration;

fn register(c: &mut Criterion) {
    let r: Registry<i32> = Registry::new(|_| {});
    // A realistic background population.
    let _keep: Vec<_> = (0..1000)
        .map(|i| r.insert(i, Origin::here::<i32>(Kind::Counted)))
        .collect();
    let mut g = c.benchmark_group("registry/register_deregister");
    g.bench_function("guard_registry", |b| {
        b.iter(|| {
            let k = r.insert(black_box(7), Origin::here::<i32>(Kind::Counted));
            black_box(r.remove(k))
        })
    });
    g.finish();
}

fn for_each(c: &mut Criterion) {
    const N: usize = 10_000;
    let r: Registry<i32> = Registry::new(|_| {});
    for i in 0..N as i32 {
        r.insert(i, Origin::here::<i32>(Kind::Counted));
    }
    let mut g = c.benchmark_group("registry/for_each_10k");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("guard_leased", |b| {
        b.iter(|| {
            let mut sum = 0i64;
            r.for_each(|lease| sum += i64::from(*lease.value()));
            black_box(sum)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = register, for_each
}
criterion_main!(benches);
