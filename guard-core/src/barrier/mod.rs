//! An asymmetric fence pair: a [`light`] side that costs nothing on a hot path and a
//! [`heavy`] side, taken rarely, that makes every thread's `light` act as a full fence.
//!
//! A store-buffering pair (thread A stores `x` then loads `y`, thread B stores `y` then loads
//! `x`; at least one must see the other's store) needs a full fence on both sides. When one
//! side is hot (a drop, a registry visit) and the other rare (a consumer going to sleep, a
//! removal meeting a visit), Linux's
//! [`membarrier(2)`](https://man7.org/linux/man-pages/man2/membarrier.2.html) with
//! `MEMBARRIER_CMD_PRIVATE_EXPEDITED` moves the whole cost to the rare side: it interrupts
//! every CPU running a thread of this process and runs a full barrier there, so each such
//! thread's program order is as if it had fenced at that point. The hot side keeps only a
//! compiler fence. (The technique of folly's `asymmetricLightBarrier` and of the kernel's
//! own `smp_mb__after_srcu_read_unlock`-style pairs.)
//!
//! Where `membarrier` is missing (not Linux, a kernel without it, Miri, a seccomp filter that
//! refuses it) both sides fall back to a full `SeqCst` fence: correct, and as fast as a
//! symmetric protocol. Until the first [`heavy`] has registered the process, `light` fences
//! too, so no `light` can pair with a `heavy` that has no interrupt behind it.
//!
//! Under loom both sides are `SeqCst` fences, which is what the protocol assumes of them.
//!
//! Protocol for users: the hot side does `store(a); light(); load(b)`; the rare side does
//! `store(b); heavy(); load(a)`. At least one of the loads sees the other side's store.

#[cfg(all(target_os = "linux", not(guard_loom)))]
mod sys;

use std::sync::atomic::{AtomicU8 as StdAtomicU8, Ordering as StdOrdering};

/// The process has not tried `membarrier` yet: `light` fences.
const UNKNOWN: u8 = 0;
/// Registered for `MEMBARRIER_CMD_PRIVATE_EXPEDITED`: `light` is a compiler fence.
const EXPEDITED: u8 = 1;
/// `membarrier` is unavailable: both sides fence.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const UNAVAILABLE: u8 = 2;

static STATE: StdAtomicU8 = StdAtomicU8::new(UNKNOWN);

/// The hot side: a compiler fence once the process is registered, a full fence otherwise.
#[inline(always)]
pub(crate) fn light() {
    #[cfg(guard_loom)]
    crate::loom::fence(crate::loom::Ordering::SeqCst);
    #[cfg(not(guard_loom))]
    {
        if STATE.load(StdOrdering::Relaxed) == EXPEDITED {
            std::sync::atomic::compiler_fence(StdOrdering::SeqCst);
        } else {
            std::sync::atomic::fence(StdOrdering::SeqCst);
        }
    }
}

/// The rare side: a full fence here, and a full barrier on every other thread of the
/// process that is running (`membarrier`), so that their [`light`] calls count as fences.
///
/// Costs a system call and an interrupt per CPU running this process's threads (a few
/// microseconds); call it only on paths that are rare or already slow.
pub(crate) fn heavy() {
    #[cfg(guard_loom)]
    crate::loom::fence(crate::loom::Ordering::SeqCst);
    #[cfg(not(guard_loom))]
    {
        std::sync::atomic::fence(StdOrdering::SeqCst);
        #[cfg(target_os = "linux")]
        {
            let state = STATE.load(StdOrdering::Acquire);
            if state == UNKNOWN {
                // A `light` that reads the new state may already run before this call
                // returns: interrupt it like any other.
                register_or_give_up();
                if STATE.load(StdOrdering::Acquire) == EXPEDITED {
                    let _ = sys::expedited();
                }
            } else if state == EXPEDITED && !sys::expedited() {
                // Registration is per address space; a failure here means the kernel forgot
                // it (it cannot, short of exec). Register again; if that fails, no `light`
                // may rely on us any more.
                register_or_give_up();
                if STATE.load(StdOrdering::Acquire) == EXPEDITED {
                    let _ = sys::expedited();
                }
            }
        }
        std::sync::atomic::fence(StdOrdering::SeqCst);
    }
}

/// Registers the process; records `EXPEDITED` only after the kernel accepted, so that a
/// `light` which reads it is covered by every later `heavy`.
///
/// A `light` racing with registration read `UNKNOWN` and fenced for real, which pairs with
/// the full fence every `heavy` also issues.
#[cfg(all(target_os = "linux", not(guard_loom)))]
fn register_or_give_up() {
    let next = if sys::register() {
        EXPEDITED
    } else {
        UNAVAILABLE
    };
    STATE.store(next, StdOrdering::Release);
}

/// Whether [`light`] is currently free (the process is registered for expedited
/// `membarrier`). For tests and benches.
pub(crate) fn is_expedited() -> bool {
    STATE.load(StdOrdering::Relaxed) == EXPEDITED
}

#[cfg(all(test, not(guard_loom)))]
mod tests {
    use super::*;

    #[test]
    fn heavy_registers_on_linux_and_light_then_costs_no_fence() {
        heavy();
        #[cfg(all(target_os = "linux", not(miri)))]
        assert!(
            is_expedited(),
            "membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) was refused on Linux 4.14+"
        );
        light();
        heavy();
    }

    /// The store-buffering litmus test: with `light` on one side and `heavy` on the other,
    /// both loads reading the old value is forbidden. Run many rounds on two threads.
    #[test]
    fn a_store_buffering_pair_never_misses_both_ways() {
        use std::sync::Arc;
        use std::sync::Barrier;
        use std::sync::atomic::{AtomicUsize, Ordering};

        const ROUNDS: usize = 2_000;
        let a = Arc::new(AtomicUsize::new(0));
        let b = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(2));
        let end = Arc::new(Barrier::new(2));
        heavy();
        let hot = {
            let (a, b, start, end) = (a.clone(), b.clone(), start.clone(), end.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::with_capacity(ROUNDS);
                for round in 1..=ROUNDS {
                    start.wait();
                    a.store(round, Ordering::Relaxed);
                    light();
                    seen.push(b.load(Ordering::Relaxed) == round);
                    end.wait();
                }
                seen
            })
        };
        let mut rare_seen = Vec::with_capacity(ROUNDS);
        for round in 1..=ROUNDS {
            start.wait();
            b.store(round, Ordering::Relaxed);
            heavy();
            rare_seen.push(a.load(Ordering::Relaxed) == round);
            end.wait();
        }
        let hot_seen = hot.join().unwrap();
        let both_missed = hot_seen
            .iter()
            .zip(&rare_seen)
            .filter(|(h, r)| !**h && !**r)
            .count();
        assert_eq!(
            both_missed, 0,
            "rounds where neither side saw the other's store"
        );
    }
}
