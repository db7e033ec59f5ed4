//! [`SiteCount`]: the live count of one origin (type and creation site).

use super::origin::Origin;
use crate::loom::{StdAtomicU64, StdOrdering};
use crate::padded::CachePadded;

/// The live count of one origin: entries minus departures. The two counters sit on lines
/// of their own, because they are written by different threads (a counted resource enters
/// on its creator's thread and leaves on the finalizer's): one shared counter would bounce
/// between the two cores on every resource.
pub(crate) struct SiteCount {
    origin: Origin,
    entered: CachePadded<StdAtomicU64>,
    left: CachePadded<StdAtomicU64>,
}

impl SiteCount {
    /// A count of zero for `origin`.
    pub(super) fn new(origin: Origin) -> Self {
        SiteCount {
            origin,
            entered: CachePadded::default(),
            left: CachePadded::default(),
        }
    }

    /// The origin counted.
    #[inline]
    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    /// One more resource of this origin is live.
    #[inline]
    pub(super) fn enter(&self) {
        self.entered.fetch_add(1, StdOrdering::Relaxed);
    }

    /// One resource of this origin left (released, or taken back by its owner).
    #[inline]
    pub(crate) fn leave(&self) {
        self.left.fetch_add(1, StdOrdering::Relaxed);
    }

    /// How many are live now (a snapshot: departures are read first, so it never
    /// underflows).
    pub(super) fn live(&self) -> u64 {
        let left = self.left.load(StdOrdering::Relaxed);
        self.entered.load(StdOrdering::Relaxed).saturating_sub(left)
    }
}
