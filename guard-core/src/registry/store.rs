//! [`Store`]: a registry's state (its locked [`Table`] of rows and its deferred release),
//! and ending leases on it, which is all a [`Lease`](super::Lease) needs of its registry.

use super::key::Key;
use super::lease_count::{LeaseCount, Settle};
use super::pass::PassRecord;
use crate::census::Origin;
use crate::error::Panicked;
use crate::event::{self, Event};
use crate::fork::{AtFork, Held};
use crate::loom::{Mutex, MutexGuard};
use crate::panic::drop_payload;
use slab::Slab;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// One entry of the table.
pub(crate) struct Row<T> {
    pub(super) generation: u64,
    pub(super) lease: LeaseCount,
    pub(super) value: T,
    /// Interned: one pointer instead of 32 bytes per entry, and cheap to hand to a lease.
    pub(super) origin: &'static Origin,
}

/// The slab of rows, with the next generation to hand out and the count of live rows
/// (rows whose removal waits for a lease are in the slab but not live).
pub(crate) struct Table<T> {
    pub(super) rows: Slab<Row<T>>,
    pub(super) next_generation: u64,
    pub(super) live: usize,
    /// The live `for_each` passes and their current batches (see `pass.rs`).
    pub(super) passes: Slab<PassRecord>,
}

impl<T> Table<T> {
    /// The live row `key` names, if any.
    pub(super) fn live_row_mut(&mut self, key: Key) -> Option<&mut Row<T>> {
        self.rows
            .get_mut(key.index as usize)
            .filter(|s| s.generation == key.generation && !s.lease.is_closing())
    }
}

/// What a registry holds: the table under its lock, and the release for removals that met
/// a lease.
pub(crate) struct Store<T> {
    pub(super) table: Mutex<Table<T>>,
    deferred_release: Box<dyn Fn(T) + Send + Sync>,
}

/// A registry's table, locked across a `fork` (see `crate::fork`).
struct ForkHeld<T: 'static>(MutexGuard<'static, Table<T>>);

impl<T: Copy + Send + 'static> AtFork for Store<T> {
    fn prepare(&'static self) -> Box<dyn Held> {
        Box::new(ForkHeld(self.table.lock()))
    }
}

impl<T> Held for ForkHeld<T> {
    fn child(mut self: Box<Self>) {
        for (_, row) in self.0.rows.iter_mut() {
            row.lease.forget_after_fork();
        }
    }
}

impl<T: Copy + Send + 'static> Store<T> {
    /// An empty store.
    pub(super) fn new(deferred_release: Box<dyn Fn(T) + Send + Sync>) -> Self {
        Store {
            table: Mutex::new(Table {
                rows: Slab::new(),
                next_generation: 0,
                live: 0,
                passes: Slab::new(),
            }),
            deferred_release,
        }
    }

    /// Ends one lease per key; completes the removals whose last lease this was and runs
    /// their deferred release after the lock is dropped.
    pub(crate) fn end_leases(&self, keys: impl Iterator<Item = Key>) {
        let mut finished = Vec::new();
        Self::end_leases_in(&mut self.table.lock(), keys, &mut finished);
        self.run_releases(finished);
    }

    /// Ends one lease per key in the locked `table`; the values whose last lease this was
    /// go to `finished`, for [`run_releases`](Self::run_releases) once the lock is dropped.
    pub(super) fn end_leases_in(
        table: &mut Table<T>,
        keys: impl Iterator<Item = Key>,
        finished: &mut Vec<(T, &'static Origin)>,
    ) {
        for key in keys {
            let Some(row) = table.rows.get_mut(key.index as usize) else {
                continue;
            };
            debug_assert_eq!(row.generation, key.generation, "lease outlived its row");
            if row.lease.end() == Settle::Finish {
                finished.push((row.value, row.origin));
                table.rows.remove(key.index as usize);
            }
        }
    }

    /// Runs the deferred release of each value (outside the lock).
    pub(super) fn run_releases(&self, finished: Vec<(T, &'static Origin)>) {
        // No caller can receive a panic from here (this may run in a `Lease`'s `Drop`, even
        // while unwinding): a deferred release that panics is reported, and the others run.
        for (value, origin) in finished {
            let released = catch_unwind(AssertUnwindSafe(|| (self.deferred_release)(value)));
            if let Err(payload) = released {
                let panicked = Panicked::from_payload(&*payload);
                drop_payload(payload);
                event::emit(&Event::ReleasePanicked {
                    resource: origin.type_name(),
                    field: panicked.field(),
                    message: panicked.message(),
                });
            }
        }
    }
}
