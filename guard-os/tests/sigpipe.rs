//! Writing to a peer that left, with `SIGPIPE` at its default action (a CLI tool, a C host:
//! Rust's `main` ignores `SIGPIPE`, so each case runs in a child that sets it back to
//! `SIG_DFL` first).
//!
//! Sockets match std's `TcpStream`/`UnixStream`: every send uses `MSG_NOSIGNAL`, so the
//! write fails with `EPIPE` and the process goes on. Pipes match std's `PipeWriter`: a
//! write with no reader left raises `SIGPIPE`, which kills the process (status 141 in a
//! shell), as a shell pipeline expects of `producer | head`.

mod common;

use common::{child, output_of, payload, role};
use std::io::{ErrorKind, Write};
use std::os::unix::process::ExitStatusExt;

/// The test each child re-executes; it does nothing in the parent.
const PLAY: &str = "play_a_writer_whose_peer_left";

/// Restores `SIGPIPE`'s default action (death) in this process.
fn sigpipe_default() {
    // SAFETY: `signal` with `SIG_DFL` installs no handler, so no code runs at delivery;
    // this child is about to write once more and exit, and nothing else here relies on
    // `SIGPIPE` being ignored.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR, "signal(SIGPIPE, SIG_DFL)");
}

/// Writes to `w` until a write fails, and returns that error's name: `EPIPE` once the
/// peer's end is gone. A TCP peer that closed answers the first write with a reset, so
/// `ECONNRESET` may come first; it is skipped (the next write is `EPIPE`).
fn write_until_error(mut w: impl Write) -> String {
    for _ in 0..100_000 {
        match w.write(&[0; 1024]) {
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => continue,
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => return "EPIPE".to_owned(),
            Err(e) => return format!("unexpected error: {e}"),
        }
    }
    "no error after 100000 writes".to_owned()
}

/// Plays the case named by the role: sets `SIGPIPE` to `SIG_DFL`, makes the writer's peer
/// leave, writes, and prints what the write returned (if the process is still alive).
#[test]
fn play_a_writer_whose_peer_left() {
    let Some(role) = role() else {
        return;
    };
    sigpipe_default();
    let outcome = match role.as_str() {
        "guard tcp" => {
            let listener = guard_os::TcpListener::bind("127.0.0.1:0").unwrap();
            let client = guard_os::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server, _) = listener.accept().unwrap();
            server.close().unwrap();
            let outcome = write_until_error(&client);
            let _ = client.close();
            outcome
        }
        "guard unix" => {
            let (a, b) = guard_os::UnixStream::pair().unwrap();
            b.close().unwrap();
            let outcome = write_until_error(&a);
            let _ = a.close();
            outcome
        }
        "guard pipe" => {
            let (reader, writer) = guard_os::pipe().unwrap();
            reader.close().unwrap();
            let outcome = write_until_error(&writer);
            let _ = writer.close();
            outcome
        }
        "std tcp" => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            drop(listener.accept().unwrap());
            write_until_error(&client)
        }
        "std pipe" => {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            write_until_error(&writer)
        }
        other => panic!("unknown role {other:?}"),
    };
    println!("BEGIN\n{outcome}\nEND");
}

/// How the child playing `role` ended: `Ok(what its write returned)` if it lived, or
/// `Err(signal)` if a signal killed it.
fn play(role: &str) -> Result<String, i32> {
    let out = output_of(&mut child(PLAY, role), 60);
    if let Some(signal) = out.status.signal() {
        return Err(signal);
    }
    assert!(
        out.status.success(),
        "{role}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(payload(&out).join("\n"))
}

#[test]
fn socket_writes_to_a_peer_that_left_fail_with_epipe_as_std_does() {
    assert_eq!(play("std tcp"), Ok("EPIPE".to_owned()), "the peer, std");
    assert_eq!(play("guard tcp"), Ok("EPIPE".to_owned()), "TcpStream");
    assert_eq!(play("guard unix"), Ok("EPIPE".to_owned()), "UnixStream");
}

#[test]
fn pipe_writes_with_no_reader_raise_sigpipe_as_std_does() {
    assert_eq!(play("std pipe"), Err(libc::SIGPIPE), "the peer, std");
    assert_eq!(play("guard pipe"), Err(libc::SIGPIPE), "PipeWriter");
}
