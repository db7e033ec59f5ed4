//! [`membarrier(2)`](https://man7.org/linux/man-pages/man2/membarrier.2.html), the one
//! system call behind the asymmetric fence. libc has no wrapper; the numbers are the
//! kernel's UAPI (`linux/membarrier.h`), stable since Linux 4.14.

const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

fn membarrier(cmd: libc::c_int) -> bool {
    // Miri has no `membarrier`: report it missing, and both sides fence.
    if cfg!(miri) {
        return false;
    }
    // SAFETY: `membarrier(cmd, flags = 0, cpu_id = 0)` reads no memory of ours; an unknown
    // command or a kernel without the call returns -1 (EINVAL, ENOSYS, EPERM), never UB.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            cmd,
            0 as libc::c_uint,
            0 as libc::c_int,
        ) == 0
    }
}

/// Registers this address space for expedited private barriers. `false` if the kernel
/// refused (no such call, or a seccomp filter).
pub(super) fn register() -> bool {
    membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)
}

/// Runs a full memory barrier on every CPU currently running a thread of this process.
/// `false` if the process is not registered (or the call failed).
pub(super) fn expedited() -> bool {
    membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)
}
