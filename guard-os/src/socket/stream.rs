//! What the socket types share: socket creation (with the fd-pressure retry), trying each
//! address a name resolves to ([`each_addr`]), and the unique connected stream ([`TcpStream`](crate::TcpStream), [`UnixStream`](crate::UnixStream)):
//! released by `shutdown(Write)` then `close`, so the peer sees EOF at the end of the
//! scope, not later.

use crate::error::{Error, Result};
use crate::fd::{self, Fd, FdOwner, UniqueFd, retry_on_pressure};
use crate::sys::{self, Domain, SockAddr, Type};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};

/// A new socket (`SOCK_CLOEXEC`, set atomically), retried once after draining the
/// finalizer on `EMFILE`/`ENFILE`.
pub(super) fn socket(domain: Domain, ty: Type) -> Result<OwnedFd> {
    retry_on_pressure(|| sys::socket(domain, ty)).map_err(|e| Error::socket("socket", e))
}

/// Tries each address `addr` resolves to, in order, as std's `each_addr` does: a new
/// socket of `ty` for the address's family, then `attempt` on it. Returns the first socket
/// `attempt` succeeds on; else the last address's error, or `op` with `EINVAL` if `addr`
/// resolves to nothing. A failure to resolve (`resolve`) or to create a socket (`socket`)
/// ends the search at once.
pub(super) fn each_addr(
    addr: impl ToSocketAddrs,
    ty: Type,
    op: &'static str,
    mut attempt: impl FnMut(&OwnedFd, SocketAddr) -> Result<()>,
) -> Result<OwnedFd> {
    let addrs = addr
        .to_socket_addrs()
        .map_err(|e| Error::socket("resolve", e))?;
    let mut last = Error::socket(op, io::ErrorKind::InvalidInput.into());
    for addr in addrs {
        let s = socket(Domain::for_address(addr), ty)?;
        match attempt(&s, addr) {
            Ok(()) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// `accept4(SOCK_CLOEXEC)` on `listener` (retried on `EINTR`), retried once on fd
/// pressure.
pub(super) fn accept(listener: &Fd) -> Result<(OwnedFd, SockAddr)> {
    retry_on_pressure(|| sys::accept(listener)).map_err(|e| Error::socket("accept", e))
}

/// The common part of both stream types: a unique socket fd.
pub(super) struct Stream {
    pub(super) fd: UniqueFd,
    /// Set by [`shutdown_write`](crate::TcpStream::shutdown_write): the release does not
    /// shut down again (which fails with `ENOTCONN` once the peer has closed too).
    write_shut: AtomicBool,
}

impl Stream {
    pub(super) fn new(fd: OwnedFd, ty: FdOwner, site: &'static Location<'static>) -> Stream {
        Stream {
            fd: UniqueFd::new(Fd::register(fd, ty, site)),
            write_shut: AtomicBool::new(false),
        }
    }

    pub(super) fn fd(&self) -> &Fd {
        self.fd.get()
    }

    /// shutdown(Write) now, remembered so that the release does not repeat it.
    pub(super) fn shutdown_write(&self) -> Result<()> {
        sys::shutdown_write(self.fd()).map_err(|source| Error::Shutdown {
            fd: self.fd().as_raw_fd(),
            source,
        })?;
        self.write_shut.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// shutdown(Write) (unless the user did it already), then close; both errors
    /// returned. Takes the fd: runs once.
    pub(super) fn finish(&mut self) -> Result<()> {
        let Some(fd) = self.fd.take() else {
            return Ok(());
        };
        let n = fd.as_raw_fd();
        let mut errors = Vec::new();
        if !*self.write_shut.get_mut()
            && let Err(source) = sys::shutdown_write(&fd)
        {
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

/// The methods and impls both stream types share. `$pair` is example code that makes a
/// connected pair `(a, b)` of the type, for the examples.
macro_rules! stream_common {
    ($ty:ident, $pair:literal) => {
        impl $ty {
            /// Releases the stream now: `shutdown(Write)` (the peer reads EOF), then close.
            ///
            /// # Errors
            ///
            /// [`Error::Shutdown`] and/or [`Error::Close`], all of them; the fd is closed
            /// and deregistered anyway. After the peer reset the connection (an `RST`),
            /// `shutdown` fails with `ENOTCONN`, so `close()` returns that
            /// [`Error::Shutdown`] although the fd was closed fine. After
            /// [`shutdown_write`](Self::shutdown_write), `close()` only closes.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::io::Read;
            #[doc = $pair]
            /// a.close()?; // shutdown(Write), then close
            /// assert_eq!((&b).read(&mut [0; 8])?, 0); // the peer reads EOF now
            /// # b.close()?;
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn close(mut self) -> $crate::Result<()> {
                self.0.finish()
            }

            /// Shuts down the writing half now (`shutdown(Write)`: the peer reads EOF; reads
            /// still work). The release then only closes: it does not shut down again,
            /// which would fail with `ENOTCONN` once the peer has closed too.
            ///
            /// # Errors
            ///
            /// [`Error::Shutdown`] with the OS error (`ENOTCONN` if the connection is gone).
            ///
            /// # Examples
            ///
            /// ```
            /// use std::io::Read;
            #[doc = $pair]
            /// a.shutdown_write()?;
            /// assert_eq!((&b).read(&mut [0; 8])?, 0); // the peer reads EOF
            /// b.close()?;
            /// a.close()?; // closes only: no second shutdown, no `ENOTCONN`
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn shutdown_write(&self) -> $crate::Result<()> {
                self.0.shutdown_write()
            }

            /// Sets the read timeout
            /// ([`SO_RCVTIMEO`](https://man7.org/linux/man-pages/man7/socket.7.html)); `None`
            /// blocks forever. A read that times out fails with `WouldBlock`.
            ///
            /// # Errors
            ///
            /// [`Error::Socket`] (`setsockopt SO_RCVTIMEO`) with the OS error.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::io::Read;
            /// use std::time::Duration;
            #[doc = $pair]
            /// b.set_read_timeout(Some(Duration::from_millis(10)))?;
            /// let err = (&b).read(&mut [0; 8]).unwrap_err(); // nothing sent
            /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
            /// # a.close()?; b.close()?;
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn set_read_timeout(
                &self,
                timeout: ::std::option::Option<::std::time::Duration>,
            ) -> $crate::Result<()> {
                $crate::sys::set_read_timeout(self.0.fd(), timeout)
                    .map_err(|e| $crate::Error::socket("setsockopt SO_RCVTIMEO", e))
            }
        }

        impl $ty {
            /// Sets the write timeout
            /// ([`SO_SNDTIMEO`](https://man7.org/linux/man-pages/man7/socket.7.html)); `None`
            /// blocks forever. A write that times out fails with `WouldBlock`.
            ///
            /// # Errors
            ///
            /// [`Error::Socket`] (`setsockopt SO_SNDTIMEO`) with the OS error.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = $pair]
            /// a.set_write_timeout(Some(Duration::from_secs(5)))?; // a stuck peer cannot hang us
            /// # a.close()?; b.close()?;
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn set_write_timeout(
                &self,
                timeout: ::std::option::Option<::std::time::Duration>,
            ) -> $crate::Result<()> {
                $crate::sys::set_write_timeout(self.0.fd(), timeout)
                    .map_err(|e| $crate::Error::socket("setsockopt SO_SNDTIMEO", e))
            }
        }

        impl ::std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                $crate::sys::recv(self.0.fd(), buf)
            }
        }

        impl ::std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                ::std::io::Read::read(&mut &*self, buf)
            }
        }

        impl ::std::io::Write for &$ty {
            fn write(&mut self, data: &[u8]) -> ::std::io::Result<usize> {
                $crate::sys::send(self.0.fd(), data)
            }

            fn flush(&mut self) -> ::std::io::Result<()> {
                Ok(())
            }
        }

        impl ::std::io::Write for $ty {
            fn write(&mut self, data: &[u8]) -> ::std::io::Result<usize> {
                ::std::io::Write::write(&mut &*self, data)
            }

            fn flush(&mut self) -> ::std::io::Result<()> {
                Ok(())
            }
        }

        impl ::guard_core::Resource for $ty {
            type Error = $crate::Error;
            /// Same as [`close`](Self::close).
            fn release(mut self) -> $crate::Result<()> {
                self.0.finish()
            }

            fn created(&self) -> ::std::option::Option<::guard_core::Created> {
                $crate::fd::created(self.0.fd.peek(), "opened")
            }
        }

        impl ::guard_core::UniqueResource for $ty {}

        $crate::fd::fd_access!($ty => |s| s.0.fd.get(), Debug);
    };
}

pub(super) use stream_common;

/// An `AF_INET`/`AF_INET6` address out of a socket2 result.
pub(super) fn inet(addr: io::Result<SockAddr>, op: &'static str) -> Result<SocketAddr> {
    let addr = addr.map_err(|e| Error::socket(op, e))?;
    addr.as_socket()
        .ok_or_else(|| Error::socket(op, io::Error::other("not an inet address")))
}
