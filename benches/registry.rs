//! The leased registry: register + deregister, and `for_each` per entry; for fds, guard-os's
//! `fds().for_each` vs listing `/proc/self/fd` (what a program without a registry reads).
//!
//! `cargo bench --bench registry`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use guard::Kind;
use guard::census::Origin;
use guard::registry::Registry;
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

/// 10k registered `/dev/null` fds: visiting each under a lease vs reading `/proc/self/fd`.
fn fds(c: &mut Criterion) {
    const N: usize = 10_000;
    let files: Vec<_> = (0..N)
        .map(|_| guard::os::ReadFile::open("/dev/null").expect("open /dev/null"))
        .collect();
    let mut g = c.benchmark_group("registry/fds_10k");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("guard_fds_for_each", |b| {
        b.iter(|| {
            let mut sum = 0i64;
            guard::os::fds().for_each(|fd| sum += i64::from(fd.number()));
            black_box(sum)
        })
    });
    g.bench_function("proc_self_fd_listing", |b| {
        b.iter(|| {
            let mut sum = 0i64;
            for entry in std::fs::read_dir("/proc/self/fd").expect("read /proc/self/fd") {
                let name = entry.expect("entry").file_name();
                sum += name
                    .to_str()
                    .and_then(|s| s.parse::<i64>().ok())
                    .unwrap_or(0);
            }
            black_box(sum)
        })
    });
    g.finish();
    drop(files);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = register, for_each, fds
}
criterion_main!(benches);
