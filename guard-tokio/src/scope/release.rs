//! [`AsyncRelease`]: how a resource with an asynchronous release is given back.

use guard_core::{Resource, UniqueResource};
use std::future::Future;

/// A unique resource whose release awaits: a TLS stream that sends `close_notify`, a
/// connection returned to a pool, a socket that writes a goodbye frame before it closes.
///
/// Enter it in an async [`scope`](crate::scope()): it is released at the end of the scope,
/// newest first, with every error returned; if the scope's future is dropped first, its
/// release still runs (see [the module docs](mod@crate::scope#cancellation)). Every
/// [`UniqueResource`] of guard-core is an `AsyncRelease` too (its synchronous release is
/// the whole future), so guard-os's files and streams enter an async scope as they are.
///
/// The resource and its release future are `Send + 'static`: a release the scope could
/// not finish may be finished by a cleanup task on the runtime, as `tokio::spawn` would
/// need.
///
/// # Examples
///
/// ```
/// use guard_tokio::AsyncRelease;
/// use tokio::io::AsyncWriteExt;
///
/// /// A connection that says goodbye before it closes.
/// struct Conn(tokio::net::UnixStream);
///
/// impl AsyncRelease for Conn {
///     type Error = std::io::Error;
///     async fn release_async(mut self) -> std::io::Result<()> {
///         self.0.write_all(b"bye\n").await?;
///         self.0.shutdown().await
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (a, b) = tokio::net::UnixStream::pair()?;
/// guard_tokio::scope(async |s| {
///     let _conn = s.enter(Conn(a));
///     Ok::<_, std::io::Error>(())
/// })
/// .await
/// .unwrap();
/// let mut said = String::new();
/// tokio::io::AsyncReadExt::read_to_string(&mut { b }, &mut said).await?;
/// assert_eq!(said, "bye\n");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub trait AsyncRelease: Sized + Send + 'static {
    /// What can go wrong while giving the resource back.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Gives the resource back, consuming it. The future may be polled to its end by a
    /// cleanup task rather than by the scope, if the scope's future was dropped while it
    /// ran; it is never dropped unfinished by guard.
    ///
    /// # Errors
    ///
    /// Whatever the resource reports while being released; it is gone either way.
    fn release_async(self) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static;
}

/// A unique resource's synchronous release, as an `AsyncRelease` whose future is ready at
/// its first poll.
impl<T: UniqueResource + Send + 'static> AsyncRelease for T {
    type Error = <T as Resource>::Error;

    fn release_async(self) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        std::future::ready(Resource::release(self))
    }
}
