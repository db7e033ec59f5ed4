//! [`UnixListener`]: counted.

use super::stream::{UnixStream, accept, socket};
use crate::error::{Error, Result};
use crate::fd::{Fd, FdType};
use guard_core::{CountedResource, Resource};
use socket2::{Domain, SockAddr, Type};
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::panic::Location;
use std::path::Path;

/// A listening Unix stream socket. Counted, like [`TcpListener`](crate::TcpListener).
/// The socket file at its path is not removed on release (as with std's listener).
///
/// # Examples
///
/// ```
/// let path = std::env::temp_dir().join(format!("guard-os-doc-{}.sock", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let listener = guard_os::UnixListener::bind(&path)?;
/// let client = guard_os::UnixStream::connect(&path)?;
/// let server = listener.accept()?;
/// # client.close()?; server.close()?; listener.close()?; std::fs::remove_file(&path).unwrap();
/// # Ok::<(), guard_os::Error>(())
/// ```
pub struct UnixListener {
    fd: Fd,
}

impl UnixListener {
    pub(crate) fn registered_fd(&self) -> &Fd {
        &self.fd
    }
    /// Binds a Unix stream socket at `path` and listens (backlog 1024).
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`bind PATH`, `listen`) with the OS error.
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> Result<UnixListener> {
        let site = Location::caller();
        let path = path.as_ref();
        let op = || format!("bind {}", path.display());
        let addr = SockAddr::unix(path).map_err(|e| Error::socket(op(), e))?;
        let s = socket(Domain::UNIX, Type::STREAM)?;
        s.bind(&addr).map_err(|e| Error::socket(op(), e))?;
        s.listen(1024).map_err(|e| Error::socket("listen", e))?;
        Ok(UnixListener {
            fd: Fd::register(s.into(), FdType::UnixListener, site),
        })
    }

    /// Accepts a connection (`accept4` with `SOCK_CLOEXEC`); the stream is registered as
    /// created here. Retries once after draining the finalizer on `EMFILE`/`ENFILE`.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`accept`) with the OS error.
    #[track_caller]
    pub fn accept(&self) -> Result<UnixStream> {
        let site = Location::caller();
        let (fd, _) = accept(&self.fd)?;
        Ok(UnixStream::accepted(fd, site))
    }

    /// Closes the listener now.
    ///
    /// # Errors
    ///
    /// [`Error::Close`]; the fd is closed and deregistered anyway.
    pub fn close(self) -> Result<()> {
        self.fd.close()
    }
}

impl Resource for UnixListener {
    type Error = Error;
    /// Same as [`UnixListener::close`].
    fn release(self) -> Result<()> {
        self.close()
    }
}

impl CountedResource for UnixListener {}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UnixListener")
            .field(&self.fd.as_raw_fd())
            .finish()
    }
}
