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
/// let group = CensusGroup { origin: Origin::here::<u32>(Kind::Counted), count: 2 };
/// assert_eq!(group.origin.type_name(), "u32");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CensusGroup {
    /// The shared origin.
    pub origin: Origin,
    /// How many live entries have it.
    pub count: usize,
}
