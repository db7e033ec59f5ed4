//! Bounded scopes: a scope's memory follows its live guards, not how many were ever
//! entered, whatever order the guards are dropped in. Its own binary: it counts the bytes
//! this thread has allocated and not freed, through a counting global allocator.

mod common;

use guard_core::{Resource, UniqueResource, scope};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread (a const, destructor-free local:
    /// reading it never allocates).
    static NET: Cell<isize> = const { Cell::new(0) };
}

fn add(n: isize) {
    let _ = NET.try_with(|net| net.set(net.get() + n));
}

// SAFETY: every call is forwarded to `System` unchanged; the count is a side note.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn net() -> isize {
    NET.with(Cell::get)
}

/// A resource whose release allocates nothing: it counts itself released.
struct Tick<'a>(&'a Cell<usize>);

impl Resource for Tick<'_> {
    type Error = std::io::Error;
    fn release(self) -> std::io::Result<()> {
        self.0.set(self.0.get() + 1);
        Ok(())
    }
}
impl UniqueResource for Tick<'_> {}

/// `enter a; enter b; drop a; drop b` (the older first), then a window of guards dropped
/// oldest first, many times over inside one scope: after a warm-up round, the scope holds
/// no more memory than its live guards need.
#[test]
fn guards_dropped_out_of_order_leave_nothing_behind() {
    let released = Cell::new(0);
    let rounds = common::rounds(20_000);
    scope(|s| {
        let round = || {
            let a = s.enter(Tick(&released));
            let b = s.enter(Tick(&released));
            drop(a);
            drop(b);
            let mut window = std::collections::VecDeque::new();
            for _ in 0..4 {
                window.push_back(s.enter(Tick(&released)));
            }
            while let Some(oldest) = window.pop_front() {
                drop(oldest);
            }
        };
        round();
        let kept = s.enter(Tick(&released));
        let before = net();
        for _ in 0..rounds {
            round();
        }
        let grown = net() - before;
        assert!(
            grown <= 0,
            "{grown} bytes still held after {rounds} rounds of out-of-order drops"
        );
        assert!(
            format!("{s:?}").contains("held: 1"),
            "only the kept guard is held: {s:?}"
        );
        drop(kept);
        Ok::<_, std::io::Error>(())
    })
    .unwrap();
    assert_eq!(released.get(), 6 * (rounds + 1) + 1, "each released once");
}
