//! Guards: the borrowed handle to a resource entered in a [`Scope`](crate::Scope).

use super::held::HeldRef;
use super::outcome::Outcome;
use crate::resource::Resource;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

/// Access to a resource entered in a [`Scope`](crate::Scope), borrowed from the scope.
///
/// The resource is released, exactly once, at the first of: [`release`](Self::release)
/// (the error comes back to the caller), the guard's drop (the error goes into the scope's
/// result), or the end of the scope (if the guard was forgotten). A guard cannot outlive
/// its scope, and is neither `Send` nor `Sync`: use `&*guard` to share the resource itself.
///
/// # Examples
///
/// ```
/// # use guard_core::{scope, Resource, UniqueResource};
/// struct Conn(&'static str);
/// impl Resource for Conn {
///     type Error = std::io::Error;
///     fn release(self) -> std::io::Result<()> {
///         Err(std::io::Error::other(format!("{}: peer reset", self.0)))
///     }
/// }
/// impl UniqueResource for Conn {}
///
/// scope(|s| {
///     let conn = s.enter(Conn("db"));
///     assert_eq!(conn.0, "db");
///     let err = conn.release().unwrap_err(); // early release: the error is ours to handle
///     assert_eq!(err.to_string(), "db: peer reset");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap(); // nothing left to release, so the scope succeeds
/// ```
///
/// A guard stays on the scope's thread (it is not `Send`):
///
/// ```compile_fail,E0277
/// # use guard_core::{scope, Resource, UniqueResource};
/// # struct Conn;
/// # impl Resource for Conn { type Error = std::convert::Infallible; fn release(self) -> Result<(), Self::Error> { Ok(()) } }
/// # impl UniqueResource for Conn {}
/// fn send<T: Send>(_: T) {}
/// scope(|s| {
///     send(s.enter(Conn)); // error: `Guard` cannot be sent between threads
///     Ok::<_, std::convert::Infallible>(())
/// })
/// .unwrap();
/// ```
#[must_use = "dropping a guard at once releases its resource at once"]
pub struct Guard<'scope, T: Resource + 'scope> {
    held: HeldRef<'scope, T>,
    /// Invariant in `T`: a guard must not let a shorter-lived value be written into a slot
    /// the scope releases later.
    _invariant: PhantomData<fn(T) -> T>,
}

impl<'scope, T: Resource + 'scope> Guard<'scope, T> {
    pub(crate) fn new(held: HeldRef<'scope, T>) -> Self {
        Guard {
            held,
            _invariant: PhantomData,
        }
    }

    /// Releases the resource now and returns its error, instead of recording it in the
    /// scope's result.
    ///
    /// # Errors
    ///
    /// The resource's own release error.
    pub fn release(mut self) -> Result<(), T::Error> {
        match self.held.take() {
            Some(value) => value.release(),
            None => Ok(()),
        }
    }

    /// Takes the resource back out of the scope: the scope will not release it, and the
    /// caller becomes responsible for it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use guard_core::{scope, Resource, UniqueResource};
    /// # struct Token(u32);
    /// # impl Resource for Token { type Error = std::convert::Infallible; fn release(self) -> Result<(), Self::Error> { Ok(()) } }
    /// # impl UniqueResource for Token {}
    /// let token = scope(|s| {
    ///     let g = s.enter(Token(5));
    ///     Ok::<_, std::convert::Infallible>(g.into_inner())
    /// })
    /// .unwrap();
    /// assert_eq!(token.0, 5);
    /// ```
    pub fn into_inner(mut self) -> T {
        match self.held.take() {
            Some(value) => value,
            None => unreachable!("a guard's resource is present until the guard is consumed"),
        }
    }
}

impl<'scope, T: Resource + 'scope> Deref for Guard<'scope, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.held.get()
    }
}

impl<'scope, T: Resource + 'scope> DerefMut for Guard<'scope, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.held.get_mut()
    }
}

impl<'scope, T: Resource + 'scope> Drop for Guard<'scope, T> {
    /// Releases the resource now; an error or panic is recorded in the scope's result.
    fn drop(&mut self) {
        if let Some(value) = self.held.take() {
            self.held.scope().record(Outcome::of(value));
        }
    }
}

impl<'scope, T: Resource + fmt::Debug + 'scope> fmt::Debug for Guard<'scope, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Guard").field(self.held.get()).finish()
    }
}
