//! Explicit hand-over between guard's fd types and tokio's: [`IntoTokio`] and
//! [`FromTokio`].
//!
//! The hand-over is explicit and moves ownership: into tokio, the fd leaves guard's
//! registry (through guard-os's std conversions: a duplicate, the registered number
//! closed) and tokio closes it, with no release of guard's (a stream is not shut down, a
//! pipe's writer is closed by tokio's drop); back from tokio, the fd is registered again,
//! created at the caller, and blocking. To keep an fd guard's while tokio polls it, use
//! [`Async`](crate::Async) instead.

use std::io;
use std::os::fd::OwnedFd;

/// A guard fd type that tokio has a type for.
///
/// # Examples
///
/// ```
/// use guard_tokio::IntoTokio;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let listener = guard_os::TcpListener::bind("127.0.0.1:0")?;
/// let before = guard_os::fds().len();
/// let tokio_listener: tokio::net::TcpListener = listener.into_tokio()?;
/// assert_eq!(guard_os::fds().len(), before - 1); // tokio's now
/// # drop(tokio_listener);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub trait IntoTokio: Sized {
    /// tokio's type.
    type Tokio;

    /// Hands the fd over to tokio: out of guard's registry, non-blocking, registered with
    /// the current runtime's reactor.
    ///
    /// # Errors
    ///
    /// The OS error of making it non-blocking or registering it. A unique wrapper that
    /// cannot be handed over (out of fds) is dropped, so released; to get it back instead,
    /// convert it to std first (`TryFrom`, [`guard_os::IntoOwnedError`]).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with I/O enabled (as tokio's `from_std`); for counted
    /// wrappers, if the process is out of fds even after draining guard's finalizer.
    ///
    /// # Examples
    ///
    /// See the trait.
    fn into_tokio(self) -> io::Result<Self::Tokio>;
}

/// A guard fd type made from tokio's: the fd blocking again, registered with guard as
/// this type, created at the caller.
///
/// # Examples
///
/// ```
/// use guard_tokio::{FromTokio, IntoTokio};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let theirs = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let ours = guard_os::TcpListener::from_tokio(theirs)?;
/// assert!(guard_os::fds().len() >= 1);
/// # drop(ours);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub trait FromTokio<T>: Sized {
    /// Takes `theirs` from tokio (deregistered from its reactor) and registers it.
    ///
    /// # Errors
    ///
    /// The OS error of deregistering it or making it blocking (the fd is closed then).
    ///
    /// # Examples
    ///
    /// See the trait.
    #[track_caller]
    fn from_tokio(theirs: T) -> io::Result<Self>;
}

/// A unique wrapper's hand-over error as an `io::Error` (the wrapper is dropped: released).
fn lost<T>(e: guard_os::IntoOwnedError<T>) -> io::Error {
    let (_value, error) = e.into_parts();
    io::Error::other(error)
}

/// The conversions of one socket type: out of guard into std (a unique type by `TryFrom`,
/// which gives the wrapper back on failure; a counted one by `From`), then into tokio; and
/// back.
macro_rules! socket {
    (@to_std unique, $std:ty, $guard_value:expr) => {
        <$std>::try_from($guard_value).map_err(lost)?
    };
    (@to_std counted, $std:ty, $guard_value:expr) => {
        <$std>::from($guard_value)
    };
    ($kind:ident, $guard:ty, $std:ty, $tokio:ty, $into_std:expr) => {
        impl IntoTokio for $guard {
            type Tokio = $tokio;

            fn into_tokio(self) -> io::Result<$tokio> {
                let std = socket!(@to_std $kind, $std, self);
                std.set_nonblocking(true)?;
                <$tokio>::from_std(std)
            }
        }

        impl FromTokio<$tokio> for $guard {
            #[track_caller]
            fn from_tokio(theirs: $tokio) -> io::Result<$guard> {
                let std: $std = ($into_std)(theirs)?;
                std.set_nonblocking(false)?;
                Ok(<$guard>::from(std))
            }
        }
    };
}

socket!(
    unique,
    guard_os::TcpStream,
    std::net::TcpStream,
    tokio::net::TcpStream,
    tokio::net::TcpStream::into_std
);
socket!(
    unique,
    guard_os::UnixStream,
    std::os::unix::net::UnixStream,
    tokio::net::UnixStream,
    tokio::net::UnixStream::into_std
);

socket!(
    counted,
    guard_os::TcpListener,
    std::net::TcpListener,
    tokio::net::TcpListener,
    tokio::net::TcpListener::into_std
);
socket!(
    counted,
    guard_os::UnixListener,
    std::os::unix::net::UnixListener,
    tokio::net::UnixListener,
    tokio::net::UnixListener::into_std
);
socket!(
    counted,
    guard_os::UdpSocket,
    std::net::UdpSocket,
    tokio::net::UdpSocket,
    tokio::net::UdpSocket::into_std
);

impl IntoTokio for guard_os::PipeReader {
    type Tokio = tokio::net::unix::pipe::Receiver;

    fn into_tokio(self) -> io::Result<Self::Tokio> {
        tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(self))
    }
}

impl FromTokio<tokio::net::unix::pipe::Receiver> for guard_os::PipeReader {
    #[track_caller]
    fn from_tokio(theirs: tokio::net::unix::pipe::Receiver) -> io::Result<Self> {
        Ok(guard_os::PipeReader::from(theirs.into_blocking_fd()?))
    }
}

impl IntoTokio for guard_os::PipeWriter {
    type Tokio = tokio::net::unix::pipe::Sender;

    fn into_tokio(self) -> io::Result<Self::Tokio> {
        let fd = OwnedFd::try_from(self).map_err(lost)?;
        tokio::net::unix::pipe::Sender::from_owned_fd(fd)
    }
}

impl FromTokio<tokio::net::unix::pipe::Sender> for guard_os::PipeWriter {
    #[track_caller]
    fn from_tokio(theirs: tokio::net::unix::pipe::Sender) -> io::Result<Self> {
        Ok(guard_os::PipeWriter::from(theirs.into_blocking_fd()?))
    }
}
