//! Typing a registered [`Fd`] as a listener (a passed one, from
//! [`listen_fds()`](crate::listen_fds), or any adopted one): `TryFrom<Fd>` for
//! [`TcpListener`] and [`UnixListener`], checked with
//! [`getsockopt(2)`](https://man7.org/linux/man-pages/man2/getsockopt.2.html), and
//! [`TryFromFdError`], which gives the fd back when it is not what was asked for.

use super::{TcpListener, UnixListener};
use crate::error::{Error, Result};
use crate::fd::{Fd, FdOwner};
use crate::sys::{self, Domain, Protocol, Type};
use std::fmt;
use std::os::fd::AsRawFd;

/// What a listener type requires of a socket.
struct Want {
    /// The type's name, for the error.
    into: &'static str,
    /// Its registry tag.
    ty: FdOwner,
    /// The address families it accepts (`SO_DOMAIN`).
    families: &'static [Domain],
    /// The protocol it requires (`SO_PROTOCOL`), if any.
    protocol: Option<Protocol>,
}

const TCP: Want = Want {
    into: "TcpListener",
    ty: FdOwner::TcpListener,
    families: &[Domain::IPV4, Domain::IPV6],
    protocol: Some(Protocol::TCP),
};

const UNIX: Want = Want {
    into: "UnixListener",
    ty: FdOwner::UnixListener,
    families: &[Domain::UNIX],
    protocol: None,
};

/// Checks that `fd` is a listening stream socket of `want`'s families and protocol:
/// `SO_TYPE` is `SOCK_STREAM`, `SO_DOMAIN` one of the families, `SO_PROTOCOL` the protocol,
/// `SO_ACCEPTCONN` set.
fn check(fd: &Fd, want: &Want) -> Result<()> {
    let mismatch = |found: String| Error::Convert {
        fd: fd.as_raw_fd(),
        into: want.into,
        found,
    };
    let ty = match sys::socket_type(fd) {
        Ok(ty) => ty,
        Err(e) if e.raw_os_error() == Some(sys::ENOTSOCK) => {
            return Err(mismatch("not a socket".into()));
        }
        Err(e) => return Err(Error::socket("getsockopt SO_TYPE", e)),
    };
    if ty != Type::STREAM {
        return Err(mismatch(format!("a {ty:?} socket")));
    }
    let family = sys::socket_domain(fd).map_err(|e| Error::socket("getsockopt SO_DOMAIN", e))?;
    if !want.families.contains(&family) {
        return Err(mismatch(format!("an {family:?} stream socket")));
    }
    if let Some(protocol) = want.protocol {
        let got =
            sys::socket_protocol(fd).map_err(|e| Error::socket("getsockopt SO_PROTOCOL", e))?;
        if got != Some(protocol) {
            return Err(mismatch(format!("an {family:?} stream socket of {got:?}")));
        }
    }
    let listening =
        sys::is_listener(fd).map_err(|e| Error::socket("getsockopt SO_ACCEPTCONN", e))?;
    if !listening {
        return Err(mismatch(format!(
            "an {family:?} stream socket that is not listening"
        )));
    }
    Ok(())
}

/// Checks `fd`, then re-registers it as `want`'s type.
#[track_caller]
fn convert(fd: Fd, want: &Want) -> std::result::Result<Fd, TryFromFdError> {
    if let Err(error) = check(&fd, want) {
        return Err(TryFromFdError { fd, error });
    }
    fd.retag(want.ty)
        .map_err(|(fd, error)| TryFromFdError { fd, error })
}

/// A registered fd becomes a [`TcpListener`] if it is a listening TCP socket (`SO_TYPE`
/// `SOCK_STREAM`, `SO_DOMAIN` `AF_INET` or `AF_INET6`, `SO_PROTOCOL` `IPPROTO_TCP`,
/// `SO_ACCEPTCONN` set; [`getsockopt(2)`](https://man7.org/linux/man-pages/man2/getsockopt.2.html)).
///
/// It stays registered: the registry lists it as a `TcpListener` from now on, with the
/// creation site the `Fd` had (where it came under guard: the call of
/// [`listen_fds()`](crate::listen_fds) for a passed fd, of [`Fd::adopt`] for an adopted
/// one), not the site of the conversion. It keeps its number, unless a lease holds it at
/// that moment (a [`for_each`](crate::Fds::for_each) callback, a `Command` waiting to
/// spawn with it): it then moves to a duplicate, and the lease holder closes the old
/// number. Its file status flags (`O_NONBLOCK`) are left as they are.
///
/// # Errors
///
/// [`TryFromFdError`], with the fd given back: [`Error::Convert`] if it is not a
/// listening TCP socket, [`Error::Socket`] if `getsockopt` fails otherwise,
/// [`Error::Dup`] if a lease holds it, so that it must move to a duplicate, and the
/// process is out of fds (unleased, it needs no new number).
///
/// # Examples
///
/// ```
/// use std::os::fd::OwnedFd;
/// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?; // made by other code
/// let fd = guard_os::Fd::adopt(OwnedFd::from(std_listener));
/// let listener = guard_os::TcpListener::try_from(fd)?;
/// let client = guard_os::TcpStream::connect(listener.local_addr()?)?;
/// let (server, _) = listener.accept()?; // a guard TcpStream
/// # client.close()?; server.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl TryFrom<Fd> for TcpListener {
    type Error = TryFromFdError;

    #[track_caller]
    fn try_from(fd: Fd) -> std::result::Result<TcpListener, TryFromFdError> {
        convert(fd, &TCP).map(TcpListener::from_registered)
    }
}

/// A registered fd becomes a [`UnixListener`] if it is a listening Unix stream socket
/// (`SO_TYPE` `SOCK_STREAM`, `SO_DOMAIN` `AF_UNIX`, `SO_ACCEPTCONN` set;
/// [`getsockopt(2)`](https://man7.org/linux/man-pages/man2/getsockopt.2.html)).
///
/// Registration, number and flags as for [`TcpListener`]'s conversion: the registry lists
/// it as a `UnixListener` with the creation site the `Fd` had.
///
/// # Errors
///
/// [`TryFromFdError`], with the fd given back: [`Error::Convert`] if it is not a
/// listening Unix stream socket, [`Error::Socket`] if `getsockopt` fails otherwise,
/// [`Error::Dup`] if a lease holds it and the process is out of fds.
///
/// # Examples
///
/// ```
/// use std::os::fd::OwnedFd;
/// let path = std::env::temp_dir().join(format!("guard-os-try-from-{}.sock", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let theirs = std::os::unix::net::UnixListener::bind(&path)?;
/// let fd = guard_os::Fd::adopt(OwnedFd::from(theirs));
/// let err = guard_os::TcpListener::try_from(fd).unwrap_err(); // not TCP: the fd comes back
/// assert!(err.to_string().contains("AF_UNIX"));
/// let listener = guard_os::UnixListener::try_from(err.into_fd())?;
/// let client = guard_os::UnixStream::connect(&path)?;
/// let server = listener.accept()?;
/// # client.close()?; server.close()?; listener.close()?; std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl TryFrom<Fd> for UnixListener {
    type Error = TryFromFdError;

    #[track_caller]
    fn try_from(fd: Fd) -> std::result::Result<UnixListener, TryFromFdError> {
        convert(fd, &UNIX).map(UnixListener::from_registered)
    }
}

/// The error of converting an [`Fd`] into a listener (`TcpListener::try_from(fd)`,
/// `UnixListener::try_from(fd)`): the fd, given back unchanged (still registered as an
/// `Fd`), and why.
///
/// With `?` into a [`guard_os::Error`](crate::Error) it becomes its [`error`](Self::error)
/// and the fd is dropped (closed).
///
/// # Examples
///
/// ```
/// use std::os::fd::OwnedFd;
/// let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let fd = guard_os::Fd::adopt(OwnedFd::from(udp));
/// let err = guard_os::TcpListener::try_from(fd).unwrap_err();
/// assert!(matches!(err.error(), guard_os::Error::Convert { into: "TcpListener", .. }));
/// assert_eq!(
///     err.to_string(),
///     format!("converting fd {} into a TcpListener failed: it is a SOCK_DGRAM socket",
///         std::os::fd::AsRawFd::as_raw_fd(err.fd())),
/// );
/// let fd: guard_os::Fd = err.into_fd(); // still ours, still registered
/// fd.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TryFromFdError {
    fd: Fd,
    error: Error,
}

impl TryFromFdError {
    /// The fd, still registered as an [`Fd`].
    ///
    /// # Examples
    ///
    /// ```
    /// let fd = guard_os::Fd::adopt(std::fs::File::open("/dev/null")?.into());
    /// let n = std::os::fd::AsRawFd::as_raw_fd(&fd);
    /// let err = guard_os::UnixListener::try_from(fd).unwrap_err();
    /// assert_eq!(std::os::fd::AsRawFd::as_raw_fd(err.fd()), n);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fd(&self) -> &Fd {
        &self.fd
    }

    /// Why the conversion failed.
    ///
    /// # Examples
    ///
    /// ```
    /// let fd = guard_os::Fd::adopt(std::fs::File::open("/dev/null")?.into());
    /// let err = guard_os::TcpListener::try_from(fd).unwrap_err();
    /// assert!(matches!(err.error(), guard_os::Error::Convert { found, .. } if found == "not a socket"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The fd back, to use otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let fd = guard_os::Fd::adopt(std::fs::File::open("/dev/null")?.into());
    /// let fd = guard_os::TcpListener::try_from(fd).unwrap_err().into_fd();
    /// fd.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_fd(self) -> Fd {
        self.fd
    }

    /// The fd and the error.
    ///
    /// # Examples
    ///
    /// ```
    /// let fd = guard_os::Fd::adopt(std::fs::File::open("/dev/null")?.into());
    /// let (fd, error) = guard_os::TcpListener::try_from(fd).unwrap_err().into_parts();
    /// assert!(matches!(error, guard_os::Error::Convert { .. }));
    /// # fd.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_parts(self) -> (Fd, Error) {
        (self.fd, self.error)
    }
}

impl fmt::Display for TryFromFdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for TryFromFdError {
    /// The [`error`](Self::error)'s own source (its message is this error's).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl From<TryFromFdError> for Error {
    /// The error; the fd is dropped, so closed (a failure of that close goes to the
    /// [event hook](guard_core::event::set_hook)).
    fn from(e: TryFromFdError) -> Error {
        e.error
    }
}

/// So that `?` on a conversion works in code returning guard's umbrella error; the error
/// keeps the fd (closed when it is dropped).
///
/// # Examples
///
/// ```
/// fn listener(fd: guard_os::Fd) -> Result<guard_os::TcpListener, guard_core::Error> {
///     Ok(guard_os::TcpListener::try_from(fd)?)
/// }
/// let fd = guard_os::Fd::adopt(std::fs::File::open("/dev/null")?.into());
/// assert!(listener(fd).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl From<TryFromFdError> for guard_core::Error {
    fn from(error: TryFromFdError) -> Self {
        guard_core::Error::Other(Box::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TcpStream, UnixStream};
    use std::os::fd::OwnedFd;

    /// One test at a time: two of them walk the registry, and a walk that leases the fd
    /// another is converting moves it to a new number (the rule the last test checks),
    /// which the number-keeping test would see as a failure.
    fn serial() -> std::sync::MutexGuard<'static, ()> {
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn adopt(fd: impl Into<OwnedFd>) -> Fd {
        Fd::adopt(fd.into())
    }

    fn found(e: &TryFromFdError) -> &str {
        match e.error() {
            Error::Convert { found, .. } => found,
            other => panic!("not a Convert error: {other}"),
        }
    }

    fn type_name_of(n: i32) -> Option<&'static str> {
        let mut name = None;
        crate::fds().for_each(|fd| {
            if fd.number() == n {
                name = Some(fd.type_name());
            }
        });
        name
    }

    #[test]
    fn refuses_what_is_not_a_listener_and_gives_the_fd_back() {
        let _serial = serial();
        let udp = adopt(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let n = udp.as_raw_fd();
        let e = TcpListener::try_from(udp).unwrap_err();
        assert_eq!(found(&e), "a SOCK_DGRAM socket");
        assert_eq!(e.fd().as_raw_fd(), n);
        assert!(type_name_of(n).unwrap().ends_with("::Fd"), "still an Fd");
        let e = UnixListener::try_from(e.into_fd()).unwrap_err();
        assert_eq!(found(&e), "a SOCK_DGRAM socket");

        let file = adopt(std::fs::File::open("/dev/null").unwrap());
        assert_eq!(
            found(&TcpListener::try_from(file).unwrap_err()),
            "not a socket"
        );

        // A connected TCP stream: the right family and protocol, but not listening.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = adopt(std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap());
        assert_eq!(
            found(&TcpListener::try_from(c).unwrap_err()),
            "an AF_INET stream socket that is not listening"
        );
        // The right kind of listener, the wrong family, both ways.
        let tcp = adopt(l);
        let e = UnixListener::try_from(tcp).unwrap_err();
        assert_eq!(found(&e), "an AF_INET stream socket");
        let path = std::env::temp_dir().join(format!("guard-os-conv-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let unix = adopt(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let e = TcpListener::try_from(unix).unwrap_err();
        assert_eq!(found(&e), "an AF_UNIX stream socket");
        assert_eq!(
            e.to_string(),
            format!(
                "converting fd {} into a TcpListener failed: it is an AF_UNIX stream socket",
                e.fd().as_raw_fd()
            )
        );
        let unix = UnixListener::try_from(e.into_fd()).unwrap();
        let client = UnixStream::connect(&path).unwrap();
        let server = unix.accept().unwrap();
        client.close().unwrap();
        server.close().unwrap();
        unix.close().unwrap();
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn keeps_the_number_and_creation_site_and_retags_the_registry() {
        let _serial = serial();
        let std_listener = std::net::TcpListener::bind("[::1]:0")
            .or_else(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let fd = Fd::adopt(std_listener.into()); // a site of its own (not `adopt`'s)
        let site = fd.registered_origin().unwrap().site();
        let n = fd.as_raw_fd();
        let at_site = |ty: &str| {
            let groups = crate::fds().census();
            let g = groups
                .iter()
                .find(|g| g.origin.site() == site && g.origin.type_name().ends_with(ty));
            g.map_or(0, |g| g.count)
        };
        assert_eq!((at_site("::Fd"), at_site("::TcpListener")), (1, 0));
        let l = TcpListener::try_from(fd).unwrap();
        assert_eq!(l.as_raw_fd(), n, "not leased: the number stays");
        assert_eq!(
            (at_site("::Fd"), at_site("::TcpListener")),
            (0, 1),
            "replaced, not added"
        );
        let origin = l.registered_fd().registered_origin().unwrap();
        assert_eq!(origin.type_name(), std::any::type_name::<TcpListener>());
        assert_eq!(origin.kind(), guard_core::Kind::Counted);
        assert_eq!(origin.site(), site, "the site where it came under guard");
        assert!(crate::sys::is_cloexec(&l).unwrap());
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        c.close().unwrap();
        s.close().unwrap();
        l.close().unwrap();
    }

    #[test]
    fn a_leased_fd_moves_to_a_duplicate_and_the_lease_closes_the_old_number() {
        let _serial = serial();
        let fd = adopt(std::net::TcpListener::bind("127.0.0.1:0").unwrap());
        let n = fd.as_raw_fd();
        let addr = crate::sys::local_addr(&fd).unwrap();
        let mut fd = Some(fd);
        let mut converted = None;
        crate::fds().for_each(|live| {
            if live.number() == n
                && let Some(fd) = fd.take()
            {
                // Leased by this very callback: the number cannot be handed over.
                let l = TcpListener::try_from(fd).unwrap();
                assert_ne!(l.as_raw_fd(), n);
                assert!(
                    crate::sys::check_open(live.as_fd()).is_ok(),
                    "R1: still open"
                );
                converted = Some(l);
            }
        });
        let l = converted.expect("visited");
        assert_eq!(
            crate::sys::local_addr(&l).unwrap().as_socket(),
            addr.as_socket()
        );
        assert_eq!(
            type_name_of(l.as_raw_fd()),
            Some(std::any::type_name::<TcpListener>())
        );
        l.close().unwrap();
    }
}
