//! [`CommandExt`]: installs the plan on a `Command`, and the child's side of it (R4).

use super::plan::{Hold, Inherit};
use super::reserve::{Reservation, reserve};
use crate::error::Result;
use crate::sys::{self, child::Cloexec};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt as _;
use std::process::Command;
use std::sync::Arc;

/// Exec hygiene for `std::process::Command`: which fds a child inherits, at which numbers;
/// everything else closed (invariants R4, R5).
///
/// # What runs where
///
/// - In the parent, [`CommandExt::inherit`] validates the plan (typed errors before
///   anything is spawned), leases every registered fd to pass (so none can be closed or its
///   number reused until the `Command` is dropped), reserves every target number that is
///   free (see below), and computes the child's steps.
/// - In the child, between `fork` and `exec` (R4), a `pre_exec` hook makes only raw,
///   async-signal-safe syscalls, with no allocation and no lock: copy each fd that moves
///   to the lowest free number from 3 up that is no target of the plan
///   (`F_DUPFD_CLOEXEC`; a copy that lands on a target is left there, close-on-exec, for
///   that target's `dup2` to overwrite, and the copy is made again above it), mark every
///   fd from 3 up close-on-exec (`close_range(3, ~0, CLOSE_RANGE_CLOEXEC)`; where the
///   kernel lacks it, `getdents64` over `/proc/self/fd`; without `/proc`, a sweep up to
///   `RLIMIT_NOFILE`), then `dup2` each copy to its target, or clear `FD_CLOEXEC` on an fd
///   that stays where it is. Copying the sources off every target first makes swaps and
///   chains of targets safe; copying them low, not above every number in play, keeps a
///   plan valid whose sources or targets sit just below `RLIMIT_NOFILE`.
/// - In the child, before the hook, std `dup2`s its own stdin, stdout and stderr onto 0-2.
///   A kept fd numbered 0-2 in the parent (a daemon closed stdin, and a registered fd got
///   number 0) would be overwritten before the hook reads it: so [`Inherit`] copies such
///   an fd to 3 or above (close-on-exec) as soon as it is added, and passes the copy.
///
/// # Target numbers are reserved
///
/// `spawn` opens fds of its own after the plan was made, among them std's close-on-exec
/// pipe, on which a child whose `exec` fails sends the error back. Had that pipe taken a
/// target number, the child's `dup2` would overwrite it: a failed exec would then return
/// `Ok` from `spawn`, and std's error bytes would land in the passed fd.
/// So every target that is free when [`CommandExt::inherit`] runs (not a kept fd, not open)
/// is taken at once by a close-on-exec placeholder (`/dev/null`, placed with
/// `fcntl(F_DUPFD_CLOEXEC)`, which never closes anything), held like the leases until the
/// `Command` is dropped; the child's `dup2` overwrites it as intended. `Command`s that
/// share a target share its placeholder. A target that is open at that moment as some
/// other fd (one not in the plan) stays that fd's: keep it open until the child is spawned,
/// or its number, once free, could go to std's pipe again.
///
/// # Nothing to keep: R5 or the fast path
///
/// R5 promises a child exactly {0, 1, 2} and what it was given, including when other code
/// opened fds without `FD_CLOEXEC` (a C library, `libc::open`). Only the child can close
/// those (closing them in the parent would break the I/O safety of their owners), so even
/// an empty plan installs the `pre_exec` hook by default. The price: std can no longer use
/// `posix_spawn` and forks instead. [`Inherit::trust_cloexec`] opts out: the kernel then
/// closes only the fds marked close-on-exec (every fd guard, std and socket2 create is),
/// and with nothing to keep no hook is installed at all, so std's `posix_spawn` fast path
/// stays. [`untracked()`](crate::untracked) shows which fds that could let through.
///
/// # Examples
///
/// ```
/// use guard_os::{CommandExt, Inherit};
/// let listener = guard_os::TcpListener::bind("127.0.0.1:0")?;
/// let status = std::process::Command::new("/bin/sh")
///     .args(["-c", "test -e /proc/self/fd/3 && ! test -e /proc/self/fd/4"])
///     .inherit(Inherit::new().keep_at(&listener, 3))? // the listener as fd 3, nothing else
///     .status()?;
/// assert!(status.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait CommandExt {
    /// Makes the child inherit exactly stdin, stdout, stderr and what `plan` keeps (R5),
    /// holding the kept fds' leases until this `Command` is dropped. Call it once per
    /// `Command` (a second plan replaces the first, since its hook runs last).
    ///
    /// With [`Inherit::listen_fds`], it sets `LISTEN_FDS` on the `Command` and removes
    /// `LISTEN_PID`, `LISTEN_PIDFDID` and `LISTEN_FDNAMES` from it (stale values of this
    /// process's own must not reach the child); `LISTEN_PID` is left to the caller, see
    /// below.
    ///
    /// # Re-executing in place: `Command::exec()`
    ///
    /// std's [`exec`](std::os::unix::process::CommandExt::exec) runs the `pre_exec` hook in
    /// **the calling process**, with no `fork`. If the exec succeeds, the new image has
    /// exactly the plan, as a child would. If it fails, `exec` returns and this process
    /// lives on with what the hook did to its fd table: every fd from 3 up is marked
    /// close-on-exec (including fds other code opened without it), a copy of each fd that
    /// moved is left open at the lowest number from 3 up that was free and no target
    /// (close-on-exec, but never closed by anyone), each
    /// target number was overwritten with `dup2` (whatever was open there, whoever owned
    /// it, now refers to the passed file; a target that was free held this `Command`'s
    /// placeholder, and is closed with it), and the kept fds have `FD_CLOEXEC` cleared.
    /// (std says as much: after a failed `exec` the process may be in a broken state.) So
    /// after a failed in-place exec, do not go on using fds: report the error and exit
    /// (`std::process::exit`, which runs no destructors), or, to survive a failed
    /// upgrade, `spawn` a child instead. Before the exec, a plan whose kept fds already
    /// sit at their targets (`keep`, or `listen_fds` with the listener at fd 3, as after
    /// a previous re-exec) moves nothing and overwrites nothing.
    ///
    /// `LISTEN_PID` must be the pid of the process that takes the fds. A spawned child's
    /// pid is known only after `fork`, and std offers no way to set a variable there
    /// without allocating, so [`listen_fds_command`](crate::listen_fds_command) sets it in
    /// `/bin/sh` just before its `exec`. An in-place exec keeps the pid: set it yourself,
    /// **after** `inherit` (which removes it). The new image's
    /// [`listen_fds()`](crate::listen_fds) removes `LISTEN_PID`, `LISTEN_FDS` and
    /// `LISTEN_FDNAMES` from its environment, so each re-exec sets them again:
    ///
    /// ```no_run
    /// use guard_os::{CommandExt, Inherit};
    /// use std::os::unix::process::CommandExt as _;
    /// let listener = match guard_os::listen_fds()?.into_iter().next() {
    ///     Some(fd) => guard_os::TcpListener::try_from(fd)?, // passed by the previous image
    ///     None => guard_os::TcpListener::bind("127.0.0.1:0")?,
    /// };
    /// // ... serve, until an upgrade is asked for ...
    /// let mut cmd = std::process::Command::new(std::env::current_exe()?);
    /// cmd.inherit(Inherit::new().listen_fds(&[&listener]))? // fd 3, LISTEN_FDS=1
    ///     .env("LISTEN_PID", std::process::id().to_string()); // after inherit: exec keeps the pid
    /// let error = cmd.exec(); // returns only on failure, with this process's fds changed:
    /// eprintln!("re-exec failed: {error}");
    /// std::process::exit(1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// (`no_run`: it would replace the doctest. `tests/listen_fds.rs` and the `reexec`
    /// example run it.)
    ///
    /// # Errors
    ///
    /// Before anything is spawned: [`InheritClosed`](crate::Error::InheritClosed) (an fd
    /// closed behind the registry's back), [`InheritCollision`](crate::Error::InheritCollision)
    /// (two fds at one number), [`InheritStdio`](crate::Error::InheritStdio) (a number below
    /// 3 not asked for with [`Inherit::keep_as_stdio`], or one of 3 or above asked for
    /// with it), [`InheritTargetTooHigh`](crate::Error::InheritTargetTooHigh) (a target not
    /// below the soft `RLIMIT_NOFILE`, which no fd can have), [`Dup`](crate::Error::Dup)
    /// (from [`Inherit::keep_foreign_at`], or copying a kept fd numbered 0-2 out of std's
    /// way), [`InheritReserve`](crate::Error::InheritReserve) (a free target number could
    /// not be reserved). On error the `Command` is left unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_os::{CommandExt, Inherit};
    /// let a = guard_os::ReadFile::open("/dev/null")?;
    /// let b = guard_os::ReadFile::open("/dev/null")?;
    /// let mut cmd = std::process::Command::new("/bin/true");
    /// let err = cmd.inherit(Inherit::new().keep_at(&a, 9).keep_at(&b, 9)).unwrap_err();
    /// assert!(matches!(err, guard_os::Error::InheritCollision { target: 9, .. }));
    /// assert!(cmd.inherit(Inherit::new().keep_at(&a, 9))?.status()?.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn inherit(&mut self, plan: Inherit) -> Result<&mut Self>;
}

impl CommandExt for Command {
    fn inherit(&mut self, mut plan: Inherit) -> Result<&mut Self> {
        plan.validate()?;
        let mut child = ChildPlan::new(&plan);
        // Before the `Command` changes: an error leaves it as it was.
        let reserved = reserve(&child.free_targets())?;
        if let Some(n) = plan.listen_fds {
            self.env("LISTEN_FDS", n.to_string())
                .env_remove("LISTEN_PID")
                .env_remove("LISTEN_FDNAMES")
                .env_remove("LISTEN_PIDFDID");
        }
        if plan.keep.is_empty() && plan.trust_cloexec {
            return Ok(self); // no hook: std keeps its posix_spawn fast path
        }
        let holds: Vec<Hold> = plan.keep.into_iter().filter_map(|k| k.hold).collect();
        let holds: Arc<(Vec<Hold>, Vec<Reservation>)> = Arc::new((holds, reserved));
        // SAFETY: the hook runs in the child between fork and exec. `ChildPlan::run` makes
        // only raw async-signal-safe syscalls, writes only into `tmp` (allocated here, in the
        // parent, never grown), allocates nothing and takes no lock (R4). The fds it names
        // stay open in the parent until the `Command` (owning `holds`) is dropped, and the
        // free targets it overwrites hold this `Command`'s placeholders until then (so no fd
        // `spawn` creates, std's error pipe above all, can be at one of them). Nothing in
        // `holds` is dropped in the child: it execs, or std exits it without unwinding.
        unsafe {
            self.pre_exec(move || {
                let _held = &holds;
                child.run()
            });
        }
        Ok(self)
    }
}

/// The child's steps, computed in the parent.
struct ChildPlan {
    /// (source, target) per kept fd.
    moves: Vec<(RawFd, RawFd)>,
    /// Scratch space for the copies, one slot per move, allocated in the parent.
    tmp: Vec<RawFd>,
    /// Mark every fd from 3 up close-on-exec, and how.
    cloexec: Option<Cloexec>,
}

impl ChildPlan {
    fn new(plan: &Inherit) -> ChildPlan {
        let moves: Vec<(RawFd, RawFd)> = plan.keep.iter().map(|k| (k.source, k.target)).collect();
        let how = plan.how.unwrap_or(Cloexec::CloseRange);
        ChildPlan {
            tmp: vec![-1; moves.len()],
            moves,
            cloexec: (!plan.trust_cloexec).then_some(how),
        }
    }

    /// The targets that are no kept fd's source: the numbers to reserve in the parent.
    /// (A source is held open until the `Command` is dropped, so its number is taken.)
    fn free_targets(&self) -> Vec<RawFd> {
        let is_source = |n: RawFd| self.moves.iter().any(|&(s, _)| s == n);
        self.moves
            .iter()
            .map(|&(_, t)| t)
            .filter(|&t| !is_source(t))
            .collect()
    }

    /// Runs in the child: async-signal-safe only (no allocation, no lock, no panic path).
    fn run(&mut self) -> io::Result<()> {
        let ChildPlan {
            moves,
            tmp,
            cloexec,
        } = self;
        for (copy, &(source, target)) in tmp.iter_mut().zip(moves.iter()) {
            if source != target {
                *copy = copy_off_targets(source, moves)?;
            }
        }
        if let Some(how) = *cloexec {
            // SAFETY: in the child before exec: no other owner of these fds runs here.
            unsafe { sys::child::cloexec_from(3, how) }?;
        }
        for (&copy, &(source, target)) in tmp.iter().zip(moves.iter()) {
            let from = if source == target { source } else { copy };
            // SAFETY: in the child before exec; `from` is open (leased source or our copy),
            // and `target` is ours to overwrite (validated unique in the parent).
            unsafe { sys::child::place(from, target) }?;
        }
        Ok(())
    }
}

/// In the child: a close-on-exec copy of `source` at the lowest free number from 3 up that
/// is no target of `moves`, so that no `dup2` of the plan overwrites it. A copy that lands
/// on a target (one that is free in the child: its reservation failed) is left there: it
/// is close-on-exec, and that target's `dup2` overwrites it. Each retry starts above the
/// last copy, so there are at most as many as targets. Async-signal-safe: one `fcntl` per
/// try, no allocation; a number past `RLIMIT_NOFILE` ends it with the kernel's error.
fn copy_off_targets(source: RawFd, moves: &[(RawFd, RawFd)]) -> io::Result<RawFd> {
    let mut min = 3;
    loop {
        // SAFETY: in the child before exec; `source` is open (held in the parent).
        let copy = unsafe { sys::child::dup_above(source, min) }?;
        if !moves.iter().any(|&(_, target)| target == copy) {
            return Ok(copy);
        }
        min = copy.saturating_add(1);
    }
}
