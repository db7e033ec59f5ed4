//! Resources shared by the benchmarks.

#![allow(dead_code)]

use guard::{CountedResource, Resource, UniqueResource};
use std::fs::File;
use std::time::Duration;

/// An fd-like resource: an open `/dev/null`, released by `close(2)`.
pub struct NullFd(pub File);

impl NullFd {
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
/// whatever else the machine runs meanwhile (the finalizer thread included).
pub fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Fds opened per chunk: `RLIMIT_NOFILE` is 20000 here and cannot be raised.
pub const CHUNK: u64 = 4000;

/// Times `consume` over `iters` values made by `make`, in chunks of `CHUNK`: values are
/// made untimed, `consume` is timed, and `settle` (untimed) runs after each chunk.
///
/// The clock is this thread's CPU time: the cost to the calling thread, which is what a
/// deferred release promises to keep small, and which does not count time the thread
/// spends preempted by the finalizer (or anything else) on a busy machine.
pub fn chunked<T>(
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
        let start = thread_cpu();
        for v in values {
            consume(v);
        }
        total += thread_cpu() - start;
        settle();
        left -= n;
    }
    total
}
