//! fd pressure under users' conditions (issue 14, F5): threads that each hold at most one
//! fd at a time open a counted `ReadFile` and drop it, as fast as they can; the dropped fds
//! wait on the finalizer, so the process runs out of fds while guard holds them pending.
//! No creation may fail with EMFILE then. std's `File::open` + drop in the same loop is the
//! figure beside it. Limits 1024 and 64; 1, 2, 4 and 8 threads; releases that take no
//! time and releases that take 1 ms. Each configuration runs in a child process with its
//! own `RLIMIT_NOFILE`. Sizes: CI small, `GUARD_FULL=1` larger.
//!
//! Each configuration's figures are also printed as a `RELIABILITY {json}` line (seen with
//! `--nocapture`), from which `reliability/run.sh` and `reliability/report.py` write the
//! table in `RELIABILITY.md`.

mod common;

use guard_core::{Counted, CountedResource, Resource};
use guard_os::ReadFile;
use std::time::{Duration, Instant};

/// A counted fd whose release takes `delay` before it closes the fd.
struct Slow {
    file: ReadFile,
    delay: Duration,
}

impl Resource for Slow {
    type Error = guard_os::Error;
    fn release(self) -> guard_os::Result<()> {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        self.file.release()
    }
}
impl CountedResource for Slow {}

fn set_nofile(limit: u64) {
    use rustix::process::{Resource as R, Rlimit, getrlimit, setrlimit};
    let hard = getrlimit(R::Nofile).maximum;
    setrlimit(
        R::Nofile,
        Rlimit {
            current: Some(limit),
            maximum: hard,
        },
    )
    .expect("setrlimit(RLIMIT_NOFILE)");
}

fn is_emfile(errno: Option<i32>) -> bool {
    matches!(errno, Some(libc::EMFILE | libc::ENFILE))
}

/// Runs `threads` threads of `opens` opens each; returns (EMFILE count, other errors,
/// elapsed).
fn run(threads: usize, opens: usize, delay: Duration, guard: bool) -> (usize, usize, Duration) {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let (mut emfile, mut other) = (0, 0);
                for _ in 0..opens {
                    if guard {
                        match ReadFile::open("/dev/null") {
                            Ok(file) => drop(Counted::new(Slow { file, delay })),
                            Err(e) if is_emfile(e.raw_os_error()) => emfile += 1,
                            Err(_) => other += 1,
                        }
                    } else {
                        match std::fs::File::open("/dev/null") {
                            Ok(file) => {
                                // The same release time, on the dropping thread (std closes there).
                                if !delay.is_zero() {
                                    std::thread::sleep(delay);
                                }
                                drop(file);
                            }
                            Err(e) if is_emfile(e.raw_os_error()) => emfile += 1,
                            Err(_) => other += 1,
                        }
                    }
                }
                (emfile, other)
            })
        })
        .collect();
    let (mut emfile, mut other) = (0, 0);
    for h in handles {
        let (e, o) = h.join().expect("opener thread");
        emfile += e;
        other += o;
    }
    (emfile, other, start.elapsed())
}

fn child_role(limit: u64) {
    set_nofile(limit);
    // Start the finalizer before the fds run out.
    drop(Counted::new(guard_testkit::Blocker(Duration::ZERO)));
    guard_core::finalizer::flush().unwrap();
    println!("BEGIN");
    for delay in [Duration::ZERO, Duration::from_millis(1)] {
        for threads in [1, 2, 4, 8] {
            let opens = if delay.is_zero() {
                common::size(20_000, 500_000)
            } else {
                // The finalizer closes at most one fd a ms: 8 × 150 opens can leave more
                // than 1024 closes pending, so the 1 ms rows reach both limits.
                common::size(150, 400)
            };
            let (g_emfile, g_other, g_time) = run(threads, opens, delay, true);
            guard_core::finalizer::flush().unwrap();
            let (s_emfile, s_other, s_time) = run(threads, opens, delay, false);
            println!(
                "{limit} {threads} {} {} {g_emfile} {g_other} {} {s_emfile} {s_other} {}",
                delay.as_millis(),
                threads * opens,
                g_time.as_millis(),
                s_time.as_millis()
            );
        }
    }
    println!("END");
}

#[test]
fn counted_fds_pending_close_never_cause_emfile() {
    match common::role().as_deref() {
        Some("1024") => return child_role(1024),
        Some("64") => return child_role(64),
        Some(_) => return,
        None => {}
    }
    println!("limit threads release_ms opens | guard: EMFILE other ms | std: EMFILE other ms");
    let mut failures = Vec::new();
    for limit in ["1024", "64"] {
        let out = common::output_of(
            &mut common::child("counted_fds_pending_close_never_cause_emfile", limit),
            300,
        );
        assert!(
            out.status.success(),
            "child failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for row in common::payload(&out) {
            let f: Vec<&str> = row.split_whitespace().collect();
            println!(
                "{:>5} {:>7} {:>10} {:>6} | guard: {:>5} {:>5} {:>6} | std: {:>5} {:>5} {:>6}",
                f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9]
            );
            println!(
                "RELIABILITY {{\"suite\":\"pressure\",\"test\":\"counted_fds_pending_close_never_cause_emfile\",\
                 \"size\":\"{}\",\"limit\":{},\"threads\":{},\"release_ms\":{},\"opens\":{},\
                 \"guard_emfile\":{},\"guard_other\":{},\"guard_ms\":{},\
                 \"std_emfile\":{},\"std_other\":{},\"std_ms\":{}}}",
                if common::full() { "full" } else { "ci" },
                f[0],
                f[1],
                f[2],
                f[3],
                f[4],
                f[5],
                f[6],
                f[7],
                f[8],
                f[9]
            );
            if f[4] != "0" || f[5] != "0" {
                failures.push(row.clone());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "guard's opens failed while its own closes were pending: {failures:?}"
    );
}
