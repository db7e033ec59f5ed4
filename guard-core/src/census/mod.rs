//! The census of live resources held in scopes, counted handles and registries: how many
//! are live, per [`Origin`] (kind, type and creation site). The [report](crate::report())
//! shows it; nothing iterates it, so it needs no leases and no registry: one
//! [`SiteCount`] per origin, found through per-thread caches.
//!
//! Entering a resource costs a cache lookup and one relaxed atomic add; leaving costs one
//! relaxed atomic add through the count kept with the resource.

mod group;
mod index;
mod origin;
mod site_count;

pub use group::CensusGroup;
pub(crate) use index::{census, enter, intern};
pub use origin::Origin;
pub(crate) use site_count::SiteCount;
