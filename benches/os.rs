//! The OS layer against what a program would do without it, side by side in one run:
//!
//! - `os/spawn_true`: spawn + wait of `/bin/true` keeping none and keeping one fd at fd 3, at
//!   parent RSS ~0, 1 GiB and 4 GiB (a heap allocated and touched first, freed after the
//!   group; a size is skipped, and says so, when `MemAvailable` is under twice the heap):
//!   guard's `Spawn` (no fork) vs std's `Command` without hook (posix_spawn, keeps nothing)
//!   vs std's `Command` with `inherit` (a `pre_exec` hook: fork, whose cost grows with the
//!   heap). The Python peer is `benches/peers/spawn_rss.py`;
//! - `os/spawn_true_fds`: spawning `/bin/true` with N ∈ {0, 1000, 10000} live registered fds: guard's exec plan
//!   keeping none (by default it still closes every other fd in the child, R5; with
//!   `trust_cloexec` it adds no hook and std keeps posix_spawn) and keeping one, std's
//!   `Command` as is (posix_spawn, relies on CLOEXEC),
//!   a `pre_exec` loop closing every number up to the fd limit, and `pre_exec` with
//!   `close_range(3, ~0, 0)` alone;
//! - the OS mutex: lock + unlock of guard's `IpcMutex` vs std's `File::lock` (`flock(2)`),
//!   raw `flock`, a raw robust process-shared pthread mutex in shared memory (the floor
//!   `IpcMutex` builds on) and `parking_lot::Mutex` (in-process only);
//! - `os/open_close`: opening a read-only file and closing it, `/dev/null` and a regular file
//!   in the temp directory: guard's `Counted<ReadFile>` (open, registration with the close
//!   classification, census; the last drop closes on the spot) and `ReadFile` closed
//!   explicitly, vs std's `File::open` + drop.
//!
//! `cargo bench --bench os`
//!
//! Linux only: its peers and `Spawn` are Linux mechanisms (elsewhere `main` does nothing).
#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
#[cfg(target_os = "linux")]
use guard::os::Spawn;
use guard::os::{CommandExt, Inherit, IpcMutex, ReadFile};
use std::hint::black_box;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and says what they are.
fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    if let Err(e) = setrlimit(Resource::Nofile, raised) {
        eprintln!("could not raise RLIMIT_NOFILE: {e}");
    }
    let now = getrlimit(Resource::Nofile);
    eprintln!(
        "RLIMIT_NOFILE: soft {:?} (was {:?}), hard {:?}",
        now.current, limit.current, now.maximum
    );
    now.current.unwrap_or(1 << 20)
}

fn true_cmd() -> Command {
    let mut cmd = Command::new("/bin/true");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) {
    let status = cmd.status().expect("spawn /bin/true");
    assert!(status.success());
}

#[cfg(target_os = "linux")]
/// Parent heap sizes of `os/spawn_true`, in MiB: ~0, 1 GiB, 4 GiB.
const SPAWN_HEAP_MIB: [usize; 3] = [0, 1024, 4096];

#[cfg(target_os = "linux")]
/// A heap of `mib` MiB is measured only when `/proc/meminfo`'s `MemAvailable` is at least
/// this many times its size (4 GiB rows need ~8 GiB), so a smaller machine skips it.
const SPAWN_HEAP_HEADROOM: usize = 2;

#[cfg(target_os = "linux")]
/// `MemAvailable` from `/proc/meminfo`, in MiB (`None` if it cannot be read).
fn mem_available_mib() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[cfg(target_os = "linux")]
/// This process's resident set (`VmRSS` from `/proc/self/status`), in MiB.
fn rss_mib() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[cfg(target_os = "linux")]
/// Makes `heap` a resident `mib`-MiB allocation (every page touched) unless it is one
/// already. Called at the start of each row, outside the timed loop, so a run filtered to
/// other groups allocates nothing.
fn ensure_heap(heap: &mut Option<Vec<u8>>, mib: usize) {
    if heap.is_some() {
        return;
    }
    let mut bytes = vec![0u8; mib << 20];
    for page in bytes.chunks_mut(4096) {
        page[0] = 1;
    }
    *heap = Some(black_box(bytes));
    eprintln!(
        "os/spawn_true: heap of {mib} MiB touched, parent VmRSS {} MiB",
        rss_mib().map_or("?".to_owned(), |r| r.to_string())
    );
}

#[cfg(target_os = "linux")]
/// guard's `Spawn` keeping none: spawn + wait of `/bin/true`, its plan built first.
fn guard_keep_0() {
    let status = Spawn::from_command(&Command::new("/bin/true"))
        .spawn()
        .expect("spawn /bin/true")
        .wait()
        .expect("wait");
    assert!(status.success());
}

#[cfg(target_os = "linux")]
/// guard's `Spawn` keeping `kept` as fd 3.
fn guard_keep_1(kept: &ReadFile) {
    let status = Spawn::from_command(&Command::new("/bin/true"))
        .inherit(Inherit::new().keep_at(kept, 3))
        .expect("plan")
        .spawn()
        .expect("spawn /bin/true")
        .wait()
        .expect("wait");
    assert!(status.success());
}

#[cfg(target_os = "linux")]
/// std's `Command` without hook (posix_spawn).
fn std_no_hook() {
    run(&mut Command::new("/bin/true"))
}

#[cfg(target_os = "linux")]
/// Times `iters` calls of `timed`, each right after an untimed call of `partner`: the two
/// sides alternate spawn by spawn, so both see the same load on a shared machine and their
/// ratio is not the drift between two measurement windows (as in `benches/scope.rs`).
fn alternating(iters: u64, mut timed: impl FnMut(), mut partner: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        partner();
        let start = Instant::now();
        timed();
        total += start.elapsed();
    }
    total
}

/// Spawn + wait of `/bin/true` from a parent whose resident heap is ~0, 1 GiB and 4 GiB,
/// keeping none and keeping one fd (a `/dev/null` at fd 3): guard's `Spawn` (no fork), std's
/// `Command` without hook (posix_spawn; it keeps nothing) and std's `Command` with
/// `CommandExt::inherit` (a `pre_exec` hook, so fork). Each iteration builds its command
/// and plan, as a program spawning once would (and as Python's `subprocess.run` does: the
/// peer is `benches/peers/spawn_rss.py`). guard's rows alternate with std's, and std's with
/// guard's keep one ([`alternating`]). The fork rows at 4 GiB take ~150 ms a spawn, so
/// they run last with 10 samples in a short measurement (criterion then samples flat).
#[cfg(target_os = "linux")]
fn spawn(c: &mut Criterion) {
    let mut g = c.benchmark_group("os/spawn_true");
    g.sample_size(20);
    let kept = ReadFile::open("/dev/null").expect("open /dev/null");
    let rows = [
        "guard_spawn_keep_0",
        "guard_spawn_keep_1",
        "std_command",
        "std_inherit_keep_0",
        "std_inherit_keep_1",
    ];
    for mib in SPAWN_HEAP_MIB {
        let mut heap: Option<Vec<u8>> = None;
        let need = mib * SPAWN_HEAP_HEADROOM;
        match mem_available_mib() {
            Some(avail) if avail < need => {
                for row in rows {
                    println!(
                        "os/spawn_true/{row}/{mib}: skipped: {avail} MiB available, \
                         a {mib} MiB heap needs {need} MiB"
                    );
                }
                continue;
            }
            _ => {}
        }
        let id = |row: &str| BenchmarkId::new(row, mib);
        g.bench_with_input(id(rows[0]), &mib, |b, &mib| {
            ensure_heap(&mut heap, mib);
            b.iter_custom(|n| alternating(n, guard_keep_0, std_no_hook))
        });
        g.bench_with_input(id(rows[1]), &mib, |b, &mib| {
            ensure_heap(&mut heap, mib);
            b.iter_custom(|n| alternating(n, || guard_keep_1(&kept), std_no_hook))
        });
        g.bench_with_input(id(rows[2]), &mib, |b, &mib| {
            ensure_heap(&mut heap, mib);
            b.iter_custom(|n| alternating(n, std_no_hook, || guard_keep_1(&kept)))
        });
        if mib >= 4096 {
            // ~150 ms a spawn: 10 samples of one spawn each, not 20 of several.
            g.sample_size(10).measurement_time(Duration::from_secs(1));
        }
        g.bench_with_input(id(rows[3]), &mib, |b, &mib| {
            ensure_heap(&mut heap, mib);
            b.iter(|| {
                run(Command::new("/bin/true")
                    .inherit(Inherit::new())
                    .expect("plan"))
            })
        });
        g.bench_with_input(id(rows[4]), &mib, |b, &mib| {
            ensure_heap(&mut heap, mib);
            b.iter(|| {
                run(Command::new("/bin/true")
                    .inherit(Inherit::new().keep_at(&kept, 3))
                    .expect("plan"))
            })
        });
        // The heap is freed before the next size is allocated, and after the last size
        // before the other groups run (the machine is shared).
        drop(heap);
    }
    g.finish();
}

/// The cost of exec hygiene with many live registered fds: spawning `/bin/true` with
/// N ∈ {0, 1000, 10000} of them.
#[cfg(target_os = "linux")]
fn spawn_fds(c: &mut Criterion) {
    let max_fd = raise_fd_limit() as i32;
    let mut g = c.benchmark_group("os/spawn_true_fds");
    g.sample_size(20);
    let mut live: Vec<ReadFile> = Vec::new();
    for n in [0usize, 1000, 10_000] {
        while live.len() < n {
            live.push(ReadFile::open("/dev/null").expect("open /dev/null"));
        }
        let kept = ReadFile::open("/dev/null").expect("open /dev/null");
        g.bench_with_input(BenchmarkId::new("std_command", n), &n, |b, _| {
            b.iter(|| run(&mut true_cmd()))
        });
        g.bench_with_input(BenchmarkId::new("guard_keep_0", n), &n, |b, _| {
            b.iter(|| run(true_cmd().inherit(Inherit::new()).expect("plan")))
        });
        g.bench_with_input(
            BenchmarkId::new("guard_keep_0_trust_cloexec", n),
            &n,
            |b, _| {
                b.iter(|| {
                    run(true_cmd()
                        .inherit(Inherit::new().trust_cloexec())
                        .expect("plan"))
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("guard_keep_1", n), &n, |b, _| {
            b.iter(|| {
                run(true_cmd()
                    .inherit(Inherit::new().keep(&kept))
                    .expect("plan"))
            })
        });
        g.bench_with_input(BenchmarkId::new("pre_exec_close_loop", n), &n, |b, _| {
            b.iter(|| {
                let mut cmd = true_cmd();
                // SAFETY: the hook only makes `close(2)` calls, which are async-signal-safe;
                // it allocates nothing and takes no lock.
                unsafe {
                    cmd.pre_exec(move || {
                        for fd in 3..max_fd {
                            libc::close(fd);
                        }
                        Ok(())
                    });
                }
                run(&mut cmd)
            })
        });
        g.bench_with_input(BenchmarkId::new("close_range_only", n), &n, |b, _| {
            b.iter(|| {
                let mut cmd = true_cmd();
                // SAFETY: one raw `close_range(2)` syscall: async-signal-safe, no allocation.
                unsafe {
                    cmd.pre_exec(|| {
                        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                        Ok(())
                    });
                }
                run(&mut cmd)
            })
        });
    }
    g.finish();
}

#[cfg(target_os = "linux")]
fn mutex(c: &mut Criterion) {
    let mut g = c.benchmark_group("os/mutex_lock_unlock");
    let pid = std::process::id();
    let name = format!("bench-{pid}");
    let ipc = IpcMutex::open(&name).expect("open the IPC mutex");
    g.bench_function("guard_ipc_mutex", |b| {
        b.iter(|| ipc.lock().expect("lock").unlock().expect("unlock"))
    });
    let path = std::env::temp_dir().join(format!("guard-bench-flock.{pid}"));
    let file = std::fs::File::create(&path).expect("create the flock file");
    g.bench_function("std_file_lock", |b| {
        b.iter(|| {
            file.lock().expect("flock");
            file.unlock().expect("unflock");
        })
    });
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    g.bench_function("raw_flock", |b| {
        b.iter(|| {
            // SAFETY: `fd` is `file`'s, open for the whole benchmark.
            unsafe {
                assert_eq!(libc::flock(black_box(fd), libc::LOCK_EX), 0);
                assert_eq!(libc::flock(fd, libc::LOCK_UN), 0);
            }
        })
    });
    let floor = RawRobustMutex::new();
    g.bench_function("raw_pthread_robust_shared", |b| {
        b.iter(|| floor.lock_unlock())
    });
    let local = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot", |b| b.iter(|| *local.lock() += 1));
    g.finish();
    drop(ipc);
    let _ = IpcMutex::remove(&name);
    let _ = std::fs::remove_file(path);
}

#[cfg(target_os = "linux")]
fn open_close(c: &mut Criterion) {
    let mut g = c.benchmark_group("os/open_close");
    let file = std::env::temp_dir().join(format!("guard-bench-open.{}", std::process::id()));
    std::fs::write(&file, b"x").expect("create the file to open");
    for (what, path) in [
        ("dev_null", std::path::Path::new("/dev/null")),
        ("tmp_file", &file),
    ] {
        g.bench_function(format!("guard_counted_read_file/{what}"), |b| {
            b.iter(|| {
                drop(guard::Counted::new(
                    guard::os::ReadFile::open(black_box(path)).expect("open"),
                ))
            })
        });
        g.bench_function(format!("guard_read_file_close/{what}"), |b| {
            b.iter(|| {
                guard::os::ReadFile::open(black_box(path))
                    .expect("open")
                    .close()
                    .expect("close")
            })
        });
        g.bench_function(format!("std_file/{what}"), |b| {
            b.iter(|| drop(std::fs::File::open(black_box(path)).expect("open")))
        });
    }
    g.finish();
    guard::finalizer::flush().expect("flush");
    let _ = std::fs::remove_file(file);
}

/// The floor: a robust, process-shared, error-checking pthread mutex in a shared anonymous
/// mapping, called directly (what C code would do, without guard's checks and record).
struct RawRobustMutex(*mut libc::pthread_mutex_t);

#[cfg(target_os = "linux")]
impl RawRobustMutex {
    fn new() -> RawRobustMutex {
        // SAFETY: a fresh shared anonymous mapping, big enough for the mutex and never
        // unmapped (leaked for the benchmark's life); the attributes are initialised
        // before use and the mutex is initialised before it is locked.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            let m = p.cast::<libc::pthread_mutex_t>();
            let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
            libc::pthread_mutexattr_init(attr.as_mut_ptr());
            libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED);
            libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST);
            libc::pthread_mutexattr_settype(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ERRORCHECK);
            assert_eq!(libc::pthread_mutex_init(m, attr.as_ptr()), 0);
            RawRobustMutex(m)
        }
    }

    fn lock_unlock(&self) {
        // SAFETY: the mutex was initialised in `new` and its mapping is never unmapped.
        unsafe {
            assert_eq!(libc::pthread_mutex_lock(black_box(self.0)), 0);
            assert_eq!(libc::pthread_mutex_unlock(self.0), 0);
        }
    }
}

#[cfg(target_os = "linux")]
criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = spawn, spawn_fds, mutex, open_close
}
#[cfg(target_os = "linux")]
criterion_main!(benches);

#[cfg(not(target_os = "linux"))]
fn main() {}
