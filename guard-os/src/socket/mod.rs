//! Sockets (every socket is created with `SOCK_CLOEXEC`, accepted ones
//! with `accept4(SOCK_CLOEXEC)`):
//!
//! - counted: [`TcpListener`], [`UdpSocket`], [`UnixListener`] (closing only gives a
//!   number back; but see [`TcpListener`] on rebinding a port);
//! - unique: [`TcpStream`], [`UnixStream`] (release = `shutdown(Write)`, then close: the
//!   peer sees EOF at that precise point).
//!
//! Every send uses `MSG_NOSIGNAL`, as std's sockets do: writing to a peer that left fails
//! with `EPIPE` and never raises `SIGPIPE`, even where `SIGPIPE` kills (a C host, a
//! program that restored its default action).
//!
//! A registered [`Fd`](crate::Fd) (a passed one, from [`listen_fds()`](crate::listen_fds))
//! becomes a listener with `TryFrom`, checked with `getsockopt` ([`TryFromFdError`] gives
//! it back on a mismatch).

mod convert;
mod stream;
mod tcp;
mod udp;
mod unix;

pub use convert::TryFromFdError;
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
