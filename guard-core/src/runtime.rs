//! The runtime guard for `main`: Rust never drops statics and `process::exit` skips
//! destructors, so pending counted releases and live unique resources need a point at
//! which the program says "I am done".

use crate::error::FlushError;
use crate::finalizer;
use crate::loom::StdMutex;
use crate::report::{Report, report};
use crate::resource::Kind;
use std::fmt;
use std::io::Write as _;
use std::time::Duration;

/// How many runtime guards are alive; the last one to go shuts the finalizer's intake.
static LIVE_RUNTIMES: StdMutex<usize> = StdMutex::new(0);

/// Default time [`Runtime`] waits for pending counted releases at exit.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);

/// Returns the guard to hold in `main`. When it is dropped (or [`finish`](Runtime::finish)ed)
/// it waits, within a deadline, for every pending counted release, then reports unique
/// resources still live. After the last runtime guard is gone, counted resources dropped
/// later are released inline on the dropping thread (and reported), rather than queued for
/// a finalizer that the exiting process may never run.
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
    *LIVE_RUNTIMES.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    finalizer::set_shutdown(false);
    finalizer::ensure_started();
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

    /// Drains and reports now, returning what it found instead of printing it.
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
        let mut live = LIVE_RUNTIMES.lock().unwrap_or_else(|e| e.into_inner());
        *live = live.saturating_sub(1);
        if *live == 0 {
            finalizer::set_shutdown(true);
        }
        drop(live);
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
