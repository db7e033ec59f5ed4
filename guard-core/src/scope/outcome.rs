//! [`Outcome`]: how one unique resource's release went.

use crate::error::ReleaseFailure;
use crate::resource::Resource;
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// How one release went.
pub(crate) enum Outcome {
    Released,
    Failed(ReleaseFailure),
    Panicked(Box<dyn Any + Send>),
}

impl Outcome {
    /// Releases `value`, catching a panic.
    pub(crate) fn of<T: Resource>(value: T) -> Outcome {
        match catch_unwind(AssertUnwindSafe(|| value.release())) {
            Ok(Ok(())) => Outcome::Released,
            Ok(Err(e)) => Outcome::Failed(ReleaseFailure::new(std::any::type_name::<T>(), e)),
            Err(payload) => Outcome::Panicked(payload),
        }
    }
}
