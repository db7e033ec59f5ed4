//! [`Counted::try_release`] and its error, [`TryReleaseError`].

use super::handle::Counted;
use crate::resource::CountedResource;
use std::error::Error as StdError;
use std::fmt;

impl<T: CountedResource> Counted<T> {
    /// Releases the value now, on this thread, if this is the last handle; nothing is left
    /// for the finalizer. Otherwise nothing happens and the handle comes back.
    ///
    /// # Errors
    ///
    /// [`TryReleaseError::Shared`] with this handle if others exist;
    /// [`TryReleaseError::Failed`] with the release's error if it ran and failed.
    pub fn try_release(self) -> Result<(), TryReleaseError<T>> {
        match Counted::into_inner(self) {
            Ok(value) => value.release().map_err(TryReleaseError::Failed),
            Err(this) => Err(TryReleaseError::Shared(this)),
        }
    }
}

/// Why [`Counted::try_release`](crate::Counted::try_release) did not release.
/// `Shared` gives the handle back.
///
/// # Examples
///
/// ```
/// # use guard_core::{Counted, Resource, CountedResource, TryReleaseError};
/// # struct Fd;
/// # impl Resource for Fd { type Error = std::convert::Infallible; fn release(self) -> Result<(), Self::Error> { Ok(()) } }
/// # impl CountedResource for Fd {}
/// let a = Counted::new(Fd);
/// let b = a.clone();
/// match a.try_release() {
///     Err(TryReleaseError::Shared(a)) => drop(a),
///     _ => unreachable!("b still holds it"),
/// }
/// assert!(b.try_release().is_ok());
/// ```
pub enum TryReleaseError<T: CountedResource> {
    /// Other handles exist: nothing was released; here is the handle back.
    Shared(Counted<T>),
    /// This was the last handle and the release ran, but failed.
    Failed(T::Error),
}

impl<T: CountedResource> fmt::Debug for TryReleaseError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryReleaseError::Shared(_) => f.write_str("Shared(..)"),
            TryReleaseError::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
        }
    }
}

impl<T: CountedResource> fmt::Display for TryReleaseError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = std::any::type_name::<T>();
        match self {
            TryReleaseError::Shared(_) => {
                write!(
                    f,
                    "`{name}` is still shared: not the last handle, nothing released"
                )
            }
            TryReleaseError::Failed(e) => write!(f, "releasing `{name}` failed: {e}"),
        }
    }
}

impl<T: CountedResource> StdError for TryReleaseError<T> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            TryReleaseError::Shared(_) => None,
            TryReleaseError::Failed(e) => Some(e),
        }
    }
}
