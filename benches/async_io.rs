//! guard-tokio's async I/O side by side with what a tokio user writes today, in one run.
//!
//! - `async_io/ipc_uncontended/<lock>`: lock + unlock of an inter-process mutex by one
//!   task on a 2-worker multi-thread runtime: guard-tokio's `IpcMutex` (its holder thread
//!   takes the OS lock; `unlock` posts the unlock to it, `unlock_and_wait` also awaits it),
//!   vs guard-os's blocking `IpcMutex` locked and unlocked inside one `spawn_blocking`, vs
//!   std's `File::lock` + `unlock` on the lock file inside `spawn_blocking`.
//! - `async_io/ipc_contended/<tasks>/<lock>`: `tasks` tasks share [`IPC_TOTAL`]
//!   acquisitions of the same mutex; the time to finish all. The `File::lock` peer opens
//!   one `File` per task (`flock` excludes open files, not threads: tasks sharing one
//!   `File` would not exclude each other).
//! - `async_io/tcp_ping_pong/<stream>`: a 64-byte ping-pong over loopback TCP between two
//!   tasks on a current-thread runtime, per round trip: `Async<guard_os::TcpStream>` vs `tokio::net::TcpStream`.
//!
//! `cargo bench --bench async_io -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, criterion_group, criterion_main};
use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Acquisitions shared by the tasks of one contended run.
const IPC_TOTAL: u64 = 512;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A fresh mutex name for this process and `what`.
fn name(what: &str) -> String {
    format!("bench-async-io-{what}-{}", std::process::id())
}

/// `per_task` acquisitions by each of `tasks` tasks, by one of the three ways.
#[derive(Clone, Copy)]
enum Way {
    Guard,
    GuardUnlockAndWait,
    GuardOsBlocking,
    StdFileLock,
}

async fn run(way: Way, n: &str, tasks: u64, per_task: u64) {
    let guard = guard_tokio::IpcMutex::open(n).expect("open");
    let os = Arc::new(guard_os::IpcMutex::open(n).expect("open"));
    let path = os.path().to_path_buf();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (guard, os, path) = (guard.clone(), Arc::clone(&os), path.clone());
            tokio::spawn(async move {
                match way {
                    Way::Guard => {
                        for _ in 0..per_task {
                            guard.lock().await.expect("lock").unlock().expect("unlock");
                        }
                    }
                    Way::GuardUnlockAndWait => {
                        for _ in 0..per_task {
                            let held = guard.lock().await.expect("lock");
                            held.unlock_and_wait().await.expect("unlock");
                        }
                    }
                    Way::GuardOsBlocking => {
                        for _ in 0..per_task {
                            let os = Arc::clone(&os);
                            tokio::task::spawn_blocking(move || {
                                os.lock().expect("lock").unlock().expect("unlock")
                            })
                            .await
                            .expect("task");
                        }
                    }
                    Way::StdFileLock => {
                        let file = Arc::new(File::open(&path).expect("open"));
                        for _ in 0..per_task {
                            let file = Arc::clone(&file);
                            tokio::task::spawn_blocking(move || {
                                file.lock().expect("lock");
                                file.unlock().expect("unlock");
                            })
                            .await
                            .expect("task");
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task");
    }
}

const WAYS: [(&str, Way); 3] = [
    ("guard_tokio_ipc_mutex", Way::Guard),
    ("guard_os_ipc_mutex_spawn_blocking", Way::GuardOsBlocking),
    ("std_file_lock_spawn_blocking", Way::StdFileLock),
];

fn ipc(c: &mut Criterion) {
    let rt = runtime();
    let n = name("ipc");
    let mut g = c.benchmark_group("async_io/ipc_uncontended");
    let exact = (
        "guard_tokio_ipc_mutex_unlock_and_wait",
        Way::GuardUnlockAndWait,
    );
    for (label, way) in WAYS.into_iter().chain([exact]) {
        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    run(way, &n, 1, iters).await;
                    start.elapsed()
                })
            })
        });
    }
    g.finish();
    for tasks in [2u64, 8] {
        let mut g = c.benchmark_group(format!("async_io/ipc_contended/{tasks}"));
        for (label, way) in WAYS {
            g.bench_function(label, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += rt.block_on(async {
                            let start = Instant::now();
                            run(way, &n, tasks, IPC_TOTAL / tasks).await;
                            start.elapsed()
                        });
                    }
                    total
                })
            });
        }
        g.finish();
    }
    // Absent when a filter skipped every row above (nothing opened it).
    let _ = guard_os::IpcMutex::remove(&n);
}

/// `iters` 64-byte round trips between a client and an echoing server task.
async fn ping_pong<S>(a: S, mut b: S, iters: u64) -> Duration
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let echo = tokio::spawn(async move {
        let mut buf = [0u8; 64];
        for _ in 0..iters {
            b.read_exact(&mut buf).await.expect("read");
            b.write_all(&buf).await.expect("write");
        }
        b
    });
    let mut a = a;
    let mut buf = [7u8; 64];
    let start = Instant::now();
    for _ in 0..iters {
        a.write_all(&buf).await.expect("write");
        a.read_exact(&mut buf).await.expect("read");
    }
    let took = start.elapsed();
    echo.await.expect("echo");
    took
}

fn tcp(c: &mut Criterion) {
    // One thread: on two workers the client and the echo task land on the same worker or on
    // different ones from run to run, and the round trip swings 20-60 us for both sides
    // (a 9x "ratio" in one run was that, not the wrapper).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("async_io/tcp_ping_pong");
    g.bench_function("guard_async_tcp_stream", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let l = guard_os::TcpListener::bind("127.0.0.1:0").expect("bind");
                let c =
                    guard_os::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
                let (s, _) = l.accept().expect("accept");
                for x in [&c, &s] {
                    socket2::SockRef::from(x)
                        .set_tcp_nodelay(true)
                        .expect("nodelay");
                }
                let c = guard_tokio::Async::new(c).expect("async");
                let s = guard_tokio::Async::new(s).expect("async");
                ping_pong(c, s, iters).await
            })
        })
    });
    g.bench_function("tokio_tcp_stream", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let c = tokio::net::TcpStream::connect(l.local_addr().expect("addr"));
                let (c, s) = tokio::join!(c, l.accept());
                let (c, (s, _)) = (c.expect("connect"), s.expect("accept"));
                c.set_nodelay(true).expect("nodelay");
                s.set_nodelay(true).expect("nodelay");
                ping_pong(c, s, iters).await
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = ipc, tcp
}
criterion_main!(benches);
