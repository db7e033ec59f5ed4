//! The process as a whole: its id, and, from each OS's own source, the fds open in it
//! and its thread count (`linux/process.rs`, `apple/process.rs`, `freebsd/process.rs`).

/// This process's id ([`getpid(2)`](https://man7.org/linux/man-pages/man2/getpid.2.html)).
pub(crate) fn pid() -> u32 {
    rustix::process::getpid().as_raw_pid().unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::super::{fd_target, open_fds, thread_count};
    use std::os::fd::AsRawFd;
    use std::path::Path;

    #[test]
    fn counts_threads() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        assert!(thread_count().unwrap() >= 2); // this one and `t`, at least
        drop(tx);
        let _ = t.join();
    }

    #[test]
    fn open_fds_lists_without_its_own_dir() {
        let f = crate::sys::open_read(Path::new("/dev/null")).unwrap();
        let fds = open_fds().unwrap();
        assert!(fds.contains(&f.as_raw_fd()));
        assert!(fds.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(fd_target(f.as_raw_fd()).unwrap(), Path::new("/dev/null"));
    }
}
