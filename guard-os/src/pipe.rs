//! Pipes: the read end is counted, the write end unique (the reader sees EOF only when the
//! last write end is closed, so that close must happen at a precise point).

use crate::error::{Error, Result};
use crate::fd::{
    self, Fd, FdOwner, UniqueFd, counted_fd, counted_interop, fd_access, retry_on_pressure,
    unique_interop,
};
use crate::sys;
use guard_core::{Resource, UniqueResource};
use std::io::{self, Read, Write};
use std::panic::Location;

/// Creates a pipe ([`pipe2(2)`](https://man7.org/linux/man-pages/man2/pipe2.2.html) with
/// `O_CLOEXEC`): `(read end, write end)`, both registered as created here. Retries once
/// after draining the finalizer on `EMFILE`/`ENFILE`.
///
/// # Errors
///
/// [`Error::Pipe`] with the OS error.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// let (reader, mut writer) = guard_os::pipe()?;
/// writer.write_all(b"ping")?;
/// writer.close()?; // the reader sees EOF from here on
/// let mut got = String::new();
/// (&reader).read_to_string(&mut got)?;
/// assert_eq!(got, "ping");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[track_caller]
pub fn pipe() -> Result<(PipeReader, PipeWriter)> {
    let site = Location::caller();
    let (r, w) = retry_on_pressure(sys::pipe).map_err(|source| Error::Pipe { source })?;
    let reader = PipeReader {
        fd: Fd::register(r, FdOwner::PipeReader, site),
    };
    let writer = Fd::register(w, FdOwner::PipeWriter, site);
    Ok((
        reader,
        PipeWriter {
            fd: UniqueFd::new(writer),
        },
    ))
}

/// The read end of a pipe. Counted: closing it only gives a number back (a writer then
/// gets `EPIPE`, which it handles when it writes). Reads go through `&PipeReader`.
///
/// # Examples
///
/// ```
/// let (reader, writer) = guard_os::pipe()?;
/// let shared = guard_core::Counted::new(reader);
/// let clone = shared.clone();
/// # drop((shared, clone)); writer.close()?;
/// # Ok::<(), guard_os::Error>(())
/// ```
pub struct PipeReader {
    fd: Fd,
}

impl PipeReader {
    /// A read end from an fd registered as one (a child's stdout or stderr, in `command`).
    pub(crate) fn from_registered(fd: Fd) -> PipeReader {
        PipeReader { fd }
    }
}

counted_fd! {
    /// Closes the read end now, instead of on the finalizer (or at the drop).
    ///
    /// # Errors
    ///
    /// [`Error::Close`]; the fd is closed and deregistered anyway.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// let (reader, writer) = guard_os::pipe()?;
    /// reader.close()?;
    /// let err = (&writer).write(b"nobody reads").unwrap_err(); // EPIPE (Rust ignores SIGPIPE)
    /// assert_eq!(err.raw_os_error(), Some(libc::EPIPE));
    /// # writer.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    PipeReader, Debug
}

counted_interop!(
    PipeReader,
    std::io::PipeReader,
    |fd| PipeReader { fd },
    "std::io::pipe()?.0"
);

impl Read for &PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        sys::read(&self.fd, buf)
    }
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

/// The write end of a pipe. Unique: the reader sees EOF exactly when this is released (if
/// it is the last write end), so enter it in a [`scope`](guard_core::scope) or call
/// [`close`](Self::close). Unbuffered: every `write` is a `write(2)`.
///
/// Dropped without release, it is closed at once anyway, and the drop is reported
/// ([`guard_core::report::unreleased`]).
///
/// A write with no reader left fails with `EPIPE` and raises `SIGPIPE`
/// ([`write(2)`](https://man7.org/linux/man-pages/man2/write.2.html)), as std's
/// `PipeWriter` and `ChildStdin` do: Rust's `main` ignores `SIGPIPE`, so that is `EPIPE`;
/// a process that set it back to its default ends, as `producer | head` expects. (The
/// socket streams differ, as std's do: they send with `MSG_NOSIGNAL`.)
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// let (reader, writer) = guard_os::pipe()?;
/// guard_core::scope(|s| {
///     let mut w = s.enter(writer);
///     w.write_all(b"done")?;
///     Ok::<_, std::io::Error>(())
/// })?; // closed here: EOF for the reader
/// let mut got = Vec::new();
/// (&reader).read_to_end(&mut got)?;
/// assert_eq!(got, b"done");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PipeWriter {
    fd: UniqueFd,
}

impl PipeWriter {
    /// A write end from an fd registered as one (a child's stdin, in `command`).
    pub(crate) fn from_registered(fd: Fd) -> PipeWriter {
        PipeWriter {
            fd: UniqueFd::new(fd),
        }
    }

    /// Closes the write end now: the reader sees EOF from here on (if this was the last
    /// write end: a `Command` that keeps the pipe for a child holds a copy of its own until
    /// it is dropped, as with std's `Stdio::from`). See [`Fd::close`](crate::Fd::close) for
    /// the one delay (a `for_each` visit of this fd).
    ///
    /// # Errors
    ///
    /// [`Error::Close`]; the fd is closed and deregistered anyway.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// let (reader, writer) = guard_os::pipe()?;
    /// writer.close()?;
    /// assert_eq!((&reader).read(&mut [0; 8])?, 0); // EOF, not a blocking read
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(mut self) -> Result<()> {
        self.fd.take().map_or(Ok(()), Fd::close)
    }
}

impl Write for &PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        sys::write(self.fd.get(), data)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        (&*self).write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Resource for PipeWriter {
    type Error = Error;
    /// Same as [`PipeWriter::close`].
    fn release(self) -> Result<()> {
        self.close()
    }

    fn created(&self) -> Option<guard_core::Created> {
        fd::created(self.fd.peek(), "created")
    }
}

impl UniqueResource for PipeWriter {}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            let (ty, origin) = (fd.ty(), fd.registered_origin());
            fd::dropped_unreleased(ty, origin, fd.close());
        }
    }
}

fd_access!(PipeWriter => |s| s.fd.get(), Debug);

unique_interop!(
    PipeWriter,
    std::io::PipeWriter,
    |owned, site| PipeWriter {
        fd: UniqueFd::new(Fd::register(owned, FdOwner::PipeWriter, site)),
    },
    |t| &mut t.fd,
    |_| Ok(()),
    "std::io::pipe()?.1"
);
