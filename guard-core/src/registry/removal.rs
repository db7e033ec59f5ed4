//! [`Removal`]: how a [`Registry::remove`](super::Registry::remove) went.

/// How a [`Registry::remove`](super::Registry::remove) went.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a removed value must be released by the caller"]
pub enum Removal<T> {
    /// The entry is gone and here is its value: the caller releases it.
    Removed(T),
    /// The entry is gone from every lookup, but a lease holds it: the registry's deferred
    /// release runs when the last lease ends.
    Deferred,
    /// The key matched no live entry (already removed, or never this registry's).
    Stale,
}

impl<T> Removal<T> {
    /// True if the release was deferred to the end of a lease.
    pub fn is_deferred(&self) -> bool {
        matches!(self, Removal::Deferred)
    }
}
