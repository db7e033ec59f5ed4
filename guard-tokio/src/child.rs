//! Async waits on a child process through an fd that becomes readable when the child
//! exits: [`wait`] for guard's [`Child`](guard_os::Child) (its pidfd on Linux, its
//! exit-watching `kqueue` on macOS and FreeBSD), [`wait_std`] for std's (**Linux only**:
//! [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::process::ExitStatus;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Waits until `pidfd` is readable: its process has exited.
async fn exited(pidfd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `register_with_interest` needs the fd open, the same number and open file
    // description, while the `AsyncFd` lives: it owns a `BorrowedFd` for this function's
    // borrow, and is dropped (deregistered) before this returns.
    let fd = unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) }
        .map_err(|e| e.into_parts().1)?;
    let _ready = fd.readable().await?;
    Ok(())
}

/// Waits for guard's child to exit, without blocking a runtime worker (its pidfd, or on
/// macOS and FreeBSD its exit-watching `kqueue`, polled by tokio's reactor), and reaps it.
///
/// Cancel-safe: dropping the future leaves the child as it was (not reaped).
///
/// # Errors
///
/// [`guard_os::Error::Wait`], as [`Child::wait`](guard_os::Child::wait), also for a
/// failure to register the pidfd with the reactor.
///
/// # Panics
///
/// Outside a tokio runtime with I/O enabled.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let mut cmd = std::process::Command::new("/bin/sh");
/// cmd.args(["-c", "exit 3"]);
/// let mut child = guard_os::Spawn::from_command(&cmd).spawn()?;
/// let status = guard_tokio::child::wait(&mut child).await?;
/// assert_eq!(status.code(), Some(3));
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub async fn wait(child: &mut guard_os::Child) -> guard_os::Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    let pid = child.id();
    exited(child.as_fd())
        .await
        .map_err(|source| guard_os::Error::Wait { pid, source })?;
    // Readable: it has exited, so this does not block.
    child.wait()
}

/// **Linux only** (`pidfd_open`). Waits for std's child to exit, without blocking a
/// runtime worker, and reaps it: a
/// pidfd is opened for it
/// ([`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)) and
/// polled by tokio's reactor. For a child spawned by std's `Command` (with guard's
/// [`CommandExt`](guard_os::CommandExt) or not).
///
/// The pid names this child as long as it is not reaped: the `&mut` borrow keeps std's
/// own `wait` from running meanwhile; nothing else in the process may reap it
/// (`waitpid(-1)`, `SIGCHLD` ignored).
///
/// # Errors
///
/// The OS error of `waitid`, `pidfd_open` or registering the pidfd.
///
/// # Panics
///
/// Outside a tokio runtime with I/O enabled.
///
/// # Examples
///
/// ```
/// use guard_os::CommandExt;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let mut child = std::process::Command::new("/bin/true")
///     .inherit(guard_os::Inherit::new())?
///     .spawn()?;
/// let status = guard_tokio::child::wait_std(&mut child).await?;
/// assert!(status.success());
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[cfg(target_os = "linux")]
pub async fn wait_std(child: &mut std::process::Child) -> io::Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    // Not reaped (just checked, and borrowed mutably since): the pid is still this child's.
    let pid = rustix::process::Pid::from_raw(child.id() as i32)
        .ok_or_else(|| io::Error::other("std's child has pid 0"))?;
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())?;
    exited(pidfd.as_fd()).await?;
    child.wait()
}
