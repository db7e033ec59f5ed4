//! [`UdpSocket`]: counted.

use super::stream::{each_addr, inet};
use crate::error::{Error, Result};
use crate::fd::{Fd, FdOwner, counted_fd, counted_interop};
use crate::sys::{self, Type};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::Location;

/// A UDP socket. Counted: datagrams have no connection to shut down, so closing it only
/// gives a number back. All operations go through `&UdpSocket`.
///
/// # Examples
///
/// ```
/// let a = guard_os::UdpSocket::bind("127.0.0.1:0")?;
/// let b = guard_os::UdpSocket::bind("127.0.0.1:0")?;
/// a.send_to(b"hey", b.local_addr()?)?;
/// let mut buf = [0; 16];
/// let (n, from) = b.recv_from(&mut buf)?;
/// assert_eq!((&buf[..n], from), (&b"hey"[..], a.local_addr()?));
/// # Ok::<(), guard_os::Error>(())
/// ```
pub struct UdpSocket {
    fd: Fd,
}

impl UdpSocket {
    /// Binds to the first address of `addr` that works
    /// ([`bind(2)`](https://man7.org/linux/man-pages/man2/bind.2.html) on a `SOCK_CLOEXEC`
    /// socket), registered as created here.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`resolve`, `socket`, `bind ADDR`) with the last OS error; `bind`
    /// with `EINVAL` if `addr` resolves to nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = guard_os::UdpSocket::bind("127.0.0.1:0")?;
    /// let taken = guard_os::UdpSocket::bind(a.local_addr()?).unwrap_err();
    /// assert_eq!(taken.raw_os_error(), Some(libc::EADDRINUSE));
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[track_caller]
    pub fn bind(addr: impl ToSocketAddrs) -> Result<UdpSocket> {
        let site = Location::caller();
        let s = each_addr(addr, Type::DGRAM, "bind", |s, addr| {
            sys::bind(s, &addr.into()).map_err(|e| Error::socket(format!("bind {addr}"), e))
        })?;
        Ok(UdpSocket {
            fd: Fd::register(s, FdOwner::UdpSocket, site),
        })
    }

    /// Sends one datagram to `addr`
    /// ([`sendto(2)`](https://man7.org/linux/man-pages/man2/sendto.2.html)); returns the
    /// bytes sent.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`sendto`) with the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = guard_os::UdpSocket::bind("127.0.0.1:0")?;
    /// let b = guard_os::UdpSocket::bind("127.0.0.1:0")?;
    /// assert_eq!(a.send_to(b"hi", b.local_addr()?)?, 2);
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn send_to(&self, data: &[u8], addr: SocketAddr) -> Result<usize> {
        sys::send_to(&self.fd, data, &addr.into()).map_err(|e| Error::socket("sendto", e))
    }

    /// Waits for one datagram and receives it: its length and sender
    /// ([`recvfrom(2)`](https://man7.org/linux/man-pages/man2/recvfrom.2.html)). A
    /// datagram longer than `buf` is cut to fit.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`recvfrom`) with the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = guard_os::UdpSocket::bind("127.0.0.1:0")?;
    /// let b = guard_os::UdpSocket::bind("127.0.0.1:0")?;
    /// a.send_to(b"longer than four", b.local_addr()?)?;
    /// let mut buf = [0; 4];
    /// let (n, from) = b.recv_from(&mut buf)?;
    /// assert_eq!((n, &buf, from), (4, b"long", a.local_addr()?));
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr)> {
        let (n, addr) = sys::recv_from(&self.fd, buf).map_err(|e| Error::socket("recvfrom", e))?;
        let addr =
            addr.ok_or_else(|| Error::socket("recvfrom", io::Error::other("no sender address")))?;
        Ok((n, addr))
    }

    /// The local address (with the port the OS picked for port 0)
    /// ([`getsockname(2)`](https://man7.org/linux/man-pages/man2/getsockname.2.html)).
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`getsockname`) with the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = guard_os::UdpSocket::bind("127.0.0.1:0")?;
    /// assert_ne!(a.local_addr()?.port(), 0);
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn local_addr(&self) -> Result<SocketAddr> {
        inet(sys::local_addr(&self.fd), "getsockname")
    }
}

counted_fd! {
    /// Closes the socket now, instead of on the finalizer (or at the drop): its port is
    /// free when this returns.
    ///
    /// # Errors
    ///
    /// [`Error::Close`]; the fd is closed and deregistered anyway.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = guard_os::UdpSocket::bind("127.0.0.1:0")?;
    /// let addr = a.local_addr()?;
    /// a.close()?;
    /// let again = guard_os::UdpSocket::bind(addr)?; // the port is free again
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    UdpSocket, Debug
}

counted_interop!(
    UdpSocket,
    std::net::UdpSocket,
    |fd| UdpSocket { fd },
    "std::net::UdpSocket::bind(\"127.0.0.1:0\")?"
);
