//! Registered fds: the generic [`Fd`], the registry view [`fds()`], [`untracked()`], and
//! the fd-pressure retry (invariant F5).
//!
//! Every fd guard-os creates is registered with its kind, type name and creation site, and
//! can be listed with [`Fds::for_each`] while other threads open and close fds:
//!
//! - **R1** a callback never sees a closed fd, or a number reused by another resource: each
//!   entry is leased while its callback runs, and a close that meets a lease is deferred
//!   until the lease ends;
//! - **R2** callbacks run without any lock held, so they may open, drop, close, iterate or
//!   panic, on any thread;
//! - **R3** each fd is closed exactly once. A failed close (`EBADF` for an fd closed behind
//!   the registry's back, `EIO`, `EINTR`) still removes the entry, and is never retried.

use crate::error::{Error, Result};
use crate::sys::{self, table};
use guard_core::registry::{Census, Origin};
use guard_core::{CountedResource, Kind, Resource};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::panic::Location;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long an fd creation that hit `EMFILE`/`ENFILE` waits for pending counted releases
/// before its one retry.
pub const PRESSURE_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

static PRESSURE_RETRIES: AtomicU64 = AtomicU64::new(0);

/// How many fd creations hit `EMFILE`/`ENFILE` and were retried after draining the
/// finalizer (invariant F5), since the process started.
///
/// # Examples
///
/// ```
/// let _retried_so_far = guard_os::pressure_retries();
/// ```
pub fn pressure_retries() -> u64 {
    PRESSURE_RETRIES.load(Ordering::Relaxed)
}

/// Runs `create`; if it fails with `EMFILE` or `ENFILE`, waits (at most
/// [`PRESSURE_FLUSH_TIMEOUT`]) for the finalizer to release what is pending, and retries
/// once (F5). Deferral holds counted fds a little longer; this gives them back when the
/// process runs short.
pub(crate) fn retry_on_pressure<T>(mut create: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    match create() {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
            PRESSURE_RETRIES.fetch_add(1, Ordering::Relaxed);
            // On the finalizer thread this refuses at once; the retry is then merely cheap.
            let _ = guard_core::finalizer::flush_timeout(PRESSURE_FLUSH_TIMEOUT);
            create()
        }
        other => other,
    }
}

/// A registered fd of any kind: the generic building block, and the way to bring an fd
/// made elsewhere under guard ([`Fd::adopt`]).
///
/// An `Fd` is counted: its release only gives a number back. Closing reports the error of
/// `close(2)` ([`Fd::close`]); a dropped `Fd` is closed at once and a failure goes to the
/// [event hook](guard_core::event::set_hook). In a [`Counted`](guard_core::Counted) handle it
/// is closed on the finalizer thread.
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
    entry: table::Entry,
}

impl Fd {
    /// Registers `fd` (made by other code) as a generic counted `Fd`, created here.
    ///
    /// The fd keeps its flags: if it lacks `FD_CLOEXEC`, it still has no `FD_CLOEXEC`
    /// (exec hygiene through [`CommandExt`](crate::CommandExt) closes it in children anyway).
    #[track_caller]
    pub fn adopt(fd: OwnedFd) -> Fd {
        Fd::register(fd, Origin::here::<Fd>(Kind::Counted))
    }

    /// Registers `fd` with the given origin.
    pub(crate) fn register(fd: OwnedFd, origin: Origin) -> Fd {
        Fd {
            entry: table::Entry::register(fd, origin),
        }
    }

    /// An origin for a guard-os type `T`, at `site`.
    pub(crate) fn origin<T>(kind: Kind, site: &'static Location<'static>) -> Origin {
        Origin::new(kind, std::any::type_name::<T>(), site)
    }

    /// Takes the fd out of the registry: the caller owns it from now on.
    ///
    /// The result is always a duplicate (a new number, `FD_CLOEXEC` set, same open file
    /// description) and the original number is closed: handing over the number itself
    /// could race with a [`for_each`](Fds::for_each) callback holding it (R1).
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
        let site = Location::caller();
        let origin = self.entry.origin().map_or_else(
            || Fd::origin::<Fd>(Kind::Counted, site),
            |o| Origin::new(o.kind(), o.type_name(), site),
        );
        let fd = self.entry.raw();
        let dup = retry_on_pressure(|| sys::dup_cloexec(self.entry.as_fd()))
            .map_err(|source| Error::Dup { fd, source })?;
        Ok(Fd::register(dup, origin))
    }

    /// The fd's kind, type and creation site, as registered.
    pub fn registered_origin(&self) -> Option<Origin> {
        self.entry.origin()
    }

    /// Closes the fd now and returns the error of `close(2)`. If a
    /// [`for_each`](Fds::for_each) callback is looking at it at this moment, the close
    /// happens when that callback is done, and its error goes to the event hook.
    ///
    /// # Errors
    ///
    /// [`Error::Close`]: the fd is closed and deregistered anyway; close is never retried.
    pub fn close(self) -> Result<()> {
        let fd = self.entry.raw();
        self.entry
            .close()
            .map_err(|source| Error::Close { fd, source })
    }

    #[allow(dead_code)] // TEMPORARY: used by exec hygiene (next commit)
    pub(crate) fn key(&self) -> guard_core::registry::Key {
        self.entry.key()
    }
}

impl Resource for Fd {
    type Error = Error;
    /// Same as [`Fd::close`].
    fn release(self) -> Result<()> {
        self.close()
    }
}

impl CountedResource for Fd {}

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

/// The view of the fd registry: every fd guard-os created or adopted and has not closed.
///
/// # Examples
///
/// ```
/// let file = guard_os::ReadFile::open("/dev/null")?;
/// guard_os::fds().for_each(|fd| println!("{fd}"));
/// assert!(guard_os::fds().len() >= 1);
/// # drop(file);
/// # Ok::<(), guard_os::Error>(())
/// ```
pub fn fds() -> Fds {
    Fds { _private: () }
}

/// The fd registry, as returned by [`fds()`].
#[derive(Clone, Copy, Debug)]
pub struct Fds {
    _private: (),
}

impl Fds {
    /// Calls `f` on every live registered fd, each leased while `f` runs (R1), never under
    /// a lock (R2). `f` may open, close, drop or iterate fds, on any thread; a close of an
    /// fd being visited happens right after its visit. Fds created during the pass may or
    /// may not be visited. A panic in `f` ends the leases, then propagates.
    ///
    /// # Examples
    ///
    /// ```
    /// let (reader, writer) = guard_os::pipe()?;
    /// let mut pipes = 0;
    /// guard_os::fds().for_each(|fd| pipes += fd.type_name().contains("Pipe") as usize);
    /// assert!(pipes >= 2);
    /// # drop(reader); writer.close()?;
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn for_each(&self, mut f: impl FnMut(&LiveFd<'_>)) {
        table::for_each(|leased| f(&LiveFd { leased }));
    }

    /// Number of live registered fds.
    pub fn len(&self) -> usize {
        table::len()
    }

    /// True if no fd is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live registered fds grouped by kind, type and creation site, largest groups first
    /// (the "registered fds" section of [`guard_core::report()`]).
    pub fn census(&self) -> Vec<Census> {
        table::census()
    }

    /// Same as [`untracked()`].
    ///
    /// # Errors
    ///
    /// As [`untracked()`].
    pub fn untracked(&self) -> Result<Vec<Untracked>> {
        untracked()
    }
}

/// One registered fd as [`Fds::for_each`] sees it: leased, so open and not reused while the
/// callback runs.
pub struct LiveFd<'a> {
    leased: table::Leased<'a>,
}

impl LiveFd<'_> {
    /// The fd's number.
    pub fn number(&self) -> i32 {
        self.leased.raw()
    }

    /// The fd, borrowed for the callback.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.leased.as_fd()
    }

    /// Its kind, type and creation site.
    pub fn origin(&self) -> Origin {
        self.leased.origin()
    }

    /// Unique (released at a precise point) or counted.
    pub fn kind(&self) -> Kind {
        self.origin().kind()
    }

    /// The type that owns it (`guard_os::ReadFile`, ...).
    pub fn type_name(&self) -> &'static str {
        self.origin().type_name()
    }

    /// Where it was created.
    pub fn site(&self) -> &'static Location<'static> {
        self.origin().site()
    }

    #[allow(dead_code)] // TEMPORARY: used by exec hygiene (next commit)
    pub(crate) fn key(&self) -> guard_core::registry::Key {
        self.leased.key()
    }
}

impl AsFd for LiveFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.leased.as_fd()
    }
}

impl fmt::Display for LiveFd<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.origin();
        write!(
            f,
            "fd {} ({} `{}`, created at {})",
            self.number(),
            o.kind(),
            o.type_name(),
            o.site()
        )
    }
}

impl fmt::Debug for LiveFd<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveFd")
            .field("number", &self.number())
            .field("origin", &self.origin())
            .finish()
    }
}

/// An fd open in the process that the registry does not know: opened by other code
/// (std, a C library) or leaked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Untracked {
    /// Its number.
    pub number: i32,
    /// What it refers to (`/proc/self/fd/N`'s link), if it was still open when looked at.
    pub target: Option<PathBuf>,
}

/// The fds open in this process (per `/proc/self/fd`) that the registry does not know,
/// ascending. A diagnostic for leaks from other code: a snapshot, so an fd being created
/// or closed meanwhile may show up or not. The fd used to read the directory is not listed.
///
/// # Errors
///
/// [`Error::ListFds`] if `/proc/self/fd` cannot be read.
///
/// # Examples
///
/// ```
/// let stray = std::fs::File::open("/dev/null")?; // std's fd: not registered
/// let n = std::os::fd::AsRawFd::as_raw_fd(&stray);
/// let untracked = guard_os::untracked()?;
/// assert!(untracked.iter().any(|u| u.number == n));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn untracked() -> Result<Vec<Untracked>> {
    let open = sys::open_fds().map_err(|source| Error::ListFds { source })?;
    let mut known = Vec::with_capacity(table::len());
    table::for_each(|leased| known.push(leased.raw()));
    known.sort_unstable();
    Ok(open
        .into_iter()
        .filter(|n| known.binary_search(n).is_err())
        .map(|number| Untracked {
            number,
            target: sys::fd_target(number),
        })
        .collect())
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

/// What a unique leaf's `Drop` does when it was not released: it releases now (nothing
/// leaks), reports every error to the event hook, and reports the drop itself (the
/// drop-bomb of [`guard_core::report::unreleased`]).
pub(crate) fn dropped_unreleased(origin: Option<Origin>, result: Result<()>) {
    if let Err(e) = result {
        crate::error::report(e);
    }
    if let Some(origin) = origin {
        guard_core::report::unreleased(origin);
    }
}
