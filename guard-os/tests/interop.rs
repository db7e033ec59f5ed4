//! std interop: every typed wrapper is made from `OwnedFd` and its std counterpart
//! (registered on the way in) and converts into them (deregistered on the way out), with
//! no fd leaked and a unique wrapper's pending duty (a `WriteFile`'s buffer) done or the
//! wrapper given back.
//!
//! One test at a time (`serial()`): each compares the process's fds before and after, and
//! reads the registry by fd number.

mod common;

use common::serial;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

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

/// `FD_CLOEXEC` of fd `n`, per /proc/self/fdinfo (flags are octal; `O_CLOEXEC` is 0o2000000).
fn cloexec(n: RawFd) -> bool {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{n}")).unwrap();
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).unwrap();
    u32::from_str_radix(flags.trim(), 8).unwrap() & 0o2000000 != 0
}

/// Checks that `ours` is registered as `T` at a fresh number with `FD_CLOEXEC`.
fn assert_registered<T: AsRawFd>(ours: &T) {
    let n = ours.as_raw_fd();
    let ty = registered(n).expect("registered on the way in");
    assert_eq!(ty, std::any::type_name::<T>());
    assert!(cloexec(n), "FD_CLOEXEC set on the way in");
}

/// A std value without `FD_CLOEXEC`, as code outside Rust may hand over.
fn without_cloexec<T: From<OwnedFd> + Into<OwnedFd>>(theirs: T) -> T {
    let fd: OwnedFd = theirs.into();
    T::from(dup_without_cloexec(&fd))
}

/// A duplicate of `fd` with `FD_CLOEXEC` cleared (std's `try_clone` sets it).
fn dup_without_cloexec(fd: &OwnedFd) -> OwnedFd {
    let dup = fd.try_clone().unwrap();
    // SAFETY: `dup` is an open fd we own; F_SETFD only changes its flags.
    let rc = unsafe { libc::fcntl(dup.as_raw_fd(), libc::F_SETFD, 0) };
    assert_eq!(rc, 0);
    assert!(!cloexec(dup.as_raw_fd()));
    dup
}

#[test]
fn counted_wrappers_round_trip_through_std_and_owned_fd() {
    let _serial = serial();
    let baseline = common::open_fds();
    common::watchdog(60, || {
        // ReadFile <-> File
        std::fs::write("/tmp/guard-os-interop-read", b"data").unwrap();
        let theirs = without_cloexec(std::fs::File::open("/tmp/guard-os-interop-read").unwrap());
        let ours = guard_os::ReadFile::from(theirs);
        assert_registered(&ours);
        let n = ours.as_raw_fd();
        let mut back = std::fs::File::from(ours);
        assert_eq!(registered(n), None, "deregistered on the way out");
        let mut s = String::new();
        back.read_to_string(&mut s).unwrap();
        assert_eq!(s, "data");
        let ours = guard_os::ReadFile::from(OwnedFd::from(back));
        assert_registered(&ours);
        drop(OwnedFd::from(ours));

        // PipeReader <-> std::io::PipeReader
        let (r, mut w) = std::io::pipe().unwrap();
        let ours = guard_os::PipeReader::from(without_cloexec(r));
        assert_registered(&ours);
        w.write_all(b"pipe").unwrap();
        drop(w);
        let mut back = std::io::PipeReader::from(ours);
        let mut s = String::new();
        back.read_to_string(&mut s).unwrap();
        assert_eq!(s, "pipe");

        // TcpListener <-> std::net::TcpListener, still listening after both hops
        let ours = guard_os::TcpListener::from(without_cloexec(
            std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        ));
        assert_registered(&ours);
        let addr = ours.local_addr().unwrap();
        let n = ours.as_raw_fd();
        let back = std::net::TcpListener::from(ours);
        assert_eq!(registered(n), None);
        let c = std::net::TcpStream::connect(addr).unwrap();
        let (s, _) = back.accept().unwrap();
        drop((c, s));
        let ours = guard_os::TcpListener::from(OwnedFd::from(back));
        let c = guard_os::TcpStream::connect(addr).unwrap();
        let (s, _) = ours.accept().unwrap();
        c.close().unwrap();
        s.close().unwrap();
        ours.close().unwrap();

        // UdpSocket <-> std::net::UdpSocket
        let ours = guard_os::UdpSocket::from(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        assert_registered(&ours);
        let addr = ours.local_addr().unwrap();
        let back = std::net::UdpSocket::from(ours);
        back.send_to(b"dgram", addr).unwrap();
        let mut buf = [0; 8];
        assert_eq!(back.recv(&mut buf).unwrap(), 5);

        // UnixListener <-> std's
        let path = common::temp_path("interop.sock");
        let ours =
            guard_os::UnixListener::from(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert_registered(&ours);
        let back = std::os::unix::net::UnixListener::from(ours);
        let c = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let (s, _) = back.accept().unwrap();
        drop((c, s, back));
        std::fs::remove_file(&path).unwrap();

        // Fd <-> OwnedFd (before this change the only conversion there was)
        let fd = guard_os::Fd::from(OwnedFd::from(std::fs::File::open("/dev/null").unwrap()));
        assert_registered(&fd);
        drop(OwnedFd::from(fd));
    });
    guard_core::finalizer::flush().unwrap();
    assert_eq!(common::open_fds(), baseline, "no fd leaked");
}

#[test]
fn unique_wrappers_hand_over_without_their_release() {
    let _serial = serial();
    let baseline = common::open_fds();
    common::watchdog(60, || {
        // TcpStream: handed to std, guard does not shut it down: the peer sees no EOF, and
        // the std stream still writes.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = guard_os::TcpStream::from(without_cloexec(
            std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap(),
        ));
        assert_registered(&ours);
        let (mut peer, _) = l.accept().unwrap();
        let n = ours.as_raw_fd();
        let mut back = std::net::TcpStream::try_from(ours).unwrap();
        assert_eq!(registered(n), None);
        peer.set_nonblocking(true).unwrap();
        let e = peer.read(&mut [0; 8]).unwrap_err();
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::WouldBlock,
            "no FIN: not released"
        );
        back.write_all(b"still open").unwrap();
        drop(back);
        peer.set_nonblocking(false).unwrap();
        let mut got = String::new();
        peer.read_to_string(&mut got).unwrap();
        assert_eq!(got, "still open");

        // UnixStream, both ways through OwnedFd
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let a = guard_os::UnixStream::from(OwnedFd::from(a));
        assert_registered(&a);
        let mut a = std::os::unix::net::UnixStream::from(OwnedFd::try_from(a).unwrap());
        a.write_all(b"x").unwrap();
        let b = guard_os::UnixStream::from(b);
        assert_eq!((&b).read(&mut [0; 1]).unwrap(), 1);
        drop(a);
        b.close().unwrap();

        // PipeWriter: the reader sees EOF only when std's end closes.
        let (r, w) = guard_os::pipe().unwrap();
        let mut w = std::io::PipeWriter::try_from(w).unwrap();
        w.write_all(b"p").unwrap();
        let back = guard_os::PipeWriter::from(w);
        assert_registered(&back);
        back.close().unwrap();
        let mut got = Vec::new();
        (&r).read_to_end(&mut got).unwrap();
        assert_eq!(got, b"p");

        // WriteFile: its buffer is written out on the way to std ...
        let path = common::temp_path("interop-write");
        let mut f = guard_os::WriteFile::create(&path).unwrap();
        f.write_all(b"buffered").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        let back = std::fs::File::try_from(f).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"buffered");
        let f = guard_os::WriteFile::from(back);
        assert_registered(&f);
        f.close().unwrap();
        std::fs::remove_file(&path).unwrap();
        // ... and when it cannot be, the file comes back, still registered, still owing it.
        let mut full = guard_os::WriteFile::append("/dev/full").unwrap();
        full.write_all(b"x").unwrap();
        let n = full.as_raw_fd();
        let err = std::fs::File::try_from(full).unwrap_err();
        assert!(matches!(err.error(), guard_os::Error::Flush { .. }));
        assert!(registered(n).is_some());
        let full = err.into_inner();
        assert!(matches!(full.close(), Err(guard_os::Error::Flush { .. })));
    });
    assert_eq!(common::open_fds(), baseline, "no fd leaked");
}
