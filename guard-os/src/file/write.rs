//! Files: [`ReadFile`] (counted: closing a read-only fd only gives a number back) and
//! [`WriteFile`] (unique: closing reports write-back errors, so it happens at a precise
//! point and every error is returned; std's `File` ignores close errors, this does not).

use crate::error::{Error, Result};
use crate::fd::{self, Fd, FdType, UniqueFd, retry_on_pressure};
use crate::sys;
use guard_core::{CountedResource, Resource, UniqueResource};
use rustix::fs::{Mode, OFlags};
use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::panic::Location;
use std::path::Path;

/// A file opened read-only. Counted: hold it in a [`Counted`](guard_core::Counted) handle
/// and it is closed on the finalizer thread when the last handle goes; or close it now with
/// [`ReadFile::close`].
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
    pub(crate) fn registered_fd(&self) -> &Fd {
        &self.fd
    }
    /// Opens `path` read-only (`open(2)` with `O_RDONLY | O_CLOEXEC`), registered as created
    /// here. Retries once after draining the finalizer on `EMFILE`/`ENFILE`.
    ///
    /// # Errors
    ///
    /// [`Error::Open`] with the OS error.
    #[track_caller]
    pub fn open(path: impl AsRef<Path>) -> Result<ReadFile> {
        let site = Location::caller();
        let path = path.as_ref();
        let owned = retry_on_pressure(|| sys::open(path, OFlags::RDONLY, Mode::empty())).map_err(
            |source| Error::Open {
                path: path.to_owned(),
                source,
            },
        )?;
        Ok(ReadFile {
            fd: Fd::register(owned, FdType::ReadFile, site),
        })
    }

    /// Reads at `offset` without moving the file offset
    /// ([`pread(2)`](https://man7.org/linux/man-pages/man2/pread.2.html)).
    ///
    /// # Errors
    ///
    /// The OS error.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        sys::pread(&self.fd, buf, offset)
    }

    /// The file's size now
    /// ([`fstat(2)`](https://man7.org/linux/man-pages/man2/fstat.2.html)).
    ///
    /// # Errors
    ///
    /// The OS error.
    pub fn size(&self) -> io::Result<u64> {
        sys::file_size(&self.fd)
    }

    /// Closes the file now.
    ///
    /// # Errors
    ///
    /// [`Error::Close`]; the fd is closed and deregistered anyway.
    pub fn close(self) -> Result<()> {
        self.fd.close()
    }
}

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

impl Resource for ReadFile {
    type Error = Error;
    /// Same as [`ReadFile::close`].
    fn release(self) -> Result<()> {
        self.close()
    }
}

impl CountedResource for ReadFile {}

impl AsFd for ReadFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for ReadFile {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl fmt::Debug for ReadFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadFile")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

/// Size of a [`WriteFile`]'s buffer.
const BUFFER: usize = 8 * 1024;

/// A file opened for writing, buffered. Unique: enter it in a [`scope`](guard_core::scope)
/// (or call [`close`](Self::close)); its release writes the buffer out, optionally
/// `fsync`s ([`sync_on_release`](Self::sync_on_release)), and closes, returning every
/// error of the three steps (none is dropped: [`Error::Release`] holds several).
///
/// Dropped without release, it still flushes and closes at once; its errors go to the
/// [event hook](guard_core::event::set_hook) and the drop is reported
/// ([`guard_core::report::unreleased`]).
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// guard_core::scope(|s| {
///     let mut log = s.enter(guard_os::WriteFile::create("/tmp/guard-os-writefile-doc")?.sync_on_release(true));
///     log.write_all(b"entry\n")?;
///     Ok::<_, std::io::Error>(()) // guard_os::Error converts into io::Error with `?`
/// })?; // flushed, synced and closed here; any error is in the result
/// assert_eq!(std::fs::read("/tmp/guard-os-writefile-doc")?, b"entry\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WriteFile {
    fd: UniqueFd,
    buf: Vec<u8>,
    sync_on_release: bool,
}

impl WriteFile {
    pub(crate) fn registered_fd(&self) -> &Fd {
        self.fd.get()
    }
    /// Creates or truncates `path` for writing (`O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC`,
    /// mode `0o666` less the umask).
    ///
    /// # Errors
    ///
    /// [`Error::Open`] with the OS error.
    #[track_caller]
    pub fn create(path: impl AsRef<Path>) -> Result<WriteFile> {
        let site = Location::caller();
        WriteFile::open_with(path.as_ref(), OFlags::TRUNC, site)
    }

    /// Opens `path` for appending, creating it if needed (`O_APPEND | O_CREAT`).
    ///
    /// # Errors
    ///
    /// [`Error::Open`] with the OS error.
    #[track_caller]
    pub fn append(path: impl AsRef<Path>) -> Result<WriteFile> {
        let site = Location::caller();
        WriteFile::open_with(path.as_ref(), OFlags::APPEND, site)
    }

    fn open_with(path: &Path, extra: OFlags, site: &'static Location<'static>) -> Result<Self> {
        let flags = OFlags::WRONLY | OFlags::CREATE | extra;
        let owned = retry_on_pressure(|| sys::open(path, flags, Mode::from_bits_truncate(0o666)))
            .map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(WriteFile {
            fd: UniqueFd::new(Fd::register(owned, FdType::WriteFile, site)),
            buf: Vec::with_capacity(BUFFER),
            sync_on_release: false,
        })
    }

    /// Whether the release also `fsync`s, so that it returns write-back errors of the
    /// device (default: no).
    #[must_use]
    pub fn sync_on_release(mut self, on: bool) -> Self {
        self.sync_on_release = on;
        self
    }

    /// Writes the buffer out and `fsync`s now.
    ///
    /// # Errors
    ///
    /// [`Error::Flush`] or [`Error::Sync`].
    pub fn sync_all(&mut self) -> Result<()> {
        let fd = self.fd.get().as_raw_fd();
        self.flush_buffer()
            .map_err(|source| Error::Flush { fd, source })?;
        sys::fsync(self.fd.get()).map_err(|source| Error::Sync { fd, source })
    }

    /// Releases the file now: flush, `fsync` if asked, close.
    ///
    /// # Errors
    ///
    /// Every step's error; the fd is closed and deregistered anyway.
    pub fn close(mut self) -> Result<()> {
        self.finish()
    }

    fn flush_buffer(&mut self) -> io::Result<()> {
        drain_to(self.fd.get(), &mut self.buf)
    }

    /// Flush, sync, close: every error collected. Takes the fd, so it runs once.
    fn finish(&mut self) -> Result<()> {
        let Some(fd) = self.fd.take() else {
            return Ok(());
        };
        let n = fd.as_raw_fd();
        let mut errors = Vec::new();
        if let Err(source) = drain_to(&fd, &mut self.buf) {
            errors.push(Error::Flush { fd: n, source });
        }
        if self.sync_on_release
            && let Err(source) = sys::fsync(&fd)
        {
            errors.push(Error::Sync { fd: n, source });
        }
        if let Err(e) = fd.close() {
            errors.push(e);
        }
        Error::collect(errors)
    }
}

/// Writes `buf` out to `fd` (retrying on `EINTR` and short writes) and empties it; on an
/// error, what was written is removed and the rest stays.
fn drain_to(fd: &Fd, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut written = 0;
    let result = loop {
        if written == buf.len() {
            break Ok(());
        }
        match sys::write(fd, &buf[written..]) {
            Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    buf.drain(..written);
    result
}

impl Write for WriteFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > BUFFER {
            self.flush_buffer()?;
        }
        if data.len() >= BUFFER {
            return sys::write(self.fd.get(), data);
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_buffer()
    }
}

impl Resource for WriteFile {
    type Error = Error;
    /// Same as [`WriteFile::close`].
    fn release(mut self) -> Result<()> {
        self.finish()
    }
}

impl UniqueResource for WriteFile {}

impl Drop for WriteFile {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.peek() {
            let (ty, origin) = (fd.ty(), fd.registered_origin());
            let result = self.finish();
            fd::dropped_unreleased(ty, origin, result);
        }
    }
}

impl AsFd for WriteFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.get().as_fd()
    }
}

impl AsRawFd for WriteFile {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.get().as_raw_fd()
    }
}

impl fmt::Debug for WriteFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteFile")
            .field("fd", &self.fd.get().as_raw_fd())
            .field("buffered", &self.buf.len())
            .finish()
    }
}
