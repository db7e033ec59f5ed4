//! [`Live`]: one resource of the caller's own kind, counted in the census while it lives.

use super::index;
use super::origin::Origin;
use super::site_count::SiteCount;
use std::fmt;

/// Counts one resource under `origin` in the census (and so in [`report()`](crate::report()))
/// until dropped: for a resource that is neither entered in a scope nor held by a
/// [`Counted`](crate::Counted) handle, yet should show among the live ones.
///
/// The first `Live` of an origin on a thread takes the census's lock once (as the first
/// `Counted::new` at a new site does); later ones count with one atomic add.
///
/// # Examples
///
/// ```
/// use guard_core::census::{Live, Origin};
/// use guard_core::Kind;
///
/// struct Session;
/// let origin = Origin::here::<Session>(Kind::Unique);
/// let live = Live::new(origin);
/// assert_eq!(guard_core::report().live(Kind::Unique).find(|g| g.origin == origin).unwrap().count, 1);
/// drop(live);
/// assert!(guard_core::report().live(Kind::Unique).all(|g| g.origin != origin));
/// ```
pub struct Live {
    count: &'static SiteCount,
}

impl Live {
    /// Counts one more live resource of `origin`.
    pub fn new(origin: Origin) -> Self {
        Live {
            count: index::enter(origin),
        }
    }

    /// The origin counted.
    pub fn origin(&self) -> &Origin {
        self.count.origin()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.count.leave();
    }
}

impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Live")
            .field("origin", self.origin())
            .finish()
    }
}
