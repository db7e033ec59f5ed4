//! Deferred release: the dropping thread's cost of letting go of a resource, and the time
//! to drain many, for guard's `Counted` and the alternatives, side by side in one run.
//!
//! Peers: inline `Drop` (`close(2)` / `free` on the dropping thread), `Arc` (last drop is
//! inline), the `defer-drop` crate (boxes the value into a crossbeam channel), `backdrop`'s
//! global trash thread (a `sync_channel(10)`: the dropping thread blocks when it is full),
//! and a hand-rolled `std::sync::mpsc` finalizer thread (boxes into an unbounded channel).
//!
//! `counted/full_queue` is the same last drop when it meets the bound on pending releases.
//!
//! `cargo bench --bench counted`

mod common;

use common::{Buffer, CHUNK, Clock, NullFd, chunked};
use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use guard::{Counted, finalizer};
use std::hint::black_box;
use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

type Trash = Box<dyn Send>;

/// A hand-rolled finalizer: an unbounded mpsc channel to one thread that drops what it gets.
static MPSC: LazyLock<Mutex<mpsc::Sender<Trash>>> = LazyLock::new(|| {
    let (tx, rx) = mpsc::channel::<Trash>();
    std::thread::Builder::new()
        .name("mpsc-finalizer".into())
        .spawn(move || rx.into_iter().for_each(drop))
        .expect("spawn the mpsc finalizer");
    Mutex::new(tx)
});

thread_local! {
    static MPSC_TX: mpsc::Sender<Trash> = MPSC.lock().expect("mpsc sender").clone();
}

/// A value sent to the hand-rolled finalizer when dropped.
struct MpscDrop<T: Send + 'static>(Option<T>);

impl<T: Send + 'static> Drop for MpscDrop<T> {
    fn drop(&mut self) {
        if let Some(v) = self.0.take() {
            MPSC_TX.with(|tx| {
                let _ = tx.send(Box::new(v));
            });
        }
    }
}

type Backdropped<T> = backdrop::thread::GlobalTrashThreadBackdrop<T>;

/// Waits until everything handed to each background thread before now has been dropped:
/// a sentinel whose drop signals, sent the same way (each peer's channel is FIFO).
fn settle_guard() {
    finalizer::flush().expect("flush");
}

fn sentinel() -> (Signal, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    (Signal(tx), rx)
}

struct Signal(mpsc::Sender<()>);
impl Drop for Signal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

fn settle_defer_drop() {
    let (s, rx) = sentinel();
    drop(defer_drop::DeferDrop::new(s));
    rx.recv().expect("defer-drop drained");
}

fn settle_backdrop() {
    let (s, rx) = sentinel();
    drop(Backdropped::new(s));
    rx.recv().expect("backdrop drained");
}

fn settle_mpsc() {
    let (s, rx) = sentinel();
    drop(MpscDrop(Some(s)));
    rx.recv().expect("mpsc drained");
}

/// The peers for one payload type, on one clock.
fn peers<T, F>(g: &mut BenchmarkGroup<'_, WallTime>, clock: Clock, make: F)
where
    T: guard::CountedResource + Sync,
    F: Fn() -> T + Copy,
{
    g.bench_function("guard_counted", |b| {
        b.iter_custom(|n| chunked(clock, n, || Counted::new(make()), drop, settle_guard))
    });
    g.bench_function("inline_drop", |b| {
        b.iter_custom(|n| chunked(clock, n, make, drop, || {}))
    });
    g.bench_function("arc_last_drop", |b| {
        b.iter_custom(|n| chunked(clock, n, || Arc::new(make()), drop, || {}))
    });
    g.bench_function("defer_drop", |b| {
        b.iter_custom(|n| {
            chunked(
                clock,
                n,
                || defer_drop::DeferDrop::new(make()),
                drop,
                settle_defer_drop,
            )
        })
    });
    g.bench_function("backdrop_trash_thread", |b| {
        b.iter_custom(|n| chunked(clock, n, || Backdropped::new(make()), drop, settle_backdrop))
    });
    g.bench_function("mpsc_thread", |b| {
        b.iter_custom(|n| chunked(clock, n, || MpscDrop(Some(make())), drop, settle_mpsc))
    });
}

/// The dropping thread's CPU time per last drop of an open `/dev/null` fd.
fn last_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("counted/last_drop");
    peers(&mut g, Clock::ThreadCpu, NullFd::open);
    g.finish();
    let mut g = c.benchmark_group("counted/last_drop_wall");
    peers(&mut g, Clock::Wall, NullFd::open);
    g.finish();
    let mut g = c.benchmark_group("counted/last_drop_vec1k");
    peers(&mut g, Clock::ThreadCpu, Buffer::new);
    g.finish();
}

/// The bound on pending releases while a full queue meets a steady stream of last drops.
const FULL_BOUND: u64 = 64;

/// A last drop that meets a full queue: with the bound at 64 pending, a stream of drops of
/// `/dev/null` fds outruns the finalizer's closes and waits for room. What a drop then
/// costs the dropping thread, in CPU time and in wall time (it goes at the finalizer's
/// pace), beside backdrop's bounded channel (which blocks when full) and an inline close.
fn full_queue(c: &mut Criterion) {
    let mut g = c.benchmark_group("counted/full_queue");
    finalizer::set_pending_bound(FULL_BOUND);
    for (name, clock) in [("cpu", Clock::ThreadCpu), ("wall", Clock::Wall)] {
        g.bench_function(format!("guard_counted_{name}"), |b| {
            b.iter_custom(|n| {
                chunked(
                    clock,
                    n,
                    || Counted::new(NullFd::open()),
                    drop,
                    settle_guard,
                )
            })
        });
        g.bench_function(format!("backdrop_trash_thread_{name}"), |b| {
            b.iter_custom(|n| {
                chunked(
                    clock,
                    n,
                    || Backdropped::new(NullFd::open()),
                    drop,
                    settle_backdrop,
                )
            })
        });
    }
    g.bench_function("inline_drop", |b| {
        b.iter_custom(|n| chunked(Clock::ThreadCpu, n, NullFd::open, drop, || {}))
    });
    finalizer::set_pending_bound(finalizer::DEFAULT_PENDING_BOUND);
    g.finish();
}

/// `Counted::new` + the last drop of a value whose release does nothing, with the
/// finalizer's work included (it runs meanwhile on the other core): the per-resource cost
/// to compare with Java's `Cleaner.register` + `clean` (benches/peers).
fn new_and_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("counted/new_and_last_drop");
    g.bench_function("guard_counted", |b| {
        b.iter_custom(|n| {
            let start = Instant::now();
            for i in 0..n {
                drop(black_box(Counted::new(common::Nothing(i))));
            }
            settle_guard();
            start.elapsed()
        })
    });
    // The like-for-like of Java's `register` + `clean()`: an explicit release on this
    // thread that disarms the deferred one.
    g.bench_function("guard_counted_try_release", |b| {
        b.iter(|| black_box(Counted::new(common::Nothing(1))).try_release())
    });
    g.finish();
}

/// 100k `/dev/null` fds (in chunks under the fd limit): dropped and waited for, through each
/// background thread, vs closed inline in a loop. Opening is untimed.
fn drain(c: &mut Criterion) {
    const FDS: u64 = 100_000;
    /// Opens `CHUNK` fds (untimed), then times `consume` on them followed by `settle`.
    /// Before each timed chunk, one untimed chunk of the other side (the inline loop, or
    /// guard's for the inline loop itself) runs: every side sees the same mix of machine
    /// states, so a ratio is not the drift between two measurement windows.
    fn run<T: 'static>(
        n: u64,
        wrap: impl Fn(NullFd) -> T,
        consume: impl Fn(Vec<T>),
        settle: impl Fn(),
    ) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..n * FDS / CHUNK {
            partner::<T>();
            let values: Vec<T> = (0..CHUNK).map(|_| wrap(NullFd::open())).collect();
            let start = Instant::now();
            consume(values);
            settle();
            total += start.elapsed();
        }
        total
    }
    /// One untimed chunk of the inline loop (or, for the inline loop, of guard).
    fn partner<T: 'static>() {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<NullFd>() {
            drop(
                (0..CHUNK)
                    .map(|_| Counted::new(NullFd::open()))
                    .collect::<Vec<_>>(),
            );
            settle_guard();
        } else {
            drop((0..CHUNK).map(|_| NullFd::open()).collect::<Vec<_>>());
        }
    }
    let mut g = c.benchmark_group("counted/drain_100k");
    g.sample_size(10);
    g.bench_function("guard_finalizer", |b| {
        b.iter_custom(|n| run(n, Counted::new, drop, settle_guard))
    });
    // The same closes on a plain second thread: what any off-thread close costs here (the
    // kernel frees each `struct file` away from the CPU that allocated it).
    g.bench_function("plain_thread_close_loop", |b| {
        b.iter_custom(|n| {
            run(
                n,
                |f| f,
                |v| std::thread::spawn(move || drop(v)).join().expect("closer"),
                || {},
            )
        })
    });
    g.bench_function("inline_close_loop", |b| {
        b.iter_custom(|n| run(n, |f| f, drop, || {}))
    });
    g.bench_function("defer_drop", |b| {
        b.iter_custom(|n| run(n, defer_drop::DeferDrop::new, drop, settle_defer_drop))
    });
    g.bench_function("backdrop_trash_thread", |b| {
        b.iter_custom(|n| run(n, Backdropped::new, drop, settle_backdrop))
    });
    g.bench_function("mpsc_thread", |b| {
        b.iter_custom(|n| run(n, |f| MpscDrop(Some(f)), drop, settle_mpsc))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = last_drop, full_queue, new_and_drop, drain
}
criterion_main!(benches);
