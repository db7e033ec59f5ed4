//! [`Spawn`]: guard's own spawn of a `std::process::Command`, without `fork`.

use super::child::Child;
use super::exec::ChildPlan;
use super::image::CStrings;
use super::plan::Inherit;
use super::stdio::{self, Stdio};
use super::switches::PidfdStrategy;
use crate::error::{Error, Result};
#[cfg(target_os = "linux")]
use crate::sys::spawn::PidfdVia;
use crate::sys::spawn::spawn;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::panic::Location;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Starts a child the way `posix_spawn` does, with guard's exec hygiene (R4, R5): the child
/// gets exactly stdin, stdout, stderr and what an [`Inherit`] plan keeps, at the numbers it
/// names, even fds other code opened without `FD_CLOEXEC`.
///
/// Unlike [`CommandExt::inherit`](crate::CommandExt::inherit), which makes std `fork` (any
/// `pre_exec` hook does), no page table is copied, so the cost does not grow with the
/// heap. An `exec` failure comes back as [`Error::Spawn`], never through an fd. The result
/// is a guard [`Child`].
///
/// # Platforms
///
/// - **Linux**: the child shares this process's memory until it execs
///   (`clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)`), runs the plan's steps
///   (`close_range(CLOSE_RANGE_CLOEXEC)`, then `dup2`s), writes its own `LISTEN_PID`, and
///   reports a failed step through memory. Signals go through a pidfd.
/// - **macOS**: [`posix_spawn(2)`](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/posix_spawn.2.html)
///   with `POSIX_SPAWN_CLOEXEC_DEFAULT`: the kernel gives the child only the fds its file
///   actions name (`adddup2` to each target, `addinherit_np` for 0-2 and for an fd kept at
///   its own number), so even fds other code opened without `FD_CLOEXEC` never reach it;
///   the directory through `addchdir_np`.
/// - **FreeBSD** (13.1+): [`posix_spawn(3)`](https://man.freebsd.org/cgi/man.cgi?query=posix_spawn&sektion=3)
///   with `adddup2` to each target, then `addclose` below the highest target and
///   `addclosefrom_np` above it; the directory through `addchdir_np`.
///
/// On macOS and FreeBSD a source that is also another fd's target is first copied in this
/// process (as the Linux child copies it), `LISTEN_PID` is set by `/bin/sh` (as
/// [`listen_fds_command`](crate::listen_fds_command) does: the program runs as `$0` of
/// `sh -c`, with the pid `sh` had), and `posix_spawn` reports a failing `chdir` or
/// `dup2` as the failure of the exec (`op: "exec"`, with its errno). The [`Child`] is
/// waited for with `waitpid` and signalled with `kill`: see its docs.
///
/// # What is taken from the `Command`
///
/// [`from_command`](Self::from_command) reads what std's getters show: the program, the
/// arguments, the environment changes and the working directory. std hides the rest, so
/// it is **not** applied:
///
/// - stdio settings (`stdin`, `stdout`, `stderr`): set them with [`Spawn::stdin`],
///   [`stdout`](Self::stdout), [`stderr`](Self::stderr) ([`Stdio`]: inherit, null, or a
///   guard pipe taken from the [`Child`]), or put any fd there with
///   [`Inherit::keep_as_stdio`];
/// - `env_clear`: call [`Spawn::env_clear`] instead;
/// - `arg0`, `uid`, `gid`, `groups`, `process_group`, `pre_exec` hooks: not offered.
///
/// A program without `/` is looked up in the child's `PATH` (this process's unless the
/// `Command` sets it; `/bin:/usr/bin` if unset), in the parent, as `execvp` does. A
/// string with a NUL byte is [`Error::SpawnNul`], never passed on altered.
///
/// # Which path: `Spawn` or `CommandExt::inherit`
///
/// | need | `Spawn` (this) | [`CommandExt::inherit`](crate::CommandExt::inherit) |
/// |---|---|---|
/// | spawn cost in a large process | flat: no page table copied | grows with the heap (`fork`): tens of ms per GiB |
/// | result | guard [`Child`]: a resource (a scope returns its failure), signals that cannot hit a recycled pid | `std::process::Child` (for APIs that take one) |
/// | stdio | [`Stdio`]: inherit, null, guard pipes | everything std's `Stdio` offers |
/// | `uid`/`gid`, `process_group`, `arg0`, own `pre_exec` hooks | no | yes |
/// | `LISTEN_PID` for [`Inherit::listen_fds`] | set by the child itself (Linux), through `/bin/sh` (macOS, FreeBSD) | through `/bin/sh` ([`listen_fds_command`](crate::listen_fds_command)) |
/// | exec errors under fd churn | in memory (Linux), `posix_spawn`'s result (macOS, FreeBSD): always typed, never in a passed fd | std's error pipe (placeholders guard the free targets; a target another thread frees before `spawn`, if it becomes that error pipe, fails the spawn with `EBUSY`: spawn again) |
/// | system | Linux 5.4+ (pidfds: `pidfd_open`, `waitid(P_PIDFD)`), macOS, FreeBSD 13.1+ | any |
///
/// Prefer `Spawn`; take `inherit` when a `std::process::Child` or a std-only setting is
/// needed.
///
/// # Examples
///
/// ```
/// use guard_os::{Inherit, Spawn};
/// let listener = guard_os::TcpListener::bind("127.0.0.1:0")?;
/// let mut cmd = std::process::Command::new("/bin/sh");
/// cmd.args(["-c", "true >&3 && ! true 2>/dev/null >&4"]); // `>&n` fails unless n is open
/// let mut child = Spawn::from_command(&cmd)
///     .inherit(Inherit::new().keep_at(&listener, 3))? // the listener as fd 3, nothing else
///     .spawn()?;
/// assert!(child.wait()?.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Spawn {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    cwd: Option<PathBuf>,
    env_clear: bool,
    /// Holds its duplicates of the kept fds until this `Spawn` is dropped.
    plan: Inherit,
    steps: ChildPlan,
    stdio: [Stdio; 3],
    kill_on_release: Option<(i32, Duration)>,
    pidfd: PidfdStrategy,
}

impl Spawn {
    /// Takes the program, arguments, environment changes and working directory of `cmd`
    /// (see [What is taken](Self#what-is-taken-from-the-command)). The child keeps only
    /// stdin, stdout and stderr until [`inherit`](Self::inherit) says otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = std::process::Command::new("sh");
    /// cmd.args(["-c", "test \"$GREETING\" = hi"]).env("GREETING", "hi").current_dir("/");
    /// assert!(guard_os::Spawn::from_command(&cmd).spawn()?.wait()?.success());
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn from_command(cmd: &Command) -> Spawn {
        let plan = Inherit::new();
        Spawn {
            program: cmd.get_program().to_owned(),
            args: cmd.get_args().map(OsStr::to_owned).collect(),
            envs: cmd
                .get_envs()
                .map(|(k, v)| (k.to_owned(), v.map(OsStr::to_owned)))
                .collect(),
            cwd: cmd.get_current_dir().map(PathBuf::from),
            env_clear: false,
            steps: ChildPlan::new(&plan),
            plan,
            stdio: [Stdio::Inherit; 3],
            kill_on_release: None,
            pidfd: PidfdStrategy::ClonePidfd,
        }
    }

    /// Which fds the child keeps, at which numbers (it replaces an earlier plan). The
    /// plan's duplicates of the fds stay open until this `Spawn` is dropped. With
    /// [`Inherit::listen_fds`], `LISTEN_FDS` is set, `LISTEN_PIDFDID` and
    /// `LISTEN_FDNAMES` are removed from the child's environment, and `LISTEN_PID` is the
    /// child's own pid: the child writes it into a buffer prepared here, just before its
    /// `execve` (no `/bin/sh`, unlike [`listen_fds_command`](crate::listen_fds_command)
    /// for std's `Command`). On macOS and FreeBSD, where no code of guard's runs in the
    /// child, `/bin/sh` sets it and execs the program in its place.
    ///
    /// # Errors
    ///
    /// As [`CommandExt::inherit`](crate::CommandExt::inherit):
    /// [`InheritClosed`](Error::InheritClosed), [`InheritCollision`](Error::InheritCollision),
    /// [`InheritStdio`](Error::InheritStdio),
    /// [`InheritTargetTooHigh`](Error::InheritTargetTooHigh), [`Dup`](Error::Dup). No
    /// number is reserved: nothing but the plan's steps touches the child's fds.
    ///
    /// # Examples
    ///
    /// ```
    /// let f = guard_os::ReadFile::open("/dev/null")?;
    /// let cmd = std::process::Command::new("/bin/true");
    /// let err = guard_os::Spawn::from_command(&cmd)
    ///     .inherit(guard_os::Inherit::new().keep_at(&f, 9).keep_at(&f, 9))
    ///     .unwrap_err();
    /// assert!(matches!(err, guard_os::Error::InheritCollision { target: 9, .. }));
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    pub fn inherit(mut self, mut plan: Inherit) -> Result<Spawn> {
        plan.validate()?;
        self.steps = ChildPlan::new(&plan);
        self.plan = plan;
        Ok(self)
    }

    /// Starts the child with an empty environment, but for what the `Command` set (std's
    /// `env_clear` cannot be seen through its getters).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = std::process::Command::new("/bin/sh");
    /// cmd.args(["-c", "test -z \"$HOME\" && test \"$ONLY\" = 1"]).env("ONLY", "1");
    /// let mut child = guard_os::Spawn::from_command(&cmd).env_clear().spawn()?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[must_use]
    pub fn env_clear(mut self) -> Spawn {
        self.env_clear = true;
        self
    }

    /// The child's stdin: this process's (the default), `/dev/null`, or a guard pipe
    /// whose write end is [`Child::take_stdin`].
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_os::{Spawn, Stdio};
    /// let mut cmd = std::process::Command::new("/bin/cat"); // reads EOF at once
    /// assert!(Spawn::from_command(&cmd).stdin(Stdio::Null).spawn()?.wait()?.success());
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[must_use]
    pub fn stdin(mut self, how: Stdio) -> Spawn {
        self.stdio[0] = how;
        self
    }

    /// The child's stdout: this process's (the default), `/dev/null`, or a guard pipe
    /// whose read end is [`Child::take_stdout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_os::{Spawn, Stdio};
    /// let mut cmd = std::process::Command::new("/bin/echo");
    /// cmd.arg("not shown");
    /// assert!(Spawn::from_command(&cmd).stdout(Stdio::Null).spawn()?.wait()?.success());
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[must_use]
    pub fn stdout(mut self, how: Stdio) -> Spawn {
        self.stdio[1] = how;
        self
    }

    /// The child's stderr: this process's (the default), `/dev/null`, or a guard pipe
    /// whose read end is [`Child::take_stderr`].
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_os::{Spawn, Stdio};
    /// let mut cmd = std::process::Command::new("/bin/ls");
    /// cmd.arg("/no/such/dir");
    /// let out = Spawn::from_command(&cmd).stderr(Stdio::Piped).spawn()?.wait_with_output()?;
    /// assert!(!out.stderr.is_empty());
    /// # Ok::<(), guard_os::Error>(())
    /// ```
    #[must_use]
    pub fn stderr(mut self, how: Stdio) -> Spawn {
        self.stdio[2] = how;
        self
    }

    /// What the child's release (and a drop) does to a child still running: its release
    /// sends `signal` (a number, as `kill(2)` takes it: `libc::SIGTERM`), waits up to
    /// `grace` for it to exit, then sends `SIGKILL`, then waits. Dying of either signal
    /// is then no failure. A `Child` dropped without release gets `SIGKILL` at once (a
    /// drop never waits), as with tokio's `kill_on_drop`. Without this, a release waits
    /// for the child however long it runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut cmd = std::process::Command::new("/bin/sleep");
    /// cmd.arg("60");
    /// let mut spawn = guard_os::Spawn::from_command(&cmd).kill_on_release(libc::SIGTERM, Duration::from_secs(5));
    /// guard_core::scope(|s| {
    ///     let _child = s.enter(spawn.spawn()?);
    ///     Ok::<_, guard_os::Error>(())
    /// })?; // SIGTERM ends `sleep`: not an error
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn kill_on_release(mut self, signal: i32, grace: Duration) -> Spawn {
        self.kill_on_release = Some((signal, grace));
        self
    }

    /// Forces a pidfd fallback (Linux; no effect elsewhere). Only for tests.
    #[doc(hidden)]
    #[must_use]
    pub fn __pidfd_strategy(mut self, how: PidfdStrategy) -> Spawn {
        self.pidfd = how;
        self
    }

    /// Starts the child: it has exec'd when this returns. Its pidfd (on macOS and FreeBSD
    /// its exit-watching `kqueue`) and its stdio pipes' ends, if piped, are registered as
    /// created at the caller.
    ///
    /// # Errors
    ///
    /// [`Error::SpawnNul`] (a NUL byte in a string to pass: std's getters show
    /// `<string-with-nul>` for a program, argument or directory it refused, and that
    /// string is taken as this error), [`Error::Open`] or [`Error::Pipe`] (making the
    /// fds of [`Stdio::Null`] or [`Stdio::Piped`]), [`Error::InheritCollision`] (a stdio
    /// setting other than `Inherit` for a number the plan's
    /// [`keep_as_stdio`](Inherit::keep_as_stdio) fills), [`Error::Spawn`]: the child
    /// could not be created, a step before `exec` failed, or `exec` did (a missing
    /// program: `ENOENT`), or no pidfd could be had (`op: "pidfd_open"`: a kernel before
    /// 5.3; on macOS and FreeBSD `op: "kqueue"`), whose child was killed and reaped (use
    /// [`CommandExt::inherit`](crate::CommandExt::inherit) there); a child that failed
    /// was reaped already.
    ///
    /// # Examples
    ///
    /// ```
    /// let cmd = std::process::Command::new("/no/such/program");
    /// let err = guard_os::Spawn::from_command(&cmd).spawn().unwrap_err();
    /// assert!(matches!(err, guard_os::Error::Spawn { op: "exec", .. }));
    /// assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    /// ```
    #[track_caller]
    pub fn spawn(&mut self) -> Result<Child> {
        let site = Location::caller();
        let env = self.environment();
        let listen_pid = self.plan.listen_fds.is_some();
        let mut strings = CStrings::new(
            &self.program,
            &self.args,
            &env,
            self.cwd.as_deref(),
            listen_pid,
        )?;
        let stdio = if self.stdio == [Stdio::Inherit; 3] {
            stdio::StdioFds::default()
        } else {
            stdio::open(self.stdio, site)?
        };
        let mut with_stdio;
        let steps = if stdio.child_ends.is_empty() {
            &mut self.steps
        } else {
            with_stdio = self.steps.with_moves(stdio.moves())?;
            &mut with_stdio
        };
        #[cfg(target_os = "linux")]
        let via = match self.pidfd {
            PidfdStrategy::ClonePidfd => PidfdVia::Clone,
            PidfdStrategy::PidfdOpen => PidfdVia::Open,
            PidfdStrategy::PidfdOpenFails => PidfdVia::Nothing,
        };
        #[cfg(target_os = "linux")]
        let spawned = strings.with_image(|image| {
            // SAFETY: `ChildPlan::run` makes only raw async-signal-safe syscalls, writes
            // only into its own scratch space (allocated in `ChildPlan::new`, never grown),
            // takes no lock and cannot panic (R4); it changes only the child's fds. The fds
            // it names stay open: `self.plan` holds them (its duplicates), `stdio` the
            // stdio ends. `image` is valid for the call (`CStrings::with_image`).
            unsafe { spawn(image, &mut || steps.run(), via) }
        });
        #[cfg(not(target_os = "linux"))]
        let spawned = strings.with_image(|image| {
            // SAFETY: the sources of the moves stay open: `self.plan` holds them (its
            // duplicates), `stdio` the stdio ends. `image` is valid for the call
            // (`CStrings::with_image`).
            unsafe { spawn(image, steps.moves(), steps.closes_others()) }
        });
        match spawned {
            Ok(s) => Ok(Child::new(
                s.pid,
                s.pidfd,
                PathBuf::from(&self.program),
                stdio::StdioFds {
                    child_ends: Vec::new(), // the child's ends close here
                    ..stdio
                },
                self.kill_on_release,
                site,
            )),
            Err((step, source)) => Err(Error::Spawn {
                program: PathBuf::from(&self.program),
                op: step.op(),
                source,
            }),
        }
    }

    /// The child's environment: this process's (unless cleared), with the `Command`'s
    /// changes, then the plan's.
    fn environment(&self) -> BTreeMap<OsString, OsString> {
        let mut env: BTreeMap<OsString, OsString> = if self.env_clear {
            BTreeMap::new()
        } else {
            std::env::vars_os().collect()
        };
        for (k, v) in &self.envs {
            match v {
                Some(v) => env.insert(k.clone(), v.clone()),
                None => env.remove(k),
            };
        }
        if let Some(n) = self.plan.listen_fds {
            env.insert("LISTEN_FDS".into(), n.to_string().into());
            for var in ["LISTEN_PID", "LISTEN_FDNAMES", "LISTEN_PIDFDID"] {
                env.remove(OsStr::new(var));
            }
        }
        env
    }
}
