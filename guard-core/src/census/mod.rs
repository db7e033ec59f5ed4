//! The census of live resources held in scopes and counted handles: how many are live,
//! per [`Origin`] (kind, type and creation site). The [report](crate::report()) shows it;
//! nothing iterates it, so it needs no leases and no registry: one count per origin,
//! found through per-thread caches. A [`Registry`](crate::registry::Registry) lists its
//! own entries, grouped the same way ([`CensusGroup`]), and keeps their origins here.
//!
//! Entering a counted resource costs a cache lookup and one relaxed atomic add; leaving
//! costs one relaxed atomic add through the count kept with the resource. A scope's
//! resources enter and leave on one thread, so they are counted per thread
//! (a `ThreadCount`: a load and a store, no atomic read-modify-write), and the census sums
//! the threads' counts.

mod group;
mod index;
mod live;
mod origin;
mod site_count;
mod thread_count;

pub use group::CensusGroup;
pub(crate) use index::{census, enter, enter_on_thread, group, intern};
pub use live::Live;
pub use origin::Origin;
pub(crate) use site_count::SiteCount;
pub(crate) use thread_count::ThreadCount;
