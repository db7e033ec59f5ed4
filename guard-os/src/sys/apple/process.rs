//! The process on macOS: the fds open in it (`proc_pidinfo(PROC_PIDLISTFDS)`), what each
//! refers to (`fcntl(F_GETPATH)`), and its thread count (`proc_pidinfo(PROC_PIDTASKINFO)`).
//! libproc's calls and constants are in the libc crate.

use std::ffi::{CStr, c_int, c_void};
use std::io;
use std::mem::{MaybeUninit, size_of};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The numbers of every fd open in this process, ascending
/// ([`proc_pidinfo`](https://opensource.apple.com/source/xnu/xnu-7195.81.3/libsyscall/wrappers/libproc/libproc.h)
/// with `PROC_PIDLISTFDS`).
pub(crate) fn open_fds() -> io::Result<Vec<i32>> {
    let pid = std::process::id() as c_int;
    const ENTRY: usize = size_of::<libc::proc_fdinfo>();
    // Asked with no buffer, it returns the size the table needs now (with room to spare);
    // more fds opened meanwhile fill the buffer, and then it is grown and asked again.
    // SAFETY: a null buffer of size 0: the call writes nothing.
    let mut want =
        unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDLISTFDS, 0, std::ptr::null_mut(), 0) };
    loop {
        if want <= 0 {
            return Err(io::Error::last_os_error());
        }
        let len = usize::try_from(want).unwrap_or(0) / ENTRY + 16;
        let mut buf: Vec<MaybeUninit<libc::proc_fdinfo>> = Vec::with_capacity(len);
        let bytes = c_int::try_from(len * ENTRY).unwrap_or(c_int::MAX);
        // SAFETY: `buf` has room for `bytes` bytes of `proc_fdinfo` entries; the call
        // writes at most that many and returns how many it wrote.
        let got = unsafe {
            libc::proc_pidinfo(
                pid,
                libc::PROC_PIDLISTFDS,
                0,
                buf.as_mut_ptr().cast::<c_void>(),
                bytes,
            )
        };
        if got <= 0 {
            return Err(io::Error::last_os_error());
        }
        let n = usize::try_from(got).unwrap_or(0) / ENTRY;
        if n == len {
            want = bytes.saturating_mul(2); // perhaps cut short: ask again with more room
            continue;
        }
        // SAFETY: the first `n` entries were written by the kernel.
        unsafe { buf.set_len(n) };
        let mut fds: Vec<i32> = buf
            .iter()
            // SAFETY: initialised, as above.
            .map(|e| unsafe { e.assume_init_ref() }.proc_fd)
            .collect();
        fds.sort_unstable();
        return Ok(fds);
    }
}

/// What fd `n` refers to, if it is open and a file with a path
/// ([`fcntl(F_GETPATH)`](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/fcntl.2.html));
/// `None` for sockets, pipes and closed numbers.
pub(crate) fn fd_target(n: i32) -> Option<PathBuf> {
    let mut buf = [0u8; libc::PATH_MAX as usize];
    // SAFETY: `F_GETPATH` takes a plain fd number (EBADF if it is not open) and writes a
    // NUL-terminated path of at most `MAXPATHLEN` (= `PATH_MAX`) bytes into `buf`.
    let r = unsafe { libc::fcntl(n, libc::F_GETPATH, buf.as_mut_ptr()) };
    if r == -1 {
        return None;
    }
    let path = CStr::from_bytes_until_nul(&buf).ok()?;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(path.to_bytes())))
}

/// The number of threads in this process, this one included (`pti_threadnum` of
/// `proc_pidinfo(PROC_PIDTASKINFO)`).
pub(crate) fn thread_count() -> io::Result<usize> {
    let mut info = MaybeUninit::<libc::proc_taskinfo>::zeroed();
    let size = size_of::<libc::proc_taskinfo>() as c_int;
    // SAFETY: `info` has room for one `proc_taskinfo`, which the call fills.
    let got = unsafe {
        libc::proc_pidinfo(
            std::process::id() as c_int,
            libc::PROC_PIDTASKINFO,
            0,
            info.as_mut_ptr().cast::<c_void>(),
            size,
        )
    };
    if got != size {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the call filled all of it (it returned its size); zeroed before anyway.
    let threads = unsafe { info.assume_init() }.pti_threadnum;
    usize::try_from(threads)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative thread count"))
}
