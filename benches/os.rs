//! The OS layer against what a program would do without it, side by side in one run:
//!
//! - `os/spawn_true`: spawn + wait of `/bin/true` keeping one fd at fd 3, at parent RSS ~0
//!   and 1 GiB (a heap allocated and touched first): guard's `Spawn` (no fork) vs std's
//!   `Command` without hook (posix_spawn, keeps nothing) vs std's `Command` with
//!   `inherit` (a `pre_exec` hook: fork, whose cost grows with the heap);
//! - `os/spawn_true_fds`: spawning `/bin/true` with N ∈ {0, 1000, 10000} live registered fds: guard's exec plan
//!   keeping none (by default it still closes every other fd in the child, R5; with
//!   `trust_cloexec` it adds no hook and std keeps posix_spawn) and keeping one, std's
//!   `Command` as is (posix_spawn, relies on CLOEXEC),
//!   a `pre_exec` loop closing every number up to the fd limit, and `pre_exec` with
//!   `close_range(3, ~0, 0)` alone;
//! - the OS mutex: lock + unlock of guard's `IpcMutex` vs std's `File::lock` (`flock(2)`),
//!   raw `flock`, a raw robust process-shared pthread mutex in shared memory (the floor
//!   `IpcMutex` builds on) and `parking_lot::Mutex` (in-process only).
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
use std::time::Duration;

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

/// Touches every page of a fresh `bytes`-long heap allocation, so that it is resident.
fn resident_heap(bytes: usize) -> Vec<u8> {
    let mut heap = vec![0u8; bytes];
    for page in heap.chunks_mut(4096) {
        page[0] = 1;
    }
    heap
}

#[cfg(target_os = "linux")]
fn spawn(c: &mut Criterion) {
    let mut g = c.benchmark_group("os/spawn_true");
    g.sample_size(20);
    let kept = ReadFile::open("/dev/null").expect("open /dev/null");
    let mut heap = Vec::new();
    for mib in [0usize, 1024] {
        heap = if mib == 0 {
            Vec::new()
        } else {
            resident_heap(mib << 20)
        };
        g.bench_with_input(BenchmarkId::new("guard_spawn_keep_1", mib), &mib, |b, _| {
            let mut spawn = Spawn::from_command(&Command::new("/bin/true"))
                .inherit(Inherit::new().keep_at(&kept, 3))
                .expect("plan");
            b.iter(|| {
                let status = spawn
                    .spawn()
                    .expect("spawn /bin/true")
                    .wait()
                    .expect("wait");
                assert!(status.success());
            })
        });
        g.bench_with_input(BenchmarkId::new("std_command", mib), &mib, |b, _| {
            b.iter(|| run(&mut Command::new("/bin/true")))
        });
        g.bench_with_input(BenchmarkId::new("std_inherit_keep_1", mib), &mib, |b, _| {
            b.iter(|| {
                run(Command::new("/bin/true")
                    .inherit(Inherit::new().keep_at(&kept, 3))
                    .expect("plan"))
            })
        });
    }
    drop(std::hint::black_box(heap));
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
    targets = spawn, spawn_fds, mutex
}
#[cfg(target_os = "linux")]
criterion_main!(benches);

#[cfg(not(target_os = "linux"))]
fn main() {}
