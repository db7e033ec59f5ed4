//! Sockets, through socket2: creation (always close-on-exec), `bind`, `listen`, `accept`,
//! `connect`, the socket options guard-os sets or reads, and stream I/O with `send`/`recv`
//! (no send raises `SIGPIPE`).
//!
//! On Linux and FreeBSD, sockets are created with `SOCK_CLOEXEC` and accepted with
//! `accept4(SOCK_CLOEXEC)`, and sends pass `MSG_NOSIGNAL`. macOS has neither: socket2 sets
//! `FD_CLOEXEC` and `SO_NOSIGPIPE` just after `socket`, `socketpair` and `accept` (a spawn
//! by other code in between can inherit the socket; guard's own spawns close every fd they
//! do not pass), and `apple/socket.rs` reads what macOS has no socket option for.
//! Each function takes the socket as `impl AsFd` and returns what it made as an `OwnedFd`.

use super::conv::errno;
use socket2::{SockRef, Socket};
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

pub(crate) use socket2::{Domain, Protocol, SockAddr, Type};

/// A new socket of `domain` and `ty`, `SOCK_CLOEXEC` set (atomically but on macOS)
/// ([`socket(2)`](https://man7.org/linux/man-pages/man2/socket.2.html)).
pub(crate) fn socket(domain: Domain, ty: Type) -> io::Result<OwnedFd> {
    Socket::new(domain, ty, None).map(OwnedFd::from)
}

/// A connected pair of Unix stream sockets, `SOCK_CLOEXEC` set (atomically but on macOS)
/// ([`socketpair(2)`](https://man7.org/linux/man-pages/man2/socketpair.2.html)).
pub(crate) fn unix_stream_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
    Ok((a.into(), b.into()))
}

/// `SO_REUSEADDR` on ([`setsockopt(2)`](https://man7.org/linux/man-pages/man2/setsockopt.2.html)).
pub(crate) fn set_reuse_address(fd: impl AsFd) -> io::Result<()> {
    SockRef::from(&fd).set_reuse_address(true)
}

/// [`bind(2)`](https://man7.org/linux/man-pages/man2/bind.2.html).
pub(crate) fn bind(fd: impl AsFd, addr: &SockAddr) -> io::Result<()> {
    SockRef::from(&fd).bind(addr)
}

/// [`listen(2)`](https://man7.org/linux/man-pages/man2/listen.2.html).
pub(crate) fn listen(fd: impl AsFd, backlog: i32) -> io::Result<()> {
    SockRef::from(&fd).listen(backlog)
}

/// [`accept4(2)`](https://man7.org/linux/man-pages/man2/accept4.2.html) with
/// `SOCK_CLOEXEC` (on macOS `accept`, then `FD_CLOEXEC` and `SO_NOSIGPIPE`), retried on `EINTR` as std does (socket2 does not): a signal handler
/// installed without `SA_RESTART` must not end a blocking accept with an error.
pub(crate) fn accept(listener: impl AsFd) -> io::Result<(OwnedFd, SockAddr)> {
    let listener = SockRef::from(&listener);
    let (s, a) = retry_on_eintr(|| listener.accept())?;
    #[cfg(target_os = "macos")]
    super::apple::no_sigpipe(&s);
    Ok((OwnedFd::from(s), a))
}

/// [`connect(2)`](https://man7.org/linux/man-pages/man2/connect.2.html), as std's
/// `connect` on Linux: retried on `EINTR`, with `EISCONN` taken as success. A blocking
/// connect interrupted by a signal goes on in the kernel; calling it again waits for that
/// same attempt, or finds it done (`EISCONN`).
pub(crate) fn connect(fd: impl AsFd, addr: &SockAddr) -> io::Result<()> {
    let s = SockRef::from(&fd);
    match retry_on_eintr(|| s.connect(addr)) {
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::ISCONN.raw_os_error()) => Ok(()),
        other => other,
    }
}

/// `op` until it fails with anything but `EINTR` (`ErrorKind::Interrupted`).
fn retry_on_eintr<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The address the socket is bound to
/// ([`getsockname(2)`](https://man7.org/linux/man-pages/man2/getsockname.2.html)).
pub(crate) fn local_addr(fd: impl AsFd) -> io::Result<SockAddr> {
    SockRef::from(&fd).local_addr()
}

/// The address of the connected peer
/// ([`getpeername(2)`](https://man7.org/linux/man-pages/man2/getpeername.2.html)).
pub(crate) fn peer_addr(fd: impl AsFd) -> io::Result<SockAddr> {
    SockRef::from(&fd).peer_addr()
}

/// `O_NONBLOCK` on or off ([`fcntl(F_SETFL)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)).
pub(crate) fn set_nonblocking(fd: impl AsFd, on: bool) -> io::Result<()> {
    SockRef::from(&fd).set_nonblocking(on)
}

/// `SO_RCVTIMEO` ([`setsockopt(2)`](https://man7.org/linux/man-pages/man2/setsockopt.2.html)).
pub(crate) fn set_read_timeout(fd: impl AsFd, timeout: Option<Duration>) -> io::Result<()> {
    SockRef::from(&fd).set_read_timeout(timeout)
}

/// `SO_SNDTIMEO` ([`setsockopt(2)`](https://man7.org/linux/man-pages/man2/setsockopt.2.html)).
pub(crate) fn set_write_timeout(fd: impl AsFd, timeout: Option<Duration>) -> io::Result<()> {
    SockRef::from(&fd).set_write_timeout(timeout)
}

/// [`shutdown(2)`](https://man7.org/linux/man-pages/man2/shutdown.2.html) of the write
/// side: the peer reads EOF.
pub(crate) fn shutdown_write(fd: impl AsFd) -> io::Result<()> {
    SockRef::from(&fd).shutdown(Shutdown::Write)
}

/// [`recv(2)`](https://man7.org/linux/man-pages/man2/recv.2.html) into `buf`, as
/// socket2's `Read` does.
pub(crate) fn recv(fd: impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
    io::Read::read(&mut &*SockRef::from(&fd), buf)
}

/// The flags of every send on a guard socket: `MSG_NOSIGNAL`, as std's sockets use, so that
/// writing to a peer that left fails with `EPIPE` instead of raising `SIGPIPE` (whose
/// default action kills the process). socket2's `send` and `Write` pass no flags.
#[cfg(not(target_os = "macos"))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;

/// None on macOS, whose sockets get `SO_NOSIGPIPE` from socket2 when created or accepted
/// (as std's do): a send to a peer that left is `EPIPE` there too.
#[cfg(target_os = "macos")]
const SEND_FLAGS: libc::c_int = 0;

/// [`send(2)`](https://man7.org/linux/man-pages/man2/send.2.html) of `data` with
/// `MSG_NOSIGNAL`: a peer that left is `EPIPE`, never `SIGPIPE`.
pub(crate) fn send(fd: impl AsFd, data: &[u8]) -> io::Result<usize> {
    SockRef::from(&fd).send_with_flags(data, SEND_FLAGS)
}

/// [`sendto(2)`](https://man7.org/linux/man-pages/man2/sendto.2.html) with `MSG_NOSIGNAL`.
pub(crate) fn send_to(fd: impl AsFd, data: &[u8], addr: &SockAddr) -> io::Result<usize> {
    SockRef::from(&fd).send_to_with_flags(data, addr, SEND_FLAGS)
}

/// [`recvfrom(2)`](https://man7.org/linux/man-pages/man2/recvfrom.2.html): the length
/// received and the sender, if it is an inet address.
pub(crate) fn recv_from(
    fd: impl AsFd,
    buf: &mut [u8],
) -> io::Result<(usize, Option<std::net::SocketAddr>)> {
    let (n, _, addr) =
        rustix::net::recvfrom(fd, buf, rustix::net::RecvFlags::empty()).map_err(errno)?;
    Ok((n, addr.and_then(|a| std::net::SocketAddr::try_from(a).ok())))
}

/// The socket's type, `SO_TYPE` ([`getsockopt(2)`](https://man7.org/linux/man-pages/man2/getsockopt.2.html));
/// `ENOTSOCK` if it is not a socket.
pub(crate) fn socket_type(fd: impl AsFd) -> io::Result<Type> {
    SockRef::from(&fd).r#type()
}

/// The socket's address family, `SO_DOMAIN`.
#[cfg(target_os = "linux")]
pub(crate) fn socket_domain(fd: impl AsFd) -> io::Result<Domain> {
    SockRef::from(&fd).domain()
}

/// The socket's address family, from the address it is bound to
/// ([`getsockname(2)`](https://man.freebsd.org/cgi/man.cgi?query=getsockname&sektion=2);
/// socket2 reads `SO_DOMAIN` only on Linux, and macOS has none).
#[cfg(not(target_os = "linux"))]
pub(crate) fn socket_domain(fd: impl AsFd) -> io::Result<Domain> {
    Ok(SockRef::from(&fd).local_addr()?.domain())
}

/// The socket's protocol, `SO_PROTOCOL` (macOS has none: `apple/socket.rs`).
#[cfg(not(target_os = "macos"))]
pub(crate) fn socket_protocol(fd: impl AsFd) -> io::Result<Option<Protocol>> {
    SockRef::from(&fd).protocol()
}

/// True if the socket is listening, `SO_ACCEPTCONN` (socket2 does not read it on macOS:
/// `apple/socket.rs`).
#[cfg(not(target_os = "macos"))]
pub(crate) fn is_listener(fd: impl AsFd) -> io::Result<bool> {
    SockRef::from(&fd).is_listener()
}
