//! [`Origin`]: what a resource is (its kind and type) and where it was created.

use crate::resource::Kind;
use std::panic::Location;

/// Where a resource comes from: its kind, type name and creation site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    kind: Kind,
    type_name: &'static str,
    site: &'static Location<'static>,
}

impl Origin {
    /// An origin for a resource of type `T`, created at the caller's location.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = guard_core::census::Origin::here::<std::fs::File>(guard_core::Kind::Unique);
    /// assert_eq!(o.type_name(), "std::fs::File");
    /// assert!(o.site().file().ends_with(".rs"));
    /// ```
    #[track_caller]
    pub fn here<T: ?Sized>(kind: Kind) -> Self {
        Origin::new(kind, std::any::type_name::<T>(), Location::caller())
    }

    /// An origin from its parts.
    pub const fn new(
        kind: Kind,
        type_name: &'static str,
        site: &'static Location<'static>,
    ) -> Self {
        Origin {
            kind,
            type_name,
            site,
        }
    }

    /// The discipline the resource follows.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The resource's type name.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// Where the resource was created (registered).
    pub fn site(&self) -> &'static Location<'static> {
        self.site
    }
}
