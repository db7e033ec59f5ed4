//! Resources and timing helpers shared by the benchmarks.

#![allow(dead_code)]

use guard::{CountedResource, Resource, UniqueResource};
use std::fs::File;
use std::time::{Duration, Instant};

/// An fd-like resource: an open `/dev/null`, released by `close(2)`.
pub struct NullFd(pub File);

impl NullFd {
    /// Opens `/dev/null` read-only.
    pub fn open() -> Self {
        NullFd(File::open("/dev/null").expect("open /dev/null"))
    }
}

impl Resource for NullFd {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        drop(self.0);
        Ok(())
    }
}
impl UniqueResource for NullFd {}
impl CountedResource for NullFd {}

/// A resource whose release frees a 1 KiB buffer: a deferred drop of memory, not an fd.
pub struct Buffer(pub Vec<u8>);

impl Buffer {
    /// A fresh 1 KiB buffer.
    pub fn new() -> Self {
        Buffer(vec![7u8; 1024])
    }
}

impl Resource for Buffer {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        drop(self.0);
        Ok(())
    }
}
impl CountedResource for Buffer {}

/// A resource whose release does nothing: measures pure framework overhead.
pub struct Nothing(pub u64);

impl Resource for Nothing {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        std::hint::black_box(self.0);
        Ok(())
    }
}
impl UniqueResource for Nothing {}
impl CountedResource for Nothing {}

/// This thread's CPU time (user + system): what an operation costs the calling thread,
/// whatever else the machine runs meanwhile (the finalizer thread included). A thread
/// blocked in a full channel burns none: pair it with the wall clock for blocking peers.
pub fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Which clock a chunked measurement reads.
#[derive(Clone, Copy, Debug)]
pub enum Clock {
    /// The calling thread's CPU time.
    ThreadCpu,
    /// Wall time (includes blocking and preemption).
    Wall,
}

impl Clock {
    fn now(self) -> Duration {
        match self {
            Clock::ThreadCpu => thread_cpu(),
            Clock::Wall => wall(),
        }
    }
}

fn wall() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// Fds opened per chunk: `RLIMIT_NOFILE` is 20000 here and cannot be raised.
pub const CHUNK: u64 = 4000;

/// Times `consume` over `iters` values made by `make`, in chunks of `CHUNK`: values are
/// made untimed, `consume` is timed on `clock`, and `settle` (untimed) runs after each
/// chunk (e.g. waits for a background thread to finish the chunk).
pub fn chunked<T>(
    clock: Clock,
    iters: u64,
    mut make: impl FnMut() -> T,
    mut consume: impl FnMut(T),
    mut settle: impl FnMut(),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        let values: Vec<T> = (0..n).map(|_| make()).collect();
        let start = clock.now();
        for v in values {
            consume(v);
        }
        total += clock.now() - start;
        settle();
        left -= n;
    }
    total
}
