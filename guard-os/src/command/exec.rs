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
/// Every fd guard-os creates is close-on-exec; a plan ([`Inherit`]) names the fds a child
/// gets and the numbers it gets them at. Without [`Inherit::trust_cloexec`], the child
/// also closes fds other code opened without `FD_CLOEXEC`, so std forks instead of using
/// `posix_spawn`. Target numbers that are free are held by placeholders until the
/// `Command` is dropped, so `spawn`'s own fds cannot land on them.
///
/// Since std then `fork`s, each spawn copies this process's page tables: its cost grows
/// with the heap (tens of milliseconds per GiB). [`Spawn`](crate::Spawn) applies the same
/// plan without `fork` and returns a guard [`Child`](crate::Child); use this trait when a
/// `std::process::Child` or a setting only std has (`uid`, `process_group`, a hook of
/// your own) is needed. The table in [`Spawn`](crate::Spawn#which-path-spawn-or-commandextinherit)
/// compares the two.
///
/// # Examples
///
/// ```
/// use guard_os::{CommandExt, Inherit};
/// let listener = guard_os::TcpListener::bind("127.0.0.1:0")?;
/// let status = std::process::Command::new("/bin/sh")
///     .args(["-c", "true >&3 && ! true 2>/dev/null >&4"]) // `>&n` fails unless n is open
///     .inherit(Inherit::new().keep_at(&listener, 3))? // the listener as fd 3, nothing else
///     .status()?;
/// assert!(status.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait CommandExt {
    /// Makes the child inherit exactly stdin, stdout, stderr and what `plan` keeps (R5),
    /// holding its own duplicates of the kept fds until this `Command` is dropped (as std's
    /// `Stdio::from` owns its fd): closing or dropping a kept fd after this call closes it
    /// at once, and the child still gets it. (A pipe's reader sees EOF only when every
    /// writer is closed, this `Command`'s duplicate too, as with std.) Call it once per
    /// `Command` (a second plan replaces the first, since its hook runs last).
    ///
    /// With [`Inherit::listen_fds`], it sets `LISTEN_FDS` on the `Command` and removes
    /// `LISTEN_PID`, `LISTEN_PIDFDID` and `LISTEN_FDNAMES` from it (stale values of this
    /// process's own must not reach the child); `LISTEN_PID` is left to the caller, see
    /// below.
    ///
    /// # Re-executing in place: `Command::exec()`
    ///
    /// std's `exec` runs the hook in the calling process. If the exec fails, this process
    /// lives on with its fd table changed (fds from 3 up close-on-exec, copies left open,
    /// targets overwritten): report the error and exit, or `spawn` a child instead.
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
    /// Later, from the `Command`'s `spawn`: `EBUSY` if a target that was another owner's
    /// fd when this ran (so it could not be reserved) was closed before the spawn and is
    /// now, in the child, this spawn's own exec-error channel (on Linux std's `AF_UNIX`
    /// `SOCK_SEQPACKET` socket whose peer is open nowhere in the child, as the kernel's
    /// `sock_diag` tells; elsewhere a pipe's write end with no fd below it on the same
    /// pipe), which the child must not overwrite. It changes no fd before it refuses, and
    /// the `Command` can be spawned again (the race needs another thread to close the
    /// target between this call and the spawn; guard's own [`Spawn`](crate::Spawn), whose
    /// exec errors come back in memory, has no such channel and never refuses). Any other
    /// new occupant, another thread's spawn channel included, is overwritten, as a
    /// target's is.
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
        child.watch_unreserved(&reserved);
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
        // parent, never grown), allocates nothing and takes no lock (R4). The fds it names (the
        // plan's duplicates)
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
#[derive(Debug)]
pub(super) struct ChildPlan {
    /// (source, target) per kept fd.
    moves: Vec<(RawFd, RawFd)>,
    /// Scratch space for the copies, one slot per move, allocated in the parent.
    tmp: Vec<RawFd>,
    /// Mark every fd from 3 up close-on-exec, and how.
    cloexec: Option<Cloexec>,
    /// The free targets (no source's number) from 3 up that could not be reserved (another
    /// owner's fd sat there), each with what it referred to then: see
    /// [`ChildPlan::watch_unreserved`].
    unreserved: Vec<(RawFd, Option<(u64, u64)>)>,
}

impl ChildPlan {
    pub(super) fn new(plan: &Inherit) -> ChildPlan {
        let moves: Vec<(RawFd, RawFd)> = plan.keep.iter().map(|k| (k.source, k.target)).collect();
        let how = plan.how.unwrap_or(Cloexec::CloseRange);
        ChildPlan {
            tmp: vec![-1; moves.len()],
            moves,
            cloexec: (!plan.trust_cloexec).then_some(how),
            unreserved: Vec::new(),
        }
    }

    /// Remembers what sits now at each free target that `reserved` does not hold (another
    /// owner's fd, so no placeholder could take the number), for the child to check. If
    /// that owner closes it before `spawn`, std's close-on-exec error pipe, made just
    /// before the `fork`, can land on the number: the child's `dup2` would then replace
    /// the pipe, std would write a failed exec's errno into the kept fd, and the parent
    /// would read EOF and report success. The child refuses instead (`EBUSY`, see
    /// [`ChildPlan::run`]). Targets 0-2 are std's stdio, set up in the child before the
    /// hook; the error pipe is never among them.
    fn watch_unreserved(&mut self, reserved: &[super::reserve::Reservation]) {
        self.unreserved = self
            .free_targets()
            .into_iter()
            .filter(|&t| t > 2 && !reserved.iter().any(|r| r.number() == t))
            .map(|t| (t, sys::child::identity(t)))
            .collect();
    }

    /// This plan with `extra` moves (a spawn's stdio) after its own.
    ///
    /// # Errors
    ///
    /// [`Error::InheritCollision`](crate::Error::InheritCollision) if an extra target is
    /// one of the plan's.
    pub(super) fn with_moves(
        &self,
        extra: impl Iterator<Item = (RawFd, RawFd)>,
    ) -> Result<ChildPlan> {
        let mut moves = self.moves.clone();
        for (source, target) in extra {
            if let Some(&(first, _)) = moves.iter().find(|&&(_, t)| t == target) {
                return Err(crate::Error::InheritCollision {
                    target,
                    first,
                    second: source,
                });
            }
            moves.push((source, target));
        }
        Ok(ChildPlan {
            tmp: vec![-1; moves.len()],
            moves,
            cloexec: self.cloexec,
            unreserved: self.unreserved.clone(),
        })
    }

    /// (source, target) per kept fd, for `posix_spawn`'s file actions.
    #[cfg(not(target_os = "linux"))]
    pub(super) fn moves(&self) -> &[(RawFd, RawFd)] {
        &self.moves
    }

    /// Whether the child closes every other fd (the plan does not trust `FD_CLOEXEC`).
    #[cfg(not(target_os = "linux"))]
    pub(super) fn closes_others(&self) -> bool {
        self.cloexec.is_some()
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
    ///
    /// `EBUSY` (before any fd changes) if a target that could not be reserved now refers
    /// to something else than when the plan was installed and is this spawn's own error
    /// channel (see [`ChildPlan::watch_unreserved`] and `sys::child::like_std_error_pipe`:
    /// on Linux an `AF_UNIX` `SOCK_SEQPACKET` socket whose peer is not open in the child,
    /// elsewhere a pipe's write end with no fd below it on the same pipe). Any other new
    /// occupant is overwritten, as before: another thread's fd (or spawn channel) that
    /// took the number meanwhile is no reason to fail.
    pub(super) fn run(&mut self) -> io::Result<()> {
        let ChildPlan {
            moves,
            tmp,
            cloexec,
            unreserved,
        } = self;
        for &(target, then) in unreserved.iter() {
            let now = sys::child::identity(target);
            if now.is_some() && now != then && sys::child::like_std_error_pipe(target) {
                return Err(io::Error::from_raw_os_error(sys::EBUSY));
            }
        }
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
            // SAFETY: in the child before exec; `from` is open (the plan's duplicate, or our copy),
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
