//! guard-os: the OS layer of guard, for Linux, macOS and FreeBSD (elsewhere it is empty).
//!
//! Every OS object gets the classification its release calls for:
//!
//! | type | kind | release |
//! |---|---|---|
//! | [`ReadFile`], [`PipeReader`] | counted | close |
//! | [`TcpListener`], [`UdpSocket`], [`UnixListener`] | counted | close |
//! | [`Fd`] (anything else, [`Fd::adopt`]) | counted | close |
//! | [`IpcMutex`] (an OS mutex handle) | counted | close |
//! | [`IpcLock`] (an acquisition) | unique | record "free", unlock |
//! | [`WriteFile`] | unique | flush, optional `fsync`, close; every error returned |
//! | [`PipeWriter`] | unique | close (the reader sees EOF) |
//! | [`TcpStream`], [`UnixStream`] | unique | `shutdown(Write)` (the peer sees EOF), close |
//! | [`Child`] (started by [`Spawn`]) | unique, or counted | close its stdin, wait (after an optional signal and grace period); a failed child is an error |
//!
//! Every fd is created with `FD_CLOEXEC` set atomically and registered with its kind, type
//! and creation site. [`fds()`] lists them under leases (invariants R1-R3, see [`Fds`]);
//! [`untracked()`] lists the fds open in the process that guard does not own; the
//! registry is a section of [`guard_core::report()`]. When creating an fd fails with
//! `EMFILE`/`ENFILE`, pending counted releases are drained and the creation retried once
//! (F5, [`pressure_retries`]).
//!
//! [`IpcMutex`] is a named mutex between processes that reports a holder's death to the
//! next owner. [`CommandExt::inherit`] gives a child exactly the fds it is meant to have, at
//! the numbers it expects, and nothing else (R4, R5); [`Inherit::listen_fds`] passes
//! sockets the systemd way, and [`listen_fds()`] takes them in the child, as registered
//! [`Fd`]s that `TryFrom` turns into a [`TcpListener`] or [`UnixListener`].
//!
//! # Platforms
//!
//! Linux, macOS and FreeBSD, each through its own mechanisms (`docs/DESIGN.md`, "guard-os
//! beyond Linux"). Everything is tested on Linux; macOS and FreeBSD are compile-checked
//! (clippy) in CI. Linux only, and marked so in their docs: `Spawn` and `Child`. Where
//! they differ:
//!
//! | | Linux | macOS | FreeBSD |
//! |---|---|---|---|
//! | `FD_CLOEXEC` at creation | atomic | atomic for files and dups; set just after for sockets and pipes | atomic |
//! | a child's other fds ([`CommandExt::inherit`]) | `close_range(CLOEXEC)` | `proc_pidinfo` list | `close_range(CLOEXEC)` |
//! | [`untracked()`] | `/proc/self/fd` | `proc_pidinfo(PROC_PIDLISTFDS)` | `sysctl(kern.proc.filedesc)` |
//! | [`listen_fds()`]'s thread count | `/proc/self/status` | `proc_pidinfo(PROC_PIDTASKINFO)` | `sysctl(kern.proc.pid)` |
//! | [`IpcMutex`] | robust pthread mutex | `flock` | `flock` |
//!
//! # Examples
//!
//! ```
//! use std::io::{Read, Write};
//! let (reader, writer) = guard_os::pipe()?;
//! let reader = guard_core::Counted::new(reader); // counted: closed on the finalizer
//! guard_core::scope(|s| {
//!     let mut w = s.enter(writer); // unique: closed at the end of the scope
//!     w.write_all(b"hello")?;
//!     Ok::<_, std::io::Error>(())
//! })?;
//! let mut got = String::new();
//! (&*reader).read_to_string(&mut got)?; // EOF came with the scope's end
//! assert_eq!(got, "hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Synchronisation: guard-os takes `std::sync` (atomics, `LazyLock`, `Arc`) and `parking_lot`
// directly. STYLE's rule (sync types only through `crate::loom`) exists so that loom can
// model-check guard-core's concurrent cores; guard-os has none of its own (its registry is
// guard-core's), and its tests exercise real fds and processes, which loom cannot model.
#![cfg(any(target_os = "linux", target_os = "macos", target_os = "freebsd"))]
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]

#[allow(unsafe_code)]
mod command;
mod error;
mod fd;
mod file;
mod ipc_mutex;
#[allow(unsafe_code)]
mod passing;
mod pipe;
mod socket;
#[allow(unsafe_code)]
mod sys;

/// **Linux only**: it is waited for and signalled through a pidfd.
#[cfg(target_os = "linux")]
pub use command::Child;
#[doc(hidden)]
pub use command::CloexecStrategy;
/// **Linux only**: it starts children with `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)`.
/// On macOS and FreeBSD, use [`CommandExt::inherit`] on a `std::process::Command`.
#[cfg(target_os = "linux")]
pub use command::Spawn;
/// **Linux only**: how a [`Spawn`]ed child's stdin, stdout and stderr are set.
#[cfg(target_os = "linux")]
pub use command::Stdio;
pub use command::{CommandExt, Inherit, ListenFd, Registered, listen_fds_command};
pub use error::{Error, Result};
pub use fd::{
    Fd, Fds, IntoOwnedError, LiveFd, PRESSURE_FLUSH_TIMEOUT, Untracked, fds, pressure_retries,
    retry_on_pressure, untracked,
};
pub use file::{ReadFile, WriteFile};
pub use ipc_mutex::{IpcLock, IpcMutex, LockError, OwnerDied};
pub use passing::{ListenFds, ListenOptions, listen_fds, listen_fds_unchecked};
pub use pipe::{PipeReader, PipeWriter, pipe};
pub use socket::{TcpListener, TcpStream, TryFromFdError, UdpSocket, UnixListener, UnixStream};
