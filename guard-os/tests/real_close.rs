//! Unique closes are real (issue 14): when `close()` or a unique's drop returns, its fd is
//! closed, even while a `Command` that keeps it for a child is alive (the `Command` holds
//! its own duplicate, as std's `Stdio::from` owns its fd).
// Linux only: it reads /proc/self/fd (macOS and FreeBSD are compile-checked, README).
#![cfg(target_os = "linux")]

mod common;

use guard_os::{CommandExt, Inherit, pipe};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

/// What fd number `n` refers to now (`pipe:[..]`, `socket:[..]`), if it is open.
fn target(n: i32) -> Option<String> {
    guard_testkit::fd_target(n)
}

#[test]
fn a_closed_pipe_writer_kept_for_a_child_is_closed_while_the_command_lives() {
    common::watchdog(30, || {
        let (reader, writer) = pipe().unwrap();
        let n = writer.as_raw_fd();
        let was = target(n).expect("open");
        let mut cmd = Command::new("/bin/echo");
        cmd.arg("via the pipe").stdin(Stdio::null());
        cmd.inherit(Inherit::new().keep_as_stdio(&writer, 1))
            .unwrap();
        writer.close().expect("close");
        assert_ne!(
            target(n),
            Some(was),
            "close() returned Ok and fd {n} still refers to the pipe"
        );
        // The child still gets the pipe: the Command holds its own copy.
        let status = cmd.status().unwrap();
        assert!(status.success());
        drop(cmd); // its copy goes with it, as with std's Stdio::from
        let mut out = String::new();
        (&reader).read_to_string(&mut out).unwrap();
        assert_eq!(out, "via the pipe\n");
    });
}

#[test]
fn a_dropped_tcp_stream_kept_for_a_child_is_closed_while_the_command_lives() {
    common::watchdog(30, || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = guard_os::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let n = stream.as_raw_fd();
        let was = target(n).expect("open");
        let mut cmd = Command::new("/bin/true");
        cmd.inherit(Inherit::new().keep(&stream)).unwrap();
        drop(stream); // the end of the unique's scope
        assert_ne!(target(n), Some(was), "fd {n} still refers to the socket");
        // The peer sees the end of the stream once the Command's copy is gone too.
        drop(cmd);
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    });
}

#[test]
fn a_closed_write_file_kept_for_a_child_returns_its_close_to_the_caller() {
    common::watchdog(30, || {
        let path = common::temp_path("real-close");
        let mut file = guard_os::WriteFile::create(&path).unwrap();
        file.write_all(b"data").unwrap();
        let n = file.as_raw_fd();
        let was = target(n).expect("open");
        let mut cmd = Command::new("/bin/true");
        cmd.inherit(Inherit::new().keep_at(&file, 9)).unwrap();
        file.close().expect("close");
        assert_ne!(target(n), Some(was), "fd {n} still refers to the file");
        // Another test's fd sat at 9 during `inherit` and may close before the spawn:
        // then the spawn's exec-error channel can take 9, and the child refuses (EBUSY,
        // documented): spawned again, as a user would.
        let mut child = guard_testkit::spawn_again_if_busy(&mut cmd).unwrap();
        assert!(child.wait().unwrap().success());
        drop(cmd);
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        std::fs::remove_file(&path).unwrap();
    });
}
