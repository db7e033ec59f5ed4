//! The process on Linux: the fds open in it (`/proc/self/fd`) and its thread count
//! (`/proc/self/status`).

use super::super::conv::errno;
use rustix::fs::{Mode, OFlags};
use std::io;
use std::path::PathBuf;

/// The numbers of every fd open in this process, ascending, from `/proc/self/fd`, without
/// the fd used to read the directory.
pub(crate) fn open_fds() -> io::Result<Vec<i32>> {
    use std::os::fd::AsRawFd;
    let dir = rustix::fs::open(
        "/proc/self/fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno)?;
    let own = dir.as_raw_fd();
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut fds = Vec::new();
    let mut entries = rustix::fs::RawDir::new(&dir, buf.spare_capacity_mut());
    while let Some(entry) = entries.next() {
        let entry = entry.map_err(errno)?;
        let name = entry.file_name().to_bytes();
        if let Some(n) = std::str::from_utf8(name)
            .ok()
            .and_then(|s| s.parse::<i32>().ok())
            && n != own
        {
            fds.push(n);
        }
    }
    fds.sort_unstable();
    Ok(fds)
}

/// What fd `n` refers to (`readlink /proc/self/fd/n`), if it is still open.
pub(crate) fn fd_target(n: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{n}")).ok()
}

/// The number of threads in this process, this one included (`Threads:` in
/// [`proc_pid_status(5)`](https://man7.org/linux/man-pages/man5/proc_pid_status.5.html)).
pub(crate) fn thread_count() -> io::Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no `Threads:` line"))
}
