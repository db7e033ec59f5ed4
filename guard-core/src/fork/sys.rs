//! The one OS call of guard-core: [`pthread_atfork(3)`](https://man7.org/linux/man-pages/man3/pthread_atfork.3.html).

/// Registers the three fork handlers for the rest of the process's life (and of its forked
/// children's). `false` if the C library refused (`ENOMEM`).
pub(super) fn at_fork(
    prepare: extern "C" fn(),
    parent: extern "C" fn(),
    child: extern "C" fn(),
) -> bool {
    // SAFETY: the three are plain `extern "C"` functions of this crate, valid for the
    // process's lifetime; `pthread_atfork` only stores them.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) == 0 }
}
