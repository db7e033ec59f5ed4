//! [`LeaseCount`]: the lease state of one registry row, what keeps the row's value valid
//! while someone outside the registry lock looks at it (.NET `SafeHandle`'s refcount, Go's
//! `fdMutex`).
//!
//! Each row carries a lease count and a closing bit, both guarded by the registry lock.
//! Taking a lease fails on a closing row. Removing a leased row sets the closing bit and
//! leaves the row (and its value) in place, invisible to every lookup; the holder of the
//! last lease completes the removal and runs the registry's deferred release on the value.
//! So a value is never released while a lease on it is held, and released exactly once.

/// The lease state of one row. Lives inside the registry's table, under its lock.
#[derive(Debug, Default)]
pub(crate) struct LeaseCount {
    leases: u32,
    closing: bool,
}

/// What ending a lease (or removing an entry) asks the caller to do next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Settle {
    /// The row is still live or still leased: nothing to do.
    Keep,
    /// The row is closing and no lease is left: remove it and release its value.
    Finish,
}

impl LeaseCount {
    /// Takes a lease; `false` if the row is closing.
    ///
    /// # Panics
    ///
    /// Aborts the process before the count overflows (a lease leaked 4 billion times).
    #[inline]
    pub(crate) fn acquire(&mut self) -> bool {
        if self.closing {
            return false;
        }
        if self.leases == u32::MAX {
            // A leaked lease per call, four billion times: continuing would let the count
            // wrap and the value be released under a live lease.
            std::process::abort();
        }
        self.leases += 1;
        true
    }

    /// Ends a lease.
    #[inline]
    pub(crate) fn end(&mut self) -> Settle {
        debug_assert!(self.leases > 0, "ending a lease that was never taken");
        self.leases -= 1;
        self.settle()
    }

    /// Marks the row closing (removal requested).
    #[inline]
    pub(crate) fn close(&mut self) -> Settle {
        self.closing = true;
        self.settle()
    }

    /// True if the row accepts no new lease and no lookup finds it.
    #[inline]
    pub(crate) fn is_closing(&self) -> bool {
        self.closing
    }

    /// In a forked child: forgets the leases of the parent's threads, which do not exist
    /// here, so that the child can close what it removes. A closing row keeps its count:
    /// its release waits for a lease end only the forking thread could still make.
    pub(crate) fn forget_after_fork(&mut self) {
        if !self.closing {
            self.leases = 0;
        }
    }

    /// Number of leases held now.
    pub(crate) fn held(&self) -> u32 {
        self.leases
    }

    #[inline]
    fn settle(&self) -> Settle {
        if self.closing && self.leases == 0 {
            Settle::Finish
        } else {
            Settle::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_waits_for_the_last_lease() {
        let mut c = LeaseCount::default();
        assert!(c.acquire());
        assert!(c.acquire());
        assert_eq!(c.close(), Settle::Keep);
        assert!(!c.acquire(), "a closing row takes no new lease");
        assert_eq!(c.end(), Settle::Keep);
        assert_eq!(c.end(), Settle::Finish);
    }

    #[test]
    fn unleased_removal_finishes_at_once() {
        let mut c = LeaseCount::default();
        assert_eq!(c.close(), Settle::Finish);
        assert!(c.is_closing());
        assert_eq!(c.held(), 0);
    }
}
