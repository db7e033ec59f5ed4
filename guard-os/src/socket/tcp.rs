//! TCP: [`TcpListener`] (counted) and [`TcpStream`] (unique: see [`super::stream`]).

use super::stream::{Stream, accept, each_addr, inet, stream_common};
use crate::error::{Error, Result};
use crate::fd::{Fd, FdOwner, counted_fd, counted_interop, unique_interop};
use crate::sys::{self, Type};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::panic::Location;

/// A listening TCP socket. Counted: in a [`Counted`](guard_core::Counted) handle it is
/// closed when the last handle goes, on the dropping thread if nothing of that thread is
/// pending on the finalizer, else on the finalizer thread
/// ([`RELEASE_TAKES_NO_LOCK`](guard_core::CountedResource::RELEASE_TAKES_NO_LOCK)).
///
/// To rebind its port right away, close it synchronously ([`close`](Self::close),
/// [`Counted::try_release`](guard_core::Counted::try_release)) or call
/// [`guard_core::finalizer::flush`] after dropping the last handle: until the close has
/// run, `bind` fails with `EADDRINUSE`. While another thread's
/// [`fds().for_each`](crate::Fds::for_each) visits the listener, even `close` is deferred to
/// the end of that visit.
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
    /// An fd already registered as a `TcpListener` (see `convert.rs`).
    pub(super) fn from_registered(fd: Fd) -> TcpListener {
        TcpListener { fd }
    }

    /// Binds to the first address of `addr` that works (`SO_REUSEADDR` set, as std does)
    /// and listens (backlog 1024)
    /// ([`bind(2)`](https://man7.org/linux/man-pages/man2/bind.2.html),
    /// [`listen(2)`](https://man7.org/linux/man-pages/man2/listen.2.html) on a
    /// `SOCK_CLOEXEC` socket), registered as created here.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`socket`, `setsockopt SO_REUSEADDR`, `bind ADDR`, `listen ADDR`)
    /// with the last address's OS error; `bind` with `EINVAL` if `addr` resolves to nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = guard_os::TcpListener::bind("127.0.0.1:0")?; // port 0: the OS picks
    /// let taken = guard_os::TcpListener::bind(listener.local_addr()?).unwrap_err();
    /// assert_eq!(taken.raw_os_error(), Some(libc::EADDRINUSE));
    /// assert!(taken.to_string().starts_with("bind 127.0.0.1:"));
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[track_caller]
    pub fn bind(addr: impl ToSocketAddrs) -> Result<TcpListener> {
        let site = Location::caller();
        let s = each_addr(addr, Type::STREAM, "bind", |s, addr| {
            sys::set_reuse_address(s).map_err(|e| Error::socket("setsockopt SO_REUSEADDR", e))?;
            sys::bind(s, &addr.into()).map_err(|e| Error::socket(format!("bind {addr}"), e))?;
            sys::listen(s, 1024).map_err(|e| Error::socket(format!("listen {addr}"), e))
        })?;
        Ok(TcpListener {
            fd: Fd::register(s, FdOwner::TcpListener, site),
        })
    }

    /// Accepts a connection (`accept4` with `SOCK_CLOEXEC`); the stream is registered as
    /// created here. Retries once after draining the finalizer on `EMFILE`/`ENFILE`.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`accept`) with the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = guard_os::TcpListener::bind("127.0.0.1:0")?;
    /// let client = guard_os::TcpStream::connect(listener.local_addr()?)?;
    /// let (server, from) = listener.accept()?; // a unique TcpStream
    /// assert_eq!(from, client.local_addr()?);
    /// # client.close()?; server.close()?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[track_caller]
    pub fn accept(&self) -> Result<(TcpStream, SocketAddr)> {
        let site = Location::caller();
        let (fd, addr) = accept(&self.fd)?;
        let addr = inet(Ok(addr), "accept")?;
        Ok((TcpStream::accepted(fd, site), addr))
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
    /// let listener = guard_os::TcpListener::bind("127.0.0.1:0")?;
    /// assert_ne!(listener.local_addr()?.port(), 0);
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn local_addr(&self) -> Result<SocketAddr> {
        inet(sys::local_addr(&self.fd), "getsockname")
    }

    /// Makes `accept` non-blocking (`EAGAIN` when nothing is pending) or blocking
    /// (`O_NONBLOCK`, [`fcntl(2)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)).
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`fcntl O_NONBLOCK`) with the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = guard_os::TcpListener::bind("127.0.0.1:0")?;
    /// listener.set_nonblocking(true)?;
    /// let none = listener.accept().unwrap_err(); // nobody is connecting
    /// assert_eq!(none.raw_os_error(), Some(libc::EAGAIN));
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn set_nonblocking(&self, on: bool) -> Result<()> {
        sys::set_nonblocking(&self.fd, on).map_err(|e| Error::socket("fcntl O_NONBLOCK", e))
    }
}

counted_fd! {
    /// Closes the listener now (the port is free when this returns, unless a
    /// [`for_each`](crate::Fds::for_each) pass on another thread is visiting it: then at the
    /// end of that visit's batch); the type-level example rebinds its port right after.
    ///
    /// # Errors
    ///
    /// [`Error::Close`]; the fd is closed and deregistered anyway.
    TcpListener, Debug
}

counted_interop!(
    TcpListener,
    std::net::TcpListener,
    |fd| TcpListener::from_registered(fd),
    "std::net::TcpListener::bind(\"127.0.0.1:0\")?"
);

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
    /// Connects to the first address of `addr` that accepts
    /// ([`connect(2)`](https://man7.org/linux/man-pages/man2/connect.2.html) on a
    /// `SOCK_CLOEXEC` socket), registered as created here.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`resolve`, `socket`, `connect ADDR`) with the last OS error;
    /// `connect` with `EINVAL` if `addr` resolves to nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = guard_os::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = guard_os::TcpStream::connect(listener.local_addr()?)?;
    /// let refused = guard_os::TcpStream::connect("127.0.0.1:1").unwrap_err();
    /// assert_eq!(refused.raw_os_error(), Some(libc::ECONNREFUSED));
    /// # stream.close()?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[track_caller]
    pub fn connect(addr: impl ToSocketAddrs) -> Result<TcpStream> {
        let site = Location::caller();
        let s = each_addr(addr, Type::STREAM, "connect", |s, addr| {
            sys::connect(s, &addr.into()).map_err(|e| Error::socket(format!("connect {addr}"), e))
        })?;
        Ok(TcpStream::accepted(s, site))
    }

    pub(super) fn accepted(fd: OwnedFd, site: &'static Location<'static>) -> TcpStream {
        TcpStream(Stream::new(fd, FdOwner::TcpStream, site))
    }

    /// The remote address
    /// ([`getpeername(2)`](https://man7.org/linux/man-pages/man2/getpeername.2.html)).
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`getpeername`) with the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = guard_os::TcpListener::bind("127.0.0.1:0")?;
    /// let client = guard_os::TcpStream::connect(listener.local_addr()?)?;
    /// let (server, from) = listener.accept()?;
    /// assert_eq!(client.peer_addr()?, listener.local_addr()?);
    /// assert_eq!(server.peer_addr()?, from);
    /// # client.close()?; server.close()?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        inet(sys::peer_addr(self.0.fd()), "getpeername")
    }

    /// The local address
    /// ([`getsockname(2)`](https://man7.org/linux/man-pages/man2/getsockname.2.html)).
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`getsockname`) with the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = guard_os::TcpListener::bind("127.0.0.1:0")?;
    /// let client = guard_os::TcpStream::connect(listener.local_addr()?)?;
    /// let (server, from) = listener.accept()?;
    /// assert_eq!(client.local_addr()?, from);
    /// assert_eq!(server.local_addr()?, listener.local_addr()?);
    /// # client.close()?; server.close()?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn local_addr(&self) -> Result<SocketAddr> {
        inet(sys::local_addr(self.0.fd()), "getsockname")
    }
}

stream_common!(
    TcpStream,
    "let l = guard_os::TcpListener::bind(\"127.0.0.1:0\")?;\n\
     let a = guard_os::TcpStream::connect(l.local_addr()?)?;\n\
     let (b, _) = l.accept()?;"
);

unique_interop!(
    TcpStream,
    std::net::TcpStream,
    |owned, site| TcpStream::accepted(owned, site),
    |t| &mut t.0.fd,
    |_| Ok(()),
    "{ let l = std::net::TcpListener::bind(\"127.0.0.1:0\")?; std::net::TcpStream::connect(l.local_addr()?)? }"
);
