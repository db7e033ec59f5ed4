//! [`WriteFile`]: unique, buffered; its release returns every error of flush, `fsync` and
//! close.

use crate::error::{Error, Result};
use crate::fd::{self, Fd, FdOwner, UniqueFd, fd_access, retry_on_pressure, unique_interop};
use crate::sys;
use guard_core::{Resource, UniqueResource};
use std::fmt;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::panic::Location;
use std::path::Path;

/// Size of a [`WriteFile`]'s buffer, allocated at the first buffered write (an open file
/// costs no heap until it is written to).
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
/// Handed to std (`std::fs::File::try_from`, `OwnedFd::try_from`), its buffer is written
/// out first (a failure gives the file back, in [`IntoOwnedError`](crate::IntoOwnedError));
/// the `fsync` of [`sync_on_release`](Self::sync_on_release) is not done (call
/// [`sync_all`](Self::sync_all) before), and std's drop closes it, ignoring errors.
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
    /// Creates or truncates `path` for writing
    /// ([`open(2)`](https://man7.org/linux/man-pages/man2/open.2.html) with
    /// `O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC`, mode `0o666` less the umask), registered
    /// as created here. Retries once after draining the finalizer on `EMFILE`/`ENFILE`.
    ///
    /// # Errors
    ///
    /// [`Error::Open`] with the path and the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// let mut f = guard_os::WriteFile::create("/tmp/guard-os-create-doc")?;
    /// f.write_all(b"new")?;
    /// f.close()?; // flush + close, both errors returned
    /// assert_eq!(std::fs::read("/tmp/guard-os-create-doc")?, b"new");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn create(path: impl AsRef<Path>) -> Result<WriteFile> {
        let site = Location::caller();
        WriteFile::open_with(path.as_ref(), false, site)
    }

    /// Opens `path` for appending, creating it if needed (`O_WRONLY | O_APPEND | O_CREAT |
    /// O_CLOEXEC`, mode `0o666` less the umask).
    ///
    /// # Errors
    ///
    /// [`Error::Open`] with the path and the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// std::fs::write("/tmp/guard-os-append-doc", b"a")?;
    /// let mut f = guard_os::WriteFile::append("/tmp/guard-os-append-doc")?;
    /// f.write_all(b"b")?;
    /// f.close()?;
    /// assert_eq!(std::fs::read("/tmp/guard-os-append-doc")?, b"ab");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn append(path: impl AsRef<Path>) -> Result<WriteFile> {
        let site = Location::caller();
        WriteFile::open_with(path.as_ref(), true, site)
    }

    fn open_with(path: &Path, append: bool, site: &'static Location<'static>) -> Result<Self> {
        let owned =
            retry_on_pressure(|| sys::open_write(path, append)).map_err(|source| Error::Open {
                path: path.to_owned(),
                source,
            })?;
        Ok(WriteFile {
            fd: UniqueFd::new(Fd::register(owned, FdOwner::WriteFile, site)),
            buf: Vec::new(),
            sync_on_release: false,
        })
    }

    /// Whether the release also `fsync`s, so that it returns write-back errors of the
    /// device (default: no).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// let mut journal = guard_os::WriteFile::create("/tmp/guard-os-sync-on-release-doc")?
    ///     .sync_on_release(true);
    /// journal.write_all(b"committed")?;
    /// journal.close()?; // flush, fsync, close: Ok means it reached the device
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn sync_on_release(mut self, on: bool) -> Self {
        self.sync_on_release = on;
        self
    }

    /// Writes the buffer out and `fsync`s now
    /// ([`fsync(2)`](https://man7.org/linux/man-pages/man2/fsync.2.html)): a checkpoint
    /// before the release.
    ///
    /// # Errors
    ///
    /// [`Error::Flush`] (the `fsync` is then not attempted) or [`Error::Sync`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// let mut f = guard_os::WriteFile::create("/tmp/guard-os-sync-doc")?;
    /// f.write_all(b"durable")?;
    /// f.sync_all()?; // on disk now
    /// f.close()?;
    /// let mut full = guard_os::WriteFile::append("/dev/full")?;
    /// full.write_all(b"x")?; // buffered
    /// assert!(matches!(full.sync_all(), Err(guard_os::Error::Flush { .. }))); // ENOSPC
    /// # let _ = full.close();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    /// Every step's error ([`Error::Flush`], [`Error::Sync`], [`Error::Close`]; several in
    /// [`Error::Release`]); the fd is closed and deregistered anyway.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// let mut f = guard_os::WriteFile::append("/dev/full")?;
    /// f.write_all(b"lost")?; // buffered: succeeds
    /// let err = f.close().unwrap_err(); // std's File would have lost this
    /// assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(BUFFER);
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

    fn created(&self) -> Option<guard_core::Created> {
        fd::created(self.fd.peek(), "opened")
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

fd_access!(WriteFile => |s| s.fd.get());

// Handed to std, the buffer is written out first (an error gives the file back); the
// `fsync` of `sync_on_release` is not done: call `sync_all` before if it is needed.
unique_interop!(
    WriteFile,
    std::fs::File,
    |owned, site| WriteFile {
        fd: UniqueFd::new(Fd::register(owned, FdOwner::WriteFile, site)),
        buf: Vec::new(),
        sync_on_release: false,
    },
    |t| &mut t.fd,
    |t: &mut WriteFile| {
        let fd = t.fd.get().as_raw_fd();
        t.flush_buffer()
            .map_err(|source| Error::Flush { fd, source })
    },
    "std::fs::File::create(\"/tmp/guard-os-interop-doc\")?"
);

impl fmt::Debug for WriteFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteFile")
            .field("fd", &self.fd.get().as_raw_fd())
            .field("buffered", &self.buf.len())
            .finish()
    }
}
