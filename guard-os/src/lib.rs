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
//! (clippy) in CI. Where they differ:
//!
//! | | Linux | macOS | FreeBSD |
//! |---|---|---|---|
//! | `FD_CLOEXEC` at creation | atomic | atomic for files and dups; set just after for sockets and pipes (see below) | atomic |
//! | a child's other fds ([`CommandExt::inherit`]) | `close_range(CLOEXEC)` | `proc_pidinfo` list | `close_range(CLOEXEC)` |
//! | [`Spawn`] (never `fork`) | `clone(CLONE_VM \| CLONE_VFORK \| CLONE_PIDFD)` | `posix_spawn`, `POSIX_SPAWN_CLOEXEC_DEFAULT`, `addinherit_np` | `posix_spawn`, `addclosefrom_np` (13.1+) |
//! | [`Child`]: wait, signal, [`AsFd`](std::os::fd::AsFd) | pidfd: `waitid(P_PIDFD)`, `pidfd_send_signal`, the pidfd | pid (ours until reaped): `waitpid`, `kill`, a `kqueue` watching its exit | as macOS |
//! | `LISTEN_PID` with [`Spawn`] and [`Inherit::listen_fds`] | written by the child | through `/bin/sh` | through `/bin/sh` |
//! | [`untracked()`] | `/proc/self/fd` | `proc_pidinfo(PROC_PIDLISTFDS)` | `sysctl(kern.proc.filedesc)` |
//! | [`listen_fds()`]'s thread count | `/proc/self/status` | `proc_pidinfo(PROC_PIDTASKINFO)` | `sysctl(kern.proc.pid)` |
//! | [`IpcMutex`] | robust pthread mutex | `flock` | `flock` |
//!
//! ## macOS: the close-on-exec window
//!
//! macOS has no `SOCK_CLOEXEC`, no `accept4`, and `pipe2` only in recent SDKs, so guard-os
//! creates sockets, accepted connections and pipes and then sets `FD_CLOEXEC`: for a few
//! instructions such an fd is inheritable. guard's own spawns ([`Spawn`]) are immune: with
//! `POSIX_SPAWN_CLOEXEC_DEFAULT` a child gets only the fds its file actions name, whatever
//! other threads do. Other code's spawns are not: a `std::process::Command` (or any
//! `fork`/`posix_spawn` without that flag) that another thread starts inside the window
//! gives its child a copy of the fd, which then lives as long as that child (a listener
//! stays bound, a pipe's reader never sees EOF). [`CommandExt::inherit`] closes that for
//! the `Command`s it is applied to (its child marks every fd from 3 up close-on-exec);
//! spawning through [`Spawn`], or from one thread, closes it everywhere.
//!
//! # Examples
//!
//! ```
//! use std::io::{Read, Write};
//! let (reader, writer) = guard_os::pipe()?;
//! let reader = guard_core::Counted::new(reader); // counted: closed when the last handle goes
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

pub use command::Child;
#[doc(hidden)]
pub use command::{CloexecStrategy, PidfdStrategy};
pub use command::{CommandExt, Inherit, ListenFd, Registered, Spawn, Stdio, listen_fds_command};
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
