//! What the unixes share. On every OS: [`child_fds`], the fd steps of a child between
//! `fork` and `exec` (Linux's `sys/child.rs` uses them too). On macOS and FreeBSD only: the
//! child's fd hygiene ([`child`], each OS's own step first: `freebsd/child.rs`,
//! `apple/child.rs`), and [`spawn`]: `posix_spawn` with each OS's file actions
//! (`apple/spawn.rs`, `freebsd/spawn.rs`), `waitpid`, `kill` and the exit-watching `kqueue`.

#[cfg(not(target_os = "linux"))]
pub(crate) mod child;
pub(crate) mod child_fds;
#[cfg(not(target_os = "linux"))]
pub(crate) mod spawn;
