//! Counted handles: [`Counted<T>`] and its allocation, which is also the finalizer job its
//! last drop hands over.

mod handle;
mod pool;
mod try_release;

pub use handle::Counted;
pub use pool::{DEFAULT_POOL_LIMIT, pool_limit, set_pool_limit};
pub use try_release::TryReleaseError;
