//! The runtime guard for `main`: Rust never drops statics and `process::exit` skips
//! destructors, so pending counted releases and live unique resources need a point at
//! which the program says "I am done".

use crate::error::FlushError;
use crate::finalizer;
use crate::report::{Report, report};
use crate::resource::Kind;
use std::fmt;
use std::io::Write as _;
use std::time::Duration;

/// Default time [`Runtime`] waits for pending counted releases at exit.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);

/// Returns the guard to hold for all of `main`. When it is dropped (or
/// [`finish`](Runtime::finish)ed) it waits, within a deadline, for every pending counted
/// release, then reports unique resources still live.
///
/// Ending a runtime guard drains and reports; it stops nothing. Counted values dropped
/// later are released on the finalizer thread as before (invariant F1), so a library or a
/// test may make and end a guard of its own, as many as it likes, to check its own
/// releases. Only once `main` has returned (or the main thread called
/// [`std::process::exit`]) does a release run inline, on the dropping thread: the process
/// is ending, and a finalizer thread might never run it. Such releases are counted in
/// [`Stats::inline`](crate::finalizer::Stats::inline), the first one is reported, and
/// they never recurse: a release that drops another counted value runs it after itself,
/// in one loop, whatever the length of the chain. Making the guard on the main thread is
/// what lets guard notice that `main` has returned.
///
/// # Examples
///
/// ```
/// let rt = guard_core::runtime();
/// // ... the program ...
/// let exit = rt.finish();
/// assert!(exit.flush.is_ok());
/// ```
#[must_use = "the runtime guard drains releases when dropped: bind it (`let _rt = ...`) for all of main"]
pub fn runtime() -> Runtime {
    finalizer::ensure_started();
    finalizer::watch_main_exit();
    Runtime {
        drain: DEFAULT_DRAIN,
        done: false,
    }
}

/// The runtime guard returned by [`runtime`].
#[derive(Debug)]
pub struct Runtime {
    drain: Duration,
    done: bool,
}

impl Runtime {
    /// Sets how long to wait for pending counted releases at exit (default 5 s).
    ///
    /// # Examples
    ///
    /// ```
    /// let _rt = guard_core::runtime().with_drain_deadline(std::time::Duration::from_secs(1));
    /// ```
    pub fn with_drain_deadline(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// Drains and reports now, returning what it found instead of printing it. Releases
    /// still pending when the drain deadline passes carry on, on the finalizer.
    ///
    /// # Examples
    ///
    /// ```
    /// let exit = guard_core::runtime().finish();
    /// println!("{exit}");
    /// ```
    pub fn finish(mut self) -> ExitReport {
        self.done = true;
        let flush = finalizer::flush_timeout(self.drain);
        ExitReport {
            flush,
            report: report(),
        }
    }
}

impl Drop for Runtime {
    /// Drains and prints the exit report on stderr, unless everything was clean.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let exit = Runtime {
            drain: self.drain,
            done: false,
        }
        .finish();
        if !exit.is_clean() {
            // Not `eprintln!`: it panics if stderr is gone, and this is a `Drop`.
            let _ = writeln!(std::io::stderr(), "guard: at exit: {exit}");
        }
    }
}

/// What the runtime guard found at exit.
#[derive(Debug)]
#[non_exhaustive]
pub struct ExitReport {
    /// Whether every pending counted release finished within the deadline.
    pub flush: Result<(), FlushError>,
    /// Live resources and finalizer counters after the drain.
    pub report: Report,
}

impl ExitReport {
    /// True if the drain succeeded and no unique resource is still live.
    pub fn is_clean(&self) -> bool {
        self.flush.is_ok() && self.report.live_count(Kind::Unique) == 0
    }
}

impl fmt::Display for ExitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.flush {
            Ok(()) => writeln!(f, "pending counted releases drained")?,
            Err(e) => writeln!(f, "drain incomplete: {e}")?,
        }
        let unique = self.report.live_count(Kind::Unique);
        if unique > 0 {
            writeln!(f, "{unique} unique resource(s) still live")?;
        }
        write!(f, "{}", self.report)
    }
}
