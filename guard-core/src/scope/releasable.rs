//! [`Releasable`]: one entered resource, type-erased so that the scope can release it.

use super::outcome::Outcome;
use std::ptr::NonNull;

/// One entered resource, type-erased so the scope can release it.
pub(crate) trait Releasable<'scope> {
    /// Releases the resource if it is still here.
    fn release_now(&self) -> Option<Outcome>;
    /// The slot entered before this one.
    fn prev(&self) -> Option<NonNull<dyn Releasable<'scope> + 'scope>>;
}
