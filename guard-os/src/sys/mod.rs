//! Every call into the OS, as thin safe wrappers (the rustix model: each area a file of
//! small functions, FFI confined here). Nothing here imports from the rest of the crate,
//! and nothing outside calls rustix, libc or socket2. Every fd created here has
//! `FD_CLOEXEC` set, atomically wherever the OS can (on macOS, sockets and pipes get it
//! just after their creation: see [`io`] and [`socket`]).
//!
//! The areas every OS shares, one file each:
//!
//! - [`fd`]: duplicating, the `FD_CLOEXEC` flag, checking and closing numbers;
//! - [`fs`]: files (open, positioned I/O, `fsync`, owner and mode, `flock`);
//! - [`shm`]: a lock file's shared mapping; [`lock`]: what locking its mutex got;
//! - [`io`]: reading, writing, pipes;
//! - [`socket`]: sockets, through socket2;
//! - [`process`]: this process's id.
//!
//! Each OS's own mechanisms, one module per OS: [`linux`] (`/proc`, the robust pthread
//! mutex), [`apple`] (`proc_pidinfo`, `F_GETPATH`, `SO_ACCEPTCONN`, non-atomic
//! close-on-exec), [`freebsd`] (`sysctl(KERN_PROC_FILEDESC)`, `close_range`), and
//! [`unix`], what the unixes share: the fd steps of a child between `fork` and `exec`
//! (every OS), and on macOS and FreeBSD the child's fd hygiene and [`spawn`] there: `posix_spawn` with each OS's file actions (macOS
//! `POSIX_SPAWN_CLOEXEC_DEFAULT` and `addinherit_np`, FreeBSD `addclosefrom_np`, in
//! `apple/spawn.rs` and `freebsd/spawn.rs`), `waitpid`, `kill`, and a `kqueue` watching the
//! child's exit. On Linux they are [`child`] and [`spawn`] (starting a child with
//! `clone(CLONE_VM | CLONE_VFORK)`, waiting for it and signalling it through its pidfd).
//! [`spawned`] is what every OS's spawn shares.
//!
//! Syscalls go through rustix wherever it has them; libc where rustix lacks the call
//! (`close_range(2)`, pthread mutexes, `proc_pidinfo`, `sysctl`) or would need a
//! `BorrowedFd` for a number not known to be open.

mod conv;
pub(crate) use conv::{EBADF, EBUSY, EINVAL, EMFILE, ENFILE, ENOTSOCK, ESRCH};
mod fd;
mod fs;
mod io;
mod lock;
mod process;
mod shm;
mod socket;
mod spawned;

#[cfg(target_os = "linux")]
pub(crate) mod child;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as os;
#[cfg(target_os = "linux")]
pub(crate) mod spawn;

#[cfg(target_os = "macos")]
mod apple;
#[cfg(target_os = "macos")]
use apple as os;

#[cfg(target_os = "freebsd")]
mod freebsd;
#[cfg(target_os = "freebsd")]
use freebsd as os;

mod unix;
#[cfg(not(target_os = "linux"))]
pub(crate) use unix::{child, spawn};

#[cfg(target_os = "macos")]
pub(crate) use apple::{is_listener, socket_protocol};
#[cfg(test)]
pub(crate) use fd::{check_open, is_cloexec};
pub(crate) use fd::{
    check_open_number, claim_inherited, close_raw, dup_cloexec, dup_cloexec_from, set_cloexec,
};
#[cfg(any(not(target_os = "linux"), test))]
pub(crate) use fs::FileId;
pub(crate) use fs::{
    Owner, euid, file_size, flock_exclusive, flock_unlock, fsync, open_lock_file, open_read,
    open_write, owner, owner_at, owner_of_path, pread, set_len,
};
pub(crate) use io::{pipe, read, write};
pub(crate) use lock::{EDEADLK, Locked};
pub(crate) use os::{closes_without_waiting, fd_target, open_fds, thread_count, user_dir};
pub(crate) use shm::{LOCK_PAGE_LEN, LockMap, cached_pid, map_lock_page};
pub(crate) use socket::{
    Domain, Protocol, SockAddr, Type, accept, bind, connect, listen, local_addr, peer_addr, recv,
    recv_from, send, send_to, set_nonblocking, set_read_timeout, set_reuse_address,
    set_write_timeout, shutdown_write, socket, socket_domain, socket_type, unix_stream_pair,
};
#[cfg(not(target_os = "macos"))]
pub(crate) use socket::{is_listener, socket_protocol};
