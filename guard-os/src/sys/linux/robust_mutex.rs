//! The robust, process-shared pthread mutex in a lock file's page (Linux: glibc and musl
//! have robust mutexes; the kernel releases a dead holder's through its robust list).

use super::super::lock::Locked;
use std::cell::UnsafeCell;
use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

/// A robust, process-shared, error-checking pthread mutex in shared memory.
#[repr(transparent)]
pub(crate) struct RobustMutex(UnsafeCell<libc::pthread_mutex_t>);

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
    pub(crate) fn held_in_this_process(&self) -> bool {
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
