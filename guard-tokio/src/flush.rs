//! [`flush`]: guard's finalizer flush, awaited without blocking a runtime worker.

use guard_core::finalizer::{self, FlushError};

/// Waits until every counted resource dropped before this call has been released, as
/// [`guard_core::finalizer::flush`], without blocking a runtime worker: when releases are
/// pending, the wait runs on tokio's blocking pool
/// ([`spawn_blocking`](tokio::task::spawn_blocking)); when none is, it returns at once.
///
/// # Errors
///
/// As [`finalizer::flush`]; [`FlushError::InFinalizer`] never (the wait runs on a
/// blocking-pool thread).
///
/// # Panics
///
/// Outside a tokio runtime; if the blocking task panics (it does not).
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let l = guard_core::Counted::new(guard_os::TcpListener::bind("127.0.0.1:0")?);
/// let addr = l.local_addr()?;
/// drop(l); // closed on the finalizer thread
/// guard_tokio::flush().await?; // closed now, and no worker was blocked
/// guard_os::TcpListener::bind(addr)?; // the port is free
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub async fn flush() -> Result<(), FlushError> {
    if finalizer::stats().pending == 0 {
        // Nothing enqueued and unfinished (a stuck release counts as pending): `flush`
        // returns at once, so a blocking-pool round trip would only add latency.
        return finalizer::flush();
    }
    match tokio::task::spawn_blocking(finalizer::flush).await {
        Ok(result) => result,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
