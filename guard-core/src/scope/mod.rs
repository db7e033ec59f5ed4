//! Scopes: the place unique resources live. Modelled on `std::thread::scope`: soundness
//! comes from a function, not from `Drop`. [`scope`] owns every resource entered in it,
//! and releases each one exactly once, in reverse order of entry, before it returns, on
//! every exit path (normal, `?`, panic).
//!
//! Invariants (design S1-S3):
//!
//! - **S1** Every entered resource is released exactly once, in reverse order of entry, on
//!   normal exit, early return and panic (the panic resumes after every release ran).
//! - **S2** Nothing is dropped: [`ScopeError`](crate::ScopeError) holds the body's error
//!   and every release error; when a panic resumes (the body's, else the first release's),
//!   what it cannot carry goes to the [event hook](crate::event::set_hook), once each.
//! - **S3** A [`Guard`] cannot outlive its scope (lifetimes), and `mem::forget` on a guard
//!   leaks nothing (the scope still owns the resource).
//!
//! A scope holds memory only for its live guards: a guard that goes (dropped, released or
//! taken back, in any order) frees its slot at once, so a long-lived scope entering and
//! dropping guards runs in constant memory, and the closing pass walks only what is live.

mod guard;
mod held;
mod link;
mod outcome;
mod scoped;
mod state;

pub use guard::Guard;
pub use scoped::{Scope, scope};
