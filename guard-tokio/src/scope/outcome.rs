//! [`Ended`]: how an async scope's releases went, and the one result the caller gets from
//! them and the body: the same rules as guard-core's sync scope (S2).

use guard_core::event::{self, Event};
use guard_core::{Kind, Panicked, ReleaseFailure, ScopeError};
use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// What a scope's releases left: every failure, the first panic and every later one.
#[derive(Default)]
pub(super) struct Ended {
    pub(super) failures: Vec<ReleaseFailure>,
    panic: Option<(&'static str, Box<dyn Any + Send>)>,
    more_panics: Vec<(&'static str, Panicked)>,
}

impl Ended {
    pub(super) fn record_panic(&mut self, resource: &'static str, payload: Box<dyn Any + Send>) {
        if self.panic.is_none() {
            self.panic = Some((resource, payload));
        } else {
            self.more_panics
                .push((resource, Panicked::from_payload(&*payload)));
            drop_payload(payload);
        }
    }

    /// The scope's one outcome. A panic resumes (the body's, else the first release's), and
    /// what it cannot carry (the body's error, release errors, other panics) goes to the
    /// event hook; otherwise the body's error and every release failure are returned.
    pub(super) fn resolve<T, E: fmt::Debug>(
        mut self,
        body: std::thread::Result<Result<T, E>>,
    ) -> Result<T, ScopeError<E>> {
        let failures = std::mem::take(&mut self.failures);
        let resumed = match (body, self.panic.take()) {
            (Ok(Ok(value)), None) if failures.is_empty() && self.more_panics.is_empty() => {
                return Ok(value);
            }
            (Ok(result), None) if self.more_panics.is_empty() => {
                return Err(ScopeError::from_parts(result.err(), failures));
            }
            (Err(body_panic), first) => {
                if let Some((resource, payload)) = first {
                    Ended::report_panic_payload(resource, payload);
                }
                body_panic
            }
            (Ok(result), Some((_, payload))) => {
                if let Err(error) = &result {
                    event::emit(&Event::BodyFailed { error });
                }
                drop(result);
                payload
            }
            (Ok(_), None) => unreachable!("later panics come after a first one"),
        };
        self.failures = failures;
        self.report_lost();
        resume_unwind(resumed)
    }

    /// Sends everything recorded to the hook: nobody is left to return it to.
    pub(super) fn report_lost(mut self) {
        for failure in std::mem::take(&mut self.failures) {
            Ended::report_failure(&failure);
        }
        if let Some((resource, payload)) = self.panic.take() {
            Ended::report_panic_payload(resource, payload);
        }
        for (resource, panicked) in std::mem::take(&mut self.more_panics) {
            report_panic(resource, &panicked);
        }
    }

    pub(super) fn report_failure(failure: &ReleaseFailure) {
        event::emit(&Event::ReleaseFailed {
            resource: failure.resource(),
            kind: Kind::Unique,
            error: failure.error(),
        });
    }

    pub(super) fn report_panic_payload(resource: &'static str, payload: Box<dyn Any + Send>) {
        report_panic(resource, &Panicked::from_payload(&*payload));
        drop_payload(payload);
    }
}

fn report_panic(resource: &'static str, panicked: &Panicked) {
    event::emit(&Event::ReleasePanicked {
        resource,
        field: panicked.field(),
        message: panicked.message(),
    });
}

/// Drops a panic payload whose own `Drop` may panic (that second panic is dropped too).
fn drop_payload(payload: Box<dyn Any + Send>) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
}
