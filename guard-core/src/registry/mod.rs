//! A registry of live values, listed one by one: generational [`Key`]s, and [`Lease`]s
//! that keep a value from being released while someone outside the registry lock looks at
//! it. guard-os keeps every registered fd in one.
//!
//! What a caller can rely on (the generic form of the design's R1-R3):
//!
//! - **R1** a value handed to a [`for_each`](Registry::for_each) callback or held by a
//!   [`Lease`] is not released while the callback runs or the lease lives, and a stale
//!   [`Key`] never reaches a newer entry;
//! - **R2** callbacks run without the registry lock: they may insert, remove, lease, iterate
//!   or panic, on any thread. A removal that meets a lease is released when the last lease
//!   ends; a `for_each` pass delays a removal only while it visits that very entry (the
//!   release runs when the visit returns); entries of its batch it is not visiting are
//!   released at once;
//! - **R3** each value is handed to its release exactly once: returned by
//!   [`remove`](Registry::remove), or passed to the registry's deferred release.

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
