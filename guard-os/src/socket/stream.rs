//! Connected streams ([`TcpStream`], [`UnixStream`]): unique, released by
//! `shutdown(Write)` then `close`, so the peer sees EOF at the end of the scope, not later.
//! Also the socket-creation helper the other socket types share.

use crate::error::{Error, Result};
use crate::fd::{self, Fd, FdType, UniqueFd, retry_on_pressure};
use guard_core::{Resource, UniqueResource};
use socket2::{Domain, SockAddr, SockRef, Socket, Type};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::panic::Location;
use std::path::Path;
use std::time::Duration;

/// A new socket (`SOCK_CLOEXEC`, set atomically by socket2), retried once after draining
/// the finalizer on `EMFILE`/`ENFILE`.
pub(super) fn socket(domain: Domain, ty: Type) -> Result<Socket> {
    retry_on_pressure(|| Socket::new(domain, ty, None)).map_err(|e| Error::socket("socket", e))
}

/// `accept4(SOCK_CLOEXEC)` on `listener`, retried once on fd pressure.
pub(super) fn accept(listener: &Fd) -> Result<(OwnedFd, SockAddr)> {
    retry_on_pressure(|| SockRef::from(listener).accept())
        .map(|(s, a)| (OwnedFd::from(s), a))
        .map_err(|e| Error::socket("accept", e))
}

/// The common part of both stream types: a unique socket fd.
struct Stream {
    fd: UniqueFd,
}

impl Stream {
    fn new(fd: OwnedFd, ty: FdType, site: &'static Location<'static>) -> Stream {
        Stream {
            fd: UniqueFd::new(Fd::register(fd, ty, site)),
        }
    }

    fn sock(&self) -> SockRef<'_> {
        SockRef::from(self.fd.get())
    }

    /// shutdown(Write), then close; both errors returned. Takes the fd: runs once.
    fn finish(&mut self) -> Result<()> {
        let Some(fd) = self.fd.take() else {
            return Ok(());
        };
        let n = fd.as_raw_fd();
        let mut errors = Vec::new();
        if let Err(source) = SockRef::from(&fd).shutdown(Shutdown::Write) {
            errors.push(Error::Shutdown { fd: n, source });
        }
        if let Err(e) = fd.close() {
            errors.push(e);
        }
        Error::collect(errors)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.peek() {
            let (ty, origin) = (fd.ty(), fd.registered_origin());
            let result = self.finish();
            fd::dropped_unreleased(ty, origin, result);
        }
    }
}

macro_rules! stream_common {
    ($ty:ident) => {
        impl $ty {
            pub(crate) fn registered_fd(&self) -> &Fd {
                self.0.fd.get()
            }

            /// Releases the stream now: `shutdown(Write)` (the peer reads EOF), then close.
            ///
            /// # Errors
            ///
            /// [`Error::Shutdown`] (e.g. `ENOTCONN` after a reset) and/or [`Error::Close`],
            /// all of them; the fd is closed and deregistered anyway.
            pub fn close(mut self) -> Result<()> {
                self.0.finish()
            }

            /// Sets the read timeout (`SO_RCVTIMEO`); `None` blocks forever.
            ///
            /// # Errors
            ///
            /// [`Error::Socket`] with the OS error.
            pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<()> {
                self.0
                    .sock()
                    .set_read_timeout(timeout)
                    .map_err(|e| Error::socket("setsockopt SO_RCVTIMEO", e))
            }
        }

        impl Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                (&*self.0.sock()).read(buf)
            }
        }

        impl Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                (&*self).read(buf)
            }
        }

        impl Write for &$ty {
            fn write(&mut self, data: &[u8]) -> io::Result<usize> {
                (&*self.0.sock()).write(data)
            }

            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }

        impl Write for $ty {
            fn write(&mut self, data: &[u8]) -> io::Result<usize> {
                (&*self).write(data)
            }

            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }

        impl Resource for $ty {
            type Error = Error;
            /// Same as [`close`](Self::close).
            fn release(mut self) -> Result<()> {
                self.0.finish()
            }
        }

        impl UniqueResource for $ty {}

        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.0.fd.get().as_fd()
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.0.fd.get().as_raw_fd()
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($ty))
                    .field(&self.0.fd.get().as_raw_fd())
                    .finish()
            }
        }
    };
}

/// A connected TCP stream. Unique: enter it in a [`scope`](guard_core::scope) (or call
/// [`close`](Self::close)); its release shuts the write side down, so the peer reads EOF
/// right there, then closes. Dropped without release, it does the same at once and the
/// drop is reported ([`guard_core::report::unreleased`]).
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// let listener = guard_os::TcpListener::bind("127.0.0.1:0")?;
/// let client = guard_os::TcpStream::connect(listener.local_addr()?)?;
/// let (server, _) = listener.accept()?;
/// guard_core::scope(|s| {
///     let mut c = s.enter(client);
///     c.write_all(b"bye")?;
///     Ok::<_, std::io::Error>(())
/// })?; // FIN sent here
/// let mut got = Vec::new();
/// (&server).read_to_end(&mut got)?; // EOF: returns
/// assert_eq!(got, b"bye");
/// # server.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TcpStream(Stream);

impl TcpStream {
    /// Connects to the first address of `addr` that accepts.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`connect ADDR`) with the last OS error.
    #[track_caller]
    pub fn connect(addr: impl ToSocketAddrs) -> Result<TcpStream> {
        let site = Location::caller();
        let addrs = addr
            .to_socket_addrs()
            .map_err(|e| Error::socket("resolve", e))?;
        let mut last = Error::socket("connect", io::ErrorKind::InvalidInput.into());
        for addr in addrs {
            let s = socket(Domain::for_address(addr), Type::STREAM)?;
            match s.connect(&addr.into()) {
                Ok(()) => return Ok(TcpStream::accepted(s.into(), site)),
                Err(e) => last = Error::socket(format!("connect {addr}"), e),
            }
        }
        Err(last)
    }

    pub(super) fn accepted(fd: OwnedFd, site: &'static Location<'static>) -> TcpStream {
        TcpStream(Stream::new(fd, FdType::TcpStream, site))
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] with the OS error.
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        inet(self.0.sock().peer_addr(), "getpeername")
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] with the OS error.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        inet(self.0.sock().local_addr(), "getsockname")
    }
}

stream_common!(TcpStream);

/// An `AF_INET`/`AF_INET6` address out of a socket2 result.
pub(super) fn inet(addr: io::Result<SockAddr>, op: &'static str) -> Result<SocketAddr> {
    let addr = addr.map_err(|e| Error::socket(op, e))?;
    addr.as_socket()
        .ok_or_else(|| Error::socket(op, io::Error::other("not an inet address")))
}

/// A connected Unix stream socket. Unique, like [`TcpStream`]: its release shuts the
/// write side down (the peer reads EOF) and closes.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// let (mut a, b) = guard_os::UnixStream::pair()?;
/// a.write_all(b"hi")?;
/// a.close()?; // the peer reads EOF from here on
/// let mut got = String::new();
/// (&b).read_to_string(&mut got)?;
/// assert_eq!(got, "hi");
/// # b.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct UnixStream(Stream);

impl UnixStream {
    /// Connects to the Unix socket at `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`connect PATH`) with the OS error.
    #[track_caller]
    pub fn connect(path: impl AsRef<Path>) -> Result<UnixStream> {
        let site = Location::caller();
        let path = path.as_ref();
        let op = || format!("connect {}", path.display());
        let addr = SockAddr::unix(path).map_err(|e| Error::socket(op(), e))?;
        let s = socket(Domain::UNIX, Type::STREAM)?;
        s.connect(&addr).map_err(|e| Error::socket(op(), e))?;
        Ok(UnixStream::accepted(s.into(), site))
    }

    /// A connected pair of Unix stream sockets
    /// ([`socketpair(2)`](https://man7.org/linux/man-pages/man2/socketpair.2.html)).
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] with the OS error.
    #[track_caller]
    pub fn pair() -> Result<(UnixStream, UnixStream)> {
        let site = Location::caller();
        let (a, b) = retry_on_pressure(|| Socket::pair(Domain::UNIX, Type::STREAM, None))
            .map_err(|e| Error::socket("socketpair", e))?;
        Ok((
            UnixStream::accepted(a.into(), site),
            UnixStream::accepted(b.into(), site),
        ))
    }

    pub(super) fn accepted(fd: OwnedFd, site: &'static Location<'static>) -> UnixStream {
        UnixStream(Stream::new(fd, FdType::UnixStream, site))
    }
}

stream_common!(UnixStream);
