//! The registry of live resources: a slab of entries with generational keys, iterated with
//! leases so that no callback ever runs under the registry lock.
//!
//! Invariants (generic form of the design's R1-R3):
//!
//! - **R1** A value handed to a [`for_each`](Registry::for_each) callback or held by a
//!   [`Lease`] is not released while the callback runs or the lease lives, and a stale
//!   [`Key`] never reaches a newer entry (each insertion gets a fresh generation).
//! - **R2** Callbacks run without the registry lock: they may insert, remove, lease, iterate
//!   or panic, on any thread, without deadlock. A removal that meets a lease is deferred
//!   and completed by whoever ends the last lease. A `for_each` pass delays a removal only
//!   while it visits that very entry: the release runs when the visit returns (see
//!   `pass.rs`); entries of its batch that it is not visiting are released at once.
//! - **R3** Each value is handed to its release exactly once: by [`remove`](Registry::remove)
//!   (returned to the caller) or, if leased then, by the registry's deferred release.

mod key;
mod lease;
mod lease_count;
mod pass;
// The file holds the `Registry` type itself; its siblings hold its parts.
#[allow(clippy::module_inception)]
mod registry;
mod removal;
mod store;
mod walk;

pub use key::Key;
pub use lease::Lease;
pub use registry::Registry;
pub use removal::Removal;
