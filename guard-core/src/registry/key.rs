//! [`Key`]: the generational identity of one registry entry.

use std::fmt;

/// The identity of one registry entry. Generational: once the entry is removed, its key
/// matches nothing, even after the row is reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub(super) index: u32,
    pub(super) generation: u64,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({}v{})", self.index, self.generation)
    }
}
