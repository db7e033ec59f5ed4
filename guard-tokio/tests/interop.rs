//! guard's fds, sockets and pipes with tokio: `Async` keeps them registered while the
//! reactor polls them, `IntoTokio`/`FromTokio` hand them over (out of the registry and back
//! in), with no fd leaked; child waits and the finalizer flush never block a worker.
// Linux only: guard's `Spawn`, `Child` and the pidfd waits are.
#![cfg(target_os = "linux")]

use guard_tokio::{Async, FromTokio, IntoTokio};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One test at a time: each compares the process's fds before and after.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` on a current-thread runtime (one worker: anything that blocks it hangs the
/// test, which the watchdog turns into a failure).
fn current_thread<F: Future<Output = ()> + 'static>(f: impl FnOnce() -> F + Send + 'static) {
    guard_testkit::watchdog(Duration::from_secs(60), move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(f());
    });
}

/// The fds open before a test: after a first runtime has come and gone, since tokio's
/// signal driver keeps a socket pair for the life of the process.
fn baseline() -> Vec<(RawFd, String)> {
    static WARM: std::sync::Once = std::sync::Once::new();
    WARM.call_once(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {});
    });
    open_fds()
}

fn open_fds() -> Vec<(RawFd, String)> {
    guard_testkit::open_fds().unwrap().into_iter().collect()
}

/// The registered type of fd `n`, if it is registered.
fn registered(n: RawFd) -> Option<&'static str> {
    let mut found = None;
    guard_os::fds().for_each(|fd| {
        if fd.number() == n {
            found = Some(fd.type_name());
        }
    });
    found
}

#[test]
fn async_keeps_the_fds_registered_while_tokio_serves_on_them() {
    let _s = serial();
    let baseline = baseline();
    current_thread(|| async {
        let listener = Async::new(guard_os::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
        let n = listener.as_raw_fd();
        let client = tokio::spawn(async move {
            let mut c = Async::new(guard_os::TcpStream::connect(addr).unwrap()).unwrap();
            c.write_all(b"ping").await.unwrap();
            let mut got = String::new();
            c.read_to_string(&mut got).await.unwrap();
            c.into_inner().unwrap().close().unwrap();
            got
        });
        let (mut conn, _) = listener.accept().await.unwrap();
        assert_eq!(
            registered(conn.as_raw_fd()),
            Some(std::any::type_name::<guard_os::TcpStream>()),
            "an accepted stream is guard's"
        );
        assert_eq!(
            registered(n),
            Some(std::any::type_name::<guard_os::TcpListener>())
        );
        let mut got = [0; 4];
        conn.read_exact(&mut got).await.unwrap();
        conn.write_all(&got).await.unwrap();
        conn.into_inner().unwrap().close().unwrap(); // guard's release: the client sees EOF
        assert_eq!(client.await.unwrap(), "ping");

        // Pipes: the reader awaits what the writer sends; the writer's release is EOF.
        let (r, w) = guard_os::pipe().unwrap();
        let mut r = Async::new(r).unwrap();
        let mut w = Async::new(w).unwrap();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            got
        });
        w.write_all(b"through the pipe").await.unwrap();
        w.into_inner().unwrap().close().unwrap();
        assert_eq!(reader.await.unwrap(), b"through the pipe");
        drop(listener);
    });
    guard_core::finalizer::flush().unwrap();
    assert_eq!(open_fds(), baseline, "no fd leaked");
}

#[test]
fn into_tokio_and_back_moves_the_fd_out_of_the_registry_and_in_again() {
    let _s = serial();
    let baseline = baseline();
    current_thread(|| async {
        let before = guard_os::fds().len();
        let l = guard_os::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert_eq!(guard_os::fds().len(), before + 1);
        let l: tokio::net::TcpListener = l.into_tokio().unwrap();
        assert_eq!(guard_os::fds().len(), before, "tokio's now");
        let c = guard_os::TcpStream::connect(addr)
            .unwrap()
            .into_tokio()
            .unwrap();
        assert_eq!(guard_os::fds().len(), before);
        let (s, _) = l.accept().await.unwrap();
        let s = guard_os::TcpStream::from_tokio(s).unwrap();
        assert_eq!(
            registered(s.as_raw_fd()),
            Some(std::any::type_name::<guard_os::TcpStream>())
        );
        s.close().unwrap(); // blocking again, guard's again: shutdown + close
        let mut c = c;
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).await.unwrap(); // EOF from guard's release
        let l = guard_os::TcpListener::from_tokio(l).unwrap();
        assert_eq!(guard_os::fds().len(), before + 1);
        l.close().unwrap();

        let (a, b) = guard_os::UnixStream::pair().unwrap();
        let mut a = a.into_tokio().unwrap();
        let b = guard_os::UnixStream::from_tokio(b.into_tokio().unwrap()).unwrap();
        a.write_all(b"u").await.unwrap();
        assert_eq!(std::io::Read::read(&mut &b, &mut [0; 1]).unwrap(), 1);
        b.close().unwrap();

        let u = guard_os::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .into_tokio()
            .unwrap();
        u.send_to(b"d", u.local_addr().unwrap()).await.unwrap();
        let u = guard_os::UdpSocket::from_tokio(u).unwrap();
        assert_eq!(u.recv_from(&mut [0; 4]).unwrap().0, 1);
        u.close().unwrap();

        let path = std::env::temp_dir().join(format!("guard-tokio-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let ul = guard_os::UnixListener::bind(&path)
            .unwrap()
            .into_tokio()
            .unwrap();
        let _c = tokio::net::UnixStream::connect(&path).await.unwrap();
        let (s, _) = ul.accept().await.unwrap();
        guard_os::UnixStream::from_tokio(s)
            .unwrap()
            .close()
            .unwrap();
        guard_os::UnixListener::from_tokio(ul)
            .unwrap()
            .close()
            .unwrap();
        std::fs::remove_file(&path).unwrap();

        let (r, w) = guard_os::pipe().unwrap();
        let (mut r, mut w) = (r.into_tokio().unwrap(), w.into_tokio().unwrap());
        assert_eq!(guard_os::fds().len(), before);
        w.write_all(b"p").await.unwrap();
        let w = guard_os::PipeWriter::from_tokio(w).unwrap();
        w.close().unwrap();
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"p");
        guard_os::PipeReader::from_tokio(r)
            .unwrap()
            .close()
            .unwrap();
        assert_eq!(guard_os::fds().len(), before);
    });
    assert_eq!(open_fds(), baseline, "no fd leaked");
}

/// A child that runs until `flag` exists: only a task of this runtime creates it, so a
/// wait that blocked the runtime's only worker would never return.
fn until_exists(flag: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("/bin/sh");
    // Gives up after about 60 s, so that a failed test leaves no process behind.
    let script = format!(
        "i=0; while [ ! -e '{}' ] && [ $i -lt 6000 ]; do sleep 0.01; i=$((i+1)); done; exit 7",
        flag.display()
    );
    cmd.args(["-c", &script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

fn flag(tag: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("guard-tokio-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn waiting_for_a_child_does_not_block_the_worker() {
    let _s = serial();
    current_thread(|| async {
        let f = flag("guard-child");
        let mut child = guard_os::Spawn::from_command(&until_exists(&f))
            .spawn()
            .unwrap();
        let g = f.clone();
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            std::fs::write(&g, b"").unwrap();
        });
        let status = guard_tokio::child::wait(&mut child).await.unwrap();
        assert_eq!(status.code(), Some(7));
        assert_eq!(child.try_wait().unwrap(), Some(status), "reaped");
        std::fs::remove_file(&f).unwrap();

        let f = flag("std-child");
        let mut child =
            guard_os::CommandExt::inherit(&mut until_exists(&f), guard_os::Inherit::new())
                .unwrap()
                .spawn()
                .unwrap();
        let g = f.clone();
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            std::fs::write(&g, b"").unwrap();
        });
        let status = guard_tokio::child::wait_std(&mut child).await.unwrap();
        assert_eq!(status.code(), Some(7));
        std::fs::remove_file(&f).unwrap();
    });
}

/// A counted resource whose release waits until a gate opens.
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl guard_core::Resource for Gate {
    type Error = std::convert::Infallible;
    fn release(self) -> Result<(), Self::Error> {
        let (open, cv) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
        Ok(())
    }
}

impl guard_core::CountedResource for Gate {}

#[test]
fn flush_does_not_block_the_worker() {
    let _s = serial();
    current_thread(|| async {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        drop(guard_core::Counted::new(Gate(Arc::clone(&gate))));
        // Only this task opens the gate: a flush that blocked the only worker would wait
        // for a release that waits for it.
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            *gate.0.lock().unwrap() = true;
            gate.1.notify_all();
        });
        guard_tokio::flush().await.unwrap();
        assert_eq!(guard_core::finalizer::stats().pending, 0);
    });
}

/// tokio's `shutdown` on an `Async` guard stream, then the peer closes too: the stream's
/// release (drop, `close`, a scope's end) must not shut down again, which fails with
/// `ENOTCONN` on a TCP connection that is gone. It did before: `close()` returned
/// `Error::Shutdown` (`ENOTCONN`), and a drop reported it.
#[test]
fn release_after_tokios_shutdown_and_the_peers_close_is_not_an_error() {
    let _s = serial();
    current_thread(|| async {
        let listener = guard_os::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = guard_os::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (b, _) = listener.accept().unwrap();
        let mut a = Async::new(a).unwrap();
        let mut b = Async::new(b).unwrap();
        a.shutdown().await.unwrap(); // the user's shutdown(Write): b reads EOF
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        b.into_inner().unwrap().close().unwrap(); // b's FIN: the connection is gone
        a.read_to_end(&mut got).await.unwrap(); // a has read b's FIN
        a.into_inner().unwrap().close().unwrap();

        // The same with a Unix stream pair, and guard-os's own `shutdown_write`.
        let (a, b) = guard_os::UnixStream::pair().unwrap();
        let mut a = Async::new(a).unwrap();
        a.shutdown().await.unwrap();
        a.into_inner().unwrap().close().unwrap();
        b.close().unwrap();
        let listener = guard_os::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = guard_os::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (b, _) = listener.accept().unwrap();
        a.shutdown_write().unwrap();
        assert_eq!(std::io::Read::read(&mut &b, &mut [0; 8]).unwrap(), 0);
        b.close().unwrap();
        assert_eq!(std::io::Read::read(&mut &a, &mut [0; 8]).unwrap(), 0);
        a.close().unwrap();
    });
}
