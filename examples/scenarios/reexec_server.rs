//! The server of scenario 5: a TCP server that, on request (SIGHUP, or a `RESTART` control
//! message), re-executes its own binary in place, passing its listening socket as fd 3
//! (`LISTEN_FDS=1`) and nothing else. Its stdout is the driver's pipe: `FD`, `READY`, `SAY`
//! and `ERROR` lines (see `reexec.rs`).
//!
//! Each image takes what the previous one passed with `guard::os::listen_fds()`, first thing,
//! and types it back into a guard `TcpListener` with `TryFrom` (which checks that fd 3 is a
//! listening TCP socket); connections are guard `TcpStream`s, unique, released (the client
//! sees EOF) at the end of their scope.
//!
//! Signals run code at arbitrary points, so the handler only writes a byte to a self-pipe;
//! a thread reading the pipe turns it into an ordinary control message to the server.

use crate::common::{self, CHILD_ARG, Result};
use guard::os::{
    CommandExt as _, Inherit, ListenFds, PipeWriter, TcpListener, TcpStream, WriteFile, fds,
};
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// The role of the server process.
pub const SERVER_ROLE: &str = "reexec-server";

/// Accepts a client connection: a guard `TcpStream`, unique, so the client sees EOF exactly
/// when it is released, at the end of its scope (`shutdown(Write)`, then close).
fn accept(listener: &TcpListener) -> guard::os::Result<TcpStream> {
    let (conn, _peer) = listener.accept()?; // accept4(SOCK_CLOEXEC), registered
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    Ok(conn)
}

/// One request line.
fn read_line(conn: &TcpStream) -> io::Result<String> {
    let mut line = String::new();
    BufReader::new(conn).read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

/// Sends `text`.
fn send(conn: &TcpStream, text: &str) -> io::Result<()> {
    (&*conn).write_all(text.as_bytes())
}

/// What ended the serving loop.
enum Next {
    /// Re-execute; the control connection stays open until the exec.
    Restart(String, TcpStream),
    /// Exit.
    Quit,
}

/// The write end of the self-pipe, for the signal handler (a raw number: the handler may
/// only make async-signal-safe calls).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

/// The calling thread's `errno`.
#[cfg(target_os = "linux")]
use libc::__errno_location as errno_location;
#[cfg(not(target_os = "linux"))]
use libc::__error as errno_location;

extern "C" fn on_sighup(_: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe, the buffer is static, and errno is saved and
        // restored around it. The pipe is non-blocking: the handler never waits.
        unsafe {
            let errno = *errno_location();
            libc::write(fd, b"!".as_ptr().cast(), 1);
            *errno_location() = errno;
        }
    }
}

/// Routes SIGHUP to `writer`.
fn install_sighup(writer: &PipeWriter) -> io::Result<()> {
    rustix::fs::fcntl_setfl(writer, rustix::fs::OFlags::NONBLOCK)?;
    SIGNAL_PIPE.store(writer.as_raw_fd(), Ordering::Relaxed);
    // SAFETY: `sigaction` is plain data, valid zeroed; the handler makes only
    // async-signal-safe calls; the old action is not needed.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sighup as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGHUP, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The listening socket: the one the previous image passed (fd 3, `LISTEN_FDS=1`), typed
/// back into a guard `TcpListener` (checked to be a listening TCP socket), or, for the
/// first image, a new one.
fn listener(passed: ListenFds) -> Result<TcpListener> {
    let mut passed = passed.into_fds();
    match passed.len() {
        0 => Ok(TcpListener::bind("127.0.0.1:0")?),
        1 => Ok(TcpListener::try_from(passed.remove(0))?),
        n => Err(format!("LISTEN_FDS={n}: this server takes exactly one socket").into()),
    }
}

/// If this process is the server, serves and returns its exit code (or re-executes).
pub fn child_main() -> Option<ExitCode> {
    if common::child_role().as_deref() != Some(SERVER_ROLE) {
        return None;
    }
    let at_start = common::open_fds(); // first: what the previous image passed on
    // Then, before anything starts a thread (`guard::runtime()` starts the finalizer): take
    // what the previous image passed, which also removes LISTEN_PID/LISTEN_FDS from the
    // environment, so nothing this image starts inherits them.
    let passed = guard::os::listen_fds();
    let mut args = std::env::args_os().skip(3);
    let generation = args.next().and_then(|g| g.to_str()?.parse::<u32>().ok());
    let dir = args.next();
    let (Some(generation), Some(dir)) = (generation, dir) else {
        println!("ERROR usage: {CHILD_ARG} {SERVER_ROLE} <generation> <dir>");
        return Some(ExitCode::FAILURE);
    };
    let result = at_start.and_then(|fds| serve(generation, Path::new(&dir), &fds, passed?));
    Some(match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("ERROR gen {generation}: {}", common::chain(&*e));
            ExitCode::FAILURE
        }
    })
}

fn serve(generation: u32, dir: &Path, at_start: &[(i32, String)], passed: ListenFds) -> Result {
    let _rt = guard::runtime();
    let pid = std::process::id();
    let listener = listener(passed)?;
    let addr = listener.local_addr()?;
    let socket = common::fd_target(listener.as_raw_fd()).unwrap_or_default();
    for (n, target) in at_start {
        println!("FD {n} {target}");
    }
    let (signals, signal_writer) = guard::os::pipe()?;
    install_sighup(&signal_writer)?;
    // A C library's log, opened the way C code does: without O_CLOEXEC, not registered.
    let foreign = rustix::fs::open(
        dir.join("c-library.log"),
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CREATE | rustix::fs::OFlags::APPEND,
        rustix::fs::Mode::from_raw_mode(0o600),
    )?;
    std::thread::Builder::new()
        .name("signal-watcher".into())
        .spawn(move || {
            let mut byte = [0u8; 1];
            // Each byte is a SIGHUP: ask the server, as any client would, to restart.
            while let Ok(1) = io::Read::read(&mut &signals, &mut byte) {
                if let Ok(mut s) = std::net::TcpStream::connect(addr) {
                    let _ = s.write_all(b"RESTART SIGHUP\n");
                    let _ = io::Read::read(&mut s, &mut [0u8; 64]); // the reply
                }
            }
        })?;
    println!("READY gen={generation} pid={pid} addr={addr} listener={socket}");

    let next = guard::scope(|s| {
        let mut log = s.enter(WriteFile::append(dir.join("server.log"))?);
        writeln!(log, "gen {generation} (pid {pid}): serving on {addr}")?;
        let mut served = 0u64;
        loop {
            let conn = accept(&listener)?;
            let handled = guard::scope(|c| {
                let conn = c.enter(conn);
                let line = read_line(&conn)?;
                let mut words = line.split_whitespace();
                match (words.next(), words.next()) {
                    (Some("PING"), Some(id)) => {
                        send(&conn, &format!("PONG {id} gen={generation} pid={pid}\n"))?;
                        Ok::<_, io::Error>(None)
                    }
                    (Some("RESTART"), by) => {
                        send(&conn, &format!("RESTARTING gen={generation}\n"))?;
                        let by = by.unwrap_or("a control message").to_owned();
                        Ok(Some(Next::Restart(by, conn.into_inner())))
                    }
                    (Some("QUIT"), _) => {
                        send(&conn, "BYE\n")?;
                        Ok(Some(Next::Quit))
                    }
                    _ => {
                        send(&conn, "ERROR unknown request\n")?;
                        Ok(None)
                    }
                }
            }); // the connection is released here: the client sees EOF
            match handled {
                Ok(None) => served += 1,
                Ok(Some(next)) => {
                    writeln!(log, "gen {generation}: served {served}, then stopped")?;
                    return Ok::<_, io::Error>(next);
                }
                Err(e) => writeln!(log, "gen {generation}: a connection failed: {e}")?,
            }
        }
    }); // the log is released here: flushed and closed, every error returned
    let next = match next {
        Ok(next) => next,
        Err(e) => {
            println!("SAY gen {generation}: the serving scope failed: {e}");
            return Err(e.into());
        }
    };
    match next {
        Next::Quit => {
            SIGNAL_PIPE.store(-1, Ordering::Relaxed);
            signal_writer.close()?; // the watcher sees EOF and ends
            drop(foreign);
            listener.close()?;
            Ok(())
        }
        Next::Restart(by, control) => {
            println!("SAY gen {generation}: restart requested by {by}");
            println!(
                "SAY gen {generation}: its log was flushed and closed at the end of its scope"
            );
            say_open_at_exec(generation, &listener, &control)?;
            let error = reexec(generation + 1, dir, &listener);
            drop((control, foreign, signal_writer));
            Err(error)
        }
    }
}

/// Lists what is open at exec: what is passed on, and what is not.
fn say_open_at_exec(generation: u32, listener: &TcpListener, control: &TcpStream) -> Result {
    let passed = listener.as_raw_fd();
    let mut others = Vec::new();
    fds().for_each(|fd| {
        let what = common::short(fd.type_name());
        if fd.number() == passed {
            return;
        }
        let what = if fd.number() == control.as_raw_fd() {
            let peer = control
                .peer_addr()
                .map(|p| format!(" from {p}"))
                .unwrap_or_default();
            format!(
                "fd {} (the connection that asked for the restart{peer})",
                fd.number()
            )
        } else {
            format!("fd {} ({what})", fd.number())
        };
        others.push(what);
    });
    for u in guard::os::untracked()? {
        if u.number > 2 {
            let flags = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", u.number))
                .unwrap_or_default();
            let cloexec = flags
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                .is_some_and(|f| f & 0o2000000 != 0);
            others.push(format!(
                "fd {} ({}{})",
                u.number,
                u.target
                    .map(|t| t.display().to_string())
                    .unwrap_or_default(),
                if cloexec {
                    ", not registered"
                } else {
                    ", not registered, opened without O_CLOEXEC"
                }
            ));
        }
    }
    println!("SAY gen {generation}: open at exec: fd {passed} (the listener: passed on as fd 3)");
    for k in others {
        println!("SAY gen {generation}:   and {k}: not passed on");
    }
    Ok(())
}

/// Re-executes this binary as generation `generation`, passing only `listener`. Returns
/// only if the exec failed.
fn reexec(generation: u32, dir: &Path, listener: &TcpListener) -> common::Error {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return format!("finding this binary: {e}").into(),
    };
    let mut cmd = Command::new(&exe);
    cmd.arg(CHILD_ARG)
        .arg(SERVER_ROLE)
        .arg(generation.to_string())
        .arg(dir);
    // The listener becomes fd 3 with LISTEN_FDS=1; `inherit` removes LISTEN_PID, so it is
    // set after: exec keeps the pid, and the next image's `listen_fds()` checks it.
    if let Err(e) = cmd.inherit(Inherit::new().listen_fds(&[listener])) {
        return e.into();
    }
    cmd.env("LISTEN_PID", std::process::id().to_string());
    let _ = io::stdout().flush();
    // Replaces this process image; returns only on failure, after the plan's hook ran here
    // (fds marked close-on-exec; the listener already at 3, so nothing was moved): the
    // caller reports the error and exits.
    let error = cmd.exec();
    format!("exec {}: {error}", exe.display()).into()
}
