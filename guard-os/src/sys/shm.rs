//! A lock file's shared mapping: the page layout an OS mutex keeps in it, the robust,
//! process-shared pthread mutex there, and a cached pid for the owner record.
//!
//! Only the memory layout and the calls are here; what the fields mean, and when the
//! mutex may be initialised, is `ipc_mutex::lock_file`'s protocol.

use super::conv::errno;
use rustix::mm::{MapFlags, ProtFlags};
use std::cell::UnsafeCell;
use std::io;
use std::os::fd::AsFd;
use std::ptr::NonNull;
use std::sync::Once;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

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
    pub(crate) mutex: RobustMutex,
}

const _: () = assert!(std::mem::size_of::<LockPage>() as u64 <= LOCK_PAGE_LEN);
const _: () = assert!(std::mem::offset_of!(LockPage, mutex) == 64);

/// A `MAP_SHARED` mapping of a lock file's [`LockPage`]. Unmapped on drop, unless a thread
/// of this process holds its mutex: glibc keeps a held robust mutex in the holding thread's
/// robust list, which it and the kernel walk later, so the page then stays mapped.
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
        if self.mutex.held_in_this_process() {
            return; // left mapped: a robust list here may still point into it
        }
        // SAFETY: the mapping came from `map_lock_page` with this length and no reference
        // into it outlives `self`.
        let _ = unsafe { rustix::mm::munmap(self.page.as_ptr().cast(), LOCK_PAGE_LEN as usize) };
    }
}

/// A robust, process-shared, error-checking pthread mutex in shared memory.
#[repr(transparent)]
pub(crate) struct RobustMutex(UnsafeCell<libc::pthread_mutex_t>);

/// What [`RobustMutex::lock`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Locked {
    /// Acquired.
    Yes,
    /// Acquired, but the previous holder died holding it (`EOWNERDEAD`): call
    /// [`RobustMutex::make_consistent`] before unlocking, or it becomes unusable.
    OwnerDied,
    /// `try_lock` only: held by another thread, or by this one (`EBUSY`, `EDEADLK`).
    Busy,
}

impl RobustMutex {
    fn ptr(&self) -> *mut libc::pthread_mutex_t {
        self.0.get()
    }

    /// Initialises the mutex: `PTHREAD_PROCESS_SHARED`, `PTHREAD_MUTEX_ROBUST`,
    /// `PTHREAD_MUTEX_ERRORCHECK`
    /// ([`pthread_mutex_init(3)`](https://man7.org/linux/man-pages/man3/pthread_mutex_init.3p.html)).
    /// The caller keeps every other user away meanwhile (guard-os holds the file's `flock`
    /// while its magic is unset).
    pub(crate) fn init(&self) -> io::Result<()> {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: `attr` is initialised by `pthread_mutexattr_init` before any other use
        // and destroyed before it goes out of scope; `self.ptr()` points into the live
        // mapping, which pthread writes as plain memory.
        unsafe {
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let a = attr.as_mut_ptr();
            let set = check(libc::pthread_mutexattr_setpshared(
                a,
                libc::PTHREAD_PROCESS_SHARED,
            ))
            .and_then(|()| {
                check(libc::pthread_mutexattr_setrobust(
                    a,
                    libc::PTHREAD_MUTEX_ROBUST,
                ))
            })
            .and_then(|()| {
                check(libc::pthread_mutexattr_settype(
                    a,
                    libc::PTHREAD_MUTEX_ERRORCHECK,
                ))
            })
            .and_then(|()| check(libc::pthread_mutex_init(self.ptr(), a)));
            libc::pthread_mutexattr_destroy(a);
            set
        }
    }

    /// [`pthread_mutex_lock(3)`](https://man7.org/linux/man-pages/man3/pthread_mutex_lock.3p.html)
    /// (or `pthread_mutex_trylock` if `!wait`). Errors: `EDEADLK` (this thread holds it),
    /// `ENOTRECOVERABLE`, or what the mutex's memory made of it.
    #[inline]
    pub(crate) fn lock(&self, wait: bool) -> io::Result<Locked> {
        // SAFETY: the mutex lives in a shared mapping that outlives `&self`; pthread
        // treats it as shared memory, which other processes may change.
        let rc = unsafe {
            if wait {
                libc::pthread_mutex_lock(self.ptr())
            } else {
                libc::pthread_mutex_trylock(self.ptr())
            }
        };
        match rc {
            0 => Ok(Locked::Yes),
            libc::EOWNERDEAD => Ok(Locked::OwnerDied),
            libc::EBUSY | libc::EDEADLK if !wait => Ok(Locked::Busy),
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }

    /// [`pthread_mutex_consistent(3)`](https://man7.org/linux/man-pages/man3/pthread_mutex_consistent.3p.html),
    /// after [`Locked::OwnerDied`].
    pub(crate) fn make_consistent(&self) -> io::Result<()> {
        // SAFETY: as in `lock`; called by the thread holding the mutex.
        check(unsafe { libc::pthread_mutex_consistent(self.ptr()) })
    }

    /// [`pthread_mutex_unlock(3)`](https://man7.org/linux/man-pages/man3/pthread_mutex_unlock.3p.html):
    /// `EPERM` if this thread does not hold it.
    #[inline]
    pub(crate) fn unlock(&self) -> io::Result<()> {
        // SAFETY: as in `lock`.
        check(unsafe { libc::pthread_mutex_unlock(self.ptr()) })
    }

    /// True if the owner in the mutex's lock word is a thread of this process. Reads the
    /// C library's lock word (its first `int` on glibc, its second on musl), whose low 30
    /// bits hold the owner's thread id for a robust mutex.
    fn held_in_this_process(&self) -> bool {
        const TID_MASK: i32 = 0x3fff_ffff;
        let index = if cfg!(target_env = "musl") { 1 } else { 0 };
        // SAFETY: `pthread_mutex_t` is at least two aligned `int`s on every Linux libc;
        // the word is read atomically, as other threads and processes change it.
        let word = unsafe { &*self.ptr().cast::<AtomicI32>().add(index) };
        let tid = word.load(Ordering::Relaxed) & TID_MASK;
        tid != 0 && std::path::Path::new(&format!("/proc/self/task/{tid}")).exists()
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    match rc {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// `pthread_mutex_lock` from the thread that holds the mutex.
pub(crate) use libc::EDEADLK;

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
