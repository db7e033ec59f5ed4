//! What a counted fd costs in CPU under a trickle of drops, next to std.
//!
//! One counted fd (`Counted<ReadFile>` on `/dev/null`) opened and dropped every 100 us,
//! 1 ms and 10 ms for 2 s; prints the process's CPU time (user + system, `getrusage`) per
//! drop, and how many drops were released inline. `std` as the first argument does the
//! same with `std::fs::File` (closed inline), the peer. A `ReadFile`'s release takes no
//! lock (`CountedResource::RELEASE_TAKES_NO_LOCK`), so an isolated drop, which finds the
//! finalizer idle, closes the fd on the dropping thread instead of waking the finalizer
//! (a futex wake and the worker's linger before it sleeps again: 30-70 us of CPU a drop).
//!
//! `cargo run --release --example trickle_cpu; cargo run --release --example trickle_cpu std`

use std::time::{Duration, Instant};

/// The process's CPU time so far.
fn cpu() -> Duration {
    // SAFETY: `getrusage` fills the zeroed struct it is given; RUSAGE_SELF cannot fail.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |tv: libc::timeval| Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn open_and_drop(std_side: bool) {
    if std_side {
        drop(std::fs::File::open("/dev/null").expect("open /dev/null"));
    } else {
        drop(guard::Counted::new(
            guard::os::ReadFile::open("/dev/null").expect("open /dev/null"),
        ));
    }
}

fn main() {
    let std_side = std::env::args().nth(1).as_deref() == Some("std");
    let side = if std_side {
        "std File"
    } else {
        "guard Counted<ReadFile>"
    };
    for period_us in [100u64, 1000, 10000] {
        let period = Duration::from_micros(period_us);
        let drops = (2_000_000 / period_us) as u32;
        open_and_drop(std_side);
        guard::finalizer::flush().expect("flush");
        let inline_before = guard::finalizer::stats().inline_idle;
        let (cpu_before, start) = (cpu(), Instant::now());
        for i in 0..drops {
            open_and_drop(std_side);
            let next = start + period * (i + 1);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        let used = cpu() - cpu_before;
        let inline = guard::finalizer::stats().inline_idle - inline_before;
        println!(
            "{side}: a drop every {period_us:>5} us: {:>6.1} us of CPU per drop, {:>5.1}% of a core{}",
            used.as_secs_f64() * 1e6 / f64::from(drops),
            used.as_secs_f64() * 100.0 / start.elapsed().as_secs_f64(),
            if std_side {
                String::new()
            } else {
                format!(", {inline}/{drops} inline")
            }
        );
    }
}
