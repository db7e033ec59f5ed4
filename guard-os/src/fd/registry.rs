//! The registry view: [`fds()`] with leased iteration, and [`untracked()`].

use super::retry_on_pressure;
use super::table;
use crate::error::{Error, Result};
use crate::sys;
use guard_core::Kind;
use guard_core::census::{CensusGroup, Origin};
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};
use std::panic::Location;
use std::path::PathBuf;

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
///
/// # Memory
///
/// A registered fd costs 32 bytes of heap on x86_64 (`tests/memory.rs` measures it), and
/// its handle 24 bytes inline. The registry's table grows by doubling and never shrinks.
///
/// # Examples
///
/// ```
/// let fds = guard_os::fds();
/// let f = guard_os::ReadFile::open("/dev/null")?;
/// assert!(!fds.is_empty());
/// assert!(fds.census().iter().any(|g| g.origin.type_name().ends_with("ReadFile")));
/// # drop(f);
/// # Ok::<(), guard_os::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Fds {
    _private: (),
}

impl Fds {
    /// Calls `f` on every live registered fd, each leased while `f` runs (R1), never under
    /// a lock (R2). `f` may open, close, drop or iterate fds, on any thread.
    ///
    /// The pass delays only the close of the fd it is visiting: a close of that fd (by `f`
    /// itself or by another thread) returns at once and happens when the visit returns (a
    /// failure then goes to the [event hook](guard_core::event::set_hook) as a
    /// `ReleaseFailed` naming the fd's type and kind). Any other fd closes at once, and is
    /// not visited if the pass had not reached it. Fds created during the pass may or may
    /// not be visited. A panic in `f` ends the visit, then propagates.
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
    ///
    /// # Examples
    ///
    /// ```
    /// let before = guard_os::fds().len();
    /// let f = guard_os::ReadFile::open("/dev/null")?;
    /// assert!(guard_os::fds().len() >= before + 1); // other threads may open fds too
    /// # drop(f);
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        table::len()
    }

    /// True if no fd is registered.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = guard_os::ReadFile::open("/dev/null")?;
    /// assert!(!guard_os::fds().is_empty());
    /// # drop(f);
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live registered fds grouped by kind, type and creation site, largest groups first
    /// (the "registered fds" section of [`guard_core::report()`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let files: Vec<_> = (0..3).map(|_| guard_os::ReadFile::open("/dev/null")).collect::<Result<_, _>>()?;
    /// let here = guard_os::fds().census().into_iter().find(|g| g.origin.site().line() == line!() - 1);
    /// assert_eq!(here.unwrap().count, 3); // one group: same kind, type and site
    /// # drop(files);
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn census(&self) -> Vec<CensusGroup> {
        table::census()
    }

    /// Same as [`untracked()`].
    ///
    /// # Errors
    ///
    /// As [`untracked()`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ours = guard_os::ReadFile::open("/dev/null")?;
    /// let n = std::os::fd::AsRawFd::as_raw_fd(&ours);
    /// assert!(guard_os::fds().untracked()?.iter().all(|u| u.number != n)); // registered
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn untracked(&self) -> Result<Vec<Untracked>> {
        untracked()
    }
}

/// One registered fd as [`Fds::for_each`] sees it: leased, so open and not reused while the
/// callback runs.
///
/// # Examples
///
/// ```
/// let f = guard_os::ReadFile::open("/dev/null")?;
/// let line = line!() - 1;
/// let mut seen = 0;
/// guard_os::fds().for_each(|fd| {
///     if fd.number() == std::os::fd::AsRawFd::as_raw_fd(&f) {
///         assert_eq!(fd.kind(), guard_core::Kind::Counted);
///         assert_eq!(fd.type_name(), std::any::type_name::<guard_os::ReadFile>());
///         assert_eq!(fd.site().line(), line);
///         assert_eq!(fd.origin().kind(), fd.kind()); // the three in one value
///         println!("{fd}"); // fd 5 (counted `guard_os::file::read::ReadFile`, created at src/main.rs:2:9)
///         seen += 1;
///     }
/// });
/// assert_eq!(seen, 1);
/// # Ok::<(), guard_os::Error>(())
/// ```
pub struct LiveFd<'a> {
    leased: table::Leased<'a>,
}

impl LiveFd<'_> {
    /// The fd's number.
    pub fn number(&self) -> i32 {
        self.leased.raw()
    }

    /// The fd, borrowed for the callback: it cannot escape it (after the callback the
    /// lease is gone and the fd may be closed).
    ///
    /// # Examples
    ///
    /// ```
    /// let f = guard_os::ReadFile::open("/dev/null")?;
    /// let mut nonblocking = 0;
    /// guard_os::fds().for_each(|fd| {
    ///     // Safe to use while the callback runs: the lease keeps it open and unreused.
    ///     let flags = rustix::fs::fcntl_getfl(fd.as_fd()).unwrap();
    ///     nonblocking += flags.contains(rustix::fs::OFlags::NONBLOCK) as usize;
    /// });
    /// # drop(f);
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    ///
    /// Trying to keep it:
    ///
    /// ```compile_fail,E0521
    /// let f = guard_os::ReadFile::open("/dev/null").unwrap();
    /// let mut escaped = None;
    /// guard_os::fds().for_each(|fd| escaped = Some(fd.as_fd())); // error: borrowed data escapes
    /// ```
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.leased.as_fd()
    }

    /// Its kind, type and creation site (the parts below, in one value; see the
    /// type-level example).
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

    /// The type that owns it, as the registry stores it.
    pub(crate) fn ty(&self) -> super::FdOwner {
        self.leased.ty()
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
///
/// # Examples
///
/// ```
/// for u in guard_os::untracked()? {
///     println!("fd {} -> {:?} (not registered)", u.number, u.target);
/// }
/// # Ok::<(), guard_os::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Untracked {
    /// Its number.
    pub number: i32,
    /// What it refers to (Linux: `/proc/self/fd/N`'s link; macOS: `fcntl(F_GETPATH)`;
    /// FreeBSD: `kf_path`), if it was still open when looked at; on macOS and FreeBSD only
    /// files have a path (`None` for sockets and pipes).
    pub target: Option<PathBuf>,
}

/// The fds open in this process (per `/proc/self/fd` on Linux,
/// `proc_pidinfo(PROC_PIDLISTFDS)` on macOS, `sysctl(kern.proc.filedesc)` on FreeBSD) that
/// guard does not own, ascending.
/// A diagnostic for leaks from other code: a snapshot, so an fd being created or closed
/// meanwhile may show up or not. Not listed: registered fds, including those whose close
/// waits for a [`for_each`](Fds::for_each) lease to end; the placeholders that hold a
/// live `Command`'s reserved target numbers; the fd used to read the directory.
///
/// # Errors
///
/// [`Error::ListFds`] if the list cannot be read.
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
    let open = retry_on_pressure(sys::open_fds).map_err(|source| Error::ListFds { source })?;
    let mut known = table::held_numbers();
    known.extend(crate::command::reserved_numbers());
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
