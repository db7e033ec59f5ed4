//! Reserving a plan's free target numbers in the parent, from [`CommandExt::inherit`]
//! until the `Command` is dropped, so that no fd created meanwhile (above all std's
//! close-on-exec error pipe, which `spawn` creates after the plan was made) takes a number
//! the child's `dup2` will overwrite.
//!
//! A reserved number holds a placeholder: a close-on-exec fd of `/dev/null`, put there with
//! `fcntl(F_DUPFD_CLOEXEC)`, which takes the number only if it is free and never closes
//! anything. Placeholders are shared: the reservations of one number by every live
//! `Command` count on one placeholder, closed when the last of them is dropped (a
//! `Command` that found the number held by another's placeholder must not lose it when
//! that other `Command` goes). The count and the placeholder change only under one lock,
//! taken only in the parent, never between `fork` and `exec`.
//!
//! [`CommandExt::inherit`]: crate::CommandExt::inherit

use crate::error::{Error, Result};
use crate::sys;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// One reserved number, and how many live reservations share it.
#[derive(Debug)]
struct ReservedNumber {
    holders: usize,
    /// Closed when the last reservation of the number is dropped.
    placeholder: OwnedFd,
}

/// The reserved numbers of every live `Command`.
static RESERVED: Mutex<BTreeMap<RawFd, ReservedNumber>> = Mutex::new(BTreeMap::new());

/// One reservation of one fd number, held by a `Command`: the number stays taken (by its
/// placeholder, or by what a failed in-place `exec` put there with `dup2`) until every
/// reservation of it is dropped; then it is closed.
#[derive(Debug)]
pub(super) struct Reservation {
    number: RawFd,
}

/// The numbers reserved now by live `Command`s (held by placeholders, or by what a failed
/// in-place `exec` put there), ascending.
pub(crate) fn reserved_numbers() -> Vec<RawFd> {
    RESERVED.lock().keys().copied().collect()
}

/// Reserves every number of `targets` that is free now or already reserved; a number
/// open otherwise (some other owner's fd) cannot be, and is left alone. On error, nothing
/// stays reserved.
///
/// # Errors
///
/// [`Error::InheritReserve`]: opening `/dev/null` or `fcntl(F_DUPFD_CLOEXEC)` failed with
/// anything but the errors that mean the number cannot be given to anyone now (`EMFILE`:
/// nothing is free from there up; `EINVAL`: not below `RLIMIT_NOFILE`). No fd-pressure
/// retry (F5): a free target needs no new number, since the placeholder takes it.
pub(super) fn reserve(targets: &[RawFd]) -> Result<Vec<Reservation>> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let mut targets = targets.to_vec();
    // Ascending: see `placeholder_at`.
    targets.sort_unstable();
    targets.dedup();
    let mut reserved = Vec::with_capacity(targets.len());
    let mut null = None;
    let mut table = RESERVED.lock();
    for target in targets {
        match table.entry(target) {
            Entry::Occupied(mut held) => held.get_mut().holders += 1,
            Entry::Vacant(free) => match placeholder_at(target, &mut null) {
                Ok(Some(placeholder)) => {
                    free.insert(ReservedNumber {
                        holders: 1,
                        placeholder,
                    });
                }
                Ok(None) => continue,
                Err(source) => {
                    drop(table); // `reserved`'s drops take the lock
                    return Err(Error::InheritReserve { target, source });
                }
            },
        }
        reserved.push(Reservation { number: target });
    }
    Ok(reserved)
}

/// A placeholder exactly at `target`, or `None` if the number is not free. `null` is a spare
/// `/dev/null` fd to copy from, opened at the first free target.
///
/// Opening `/dev/null` takes the lowest free number, which can be `target` itself: then
/// that fd is the placeholder. It can also be a target still to come: targets are handled
/// in ascending order, but another thread may take `target` between its check and the
/// open, and the spare then lands on the next free number, which may be a later target.
/// Seen as open there, that target would be skipped as another owner's, and left free
/// once the spare is closed. So the spare is looked for first: if it sits on `target`, it
/// becomes the placeholder (a fresh spare is opened for the targets after it, if needed).
fn placeholder_at(target: RawFd, null: &mut Option<OwnedFd>) -> io::Result<Option<OwnedFd>> {
    if null
        .as_ref()
        .is_some_and(|spare| spare.as_raw_fd() == target)
    {
        return Ok(null.take()); // our own spare holds the number: keep it there
    }
    // Checked first, so that an fd is opened only for a number that needs one (at EMFILE,
    // a target that is open is left to `spawn`, which reports std's own error).
    if sys::check_open_number(target).is_ok() {
        return Ok(None); // some other owner's fd
    }
    let spare = match null.take() {
        Some(spare) => spare,
        None => match sys::open_read(Path::new("/dev/null")) {
            Ok(opened) if opened.as_raw_fd() == target => return Ok(Some(opened)),
            Ok(opened) => opened,
            // No number below RLIMIT_NOFILE is free, so neither is `target` now.
            Err(e) if e.raw_os_error() == Some(sys::EMFILE) => return Ok(None),
            Err(e) => return Err(e),
        },
    };
    let copy = sys::dup_cloexec_from(&spare, target);
    *null = Some(spare);
    match copy {
        Ok(fd) if fd.as_raw_fd() == target => Ok(Some(fd)),
        // Taken meanwhile by some other owner; the copy that landed above is closed.
        Ok(_elsewhere) => Ok(None),
        // EMFILE: nothing free from `target` up; EINVAL: not below RLIMIT_NOFILE. Nobody
        // can be given the number now.
        Err(e) if matches!(e.raw_os_error(), Some(sys::EMFILE | sys::EINVAL)) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Reservation {
    /// The reserved number.
    pub(super) fn number(&self) -> RawFd {
        self.number
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut table = RESERVED.lock();
        if let Entry::Occupied(mut held) = table.entry(self.number) {
            held.get_mut().holders -= 1;
            if held.get().holders == 0 {
                // Closed under the lock: a reservation of the same number made meanwhile
                // would otherwise find the number neither reserved nor free.
                drop(held.remove().placeholder);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_open(n: RawFd) -> bool {
        sys::check_open_number(n).is_ok()
    }

    #[test]
    fn reserves_free_numbers_shares_them_and_leaves_others_alone() {
        // High numbers: other tests' fds (opened at the lowest free numbers) stay below.
        let null = sys::open_read(Path::new("/dev/null")).unwrap();
        let open = sys::dup_cloexec_from(&null, 900).unwrap();
        let busy = open.as_raw_fd();
        let free = busy + 7;
        assert!(!is_open(free));
        let first = reserve(&[free, busy]).unwrap();
        assert_eq!(first.len(), 1, "{first:?}: the open number is not reserved");
        assert_eq!(sys::fd_target(free).unwrap(), Path::new("/dev/null"));
        assert!(sys::is_cloexec(&RESERVED.lock()[&free].placeholder).unwrap());
        let second = reserve(&[free]).unwrap();
        assert_eq!(second.len(), 1);
        drop(first);
        assert!(is_open(free), "still reserved by the second");
        drop(second);
        assert!(!is_open(free), "closed with the last reservation");
        assert!(is_open(busy), "the other owner's fd was never touched");
    }

    #[test]
    fn a_spare_that_landed_on_a_later_target_becomes_its_placeholder() {
        // As if another thread took the first target between its check and the open of
        // the spare: the spare sits on the next target. High numbers, as above.
        let null = sys::open_read(Path::new("/dev/null")).unwrap();
        let first = 940;
        let later = first + 3;
        assert!(!is_open(first) && !is_open(later));
        let mut spare = Some(sys::dup_cloexec_from(&null, later).unwrap());
        assert_eq!(spare.as_ref().unwrap().as_raw_fd(), later);
        let at_first = placeholder_at(first, &mut spare)
            .unwrap()
            .expect("first is free");
        assert_eq!(at_first.as_raw_fd(), first);
        let at_later = placeholder_at(later, &mut spare).unwrap();
        let at_later = at_later.expect("the spare on `later` is ours: not another owner's fd");
        assert_eq!(at_later.as_raw_fd(), later);
        assert!(spare.is_none(), "the spare became the placeholder");
        assert!(sys::is_cloexec(&at_later).unwrap());
        drop((at_first, at_later));
        assert!(!is_open(first) && !is_open(later));
    }
}
