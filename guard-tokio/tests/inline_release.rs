//! `Async<T>` keeps `T`'s `RELEASE_TAKES_NO_LOCK`: the last handle of a counted
//! `Async<TcpListener>`, dropped in a task with nothing of its thread pending on the
//! finalizer, closes the listener (and ends its reactor registration) before `drop`
//! returns, as a `tokio::net::TcpListener` does.
// Linux only: it reads /proc/self/fd.
#![cfg(target_os = "linux")]

use guard_core::{Counted, CountedResource, finalizer};
use guard_testkit::{fd_target, watchdog};
use std::os::fd::AsRawFd;
use std::time::Duration;

#[test]
fn async_keeps_the_inner_types_promise() {
    const {
        assert!(
            <guard_tokio::Async<guard_os::TcpListener> as CountedResource>::RELEASE_TAKES_NO_LOCK
        )
    };
}

#[test]
fn a_counted_async_listener_dropped_in_a_task_closes_before_drop_returns() {
    watchdog(Duration::from_secs(60), || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // A drop goes to the finalizer when it holds its list of lanes at that moment
            // (a drop never waits for it): tried until one ran inline.
            for _ in 0..1000 {
                let listener = guard_os::TcpListener::bind("127.0.0.1:0").unwrap();
                let shared = Counted::new(guard_tokio::Async::new(listener).unwrap());
                let n = shared.as_raw_fd();
                let task = shared.clone();
                tokio::spawn(async move { drop(task) }).await.unwrap();
                let before = finalizer::stats().inline_idle;
                drop(shared);
                let inline = finalizer::stats().inline_idle > before;
                let open = fd_target(n).is_some_and(|t| t.starts_with("socket:"));
                if inline {
                    assert!(!open, "fd {n} still open after an inline release");
                    return;
                }
                finalizer::flush().unwrap();
            }
            panic!("never released on the dropping thread");
        });
    });
}
