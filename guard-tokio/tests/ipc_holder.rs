//! guard-tokio's `IpcMutex` and its holder thread: a lock waiting for another holder
//! leaves its thread to the other tasks, an answer nobody takes is unlocked quietly, and
//! posted unlocks keep their order. Its own binary: it counts guard's unreleased reports,
//! which are process-wide.
#![cfg(target_os = "linux")]

mod ipc_common;

use ipc_common::free_for_others;

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

fn name(tag: &str) -> String {
    format!("guard-tokio-holder-{tag}-{}", std::process::id())
}

/// A thread (as another process would) holding the OS lock `n` until told to unlock it.
fn other_holder(n: &str) -> std::sync::mpsc::Sender<()> {
    let n = n.to_owned();
    let (go, wait_go) = std::sync::mpsc::channel::<()>();
    let (taken, wait_taken) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let other = guard_os::IpcMutex::open(&n).unwrap();
        let held = other.lock().unwrap();
        taken.send(()).unwrap();
        let _ = wait_go.recv();
        held.unlock().unwrap();
    });
    wait_taken.recv().unwrap();
    go
}

/// A waker that records that it was woken.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// On a current-thread runtime, a task whose lock waits for another holder returns to the
/// runtime (its spin for the holder thread's answer ends when the holder thread waits),
/// so the task that lets the other holder go runs.
#[test]
fn a_lock_waiting_for_another_holder_leaves_the_thread_to_other_tasks() {
    let n = name("leaves");
    let m = guard_tokio::IpcMutex::open(&n).unwrap();
    let go = other_holder(&n);
    guard_testkit::watchdog(Duration::from_secs(60), move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let locker = tokio::spawn(async move {
                let held = m.lock().await.unwrap();
                held.unlock_and_wait().await.unwrap();
            });
            tokio::task::yield_now().await; // the locker asks and waits
            go.send(()).unwrap(); // runs only if the locker left the thread
            locker.await.unwrap();
        });
    });
    guard_os::IpcMutex::remove(&n).unwrap();
}

/// A lock future answered by the holder thread, then dropped without being polled again:
/// the acquisition in its answer is unlocked, and not reported as an unreleased lock
/// (nobody had it).
#[test]
fn an_answer_nobody_takes_is_unlocked_quietly() {
    let n = name("answer");
    let m = guard_tokio::IpcMutex::open(&n).unwrap();
    let go = other_holder(&n);
    let nn = n.clone();
    guard_testkit::watchdog(Duration::from_secs(60), move || {
        let before = guard_core::report().unreleased();
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        {
            let mut lock = pin!(m.lock());
            // Asks; the holder thread waits for the other holder.
            assert!(lock.as_mut().poll(&mut cx).is_pending());
            go.send(()).unwrap();
            // The holder thread takes the OS lock and answers: the answer wakes us.
            while !flag.0.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        } // dropped with the answer in it
        while !free_for_others(&nn) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            guard_core::report().unreleased(),
            before,
            "an acquisition nobody held was reported as dropped without unlock"
        );
        // Usable again.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async { m.lock().await.unwrap().unlock_and_wait().await.unwrap() });
    });
    guard_os::IpcMutex::remove(&n).unwrap();
}

/// Posted unlocks and the next locks, by one task and by tasks on two workers, against a
/// thread of another handle that locks too: the holder thread does them in order (a lock
/// after a posted unlock never finds its own process holding it), and nobody is inside
/// with anyone else.
#[test]
fn posted_unlocks_come_before_the_next_lock() {
    let n = name("order");
    let m = guard_tokio::IpcMutex::open(&n).unwrap();
    let inside = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let other = {
        let (n, inside, stop) = (n.clone(), inside.clone(), stop.clone());
        std::thread::spawn(move || {
            let other = guard_os::IpcMutex::open(&n).unwrap();
            while !stop.load(Ordering::SeqCst) {
                let held = other.lock().unwrap();
                assert!(!inside.swap(true, Ordering::SeqCst), "two holders");
                inside.store(false, Ordering::SeqCst);
                held.unlock().unwrap();
                std::thread::sleep(Duration::from_micros(50)); // lets the tasks in too
            }
        })
    };
    guard_testkit::watchdog(Duration::from_secs(60), move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let tasks: Vec<_> = (0..3)
                .map(|_| {
                    let (m, inside) = (m.clone(), inside.clone());
                    tokio::spawn(async move {
                        for _ in 0..300 {
                            let held = m.lock().await.unwrap();
                            assert!(!inside.swap(true, Ordering::SeqCst), "two holders");
                            inside.store(false, Ordering::SeqCst);
                            held.unlock().unwrap();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let held = m.lock().await.unwrap();
            held.unlock_and_wait().await.unwrap();
        });
    });
    stop.store(true, Ordering::SeqCst);
    other.join().unwrap();
    guard_os::IpcMutex::remove(&n).unwrap();
}

/// `unlock_and_wait` returns once the OS lock is unlocked: another handle takes it at once.
#[test]
fn unlock_and_wait_returns_once_other_processes_can_lock() {
    let n = name("wait");
    let m = guard_tokio::IpcMutex::open(&n).unwrap();
    let nn = n.clone();
    guard_testkit::watchdog(Duration::from_secs(60), move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async move {
            for _ in 0..20 {
                let held = m.lock().await.unwrap();
                assert!(!free_for_others(&nn));
                held.unlock_and_wait().await.unwrap();
                assert!(free_for_others(&nn), "waited, yet still held");
            }
        });
    });
    guard_os::IpcMutex::remove(&n).unwrap();
}
