//! [`ReadFile`]: counted.

use crate::error::{Error, Result};
use crate::fd::{Fd, FdOwner, counted_fd, counted_interop, retry_on_pressure};
use crate::sys;
use std::fmt;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::panic::Location;
use std::path::Path;

/// A file opened read-only. Counted: hold it in a [`Counted`](guard_core::Counted) handle
/// and it is closed when the last handle goes (on the dropping thread if nothing of that
/// thread is pending on the finalizer, else on the finalizer thread, in order: its close
/// takes no lock, see
/// [`RELEASE_TAKES_NO_LOCK`](guard_core::CountedResource::RELEASE_TAKES_NO_LOCK)); or close
/// it now with [`ReadFile::close`].
///
/// Reads go through `&ReadFile` ([`Read`] and [`read_at`](Self::read_at)), so shared
/// handles can read: `read` moves the file offset shared by all handles, `read_at` does not.
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// std::fs::write("/tmp/guard-os-readfile-doc", b"hello")?;
/// let file = guard_core::Counted::new(guard_os::ReadFile::open("/tmp/guard-os-readfile-doc")?);
/// let mut s = String::new();
/// (&*file).read_to_string(&mut s)?;
/// assert_eq!(s, "hello");
/// let mut two = [0; 2];
/// assert_eq!(file.read_at(&mut two, 3)?, 2);
/// assert_eq!(&two, b"lo");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ReadFile {
    fd: Fd,
}

impl ReadFile {
    /// Opens `path` read-only
    /// ([`open(2)`](https://man7.org/linux/man-pages/man2/open.2.html) with
    /// `O_RDONLY | O_CLOEXEC`), registered as created here. Retries once after draining
    /// the finalizer on `EMFILE`/`ENFILE`.
    ///
    /// # Errors
    ///
    /// [`Error::Open`] with the path and the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// let file = guard_os::ReadFile::open("/dev/null")?;
    /// let missing = guard_os::ReadFile::open("/no/such/file").unwrap_err();
    /// assert_eq!(missing.raw_os_error(), Some(libc::ENOENT));
    /// # file.close()?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[track_caller]
    pub fn open(path: impl AsRef<Path>) -> Result<ReadFile> {
        let site = Location::caller();
        let path = path.as_ref();
        let owned = retry_on_pressure(|| sys::open_read(path)).map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(ReadFile {
            fd: Fd::register(owned, FdOwner::ReadFile, site),
        })
    }

    /// Reads at `offset` without moving the file offset
    /// ([`pread(2)`](https://man7.org/linux/man-pages/man2/pread.2.html)). Returns an
    /// [`io::Error`], like [`Read::read`] and std's `FileExt::read_at`, so that it composes
    /// with `io` helpers.
    ///
    /// # Errors
    ///
    /// The OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// std::fs::write("/tmp/guard-os-read-at-doc", b"header:body")?;
    /// let file = guard_os::ReadFile::open("/tmp/guard-os-read-at-doc")?;
    /// let mut body = [0; 4];
    /// assert_eq!(file.read_at(&mut body, 7)?, 4);
    /// assert_eq!(&body, b"body");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        sys::pread(&self.fd, buf, offset)
    }

    /// The file's size now
    /// ([`fstat(2)`](https://man7.org/linux/man-pages/man2/fstat.2.html)).
    ///
    /// # Errors
    ///
    /// [`Error::Stat`] with the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// std::fs::write("/tmp/guard-os-size-doc", b"12345")?;
    /// let file = guard_os::ReadFile::open("/tmp/guard-os-size-doc")?;
    /// assert_eq!(file.size()?, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn size(&self) -> Result<u64> {
        sys::file_size(&self.fd).map_err(|source| Error::Stat {
            fd: self.fd.as_raw_fd(),
            source,
        })
    }
}

counted_fd! {
    /// Closes the file now, instead of on the finalizer (or at the drop).
    ///
    /// # Errors
    ///
    /// [`Error::Close`]; the fd is closed and deregistered anyway.
    ///
    /// # Examples
    ///
    /// ```
    /// let file = guard_os::ReadFile::open("/dev/null")?;
    /// let before = guard_os::fds().len();
    /// file.close()?; // close(2)'s error, if any, comes back here
    /// assert_eq!(guard_os::fds().len(), before - 1);
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    ReadFile
}

counted_interop!(
    ReadFile,
    std::fs::File,
    |fd| ReadFile { fd },
    "std::fs::File::open(\"/dev/null\")?"
);

impl Read for &ReadFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        sys::read(&self.fd, buf)
    }
}

impl Read for ReadFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl fmt::Debug for ReadFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadFile")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}
