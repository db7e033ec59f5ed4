//! [`UdpSocket`]: counted.

use super::stream::{inet, socket};
use crate::error::{Error, Result};
use crate::fd::{Fd, FdType};
use crate::sys;
use guard_core::{CountedResource, Resource};
use socket2::{Domain, SockRef, Type};
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
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
    pub(crate) fn registered_fd(&self) -> &Fd {
        &self.fd
    }
    /// Binds to the first address of `addr` that works.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`bind ADDR`) with the last OS error.
    #[track_caller]
    pub fn bind(addr: impl ToSocketAddrs) -> Result<UdpSocket> {
        let site = Location::caller();
        let addrs = addr
            .to_socket_addrs()
            .map_err(|e| Error::socket("resolve", e))?;
        let mut last = Error::socket("bind", io::ErrorKind::InvalidInput.into());
        for addr in addrs {
            let s = socket(Domain::for_address(addr), Type::DGRAM)?;
            match s.bind(&addr.into()) {
                Ok(()) => {
                    return Ok(UdpSocket {
                        fd: Fd::register(s.into(), FdType::UdpSocket, site),
                    });
                }
                Err(e) => last = Error::socket(format!("bind {addr}"), e),
            }
        }
        Err(last)
    }

    /// Sends one datagram to `addr`.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`sendto`) with the OS error.
    pub fn send_to(&self, data: &[u8], addr: SocketAddr) -> Result<usize> {
        SockRef::from(&self.fd)
            .send_to(data, &addr.into())
            .map_err(|e| Error::socket("sendto", e))
    }

    /// Receives one datagram: its length and sender.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`recvfrom`) with the OS error.
    pub fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr)> {
        let (n, addr) = sys::recv_from(&self.fd, buf).map_err(|e| Error::socket("recvfrom", e))?;
        let addr =
            addr.ok_or_else(|| Error::socket("recvfrom", io::Error::other("no sender address")))?;
        Ok((n, addr))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] with the OS error.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        inet(SockRef::from(&self.fd).local_addr(), "getsockname")
    }

    /// Closes the socket now.
    ///
    /// # Errors
    ///
    /// [`Error::Close`]; the fd is closed and deregistered anyway.
    pub fn close(self) -> Result<()> {
        self.fd.close()
    }
}

impl Resource for UdpSocket {
    type Error = Error;
    /// Same as [`UdpSocket::close`].
    fn release(self) -> Result<()> {
        self.close()
    }
}

impl CountedResource for UdpSocket {}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UdpSocket")
            .field(&self.fd.as_raw_fd())
            .finish()
    }
}
