//! guard-tokio: guard in async Rust.
//!
//! guard's core and OS layer stay free of tokio; this crate holds everything that needs it:
//! conversions between guard's fds, sockets and pipes and tokio's types, async waits on
//! guard's children and on the finalizer, an async mutex whose guard is a unique resource
//! and that cannot futurelock by hand-off, a detector for the futurelocks no lock design
//! prevents, and async scopes for resources with an async release.
//!
//! Interop: [`Async`] drives a guard fd type with tokio's reactor while it stays guard's
//! (registered, released as guard releases it); [`IntoTokio`]/[`FromTokio`] hand it over
//! to tokio's own types and back, explicitly (out of guard's registry and in again);
//! [`child`] waits for processes, [`flush`] for the finalizer, [`IpcMutex`] locks guard's
//! inter-process mutex, and [`listen`] takes passed sockets before the runtime starts.
//!
//! Add it beside guard: `cargo add guard-tokio tokio --features tokio/rt-multi-thread`.
//!
//! # One example per module
//!
//! Each runs on a current-thread runtime made by this line, hidden below:
//! `tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async { .. })`.
//!
//! [`lock`]: an async mutex whose guard is a unique resource; RFD 609's futurelock
//! (a lock future polled by reference in `select!`, the other branch locking too)
//! completes, because a woken waiter takes the lock only when polled.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let m = guard_tokio::Mutex::new(0);
//! let held = m.lock().await;
//! let mut waiting = std::pin::pin!(m.lock());
//! tokio::select! {
//!     biased;
//!     _ = &mut waiting => unreachable!("held"), // polled once by reference: queued
//!     () = std::future::ready(()) => {}
//! }
//! drop(held); // wakes `waiting`, which is not polled until the end
//! *m.lock().await += 1; // tokio's fair Mutex hangs here: it handed itself to `waiting`
//! assert_eq!(*waiting.await, 1);
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! [`scope`](mod@scope): resources released newest first at the scope's end, each awaited; a lock
//! guard enters as it is.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let m = std::sync::Arc::new(guard_tokio::Mutex::new(0));
//! let n = guard_tokio::scope(async |s| {
//!     let mut g = s.enter(m.clone().lock_owned().await);
//!     **g += 1;
//!     Ok::<_, std::io::Error>(**g)
//! })
//! .await?;
//! assert_eq!((n, *m.try_lock()?), (1, 1)); // unlocked at the scope's end
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! [`Async`] (module `io`): a guard socket or pipe read and written through tokio's
//! reactor, still registered with guard.
//!
//! ```
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let (a, b) = guard_os::UnixStream::pair()?;
//! let (mut a, mut b) = (guard_tokio::Async::new(a)?, guard_tokio::Async::new(b)?);
//! a.write_all(b"ping").await?;
//! a.shutdown().await?; // b reads EOF; a's release then only closes
//! let mut got = String::new();
//! b.read_to_string(&mut got).await?;
//! assert_eq!(got, "ping");
//! a.into_inner()?.close()?;
//! b.into_inner()?.close()?;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! [`IntoTokio`]/[`FromTokio`] (module `convert`): an explicit hand-over to tokio's own
//! types (out of guard's registry) and back (in again).
//!
//! ```
//! use guard_tokio::{FromTokio, IntoTokio};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let before = guard_os::fds().len();
//! let theirs: tokio::net::TcpListener = guard_os::TcpListener::bind("127.0.0.1:0")?.into_tokio()?;
//! assert_eq!(guard_os::fds().len(), before); // tokio's now
//! let ours = guard_os::TcpListener::from_tokio(theirs)?;
//! assert_eq!(guard_os::fds().len(), before + 1); // guard's again
//! # drop(ours);
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! [`child`] (Linux): a wait for a child process that blocks no worker.
//!
//! ```
//! # #[cfg(target_os = "linux")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let mut child = std::process::Command::new("/bin/true").spawn()?;
//! let status = guard_tokio::child::wait_std(&mut child).await?;
//! assert!(status.success());
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! [`flush()`](fn@flush) (module `flush`): await the finalizer's releases without blocking a worker.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let l = guard_core::Counted::new(guard_os::TcpListener::bind("127.0.0.1:0")?);
//! let addr = l.local_addr()?;
//! drop(l); // closed on the finalizer thread
//! guard_tokio::flush().await?; // closed now
//! guard_os::TcpListener::bind(addr)?; // the port is free
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! [`IpcMutex`] (module `ipc`): guard's inter-process mutex, locked by a future.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let name = format!("doc-crate-ipc-{}", std::process::id());
//! let m = guard_tokio::IpcMutex::open(&name)?;
//! let held = m.lock().await?;
//! tokio::task::yield_now().await; // held across an await; no worker blocks
//! held.unlock()?;
//! # guard_os::IpcMutex::remove(&name)?;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! [`listen`]: take passed sockets before the runtime starts (its threads would make
//! [`guard_os::listen_fds`] refuse), then build the runtime.
//!
//! ```
//! let mut builder = tokio::runtime::Builder::new_current_thread();
//! builder.enable_all();
//! let options = guard_os::ListenOptions::new().accept_missing_pid(true);
//! let (passed, runtime) = guard_tokio::listen::build(options, &mut builder)?;
//! runtime.block_on(async move {
//!     let listener = match passed.into_fds().pop() {
//!         Some(fd) => guard_os::TcpListener::try_from(fd)?,
//!         None => guard_os::TcpListener::bind("127.0.0.1:0")?, // started by hand
//!     };
//!     let listener = guard_tokio::Async::new(listener)?; // ... accept on it
//! #   drop(listener);
//!     Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```

#![deny(missing_docs)]
#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]

// `AsyncFd::register`, tokio's only constructor that is not deprecated, is `unsafe`.
#[allow(unsafe_code)]
pub mod child;
mod convert;
mod flush;
#[allow(unsafe_code)]
mod io;
mod ipc;
pub mod listen;
// The async mutex's value sits in an `UnsafeCell` (see docs/DESIGN.md's unsafe table).
#[allow(unsafe_code)]
pub mod lock;
// An async scope's slots are leaked boxes its table owns (see docs/DESIGN.md).
#[allow(unsafe_code)]
pub mod scope;

pub use convert::{FromTokio, IntoTokio};
pub use flush::flush;
pub use io::Async;
pub use ipc::{IpcLock, IpcMutex};
pub use lock::Mutex;
pub use scope::{AsyncRelease, scope};
