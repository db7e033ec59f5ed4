//! [`AtFork`] and [`Held`]: what each piece of process-wide state does around a `fork`,
//! the list of them, and the three handlers that walk it.

use crate::loom::{StdMutex, StdOrdering};
use std::cell::RefCell;
use std::sync::MutexGuard as StdMutexGuard;

/// Process-wide state that must be consistent in a forked child.
pub(crate) trait AtFork: Sync {
    /// Before the fork, in the forking thread: takes this state's locks (never waiting for
    /// a release or a user callback: guard runs none under its locks) and returns what holds
    /// them.
    fn prepare(&'static self) -> Box<dyn Held>;
}

/// The locks one [`AtFork`] took. Dropping it unlocks them.
pub(crate) trait Held {
    /// In the parent, after the fork. Default: unlock.
    fn parent(self: Box<Self>) {}
    /// In the child, the only thread now: put the state right for one thread, then unlock.
    /// Default: unlock. Must not spawn threads or run user code (a child that execs at
    /// once, as every `std::process::Command` with a `pre_exec` hook does, pays for it).
    fn child(self: Box<Self>) {}
}

/// A plain std mutex held across the fork; nothing to put right.
impl<T: Send + 'static> AtFork for StdMutex<T> {
    fn prepare(&'static self) -> Box<dyn Held> {
        Box::new(self.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl<T> Held for StdMutexGuard<'static, T> {}

/// Every registered state, in registration order (held across the fork too, so that a
/// registration cannot race a fork).
static HOOKS: StdMutex<Vec<&'static dyn AtFork>> = StdMutex::new(Vec::new());

/// True once the handlers are installed.
static INSTALLED: crate::loom::StdAtomicBool = crate::loom::StdAtomicBool::new(false);

type Stash = (
    StdMutexGuard<'static, Vec<&'static dyn AtFork>>,
    Vec<Box<dyn Held>>,
);

thread_local! {
    /// What `prepare` took, for `parent` or `child` (the same thread in both processes).
    static STASH: RefCell<Option<Stash>> = const { RefCell::new(None) };
}

/// Registers `state`: from now on its locks are held across every `fork`. Call it once
/// per state, while holding none of guard's locks.
pub(crate) fn register(state: &'static dyn AtFork) {
    let mut hooks = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
    if !INSTALLED.swap(true, StdOrdering::AcqRel) {
        install();
    }
    // Twice in the list would lock it twice in `prepare`, and hang.
    if !hooks.iter().any(|h| std::ptr::addr_eq(*h, state)) {
        hooks.push(state);
    }
}

#[cfg(not(guard_loom))]
fn install() {
    if !super::sys::at_fork(prepare, parent, child) {
        // No memory for the handler list: forks stay unprotected, as before guard had any.
        INSTALLED.store(false, StdOrdering::Release);
    }
}

#[cfg(guard_loom)]
fn install() {}

#[cfg(not(guard_loom))]
extern "C" fn prepare() {
    let hooks = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
    let held: Vec<Box<dyn Held>> = hooks.iter().map(|state| state.prepare()).collect();
    // A fork from a thread-local destructor cannot stash: it unlocks at once and is not
    // protected (`try_with` fails only then).
    let _ = STASH.try_with(|stash| *stash.borrow_mut() = Some((hooks, held)));
}

#[cfg(not(guard_loom))]
extern "C" fn parent() {
    if let Ok(Some((hooks, held))) = STASH.try_with(|stash| stash.borrow_mut().take()) {
        held.into_iter().rev().for_each(|h| h.parent());
        drop(hooks);
    }
}

#[cfg(not(guard_loom))]
extern "C" fn child() {
    if let Ok(Some((hooks, held))) = STASH.try_with(|stash| stash.borrow_mut().take()) {
        held.into_iter().rev().for_each(|h| h.child());
        drop(hooks);
    }
}
