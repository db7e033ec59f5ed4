//! The fd table: guard-core's leased [`Registry`] of raw fd numbers, and the ownership
//! protocol that makes handing those numbers out sound.
//!
//! This is the one place where registered fd numbers become `BorrowedFd`s again or get
//! closed, so the invariants that make it sound are all stated here:
//!
//! - A [`Registration`] is the unique owner of one registered, open fd. It is created from an
//!   `OwnedFd` (so the number was open and owned) and gives the number up only by removing
//!   its entry, exactly once ([`Registration::close`], [`Registration::into_owned`], [`Registration::retag`] or
//!   its `Drop`). `retag` hands the number straight to the new entry it creates only when
//!   the removal gave it back (`Removal::Removed`); otherwise the new entry owns a copy.
//! - After removal, the number is closed by whoever holds it last: the remover if no lease
//!   was held (`Removal::Removed`; a `for_each` pass's lease on an fd it is not visiting is
//!   taken over by the remover), else the registry's deferred release when the last lease
//!   ends (the end of the visit, for a pass). So a number is closed exactly once (R3), and
//!   never while leased (R1).
//! - A [`Leased`] or [`OwnedLease`] holds a core lease on an entry of this table, so its
//!   number stays open for as long as it lives.
//!
//! `close(2)` is called once and never retried: Linux frees the number even when it
//! returns `EINTR`; the error is returned (or reported, for a deferred close).

use super::FdOwner;
use crate::error::{self, Error};
use crate::sys;
use guard_core::Lease;
use guard_core::census::{CensusGroup, Origin};
use guard_core::registry::{Key, Registry, Removal};
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::panic::Location;
use std::sync::LazyLock;

/// What the registry keeps per fd beside its [`Origin`]: the number, and the owning type
/// (so that a deferred close, which gets only this value, can name the type and kind).
/// Eight bytes, alignment 4: it takes the place of the `RawFd` alone at no cost, in a slot
/// whose other fields are 8-aligned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Value {
    raw: RawFd,
    ty: FdOwner,
}

/// Lives for the whole process (leaked, so that it can be kept across `fork`: a forked child
/// finds it unlocked and consistent).
static TABLE: LazyLock<&'static Registry<Value>> = LazyLock::new(|| {
    guard_core::report::add_section("registered fds", census);
    let table: &'static Registry<Value> = Box::leak(Box::new(Registry::new(close_deferred)));
    table.keep_across_fork();
    table
});

fn table() -> &'static Registry<Value> {
    *TABLE
}

/// Live registered fds grouped by origin (the report section).
pub(crate) fn census() -> Vec<CensusGroup> {
    table().census()
}

/// Number of live registered fds.
pub(crate) fn len() -> usize {
    table().len()
}

/// The registry's deferred release: closes a number whose removal met a lease, when the
/// last lease ends. Nobody can receive the error, so it goes to the event hook, as the
/// failed release of the fd's owning type.
fn close_deferred(Value { raw, ty }: Value) {
    // SAFETY: the registry hands each removed value to this function exactly once, after
    // its last lease ended; the `Registration` that owned it gave it up when it removed the entry.
    // Nothing else holds the number, so closing it cannot close anybody else's fd.
    if let Err(source) = unsafe { sys::close_raw(raw) } {
        let error = Error::Close { fd: raw, source };
        error::report(ty.type_name(), ty.kind(), &error);
    }
}

/// Closes a number just removed with `Removal::Removed`.
///
/// # Safety
///
/// `raw` must have come back from `Registry::remove` as `Removed` (the caller owns it).
unsafe fn close_removed(raw: RawFd) -> io::Result<()> {
    // SAFETY: per the contract, the caller owns `raw` and passes ownership here.
    unsafe { sys::close_raw(raw) }
}

/// The owner of one registered fd. See the module docs for the protocol.
pub(crate) struct Registration {
    key: Key,
    raw: RawFd,
    ty: FdOwner,
    /// Closing it cannot wait (see [`FdOwner::closes_without_waiting`]), decided once here.
    quick: bool,
}

impl Registration {
    /// Registers `fd`, owned by a `ty` created at `site`; the entry owns it from now on.
    pub(crate) fn register(
        fd: OwnedFd,
        ty: FdOwner,
        site: &'static Location<'static>,
    ) -> Registration {
        let quick = ty.closes_without_waiting(fd.as_fd());
        let raw = fd.into_raw_fd();
        let key = table().insert(Value { raw, ty }, ty.origin(site));
        Registration {
            key,
            raw,
            ty,
            quick,
        }
    }

    /// Whether closing the fd cannot wait for another process, a server or a timer, as
    /// decided when it was registered: its counted owner's last drop may then close it on
    /// the dropping thread.
    pub(crate) fn closes_without_waiting(&self) -> bool {
        self.quick
    }

    /// The fd, borrowed.
    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the entry owns `raw`, which stays open until the entry is consumed by
        // `close`/`into_owned`/`drop`; none of those can run while `&self` is borrowed.
        unsafe { BorrowedFd::borrow_raw(self.raw) }
    }

    /// The fd's number.
    pub(crate) fn raw(&self) -> RawFd {
        self.raw
    }

    /// The entry's registry key.
    pub(crate) fn key(&self) -> Key {
        self.key
    }

    /// The type that owns the fd.
    pub(crate) fn ty(&self) -> FdOwner {
        self.ty
    }

    /// The entry's kind, type name and creation site.
    pub(crate) fn origin(&self) -> Option<Origin> {
        table().get(self.key).map(|(_, origin)| origin)
    }

    /// Removes the entry and closes the fd, once: now if it is not leased (the error comes
    /// back), else when the last lease ends (the error goes to the event hook).
    pub(crate) fn close(self) -> io::Result<()> {
        let this = ManuallyDrop::new(self);
        close_key(this.key)
    }

    /// Removes the entry and hands the fd over as a duplicate (`F_DUPFD_CLOEXEC`, so a new
    /// number); the original number is closed now, or when the last lease on it ends.
    ///
    /// Why always a duplicate: handing over the number itself is sound only if no lease
    /// holds it, and that is known only by removing the entry, after which a concurrent
    /// lease holder may already have closed the number. So the entry is leased first (the
    /// number stays open), removed, duplicated, and the lease ended.
    ///
    /// # Errors
    ///
    /// The duplicate could not be made (the process is out of fds); the entry is removed
    /// and the fd closed anyway.
    pub(crate) fn into_owned(
        self,
        dup: impl FnOnce(BorrowedFd<'_>) -> io::Result<OwnedFd>,
    ) -> io::Result<OwnedFd> {
        let this = ManuallyDrop::new(self);
        let lease = table().lease(this.key);
        let removal = table().remove(this.key);
        debug_assert!(removal.is_deferred(), "our own lease defers the removal");
        let dup = dup(Leased::from_lease(lease.as_ref()).as_fd());
        drop(lease);
        dup
    }
}

impl Registration {
    /// Re-registers the fd as owned by `ty`, with the creation site it had (`fallback` only
    /// if its origin could not be read, which never happens for the owner).
    ///
    /// The number and the key stay the same unless the entry is leased at that moment (a
    /// `for_each` callback, a `Command` holding it for a spawn): then the old entry is
    /// removed, the lease holder closes the old number when its lease ends, and a new entry
    /// owns a duplicate made by `dup` (first, since after the removal nothing keeps the old
    /// number open). So only that case needs a free fd number.
    ///
    /// # Errors
    ///
    /// `dup` failed: nothing changed, and the entry is given back.
    pub(crate) fn retag(
        mut self,
        ty: FdOwner,
        fallback: &'static Location<'static>,
        dup: impl FnOnce(BorrowedFd<'_>) -> io::Result<OwnedFd>,
    ) -> Result<Registration, (Registration, io::Error)> {
        let site = self.origin().map_or(fallback, |o| o.site());
        let value = Value { raw: self.raw, ty };
        match table().replace_unleased(self.key, value, ty.origin(site)) {
            Ok(_) => {
                self.ty = ty;
                self.quick = ty.closes_without_waiting(self.as_fd());
                return Ok(self);
            }
            Err(Removal::Deferred) => {}
            Err(_) => debug_assert!(false, "only the entry removes its key"),
        }
        let copy = match dup(self.as_fd()) {
            Ok(copy) => copy,
            Err(e) => return Err((self, e)),
        };
        let this = ManuallyDrop::new(self);
        let raw = match table().remove(this.key) {
            // No lease any more (it ended after the check above): keep the number.
            Removal::Removed(Value { raw, .. }) => {
                drop(copy);
                raw
            }
            // A lease holds the old number and will close it: keep the copy instead.
            Removal::Deferred => copy.into_raw_fd(),
            Removal::Stale => {
                debug_assert!(false, "only the entry removes its key");
                copy.into_raw_fd()
            }
        };
        // SAFETY: `raw` is open and owned by this new entry from here on.
        let quick = ty.closes_without_waiting(unsafe { BorrowedFd::borrow_raw(raw) });
        let key = table().insert(Value { raw, ty }, ty.origin(site));
        Ok(Registration {
            key,
            raw,
            ty,
            quick,
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Err(source) = close_key(self.key) {
            let error = Error::Close {
                fd: self.raw,
                source,
            };
            error::report(self.ty.type_name(), self.ty.kind(), &error);
        }
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fd {}", self.raw)
    }
}

fn close_key(key: Key) -> io::Result<()> {
    match table().remove(key) {
        // SAFETY: `Removed` hands the number's ownership to us.
        Removal::Removed(Value { raw, .. }) => unsafe { close_removed(raw) },
        Removal::Deferred => Ok(()),
        Removal::Stale => {
            debug_assert!(false, "only the entry removes its key");
            Ok(())
        }
    }
}

/// A registry entry leased for a `for_each` callback: its fd stays open while this lives.
pub(crate) struct Leased<'a> {
    lease: &'a Lease<'a, Value>,
}

impl<'a> Leased<'a> {
    /// Only for leases of this table (the constructor is private to this module).
    fn from_lease(lease: Option<&'a Lease<'a, Value>>) -> Leased<'a> {
        match lease {
            Some(lease) => Leased { lease },
            None => unreachable!("an entry whose removal was deferred is leased"),
        }
    }

    /// The leased fd, borrowed for no longer than the lease.
    pub(crate) fn as_fd(&self) -> BorrowedFd<'a> {
        // SAFETY: the lease (a lease of `TABLE`, see the constructors) keeps the number
        // open and unreused until it ends (R1), and it outlives `'a`.
        unsafe { BorrowedFd::borrow_raw(self.lease.value().raw) }
    }

    /// The fd's number.
    pub(crate) fn raw(&self) -> RawFd {
        self.lease.value().raw
    }

    /// The entry's origin.
    pub(crate) fn origin(&self) -> Origin {
        *self.lease.origin()
    }

    /// The type that owns the fd.
    pub(crate) fn ty(&self) -> FdOwner {
        self.lease.value().ty
    }
}

/// The lowest number in `numbers` that the table still holds, with its owning type: a
/// live entry's, or a removed entry's whose close waits for a lease to end (invisible to
/// [`for_each`], yet closed later by the registry: taking its number now would get it
/// closed under its new owner).
pub(crate) fn held_in(numbers: &std::ops::Range<RawFd>) -> Option<(RawFd, FdOwner)> {
    table()
        .unreleased_values()
        .into_iter()
        .filter(|v| numbers.contains(&v.raw))
        .min_by_key(|v| v.raw)
        .map(|v| (v.raw, v.ty))
}

/// Every number the table still holds, unsorted: live entries', and removed entries' whose
/// close waits for a lease to end (see [`held_in`]).
pub(crate) fn held_numbers() -> Vec<RawFd> {
    table()
        .unreleased_values()
        .into_iter()
        .map(|v| v.raw)
        .collect()
}

/// Calls `f` on every registered fd, each under a lease, never under the registry lock.
pub(crate) fn for_each(mut f: impl FnMut(Leased<'_>)) {
    table().for_each(|lease| f(Leased { lease }));
}

/// A lease on one entry that the caller keeps (across a `spawn`, say).
pub(crate) struct OwnedLease {
    lease: Lease<'static, Value>,
}

impl OwnedLease {
    /// The leased fd.
    pub(crate) fn leased(&self) -> Leased<'_> {
        Leased { lease: &self.lease }
    }
}

impl std::fmt::Debug for OwnedLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OwnedLease(fd {})", self.lease.value().raw)
    }
}

/// Leases the live entry `key`; `None` if it has been removed.
pub(crate) fn lease(key: Key) -> Option<OwnedLease> {
    table().lease(key).map(|lease| OwnedLease { lease })
}
