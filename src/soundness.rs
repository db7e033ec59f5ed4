//! Soundness claims about the facade's types, proved by doctests (built only for
//! `cargo test --doc`). Each `compile_fail` names its error code, so that a typo in the
//! snippet cannot pass for the claim, and each has a twin that compiles.

/// A [`Guard`](crate::Guard) is not `Send`: the scope that releases its resource at its end
/// runs on the thread that entered it, so the guard cannot be moved to another thread.
///
/// ```compile_fail,E0277
/// # struct R;
/// # impl guard::Resource for R {
/// #     type Error = std::convert::Infallible;
/// #     fn release(self) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// # impl guard::UniqueResource for R {}
/// fn assert_send<T: Send>() {}
/// assert_send::<guard::Guard<'static, R>>(); // error[E0277]: cannot be sent between threads
/// ```
///
/// The resource itself is `Send`, and so is a counted handle to it:
///
/// ```
/// # struct R;
/// # impl guard::Resource for R {
/// #     type Error = std::convert::Infallible;
/// #     fn release(self) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// # impl guard::UniqueResource for R {}
/// # impl guard::CountedResource for R {}
/// fn assert_send<T: Send>() {}
/// assert_send::<R>();
/// assert_send::<guard::Counted<R>>();
/// ```
pub struct GuardIsNotSend;

/// A [`Guard`](crate::Guard) is not `Sync` either: share the resource (`&*guard`), not
/// the guard, whose release goes through its scope.
///
/// ```compile_fail,E0277
/// # struct R;
/// # impl guard::Resource for R {
/// #     type Error = std::convert::Infallible;
/// #     fn release(self) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// # impl guard::UniqueResource for R {}
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<guard::Guard<'static, R>>(); // error[E0277]: cannot be shared between threads
/// ```
///
/// ```
/// # struct R;
/// # impl guard::Resource for R {
/// #     type Error = std::convert::Infallible;
/// #     fn release(self) -> Result<(), Self::Error> { Ok(()) }
/// # }
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<R>();
/// ```
pub struct GuardIsNotSync;
