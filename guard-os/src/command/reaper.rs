//! The reaper: one thread, started at the first [`Child`](crate::Child) dropped while its
//! process still runs, that reaps such children as they exit, so none stays a zombie.
//!
//! It holds the exit fds it was given (Linux pidfds, macOS and FreeBSD exit-watching
//! kqueues; still registered: they show in `fds()` as the children's) and `poll`s them
//! (readable once the process has exited) and a wake-up pipe; `adopt` sends a child over
//! a channel and writes one byte to the pipe. On macOS and FreeBSD the pid names the child
//! (`waitpid`): it stays the child's until the reaper reaps it, the only one that does. If the
//! thread cannot be started, `adopt` waits for the child itself.

use crate::fd::Fd;
use crate::sys;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, Sender, channel};

struct Reaper {
    orphans: Sender<(u32, Fd)>,
    wake: OwnedFd,
}

static REAPER: OnceLock<Option<Reaper>> = OnceLock::new();

/// Hands a running child (its pid and exit fd) to the reaper, which reaps it once it
/// exits.
pub(super) fn adopt(pid: u32, pidfd: Fd) {
    match REAPER.get_or_init(start) {
        Some(reaper) => {
            if let Err(lost) = reaper.orphans.send((pid, pidfd)) {
                let _ = sys::spawn::wait(pid, &(lost.0).1, true); // the thread is gone: wait here
                return;
            }
            let _ = sys::write(&reaper.wake, &[1]);
        }
        None => {
            let _ = sys::spawn::wait(pid, &pidfd, true);
        }
    }
}

fn start() -> Option<Reaper> {
    let (wake_rx, wake) = sys::pipe().ok()?;
    let (orphans, rx) = channel();
    std::thread::Builder::new()
        .name("guard-reaper".into())
        .spawn(move || run(&wake_rx, &rx))
        .ok()?;
    Some(Reaper { orphans, wake })
}

fn run(wake: &OwnedFd, new: &Receiver<(u32, Fd)>) {
    // The wake-up pipe is polled first, then each child's exit fd.
    let mut fds: Vec<(u32, Fd)> = Vec::new();
    let mut ready = Vec::new();
    loop {
        let all: Vec<std::os::fd::BorrowedFd<'_>> = std::iter::once(wake.as_fd())
            .chain(fds.iter().map(|(_, fd)| fd.as_fd()))
            .collect();
        if sys::spawn::poll_readable(&all, &mut ready).is_err() {
            std::thread::yield_now();
            continue;
        }
        drop(all);
        if ready.first() == Some(&true) {
            let _ = sys::read(wake, &mut [0; 64]);
        }
        let mut i = 0;
        fds.retain(|(pid, pidfd)| {
            i += 1;
            // Kept while it runs; once readable (exited), `waitid` reaps it (or fails: not
            // ours to reap) and it is closed.
            ready.get(i) != Some(&true) || matches!(sys::spawn::wait(*pid, pidfd, false), Ok(None))
        });
        fds.extend(new.try_iter());
    }
}
