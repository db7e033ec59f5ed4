//! The server of scenario 5: a TCP server that, on request (SIGHUP, or a `RESTART` control
//! message), re-executes its own binary in place, passing its listening socket as fd 3
//! (`LISTEN_FDS=1`) and nothing else. Its stdout is the driver's pipe: `FD`, `READY`, `SAY`
//! and `ERROR` lines (see `reexec.rs`).
//!
//! Signals run code at arbitrary points, so the handler only writes a byte to a self-pipe;
//! a thread reading the pipe turns it into an ordinary control message to the server.

use crate::common::{self, CHILD_ARG, Result};
use guard::Resource;
use guard::os::{CommandExt as _, Fd, Inherit, PipeWriter, TcpListener, WriteFile, fds};
use socket2::SockRef;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// The role of the server process.
pub const SERVER_ROLE: &str = "reexec-server";

/// The listening socket: bound by the first generation, inherited (fd 3) by the others.
/// Counted: closing it only gives a number back.
#[derive(Resource)]
#[resource(counted)]
pub enum Listener {
    /// Bound by this process.
    Bound(#[resource] TcpListener),
    /// Passed by the previous image, `LISTEN_FDS` style.
    Inherited(#[resource] Fd),
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Bound(l) => l.as_fd(),
            Listener::Inherited(f) => f.as_fd(),
        }
    }
}

/// A client connection. Unique: the client sees EOF exactly when it is released, at the end
/// of its scope (the hook shuts the write side down, then the fd is closed).
#[derive(Resource)]
#[resource(unique, release = Self::shut_down)]
pub struct Connection {
    #[resource]
    socket: Fd,
    peer: Option<SocketAddr>,
}

impl Connection {
    fn accept(listener: &Listener) -> io::Result<Connection> {
        let (socket, peer) = SockRef::from(listener).accept()?; // accept4(SOCK_CLOEXEC)
        socket.set_read_timeout(Some(Duration::from_secs(5)))?;
        socket.set_write_timeout(Some(Duration::from_secs(5)))?;
        Ok(Connection {
            socket: Fd::adopt(OwnedFd::from(socket)),
            peer: peer.as_socket(),
        })
    }

    fn shut_down(&mut self) -> io::Result<()> {
        SockRef::from(&self.socket).shutdown(Shutdown::Write)
    }

    fn read_line(&self) -> io::Result<String> {
        let socket = SockRef::from(&self.socket);
        let mut line = String::new();
        BufReader::new(&*socket).read_line(&mut line)?;
        Ok(line.trim().to_owned())
    }

    fn send(&self, text: &str) -> io::Result<()> {
        (&*SockRef::from(&self.socket)).write_all(text.as_bytes())
    }
}

/// What ended the serving loop.
enum Next {
    /// Re-execute; the control connection stays open through the exec.
    Restart(String, Connection),
    /// Exit.
    Quit,
}

/// The write end of the self-pipe, for the signal handler (a raw number: the handler may
/// only make async-signal-safe calls).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sighup(_: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe, the buffer is static, and errno is saved and
        // restored around it. The pipe is non-blocking: the handler never waits.
        unsafe {
            let errno = *libc::__errno_location();
            libc::write(fd, b"!".as_ptr().cast(), 1);
            *libc::__errno_location() = errno;
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

/// The listening socket passed by the previous image, if this process was given one.
fn inherited_listener() -> Result<Option<Fd>> {
    let (Ok(count), Ok(pid)) = (std::env::var("LISTEN_FDS"), std::env::var("LISTEN_PID")) else {
        return Ok(None);
    };
    if pid != std::process::id().to_string() {
        return Ok(None); // meant for another process
    }
    if count != "1" {
        return Err(format!("LISTEN_FDS={count}: this server takes exactly one socket").into());
    }
    match common::fd_target(3) {
        Some(t) if t.starts_with("socket:") => {}
        other => return Err(format!("LISTEN_FDS=1, but fd 3 is {other:?}, not a socket").into()),
    }
    // SAFETY: LISTEN_FDS=1 and LISTEN_PID is this process: by the socket-passing convention
    // fd 3 was passed for this process to own. It is open (checked above), and nothing in
    // this process has claimed it: this runs before anything else adopts or opens fds.
    let owned = unsafe { OwnedFd::from_raw_fd(3) };
    rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)?; // ours, not our children's
    SockRef::from(&owned).local_addr()?; // a socket: fails otherwise
    Ok(Some(Fd::adopt(owned)))
}

/// If this process is the server, serves and returns its exit code (or re-executes).
pub fn child_main() -> Option<ExitCode> {
    if common::child_role().as_deref() != Some(SERVER_ROLE) {
        return None;
    }
    let at_start = common::open_fds(); // first: what the previous image passed on
    let mut args = std::env::args_os().skip(3);
    let generation = args.next().and_then(|g| g.to_str()?.parse::<u32>().ok());
    let dir = args.next();
    let (Some(generation), Some(dir)) = (generation, dir) else {
        println!("ERROR usage: {CHILD_ARG} {SERVER_ROLE} <generation> <dir>");
        return Some(ExitCode::FAILURE);
    };
    let result = at_start.and_then(|fds| serve(generation, Path::new(&dir), &fds));
    Some(match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("ERROR gen {generation}: {}", common::chain(&*e));
            ExitCode::FAILURE
        }
    })
}

fn serve(generation: u32, dir: &Path, at_start: &[(i32, String)]) -> Result {
    let _rt = guard::runtime();
    let pid = std::process::id();
    let listener = match inherited_listener()? {
        Some(fd) => Listener::Inherited(fd),
        None => Listener::Bound(TcpListener::bind("127.0.0.1:0")?),
    };
    let addr = SockRef::from(&listener)
        .local_addr()?
        .as_socket()
        .ok_or("the listener has no inet address")?;
    let socket = common::fd_target(listener.as_fd().as_raw_fd()).unwrap_or_default();
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
            let conn = Connection::accept(&listener)?;
            let handled = guard::scope(|c| {
                let conn = c.enter(conn);
                let line = conn.read_line()?;
                let mut words = line.split_whitespace();
                match (words.next(), words.next()) {
                    (Some("PING"), Some(id)) => {
                        conn.send(&format!("PONG {id} gen={generation} pid={pid}\n"))?;
                        Ok::<_, io::Error>(None)
                    }
                    (Some("RESTART"), by) => {
                        conn.send(&format!("RESTARTING gen={generation}\n"))?;
                        let by = by.unwrap_or("a control message").to_owned();
                        Ok(Some(Next::Restart(by, conn.into_inner())))
                    }
                    (Some("QUIT"), _) => {
                        conn.send("BYE\n")?;
                        Ok(Some(Next::Quit))
                    }
                    _ => {
                        conn.send("ERROR unknown request\n")?;
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
            listener.release()?;
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
fn say_open_at_exec(generation: u32, listener: &Listener, control: &Connection) -> Result {
    let passed = listener.as_fd().as_raw_fd();
    let mut others = Vec::new();
    fds().for_each(|fd| {
        let what = common::short(fd.type_name());
        if fd.number() == passed {
            return;
        }
        let what = if fd.number() == control.socket.as_raw_fd() {
            let peer = control
                .peer
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
fn reexec(generation: u32, dir: &Path, listener: &Listener) -> common::Error {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return format!("finding this binary: {e}").into(),
    };
    let mut cmd = Command::new(&exe);
    cmd.arg(CHILD_ARG)
        .arg(SERVER_ROLE)
        .arg(generation.to_string())
        .arg(dir);
    let plan = match listener {
        Listener::Bound(l) => Inherit::new().listen_fds(&[l]),
        Listener::Inherited(f) => Inherit::new().listen_fds(&[f]),
    };
    if let Err(e) = cmd.inherit(plan) {
        return e.into();
    }
    cmd.env("LISTEN_PID", std::process::id().to_string()); // exec keeps the pid
    let _ = io::stdout().flush();
    let error = cmd.exec(); // replaces this process image; returns only on failure
    format!("exec {}: {error}", exe.display()).into()
}
