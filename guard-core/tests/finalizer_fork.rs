//! `fork()` without exec and the forking thread's lane: a child releases its copies of what
//! the forking thread dropped before the fork and the parent had not taken up yet.
// Linux only: it reads /proc/self/fd.
#![cfg(target_os = "linux")]

use guard_core::{Counted, CountedResource, Resource, finalizer};
use guard_testkit::{fd_target, watchdog};
use std::convert::Infallible;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

/// An fd released by closing it.
struct Fd(File);

impl Resource for Fd {
    type Error = Infallible;
    fn release(self) -> Result<(), Infallible> {
        drop(self.0);
        Ok(())
    }
}
impl CountedResource for Fd {}

/// A release that says it started, then waits to be let go: holds the parent's finalizer.
struct Gate {
    started: Mutex<Sender<()>>,
    open: Mutex<Receiver<()>>,
}

impl Resource for Gate {
    type Error = Infallible;
    fn release(self) -> Result<(), Infallible> {
        let _ = self.started.lock().unwrap().send(());
        let _ = self.open.lock().unwrap().recv();
        Ok(())
    }
}
impl CountedResource for Gate {}

/// Waits for `pid` up to `limit`; its exit code, or `None` if it did not exit (killed).
fn wait_pid(pid: libc::pid_t, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is a valid out-pointer.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        }
        if start.elapsed() > limit {
            // SAFETY: our child, which has not been reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_forked_child_closes_what_the_forking_thread_dropped_before_the_fork() {
    watchdog(Duration::from_secs(60), || {
        let (started_tx, started) = channel();
        let (open, open_rx) = channel();
        drop(Counted::new(Gate {
            started: Mutex::new(started_tx),
            open: Mutex::new(open_rx),
        }));
        // The parent's finalizer is inside the gate: what this thread drops now stays in
        // its lane, not taken, until the gate opens.
        started.recv().unwrap();
        let fd = Counted::new(Fd(File::open("/dev/null").unwrap()));
        let number = fd.0.as_raw_fd();
        drop(fd);
        // SAFETY: the child only flushes, reads /proc/self/fd and `_exit`s.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let flushed = finalizer::flush_timeout(Duration::from_secs(20)).is_ok();
            let code = match (flushed, fd_target(number).is_none()) {
                (true, true) => 0,
                (false, _) => 1,
                (true, false) => 2,
            };
            // SAFETY: ends the child at once, running none of the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        assert!(pid > 0, "fork: {}", std::io::Error::last_os_error());
        let code = wait_pid(pid, Duration::from_secs(30));
        open.send(()).unwrap();
        finalizer::flush().unwrap();
        assert!(fd_target(number).is_none(), "the parent closed its copy");
        assert_eq!(
            code,
            Some(0),
            "child: 1 = flush failed, 2 = the fd the forking thread dropped is still open, \
             None = hung"
        );
    });
}
