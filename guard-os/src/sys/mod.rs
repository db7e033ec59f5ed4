//! Every call into the OS, as thin safe wrappers (the rustix model: each area a file of
//! small functions, FFI confined here). Nothing here imports from the rest of the crate,
//! and nothing outside calls rustix, libc or socket2. Every fd created here has
//! `FD_CLOEXEC` set atomically.
//!
//! - [`fd`]: duplicating, the `FD_CLOEXEC` flag, checking and closing numbers;
//! - [`fs`]: files (open, positioned I/O, `fsync`, owner and mode, `flock`);
//! - [`shm`]: a lock file's shared mapping and the robust pthread mutex in it;
//! - [`io`]: reading, writing, pipes;
//! - [`socket`]: sockets, through socket2;
//! - [`process`]: this process's id and the fds open in it;
//! - [`child`]: the async-signal-safe calls a child makes between `fork` and `exec`;
//! - [`spawn`]: starting a child with `clone(CLONE_VM | CLONE_VFORK)`, waiting for it and
//!   signalling it through its pidfd.
//!
//! Syscalls go through rustix wherever it has them; libc where rustix lacks the call
//! (`close_range(2)`, pthread mutexes) or would need a `BorrowedFd` for a number not known to be open.

pub(crate) mod child;
mod conv;
pub(crate) use conv::{EBADF, EINVAL, EMFILE, ENFILE, ENOTSOCK, ESRCH};
mod fd;
mod fs;
mod io;
mod process;
mod shm;
mod socket;
pub(crate) mod spawn;

#[cfg(test)]
pub(crate) use fd::{check_open, is_cloexec};
pub(crate) use fd::{
    check_open_number, claim_inherited, close_raw, dup_cloexec, dup_cloexec_from, set_cloexec,
};
pub(crate) use fs::{
    Owner, euid, file_size, flock_exclusive, flock_unlock, fsync, open_lock_file, open_read,
    open_to_inspect, open_write, owner, owner_of_path, pread, set_len,
};
pub(crate) use io::{pipe, read, write};
pub(crate) use process::{fd_target, open_fds, thread_count};
pub(crate) use shm::{EDEADLK, LOCK_PAGE_LEN, LockMap, Locked, cached_pid, map_lock_page};
pub(crate) use socket::{
    Domain, Protocol, SockAddr, Type, accept, bind, connect, is_listener, listen, local_addr,
    peer_addr, recv, recv_from, send, send_to, set_nonblocking, set_read_timeout,
    set_reuse_address, set_write_timeout, shutdown_write, socket, socket_domain, socket_protocol,
    socket_type, unix_stream_pair,
};
