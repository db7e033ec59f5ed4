//! guard-tokio's async `Mutex` vs `tokio::sync::Mutex`, `async_lock::Mutex` and a blocking
//! `parking_lot::Mutex` locked from async code, in one run.
//!
//! - `async_lock/uncontended/<lock>`: lock + increment + unlock on a current-thread runtime,
//!   the clock read once around criterion's whole batch (it costs more than one lock).
//! - `async_lock/contended/<tasks>/<lock>`: `tasks` tasks on a 2-worker multi-thread runtime
//!   share [`TOTAL`] increments of one counter behind the lock; the time to finish all.
//!
//! `cargo bench --bench async_lock -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Increments shared by the tasks of one contended run.
const TOTAL: u64 = 16_384;

/// One async lock under test: how to make it and lock it, as one expression each.
macro_rules! locks {
    ($m:ident => $($name:literal: $make:expr, |$l:ident| $lock:expr;)*) => {
        fn uncontended(c: &mut Criterion) {
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            let mut g = c.benchmark_group("async_lock/uncontended");
            $(
                g.bench_function($name, |b| {
                    let $l = $make;
                    b.iter_custom(|iters| {
                        rt.block_on(async {
                            let start = Instant::now();
                            for _ in 0..iters {
                                let mut held = $lock;
                                *held += 1;
                                black_box(&held);
                            }
                            start.elapsed()
                        })
                    })
                });
            )*
            g.finish();
        }

        fn contended(c: &mut Criterion) {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .expect("runtime");
            for tasks in [2u64, 8, 64] {
                let mut g = c.benchmark_group(format!("async_lock/contended/{tasks}"));
                $(
                    g.bench_function($name, |b| {
                        b.iter_custom(|iters| {
                            let mut total = Duration::ZERO;
                            for _ in 0..iters {
                                let $m = Arc::new($make);
                                total += rt.block_on(async {
                                    let start = Instant::now();
                                    let handles: Vec<_> = (0..tasks)
                                        .map(|_| {
                                            let $m = $m.clone();
                                            tokio::spawn(async move {
                                                let $l = &*$m;
                                                for _ in 0..TOTAL / tasks {
                                                    let mut held = $lock;
                                                    *held += 1;
                                                }
                                            })
                                        })
                                        .collect();
                                    for h in handles {
                                        h.await.expect("task");
                                    }
                                    start.elapsed()
                                });
                            }
                            total
                        })
                    });
                )*
                g.finish();
            }
        }
    };
}

locks! { m =>
    "guard": guard_tokio::lock::Mutex::new(0u64), |l| l.lock().await;
    "tokio": tokio::sync::Mutex::new(0u64), |l| l.lock().await;
    "async-lock": async_lock::Mutex::new(0u64), |l| l.lock().await;
    "parking_lot": parking_lot::Mutex::new(0u64), |l| l.lock();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = uncontended, contended
}
criterion_main!(benches);
