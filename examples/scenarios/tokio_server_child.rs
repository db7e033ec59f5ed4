//! The server of scenario 6 (`tokio_server.rs`): a multi-thread tokio runtime serving on
//! guard's listener (`Async`, still registered) and streams (released by guard per
//! connection); on `RESTART` it drains its connections, takes the listener back from
//! tokio, and re-executes itself passing only the listener (fd 3, `LISTEN_FDS=1`, no
//! `LISTEN_PID`). Each image takes what it was passed with `guard_tokio::listen::build`,
//! before its runtime starts. Its stdout is the driver's pipe (`FD`, `READY`, `ERROR`).

use crate::common::{self, CHILD_ARG, Result};
use guard::os::{CommandExt as _, Inherit, ListenFds, ListenOptions, TcpListener};
use guard_tokio::Async;
use std::io::Write;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, ExitCode};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// The role of the server process.
pub const SERVER_ROLE: &str = "tokio-server";

/// If this process is the server, serves and returns its exit code (or re-executes).
pub fn child_main() -> Option<ExitCode> {
    if common::child_role().as_deref() != Some(SERVER_ROLE) {
        return None;
    }
    let at_start = common::open_fds();
    // Before any thread: take what the previous image passed, then build the runtime.
    let options = ListenOptions::new().accept_missing_pid(true);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_all();
    let started = guard_tokio::listen::build(options, &mut builder);
    let generation: u32 = std::env::args()
        .nth(3)
        .and_then(|g| g.parse().ok())
        .unwrap_or(0);
    let result = (|| -> Result {
        let (passed, runtime) = started?;
        for (n, target) in at_start? {
            println!("FD {n} {target}");
        }
        let listener = runtime.block_on(serve(generation, passed))?;
        drop(runtime); // workers stopped; the listener is blocking and out of the reactor
        Err(reexec(generation + 1, listener))
    })();
    Some(match result {
        Err(e) if e.to_string() == "quit" => ExitCode::SUCCESS,
        Err(e) => {
            println!("ERROR gen {generation}: {}", common::chain(&*e));
            ExitCode::FAILURE
        }
        Ok(()) => ExitCode::SUCCESS,
    })
}

/// The listener passed on by the previous image, checked, or a new one.
fn listener(passed: ListenFds) -> Result<TcpListener> {
    let mut fds = passed.into_fds();
    match fds.len() {
        0 => Ok(TcpListener::bind("127.0.0.1:0")?),
        1 => Ok(TcpListener::try_from(fds.remove(0))?),
        n => Err(format!("{n} fds passed: this server takes one").into()),
    }
}

/// Why the serving loop ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    Restart,
    Quit,
}

/// Serves until `RESTART` (returns the listener, blocking again, after every connection
/// in flight was answered) or `QUIT` (an error "quit", which ends the process).
async fn serve(generation: u32, passed: ListenFds) -> Result<TcpListener> {
    // Counted (closed on the finalizer after its last handle), polled by tokio's reactor,
    // and still in guard's registry.
    let listener = guard::Counted::new(Async::new(listener(passed)?)?);
    let addr = listener.get_ref().local_addr()?;
    println!(
        "READY gen={generation} pid={} addr={addr}",
        std::process::id()
    );
    std::io::stdout().flush()?;
    let (stop_tx, mut stop_rx) = tokio::sync::mpsc::channel(1);
    let mut tasks = tokio::task::JoinSet::new();
    let stop = loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (conn, _) = accepted?;
                tasks.spawn(handle(conn, generation, stop_tx.clone()));
            }
            Some(stop) = stop_rx.recv() => break stop,
        }
    };
    while let Some(done) = tasks.join_next().await {
        if let Ok(Err(e)) = done {
            eprintln!("gen {generation}: a connection failed: {e}");
        }
    }
    match stop {
        Stop::Quit => Err("quit".into()),
        Stop::Restart => {
            // The last handle: take the listener back from its handle, then from tokio.
            let listener = guard::Counted::into_inner(listener)
                .map_err(|_| "the listener is still shared at the hand-over")?;
            Ok(listener.into_inner()?)
        }
    }
}

/// One connection: a request line, a reply, then guard's release of the stream.
async fn handle(
    conn: Async<guard::os::TcpStream>,
    generation: u32,
    stop: tokio::sync::mpsc::Sender<Stop>,
) -> Result {
    let mut conn = tokio::io::BufReader::new(conn);
    let mut line = String::new();
    conn.read_line(&mut line).await?;
    let mut conn = conn.into_inner();
    let mut words = line.split_whitespace();
    let (reply, then) = match (words.next(), words.next()) {
        (Some("PING"), Some(id)) => {
            let pid = std::process::id();
            (format!("PONG {id} gen={generation} pid={pid}\n"), None)
        }
        (Some("RESTART"), _) => ("RESTARTING\n".to_owned(), Some(Stop::Restart)),
        (Some("QUIT"), _) => ("BYE\n".to_owned(), Some(Stop::Quit)),
        _ => ("ERROR unknown request\n".to_owned(), None),
    };
    conn.write_all(reply.as_bytes()).await?;
    // guard's release of the connection: shutdown(Write), close; the client sees EOF.
    conn.into_inner()?.close()?;
    if let Some(then) = then {
        let _ = stop.send(then).await;
    }
    Ok(())
}

/// Re-executes this binary as `generation`, passing only `listener` as fd 3 (no
/// `LISTEN_PID`: the next image accepts it missing). Returns only if the exec failed.
fn reexec(generation: u32, listener: TcpListener) -> common::Error {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return e.into(),
    };
    let mut cmd = Command::new(&exe);
    cmd.arg(CHILD_ARG)
        .arg(SERVER_ROLE)
        .arg(generation.to_string());
    if let Err(e) = cmd.inherit(Inherit::new().listen_fds(&[&listener])) {
        return e.into();
    }
    let _ = std::io::stdout().flush();
    let error = cmd.exec();
    format!("exec {}: {error}", exe.display()).into()
}
