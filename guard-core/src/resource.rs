//! What a resource is: a value that says how it is given back ([`Resource`]) and which of
//! the two disciplines it follows ([`UniqueResource`] or [`CountedResource`]).

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
pub trait CountedResource: Resource + Send + 'static {}

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
    /// Released when the last handle goes, on the finalizer thread.
    Counted,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Kind::Unique => "unique",
            Kind::Counted => "counted",
        })
    }
}
