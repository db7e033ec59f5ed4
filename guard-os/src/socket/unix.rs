//! Unix stream sockets: [`UnixListener`] (counted) and [`UnixStream`] (unique: see
//! [`super::stream`]).

use super::stream::{Stream, accept, socket, stream_common};
use crate::error::{Error, Result};
use crate::fd::{Fd, FdOwner, counted_fd, counted_interop, retry_on_pressure, unique_interop};
use crate::sys::{self, Domain, SockAddr, Type};
use std::os::fd::OwnedFd;
use std::panic::Location;
use std::path::Path;

/// A listening Unix stream socket. Counted, like [`TcpListener`](crate::TcpListener).
/// The socket file at its path is not removed on release (as with std's listener).
///
/// # Examples
///
/// ```
/// let path = std::env::temp_dir().join(format!("guard-os-doc-{}.sock", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let listener = guard_os::UnixListener::bind(&path)?;
/// let client = guard_os::UnixStream::connect(&path)?;
/// let server = listener.accept()?;
/// # client.close()?; server.close()?; listener.close()?; std::fs::remove_file(&path).unwrap();
/// # Ok::<(), guard_os::Error>(())
/// ```
pub struct UnixListener {
    fd: Fd,
}

impl UnixListener {
    /// An fd already registered as a `UnixListener` (see `convert.rs`).
    pub(super) fn from_registered(fd: Fd) -> UnixListener {
        UnixListener { fd }
    }

    /// Binds a Unix stream socket at `path` and listens (backlog 1024)
    /// ([`bind(2)`](https://man7.org/linux/man-pages/man2/bind.2.html),
    /// [`listen(2)`](https://man7.org/linux/man-pages/man2/listen.2.html) on a
    /// `SOCK_CLOEXEC` socket), registered as created here.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`socket`, `bind PATH`, `listen`) with the OS error (`EADDRINUSE`
    /// if the socket file exists: remove a stale one first).
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("guard-os-bind-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = guard_os::UnixListener::bind(&path)?;
    /// let again = guard_os::UnixListener::bind(&path).unwrap_err();
    /// assert_eq!(again.raw_os_error(), Some(libc::EADDRINUSE));
    /// # listener.close()?; std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> Result<UnixListener> {
        let site = Location::caller();
        let path = path.as_ref();
        let op = || format!("bind {}", path.display());
        let addr = SockAddr::unix(path).map_err(|e| Error::socket(op(), e))?;
        let s = socket(Domain::UNIX, Type::STREAM)?;
        sys::bind(&s, &addr).map_err(|e| Error::socket(op(), e))?;
        sys::listen(&s, 1024).map_err(|e| Error::socket("listen", e))?;
        Ok(UnixListener {
            fd: Fd::register(s, FdOwner::UnixListener, site),
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
    /// use std::io::{Read, Write};
    /// let path = std::env::temp_dir().join(format!("guard-os-accept-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = guard_os::UnixListener::bind(&path)?;
    /// let client = guard_os::UnixStream::connect(&path)?;
    /// let server = listener.accept()?; // a unique UnixStream
    /// (&client).write_all(b"hi")?;
    /// let mut got = [0; 2];
    /// (&server).read_exact(&mut got)?;
    /// assert_eq!(&got, b"hi");
    /// # client.close()?; server.close()?; listener.close()?; std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn accept(&self) -> Result<UnixStream> {
        let site = Location::caller();
        let (fd, _) = accept(&self.fd)?;
        Ok(UnixStream::accepted(fd, site))
    }
}

counted_fd! {
    /// Closes the listener now, instead of on the finalizer (or at the drop). The socket
    /// file stays.
    ///
    /// # Errors
    ///
    /// [`Error::Close`]; the fd is closed and deregistered anyway.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("guard-os-close-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// guard_os::UnixListener::bind(&path)?.close()?;
    /// assert!(path.exists()); // remove it before binding again
    /// std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    UnixListener, Debug
}

counted_interop!(
    UnixListener,
    std::os::unix::net::UnixListener,
    |fd| UnixListener::from_registered(fd),
    "{ use std::os::linux::net::SocketAddrExt; let name = format!(\"guard-os-doc-{}\", std::process::id()); std::os::unix::net::UnixListener::bind_addr(&std::os::unix::net::SocketAddr::from_abstract_name(name)?)? }"
);

/// A connected Unix stream socket. Unique, like [`TcpStream`](crate::TcpStream): its release shuts the
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
    /// Connects to the Unix socket at `path`
    /// ([`connect(2)`](https://man7.org/linux/man-pages/man2/connect.2.html) on a
    /// `SOCK_CLOEXEC` socket), registered as created here.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`socket`, `connect PATH`) with the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("guard-os-connect-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = guard_os::UnixListener::bind(&path)?;
    /// let client = guard_os::UnixStream::connect(&path)?;
    /// # client.close()?; listener.close()?; std::fs::remove_file(&path).unwrap();
    /// let err = guard_os::UnixStream::connect("/no/such.sock").unwrap_err();
    /// assert!(err.to_string().starts_with("connect /no/such.sock"));
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[track_caller]
    pub fn connect(path: impl AsRef<Path>) -> Result<UnixStream> {
        let site = Location::caller();
        let path = path.as_ref();
        let op = || format!("connect {}", path.display());
        let addr = SockAddr::unix(path).map_err(|e| Error::socket(op(), e))?;
        let s = socket(Domain::UNIX, Type::STREAM)?;
        sys::connect(&s, &addr).map_err(|e| Error::socket(op(), e))?;
        Ok(UnixStream::accepted(s, site))
    }

    /// A connected pair of Unix stream sockets
    /// ([`socketpair(2)`](https://man7.org/linux/man-pages/man2/socketpair.2.html) with
    /// `SOCK_CLOEXEC`), both registered as created here. Retries once after draining the
    /// finalizer on `EMFILE`/`ENFILE`.
    ///
    /// # Errors
    ///
    /// [`Error::Socket`] (`socketpair`) with the OS error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let (a, b) = guard_os::UnixStream::pair()?;
    /// (&a).write_all(b"ping")?;
    /// let mut got = [0; 4];
    /// (&b).read_exact(&mut got)?;
    /// assert_eq!(&got, b"ping");
    /// # a.close()?; b.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn pair() -> Result<(UnixStream, UnixStream)> {
        let site = Location::caller();
        let (a, b) =
            retry_on_pressure(sys::unix_stream_pair).map_err(|e| Error::socket("socketpair", e))?;
        Ok((UnixStream::accepted(a, site), UnixStream::accepted(b, site)))
    }

    pub(super) fn accepted(fd: OwnedFd, site: &'static Location<'static>) -> UnixStream {
        UnixStream(Stream::new(fd, FdOwner::UnixStream, site))
    }
}

stream_common!(UnixStream, "let (a, b) = guard_os::UnixStream::pair()?;");

unique_interop!(
    UnixStream,
    std::os::unix::net::UnixStream,
    |owned, site| UnixStream(Stream::new(owned, FdOwner::UnixStream, site)),
    |t| &mut t.0.fd,
    |_| Ok(()),
    "std::os::unix::net::UnixStream::pair()?.0"
);
