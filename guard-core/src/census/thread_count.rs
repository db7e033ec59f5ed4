//! [`ThreadCount`]: one thread's live count of one origin, for resources that are entered
//! and leave on the same thread (a scope's): counting is a plain load and store, with no
//! atomic read-modify-write; the census sums every thread's counts.

use super::site_count::SiteCount;
use crate::loom::{StdAtomicUsize, StdOrdering};

/// One thread's live count of one origin. Written only by the thread that holds it (so a
/// load and a store make an increment), read by any census. Never freed: when its thread
/// exits it goes back to the index, and the next thread that counts this origin reuses it,
/// so an origin has at most as many as threads counting it at once.
pub(crate) struct ThreadCount {
    site: &'static SiteCount,
    live: StdAtomicUsize,
}

impl ThreadCount {
    /// A new count of zero for `site`.
    pub(super) fn new(site: &'static SiteCount) -> Self {
        ThreadCount {
            site,
            live: StdAtomicUsize::new(0),
        }
    }

    /// The origin's shared count.
    pub(super) fn site(&self) -> &'static SiteCount {
        self.site
    }

    /// One more live resource. Only the thread holding the count calls this.
    #[inline]
    pub(crate) fn enter(&self) {
        let live = self.live.load(StdOrdering::Relaxed);
        self.live.store(live + 1, StdOrdering::Relaxed);
    }

    /// One resource left. Only the thread holding the count calls this, after its `enter`.
    #[inline]
    pub(crate) fn leave(&self) {
        let live = self.live.load(StdOrdering::Relaxed);
        self.live.store(live - 1, StdOrdering::Relaxed);
    }

    /// The thread's live count now.
    pub(super) fn live(&self) -> usize {
        self.live.load(StdOrdering::Relaxed)
    }
}
