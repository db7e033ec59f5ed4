//! Dropping a caught panic's payload without letting it unwind again.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Drops a panic payload whose own `Drop` may panic (that second panic is caught and
/// dropped: nothing here may unwind).
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
}
