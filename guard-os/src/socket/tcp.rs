//! [`TcpListener`]: counted.

use super::stream::{TcpStream, accept, inet, socket};
use crate::error::{Error, Result};
use crate::fd::{Fd, FdType};
use guard_core::{CountedResource, Resource};
use socket2::{Domain, SockRef, Type};
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::panic::Location;

/// A listening TCP socket. Counted: closing it only gives a number back, so in a
/// [`Counted`](guard_core::Counted) handle it is closed on the finalizer thread.
///
/// That deferral makes one common use fragile: rebinding the same port right after
/// dropping the last handle can fail with `EADDRINUSE` while the close is still pending.
/// Release it synchronously instead, with [`close`](Self::close) or
/// [`Counted::try_release`](guard_core::Counted::try_release), or call
/// [`guard_core::finalizer::flush`] before rebinding.
///
/// # Examples
///
/// ```
/// let listener = guard_os::TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// listener.close()?; // synchronously: the port is free now
/// let again = guard_os::TcpListener::bind(addr)?;
/// # drop(again);
/// # Ok::<(), guard_os::Error>(())
/// ```
pub struct TcpListener {
    fd: Fd,
}

impl TcpListener {
    pub(crate) fn registered_fd(&self) -> &Fd {
        &self.fd
    }
    /// Binds to the first address of `addr` that works (`SO_REUSEADDR` set, as std does)
    /// and listens (backlog 1024).
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`bind ADDR`, `listen`) with the last OS error.
    #[track_caller]
    pub fn bind(addr: impl ToSocketAddrs) -> Result<TcpListener> {
        let site = Location::caller();
        let addrs = addr
            .to_socket_addrs()
            .map_err(|e| Error::socket("resolve", e))?;
        let mut last = Error::socket("bind", io::ErrorKind::InvalidInput.into());
        for addr in addrs {
            let s = socket(Domain::for_address(addr), Type::STREAM)?;
            let bound = s
                .set_reuse_address(true)
                .and_then(|()| s.bind(&addr.into()))
                .and_then(|()| s.listen(1024));
            match bound {
                Ok(()) => {
                    return Ok(TcpListener {
                        fd: Fd::register(s.into(), FdType::TcpListener, site),
                    });
                }
                Err(e) => last = Error::socket(format!("bind {addr}"), e),
            }
        }
        Err(last)
    }

    /// Accepts a connection (`accept4` with `SOCK_CLOEXEC`); the stream is registered as
    /// created here. Retries once after draining the finalizer on `EMFILE`/`ENFILE`.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`accept`) with the OS error.
    #[track_caller]
    pub fn accept(&self) -> Result<(TcpStream, SocketAddr)> {
        let site = Location::caller();
        let (fd, addr) = accept(&self.fd)?;
        let addr = inet(Ok(addr), "accept")?;
        Ok((TcpStream::accepted(fd, site), addr))
    }

    /// The local address (with the port the OS picked for port 0).
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] with the OS error.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        inet(SockRef::from(&self.fd).local_addr(), "getsockname")
    }

    /// Makes `accept` non-blocking (`WouldBlock` when nothing is pending) or blocking.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] with the OS error.
    pub fn set_nonblocking(&self, on: bool) -> Result<()> {
        SockRef::from(&self.fd)
            .set_nonblocking(on)
            .map_err(|e| Error::socket("fcntl O_NONBLOCK", e))
    }

    /// Closes the listener now (the port is free when this returns).
    ///
    /// # Errors
    ///
    /// [`Error::Close`]; the fd is closed and deregistered anyway.
    pub fn close(self) -> Result<()> {
        self.fd.close()
    }
}

impl Resource for TcpListener {
    type Error = Error;
    /// Same as [`TcpListener::close`].
    fn release(self) -> Result<()> {
        self.close()
    }
}

impl CountedResource for TcpListener {}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TcpListener")
            .field(&self.fd.as_raw_fd())
            .finish()
    }
}
