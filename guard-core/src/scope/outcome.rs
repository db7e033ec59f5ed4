//! [`Outcome`]: how one unique resource's release went; [`Ended`]: how a whole scope's
//! releases went, and the one result the caller gets from them and the body.

use crate::error::{Panicked, ReleaseFailure, ScopeError};
use crate::event::{self, Event};
use crate::panic::drop_payload;
use crate::resource::{Kind, Resource};
use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// How one release went.
pub(crate) enum Outcome {
    Released,
    Failed(ReleaseFailure),
    Panicked {
        /// The resource's type name.
        resource: &'static str,
        payload: Box<dyn Any + Send>,
    },
}

impl Outcome {
    /// Releases `value`, catching a panic.
    pub(crate) fn of<T: Resource>(value: T) -> Outcome {
        match catch_unwind(AssertUnwindSafe(|| value.release())) {
            Ok(Ok(())) => Outcome::Released,
            Ok(Err(e)) => Outcome::Failed(ReleaseFailure::new(std::any::type_name::<T>(), e)),
            Err(payload) => Outcome::Panicked {
                resource: std::any::type_name::<T>(),
                payload,
            },
        }
    }
}

/// What a scope's releases left: every failure, the first panic and every later one.
#[derive(Default)]
pub(super) struct Ended {
    pub(super) failures: Vec<ReleaseFailure>,
    pub(super) panic: Option<(&'static str, Box<dyn Any + Send>)>,
    pub(super) more_panics: Vec<(&'static str, Panicked)>,
}

impl Ended {
    /// The scope's one outcome, from the body's and the releases'. Nothing is dropped: a
    /// panic resumes (the body's, else the first release's), and what it cannot carry (the
    /// body's error, release errors, other panics) goes to the event hook; otherwise the
    /// body's error and every release failure are returned.
    #[cold]
    #[inline(never)]
    pub(super) fn resolve<T, E: fmt::Debug>(
        self,
        body: std::thread::Result<Result<T, E>>,
    ) -> Result<T, ScopeError<E>> {
        let Ended {
            failures,
            panic,
            more_panics,
        } = self;
        if panic.is_none() && more_panics.is_empty() {
            match body {
                Ok(Ok(value)) if failures.is_empty() => return Ok(value),
                Ok(Ok(_)) => return Err(ScopeError::new(None, failures)),
                Ok(Err(e)) => return Err(ScopeError::new(Some(e), failures)),
                Err(body_panic) => {
                    report_lost(&failures, &more_panics);
                    resume_unwind(body_panic)
                }
            }
        }
        let resumed = match body {
            Err(body_panic) => {
                if let Some((resource, payload)) = panic {
                    report_panic(resource, &Panicked::from_payload(&*payload));
                    drop_payload(payload);
                }
                body_panic
            }
            Ok(result) => {
                if let Err(error) = &result {
                    event::emit(&Event::BodyFailed { error });
                }
                drop(result);
                match panic {
                    Some((_, payload)) => payload,
                    None => unreachable!("later panics come after a first one"),
                }
            }
        };
        report_lost(&failures, &more_panics);
        resume_unwind(resumed)
    }
}

/// Release failures and panics that cannot be returned (a panic is propagating) go to the
/// hook.
fn report_lost(failures: &[ReleaseFailure], panics: &[(&'static str, Panicked)]) {
    for f in failures {
        event::emit(&Event::ReleaseFailed {
            resource: f.resource(),
            kind: Kind::Unique,
            error: f.error(),
        });
    }
    for (resource, panicked) in panics {
        report_panic(resource, panicked);
    }
}

fn report_panic(resource: &'static str, panicked: &Panicked) {
    event::emit(&Event::ReleasePanicked {
        resource,
        field: panicked.field(),
        message: panicked.message(),
    });
}
