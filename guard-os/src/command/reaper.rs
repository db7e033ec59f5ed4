//! The reaper: one thread, started at the first [`Child`](crate::Child) dropped while its
//! process still runs, that reaps such children as they exit, so none stays a zombie.
//!
//! It holds the pidfds it was given (still registered: they show in `fds()` as the
//! children's) and `poll`s them (readable once the process has exited) and a wake-up
//! pipe; `adopt` sends a pidfd over a channel and writes one byte to the pipe. If the
//! thread cannot be started, `adopt` waits for the child itself.

use crate::fd::Fd;
use crate::sys;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, Sender, channel};

struct Reaper {
    orphans: Sender<Fd>,
    wake: OwnedFd,
}

static REAPER: OnceLock<Option<Reaper>> = OnceLock::new();

/// Hands the pidfd of a running child to the reaper, which reaps it once it exits.
pub(super) fn adopt(pidfd: Fd) {
    match REAPER.get_or_init(start) {
        Some(reaper) => {
            if let Err(lost) = reaper.orphans.send(pidfd) {
                let _ = sys::spawn::wait(&lost.0, true); // the thread is gone: wait here
                return;
            }
            let _ = sys::write(&reaper.wake, &[1]);
        }
        None => {
            let _ = sys::spawn::wait(&pidfd, true);
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

fn run(wake: &OwnedFd, new: &Receiver<Fd>) {
    // `fds[0]` is the wake-up pipe, the rest are pidfds.
    let mut fds: Vec<Fd> = Vec::new();
    let mut ready = Vec::new();
    loop {
        let all: Vec<std::os::fd::BorrowedFd<'_>> = std::iter::once(wake.as_fd())
            .chain(fds.iter().map(AsFd::as_fd))
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
        fds.retain(|pidfd| {
            i += 1;
            // Kept while it runs; once readable (exited), `waitid` reaps it (or fails: not
            // ours to reap) and it is closed.
            ready.get(i) != Some(&true) || matches!(sys::spawn::wait(pidfd, false), Ok(None))
        });
        fds.extend(new.try_iter());
    }
}
