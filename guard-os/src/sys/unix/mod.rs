//! What macOS and FreeBSD share: the child's fd hygiene between `fork` and `exec`
//! ([`child`], each OS's own step first: `freebsd/child.rs`, `apple/child.rs`), and
//! [`spawn`]: `posix_spawn` with each OS's file actions (`apple/spawn.rs`,
//! `freebsd/spawn.rs`), `waitpid`, `kill` and the exit-watching `kqueue`.

pub(crate) mod child;
pub(crate) mod spawn;
