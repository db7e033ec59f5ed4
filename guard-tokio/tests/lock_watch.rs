//! The detector's thread lives only while some lock has waiters: once nothing waits, the
//! process is back to the threads it had (`guard_os::listen_fds` refuses while other
//! threads exist). Its own process: no other test's lock keeps the thread busy.

use guard_testkit::watchdog;
use guard_tokio::lock::Mutex;
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// Threads of this process named `name` (from `/proc/self/task/*/comm`, which keeps the
/// first 15 bytes of a name).
fn threads_named(name: &str) -> usize {
    let name = &name.as_bytes()[..name.len().min(15)];
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.strip_suffix(b"\n").unwrap_or(comm) == name)
        .count()
}

#[test]
fn the_detectors_thread_exits_once_nothing_waits_and_comes_back_for_the_next_wait() {
    watchdog(LIMIT, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let contend = || {
            rt.block_on(async {
                let m = Arc::new(Mutex::new(0));
                m.set_patience(Duration::from_millis(20));
                let held = m.clone().lock_owned().await;
                let waiter = tokio::spawn({
                    let m = m.clone();
                    async move { *m.lock().await += 1 }
                });
                tokio::time::sleep(Duration::from_millis(50)).await; // past a tick
                assert_eq!(threads_named("guard-lock-watch"), 1, "a wait starts it");
                drop(held);
                waiter.await.expect("the waiter");
            });
        };
        contend();
        // The next tick finds nobody waiting, and the thread exits (the watchdog bounds it).
        while threads_named("guard-lock-watch") != 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        contend(); // and the next wait starts it again
    });
}
