//! [`CensusGroup`]: one line of a census.

use super::origin::Origin;

/// Live resources of one group in a census: same kind, type and creation site.
///
/// # Examples
///
/// ```
/// use guard_core::census::{CensusGroup, Origin};
/// use guard_core::Kind;
///
/// let group = CensusGroup { origin: Origin::here::<u32>(Kind::Counted), count: 2, pinned: 0 };
/// assert_eq!(group.origin.type_name(), "u32");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CensusGroup {
    /// The shared origin.
    pub origin: Origin,
    /// How many live entries have it.
    pub count: usize,
    /// How many entries of a registry with this origin are *pinned*: removed by their owner,
    /// gone from every lookup, but not released, because a [`Lease`](crate::Lease) on them
    /// has not ended yet. A lease that was forgotten (`mem::forget`) pins its entry for
    /// the rest of the process. Always 0 in the census of scopes and counted handles.
    pub pinned: usize,
}
