//! The generic registered [`Fd`], and the pieces unique leaf types share.

use super::table;
use super::{FdOwner, retry_on_pressure};
use crate::error::{self, Error, Result};
use crate::sys;
use guard_core::census::Origin;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::panic::Location;

/// A registered fd of any kind: the generic building block, and the way to bring an fd
/// made elsewhere under guard ([`Fd::adopt`]).
///
/// An `Fd` is counted: its release only gives a number back. Closing reports the error of
/// `close(2)` ([`Fd::close`]); a dropped `Fd` is closed at once and a failure goes to the
/// [event hook](guard_core::event::set_hook). In a [`Counted`](guard_core::Counted) handle it
/// is closed when the last handle goes: on the dropping thread if nothing that thread
/// dropped is still pending, else on the finalizer thread, after those
/// ([`RELEASE_TAKES_NO_LOCK`](guard_core::CountedResource::RELEASE_TAKES_NO_LOCK)).
///
/// # Examples
///
/// ```
/// use std::os::fd::{AsRawFd, OwnedFd};
/// let owned: OwnedFd = std::fs::File::open("/dev/null")?.into();
/// let fd = guard_os::Fd::adopt(owned);
/// let n = fd.as_raw_fd();
/// let mut seen = false;
/// guard_os::fds().for_each(|live| seen |= live.number() == n);
/// assert!(seen);
/// fd.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Fd {
    entry: table::Registration,
}

impl Fd {
    /// Registers `fd` (made by other code) as a generic counted `Fd`, created here, and
    /// sets its `FD_CLOEXEC` ([`fcntl(F_SETFD)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)),
    /// as every registered fd has: a child gets it only when asked, through
    /// [`CommandExt::inherit`](crate::CommandExt::inherit). (The flag could only have leaked
    /// the fd into a child spawned before this call; nothing can undo that.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// let theirs: OwnedFd = std::fs::File::open("/dev/null")?.into(); // made by other code
    /// let fd = guard_os::Fd::adopt(theirs);
    /// assert_eq!(fd.registered_origin().unwrap().kind(), guard_core::Kind::Counted);
    /// assert!(fd.registered_origin().unwrap().type_name().ends_with("Fd"));
    /// fd.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn adopt(fd: OwnedFd) -> Fd {
        // Only EBADF can fail F_SETFD, and an `OwnedFd` is open (I/O safety).
        let _ = sys::set_cloexec(&fd);
        Fd::register(fd, FdOwner::Fd, Location::caller())
    }

    /// Registers `fd`, owned by a `ty` created at `site`.
    pub(crate) fn register(fd: OwnedFd, ty: FdOwner, site: &'static Location<'static>) -> Fd {
        Fd {
            entry: table::Registration::register(fd, ty, site),
        }
    }

    /// Whether closing it cannot wait, as decided when it was registered
    /// (`FdOwner::closes_without_waiting`).
    pub(crate) fn closes_without_waiting(&self) -> bool {
        self.entry.closes_without_waiting()
    }

    /// Takes the fd out of the registry: the caller owns it from now on.
    ///
    /// The result is always a duplicate (a new number, `FD_CLOEXEC` set, same open file
    /// description) and the original number is closed: handing over the number itself
    /// could race with a [`for_each`](crate::Fds::for_each) callback holding it (R1).
    ///
    /// # Errors
    ///
    /// [`Error::Dup`] if the process is out of fds even after draining the finalizer (the
    /// fd is closed anyway).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// let fd = guard_os::Fd::adopt(std::fs::File::open("/dev/null")?.into());
    /// let before = guard_os::fds().len();
    /// let owned: OwnedFd = fd.into_owned()?;
    /// assert_eq!(guard_os::fds().len(), before - 1);
    /// # drop(owned);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_owned(self) -> Result<OwnedFd> {
        let fd = self.entry.raw();
        self.entry
            .into_owned(|b| retry_on_pressure(|| sys::dup_cloexec(b)))
            .map_err(|source| Error::Dup { fd, source })
    }

    /// A new registered fd for the same open file description (`F_DUPFD_CLOEXEC`),
    /// created at the caller, with this fd's kind and type.
    ///
    /// # Errors
    ///
    /// [`Error::Dup`] if the process is out of fds even after draining the finalizer.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = guard_os::Fd::adopt(std::fs::File::open("/dev/null")?.into());
    /// let b = a.try_clone()?;
    /// assert_ne!(std::os::fd::AsRawFd::as_raw_fd(&a), std::os::fd::AsRawFd::as_raw_fd(&b));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn try_clone(&self) -> Result<Fd> {
        let fd = self.entry.raw();
        let dup = retry_on_pressure(|| sys::dup_cloexec(self.entry.as_fd()))
            .map_err(|source| Error::Dup { fd, source })?;
        Ok(Fd::register(dup, self.entry.ty(), Location::caller()))
    }

    /// The fd's kind, type and creation site, as registered; `None` only while a
    /// [`close`](Self::close) of it is in progress elsewhere (it never is, for the owner).
    ///
    /// # Examples
    ///
    /// ```
    /// let fd = guard_os::Fd::adopt(std::fs::File::open("/dev/null")?.into());
    /// let origin = fd.registered_origin().unwrap();
    /// assert_eq!(origin.site().line(), line!() - 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn registered_origin(&self) -> Option<Origin> {
        self.entry.origin()
    }

    /// Closes the fd now and returns the error of `close(2)`: when this returns `Ok`, the
    /// number is free (and, once no other copy of the open file description is open, the
    /// peer sees the end of the stream, a pipe's reader sees EOF, a port is free). A
    /// [`Command`](std::process::Command) that keeps the fd for a child holds its own
    /// duplicate, which does not delay this close (see
    /// [`CommandExt::inherit`](crate::CommandExt::inherit)).
    ///
    /// The one exception: while a [`for_each`](crate::Fds::for_each) callback is visiting
    /// this very fd, its close happens when that visit returns (on this thread, if the
    /// visitor is the caller), and its error goes to the event hook. A pass that has not
    /// reached the fd, or has visited it already, does not delay it.
    ///
    /// # Errors
    ///
    /// [`Error::Close`]: the fd is closed and deregistered anyway; close is never retried.
    ///
    /// # Examples
    ///
    /// ```
    /// let fd = guard_os::Fd::adopt(std::fs::File::open("/dev/null")?.into());
    /// match fd.close() {
    ///     Ok(()) => {}
    ///     Err(e) => eprintln!("{e}: the number is free anyway"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(self) -> Result<()> {
        let fd = self.entry.raw();
        self.entry
            .close()
            .map_err(|source| Error::Close { fd, source })
    }

    /// The same fd, re-registered as owned by `ty` with its creation site (see
    /// `table::Registration::retag`: same number unless it is leased right now).
    ///
    /// # Errors
    ///
    /// [`Error::Dup`] (only when leased, which needs a duplicate: out of fds even after
    /// draining the finalizer), with the fd given back unchanged.
    #[track_caller]
    pub(crate) fn retag(self, ty: FdOwner) -> std::result::Result<Fd, (Fd, Error)> {
        let fd = self.entry.raw();
        let dup = |b: BorrowedFd<'_>| retry_on_pressure(|| sys::dup_cloexec(b));
        match self.entry.retag(ty, Location::caller(), dup) {
            Ok(entry) => Ok(Fd { entry }),
            Err((entry, source)) => Err((Fd { entry }, Error::Dup { fd, source })),
        }
    }

    pub(crate) fn key(&self) -> guard_core::registry::Key {
        self.entry.key()
    }

    /// The type that owns the fd.
    pub(crate) fn ty(&self) -> FdOwner {
        self.entry.ty()
    }
}

impl guard_core::Resource for Fd {
    type Error = Error;
    /// Same as [`Fd::close`].
    fn release(self) -> Result<()> {
        self.close()
    }

    fn created(&self) -> Option<guard_core::Created> {
        created(Some(self), "registered")
    }
}

/// The release is the registry removal and `close(2)`: no lock a user thread may hold, no
/// user code. Whether the close can wait depends on the fd (a file on FUSE or NFS, a
/// connected socket under `SO_LINGER`, a terminal): decided when it was registered, and an
/// isolated last drop closes inline, as `std` does, only when it cannot.
impl guard_core::CountedResource for Fd {
    const RELEASE_TAKES_NO_LOCK: bool = true;

    fn releases_without_waiting(&self) -> bool {
        self.closes_without_waiting()
    }
}

impl AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.entry.as_fd()
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.entry.raw()
    }
}

impl From<OwnedFd> for Fd {
    /// Same as [`Fd::adopt`].
    #[track_caller]
    fn from(fd: OwnedFd) -> Fd {
        Fd::adopt(fd)
    }
}

impl From<Fd> for OwnedFd {
    /// Same as [`Fd::into_owned`].
    ///
    /// # Panics
    ///
    /// If no duplicate can be made: the process is out of fds even after draining the
    /// finalizer. Use [`Fd::into_owned`] to get that as an error.
    fn from(fd: Fd) -> OwnedFd {
        match fd.into_owned() {
            Ok(owned) => owned,
            Err(e) => panic!("{e}"),
        }
    }
}

impl fmt::Debug for Fd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Fd").field(&self.entry.raw()).finish()
    }
}

/// The fd of a unique leaf resource, until its release takes it. Unique leaves (a writable
/// file, a pipe's write end, a connected stream) keep it in an `Option` so that both their
/// `release(self)` and their `Drop` can take it exactly once.
#[derive(Debug)]
pub(crate) struct UniqueFd {
    fd: Option<Fd>,
}

impl UniqueFd {
    pub(crate) fn new(fd: Fd) -> Self {
        UniqueFd { fd: Some(fd) }
    }

    /// The fd. It is present until the owner's release or drop takes it, after which the
    /// owner is gone: no method can observe it taken.
    pub(crate) fn get(&self) -> &Fd {
        match &self.fd {
            Some(fd) => fd,
            None => unreachable!("a unique fd is taken only by its owner's release or drop"),
        }
    }

    /// The fd, unless taken.
    pub(crate) fn peek(&self) -> Option<&Fd> {
        self.fd.as_ref()
    }

    /// Takes the fd (release or drop).
    pub(crate) fn take(&mut self) -> Option<Fd> {
        self.fd.take()
    }
}

/// Where the owner of `fd` was created, as registered, and what happened there: its
/// [`Resource::created`](guard_core::Resource::created).
pub(crate) fn created(fd: Option<&Fd>, action: &'static str) -> Option<guard_core::Created> {
    let origin = fd?.registered_origin()?;
    Some(guard_core::Created::new(origin.site(), action))
}

/// What a unique leaf's `Drop` does when it was not released: it releases now (nothing
/// leaks), reports every error to the event hook as a failed release of `ty`, and reports
/// the drop itself with the fd's `origin` (the drop-bomb of
/// [`guard_core::report::unreleased`]). `origin` is the registry's, read before the
/// release; it is there as long as the fd is registered.
pub(crate) fn dropped_unreleased(ty: FdOwner, origin: Option<Origin>, result: Result<()>) {
    if let Err(e) = result {
        error::report(ty.type_name(), ty.kind(), &e);
    }
    if let Some(origin) = origin {
        guard_core::report::unreleased(origin);
    }
}
