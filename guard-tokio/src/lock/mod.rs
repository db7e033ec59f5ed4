//! An async mutex that cannot futurelock by hand-off ([`Mutex`]), and a detector for the
//! futurelocks no lock design prevents.
//!
//! A release never hands the lock to a waiter: it wakes one to come and try, and the lock
//! goes to whichever acquisition is polled first while it is free. So a waiter in a future
//! that is no longer polled (the losing branch of a `select!` polled by reference, RFD 609)
//! holds nobody up. Barging is bounded: a waiter woken four times without winning reserves
//! the next release, for as long as it is polled (a reservation not taken within the lock's
//! [grace](Mutex::reservation_grace), 500µs by default, of the release lapses). One wake is
//! out at a time: a release wakes a waiter only if no woken waiter is still to come, and a
//! woken waiter that has not come within the grace (it may never be polled again) no
//! longer keeps the next one from being woken.
//!
//! What no lock design prevents, a guard held by a future that is not polled, or across an
//! await on something that needs the lock, is reported: a waiter past its patience sends
//! [`Event::LockWait`](guard_core::event::Event::LockWait) to guard's event hook, with the
//! lock's creation site, the holder's acquisition site and task, once per stuck episode.

mod acquire;
mod error;
mod future;
mod guard;
mod holder;
mod loom;
mod mutex;
mod patience;
mod queue;
mod raw;
mod shared;
mod wait;
mod watch;

pub use error::{LockTimeout, TryLockError};
pub use future::{Lock, LockOwned};
pub use guard::{MutexGuard, OwnedMutexGuard};
pub use mutex::Mutex;
pub use patience::{DEFAULT_PATIENCE, default_patience, set_default_patience};
