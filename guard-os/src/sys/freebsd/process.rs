//! The process on FreeBSD: the fds open in it and what each refers to
//! (`sysctl(KERN_PROC_FILEDESC)`, what `kinfo_getfile(3)` reads, without linking libutil),
//! and its thread count (`ki_numthreads` of `sysctl(KERN_PROC_PID)`).

use std::ffi::{CStr, c_int, c_void};
use std::io;
use std::mem::{offset_of, size_of};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// `sysctl(name)` into a buffer grown until the answer fits.
fn sysctl(name: &[c_int]) -> io::Result<Vec<u8>> {
    let mut len: usize = 0;
    // SAFETY: a null buffer: the call only writes the size it needs into `len`.
    let r = unsafe {
        libc::sysctl(
            name.as_ptr(),
            name.len() as u32,
            std::ptr::null_mut(),
            &raw mut len,
            std::ptr::null(),
            0,
        )
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    loop {
        // Room for fds opened meanwhile.
        len = len + len / 4 + 1024;
        let mut buf = vec![0u8; len];
        // SAFETY: `buf` has `len` bytes; the call writes at most that many and stores how
        // many it wrote in `len`.
        let r = unsafe {
            libc::sysctl(
                name.as_ptr(),
                name.len() as u32,
                buf.as_mut_ptr().cast::<c_void>(),
                &raw mut len,
                std::ptr::null(),
                0,
            )
        };
        if r == 0 {
            buf.truncate(len);
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOMEM) {
            return Err(e);
        }
    }
}

/// One `kinfo_file` record of the packed list: `(fd, path)`; `fd` is negative for the
/// process's directories and text (`KF_FD_TYPE_CWD` and the like), `path` empty for
/// sockets and pipes.
fn records(buf: &[u8]) -> impl Iterator<Item = (c_int, &[u8])> {
    let int_at = |rec: &[u8], at: usize| -> Option<c_int> {
        let bytes = rec.get(at..at + size_of::<c_int>())?;
        Some(c_int::from_ne_bytes(bytes.try_into().ok()?))
    };
    let mut rest = buf;
    std::iter::from_fn(move || {
        let size = usize::try_from(int_at(rest, offset_of!(libc::kinfo_file, kf_structsize))?)
            .ok()
            .filter(|&s| s > 0 && s <= rest.len())?;
        let (rec, next) = rest.split_at(size);
        rest = next;
        let fd = int_at(rec, offset_of!(libc::kinfo_file, kf_fd))?;
        let path = rec
            .get(offset_of!(libc::kinfo_file, kf_path)..)
            .unwrap_or(&[]);
        let path = CStr::from_bytes_until_nul(path).map_or(&[][..], CStr::to_bytes);
        Some((fd, path))
    })
}

fn filedesc() -> io::Result<Vec<u8>> {
    let pid = std::process::id() as c_int;
    sysctl(&[
        libc::CTL_KERN,
        libc::KERN_PROC,
        libc::KERN_PROC_FILEDESC,
        pid,
    ])
}

/// The numbers of every fd open in this process, ascending
/// ([`sysctl(3)`](https://man.freebsd.org/cgi/man.cgi?query=sysctl&sektion=3)
/// `kern.proc.filedesc`).
pub(crate) fn open_fds() -> io::Result<Vec<i32>> {
    let buf = filedesc()?;
    let mut fds: Vec<i32> = records(&buf)
        .map(|(fd, _)| fd)
        .filter(|&fd| fd >= 0)
        .collect();
    fds.sort_unstable();
    Ok(fds)
}

/// What fd `n` refers to, if it is open and a file with a path (`kf_path`).
pub(crate) fn fd_target(n: i32) -> Option<PathBuf> {
    let buf = filedesc().ok()?;
    let (_, path) = records(&buf).find(|&(fd, _)| fd == n)?;
    (!path.is_empty()).then(|| PathBuf::from(std::ffi::OsStr::from_bytes(path)))
}

/// The number of threads in this process, this one included (`ki_numthreads` of
/// `sysctl(kern.proc.pid)`).
pub(crate) fn thread_count() -> io::Result<usize> {
    let pid = std::process::id() as c_int;
    let buf = sysctl(&[libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PID, pid])?;
    let at = offset_of!(libc::kinfo_proc, ki_numthreads);
    let bytes = buf
        .get(at..at + size_of::<c_int>())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short kinfo_proc"))?;
    let n = c_int::from_ne_bytes(bytes.try_into().unwrap_or_default());
    usize::try_from(n)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative thread count"))
}
