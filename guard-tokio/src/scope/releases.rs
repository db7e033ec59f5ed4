//! [`Releases`]: the releases a scope still has to run, newest first, and the one under
//! way. Whoever holds them runs them to the end: the scope's future, or, if that future is
//! dropped first, the cleanup (`cleanup.rs`, where their `Drop` is).

use super::outcome::Ended;
use super::release::AsyncRelease;
use guard_core::census::Live;
use guard_core::{BoxError, ReleaseFailure};
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A release future, boxed and erased.
type ReleaseFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// One resource's release, not yet finished: its type name and its future. The future
/// calls `release_async` at its first poll (so that a panic there is caught like one in the
/// future), and holds the resource's census count until it ends.
pub(super) struct Job {
    resource: &'static str,
    future: ReleaseFuture,
}

impl Job {
    pub(super) fn new<T: AsyncRelease>(value: T, live: Live) -> Self {
        Job {
            resource: std::any::type_name::<T>(),
            future: Box::pin(async move {
                let _live = live;
                value.release_async().await.map_err(BoxError::from)
            }),
        }
    }

    /// A release already under way (a guard's early release), to be finished elsewhere.
    pub(super) fn started(resource: &'static str, future: ReleaseFuture) -> Self {
        Job { resource, future }
    }
}

/// Where the outcome of each release goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Report {
    /// Into [`Ended`], for the scope's result.
    Collect,
    /// To the event hook as each release ends: nobody is left to return it to.
    Hook,
}

/// Releases to run, newest first, and the one under way. Dropped before they all ran, they
/// go to the cleanup, the one under way included, as it stands (`cleanup.rs`).
pub(super) struct Releases {
    current: Option<Job>,
    jobs: VecDeque<Job>,
    ended: Ended,
    report: Report,
    /// Handed off once already: a second hand-off runs here (the cleanup task was
    /// dropped, as a runtime that shuts down drops its tasks).
    pub(super) handed_off: bool,
}

impl Releases {
    pub(super) fn new(jobs: VecDeque<Job>) -> Self {
        Releases {
            current: None,
            jobs,
            ended: Ended::default(),
            report: Report::Collect,
            handed_off: false,
        }
    }

    /// One release under way, reported to the hook if it is finished elsewhere.
    pub(super) fn started(job: Job) -> Self {
        Releases {
            current: Some(job),
            jobs: VecDeque::new(),
            ended: Ended::default(),
            report: Report::Hook,
            handed_off: false,
        }
    }

    /// Releases not yet finished.
    pub(super) fn pending(&self) -> usize {
        self.jobs.len() + usize::from(self.current.is_some())
    }

    /// Runs every release, in order, each to its end (a panic is caught and recorded; the
    /// others still run).
    pub(super) async fn run(&mut self) {
        poll_fn(|cx| self.poll_run(cx)).await;
    }

    /// Moves the releases along: `Ready` once every one has ended, in order.
    pub(super) fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let job = match &mut self.current {
                Some(job) => job,
                None => match self.jobs.pop_front() {
                    Some(job) => self.current.insert(job),
                    None => return Poll::Ready(()),
                },
            };
            let outcome = match catch_unwind(AssertUnwindSafe(|| job.future.as_mut().poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(result)) => Ok(result),
                Err(payload) => Err(payload),
            };
            let resource = job.resource;
            // The job leaves only now: until its future has ended, a drop hands it off. Its
            // drop is user code too (what the future still holds).
            let job = self.current.take();
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(job))) {
                self.record_panic(resource, payload);
            }
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(error)) => self.record_failure(ReleaseFailure::new(resource, error)),
                Err(payload) => self.record_panic(resource, payload),
            }
        }
    }

    /// Queues more releases after those already queued.
    pub(super) fn extend(&mut self, jobs: impl IntoIterator<Item = Job>) {
        self.jobs.extend(jobs);
    }

    fn record_failure(&mut self, failure: ReleaseFailure) {
        match self.report {
            Report::Collect => self.ended.failures.push(failure),
            Report::Hook => Ended::report_failure(&failure),
        }
    }

    fn record_panic(&mut self, resource: &'static str, payload: Box<dyn std::any::Any + Send>) {
        match self.report {
            Report::Collect => self.ended.record_panic(resource, payload),
            Report::Hook => Ended::report_panic_payload(resource, payload),
        }
    }

    /// What the releases left, once [`run`](Self::run) has returned.
    pub(super) fn finish(mut self) -> Ended {
        std::mem::take(&mut self.ended)
    }

    /// What was collected: taken by a drop, for the hook.
    pub(super) fn take_ended(&mut self) -> Ended {
        std::mem::take(&mut self.ended)
    }

    /// Everything not yet run, as releases whose outcomes go to the hook.
    pub(super) fn take_rest(&mut self) -> Releases {
        Releases {
            current: self.current.take(),
            jobs: std::mem::take(&mut self.jobs),
            ended: Ended::default(),
            report: Report::Hook,
            handed_off: self.handed_off,
        }
    }
}
