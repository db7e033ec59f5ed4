//! A named mutex between processes: the seed's "a mutex is two resources". The handle
//! ([`IpcMutex`], an open lock file) is counted; an acquisition ([`IpcLock`]) is unique.
//!
//! Its guarantees: see [`IpcMutex`]; the mechanism is in `docs/DESIGN.md`.

#[cfg(any(not(target_os = "linux"), test))]
mod flock;
mod handle;
mod lock;
mod lock_file;

pub use handle::IpcMutex;
pub use lock::{IpcLock, LockError, OwnerDied};
