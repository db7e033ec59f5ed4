//! The receiving side of [`Inherit::listen_fds`](crate::Inherit::listen_fds): [`listen_fds()`]
//! takes the fds a parent passed the systemd way
//! ([`sd_listen_fds(3)`](https://man7.org/linux/man-pages/man3/sd_listen_fds.3.html)).
//!
//! Why it is a safe function that counts threads, and who owns a passed fd: see
//! [`listen_fds()`].

use super::env::{self, Vars};
use crate::error::{Error, Result};
use crate::fd::table;
use crate::fd::{Fd, FdOwner, retry_on_pressure};
use crate::sys;
use std::ops::Range;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};

/// The first passed fd (`SD_LISTEN_FDS_START`).
const FIRST: i32 = 3;

/// Set once fds have been taken: later calls take nothing.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The fds passed to this process, taken by [`listen_fds()`]: registered [`Fd`]s, in the
/// order they were passed (fd 3 first), with their names if `LISTEN_FDNAMES` was set.
/// Turn each into its type with `TryFrom` ([`TcpListener`](crate::TcpListener),
/// [`UnixListener`](crate::UnixListener)).
///
/// # Examples
///
/// ```
/// let passed = guard_os::listen_fds()?;
/// let listener = match passed.into_iter().next() {
///     Some(fd) => guard_os::TcpListener::try_from(fd)?, // passed by the previous image
///     None => guard_os::TcpListener::bind("127.0.0.1:0")?, // started by hand: bind
/// };
/// # drop(listener);
/// # Ok::<(), guard_os::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct ListenFds {
    fds: Vec<Fd>,
    names: Option<Vec<String>>,
}

impl ListenFds {
    /// How many fds were taken.
    ///
    /// # Examples
    ///
    /// ```
    /// let passed = guard_os::listen_fds()?;
    /// println!("{} sockets passed", passed.len());
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    /// True if no fd was taken (none passed, passed to another process, or taken before).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(guard_os::listen_fds()?.is_empty()); // a doctest is passed nothing
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// The fds, in the order they were passed.
    ///
    /// # Examples
    ///
    /// ```
    /// for fd in guard_os::listen_fds()?.fds() {
    ///     println!("passed: {fd:?}");
    /// }
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn fds(&self) -> &[Fd] {
        &self.fds
    }

    /// The names from `LISTEN_FDNAMES`, one per fd in the same order, if it was set.
    ///
    /// # Examples
    ///
    /// ```
    /// let passed = guard_os::listen_fds()?;
    /// if let Some(names) = passed.names() {
    ///     assert_eq!(names.len(), passed.len());
    /// }
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn names(&self) -> Option<&[String]> {
        self.names.as_deref()
    }

    /// Takes out the first fd named `name` (per `LISTEN_FDNAMES`); `None` if there is none,
    /// or no names were passed.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut passed = guard_os::listen_fds()?;
    /// let web = match passed.take_named("web") {
    ///     Some(fd) => guard_os::TcpListener::try_from(fd)?,
    ///     None => guard_os::TcpListener::bind("127.0.0.1:0")?,
    /// };
    /// # drop(web);
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn take_named(&mut self, name: &str) -> Option<Fd> {
        let names = self.names.as_mut()?;
        let i = names.iter().position(|n| n == name)?;
        names.remove(i);
        Some(self.fds.remove(i))
    }

    /// The fds, in the order they were passed.
    ///
    /// # Examples
    ///
    /// ```
    /// let fds: Vec<guard_os::Fd> = guard_os::listen_fds()?.into_fds();
    /// # drop(fds);
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn into_fds(self) -> Vec<Fd> {
        self.fds
    }
}

impl IntoIterator for ListenFds {
    type Item = Fd;
    type IntoIter = std::vec::IntoIter<Fd>;

    /// Same as [`ListenFds::into_fds`], iterated.
    fn into_iter(self) -> Self::IntoIter {
        self.fds.into_iter()
    }
}

/// Takes the fds passed to this process the systemd way
/// ([`sd_listen_fds(3)`](https://man7.org/linux/man-pages/man3/sd_listen_fds.3.html)): if
/// `LISTEN_PID` is this process's pid, fds `3..3 + LISTEN_FDS`, each checked open
/// ([`fcntl(F_GETFD)`](https://man7.org/linux/man-pages/man2/fcntl.2.html)), marked
/// `FD_CLOEXEC` and registered as an [`Fd`] created at the caller (as [`Fd::adopt`] does).
///
/// **It changes the environment**: whenever `LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`
/// or `LISTEN_PIDFDID` (set by newer systemd) is set, all four are removed, whatever the
/// outcome (as `sd_listen_fds(1)` does), so that no child or re-executed image inherits
/// them; and it does so only while this is the process's only thread, else it refuses
/// ([`Error::ListenFdsThreads`]; see below for why). So call it **first thing in `main`**, before anything starts a thread (`guard_core::runtime()` starts the
/// finalizer). When none of the variables is set, nothing is changed or counted and the
/// list is empty on any thread: a program that calls it too late works when started by
/// hand and fails only when passed sockets, so call it early even then.
///
/// Only the first call that finds fds takes them: the fds are taken at most once per
/// process, and every later call returns an empty list, even if the variables were set
/// again. The list is also empty when the variables are absent, when `LISTEN_PID` is
/// another process's (they were meant for it), or when `LISTEN_FDS` is 0 (which
/// [`Inherit::listen_fds`](crate::Inherit::listen_fds) sends for an empty slice).
///
/// Hand a passed fd on with [`Inherit::listen_fds`](crate::Inherit::listen_fds); since the
/// variables are gone from this process, the `Command` sets them (see
/// [`CommandExt::inherit`](crate::CommandExt::inherit) for re-executing in place).
///
/// # Errors
///
/// Nothing is taken on an error. Before the variables are removed:
/// [`Error::ListenFdsThreads`] (other threads run: nothing changed),
/// [`Error::ListenFdsThreadCount`] (`/proc/self/status` unreadable). After (the variables
/// are gone): [`Error::ListenFdsInvalid`] (`LISTEN_PID` not a positive decimal,
/// `LISTEN_FDS` not a decimal count that fits above fd 3, `LISTEN_FDNAMES` not one name
/// per fd), [`Error::ListenFdsClosed`] (a number in the range is not open: the sender
/// passed fewer fds than it said), [`Error::ListenFdsRegistered`] (a number in the range
/// is registered already, or still held by a registered fd whose close a lease defers).
/// Passed fds that were open stay open, unregistered
/// ([`untracked()`](crate::untracked) lists them).
///
/// # Examples
///
/// ```
/// // First thing in main, before any thread:
/// let mut passed = guard_os::listen_fds()?;
/// let listener = match passed.len() {
///     0 => guard_os::TcpListener::bind("127.0.0.1:0")?,
///     1 => guard_os::TcpListener::try_from(passed.into_fds().remove(0))?,
///     n => panic!("{n} sockets passed; this server takes one"),
/// };
/// assert!(std::env::var_os("LISTEN_PID").is_none()); // removed if it was set
/// # drop(listener);
/// # Ok::<(), guard_os::Error>(())
/// ```
///
/// # Safety of a safe function
///
/// Removing environment variables is unsound while another thread reads the environment
/// through C; this function counts the process's threads and refuses unless it is the
/// only one ([`listen_fds_unchecked`] is the `unsafe` variant without the check).
#[track_caller]
pub fn listen_fds() -> Result<ListenFds> {
    checked(false, Location::caller())
}

/// [`listen_fds()`] with the option to take fds when `LISTEN_PID` is missing.
pub(super) fn checked(missing_pid: bool, site: &'static Location<'static>) -> Result<ListenFds> {
    let Some(vars) = Vars::read() else {
        return Ok(ListenFds::default());
    };
    let threads = retry_on_pressure(sys::thread_count)
        .map_err(|source| Error::ListenFdsThreadCount { source })?;
    if threads != 1 {
        return Err(Error::ListenFdsThreads { threads });
    }
    // SAFETY: this is the process's only thread (counted just now), and only it could start
    // another, which it does not do in `take`: nothing can read or write the environment
    // while `take` removes the variables.
    unsafe { take(vars, missing_pid, site) }
}

/// [`listen_fds()`] without the thread check, for a program that cannot call it before
/// other threads exist (a runtime that starts threads before `main`, a process without
/// `/proc`).
///
/// # Safety
///
/// `std::env::remove_var`'s: while this runs, no other thread may read or write the
/// environment other than through `std::env` (which serialises with it): no `getenv(3)`
/// or `setenv(3)` from C code (DNS resolution, locales, time zones, C libraries), no
/// reads of `environ`.
///
/// # Errors
///
/// As [`listen_fds()`], without the two thread errors.
///
/// # Examples
///
/// ```
/// // A test harness runs this on its own thread; the other threads are the harness's,
/// // which do not touch the environment while this runs.
/// // SAFETY: no other thread reads or writes the environment through C meanwhile.
/// let passed = unsafe { guard_os::listen_fds_unchecked() }?;
/// assert!(passed.is_empty());
/// # Ok::<(), guard_os::Error>(())
/// ```
#[track_caller]
pub unsafe fn listen_fds_unchecked() -> Result<ListenFds> {
    // SAFETY: forwarded: the caller's contract is `unchecked`'s.
    unsafe { unchecked(false, Location::caller()) }
}

/// [`listen_fds_unchecked`] with the option to take fds when `LISTEN_PID` is missing.
///
/// # Safety
///
/// As [`listen_fds_unchecked`].
pub(super) unsafe fn unchecked(
    missing_pid: bool,
    site: &'static Location<'static>,
) -> Result<ListenFds> {
    let Some(vars) = Vars::read() else {
        return Ok(ListenFds::default());
    };
    // SAFETY: forwarded: the caller's contract is `take`'s.
    unsafe { take(vars, missing_pid, site) }
}

/// Removes the variables, then takes what they pass to this process.
///
/// # Safety
///
/// As [`listen_fds_unchecked`].
unsafe fn take(
    vars: Vars,
    missing_pid: bool,
    site: &'static Location<'static>,
) -> Result<ListenFds> {
    // SAFETY: forwarded contract. First: whatever follows, the variables are consumed.
    unsafe { env::remove_listen_vars() };
    if TAKEN.load(Ordering::Acquire) {
        return Ok(ListenFds::default());
    }
    match vars.pid {
        None if missing_pid => {} // listenfd's and systemfd's rule, asked for
        None => return Ok(ListenFds::default()),
        Some(pid) => {
            let pid: u32 =
                env::parse("LISTEN_PID", &pid, "not a positive decimal pid", |&p| p > 0)?;
            if pid != std::process::id() {
                return Ok(ListenFds::default()); // meant for another process
            }
        }
    }
    let Some(count) = vars.fds else {
        return Ok(ListenFds::default());
    };
    let max = usize::try_from(i32::MAX - FIRST).unwrap_or(usize::MAX);
    let n: usize = env::parse(
        "LISTEN_FDS",
        &count,
        "not a decimal count of fds above fd 3",
        |&n| n <= max,
    )?;
    if n == 0 {
        return Ok(ListenFds::default());
    }
    let names = vars.names.map(|v| env::split_names(&v, n)).transpose()?;
    let numbers = FIRST..FIRST + i32::try_from(n).unwrap_or(i32::MAX - FIRST);
    check_free(&numbers)?;
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Ok(ListenFds::default()); // another thread took them meanwhile
    }
    let fds = numbers
        .map(|raw| {
            // SAFETY: `raw` is open and nobody else owns it: by the convention, fds 3..3+n
            // were passed for this process to take when LISTEN_PID (this pid, or missing
            // and the caller accepts that, as listenfd does) and LISTEN_FDS (n) are set, and we consumed that claim (removed the variables;
            // TAKEN makes it once per process); none is registered (checked).
            let owned = unsafe { sys::claim_inherited(raw) };
            Fd::register(owned, FdOwner::Fd, site)
        })
        .collect();
    Ok(ListenFds { fds, names })
}

/// Checks that every number in `numbers` is open and that the registry holds none, not
/// even one whose close a lease defers (the registry would close it under its new owner).
fn check_free(numbers: &Range<i32>) -> Result<()> {
    if let Some((fd, ty)) = table::held_in(numbers) {
        let type_name = ty.type_name();
        return Err(Error::ListenFdsRegistered { fd, type_name });
    }
    for fd in numbers.clone() {
        sys::check_open_number(fd).map_err(|source| Error::ListenFdsClosed { fd, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_named_keeps_names_and_fds_aligned() {
        let open = |_| Fd::adopt(std::fs::File::open("/dev/null").unwrap().into());
        let fds: Vec<Fd> = (0..3).map(open).collect();
        let numbers: Vec<i32> = fds.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect();
        let names = Some(vec!["a".to_owned(), "b".to_owned(), "a".to_owned()]);
        let mut l = ListenFds { fds, names };
        let n = |fd: Fd| std::os::fd::AsRawFd::as_raw_fd(&fd);
        assert_eq!(l.take_named("b").map(n), Some(numbers[1]));
        assert_eq!(l.take_named("a").map(n), Some(numbers[0]));
        assert_eq!(l.names().unwrap(), ["a"]);
        assert_eq!(l.take_named("b").map(n), None);
        assert_eq!(l.into_iter().map(n).collect::<Vec<_>>(), [numbers[2]]);
    }
}
