//! Runs a blocking test step on its own thread, so that a deadlock fails the test instead
//! of hanging the suite.

use std::fmt;
use std::sync::mpsc;
use std::time::Duration;

/// A watched step that did not finish in time; its thread is left running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hung {
    /// The limit it overran (already scaled under Miri).
    pub limit: Duration,
}

impl fmt::Display for Hung {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "did not finish within {:?}", self.limit)
    }
}

impl std::error::Error for Hung {}

/// Runs `f` on a thread named `name` and returns its value, or [`Hung`] if it has not
/// finished within `limit` (sixty times `limit` under Miri, which runs the same code
/// that much slower). A panic in `f` is resumed here.
///
/// # Errors
///
/// [`Hung`] on timeout.
///
/// # Panics
///
/// If the thread cannot be spawned, and with `f`'s own panic.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// assert_eq!(guard_testkit::try_watchdog("quick", Duration::from_secs(5), || 7), Ok(7));
/// let hung = guard_testkit::try_watchdog("slow", Duration::from_millis(1), || {
///     std::thread::sleep(Duration::from_millis(200))
/// });
/// assert!(hung.is_err());
/// ```
pub fn try_watchdog<T: Send + 'static>(
    name: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Hung> {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(out);
        })
        .expect("spawn the watched thread");
    let limit = if cfg!(miri) { limit * 60 } else { limit };
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => {
            worker.join().expect("watched thread joins");
            Ok(v)
        }
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => Err(Hung { limit }),
    }
}

/// [`try_watchdog`] on a thread named `watched`, failing the test on a hang.
///
/// # Panics
///
/// If `f` has not finished within `limit` (a deadlock or hang), and with `f`'s own panic.
///
/// # Examples
///
/// ```
/// # use std::time::Duration;
/// assert_eq!(guard_testkit::watchdog(Duration::from_secs(5), || 7), 7);
/// ```
pub fn watchdog<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    try_watchdog("watched", limit, f).unwrap_or_else(|hung| panic!("{hung}: deadlock or hang"))
}
