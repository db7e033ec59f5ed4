//! Who holds a lock, recorded at each acquisition for reports and errors.

use super::loom::{AtomicPtr, AtomicU64, Ordering};
use std::panic::Location;

/// Who holds the lock, as recorded at acquisition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Holder {
    pub(crate) site: Option<&'static Location<'static>>,
    pub(crate) task: Option<u64>,
}

/// The holder's acquisition site and tokio task id, kept beside the lock word (racy: read
/// for reports only).
#[derive(Debug)]
pub(crate) struct HolderCell {
    site: AtomicPtr<Location<'static>>,
    /// tokio's task id of the holder; 0 for none.
    task: AtomicU64,
}

impl HolderCell {
    pub(crate) fn new() -> Self {
        HolderCell {
            site: AtomicPtr::new(std::ptr::null_mut()),
            task: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(crate) fn note(&self, site: &'static Location<'static>) {
        self.site
            .store(std::ptr::from_ref(site).cast_mut(), Ordering::Relaxed);
        self.task.store(task_id(), Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn clear(&self) {
        self.site.store(std::ptr::null_mut(), Ordering::Relaxed);
        self.task.store(0, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> Holder {
        let site = self.site.load(Ordering::Relaxed);
        // SAFETY: `site` only ever holds null or a pointer made from a
        // `&'static Location<'static>` (`note`), never written through.
        let site = unsafe { site.as_ref() };
        let task = self.task.load(Ordering::Relaxed);
        Holder {
            site,
            task: (task != 0).then_some(task),
        }
    }
}

/// tokio's id of the current task, as a number (0 outside a task). tokio 1.54's `Id` has
/// no public integer accessor (`as_u64` is crate-private); it shows its number only through
/// `Display` and `Hash`, and hashing it writes exactly that `u64`.
fn task_id() -> u64 {
    struct Take(u64);
    impl std::hash::Hasher for Take {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, _: &[u8]) {}
        fn write_u64(&mut self, n: u64) {
            self.0 = n;
        }
    }
    match tokio::task::try_id() {
        Some(id) => {
            let mut take = Take(0);
            std::hash::Hash::hash(&id, &mut take);
            take.0
        }
        None => 0,
    }
}
