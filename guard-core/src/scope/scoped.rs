//! [`scope`] and [`Scope`]: where unique resources are entered and, at the end, released.

use super::guard::Guard;
use super::held::{Held, HeldRef};
use super::state::ScopeState;
use crate::census::{self, Origin};
use crate::error::ScopeError;
use crate::resource::{Kind, Resource};
use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `body` with a [`Scope`] in which resources can be entered, then releases every
/// resource still in the scope, in reverse order of entry, and returns the body's value.
///
/// # Errors
///
/// If the body returned an error, or any release failed, the [`ScopeError`] carries the
/// body's error (if any) and every release failure, each with its resource's type name.
///
/// # Panics
///
/// If the body panics, every resource is released first, then the panic resumes. If a
/// release panics, the other releases still run, then the first such panic resumes. Only
/// one panic can resume; nothing else is dropped: whatever it cannot carry (the body's
/// error, release errors, other release panics) goes to the
/// [event hook](crate::event::set_hook), once each.
///
/// # Examples
///
/// ```
/// use guard_core::{scope, Resource, UniqueResource};
/// use std::cell::RefCell;
///
/// struct Step<'a>(&'static str, &'a RefCell<Vec<&'static str>>);
/// impl Resource for Step<'_> {
///     type Error = std::convert::Infallible;
///     fn release(self) -> Result<(), Self::Error> {
///         self.1.borrow_mut().push(self.0);
///         Ok(())
///     }
/// }
/// impl UniqueResource for Step<'_> {}
///
/// let log = RefCell::new(Vec::new());
/// let n = scope(|s| {
///     let _a = s.enter(Step("a", &log));
///     let _b = s.enter(Step("b", &log));
///     Ok::<_, std::convert::Infallible>(2)
/// })
/// .unwrap();
/// assert_eq!(n, 2);
/// assert_eq!(*log.borrow(), ["b", "a"]); // reverse order of entry
/// ```
///
/// # Lifetimes
///
/// A guard borrows the scope, so it cannot escape the closure:
///
/// ```compile_fail,E0521
/// # use guard_core::{scope, Resource, UniqueResource};
/// # struct R;
/// # impl Resource for R { type Error = std::convert::Infallible; fn release(self) -> Result<(), Self::Error> { Ok(()) } }
/// # impl UniqueResource for R {}
/// let mut escaped = None;
/// let _ = scope(|s| {
///     escaped = Some(s.enter(R)); // error: borrowed data escapes the closure
///     Ok::<_, std::convert::Infallible>(())
/// });
/// ```
pub fn scope<'env, F, T, E>(body: F) -> Result<T, ScopeError<E>>
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> Result<T, E>,
    E: fmt::Debug,
{
    let scope = Scope {
        inner: ScopeState::new(),
        _env: PhantomData,
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| body(&scope)));
    scope.inner.release_all();
    match (outcome, scope.inner.finish()) {
        (Ok(result), None) => result.map_err(|e| ScopeError::new(Some(e), Vec::new())),
        (outcome, trouble) => trouble.unwrap_or_default().resolve(outcome),
    }
}

/// A scope to enter resources in, borrowed by the closure given to [`scope`].
///
/// `'scope` is the scope's own lifetime (guards borrow it); `'env` is what entered
/// resources may borrow from. Both are invariant.
pub struct Scope<'scope, 'env: 'scope> {
    inner: ScopeState<'scope>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl<'scope> Scope<'scope, '_> {
    /// Moves `resource` into the scope and returns a guard to use it through. The resource
    /// is released when the guard is dropped or [released](Guard::release), or at the end
    /// of the scope if the guard was forgotten, and it is counted as live in the
    /// [report](crate::report()) (by type and this call's site) until then.
    ///
    /// # Examples
    ///
    /// ```
    /// # use guard_core::{scope, Resource, UniqueResource};
    /// struct Buf(Vec<u8>);
    /// impl Resource for Buf {
    ///     type Error = std::convert::Infallible;
    ///     fn release(self) -> Result<(), Self::Error> { Ok(()) }
    /// }
    /// impl UniqueResource for Buf {}
    ///
    /// scope(|s| {
    ///     let mut buf = s.enter(Buf(Vec::new()));
    ///     buf.0.push(1); // Deref/DerefMut reach the resource
    ///     assert_eq!(buf.0, [1]);
    ///     Ok::<_, std::convert::Infallible>(())
    /// })
    /// .unwrap();
    /// ```
    #[track_caller]
    pub fn enter<T: Resource + 'scope>(&'scope self, resource: T) -> Guard<'scope, T> {
        let count = census::enter_on_thread(Origin::here::<T>(Kind::Unique));
        let held = self.inner.place(Held::new(resource, count));
        Guard::new(HeldRef::new(held, &self.inner))
    }
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}
