//! What macOS and FreeBSD share: the child's fd hygiene between `fork` and `exec`
//! ([`child`]), each OS's own step first (`freebsd/child.rs`, `apple/child.rs`).

pub(crate) mod child;
