//! The dropping thread's cost of a counted release, and the finalizer's drain rate, each
//! side by side with its alternatives in one run.
//!
//! `cargo bench --bench counted`

mod common;

use common::{CHUNK, NullFd, chunked};
use criterion::{Criterion, criterion_group, criterion_main};
use guard::{Counted, finalizer};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn flush() {
    finalizer::flush().expect("flush");
}

/// The cost on the dropping thread of letting go of an open `/dev/null` fd.
fn last_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("counted/last_drop");
    g.bench_function("guard_counted", |b| {
        b.iter_custom(|iters| chunked(iters, || Counted::new(NullFd::open()), drop, flush))
    });
    g.bench_function("inline_close", |b| {
        b.iter_custom(|iters| chunked(iters, NullFd::open, drop, || {}))
    });
    g.bench_function("arc_last_drop", |b| {
        b.iter_custom(|iters| chunked(iters, || Arc::new(NullFd::open()), drop, || {}))
    });
    g.bench_function("defer_drop", |b| {
        b.iter_custom(|iters| {
            chunked(
                iters,
                || defer_drop::DeferDrop::new(NullFd::open()),
                drop,
                || std::thread::sleep(Duration::from_millis(20)),
            )
        })
    });
    g.finish();
}

/// Dropping the last handle of a value whose release does nothing: the pure cost of the
/// enqueue, next to an `Arc` drop of the same value.
fn last_drop_no_syscall(c: &mut Criterion) {
    let mut g = c.benchmark_group("counted/last_drop_no_syscall");
    g.bench_function("guard_counted", |b| {
        b.iter_custom(|iters| chunked(iters, || Counted::new(common::Nothing(1)), drop, flush))
    });
    g.bench_function("arc_last_drop", |b| {
        b.iter_custom(|iters| chunked(iters, || Arc::new(common::Nothing(1)), drop, || {}))
    });
    g.bench_function("guard_counted_new_and_drop", |b| {
        b.iter(|| drop(black_box(Counted::new(common::Nothing(1)))));
        flush();
    });
    g.finish();
}

/// 100k `/dev/null` fds (in chunks under the fd limit): dropped through the finalizer and
/// waited for, vs closed inline in a loop. Opening is untimed.
fn drain(c: &mut Criterion) {
    const FDS: u64 = 100_000;
    let mut g = c.benchmark_group("counted/drain_100k");
    g.sample_size(10);
    g.bench_function("guard_finalizer", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters * FDS / CHUNK {
                let handles: Vec<_> = (0..CHUNK).map(|_| Counted::new(NullFd::open())).collect();
                let start = Instant::now();
                drop(handles);
                flush();
                total += start.elapsed();
            }
            total
        })
    });
    // The same closes on a plain second thread: what any off-thread release costs here
    // (the kernel frees each `struct file` away from the CPU that allocated it).
    g.bench_function("plain_thread_close_loop", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters * FDS / CHUNK {
                let fds: Vec<_> = (0..CHUNK).map(|_| NullFd::open()).collect();
                let start = Instant::now();
                std::thread::spawn(move || drop(fds))
                    .join()
                    .expect("closer thread");
                total += start.elapsed();
            }
            total
        })
    });
    g.bench_function("inline_close_loop", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters * FDS / CHUNK {
                let fds: Vec<_> = (0..CHUNK).map(|_| NullFd::open()).collect();
                let start = Instant::now();
                drop(fds);
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = last_drop, last_drop_no_syscall, drain
}
criterion_main!(benches);
