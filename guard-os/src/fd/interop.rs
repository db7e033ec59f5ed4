//! Conversions between the typed wrappers and `OwnedFd` or their std counterparts, both
//! ways, as socket2 and os_pipe have them: [`counted_interop!`] and [`unique_interop!`],
//! and [`IntoOwnedError`], which gives a unique wrapper back when it cannot be handed over.
//!
//! On the way in, the fd gets `FD_CLOEXEC` (as [`Fd::adopt`] sets it) and is registered as
//! the wrapper's type, created at the caller. On the way out, it leaves the registry: the
//! caller gets a duplicate (same open file description, `FD_CLOEXEC` set) and the
//! registered number is closed, for the reason [`Fd::into_owned`] gives (a
//! [`for_each`](crate::Fds::for_each) visit may hold the number).

use super::{Fd, FdOwner, UniqueFd, retry_on_pressure};
use crate::error::{self, Error, Result};
use crate::sys;
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::Location;

/// Registers `owned` (made by other code) as a `ty` created at `site`, with `FD_CLOEXEC`.
pub(crate) fn adopt_as(owned: OwnedFd, ty: FdOwner, site: &'static Location<'static>) -> Fd {
    // Only EBADF can fail F_SETFD, and an `OwnedFd` is open (I/O safety).
    let _ = sys::set_cloexec(&owned);
    Fd::register(owned, ty, site)
}

/// Hands a unique wrapper's fd over: `prepare` (a `WriteFile` writes its buffer out), a
/// duplicate, then the registered number closed (its error, which cannot lose data with a
/// duplicate open, goes to the event hook). On an error nothing is taken: the value comes
/// back, whole.
pub(crate) fn give_away<T>(
    mut value: T,
    fd: fn(&mut T) -> &mut UniqueFd,
    prepare: fn(&mut T) -> Result<()>,
) -> std::result::Result<OwnedFd, IntoOwnedError<T>> {
    if let Err(error) = prepare(&mut value) {
        return Err(IntoOwnedError { value, error });
    }
    let registered = fd(&mut value).get();
    let n = registered.as_raw_fd();
    let dup = match retry_on_pressure(|| sys::dup_cloexec(registered)) {
        Ok(dup) => dup,
        Err(source) => {
            let error = Error::Dup { fd: n, source };
            return Err(IntoOwnedError { value, error });
        }
    };
    let taken = fd(&mut value).take();
    drop(value); // its fd is taken: its drop releases nothing
    if let Some(fd) = taken {
        let ty = fd.ty();
        if let Err(e) = fd.close() {
            error::report(ty.type_name(), ty.kind(), &e);
        }
    }
    Ok(dup)
}

/// Why a unique wrapper could not be handed over to std or to an `OwnedFd`, with the
/// wrapper given back, still registered and still owing its release.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// let mut full = guard_os::WriteFile::append("/dev/full")?;
/// full.write_all(b"x")?; // buffered
/// let err = std::fs::File::try_from(full).unwrap_err(); // the buffer cannot be written out
/// assert_eq!(err.error().raw_os_error(), Some(libc::ENOSPC));
/// let full: guard_os::WriteFile = err.into_inner(); // back, buffer and all
/// assert!(full.close().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct IntoOwnedError<T> {
    value: T,
    error: Error,
}

impl<T> IntoOwnedError<T> {
    /// Why the hand-over failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// let mut full = guard_os::WriteFile::append("/dev/full")?;
    /// full.write_all(b"x")?;
    /// let err = std::os::fd::OwnedFd::try_from(full).unwrap_err();
    /// assert!(matches!(err.error(), guard_os::Error::Flush { .. }));
    /// # let _ = err.into_inner().close();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The wrapper, unchanged but for what `prepare` did (a `WriteFile` keeps the bytes
    /// it could not write).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// let mut full = guard_os::WriteFile::append("/dev/full")?;
    /// full.write_all(b"x")?;
    /// let full = std::fs::File::try_from(full).unwrap_err().into_inner();
    /// # let _ = full.close();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The wrapper and the error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// let mut full = guard_os::WriteFile::append("/dev/full")?;
    /// full.write_all(b"x")?;
    /// let (full, error) = std::fs::File::try_from(full).unwrap_err().into_parts();
    /// assert_eq!(error.raw_os_error(), Some(libc::ENOSPC));
    /// # let _ = full.close();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_parts(self) -> (T, Error) {
        (self.value, self.error)
    }
}

impl<T> fmt::Debug for IntoOwnedError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoOwnedError")
            .field("type", &std::any::type_name::<T>())
            .field("error", &self.error)
            .finish()
    }
}

impl<T> fmt::Display for IntoOwnedError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "handing a {} over failed: {}",
            std::any::type_name::<T>(),
            self.error
        )
    }
}

impl<T> std::error::Error for IntoOwnedError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<T> From<IntoOwnedError<T>> for Error {
    /// The error; the wrapper is dropped, so released (see its `Drop`).
    fn from(e: IntoOwnedError<T>) -> Error {
        e.error
    }
}

/// For a counted wrapper `$ty` with a field `fd: Fd` and the std type `$std`:
/// `From<$std>`, `From<OwnedFd>` (both registering), `From<$ty> for OwnedFd` and
/// `From<$ty> for $std` (both deregistering). `$make` builds `$ty` from `$fd: Fd`;
/// `$theirs` is example code for a `$std`.
macro_rules! counted_interop {
    ($ty:ident, $std:path, |$fd:ident| $make:expr, $theirs:literal) => {
        impl ::core::convert::From<$std> for $ty {
            /// Registers a std value's fd as this type, created at the caller, with
            /// `FD_CLOEXEC` set; not checked further, as std's `From<OwnedFd>` is not.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = ::core::concat!("let theirs = ", $theirs, ";")]
            /// let before = guard_os::fds().len();
            #[doc = ::core::concat!("let ours = guard_os::", ::core::stringify!($ty), "::from(theirs);")]
            /// assert_eq!(guard_os::fds().len(), before + 1); // registered
            #[doc = ::core::concat!("let back = ", ::core::stringify!($std), "::from(ours);")]
            /// assert_eq!(guard_os::fds().len(), before); // deregistered: std owns it
            /// # drop(back);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            #[track_caller]
            fn from(theirs: $std) -> $ty {
                <$ty as ::core::convert::From<::std::os::fd::OwnedFd>>::from(theirs.into())
            }
        }

        impl ::core::convert::From<::std::os::fd::OwnedFd> for $ty {
            /// Registers `fd` as this type, created at the caller, with `FD_CLOEXEC` set;
            /// not checked to be of the right kind (as std's `From<OwnedFd>`).
            #[track_caller]
            fn from(fd: ::std::os::fd::OwnedFd) -> $ty {
                let site = ::std::panic::Location::caller();
                let $fd = $crate::fd::adopt_as(fd, $crate::fd::FdOwner::$ty, site);
                $make
            }
        }

        impl ::core::convert::From<$ty> for ::std::os::fd::OwnedFd {
            /// Takes the fd out of the registry, as [`Fd::into_owned`](crate::Fd::into_owned):
            /// a duplicate, the registered number closed.
            ///
            /// # Panics
            ///
            /// If no duplicate can be made: the process is out of fds even after draining
            /// the finalizer.
            fn from(ours: $ty) -> ::std::os::fd::OwnedFd {
                ::std::os::fd::OwnedFd::from(ours.fd)
            }
        }

        impl ::core::convert::From<$ty> for $std {
            /// Takes the fd out of the registry, as `From<$ty> for OwnedFd`; see there.
            ///
            /// # Panics
            ///
            /// If no duplicate can be made: the process is out of fds even after draining
            /// the finalizer.
            fn from(ours: $ty) -> $std {
                <$std>::from(::std::os::fd::OwnedFd::from(ours))
            }
        }
    };
}

/// For a unique wrapper `$ty` and its std type `$std`: `From<$std>` and `From<OwnedFd>`
/// (registering), `TryFrom<$ty> for OwnedFd` and `for $std` (deregistering, giving the
/// wrapper back on an error). `$make` builds `$ty` from `$owned: OwnedFd` and `$site`;
/// `$slot` reaches its `UniqueFd`; `$prepare` runs first (`Ok(())` but for `WriteFile`).
macro_rules! unique_interop {
    (
        $ty:ident, $std:path,
        |$owned:ident, $site:ident| $make:expr,
        |$t:ident| $slot:expr,
        $prepare:expr,
        $theirs:literal
    ) => {
        impl ::core::convert::From<$std> for $ty {
            /// Registers a std value's fd as this type, created at the caller, with
            /// `FD_CLOEXEC` set; not checked further, as std's `From<OwnedFd>` is not.
            /// From here on its release is guard's.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = ::core::concat!("let theirs = ", $theirs, ";")]
            /// let before = guard_os::fds().len();
            #[doc = ::core::concat!("let ours = guard_os::", ::core::stringify!($ty), "::from(theirs);")]
            /// assert_eq!(guard_os::fds().len(), before + 1); // registered
            #[doc = ::core::concat!("let back = ", ::core::stringify!($std), "::try_from(ours)?;")]
            /// assert_eq!(guard_os::fds().len(), before); // deregistered: std owns it
            /// # drop(back);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            #[track_caller]
            fn from(theirs: $std) -> $ty {
                <$ty as ::core::convert::From<::std::os::fd::OwnedFd>>::from(theirs.into())
            }
        }

        impl ::core::convert::From<::std::os::fd::OwnedFd> for $ty {
            /// Registers `fd` as this type, created at the caller, with `FD_CLOEXEC` set;
            /// not checked to be of the right kind (as std's `From<OwnedFd>`).
            #[track_caller]
            fn from(fd: ::std::os::fd::OwnedFd) -> $ty {
                let $site = ::std::panic::Location::caller();
                let _ = $crate::sys::set_cloexec(&fd);
                let $owned = fd;
                $make
            }
        }

        impl ::core::convert::TryFrom<$ty> for ::std::os::fd::OwnedFd {
            type Error = $crate::IntoOwnedError<$ty>;

            /// Hands the fd over and takes it out of the registry: guard no longer
            /// releases it (no `shutdown`, no close at a scope's end, no report of a
            /// drop); the new owner's drop closes it, ignoring errors. The caller gets a
            /// duplicate and the registered number is closed (see
            /// [`Fd::into_owned`](crate::Fd::into_owned)).
            ///
            /// # Errors
            ///
            /// [`IntoOwnedError`](crate::IntoOwnedError), with the wrapper given back.
            fn try_from(
                ours: $ty,
            ) -> ::core::result::Result<::std::os::fd::OwnedFd, $crate::IntoOwnedError<$ty>> {
                $crate::fd::give_away(ours, |$t: &mut $ty| $slot, $prepare)
            }
        }

        impl ::core::convert::TryFrom<$ty> for $std {
            type Error = $crate::IntoOwnedError<$ty>;

            /// As `TryFrom<$ty> for OwnedFd`; see there.
            ///
            /// # Errors
            ///
            /// [`IntoOwnedError`](crate::IntoOwnedError), with the wrapper given back.
            fn try_from(ours: $ty) -> ::core::result::Result<$std, $crate::IntoOwnedError<$ty>> {
                ::std::os::fd::OwnedFd::try_from(ours).map(<$std>::from)
            }
        }
    };
}

pub(crate) use {counted_interop, unique_interop};
