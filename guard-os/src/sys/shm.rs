//! A lock file's shared mapping: the page layout an OS mutex keeps in it (on Linux with
//! the robust, process-shared pthread mutex of `linux/robust_mutex.rs` at offset 64; on
//! macOS and FreeBSD the lock is the file's `flock` and those bytes are unused), and a
//! cached pid for the owner record.
//!
//! Only the memory layout and the calls are here; what the fields mean, and when the
//! mutex may be initialised, is `ipc_mutex::lock_file`'s protocol.

use super::conv::errno;
use rustix::mm::{MapFlags, ProtFlags};
use std::io;
use std::os::fd::AsFd;
use std::ptr::NonNull;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The size of a lock file, in bytes: its whole [`LockPage`].
pub(crate) const LOCK_PAGE_LEN: u64 = 128;

/// What a lock file holds, at offset 0. Every field is valid for any bit pattern (atomics
/// and a C `pthread_mutex_t`), so reading a page another process wrote is never undefined
/// behaviour in this process.
#[repr(C)]
pub(crate) struct LockPage {
    /// The format's magic and version; written last by the initialiser.
    pub(crate) magic: AtomicU64,
    /// The pid of the holder, 0 when free.
    pub(crate) holder: AtomicU32,
    /// Nonzero while the protected state is poisoned.
    pub(crate) poisoned: AtomicU32,
    /// The pid of the holder that died or panicked, while poisoned.
    pub(crate) dead: AtomicU32,
    _reserved: [u32; 11],
    /// The mutex, at offset 64.
    #[cfg(target_os = "linux")]
    pub(crate) mutex: super::linux::RobustMutex,
    /// Unused where the lock is the file's `flock`.
    #[cfg(not(target_os = "linux"))]
    _mutex: [u64; 8],
}

const _: () = assert!(std::mem::size_of::<LockPage>() as u64 <= LOCK_PAGE_LEN);
#[cfg(target_os = "linux")]
const _: () = assert!(std::mem::offset_of!(LockPage, mutex) == 64);

/// A `MAP_SHARED` mapping of a lock file's [`LockPage`]. Unmapped on drop, unless (on
/// Linux) a thread of this process holds its mutex: glibc keeps a held robust mutex in the
/// holding thread's robust list, which it and the kernel walk later, so the page then stays
/// mapped.
pub(crate) struct LockMap {
    page: NonNull<LockPage>,
}

// SAFETY: the page holds only atomics and a process-shared pthread mutex, made for use
// from any thread (and process); the pointer is not tied to the mapping thread.
unsafe impl Send for LockMap {}
// SAFETY: as for `Send`: every access through `&LockPage` is atomic or a pthread call.
unsafe impl Sync for LockMap {}

/// Maps the first [`LOCK_PAGE_LEN`] bytes of the file open at `fd`, read-write and shared
/// ([`mmap(2)`](https://man7.org/linux/man-pages/man2/mmap.2.html), `MAP_SHARED`). The file
/// must be at least that long: the page past the end of a shorter file faults (`SIGBUS`).
pub(crate) fn map_lock_page(fd: impl AsFd) -> io::Result<LockMap> {
    // SAFETY: a fresh mapping chosen by the kernel (null hint), aliasing nothing in this
    // process; it is unmapped only by `LockMap::drop`, after every `&LockPage` (borrowed
    // from the `LockMap`) is gone.
    let ptr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            LOCK_PAGE_LEN as usize,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            fd,
            0,
        )
    }
    .map_err(errno)?;
    let page = NonNull::new(ptr.cast::<LockPage>()).ok_or(io::ErrorKind::InvalidData)?;
    Ok(LockMap { page })
}

impl std::ops::Deref for LockMap {
    type Target = LockPage;
    #[inline]
    fn deref(&self) -> &LockPage {
        // SAFETY: `page` is a live, page-aligned, read-write mapping of `LOCK_PAGE_LEN`
        // bytes until `drop`; `LockPage` is valid for any bit pattern and only accessed
        // through atomics and pthread calls, so other processes writing it is no data race.
        unsafe { self.page.as_ref() }
    }
}

impl Drop for LockMap {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if self.mutex.held_in_this_process() {
            return; // left mapped: a robust list here may still point into it
        }
        // SAFETY: the mapping came from `map_lock_page` with this length and no reference
        // into it outlives `self`.
        let _ = unsafe { rustix::mm::munmap(self.page.as_ptr().cast(), LOCK_PAGE_LEN as usize) };
    }
}

static PID: AtomicU32 = AtomicU32::new(0);
static AT_FORK: Once = Once::new();

extern "C" fn forget_pid() {
    PID.store(0, Ordering::Relaxed);
}

/// This process's id, cached: [`getpid(2)`](https://man7.org/linux/man-pages/man2/getpid.2.html)
/// once, then again in a child after `fork` (a `pthread_atfork` handler clears the cache).
#[inline]
pub(crate) fn cached_pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => {
            AT_FORK.call_once(|| {
                // SAFETY: `forget_pid` is a plain `extern "C"` function that only stores
                // to an atomic (async-signal-safe), valid for the process's lifetime.
                unsafe { libc::pthread_atfork(None, None, Some(forget_pid)) };
            });
            let pid = super::process::pid();
            PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}
