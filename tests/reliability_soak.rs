//! Soak: two threads run resource lifecycles of every kind (counted and unique; files,
//! pipes, UDP, Unix pairs and listeners, TCP over loopback, adopted fds, OS mutexes, derived
//! resources) while a third thread walks the fd registry (`fds().for_each`, checking R1 on
//! every visit: the fd is open, close-on-exec, and still the object its type says) and a
//! fourth spawns children through `CommandExt::inherit` (R5: each child has exactly stdio
//! and the two fds it was given). At the end, after a flush: `/proc/self/fd` is the
//! baseline, the registry and the census are back to their baselines, and the finalizer's
//! counters balance (enqueued = released + failed + panicked, nothing pending).
//!
//! Sizes: 2 threads x 50,000 lifecycles and 100 spawns (CI); `GUARD_FULL=1` runs the issue's
//! 2 x 1,000,000 lifecycles and 1,000 spawns:
//!
//! ```text
//! GUARD_FULL=1 cargo test -p guard --release --test reliability_soak -- --nocapture
//! ```
//!
//! One test in this binary (plus the child role), so the counters it checks are its own.
// Linux only: it reads /proc/self/fd (macOS and FreeBSD are compile-checked, README).
#![cfg(target_os = "linux")]

mod reliability;

use guard::os::{
    CommandExt, Fd, Inherit, IpcMutex, LiveFd, PipeReader, PipeWriter, ReadFile, TcpListener,
    TcpStream, UdpSocket, UnixListener, UnixStream, WriteFile, fds, pipe,
};
use guard::{Counted, Kind, scope};
use reliability::{Events, FdSnapshot, Record, payload, run_output, size, temp_path, watchdog};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const LIST: &str = "child_lists_its_fds";

/// Role "list": the child prints every fd it has and what it points to.
#[test]
fn child_lists_its_fds() {
    reliability::list_fds_in_role();
}

/// A unique derived resource made of real fds: released at the end of its scope, the pipe's
/// write end first (reverse declaration order), then the file.
#[derive(guard::Resource)]
#[resource(unique)]
struct Journal {
    #[resource]
    file: WriteFile,
    #[resource]
    tail: PipeWriter,
}

/// A counted derived resource made of real fds: released on the finalizer.
#[derive(guard::Resource)]
#[resource(counted)]
struct Snapshot {
    #[resource]
    file: ReadFile,
    #[resource]
    rx: PipeReader,
    len: u64,
}

/// The long-lived state of one churning thread.
struct Churn {
    id: usize,
    listener: TcpListener,
    file: PathBuf,
    unix: PathBuf,
    mutex: String,
    /// fds created, by lifecycle kind.
    fds: u64,
    by_kind: [u64; KINDS],
}

const KINDS: usize = 13;
const KIND_NAMES: [&str; KINDS] = [
    "read_file_counted",
    "read_file_closed",
    "read_file_try_release",
    "write_file_scope",
    "pipe",
    "udp_counted",
    "unix_pair_scope",
    "tcp_stream_scope",
    "tcp_listener_counted",
    "adopt_clone_into_owned",
    "derived_unique_and_counted",
    "ipc_mutex",
    "unix_listener",
];

/// Which lifecycle runs at step `i`: every kind, the cheap ones more often.
fn kind_of(i: usize) -> usize {
    const SCHEDULE: [usize; 16] = [0, 1, 3, 4, 5, 6, 0, 7, 2, 9, 10, 4, 0, 11, 8, 12];
    SCHEDULE[i % 16]
}

impl Churn {
    fn new(id: usize) -> Churn {
        Churn {
            id,
            listener: TcpListener::bind("127.0.0.1:0").expect("bind the thread's listener"),
            file: temp_path(&format!("soak-{id}.log")),
            unix: temp_path(&format!("soak-{id}.sock")),
            mutex: format!("rel-soak-{}-{id}", std::process::id()),
            fds: 0,
            by_kind: [0; KINDS],
        }
    }

    fn run(&mut self, i: usize) -> Result<(), BoxError> {
        let kind = kind_of(i + self.id);
        let fds = match kind {
            0 => {
                // Counted: the finalizer closes it.
                drop(Counted::new(ReadFile::open("/dev/null")?));
                1
            }
            1 => {
                ReadFile::open("/dev/null")?.close()?;
                1
            }
            2 => {
                let a = Counted::new(ReadFile::open("/dev/null")?);
                let b = a.clone();
                let a = match a.try_release() {
                    Err(guard::TryReleaseError::Shared(a)) => a,
                    other => return Err(format!("not shared: {other:?}").into()),
                };
                drop(a);
                b.try_release().map_err(|e| e.to_string())?; // the last: closed now
                1
            }
            3 => {
                scope(|s| {
                    let mut w = s.enter(WriteFile::append(&self.file)?);
                    w.write_all(b"w")?;
                    Ok::<_, std::io::Error>(())
                })?;
                1
            }
            4 => {
                let (r, w) = pipe()?;
                let r = Counted::new(r);
                let r2 = r.clone();
                scope(|s| {
                    let w = s.enter(w);
                    (&*w).write_all(b"p")?;
                    Ok::<_, std::io::Error>(())
                })?; // the write end is closed here: the reader sees EOF now
                let mut got = Vec::new();
                (&*r2).read_to_end(&mut got)?;
                if got != b"p" {
                    return Err(format!("pipe read {got:?}").into());
                }
                2
            }
            5 => {
                let u = Counted::new(UdpSocket::bind("127.0.0.1:0")?);
                u.send_to(b"u", u.local_addr()?)?;
                let mut buf = [0; 4];
                let (n, _) = u.recv_from(&mut buf)?;
                if &buf[..n] != b"u" {
                    return Err("udp".into());
                }
                1
            }
            6 => {
                let (a, b) = UnixStream::pair()?;
                scope(|s| {
                    let a = s.enter(a);
                    let b = s.enter(b);
                    (&*a).write_all(b"x")?;
                    a.release()?; // shutdown(Write) + close: b sees EOF
                    let mut got = Vec::new();
                    (&*b).read_to_end(&mut got)?;
                    if got != b"x" {
                        return Err(std::io::Error::other("unix pair"));
                    }
                    Ok(())
                })?;
                2
            }
            7 => {
                let c = TcpStream::connect(self.listener.local_addr()?)?;
                let (srv, _) = self.listener.accept()?;
                scope(|s| {
                    let c = s.enter(c);
                    let srv = s.enter(srv);
                    (&*c).write_all(b"t")?;
                    c.release()?;
                    let mut got = Vec::new();
                    (&*srv).read_to_end(&mut got)?;
                    if got != b"t" {
                        return Err(std::io::Error::other("tcp"));
                    }
                    Ok(())
                })?;
                2
            }
            8 => {
                drop(Counted::new(TcpListener::bind("127.0.0.1:0")?));
                1
            }
            9 => {
                let fd = Fd::adopt(std::fs::File::open("/dev/zero")?.into());
                let twin = fd.try_clone()?;
                drop(fd.into_owned()?); // a duplicate out of the registry, closed by std
                drop(Counted::new(twin));
                3
            }
            10 => {
                let (r, w) = pipe()?;
                let snapshot = Counted::new(Snapshot {
                    file: ReadFile::open("/dev/null")?,
                    rx: r,
                    len: 0,
                });
                scope(|s| {
                    let j = s.enter(Journal {
                        file: WriteFile::append(&self.file)?,
                        tail: w,
                    });
                    (&j.tail).write_all(b"j")?;
                    Ok::<_, std::io::Error>(())
                })?;
                let mut got = Vec::new();
                (&snapshot.rx).read_to_end(&mut got)?;
                if got != b"j" || snapshot.len != 0 {
                    return Err("derived".into());
                }
                4
            }
            11 => {
                let m = Counted::new(IpcMutex::open(&self.mutex)?);
                let lock = m.lock().map_err(|e| e.to_string())?;
                lock.unlock()?;
                1
            }
            _ => {
                let _ = std::fs::remove_file(&self.unix);
                let l = Counted::new(UnixListener::bind(&self.unix)?);
                let c = UnixStream::connect(&self.unix)?;
                let srv = l.accept()?;
                c.close()?;
                srv.close()?;
                3
            }
        };
        self.fds += fds;
        self.by_kind[kind] += 1;
        Ok(())
    }

    fn finish(self) -> (u64, [u64; KINDS]) {
        let _ = std::fs::remove_file(&self.file);
        let _ = std::fs::remove_file(&self.unix);
        if let Ok(m) = IpcMutex::open(&self.mutex) {
            let path = m.path().to_owned();
            m.close().expect("close the soak mutex");
            let _ = std::fs::remove_file(path);
        }
        (self.fds, self.by_kind)
    }
}

/// R1 for one visited fd: open, close-on-exec, and still the object its type says (a
/// reused number would point somewhere else).
fn check_visit(fd: &LiveFd<'_>, temp: &str) -> Result<(), String> {
    let n = fd.number();
    let flags = rustix::io::fcntl_getfd(fd.as_fd())
        .map_err(|e| format!("fd {n} ({}) closed under its lease: {e}", fd.type_name()))?;
    if !flags.contains(rustix::io::FdFlags::CLOEXEC) {
        return Err(format!("fd {n} ({}) without FD_CLOEXEC", fd.type_name()));
    }
    let target = std::fs::read_link(format!("/proc/self/fd/{n}"))
        .map_err(|e| format!("fd {n}: readlink: {e}"))?;
    let target = target.to_string_lossy();
    let ty = fd.type_name().rsplit("::").next().unwrap_or_default();
    let ok = match ty {
        "ReadFile" => target == "/dev/null",
        "Fd" => target == "/dev/zero",
        "WriteFile" => target.starts_with(temp),
        "PipeReader" | "PipeWriter" => target.starts_with("pipe:["),
        "TcpListener" | "TcpStream" | "UdpSocket" | "UnixListener" | "UnixStream" => {
            target.starts_with("socket:[")
        }
        "IpcMutex" => target.contains("guard-mutex."),
        _ => true, // not created by this test
    };
    let kind_ok = match ty {
        "WriteFile" | "PipeWriter" | "TcpStream" | "UnixStream" => fd.kind() == Kind::Unique,
        _ => fd.kind() == Kind::Counted,
    };
    if !ok || !kind_ok {
        return Err(format!(
            "fd {n} registered as {} {} points to {target}: reused under its lease",
            fd.kind(),
            fd.type_name()
        ));
    }
    Ok(())
}

/// Spawns children through `inherit`, each keeping a pipe's read end at 10 and a UDP socket
/// at 11; each must have exactly {0, 1, 2, 10, 11}, pointing at those objects (R5).
fn spawn_children(n: usize, stop_early: &AtomicBool) -> Result<u64, String> {
    let (pr, pw) = pipe().map_err(|e| e.to_string())?;
    let udp = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let link = |fd: &dyn AsRawFd| guard_testkit::fd_target(fd.as_raw_fd()).unwrap_or_default();
    let (want_pipe, want_udp) = (link(&pr), link(&udp));
    let mut spawned = 0;
    for i in 0..n {
        if stop_early.load(Ordering::Relaxed) {
            break;
        }
        let mut cmd = reliability::child(LIST, "list");
        cmd.inherit(Inherit::new().keep_at(&pr, 10).keep_at(&udp, 11))
            .map_err(|e| e.to_string())?;
        let out = run_output(cmd, 120.0);
        if !out.status.success() {
            return Err(format!(
                "child {i} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let got: Vec<(i32, String)> = payload(&out)
            .iter()
            .filter_map(|l| {
                let (n, t) = l.split_once(' ')?;
                Some((n.parse().ok()?, t.to_owned()))
            })
            .collect();
        let numbers: Vec<i32> = got.iter().map(|(n, _)| *n).collect();
        if numbers != [0, 1, 2, 10, 11] {
            return Err(format!("child {i} inherited {got:?}"));
        }
        if got[3].1 != want_pipe || got[4].1 != want_udp {
            return Err(format!("child {i}: 10/11 point elsewhere: {got:?}"));
        }
        spawned += 1;
    }
    pw.close().map_err(|e| e.to_string())?;
    drop((pr, udp));
    Ok(spawned)
}

#[test]
fn soak_lifecycles_with_concurrent_passes_and_spawns() {
    if reliability::role().is_some() {
        return;
    }
    let per_thread = size(50_000, 1_000_000);
    let spawns = size(100, 1_000);
    let limit = if reliability::full() { 3_600 } else { 240 };
    watchdog("soak", limit, move || soak(per_thread, spawns));
}

fn soak(per_thread: usize, spawns: usize) {
    let _serial = reliability::serial();
    // Warm up what is created lazily and lives for the whole process (finalizer threads,
    // the registry, the census), so that the baseline holds it.
    drop(Counted::new(ReadFile::open("/dev/null").unwrap()));
    reliability::flush();
    let events = Events::capture();
    let baseline = FdSnapshot::take();
    let registered = fds().len();
    let untracked = guard::os::untracked().unwrap();
    let stats0 = guard::finalizer::stats();
    let retries0 = guard::os::pressure_retries();
    let start = Instant::now();

    let stop = Arc::new(AtomicBool::new(false));
    let temp = std::env::temp_dir()
        .join(format!("guard-test-{}-", std::process::id())) // reliability::temp_path's
        .display()
        .to_string();

    // The registry walker: R1 on every visit, while the churners open and close.
    let passes = Arc::new(AtomicU64::new(0));
    let visits = Arc::new(AtomicU64::new(0));
    let violations: Arc<Mutex<Vec<String>>> = Arc::default();
    let walker = {
        let (stop, passes, visits, violations) = (
            stop.clone(),
            passes.clone(),
            visits.clone(),
            violations.clone(),
        );
        let temp = temp.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                fds().for_each(|fd| {
                    visits.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = check_visit(fd, &temp) {
                        violations.lock().unwrap().push(e);
                    }
                });
                passes.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    // The spawner: children through `inherit` while everything else runs.
    let spawner = {
        let stop = stop.clone();
        std::thread::spawn(move || spawn_children(spawns, &stop))
    };

    let churners: Vec<_> = (0..2)
        .map(|t| {
            std::thread::spawn(move || {
                let mut churn = Churn::new(t);
                for i in 0..per_thread {
                    if let Err(e) = churn.run(i) {
                        panic!(
                            "thread {t}, lifecycle {i} ({}): {e}",
                            KIND_NAMES[kind_of(i + t)]
                        );
                    }
                }
                churn.finish()
            })
        })
        .collect();
    let churned: Vec<_> = churners.into_iter().map(|c| c.join()).collect();
    if churned.iter().any(Result::is_err) {
        stop.store(true, Ordering::Relaxed); // the walker and the spawner stop too
    }
    let mut fds_created = 0;
    let mut by_kind = [0u64; KINDS];
    for c in churned {
        let (n, k) = c.unwrap_or_else(|p| std::panic::resume_unwind(p));
        fds_created += n;
        for (total, k) in by_kind.iter_mut().zip(k) {
            *total += k;
        }
    }
    let churn_secs = start.elapsed().as_secs_f64();
    let spawned = spawner.join().expect("the spawner panicked");
    stop.store(true, Ordering::Relaxed);
    walker.join().expect("the walker panicked");
    let spawned = spawned.expect("spawns");

    reliability::flush();
    let after = FdSnapshot::take();
    let (leaked, lost) = after.diff(&baseline);
    let stats = guard::finalizer::stats();
    let report = guard::report();
    let live_here: usize = report
        .sections()
        .flat_map(|(_, groups)| groups)
        .filter(|g| g.origin.site().file() == file!())
        .map(|g| g.count)
        .sum();
    let violations = violations.lock().unwrap().clone();
    let events = events.take();
    let retries = guard::os::pressure_retries() - retries0;

    let mut record = Record::new("soak", "soak_lifecycles_with_concurrent_passes_and_spawns")
        .count("threads", 2)
        .count("lifecycles_per_thread", per_thread as u64)
        .count("lifecycles", 2 * per_thread as u64)
        .count("fds_created", fds_created)
        .count("for_each_passes", passes.load(Ordering::Relaxed))
        .count("fds_visited", visits.load(Ordering::Relaxed))
        .count("r1_violations", violations.len() as u64)
        .count("spawns", spawned)
        .count("fds_leaked", leaked.len() as u64)
        .count("fds_lost", lost.len() as u64)
        .num("registry_delta", (fds().len() as f64) - registered as f64)
        .count("live_left", live_here as u64)
        .count("enqueued", stats.enqueued - stats0.enqueued)
        .count("released", stats.released - stats0.released)
        .count("failed", stats.failed - stats0.failed)
        .count("panicked", stats.panicked - stats0.panicked)
        .count("pending", stats.pending)
        .count("high_water", stats.high_water)
        .count("pressure_retries", retries)
        .count("events", events.len() as u64)
        .num("churn_s", churn_secs)
        .secs("total_s", start);
    for (name, n) in KIND_NAMES.iter().zip(by_kind) {
        record = record.count(&format!("kind_{name}"), n);
    }
    record.emit();

    assert!(violations.is_empty(), "R1 violated: {violations:#?}");
    assert_eq!(spawned, spawns as u64, "every spawn ran");
    assert!(
        leaked.is_empty() && lost.is_empty(),
        "/proc/self/fd differs from the baseline: leaked {leaked:?}, lost {lost:?}"
    );
    assert_eq!(
        fds().len(),
        registered,
        "the registry is back to its baseline"
    );
    assert_eq!(guard::os::untracked().unwrap(), untracked);
    assert_eq!(live_here, 0, "{report}");
    assert_eq!(
        stats.enqueued,
        stats.released + stats.failed + stats.panicked,
        "{stats}"
    );
    assert_eq!(stats.pending, 0, "{stats}");
    assert_eq!(
        stats.failed + stats.panicked,
        stats0.failed + stats0.panicked
    );
    assert!(events.is_empty(), "unexpected events: {events:#?}");
    assert!(passes.load(Ordering::Relaxed) > 0 && visits.load(Ordering::Relaxed) > 0);
    assert_eq!(by_kind.iter().sum::<u64>(), 2 * per_thread as u64);
    assert!(
        by_kind.iter().all(|&n| n > 0),
        "every kind ran: {by_kind:?}"
    );
}
