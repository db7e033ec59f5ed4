//! N3: the node pool's memory is bounded per thread and in total, and a thread's list is
//! given back when the thread exits. Heap bytes are counted by a counting allocator; alone
//! in its test binary, with one test, so nothing else allocates meanwhile.

mod common;

use common::watchdog;
use guard_core::{Counted, CountedResource, Resource, finalizer};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

#[global_allocator]
static ALLOC: guard_testkit::Counting = guard_testkit::Counting::new();

/// A counted value whose allocation falls in the pool's largest class (512 bytes).
struct Big([u8; 470]);

impl Resource for Big {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        std::hint::black_box(&self.0);
        Ok(())
    }
}
impl CountedResource for Big {}

const MIB: isize = 1024 * 1024;

fn live() -> isize {
    ALLOC.live()
}

#[test]
fn pooled_memory_is_bounded_after_32_threads_bursts_and_given_back_at_exit() {
    const THREADS: usize = 32;
    const BURST: usize = 4096; // 2 MiB of 512-byte nodes per burst
    watchdog(Duration::from_secs(120), || {
        finalizer::flush().unwrap();
        let base = live();
        // One burst at a time (the peak stays one burst), then each thread idles.
        let turn = Arc::new(Mutex::new(()));
        let idle = Arc::new(Barrier::new(THREADS + 1));
        let exit = Arc::new(Barrier::new(THREADS + 1));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (turn, idle, exit) = (turn.clone(), idle.clone(), exit.clone());
                std::thread::spawn(move || {
                    {
                        let _turn = turn.lock().unwrap();
                        let burst: Vec<_> =
                            (0..BURST).map(|_| Counted::new(Big([1; 470]))).collect();
                        drop(burst);
                        finalizer::flush().unwrap();
                        // A later, small allocation on this thread, as a server's next request.
                        drop(Counted::new(Big([2; 470])));
                        finalizer::flush().unwrap();
                    }
                    idle.wait();
                    exit.wait();
                })
            })
            .collect();
        idle.wait();
        let held_idle = live() - base;
        exit.wait();
        for t in threads {
            t.join().unwrap();
        }
        let held_after = live() - base;
        eprintln!(
            "pooled: {} KiB with 32 idle threads, {} KiB after they exited",
            held_idle / 1024,
            held_after / 1024
        );
        assert!(
            held_idle < 8 * MIB,
            "32 idle threads hold {} KiB of pooled nodes",
            held_idle / 1024
        );
        assert!(
            held_after < 6 * MIB,
            "after the threads exited, {} KiB are still pooled",
            held_after / 1024
        );
    });
}
