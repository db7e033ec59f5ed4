//! The typed fds: files, pipes, sockets; their kinds and what their release does.

mod common;

use common::{temp_path, watchdog};
use guard_core::{Counted, Kind, scope};
use guard_os::{
    Error, PipeReader, ReadFile, TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream,
    WriteFile, pipe,
};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[test]
fn write_file_release_returns_flush_errors() {
    // /dev/full: every write fails with ENOSPC; the buffered data fails at release.
    let err = scope(|s| {
        let mut f = s.enter(WriteFile::append("/dev/full")?);
        f.write_all(b"lost")?; // buffered: succeeds
        Ok::<_, BoxError>(())
    })
    .unwrap_err();
    assert_eq!(err.releases().len(), 1);
    let release = err.releases()[0].error();
    let os = release.downcast_ref::<Error>().expect("a guard_os::Error");
    assert!(matches!(os, Error::Flush { .. }), "{os}");
    assert_eq!(os.raw_os_error(), Some(libc::ENOSPC));
}

#[test]
fn write_file_release_collects_every_error() {
    let f = WriteFile::append("/dev/full")
        .unwrap()
        .sync_on_release(true);
    let mut f = f;
    f.write_all(b"x").unwrap();
    let err = guard_core::Resource::release(f).unwrap_err();
    // flush fails (ENOSPC); fsync on a character device fails too (EINVAL): both returned.
    match &err {
        Error::Release { first, rest } => {
            assert!(matches!(**first, Error::Flush { .. }));
            assert!(
                rest.iter().any(|e| matches!(e, Error::Sync { .. })),
                "{err}"
            );
        }
        other => assert!(matches!(other, Error::Flush { .. }), "{other}"),
    }
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
}

#[test]
fn write_file_writes_through_a_scope_and_read_file_reads_back() {
    let path = temp_path("rw");
    scope(|s| {
        let mut f = s.enter(WriteFile::create(&path)?.sync_on_release(true));
        for i in 0..2000 {
            writeln!(f, "line {i}")?;
        }
        Ok::<_, BoxError>(())
    })
    .unwrap();
    let file = Counted::new(ReadFile::open(&path).unwrap());
    let mut text = String::new();
    (&*file).read_to_string(&mut text).unwrap();
    assert_eq!(text.lines().count(), 2000);
    assert_eq!(file.size().unwrap(), text.len() as u64);
    let mut head = [0; 6];
    file.read_at(&mut head, 0).unwrap();
    assert_eq!(&head, b"line 0");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn kinds_follow_release_semantics() {
    let path = temp_path("kinds");
    let w = WriteFile::create(&path).unwrap();
    let r = ReadFile::open(&path).unwrap();
    let (pr, pw) = pipe().unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let kind = |fd: &dyn std::os::fd::AsRawFd| {
        let n = fd.as_raw_fd();
        let mut k = None;
        guard_os::fds().for_each(|f| {
            if f.number() == n {
                k = Some(f.kind());
            }
        });
        k.unwrap()
    };
    assert_eq!(kind(&w), Kind::Unique);
    assert_eq!(kind(&pw), Kind::Unique);
    assert_eq!(kind(&c), Kind::Unique);
    assert_eq!(kind(&r), Kind::Counted);
    assert_eq!(kind(&pr), Kind::Counted);
    assert_eq!(kind(&l), Kind::Counted);
    assert_eq!(kind(&u), Kind::Counted);
    w.close().unwrap();
    pw.close().unwrap();
    c.close().unwrap();
    std::fs::remove_file(path).unwrap();
}

/// Reads until EOF with a deadline: returns what was read, or panics if EOF did not come.
fn read_until_eof(mut r: impl Read) -> Vec<u8> {
    let mut got = Vec::new();
    r.read_to_end(&mut got)
        .expect("EOF before the read timeout");
    got
}

#[test]
fn pipe_reader_sees_eof_at_the_end_of_the_writers_scope() {
    watchdog(20, || {
        let (reader, writer) = pipe().unwrap();
        let reader: Counted<PipeReader> = Counted::new(reader);
        let r2 = reader.clone();
        let t = std::thread::spawn(move || read_until_eof(&*r2));
        scope(|s| {
            let mut w = s.enter(writer);
            w.write_all(b"all of it")?;
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
        assert_eq!(t.join().unwrap(), b"all of it");
    });
}

#[test]
fn tcp_peer_sees_eof_at_the_end_of_the_scope_not_later() {
    watchdog(20, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(client.peer_addr().unwrap(), listener.local_addr().unwrap());
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // The stream is still referenced elsewhere (a clone of its fd would keep the
        // connection open on close alone): shutdown(Write) is what the peer sees.
        scope(|s| {
            let mut c = s.enter(client);
            c.write_all(b"request")?;
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
        let start = Instant::now();
        assert_eq!(read_until_eof(&server), b"request");
        assert!(start.elapsed() < Duration::from_secs(2));
        server.close().unwrap();
    });
}

#[test]
fn tcp_shutdown_reaches_the_peer_even_if_the_fd_is_shared() {
    watchdog(20, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // A second fd for the same socket (as a child process would hold): close alone
        // would not end the connection; shutdown does.
        let extra = rustix::io::fcntl_dupfd_cloexec(&client, 0).unwrap();
        client.close().unwrap();
        assert_eq!(read_until_eof(&server), b"");
        drop(extra);
        server.close().unwrap();
    });
}

#[test]
fn unix_peer_sees_eof_at_the_end_of_the_scope() {
    watchdog(20, || {
        let path = temp_path("sock");
        let listener = UnixListener::bind(&path).unwrap();
        let client = UnixStream::connect(&path).unwrap();
        let server = listener.accept().unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        scope(|s| {
            let mut c = s.enter(client);
            c.write_all(b"over unix")?;
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
        assert_eq!(read_until_eof(&server), b"over unix");
        server.close().unwrap();
        listener.close().unwrap();
        std::fs::remove_file(path).unwrap();
    });
}

#[test]
fn unix_pair_and_udp_roundtrip() {
    watchdog(20, || {
        let (mut a, b) = UnixStream::pair().unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        a.write_all(b"pair").unwrap();
        a.close().unwrap();
        assert_eq!(read_until_eof(&b), b"pair");
        b.close().unwrap();

        let x = Counted::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let y = UdpSocket::bind("127.0.0.1:0").unwrap();
        x.send_to(b"dgram", y.local_addr().unwrap()).unwrap();
        let mut buf = [0; 32];
        let (n, from) = y.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"dgram"[..], x.local_addr().unwrap()));
    });
}

#[test]
fn a_listener_closed_synchronously_frees_its_port() {
    let name = "a_listener_closed_synchronously_frees_its_port";
    match common::role().as_deref() {
        None => common::in_a_child(name, "listener-port", 30),
        Some("listener-port") => {
            // No pass is visiting the listener: the port is free when try_release returns.
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            Counted::new(l).try_release().unwrap();
            TcpListener::bind(addr).unwrap().close().unwrap();

            // A pass visiting it defers the close, and the port, to the end of its batch.
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let (addr, number) = (l.local_addr().unwrap(), l.as_raw_fd());
            let mut listener = Some(Counted::new(l));
            let mut visited = false;
            guard_os::fds().for_each(|fd| {
                if fd.number() == number {
                    visited = true;
                    listener.take().unwrap().try_release().unwrap();
                    let busy = TcpListener::bind(addr).unwrap_err();
                    assert_eq!(busy.raw_os_error(), Some(libc::EADDRINUSE), "{busy}");
                }
            });
            assert!(visited);
            TcpListener::bind(addr).unwrap().close().unwrap();
        }
        Some(_) => {}
    }
}

#[test]
fn an_unleased_fd_converts_in_place_with_no_fd_to_spare() {
    let name = "an_unleased_fd_converts_in_place_with_no_fd_to_spare";
    match common::role().as_deref() {
        None => common::in_a_child(name, "convert-at-emfile", 30),
        Some("convert-at-emfile") => {
            let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let fd = guard_os::Fd::adopt(std_listener.into());
            let number = fd.as_raw_fd();
            // Every number taken, by fds the registry cannot free: a dup would fail.
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit and setrlimit read and write a plain struct we own.
            unsafe {
                assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
                limit.rlim_cur = number as libc::rlim_t + 64;
                assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
            }
            let mut fillers = Vec::new();
            let full = loop {
                match std::fs::File::open("/dev/null") {
                    Ok(f) => fillers.push(f),
                    Err(e) => break e,
                }
            };
            assert_eq!(full.raw_os_error(), Some(libc::EMFILE), "{full}");
            let listener = TcpListener::try_from(fd).unwrap();
            assert_eq!(listener.as_raw_fd(), number, "converted in place");
            let mut ty = None;
            guard_os::fds().for_each(|f| {
                if f.number() == number {
                    ty = Some(f.type_name());
                }
            });
            assert_eq!(ty, Some(std::any::type_name::<TcpListener>()));
            drop(fillers);
            listener.close().unwrap();
        }
        Some(_) => {}
    }
}

#[test]
fn open_errors_name_the_operation() {
    let e = ReadFile::open("/definitely/not/here").unwrap_err();
    assert!(matches!(e, Error::Open { .. }));
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    let e = TcpStream::connect("127.0.0.1:1").unwrap_err();
    assert!(e.to_string().starts_with("connect 127.0.0.1:1"), "{e}");
    assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED));
}

// ----- accept through a signal: a handler without SA_RESTART must not end accept -----

extern "C" fn on_usr1(_: libc::c_int) {}

/// Blocks `accept` (returning whether it succeeded) on a thread, interrupts it with
/// SIGUSR1, whose handler has no `SA_RESTART`, checks it still blocks, then ends it with
/// `connect`.
fn accept_through_a_signal(accept: impl FnOnce() -> bool + Send + 'static, connect: impl FnOnce()) {
    // SAFETY: a plain sigaction with an empty (async-signal-safe) handler, in a child
    // process of its own: nothing else in it relies on SIGUSR1.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        sa.sa_flags = 0; // no SA_RESTART: a blocking call fails with EINTR
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        tx.send(()).unwrap();
        accept()
    });
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(200)); // let it block in accept
    let thread = std::os::unix::thread::JoinHandleExt::as_pthread_t(&t);
    // SAFETY: sends SIGUSR1, which has a handler, to one thread of this process, still
    // running (it is joined below).
    let sent = unsafe { libc::pthread_kill(thread, libc::SIGUSR1) };
    assert_eq!(sent, 0);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!t.is_finished(), "accept ended on the signal");
    connect();
    assert!(t.join().unwrap(), "accept failed after the signal");
}

#[test]
fn accept_is_retried_after_a_signal_without_sa_restart() {
    let name = "accept_is_retried_after_a_signal_without_sa_restart";
    match common::role().as_deref() {
        None => {}
        Some("accept-eintr") => {
            let l = std::sync::Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let addr = l.local_addr().unwrap();
            let l2 = l.clone();
            let mut client = None;
            accept_through_a_signal(
                move || l2.accept().map(|(s, _)| s.close()).is_ok(),
                || client = Some(TcpStream::connect(addr).unwrap()),
            );
            client.unwrap().close().unwrap();
            let path = temp_path("accept-eintr.sock");
            let l = std::sync::Arc::new(UnixListener::bind(&path).unwrap());
            let l2 = l.clone();
            let mut client = None;
            accept_through_a_signal(
                move || l2.accept().map(UnixStream::close).is_ok(),
                || client = Some(UnixStream::connect(&path).unwrap()),
            );
            client.unwrap().close().unwrap();
            let _ = std::fs::remove_file(&path);
            return;
        }
        Some(_) => return,
    }
    common::in_a_child(name, "accept-eintr", 30);
}

#[test]
fn stream_close_after_a_peer_reset_returns_the_shutdown_error() {
    watchdog(20, || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        // An RST from b: SO_LINGER 0, then close.
        socket2::SockRef::from(&b)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        let _ = b.close();
        std::thread::sleep(Duration::from_millis(100));
        let err = a.close().unwrap_err();
        assert!(matches!(err, Error::Shutdown { .. }), "{err}");
        assert_eq!(err.raw_os_error(), Some(libc::ENOTCONN));
    });
}
