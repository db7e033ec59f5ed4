//! Sockets, through socket2 (every socket is created with `SOCK_CLOEXEC`, accepted ones
//! with `accept4(SOCK_CLOEXEC)`):
//!
//! - counted: [`TcpListener`], [`UdpSocket`], [`UnixListener`] (closing only gives a
//!   number back; but see [`TcpListener`] on rebinding a port);
//! - unique: [`TcpStream`], [`UnixStream`] (release = `shutdown(Write)`, then close: the
//!   peer sees EOF at that precise point).

mod stream;
mod tcp;
mod udp;
mod unix;

pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
