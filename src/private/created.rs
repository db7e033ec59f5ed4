//! What the derive's `Resource::created` and unique `Drop` use: the report of a value
//! dropped unreleased, the `#[resource(site)]` field's check, and the probes that ask a
//! field's value by reference where its type allows (autoref specialization: an inherent
//! method where the bound holds, a trait's fallback elsewhere).

use guard_core::{Created, Resource};
use std::marker::PhantomData;
use std::panic::Location;

/// Reports a derived unique value of type `resource` dropped without being released (the
/// derive's `Drop` impl calls it): to the event hook and the report, as a leaf resource's
/// `Drop` reports itself. `created` is what the value knows of its creation site (its
/// `#[resource(site)]` field, or a part's); `defined_at` is the derive's line, reported as
/// where the type is defined when `created` is `None`.
#[cold]
pub fn dropped_unreleased(
    resource: &'static str,
    created: Option<Created>,
    defined_at: &'static Location<'static>,
) {
    guard_core::report::unreleased_value(resource, created, defined_at);
}

/// The creation site in a `#[resource(site)]` field.
pub fn site_field<T: SiteField + ?Sized>(field: &T) -> Created {
    Created::new(field.location(), "created")
}

/// The type of a `#[resource(site)]` field: `&'static Location<'static>`.
#[diagnostic::on_unimplemented(
    message = "`#[resource(site)]` marks a field of type `&'static std::panic::Location<'static>`, not `{Self}`",
    label = "the creation site must be a `&'static std::panic::Location<'static>`",
    note = "fill the field with `std::panic::Location::caller()` in a `#[track_caller]` constructor: the reports then name the constructor's caller"
)]
pub trait SiteField {
    /// The site.
    fn location(&self) -> &'static Location<'static>;
}

impl SiteField for &'static Location<'static> {
    fn location(&self) -> &'static Location<'static> {
        self
    }
}

/// Asks a `#[resource]` field's value (of type `T`) where it was created: the inherent
/// `created` applies where `T` is known to be a resource; elsewhere (a generic field in
/// the derive's `Drop`, which may not add bounds; a field that is not a resource, already
/// reported by the release) [`NoCreated`]'s answers `None`.
pub struct CreatedProbe<'a, T: ?Sized>(&'a T);

impl<'a, T: ?Sized> CreatedProbe<'a, T> {
    /// A probe for `value`.
    pub fn new(value: &'a T) -> Self {
        CreatedProbe(value)
    }
}

impl<T: Resource> CreatedProbe<'_, T> {
    /// The value's own answer ([`Resource::created`]).
    pub fn created(&self) -> Option<Created> {
        self.0.created()
    }
}

impl<T: ?Sized> std::fmt::Debug for CreatedProbe<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CreatedProbe")
    }
}

/// The fallback of [`CreatedProbe::created`]: no site known.
pub trait NoCreated {
    /// `None`.
    fn created(&self) -> Option<Created> {
        None
    }
}
impl<T: ?Sized> NoCreated for CreatedProbe<'_, T> {}

/// Looks into a `#[resource]` field of type `C` holding `T`s (by reference, for
/// [`Resource::created`]): `one` for `Option` and `Box`, `many` for `Vec`, arrays and
/// boxed slices. A type that only looks like one of them by name (already reported by the
/// release) gets [`LookElse`]'s: nothing.
pub struct Look<'a, C: ?Sized, T>(&'a C, PhantomData<fn() -> T>);

impl<'a, C: ?Sized, T> Look<'a, C, T> {
    /// Looks into `field`.
    pub fn new(field: &'a C) -> Self {
        Look(field, PhantomData)
    }
}

impl<'a, T> Look<'a, Option<T>, T> {
    /// The value, if any.
    pub fn one(&self) -> Option<&'a T> {
        self.0.as_ref()
    }
}

impl<'a, T> Look<'a, Box<T>, T> {
    /// The boxed value.
    pub fn one(&self) -> Option<&'a T> {
        Some(&**self.0)
    }
}

impl<'a, T> Look<'a, Vec<T>, T> {
    /// The elements.
    pub fn many(&self) -> &'a [T] {
        self.0
    }
}

impl<'a, T, const N: usize> Look<'a, [T; N], T> {
    /// The elements.
    pub fn many(&self) -> &'a [T] {
        self.0
    }
}

impl<'a, T> Look<'a, Box<[T]>, T> {
    /// The elements.
    pub fn many(&self) -> &'a [T] {
        self.0
    }
}

impl<C: ?Sized, T> std::fmt::Debug for Look<'_, C, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Look")
    }
}

/// The fallback of [`Look`]'s methods: nothing inside.
pub trait LookElse<'a, T: 'a> {
    /// Nothing.
    fn one(&self) -> Option<&'a T> {
        None
    }
    /// Nothing.
    fn many(&self) -> &'a [T] {
        Default::default()
    }
}
impl<'a, C: ?Sized, T: 'a> LookElse<'a, T> for Look<'a, C, T> {}
