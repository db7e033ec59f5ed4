//! What macOS has no `SO_PROTOCOL` for; `SO_ACCEPTCONN` it has, but socket2 does not read
//! it there.

use socket2::{Domain, Protocol, SockRef, Type};
use std::ffi::c_void;
use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// The socket's protocol: macOS has no `SO_PROTOCOL`, and its inet stream sockets are all
/// TCP (multipath TCP has a family of its own), its inet datagram sockets all UDP; `None`
/// for anything else.
pub(crate) fn socket_protocol(fd: impl AsFd) -> io::Result<Option<Protocol>> {
    let s = SockRef::from(&fd);
    let inet = matches!(s.local_addr()?.domain(), Domain::IPV4 | Domain::IPV6);
    Ok(match s.r#type()? {
        Type::STREAM if inet => Some(Protocol::TCP),
        Type::DGRAM if inet => Some(Protocol::UDP),
        _ => None,
    })
}

/// `SO_NOSIGPIPE` on an accepted socket: socket2 leaves it to be inherited from the
/// listener, and a listener passed in by another program (`listen_fds()`) may not have it.
/// A socket that refuses it (socket2 reports Unix sockets may) keeps what it inherited.
pub(crate) fn no_sigpipe(fd: impl AsFd) {
    let _ = SockRef::from(&fd).set_nosigpipe(true);
}

/// True if the socket is listening (`SO_ACCEPTCONN`,
/// [`getsockopt(2)`](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/getsockopt.2.html)).
pub(crate) fn is_listener(fd: impl AsFd) -> io::Result<bool> {
    let mut on: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `on` and `len` are valid for the call, which writes at most `len` bytes.
    let r = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&raw mut on).cast::<c_void>(),
            &raw mut len,
        )
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(on != 0)
}
