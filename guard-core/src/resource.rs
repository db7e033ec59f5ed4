//! What a resource is: a value that says how it is given back ([`Resource`]) and which of
//! the two disciplines it follows ([`UniqueResource`] or [`CountedResource`]), and where a
//! value was created, when it knows ([`Created`]).

use std::borrow::Cow;
use std::fmt;
use std::panic::Location;

/// A value that must be given back, and how.
///
/// `release` consumes the value: after it returns, whatever the value held (an fd, a lock
/// acquisition, a connection) is gone, and the error, if any, says what went wrong while
/// giving it back. Implement it by hand for leaf resources, or derive it
/// (`#[derive(guard::Resource)]`) for structs made of resources.
///
/// A `Resource` is used through one of two disciplines, chosen by a marker trait:
///
/// - [`UniqueResource`]: release timing matters, so it is entered in a [`scope`](crate::scope)
///   and released at a precise, visible point, with every error returned.
/// - [`CountedResource`]: only the count matters, so it is wrapped in a
///   [`Counted`](crate::Counted) handle and released later on the finalizer thread.
///
/// # Examples
///
/// ```
/// use guard_core::{Resource, UniqueResource};
/// use std::convert::Infallible;
///
/// /// A lock acquisition recorded in a log: releasing it appends "unlocked".
/// struct Held<'a>(&'a std::cell::RefCell<Vec<&'static str>>);
///
/// impl Resource for Held<'_> {
///     type Error = Infallible;
///     fn release(self) -> Result<(), Infallible> {
///         self.0.borrow_mut().push("unlocked");
///         Ok(())
///     }
/// }
/// impl UniqueResource for Held<'_> {}
///
/// let log = std::cell::RefCell::new(Vec::new());
/// guard_core::scope(|s| {
///     let _held = s.enter(Held(&log));
///     Ok::<_, Infallible>(())
/// })
/// .unwrap();
/// assert_eq!(*log.borrow(), ["unlocked"]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a resource: guard does not know how to release it",
    label = "not a `guard::Resource`",
    note = "derive it: `#[derive(guard::Resource)]` with `#[resource(unique)]` or `#[resource(counted)]`, or implement `guard::Resource` by hand"
)]
pub trait Resource: Sized {
    /// What can go wrong while giving the resource back.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Gives the resource back, consuming it.
    ///
    /// # Errors
    ///
    /// Whatever the resource reports while being released (a failed `close(2)`, a flush that
    /// could not write, a peer that reset the connection). The resource is gone either way.
    fn release(self) -> Result<(), Self::Error>;

    /// Where this value was created, if it knows: for a report that has only the value (a
    /// unique value dropped without being released), not for releasing it. Default: `None`.
    ///
    /// A leaf resource that records its constructor's caller (`#[track_caller]`) returns
    /// that site (guard-os's files, pipes, sockets, locks and children do). A derived
    /// resource returns its `#[resource(site)]` field if it has one, else the first
    /// `#[resource]` field (in declaration order, looking into `Option`, `Box`, `Vec`,
    /// arrays and nested derived types) whose value knows its own, with the field's path
    /// ([`Created::part`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_core::{Created, Resource};
    /// use std::panic::Location;
    ///
    /// /// A connection that remembers where it was opened.
    /// struct Conn {
    ///     site: &'static Location<'static>,
    /// }
    ///
    /// impl Conn {
    ///     #[track_caller]
    ///     fn open() -> Conn {
    ///         Conn { site: Location::caller() }
    ///     }
    /// }
    ///
    /// impl Resource for Conn {
    ///     type Error = std::convert::Infallible;
    ///     fn release(self) -> Result<(), Self::Error> {
    ///         Ok(())
    ///     }
    ///     fn created(&self) -> Option<Created> {
    ///         Some(Created::new(self.site, "opened"))
    ///     }
    /// }
    ///
    /// let conn = Conn::open();
    /// assert_eq!(conn.created().unwrap().site().line(), line!() - 1);
    /// ```
    fn created(&self) -> Option<Created> {
        None
    }
}

/// Where a resource was created, as the value knows it ([`Resource::created`]): the site,
/// what happened there (`"opened"`, `"acquired"`, `"spawned"`), and, for a value made of
/// parts, the part the site came from.
///
/// `Display` gives the phrase the reports use: `created at src/x.rs:12` for the value
/// itself, `created at src/x.rs:12, where its field `log` was opened` for a part.
///
/// # Examples
///
/// ```
/// use guard_core::Created;
///
/// let opened = Created::here("opened");
/// assert_eq!(opened.part(), None);
/// let composed = opened.in_element(2).in_field("logs").in_field("journal");
/// assert_eq!(composed.part(), Some("journal.logs[2]"));
/// assert!(composed.to_string().ends_with(", where its field `journal.logs[2]` was opened"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    site: &'static Location<'static>,
    action: &'static str,
    /// The path from the value to the part whose site this is (`log`, `inner.log`,
    /// `logs[2]`); empty for the value itself.
    part: Cow<'static, str>,
}

impl Created {
    /// The value was created at `site`; `action` says what happened there, in the past
    /// tense (`"opened"`, `"created"`, `"acquired"`).
    pub const fn new(site: &'static Location<'static>, action: &'static str) -> Self {
        Created {
            site,
            action,
            part: Cow::Borrowed(""),
        }
    }

    /// The value was created at the caller's location (for a `#[track_caller]`
    /// constructor).
    #[track_caller]
    pub fn here(action: &'static str) -> Self {
        Created::new(Location::caller(), action)
    }

    /// The creation site.
    pub fn site(&self) -> &'static Location<'static> {
        self.site
    }

    /// What happened at the site (`"opened"`, `"created"`, `"acquired"`).
    pub fn action(&self) -> &'static str {
        self.action
    }

    /// The path of the part the site came from (`log`, `inner.log`, `logs[2]`), or `None`
    /// if it is the value's own.
    pub fn part(&self) -> Option<&str> {
        (!self.part.is_empty()).then_some(&*self.part)
    }

    /// The same site, seen from a value that holds this one in its field `name`.
    #[must_use]
    pub fn in_field(self, name: &'static str) -> Self {
        let part = match &*self.part {
            "" => Cow::Borrowed(name),
            inner if inner.starts_with('[') => Cow::Owned(format!("{name}{inner}")),
            inner => Cow::Owned(format!("{name}.{inner}")),
        };
        Created { part, ..self }
    }

    /// The same site, seen from a collection that holds this value at `index`.
    #[must_use]
    pub fn in_element(self, index: usize) -> Self {
        let part = match &*self.part {
            "" => format!("[{index}]"),
            inner if inner.starts_with('[') => format!("[{index}]{inner}"),
            inner => format!("[{index}].{inner}"),
        };
        Created {
            part: Cow::Owned(part),
            ..self
        }
    }
}

impl fmt::Display for Created {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "created at {}", self.site)?;
        match self.part() {
            Some(part) => write!(f, ", where its field `{part}` was {}", self.action),
            None => Ok(()),
        }
    }
}

/// A resource whose release timing matters: a lock acquisition, a writable file (close
/// reports write-back errors), a TCP stream (the peer sees FIN), a pipe's write end.
///
/// Unique resources are used through scoped guards ([`Scope::enter`](crate::Scope::enter))
/// and released at the end of their scope, synchronously, with every error returned. A
/// unique type may hold both unique and counted parts.
///
/// # Examples
///
/// ```
/// fn takes_unique<T: guard_core::UniqueResource>(_: &T) {}
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a unique resource",
    label = "its release is not declared to happen at a precise point",
    note = "unique resources are released at the end of a `guard::scope`; declare the type with `#[resource(unique)]`, or implement `guard::UniqueResource`"
)]
pub trait UniqueResource: Resource {}

/// A resource where only the count matters: a read-only fd, a listening socket, the handle
/// of an OS mutex. Its release may run later, on the finalizer thread, so the type (and
/// every part of it) must be `Send + 'static`.
///
/// Counted resources are held through [`Counted`](crate::Counted) handles; when the last
/// handle goes, the value is moved to the finalizer thread and released there, where it
/// can never deadlock against a lock the dropping thread holds.
///
/// # Examples
///
/// ```compile_fail,E0277
/// // `Rc` is not `Send`: a value holding one can never be released on another thread.
/// struct Cached(std::rc::Rc<u8>);
/// impl guard_core::Resource for Cached {
///     type Error = std::convert::Infallible;
///     fn release(self) -> Result<(), Self::Error> { Ok(()) }
/// }
/// impl guard_core::CountedResource for Cached {}
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be released later on the finalizer thread: it is not a counted resource",
    label = "not a `guard::CountedResource`",
    note = "a counted resource is released later, on another thread: declare it with `#[resource(counted)]` (every part counted or plain data, `Send + 'static`), or keep it unique and enter it in a `guard::scope`"
)]
pub trait CountedResource: Resource + Send + 'static {
    /// True if this type's [`release`](Resource::release) may run on the thread that drops
    /// the last handle. Default: `false`, and every derived type keeps it (a derive cannot
    /// see what its fields' releases do).
    ///
    /// Setting it `true` is a promise about `release` (and about dropping the value):
    ///
    /// - it takes no lock that a user's thread may hold (a `Mutex` of the program, a lock
    ///   the program's other code takes around a drop); guard's own internal locks, which
    ///   no user code runs under, do not count;
    /// - it runs no user code: no callback, no channel send to user code, no `Drop` of user
    ///   types that may do either;
    /// - it never blocks beyond its system call itself (a `close(2)`, say): it waits for no
    ///   other thread, process or timer. Where that depends on the value (a `close(2)`
    ///   waits for a FUSE daemon or an NFS server, or under `SO_LINGER`), say so per value
    ///   with [`releases_without_waiting`](Self::releases_without_waiting).
    ///
    /// It need not avoid dropping other counted values: a release that drops some is run
    /// through a per-thread trampoline, and those values go to the finalizer as usual.
    ///
    /// What it buys: a drop of the last handle that finds the finalizer idle for this
    /// thread (nothing this thread dropped is still pending) releases the value at once, on
    /// the dropping thread, as `std` does with its `Drop`, instead of waking the finalizer
    /// thread (a futex wake, and the worker's CPU before it sleeps again). When releases of
    /// this thread are still pending, the value is queued behind them as usual, so each
    /// thread's releases still happen in the order its last handles were dropped. The
    /// release is counted, reported (a failure goes to the [event hook](crate::event)) and
    /// seen by [`flush`](crate::finalizer::flush) as any other.
    ///
    /// guard-os sets it for its fd types whose release is a registry removal and a
    /// `close(2)` (a read-only file, a pipe's read end, a listening socket), not for a
    /// child process (its release waits for the process); each fd also answers
    /// `releases_without_waiting` (a file on FUSE or NFS, a connected socket: no).
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_core::{Counted, CountedResource, Resource};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// static OPEN: AtomicUsize = AtomicUsize::new(1);
    ///
    /// /// Gives a number back to a lock-free counter: no lock, no user code, no wait.
    /// struct Slot;
    /// impl Resource for Slot {
    ///     type Error = std::convert::Infallible;
    ///     fn release(self) -> Result<(), Self::Error> {
    ///         OPEN.fetch_sub(1, Ordering::SeqCst);
    ///         Ok(())
    ///     }
    /// }
    /// impl CountedResource for Slot {
    ///     const RELEASE_TAKES_NO_LOCK: bool = true;
    /// }
    ///
    /// drop(Counted::new(Slot)); // released here, or on the finalizer if it is busy
    /// guard_core::finalizer::flush().unwrap();
    /// assert_eq!(OPEN.load(Ordering::SeqCst), 0);
    /// ```
    const RELEASE_TAKES_NO_LOCK: bool = false;

    /// Whether releasing this value cannot wait for another thread, process or timer:
    /// asked, only for a type whose [`RELEASE_TAKES_NO_LOCK`](Self::RELEASE_TAKES_NO_LOCK)
    /// is true, before its release would run on the dropping thread; `false` sends it to
    /// the finalizer, so that dropping the last handle never waits (F5). The default,
    /// `true`, is for types whose release never waits whatever the value; a type whose
    /// release may (a `close(2)` that flushes to a FUSE daemon or an NFS server, lingers
    /// on a socket's unsent data, drains a terminal) answers per value. It must be cheap
    /// (it runs in the drop) and must not block: decide when the value is made.
    ///
    /// # Examples
    ///
    /// ```
    /// use guard_core::{Counted, CountedResource, Resource};
    ///
    /// /// A connection whose close waits for the peer when `lingers`.
    /// struct Conn {
    ///     lingers: bool,
    /// }
    /// impl Resource for Conn {
    ///     type Error = std::convert::Infallible;
    ///     fn release(self) -> Result<(), Self::Error> {
    ///         Ok(())
    ///     }
    /// }
    /// impl CountedResource for Conn {
    ///     const RELEASE_TAKES_NO_LOCK: bool = true;
    ///     fn releases_without_waiting(&self) -> bool {
    ///         !self.lingers
    ///     }
    /// }
    ///
    /// assert!(!Conn { lingers: true }.releases_without_waiting());
    /// drop(Counted::new(Conn { lingers: true })); // always on the finalizer
    /// ```
    fn releases_without_waiting(&self) -> bool {
        true
    }
}

/// Which discipline a live resource follows, as the registry and the report show it.
///
/// # Examples
///
/// ```
/// assert_eq!(guard_core::Kind::Counted.to_string(), "counted");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Released at a precise point, synchronously (a scope's end, an explicit release).
    Unique,
    /// Released when the last handle goes, on the finalizer thread (or on the dropping
    /// thread, for a type whose release takes no lock:
    /// [`CountedResource::RELEASE_TAKES_NO_LOCK`]).
    Counted,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Kind::Unique => "unique",
            Kind::Counted => "counted",
        })
    }
}
