//! The leased registry: register + deregister, and `for_each` per entry; for fds, guard-os's
//! `fds().for_each` vs listing `/proc/self/fd` (what a program without a registry reads),
//! and the close of an fd that another thread's pass has leased, next to a plain close.
//!
//! `cargo bench --bench registry`

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use guard::Kind;
use guard::census::Origin;
use guard::registry::Registry;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

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
    // The same pass on this thread's CPU clock: what it costs its thread, whatever else
    // the machine runs meanwhile.
    g.bench_function("guard_leased_thread_cpu", |b| {
        b.iter_custom(|iters| {
            let start = common::thread_cpu();
            for _ in 0..iters {
                let mut sum = 0i64;
                r.for_each(|lease| sum += i64::from(*lease.value()));
                black_box(sum);
            }
            common::thread_cpu() - start
        })
    });
    g.finish();
}

/// The pass thread's phases, driven by the closing thread.
const IDLE: u8 = 0;
const GO: u8 = 1;
const VISITING: u8 = 2;
const LEAVE: u8 = 3;
const STOP: u8 = 4;

/// A registered `/dev/null` fd, as a program adopting an fd it opened itself gets it.
fn dev_null() -> guard::os::Fd {
    guard::os::Fd::adopt(
        std::fs::File::open("/dev/null")
            .expect("open /dev/null")
            .into(),
    )
}

fn wait_for(phase: &AtomicU8, want: u8) {
    while phase.load(Ordering::Acquire) != want {
        std::thread::yield_now();
    }
}

/// Closing a registered `/dev/null` fd (only the close is timed): with no pass running, and
/// while another thread's `fds().for_each` pass has it leased in its batch and is visiting
/// the fd before it. The close then takes the pass's lease over (the fd closes now), and
/// pays the barrier that spares the pass a fence per visit.
///
/// Runs before `fds` so that the registry holds only this group's fds, the parked one first
/// (the fd closed and opened again each round reuses the entry after it).
fn close_during_pass(c: &mut Criterion) {
    let mut g = c.benchmark_group("registry/close");
    g.bench_function("plain", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let file = dev_null();
                let start = Instant::now();
                let closed = file.close();
                timed += start.elapsed();
                black_box(closed).expect("close");
            }
            timed
        })
    });
    let parked = dev_null();
    let phase = Arc::new(AtomicU8::new(IDLE));
    let pass = {
        let phase = phase.clone();
        std::thread::spawn(move || {
            loop {
                match phase.load(Ordering::Acquire) {
                    STOP => return,
                    GO => {}
                    _ => {
                        std::thread::yield_now();
                        continue;
                    }
                }
                let mut first = true;
                guard::os::fds().for_each(|_| {
                    if std::mem::take(&mut first) {
                        phase.store(VISITING, Ordering::Release);
                        // On a CPU, as a callback at work is (no `pause`, which a
                        // hypervisor may take as a cue to deschedule the vCPU): the
                        // barrier interrupts it.
                        while phase.load(Ordering::Acquire) != LEAVE {
                            black_box(0u64);
                        }
                    }
                });
                phase.store(IDLE, Ordering::Release);
            }
        })
    };
    g.bench_function("meeting_a_pass", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let file = dev_null();
                phase.store(GO, Ordering::Release);
                wait_for(&phase, VISITING);
                let start = Instant::now();
                let closed = file.close();
                timed += start.elapsed();
                phase.store(LEAVE, Ordering::Release);
                wait_for(&phase, IDLE);
                black_box(closed).expect("close");
            }
            timed
        })
    });
    g.finish();
    phase.store(STOP, Ordering::Release);
    pass.join().expect("the pass thread");
    drop(parked);
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
    targets = register, for_each, close_during_pass, fds
}
criterion_main!(benches);
