//! The plan: which fds a child keeps, at which numbers ([`Inherit`]), validated and
//! duplicated in the parent.

use super::registered::{ListenFd, Registered};
use super::switches::CloexecStrategy;
use crate::error::{Error, Result};
use crate::fd::table;
use crate::fd::{FdOwner, LiveFd, retry_on_pressure};
use crate::sys::{self, child::Cloexec};
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::process::Command;

/// What keeps one passed fd open until the `Command` is dropped: the plan's own duplicate,
/// never a hold on the caller's fd (as std's `Stdio::from` owns its fd), so that the
/// caller's `close` is a real close.
pub(super) type Hold = OwnedFd;

/// One fd to pass.
#[derive(Debug)]
pub(super) struct Keep {
    /// `None` if the caller's fd was closed (reported by `validate`).
    pub(super) hold: Option<Hold>,
    /// The caller's fd number, for errors (the source is guard's duplicate).
    number: RawFd,
    /// The fd the child copies from.
    pub(super) source: RawFd,
    pub(super) target: RawFd,
    stdio: bool,
}

/// Which fds a child inherits, at which numbers: a plan for [`CommandExt::inherit`](crate::CommandExt::inherit).
///
/// Each `keep*` call adds one fd; mistakes (a closed fd, two fds at one number, a stdio
/// number not asked for with [`keep_as_stdio`](Self::keep_as_stdio)) are reported by
/// [`CommandExt::inherit`](crate::CommandExt::inherit), before anything is spawned.
///
/// # Examples
///
/// ```
/// use guard_os::{CommandExt, Inherit};
/// let listener = guard_os::TcpListener::bind("127.0.0.1:0")?;
/// let status = std::process::Command::new("/bin/sh")
///     .args(["-c", "true >&3 && ! true 2>/dev/null >&4"]) // `>&n` fails unless n is open
///     .inherit(Inherit::new().keep_at(&listener, 3))?
///     .status()?;
/// assert!(status.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Inherit {
    pub(super) keep: Vec<Keep>,
    error: Option<Error>,
    pub(super) trust_cloexec: bool,
    pub(super) listen_fds: Option<usize>,
    pub(super) how: Option<Cloexec>,
}

impl Inherit {
    /// An empty plan: the child gets only stdin, stdout and stderr.
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_os::CommandExt;
    /// let status = std::process::Command::new("/bin/true").inherit(guard_os::Inherit::new())?.status()?;
    /// assert!(status.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Inherit {
        Inherit::default()
    }

    /// Passes `fd` at its own number. The plan holds a duplicate of `fd`, so closing `fd`
    /// afterwards is a real close and the child still gets it; but keep `fd` open until the
    /// child is spawned, since its number, free again, could be taken by an fd `spawn`
    /// creates (see [`keep_foreign_at`](Self::keep_foreign_at)).
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_os::CommandExt;
    /// let f = guard_os::ReadFile::open("/dev/null")?;
    /// let cmd = format!("true >&{}", std::os::fd::AsRawFd::as_raw_fd(&f)); // fails unless open
    /// let ok = std::process::Command::new("/bin/sh").args(["-c", &cmd])
    ///     .inherit(guard_os::Inherit::new().keep(&f))?.status()?;
    /// assert!(ok.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn keep(self, fd: &impl Registered) -> Inherit {
        let n = fd.as_fd().as_raw_fd();
        self.keep_at(fd, n)
    }

    /// Passes `fd` as number `target` in the child (3 or above).
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_os::CommandExt;
    /// let f = guard_os::ReadFile::open("/dev/null")?;
    /// let ok = std::process::Command::new("/bin/sh").args(["-c", "true >&7"]) // fails unless open
    ///     .inherit(guard_os::Inherit::new().keep_at(&f, 7))?.status()?;
    /// assert!(ok.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn keep_at(mut self, fd: &impl Registered, target: i32) -> Inherit {
        let number = fd.as_fd().as_raw_fd();
        let copy = copy_registered(fd.registry_key());
        self.push(copy, number, target, false);
        self
    }

    /// Passes `fd` as the child's stdin (0), stdout (1) or stderr (2), replacing what std's
    /// `Stdio` settings put there. Any other `target` is refused
    /// ([`Error::InheritStdio`](crate::Error::InheritStdio)).
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_os::CommandExt;
    /// use std::io::Read;
    /// let (reader, writer) = guard_os::pipe()?;
    /// let mut child = std::process::Command::new("/bin/echo").arg("via the pipe")
    ///     .inherit(guard_os::Inherit::new().keep_as_stdio(&writer, 1))?.spawn()?;
    /// writer.close()?;
    /// let mut out = String::new();
    /// (&reader).read_to_string(&mut out)?;
    /// child.wait()?;
    /// assert_eq!(out, "via the pipe\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn keep_as_stdio(mut self, fd: &impl Registered, target: i32) -> Inherit {
        let source = fd.as_fd().as_raw_fd();
        if !(0..=2).contains(&target) {
            self.fail(Error::InheritStdio { fd: source, target });
            return self;
        }
        let copy = copy_registered(fd.registry_key());
        self.push(copy, source, target, true);
        self
    }

    /// Passes every registered fd for which `select` returns true, each at its own number
    /// (e.g. every listener: `|fd| fd.type_name().ends_with("Listener")`).
    ///
    /// Two kinds of registered fd are never offered to `select`:
    ///
    /// - [`IpcMutex`](crate::IpcMutex) fds: as for [`Registered`], a child holding the
    ///   mutex's open file description would share the parent's `flock`, and could unlock
    ///   it under the parent's feet;
    /// - a [`Child`](crate::Child)'s exit fd (its pidfd on Linux): another child cannot
    ///   wait for it (it is not that process's child), could signal it, and would keep the
    ///   pidfd open as long as it runs; on macOS and FreeBSD it is a `kqueue`, which a
    ///   child never inherits. A predicate written for "every fd of a kind" (`|_| true`,
    ///   every `Fd`) would otherwise pass each child's pidfd to every later child.
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_os::CommandExt;
    /// let l = guard_os::TcpListener::bind("127.0.0.1:0")?;
    /// let n = std::os::fd::AsRawFd::as_raw_fd(&l);
    /// let plan = guard_os::Inherit::new().keep_where(|fd| fd.number() == n);
    /// let ok = std::process::Command::new("/bin/sh").args(["-c", &format!("true >&{n}")])
    ///     .inherit(plan)?.status()?;
    /// assert!(ok.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn keep_where(mut self, mut select: impl FnMut(&LiveFd<'_>) -> bool) -> Inherit {
        let mut picked = Vec::new();
        crate::fds().for_each(|fd| {
            if matches!(fd.ty(), FdOwner::IpcMutex | FdOwner::Child) {
                return;
            }
            if select(fd) {
                // Copied inside the pass, where the visit's lease keeps it open.
                picked.push((copy(fd.as_fd()), fd.number()));
            }
        });
        for (copy, n) in picked {
            self.push(copy, n, n, false);
        }
        self
    }

    /// Passes an fd the registry does not know, as number `target`. It is duplicated now
    /// (the duplicate lives as long as the `Command`), so closing `fd` afterwards is safe;
    /// but if `fd`'s own number is a target of the plan (`target`, say), keep `fd` open
    /// until the child is spawned (a target number open as another fd cannot be reserved:
    /// see [`CommandExt`](crate::CommandExt)). The duplicate is numbered 3 or above, out
    /// of the way of the stdio std sets up in the child. Errors name `fd`'s number, not
    /// the duplicate's.
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_os::CommandExt;
    /// let f = std::fs::File::open("/dev/null")?; // std's fd, not registered
    /// let ok = std::process::Command::new("/bin/sh").args(["-c", "true >&9"]) // fails unless open
    ///     .inherit(guard_os::Inherit::new().keep_foreign_at(&f, 9))?.status()?;
    /// assert!(ok.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn keep_foreign_at(mut self, fd: impl AsFd, target: i32) -> Inherit {
        let fd = fd.as_fd();
        self.push(copy(fd), fd.as_raw_fd(), target, false);
        self
    }

    /// The systemd socket-passing convention: passes `fds` as 3, 4, ... and sets
    /// `LISTEN_FDS`. `LISTEN_PID` must be the child's pid, which only the child knows and
    /// cannot set without allocating between `fork` and `exec`: start the program with
    /// [`listen_fds_command`], which sets it in a shell just before `exec` (or, to
    /// re-execute in place, set it yourself: see
    /// [`CommandExt::inherit`](crate::CommandExt::inherit)). The child takes them with
    /// [`listen_fds()`](crate::listen_fds).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = guard_os::TcpListener::bind("127.0.0.1:0")?;
    /// let plan = guard_os::Inherit::new().listen_fds(&[&l]); // l becomes fd 3, LISTEN_FDS=1
    /// # drop(plan);
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[must_use]
    pub fn listen_fds(mut self, fds: &[&dyn ListenFd]) -> Inherit {
        for (i, fd) in fds.iter().enumerate() {
            let target = 3 + i32::try_from(i).unwrap_or(i32::MAX - 3);
            let number = fd.as_fd().as_raw_fd();
            self.push(copy_registered(fd.key()), number, target, false);
        }
        self.listen_fds = Some(fds.len());
        self
    }

    /// Relies on `FD_CLOEXEC` alone to close what is not kept (see the
    /// [`CommandExt`](crate::CommandExt) docs): with nothing to keep, no `pre_exec` hook at all.
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_os::CommandExt;
    /// let ok = std::process::Command::new("/bin/true")
    ///     .inherit(guard_os::Inherit::new().trust_cloexec())?.status()?; // posix_spawn
    /// assert!(ok.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn trust_cloexec(mut self) -> Inherit {
        self.trust_cloexec = true;
        self
    }

    /// Forces how the child marks the fds it does not keep close-on-exec, to test the
    /// fallbacks.
    #[doc(hidden)]
    #[must_use]
    pub fn __cloexec_strategy(mut self, how: CloexecStrategy) -> Inherit {
        self.how = Some(match how {
            CloexecStrategy::CloseRange => Cloexec::CloseRange,
            CloexecStrategy::ProcFd => Cloexec::ProcFd,
            CloexecStrategy::Sweep => Cloexec::Sweep,
        });
        self
    }

    /// Adds one fd: `copy` is the plan's duplicate of the caller's fd `number` (`None` if
    /// that fd was closed, for `validate` to report).
    fn push(
        &mut self,
        copy: std::io::Result<Option<Hold>>,
        number: RawFd,
        target: RawFd,
        stdio: bool,
    ) {
        let hold = match copy {
            Ok(hold) => hold,
            Err(source) => return self.fail(Error::Dup { fd: number, source }),
        };
        self.keep.push(Keep {
            source: hold.as_ref().map_or(-1, AsRawFd::as_raw_fd),
            hold,
            number,
            target,
            stdio,
        });
    }

    fn fail(&mut self, e: Error) {
        self.error.get_or_insert(e);
    }

    /// Checks the plan: every fd open, every target free, above stdio unless asked, and
    /// below the soft `RLIMIT_NOFILE`. Errors name the caller's fd numbers.
    pub(super) fn validate(&mut self) -> Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let limit = sys::child::nofile_limit();
        for (i, k) in self.keep.iter().enumerate() {
            if k.hold.is_none() {
                return Err(Error::InheritClosed { fd: k.number });
            }
            if k.target < 0 || (k.target < 3 && !k.stdio) {
                return Err(Error::InheritStdio {
                    fd: k.number,
                    target: k.target,
                });
            }
            if k.target >= limit {
                return Err(Error::InheritTargetTooHigh {
                    fd: k.number,
                    target: k.target,
                    limit,
                });
            }
            if let Some(first) = self.keep[..i].iter().find(|o| o.target == k.target) {
                return Err(Error::InheritCollision {
                    target: k.target,
                    first: first.number,
                    second: k.number,
                });
            }
        }
        Ok(())
    }
}

/// The plan's own duplicate of `fd`: close-on-exec, numbered 3 or above
/// (`fcntl(F_DUPFD_CLOEXEC, 3)`), out of the way of the stdio std `dup2`s onto 0-2 in the
/// child before the `pre_exec` hook runs. `None` if `fd` was closed behind the registry's
/// back (`EBADF`).
fn copy(fd: BorrowedFd<'_>) -> std::io::Result<Option<Hold>> {
    match retry_on_pressure(|| sys::dup_cloexec_from(fd, 3)) {
        Ok(dup) => Ok(Some(dup)),
        Err(e) if e.raw_os_error() == Some(sys::EBADF) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The plan's own duplicate of the registered fd `key` (see [`copy`]), made under a lease
/// that ends at once: `None` if it is closed.
fn copy_registered(key: guard_core::registry::Key) -> std::io::Result<Option<Hold>> {
    match table::lease(key) {
        Some(lease) => copy(lease.leased().as_fd()),
        None => Ok(None),
    }
}

/// A `Command` that runs `program` with `LISTEN_PID` set to its own pid (through
/// `/bin/sh -c 'LISTEN_PID=$$ exec "$0" "$@"'`), for [`Inherit::listen_fds`] with std's
/// `Command` ([`CommandExt::inherit`](crate::CommandExt::inherit)).
///
/// [`Spawn`](crate::Spawn) needs no shell: its child writes its own pid into a buffer
/// the parent prepared, just before `execve`. std's path cannot: its `fork`ed child
/// execs the environment array std built from the `Command` before the `pre_exec` hook
/// runs, and std gives no way to reach that array, so the hook could only set a variable
/// by allocating a new environment (not async-signal-safe after `fork` in a threaded
/// process). The shell remains for that path.
///
/// # Examples
///
/// ```
/// use guard_os::{CommandExt, Inherit};
/// let l = guard_os::TcpListener::bind("127.0.0.1:0")?;
/// let out = guard_os::listen_fds_command("/bin/sh")
///     .args(["-c", "echo $LISTEN_FDS $LISTEN_PID $$"])
///     .inherit(Inherit::new().listen_fds(&[&l]))?
///     .output()?;
/// let text = String::from_utf8(out.stdout)?;
/// let words: Vec<&str> = text.split_whitespace().collect();
/// assert_eq!(words[0], "1");
/// assert_eq!(words[1], words[2]); // LISTEN_PID is the pid of the program itself
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn listen_fds_command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$; export LISTEN_PID; exec \"$0\" \"$@\"")
        .arg(program);
    cmd
}
