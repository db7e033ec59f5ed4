//! `fork()` without exec: guard's locks are taken before a fork and given back in both
//! processes after it (the technique glibc's `malloc` uses), so that a forked child finds
//! every guard lock free and the state behind it consistent, whatever the parent's other
//! threads were doing; then each piece of state puts itself right for a process with one
//! thread (the finalizer forgets the parent's threads and queue and starts its own on first
//! use).
//!
//! Each owner of process-wide state registers an [`AtFork`] once, when the state is first
//! used; the first registration installs the handlers with `pthread_atfork` ([`sys`]).
//! Handlers run in the forking thread; glibc and musl run them under their own lock, so two
//! forks never interleave their handlers.

mod hooks;
#[cfg(not(guard_loom))]
mod sys;

pub(crate) use hooks::{AtFork, Held, register};
