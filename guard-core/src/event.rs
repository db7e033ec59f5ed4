//! Events that have no caller to return to: a counted release that failed on the finalizer
//! thread, a stuck finalizer, a unique resource dropped without being released. They go to
//! one process-wide hook (default: one line on stderr).

use crate::census::Origin;
use crate::error::Failure;
use crate::loom::{StdArc as Arc, StdMutex};
use crate::resource::{Created, Kind};
use std::backtrace::Backtrace;
use std::error::Error as StdError;
use std::fmt;
use std::panic::Location;
use std::time::Duration;

/// Something guard had to report because no caller could receive it.
///
/// # Examples
///
/// ```
/// use guard_core::event::Event;
/// let e = Event::Stuck { resource: "app::Snapshot", elapsed: std::time::Duration::from_secs(2) };
/// assert_eq!(e.to_string(), "finalizer stuck for 2.000s releasing `app::Snapshot`; a fresh worker took over the queue");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A release returned an error where nobody could receive it (on the finalizer thread,
    /// which also reports the failures of counted releases that ran inline on a dropping
    /// thread; or in a scope whose body panicked).
    ReleaseFailed {
        /// The resource's type name.
        resource: &'static str,
        /// Its discipline.
        kind: Kind,
        /// The error its release returned.
        error: &'a (dyn StdError + 'static),
    },
    /// A release panicked where the panic could not propagate (on the finalizer thread, or
    /// a registry's deferred release run as the last lease ended).
    ReleasePanicked {
        /// The resource's type name.
        resource: &'static str,
        /// For a derived resource, the field whose release panicked (`file`, or
        /// `inner.file` through a derived field); see [`Panicked::field`](crate::Panicked::field).
        field: Option<&'a str>,
        /// The panic message.
        message: &'a str,
    },
    /// A scope's body returned an error, but a release in the scope panicked: that panic
    /// resumes, so the body's error could not be returned.
    BodyFailed {
        /// The body's error.
        error: &'a dyn fmt::Debug,
    },
    /// A release on the finalizer ran past the deadline; a fresh worker took over the queue.
    Stuck {
        /// The resource's type name.
        resource: &'static str,
        /// How long it had run when detected.
        elapsed: Duration,
    },
    /// The event hook, reporting on a release the finalizer had finished, ran past the
    /// deadline; a fresh worker took over the queue. The release is not to blame: the hook
    /// blocked (it must hand events off, not wait; see [`set_hook`]).
    HookStuck {
        /// The type name of the resource whose release the hook was reporting on.
        resource: &'static str,
        /// How long the hook had run when detected.
        elapsed: Duration,
    },
    /// A unique resource was dropped without going through a scope or an explicit release.
    /// Its OS parts were released synchronously anyway; nothing leaked, but its errors had
    /// nowhere to go.
    ///
    /// The message names the type and, when known, where the value was created: a leaf
    /// resource's constructor call; for a derived one, its `#[resource(site)]` field, else
    /// the first `#[resource]` field that knows its own ("created at src/x.rs:12, where its
    /// field `log` was opened"). A derived value that knows none says where its type is
    /// defined instead ("type defined at"), never a creation site it does not know. Where
    /// it was dropped follows, as a backtrace, when `RUST_BACKTRACE` or
    /// `RUST_LIB_BACKTRACE` enables one (as for `std::backtrace::Backtrace::capture`); it
    /// is not captured otherwise.
    #[non_exhaustive]
    Unreleased {
        /// What was dropped (its kind and type) and a site: where it was created if
        /// `created` is `Some` (the same site), else where its type is defined.
        origin: Origin,
        /// How the creation site is known: the value's own, or one of its parts'
        /// ([`Created::part`]). `None`: the value knows no creation site.
        created: Option<&'a Created>,
        /// Where it was dropped, if `RUST_BACKTRACE` or `RUST_LIB_BACKTRACE` enables
        /// backtraces.
        dropped_at: Option<&'a Backtrace>,
    },
    /// A counted resource was released inline, on the dropping thread, because the process
    /// is exiting (`main` has returned): reported for the first such release only, the
    /// rest are counted in [`Stats::inline`](crate::finalizer::Stats::inline).
    ReleasedInline {
        /// The resource's type name.
        resource: &'static str,
    },
    /// A drop met the bound on pending releases while the finalizer had finished nothing for
    /// the [patience](crate::finalizer::set_stall_patience): rather than wait (the dropping
    /// thread may hold a lock the pending releases need), it went past the bound, as every
    /// drop does until a release finishes again. Reported once per stall.
    PendingBoundExceeded {
        /// Releases pending, about, when the stall was declared.
        pending: u64,
        /// The bound ([`set_pending_bound`](crate::finalizer::set_pending_bound)).
        bound: u64,
        /// How long the finalizer had made no progress.
        patience: Duration,
    },
    /// The finalizer thread could not be started; releases stay queued until it can.
    /// Reported once per outage: the retries that follow (on every enqueue, on every
    /// watchdog tick) are not reported again until a finalizer thread has been started.
    FinalizerUnavailable {
        /// Why the thread could not be spawned.
        error: &'a std::io::Error,
    },
    /// An async scope (guard-tokio's) was dropped before its end: the releases it had not
    /// yet finished were handed to a cleanup task on the current runtime, or, with no
    /// runtime to take them, run to completion on the dropping thread before the drop
    /// returned. Each of their failures follows as a `ReleaseFailed` or `ReleasePanicked`.
    ScopeCancelled {
        /// Releases not yet finished (the one under way counts), newest first.
        pending: usize,
        /// `true`: handed to a cleanup task; `false`: run before the drop returned.
        cleanup_task: bool,
    },
    /// A task has waited for an async lock past its patience: the async twin of
    /// [`Stuck`](Event::Stuck). Often a futurelock: the guard is held by a future that is
    /// not being polled (a branch `select!` polls by reference lost), or held across an await
    /// on something that needs the same lock. Reported once per stuck episode.
    LockWait {
        /// The lock's type name.
        lock: &'static str,
        /// Where the lock was created.
        site: &'static Location<'static>,
        /// Where the current holder acquired it, if it is held.
        holder_site: Option<&'static Location<'static>>,
        /// The holder's task (tokio's task id), if it acquired the lock inside a task.
        holder_task: Option<u64>,
        /// How long the reporting waiter has waited.
        waited: Duration,
        /// How many wait for the lock, the reporter included.
        waiters: usize,
    },
}

impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::ReleaseFailed {
                resource,
                kind,
                error,
            } => {
                let failure = Failure {
                    kind: Some(*kind),
                    resource,
                    error: *error,
                };
                write!(f, "{failure}")?;
                write_sources(f, *error)
            }
            Event::ReleasePanicked {
                resource,
                field: Some(field),
                message,
            } => write!(f, "releasing `{resource}` panicked in `{field}`: {message}"),
            Event::ReleasePanicked {
                resource,
                field: None,
                message,
            } => write!(f, "releasing `{resource}` panicked: {message}"),
            Event::HookStuck { resource, elapsed } => write!(
                f,
                "the event hook blocked for {:.3}s reporting on the release of `{resource}` \
                 on the finalizer; a fresh worker took over the queue",
                elapsed.as_secs_f64()
            ),
            Event::BodyFailed { error } => write!(
                f,
                "a scope's body failed, and a release panicked (the panic resumes): {error:?}"
            ),
            Event::Stuck { resource, elapsed } => write!(
                f,
                "finalizer stuck for {:.3}s releasing `{resource}`; a fresh worker took over the queue",
                elapsed.as_secs_f64()
            ),
            Event::Unreleased {
                origin,
                created,
                dropped_at,
            } => {
                write!(f, "{} `{}` ", origin.kind(), origin.type_name())?;
                match created {
                    Some(created) if created.part().is_some() => write!(f, "{created}, ")?,
                    Some(created) => write!(f, "{created} ")?,
                    None => write!(f, "(type defined at {}) ", origin.site())?,
                }
                write!(
                    f,
                    "was dropped without being released (released now; enter it in a \
                     `guard::scope` or release it explicitly)"
                )?;
                if created.is_none() {
                    write!(
                        f,
                        "; its creation site is unknown: a `#[resource(site)]` field would \
                         give it"
                    )?;
                }
                match dropped_at {
                    Some(backtrace) => {
                        let text = backtrace.to_string();
                        write!(f, "; dropped at:\n{}", from_the_drop(&text))
                    }
                    None => Ok(()),
                }
            }
            Event::ReleasedInline { resource } => write!(
                f,
                "counted `{resource}` released inline on the dropping thread: the process is exiting (later ones are counted in stats)"
            ),
            Event::PendingBoundExceeded {
                pending,
                bound,
                patience,
            } => write!(
                f,
                "{pending} counted releases pending (bound {bound}) and none finished for \
                 {:.3}s: drops go past the bound until the finalizer moves again",
                patience.as_secs_f64()
            ),
            Event::LockWait {
                lock,
                site,
                holder_site,
                holder_task,
                waited,
                waiters,
            } => {
                write!(
                    f,
                    "waited {:.3}s for `{lock}` created at {site} ({waiters} waiting); ",
                    waited.as_secs_f64()
                )?;
                match holder_site {
                    Some(held) => write!(f, "acquired at {held}")?,
                    None => write!(f, "free, but no waiter polled has taken it")?,
                }
                if let Some(task) = holder_task {
                    write!(f, " by task {task}")?;
                }
                write!(
                    f,
                    ": a guard held by a future that is not polled, or across an await that needs the lock?"
                )
            }
            Event::FinalizerUnavailable { error } => {
                write!(
                    f,
                    "the finalizer thread could not be started ({error}); releases stay queued"
                )
            }
            Event::ScopeCancelled {
                pending,
                cleanup_task,
            } => {
                let s = if *pending == 1 { "" } else { "s" };
                let how = if *cleanup_task {
                    "handed to a cleanup task on the current runtime"
                } else {
                    "run on the dropping thread (no runtime to take them)"
                };
                write!(
                    f,
                    "an async scope was dropped before its end: {pending} release{s} {how}"
                )
            }
        }
    }
}

/// Appends the error's source chain (`: cause: cause's cause`), skipping a source whose
/// text the error already shows (wrappers that print their cause).
fn write_sources(f: &mut fmt::Formatter<'_>, error: &(dyn StdError + 'static)) -> fmt::Result {
    let mut shown = error.to_string();
    let mut next = error.source();
    while let Some(source) = next {
        let text = source.to_string();
        if !shown.contains(&text) {
            write!(f, ": {text}")?;
            shown = text;
        }
        next = source.source();
    }
    Ok(())
}

type Hook = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

static HOOK: StdMutex<Option<Hook>> = StdMutex::new(None);

/// Routes every [`Event`] to `hook` instead of stderr. A panic inside it is caught and
/// ignored.
///
/// The hook runs on the thread where the event happens: the finalizer (counted releases),
/// or a thread that drops or releases a resource whose error has no caller (a unique
/// resource dropped without release, a close deferred to the end of a lease). So it must
/// not take a lock that such a thread may hold; send the event elsewhere instead (a
/// channel, a lock-free log).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// static SEEN: AtomicUsize = AtomicUsize::new(0);
/// guard_core::event::set_hook(|_event| { SEEN.fetch_add(1, Ordering::Relaxed); });
/// # guard_core::event::reset_hook();
/// ```
pub fn set_hook(hook: impl Fn(&Event<'_>) + Send + Sync + 'static) {
    replace_hook(Some(Arc::new(hook)));
}

/// Restores the default hook: one line per event on stderr, prefixed `guard: `.
///
/// # Examples
///
/// ```
/// guard_core::event::reset_hook();
/// ```
pub fn reset_hook() {
    replace_hook(None);
}

/// Installs `hook` and drops the old one after the lock is released (its captured state's
/// `Drop` may emit an event, or panic: neither may happen under the lock).
fn replace_hook(hook: Option<Hook>) {
    let old = std::mem::replace(&mut *HOOK.lock().unwrap_or_else(|e| e.into_inner()), hook);
    drop(old);
}

/// Sends `event` to the hook (or stderr). Never panics, never holds a lock while the hook
/// runs. For code that releases resources where no caller can receive an error, as guard's
/// own finalizer and derived releases do.
///
/// # Examples
///
/// ```
/// use guard_core::event::{emit, Event};
/// use guard_core::Kind;
/// let error = std::io::Error::other("EIO");
/// emit(&Event::ReleaseFailed { resource: "app::Log", kind: Kind::Unique, error: &error });
/// ```
pub fn emit(event: &Event<'_>) {
    let hook = HOOK.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // The hook moves into the catch: if `set_hook` replaced it meanwhile, this is the last
    // handle, and dropping it runs the user's captured state's `Drop`, which may panic.
    let delivered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || match hook {
        Some(hook) => hook(event),
        None => eprintln!("guard: {event}"),
    }));
    if let Err(payload) = delivered {
        // A payload's own `Drop` may panic too: drop it inside a second catch.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)));
    }
}

/// A captured backtrace from the frame where a value was dropped: the leading frames of
/// guard's own reporting (`guard_core::report`, an fd type's drop), of `Drop::drop`
/// impls (a derived type's too) and of drop glue (`core::ptr::drop_in_place`,
/// `core::mem::drop`) are cut, so the first frame shown
/// is the code that dropped the value. Frames are std's format (`N: symbol`, then `at`
/// lines; with `RUST_BACKTRACE=full`, `N: 0x… - symbol`); if every frame would be cut,
/// or none is recognised, the text comes back whole.
fn from_the_drop(text: &str) -> &str {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let Some((number, rest)) = line.trim_start().split_once(": ") else {
            continue;
        };
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            continue; // an `at` line, or not a frame
        }
        let symbol = rest
            .split_once(" - ")
            .map_or(rest, |(_, symbol)| symbol)
            .trim();
        let ours = ["guard_core::", "guard_os::", "guard_tokio::", "guard::"]
            .iter()
            .any(|krate| symbol.starts_with(krate));
        let glue = symbol.starts_with("core::ptr::drop_in_place<")
            || symbol.starts_with("core::mem::drop")
            || symbol.contains(" as core::ops::drop::Drop>::drop")
            || symbol.contains("<impl core::ops::drop::Drop for ");
        if !ours && !glue {
            return &text[start..];
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::from_the_drop;

    #[test]
    fn a_drop_backtrace_starts_at_the_code_that_dropped() {
        let text = "   0: guard_core::report::record_unreleased\n             at ./src/report.rs:116:21\n   1: guard_os::fd::owned::dropped_unreleased\n             at ./src/fd/owned.rs:301:9\n   2: <guard_os::pipe::PipeWriter as core::ops::drop::Drop>::drop\n   3: core::ptr::drop_in_place<guard_os::pipe::PipeWriter>\n             at /rustc/library/core/src/ptr/mod.rs:805:1\n   4: app::serve\n             at ./src/main.rs:12:5\n   5: main\n";
        assert!(
            from_the_drop(text).starts_with("   4: app::serve\n"),
            "{}",
            from_the_drop(text)
        );
        let full = "   0:     0x55d0 - guard_core::report::record_unreleased::h12\n   1:     0x55d1 - <app::Journal as core::ops::drop::Drop>::drop::h34\n   2:     0x55d2 - app::run::h56\n";
        let derived = "   0: guard_core::report::unreleased_value\n   1: app::_::<impl core::ops::drop::Drop for app::Journal>::drop\n   2: core::mem::drop\n   3: {closure#0}\n             at ./src/main.rs:9:5\n";
        assert!(from_the_drop(derived).starts_with("   3: {closure#0}\n"));
        assert!(from_the_drop(full).starts_with("   2:     0x55d2 - app::run"));
        let only_ours = "   0: guard_core::report::record_unreleased\n";
        assert_eq!(from_the_drop(only_ours), only_ours);
        assert_eq!(from_the_drop("disabled backtrace"), "disabled backtrace");
        assert_eq!(from_the_drop(""), "");
    }

    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("closing fd 5 failed")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_failed_release_shows_its_causes_once() {
        let error = Outer(std::io::Error::from_raw_os_error(9));
        let e = Event::ReleaseFailed {
            resource: "app::Fd",
            kind: Kind::Counted,
            error: &error,
        };
        let text = e.to_string();
        assert!(
            text.starts_with("releasing counted `app::Fd` failed: closing fd 5 failed: "),
            "{text}"
        );
        assert!(text.contains("Bad file descriptor"), "{text}");
        let plain = std::io::Error::other("EIO");
        let e = Event::ReleaseFailed {
            resource: "app::Fd",
            kind: Kind::Unique,
            error: &plain,
        };
        assert_eq!(e.to_string(), "releasing unique `app::Fd` failed: EIO");
    }

    #[test]
    fn a_lock_wait_names_both_sites_and_the_task() {
        let site = Location::caller();
        let e = Event::LockWait {
            lock: "app::Cache",
            site,
            holder_site: Some(site),
            holder_task: Some(7),
            waited: Duration::from_millis(1500),
            waiters: 2,
        };
        let text = e.to_string();
        assert!(
            text.starts_with("waited 1.500s for `app::Cache` created at "),
            "{text}"
        );
        assert!(text.contains("(2 waiting); acquired at "), "{text}");
        assert!(text.contains(" by task 7: "), "{text}");
    }

    #[test]
    fn a_derived_failure_names_its_resource_once() {
        let mut parts = crate::ReleaseErrors::new("app::Journal");
        parts.push("file", std::io::Error::other("EIO"));
        let e = Event::ReleaseFailed {
            resource: "app::Journal",
            kind: Kind::Unique,
            error: &parts,
        };
        assert_eq!(
            e.to_string(),
            "releasing unique `app::Journal` failed in `file`: EIO"
        );
    }

    #[test]
    fn an_unreleased_value_says_what_it_knows_of_its_creation_site() {
        let site = Location::caller();
        let origin = Origin::new(Kind::Unique, "app::Journal", site);
        let own = Created::new(site, "created");
        let text = |created| {
            Event::Unreleased {
                origin,
                created,
                dropped_at: None,
            }
            .to_string()
        };
        assert!(
            text(Some(&own)).starts_with(&format!(
                "unique `app::Journal` created at {site} was dropped without being released"
            )),
            "{}",
            text(Some(&own))
        );
        let part = Created::new(site, "opened").in_field("log");
        assert!(
            text(Some(&part)).starts_with(&format!(
                "unique `app::Journal` created at {site}, where its field `log` was opened, \
                 was dropped"
            )),
            "{}",
            text(Some(&part))
        );
        let unknown = text(None);
        assert!(
            unknown.starts_with(&format!(
                "unique `app::Journal` (type defined at {site}) was dropped"
            )),
            "{unknown}"
        );
        assert!(!unknown.contains("created at"), "{unknown}");
    }

    #[test]
    fn a_cancelled_scope_says_where_its_releases_went() {
        let e = Event::ScopeCancelled {
            pending: 2,
            cleanup_task: true,
        };
        assert_eq!(
            e.to_string(),
            "an async scope was dropped before its end: 2 releases handed to a cleanup task \
             on the current runtime"
        );
        let e = Event::ScopeCancelled {
            pending: 1,
            cleanup_task: false,
        };
        assert!(
            e.to_string()
                .contains("1 release run on the dropping thread")
        );
    }
}
