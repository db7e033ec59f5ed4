//! [`IpcMutex`]: guard's inter-process mutex, locked by a future that never blocks a
//! runtime worker.
//!
//! The OS lock is a robust, process-shared pthread mutex: the thread that locks it must
//! unlock it, and its owner's death is reported to the next owner. A tokio task moves
//! between workers, so no worker may hold it. Each handle has one holder thread
//! ([`holder`]) that takes and releases the OS lock for the tasks of this process, one
//! acquisition at a time; the tasks take turns on guard's async mutex (no hand-off, so a
//! lock future `select!` no longer polls holds nobody up; cancel-safe) in front ([`turn`]). A task waiting for another process, or for another task of its own
//! thread, only awaits. Unlocks are posted to the holder thread, not waited for
//! ([`IpcLock::unlock`]; [`IpcLock::unlock_and_wait`] waits).
//!
//! Back-to-back acquisitions by tasks of this process skip the holder thread: a task that
//! unlocks while another task of this process waits leaves the OS lock held by the holder
//! thread and passes it on with its turn (at most 32 times in a row, then it unlocks for
//! real, so other processes get their chance); the holder thread unlocks one nobody comes
//! for within 50µs ([`keep`]). The last task that stops wanting it
//! (unlocking, or dropping its lock future) has the holder thread unlock it.

mod holder;
mod keep;
mod lock;
mod mutex;
mod report;
mod turn;

pub use lock::IpcLock;
pub use mutex::IpcMutex;
