//! Taking passed sockets in a tokio program: [`build`] takes them, then builds the runtime.
//!
//! [`guard_os::listen_fds()`] removes the `LISTEN_*` variables, which is sound only while
//! no other thread reads the environment, so it refuses once other threads exist; a
//! runtime has its workers before `#[tokio::main]`'s body runs. So take the fds in a plain
//! `fn main`, before the runtime exists, then run the async main on it:
//!
//! ```
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let options = guard_os::ListenOptions::new().accept_missing_pid(true);
//!     let mut builder = tokio::runtime::Builder::new_multi_thread();
//!     builder.enable_all();
//!     let (passed, runtime) = guard_tokio::listen::build(options, &mut builder)?;
//!     runtime.block_on(serve(passed))
//! }
//!
//! async fn serve(passed: guard_os::ListenFds) -> Result<(), Box<dyn std::error::Error>> {
//!     let listener = match passed.into_fds().pop() {
//!         Some(fd) => guard_os::TcpListener::try_from(fd)?,
//!         None => guard_os::TcpListener::bind("127.0.0.1:0")?,
//!     };
//!     let listener = guard_tokio::Async::new(listener)?;
//!     // ... loop { let (conn, _) = listener.accept().await?; ... }
//! #   drop(listener);
//!     Ok(())
//! }
//! ```

use guard_os::{ListenFds, ListenOptions};
use std::fmt;
use tokio::runtime::{Builder, Runtime};

/// Takes the passed fds with `options` (in the process's only thread: call it first in
/// `main`), then builds the runtime with `builder`.
///
/// # Errors
///
/// [`StartError::ListenFds`] as [`ListenOptions::take`] (the runtime is not built; a
/// thread started before this call gives `ListenFdsThreads`), [`StartError::Runtime`] if
/// the runtime cannot be built (the fds taken are closed then).
///
/// # Examples
///
/// See the [module](self).
#[track_caller]
pub fn build(
    options: ListenOptions,
    builder: &mut Builder,
) -> Result<(ListenFds, Runtime), StartError> {
    let passed = options.take().map_err(StartError::ListenFds)?;
    let runtime = builder.build().map_err(StartError::Runtime)?;
    Ok((passed, runtime))
}

/// Why [`build`] failed.
///
/// # Examples
///
/// ```
/// let mut builder = tokio::runtime::Builder::new_current_thread();
/// // A doctest runs in a process of its own: nothing passed, nothing to refuse.
/// match guard_tokio::listen::build(guard_os::ListenOptions::new(), &mut builder) {
///     Ok((passed, _runtime)) => assert!(passed.is_empty()),
///     Err(guard_tokio::listen::StartError::ListenFds(e)) => panic!("taking fds: {e}"),
///     Err(e) => panic!("{e}"),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// Taking the passed fds failed.
    ListenFds(guard_os::Error),
    /// Building the runtime failed.
    Runtime(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::ListenFds(_) => f.write_str("taking the passed fds failed"),
            StartError::Runtime(_) => f.write_str("building the tokio runtime failed"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::ListenFds(e) => Some(e),
            StartError::Runtime(e) => Some(e),
        }
    }
}
