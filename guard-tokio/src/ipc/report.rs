//! How the holder thread ends an acquisition no task has, and reports what no task waits
//! to hear.

use guard_core::Kind;
use guard_core::event::{self, Event};
use std::path::Path;

/// Unlocks an acquisition no task has; a failure goes to guard's event hook.
pub(super) fn unlock_quietly(held: Option<guard_os::IpcLock<'_>>, path: &Path) {
    report_failure(held.map_or_else(|| Err(not_held(path)), guard_os::IpcLock::unlock));
}

/// Sends a failed unlock nobody waits for to guard's event hook.
pub(super) fn report_failure(result: guard_os::Result<()>) {
    if let Err(e) = result {
        event::emit(&Event::ReleaseFailed {
            resource: "guard_tokio::IpcLock",
            kind: Kind::Unique,
            error: &e,
        });
    }
}

/// An operation on an acquisition the holder thread does not have (never happens: the
/// tasks' turns order them).
pub(super) fn not_held(path: &Path) -> guard_os::Error {
    guard_os::Error::Lock {
        op: "using an acquisition the holder thread does not have",
        path: path.to_path_buf(),
        source: std::io::Error::other("not held"),
    }
}
