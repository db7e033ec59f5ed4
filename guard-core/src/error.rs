//! Errors: what went wrong, with enough context to act on it, and nothing dropped.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// A boxed error as guard stores it: any error that can cross threads.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// `Result` with guard-core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error guard-core produces, for callers who want one type (`?` converts into it).
///
/// # Examples
///
/// ```
/// fn run() -> guard_core::Result<u32> {
///     let n = guard_core::scope(|_s| Ok::<_, std::io::Error>(7))?;
///     Ok(n)
/// }
/// assert_eq!(run().unwrap(), 7);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A scope's body failed, or some of its releases did (or both).
    #[error(transparent)]
    Scope(Box<ScopeError<Error>>),
    /// Waiting for the finalizer failed.
    #[error(transparent)]
    Flush(#[from] FlushError),
    /// Releasing one resource failed.
    #[error(transparent)]
    Release(#[from] ReleaseFailure),
    /// Several parts of one resource failed to release.
    #[error(transparent)]
    Parts(#[from] ReleaseErrors),
    /// An I/O operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Any other error, passed through with its source chain intact.
    #[error(transparent)]
    Other(BoxError),
}

impl<E: StdError + Send + Sync + 'static> From<ScopeError<E>> for Error {
    fn from(error: ScopeError<E>) -> Self {
        Error::Scope(Box::new(error.map_body(|e| Error::Other(Box::new(e)))))
    }
}

/// A resource that failed to release: which type it was and why.
///
/// # Examples
///
/// ```
/// let failure = guard_core::ReleaseFailure::new("app::Journal", std::io::Error::other("disk full"));
/// assert_eq!(failure.to_string(), "releasing `app::Journal` failed: disk full");
/// ```
///
/// The message names the resource once: a derived resource's [`ReleaseErrors`], which
/// names it already, is not named again.
///
/// ```
/// let mut parts = guard_core::ReleaseErrors::new("app::Journal");
/// parts.push("file", std::io::Error::other("EIO"));
/// let failure = guard_core::ReleaseFailure::new("app::Journal", parts);
/// assert_eq!(failure.to_string(), "releasing `app::Journal` failed in `file`: EIO");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{}", Failure { kind: None, resource, error: &**error })]
pub struct ReleaseFailure {
    resource: &'static str,
    #[source]
    error: BoxError,
}

impl ReleaseFailure {
    /// A failure of the resource of type `resource` (its type name).
    pub fn new(resource: &'static str, error: impl Into<BoxError>) -> Self {
        ReleaseFailure {
            resource,
            error: error.into(),
        }
    }

    /// The type name of the resource that failed to release.
    pub fn resource(&self) -> &'static str {
        self.resource
    }

    /// The error its release returned (or the [`Panicked`] it raised).
    pub fn error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.error
    }

    /// The error, owned.
    pub fn into_error(self) -> BoxError {
        self.error
    }
}

/// A panic caught while releasing a resource, turned into an error so that it can be
/// reported and counted like one.
///
/// # Examples
///
/// ```
/// let p = guard_core::Panicked::from_payload(&*Box::new("boom") as &(dyn std::any::Any + Send));
/// assert_eq!(p.to_string(), "panicked: boom");
/// ```
#[derive(Debug, Clone)]
pub struct Panicked {
    message: String,
    field: Option<String>,
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "panicked in `{field}`: {}", self.message),
            None => write!(f, "panicked: {}", self.message),
        }
    }
}

impl StdError for Panicked {}

thread_local! {
    /// The last panic a derived release resumed on this thread: its payload's address, its
    /// message (together they make a stale match all but impossible) and the field path.
    static PANICKED_FIELD: std::cell::RefCell<Option<(usize, String, String)>> =
        const { std::cell::RefCell::new(None) };
}

/// The address a payload is recognised by (the same box is resumed and caught again).
fn payload_address(payload: &(dyn std::any::Any + Send)) -> usize {
    std::ptr::from_ref(payload).cast::<()>() as usize
}

impl Panicked {
    /// Reads the message out of a panic payload (`&str` or `String`; anything else is
    /// described as an opaque payload). The payload itself is not dropped here.
    pub fn from_payload(payload: &(dyn std::any::Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "<non-string panic payload>".to_owned()
        };
        let address = payload_address(payload);
        let field = PANICKED_FIELD
            .try_with(|last| match &*last.borrow() {
                Some((at, text, field)) if *at == address && *text == message => {
                    Some(field.clone())
                }
                _ => None,
            })
            .ok()
            .flatten();
        Panicked { message, field }
    }

    /// The panic message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The field of a derived resource whose release raised the panic (`file`, or
    /// `inner.file` through a derived field), if the panic came from one.
    ///
    /// # Examples
    ///
    /// ```
    /// let payload: Box<dyn std::any::Any + Send> = Box::new("boom");
    /// guard_core::Panicked::mark_field(&*payload, "file");
    /// let p = guard_core::Panicked::from_payload(&*payload);
    /// assert_eq!(p.field(), Some("file"));
    /// assert_eq!(p.to_string(), "panicked in `file`: boom");
    /// ```
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// Records, on this thread, that `payload` was raised by releasing the part `field`;
    /// the next [`from_payload`](Self::from_payload) of the same payload on this thread
    /// names it. The derive's generated release calls this before it resumes the panic
    /// (the payload itself stays the user's).
    pub fn mark_field(payload: &(dyn std::any::Any + Send), field: &str) {
        let message = Panicked::from_payload(payload);
        let field = match message.field {
            Some(inner) => format!("{field}.{inner}"),
            None => field.to_owned(),
        };
        let entry = (payload_address(payload), message.message, field);
        let _ = PANICKED_FIELD.try_with(|last| *last.borrow_mut() = Some(entry));
    }
}

/// The errors of one derived resource whose parts failed to release: each with the field
/// it came from. Every part was attempted; none of the errors is dropped.
///
/// # Examples
///
/// ```
/// use guard_core::ReleaseErrors;
/// let mut errors = ReleaseErrors::new("app::Journal");
/// errors.push("file", std::io::Error::other("EIO"));
/// errors.push("index", std::io::Error::other("EBADF"));
/// assert_eq!(errors.to_string(), "releasing `app::Journal` failed in 2 parts: `file`: EIO; `index`: EBADF");
/// ```
#[derive(Debug)]
pub struct ReleaseErrors {
    resource: &'static str,
    parts: Vec<(&'static str, BoxError)>,
}

impl ReleaseErrors {
    /// An empty set of failures for the resource type `resource`.
    pub fn new(resource: &'static str) -> Self {
        ReleaseErrors {
            resource,
            parts: Vec::new(),
        }
    }

    /// Records that the part `field` failed with `error`.
    pub fn push(&mut self, field: &'static str, error: impl Into<BoxError>) {
        self.parts.push((field, error.into()));
    }

    /// `Ok(())` if no part failed, else `Err(self)`.
    ///
    /// # Errors
    ///
    /// `self`, when at least one part failed.
    pub fn into_result(self) -> std::result::Result<(), Self> {
        if self.parts.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// The type name of the resource whose parts failed.
    pub fn resource(&self) -> &'static str {
        self.resource
    }

    /// Each failed part: the field name and its error, in the order the parts were released.
    /// The errors can be downcast to their concrete types.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut errors = guard_core::ReleaseErrors::new("app::Journal");
    /// errors.push("file", std::io::Error::from_raw_os_error(5));
    /// let (field, error) = errors.parts().next().unwrap();
    /// assert_eq!(field, "file");
    /// assert_eq!(error.downcast_ref::<std::io::Error>().unwrap().raw_os_error(), Some(5));
    /// ```
    pub fn parts(
        &self,
    ) -> impl ExactSizeIterator<Item = (&'static str, &(dyn StdError + Send + Sync + 'static))>
    {
        self.parts.iter().map(|(f, e)| (*f, &**e as _))
    }

    /// Takes every failed part: the field name and its error, in release order.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut errors = guard_core::ReleaseErrors::new("app::Journal");
    /// errors.push("file", std::io::Error::other("EIO"));
    /// errors.push("index", std::io::Error::other("EBADF"));
    /// let fields: Vec<_> = errors.into_parts().into_iter().map(|(f, _)| f).collect();
    /// assert_eq!(fields, ["file", "index"]);
    /// ```
    pub fn into_parts(self) -> Vec<(&'static str, BoxError)> {
        self.parts
    }

    /// Number of parts that failed.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// True if no part failed.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Writes what follows "releasing `X` failed": where, and why.
    fn write_parts(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parts.as_slice() {
            [] => Ok(()),
            [(field, e)] => write!(f, " in `{field}`: {e}"),
            parts => {
                write!(f, " in {} parts: ", parts.len())?;
                for (i, (field, e)) in parts.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "; " };
                    write!(f, "{sep}`{field}`: {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for ReleaseErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "releasing `{}` failed", self.resource)?;
        self.write_parts(f)
    }
}

/// The source is the one part's error when exactly one part failed. With several there is
/// no single cause: the message lists them all, and [`parts`](ReleaseErrors::parts) gives
/// each one (a source chain would show the first twice and hide the others).
impl StdError for ReleaseErrors {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self.parts.as_slice() {
            [(_, e)] => Some(&**e as _),
            _ => None,
        }
    }
}

impl<'a> IntoIterator for &'a ReleaseErrors {
    type Item = (&'static str, &'a (dyn StdError + Send + Sync + 'static));
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (&'static str, BoxError)>,
        fn(&'a (&'static str, BoxError)) -> Self::Item,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.parts.iter().map(|(f, e)| (*f, &**e as _))
    }
}

/// "releasing [kind ]`resource` failed", then the error: a [`ReleaseErrors`] of the same
/// resource adds only its parts (it names the resource already), anything else `: error`.
pub(crate) struct Failure<'a> {
    pub(crate) kind: Option<crate::resource::Kind>,
    pub(crate) resource: &'a str,
    pub(crate) error: &'a (dyn StdError + 'static),
}

impl fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resource = self.resource;
        match self.kind {
            Some(kind) => write!(f, "releasing {kind} `{resource}` failed")?,
            None => write!(f, "releasing `{resource}` failed")?,
        }
        match self.error.downcast_ref::<ReleaseErrors>() {
            Some(parts) if parts.resource == resource => parts.write_parts(f),
            _ => write!(f, ": {}", self.error),
        }
    }
}

/// What a [`scope`](crate::scope) returns when its body failed, a release failed, or both:
/// the body's error and every release error, none dropped (Java's suppressed exceptions).
///
/// If the body succeeded but a release failed, the body's value is dropped and
/// [`body`](Self::body) is `None`: the scope as a whole failed.
///
/// # Examples
///
/// ```
/// use guard_core::{scope, Resource, UniqueResource};
///
/// struct Flaky;
/// impl Resource for Flaky {
///     type Error = std::io::Error;
///     fn release(self) -> std::io::Result<()> { Err(std::io::Error::other("EIO on close")) }
/// }
/// impl UniqueResource for Flaky {}
///
/// let err = scope(|s| {
///     let _f = s.enter(Flaky);
///     Err::<(), _>(std::io::Error::other("body failed"))
/// })
/// .unwrap_err();
/// assert_eq!(err.body().unwrap().to_string(), "body failed");
/// assert_eq!(err.releases().len(), 1);
/// assert!(err.to_string().contains("EIO on close"));
/// ```
pub struct ScopeError<E> {
    body: Option<E>,
    releases: Vec<ReleaseFailure>,
}

impl<E> ScopeError<E> {
    pub(crate) fn new(body: Option<E>, releases: Vec<ReleaseFailure>) -> Self {
        ScopeError { body, releases }
    }

    /// A scope error from its parts, for scopes built outside guard-core (guard-tokio's
    /// async scope): the inverse of [`into_parts`](Self::into_parts).
    ///
    /// # Examples
    ///
    /// ```
    /// let failure = guard_core::ReleaseFailure::new("app::Conn", std::io::Error::other("EPIPE"));
    /// let err = guard_core::ScopeError::from_parts(Some("body failed"), vec![failure]);
    /// assert_eq!(err.body(), Some(&"body failed"));
    /// assert_eq!(err.releases().len(), 1);
    /// ```
    pub fn from_parts(body: Option<E>, releases: Vec<ReleaseFailure>) -> Self {
        ScopeError { body, releases }
    }

    /// The body's error, if the body failed.
    pub fn body(&self) -> Option<&E> {
        self.body.as_ref()
    }

    /// Takes the body's error, if the body failed.
    pub fn into_body(self) -> Option<E> {
        self.body
    }

    /// Every release that failed, in the order the releases ran.
    pub fn releases(&self) -> &[ReleaseFailure] {
        &self.releases
    }

    /// Splits into the body's error and the release failures.
    pub fn into_parts(self) -> (Option<E>, Vec<ReleaseFailure>) {
        (self.body, self.releases)
    }

    /// Converts the body's error, keeping the release failures.
    pub fn map_body<F>(self, f: impl FnOnce(E) -> F) -> ScopeError<F> {
        ScopeError {
            body: self.body.map(f),
            releases: self.releases,
        }
    }
}

impl<E: fmt::Display> fmt::Display for ScopeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.body {
            Some(e) => write!(f, "scope failed: {e}")?,
            None => f.write_str("scope released with errors")?,
        }
        let n = self.releases.len();
        if n > 0 {
            let s = if n == 1 { "" } else { "s" };
            write!(f, "; {n} release error{s}:")?;
            for (i, r) in self.releases.iter().enumerate() {
                let sep = if i == 0 { " " } else { "; " };
                write!(f, "{sep}{r}")?;
            }
        }
        Ok(())
    }
}

impl<E: fmt::Debug> fmt::Debug for ScopeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeError")
            .field("body", &self.body)
            .field("releases", &self.releases)
            .finish()
    }
}

impl<E: StdError + 'static> StdError for ScopeError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.body {
            Some(e) => Some(e),
            None => self.releases.first().map(|r| r as _),
        }
    }
}

/// Why waiting for the finalizer ([`flush`](crate::finalizer::flush)) did not succeed.
///
/// # Examples
///
/// ```
/// let e = guard_core::FlushError::InFinalizer;
/// assert!(e.to_string().contains("finalizer thread"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// `flush` was called from a release running on the finalizer thread: waiting there
    /// would wait for itself.
    #[error("flush called from the finalizer thread: it would wait for itself")]
    InFinalizer,
    /// The deadline passed before everything dropped before the call was released.
    #[error("flush timed out after {waited:?} with {pending} releases pending")]
    Timeout {
        /// How long the call waited.
        waited: Duration,
        /// Releases still pending when it gave up.
        pending: u64,
    },
    /// Everything else was released, but some releases are stuck (they outlived the
    /// finalizer's deadline and still have not returned).
    #[error("{stuck} release(s) stuck on abandoned finalizer workers")]
    Stuck {
        /// How many releases are still stuck.
        stuck: u64,
    },
}
