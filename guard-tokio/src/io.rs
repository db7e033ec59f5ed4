//! [`Async`]: a guard fd type driven by tokio's reactor, still registered with guard.
//!
//! A guard wrapper handed to tokio's own types ([`IntoTokio`](crate::IntoTokio)) leaves
//! guard's registry: tokio closes it. `Async<T>` keeps it: the wrapper stays guard's
//! (listed by [`guard_os::fds()`], released as `T` is: a stream's `shutdown(Write)` and
//! close, at a scope's end or at the drop), and tokio only polls its readiness
//! ([`AsyncFd`] on the same fd number, deregistered from the reactor before the fd closes).

use guard_os::{TcpListener, TcpStream, UnixListener, UnixStream};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A guard fd type `T` made non-blocking and registered with the tokio reactor of the
/// runtime it was made in: [`AsyncRead`]/[`AsyncWrite`] for streams and pipes,
/// [`accept`](Async::<TcpListener>::accept) for listeners. The fd stays registered with
/// guard, under `T`'s type and creation site.
///
/// Dropping it deregisters the fd from the reactor, then drops `T` (a unique `T` is then
/// released, and its drop reported, as `T`'s drop does); [`into_inner`](Self::into_inner)
/// gives `T` back in blocking mode, to release it (`close()`, a scope) or pass it on.
///
/// # Examples
///
/// ```
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let listener = guard_tokio::Async::new(guard_os::TcpListener::bind("127.0.0.1:0")?)?;
/// let addr = listener.get_ref().local_addr()?;
/// let client = tokio::spawn(async move {
///     let mut c = guard_tokio::Async::new(guard_os::TcpStream::connect(addr)?)?;
///     c.write_all(b"hi").await?;
///     c.into_inner()?.close()?; // guard's release: shutdown(Write), close
///     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
/// });
/// let (mut conn, _) = listener.accept().await?; // a guard TcpStream, registered
/// let mut got = String::new();
/// conn.read_to_string(&mut got).await?;
/// assert_eq!(got, "hi");
/// client.await??;
/// conn.into_inner()?.close()?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub struct Async<T: AsRawFd> {
    /// `T`, registered with the reactor: dropping it deregisters the fd, then drops `T`.
    fd: AsyncFd<T>,
}

impl<T: AsFd + AsRawFd> Async<T> {
    /// Sets `io`'s fd non-blocking
    /// ([`ioctl(FIONBIO)`](https://man7.org/linux/man-pages/man2/ioctl.2.html)) and
    /// registers it with the current runtime's reactor (read and write interest).
    ///
    /// # Errors
    ///
    /// The OS error of `ioctl` or `epoll_ctl`; `io` is dropped then (released as its drop
    /// does).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with I/O enabled (as [`AsyncFd::new`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let (r, w) = guard_os::pipe()?;
    /// let r = guard_tokio::Async::new(r)?;
    /// assert!(guard_os::fds().len() >= 2); // both ends still guard's
    /// # drop(r); w.close()?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn new(io: T) -> io::Result<Async<T>> {
        rustix::io::ioctl_fionbio(&io, true)?;
        // SAFETY: `AsyncFd::register`'s contract is that `io.as_raw_fd()` stays open, and the
        // same number of the same open file description, while the `AsyncFd` owns `io`. A
        // guard fd type keeps its registered fd for its whole life and hands it out only
        // by value (a release, a drop, a conversion), which `AsyncFd` prevents until its
        // `into_inner`; its `as_raw_fd` always returns that number.
        let fd = unsafe { AsyncFd::register(io) }.map_err(|e| e.into_parts().1)?;
        Ok(Async { fd })
    }

    /// The guard value.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let l = guard_tokio::Async::new(guard_os::TcpListener::bind("127.0.0.1:0")?)?;
    /// println!("listening on {}", l.get_ref().local_addr()?);
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn get_ref(&self) -> &T {
        self.fd.get_ref()
    }

    /// Deregisters the fd from the reactor and gives the guard value back, in blocking
    /// mode again.
    ///
    /// # Errors
    ///
    /// The OS error of `ioctl(FIONBIO)`; the value is dropped then.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let (r, w) = guard_os::pipe()?;
    /// let w = guard_tokio::Async::new(w)?;
    /// w.into_inner()?.close()?; // guard's release: the reader sees EOF
    /// assert_eq!(std::io::Read::read(&mut &r, &mut [0; 1])?, 0);
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub fn into_inner(self) -> io::Result<T> {
        let io = self.fd.into_inner();
        rustix::io::ioctl_fionbio(&io, false)?;
        Ok(io)
    }

    /// Waits until `op` stops failing with `WouldBlock` (each failure clears the
    /// readiness `ready` waits for).
    async fn retry<R>(
        &self,
        write: bool,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            let mut guard = if write {
                self.fd.writable().await?
            } else {
                self.fd.readable().await?
            };
            match guard.try_io(|fd| op(fd.get_ref())) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        write: bool,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let mut guard = if write {
                ready!(self.fd.poll_write_ready(cx))?
            } else {
                ready!(self.fd.poll_read_ready(cx))?
            };
            match guard.try_io(|fd| op(fd.get_ref())) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }
}

impl<T: AsRawFd> Async<T> {
    /// `T`, out of the reactor, still non-blocking: for a release, which closes it anyway.
    fn take(self) -> T {
        self.fd.into_inner()
    }
}

impl<T: guard_core::Resource + AsRawFd> guard_core::Resource for Async<T> {
    type Error = T::Error;

    /// Deregisters the fd from the reactor, then releases `T` as `T` does (a stream's
    /// `shutdown(Write)` and close, a listener's close).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let l = guard_os::TcpListener::bind("127.0.0.1:0")?;
    /// let (a, b) = (guard_os::TcpStream::connect(l.local_addr()?)?, l.accept()?.0);
    /// let a = guard_tokio::Async::new(a)?;
    /// guard_core::scope(|s| {
    ///     let _a = s.enter(a); // released at the scope's end: b reads EOF
    ///     Ok::<_, guard_os::Error>(())
    /// })?;
    /// assert_eq!(std::io::Read::read(&mut &b, &mut [0; 8])?, 0);
    /// # b.close()?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    fn release(self) -> Result<(), T::Error> {
        self.take().release()
    }
}

impl<T: guard_core::UniqueResource + AsRawFd> guard_core::UniqueResource for Async<T> {}

/// Counted: a listener shared by tasks in a [`Counted`](guard_core::Counted) handle, closed
/// after the last handle, its reactor registration ending with it: on the dropping thread
/// when `T`'s release takes no lock and nothing of that thread is pending, else on the
/// finalizer. Deregistering takes only tokio's own short internal lock, never one a user
/// thread holds, so `Async<T>` keeps `T`'s
/// [`RELEASE_TAKES_NO_LOCK`](guard_core::CountedResource::RELEASE_TAKES_NO_LOCK).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let l = guard_os::TcpListener::bind("127.0.0.1:0")?;
/// let shared = guard_core::Counted::new(guard_tokio::Async::new(l)?);
/// let for_task = shared.clone();
/// let addr = shared.get_ref().local_addr()?;
/// let accepted = tokio::spawn(async move { for_task.accept().await.map(|_| ()) });
/// let c = guard_os::TcpStream::connect(addr)?;
/// accepted.await??;
/// # c.close()?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
impl<T: guard_core::CountedResource + AsRawFd> guard_core::CountedResource for Async<T> {
    const RELEASE_TAKES_NO_LOCK: bool = T::RELEASE_TAKES_NO_LOCK;
}

/// An error of a guard accept as the `io::Error` it wraps (so that `WouldBlock` is seen).
fn os(e: guard_os::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::other(e),
    }
}

impl Async<TcpListener> {
    /// Accepts a connection without blocking the worker: a guard [`TcpStream`] (unique,
    /// registered, created here), itself made [`Async`].
    ///
    /// # Errors
    ///
    /// The OS error of `accept4` or of registering the new stream.
    ///
    /// # Examples
    ///
    /// See [`Async`].
    pub async fn accept(&self) -> io::Result<(Async<TcpStream>, SocketAddr)> {
        let (stream, addr) = self.retry(false, |l| l.accept().map_err(os)).await?;
        Ok((Async::new(stream)?, addr))
    }
}

impl Async<UnixListener> {
    /// Accepts a connection without blocking the worker: a guard [`UnixStream`] (unique,
    /// registered), itself made [`Async`].
    ///
    /// # Errors
    ///
    /// The OS error of `accept4` or of registering the new stream.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
    /// let path = std::env::temp_dir().join(format!("guard-tokio-doc-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let l = guard_tokio::Async::new(guard_os::UnixListener::bind(&path)?)?;
    /// let c = guard_os::UnixStream::connect(&path)?;
    /// let s = l.accept().await?;
    /// s.into_inner()?.close()?; c.close()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    /// ```
    pub async fn accept(&self) -> io::Result<Async<UnixStream>> {
        let stream = self.retry(false, |l| l.accept().map_err(os)).await?;
        Async::new(stream)
    }
}

impl<T: AsFd + AsRawFd> AsFd for Async<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.get_ref().as_fd()
    }
}

impl<T: AsFd + AsRawFd> AsyncRead for Async<T>
where
    for<'a> &'a T: Read,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = ready!(self.poll_io(cx, false, |mut io| io.read(buf.initialize_unfilled())))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsFd + AsRawFd + 'static> AsyncWrite for Async<T>
where
    for<'a> &'a T: Write,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_io(cx, true, |mut io| io.write(data))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_io(cx, true, |mut io| io.flush())
    }

    /// `shutdown(Write)` on a socket (the peer reads EOF; the fd stays open and guard's);
    /// nothing on a pipe, whose end sees EOF only when the writer is released. On guard's
    /// [`TcpStream`] and [`UnixStream`] it is their
    /// [`shutdown_write`](TcpStream::shutdown_write): their release then only closes (it
    /// does not shut down again, which would fail with `ENOTCONN` once the peer has closed).
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let io: &dyn std::any::Any = self.fd.get_ref();
        let guard_stream = if let Some(s) = io.downcast_ref::<TcpStream>() {
            Some(s.shutdown_write())
        } else {
            io.downcast_ref::<UnixStream>()
                .map(UnixStream::shutdown_write)
        };
        if let Some(done) = guard_stream {
            return Poll::Ready(done.map_err(io::Error::from));
        }
        match rustix::net::shutdown(self.fd.get_ref(), rustix::net::Shutdown::Write) {
            Err(rustix::io::Errno::NOTSOCK) => Poll::Ready(Ok(())),
            other => Poll::Ready(other.map_err(io::Error::from)),
        }
    }
}

impl<T: AsRawFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.get_ref().as_raw_fd()
    }
}

impl<T: AsRawFd + std::fmt::Debug> std::fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Async").field(self.fd.get_ref()).finish()
    }
}
