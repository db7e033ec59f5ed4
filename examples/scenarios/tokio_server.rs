//! Scenario 6: a tokio server on guard's sockets, upgraded by re-exec.
//!
//! The server serves on a multi-thread tokio runtime: its listener is guard's (counted,
//! registered, made `Async` so the reactor polls it), each connection a guard `TcpStream`
//! (unique: the client sees EOF at its release). On `RESTART` it stops accepting, takes
//! the listener back from tokio, and re-executes its own binary in place passing only the
//! listener (fd 3, `LISTEN_FDS=1`; no `LISTEN_PID`: the new image accepts it missing, as
//! listenfd does). The new image takes it with `guard_tokio::listen::build` before its
//! runtime starts (after, `listen_fds()` would refuse: the workers exist).
//!
//! The driver keeps clients sending throughout and checks that none is refused, that every
//! image served, ran in one process and started with fds 0-2 and the listener only.
//!
//! The server (`tokio_server_child.rs`) writes to the driver's pipe: `FD <n> <target>`
//! (its fds at start), `READY gen=<g> pid=<p> addr=<a>`, `ERROR <text>`; `restarts.rs`
//! reads them and runs the clients, as for `reexec.rs`.

use crate::common::{Result, Verdict, Watchdog};
pub use crate::restarts::Generation;
use crate::restarts::{Server, request, under_load};
use crate::tokio_server_child::SERVER_ROLE;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The scenario's title.
pub const TITLE: &str = "tokio_server: a tokio server on guard's sockets, upgraded by re-exec";

/// What the scenario shows.
pub const ABOUT: &[&str] = &[
    "A multi-thread tokio runtime serves on guard's listener; on RESTART the server hands",
    "the listener to a re-executed copy of itself, which takes it before its runtime",
    "starts. Clients keep sending throughout: none is refused.",
];

const CLIENTS: usize = 3;

/// What the scenario found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every image, in order.
    pub generations: Vec<Generation>,
    /// Requests answered, per generation.
    pub served: BTreeMap<u32, u64>,
    /// Connections refused: must be 0.
    pub refused: u64,
    /// Requests that failed otherwise.
    pub failed: Vec<String>,
    /// The server exited with success after `QUIT`.
    pub exited_cleanly: bool,
    /// The checks.
    pub verdict: Verdict,
}

/// Runs the scenario with `server` as the server's binary.
pub fn run(server: &Path) -> Result<Outcome> {
    let _watchdog = Watchdog::arm("tokio_server", Duration::from_secs(90));
    let mut server = Server::start(server, SERVER_ROLE, &["0".as_ref()])?;
    let result = drive(&mut server);
    server.end(result)
}

fn drive(server: &mut Server) -> Result<Outcome> {
    let mut out = Outcome::default();
    let (first, addr) = server.ready(0)?;
    out.generations.push(first);
    let tally = under_load(addr, CLIENTS, |tally| {
        tally.wait_for(0)?;
        for g in 1..=2 {
            println!("  restart {g}: RESTART sent; the server hands its listener on");
            request(addr, "RESTART")?;
            let (next, _) = server.ready(g)?;
            out.generations.push(next);
            tally.wait_for(g)?;
        }
        Ok(())
    })?;
    (out.served, out.refused, out.failed) = tally.into_parts();
    out.exited_cleanly = server.quit(addr)?;
    report(&mut out);
    Ok(out)
}

/// Prints the tally and runs the checks.
fn report(out: &mut Outcome) {
    crate::restarts::print_tally(&out.served, out.refused, &out.failed);
    for g in &out.generations {
        let fds: Vec<String> = g.fds.iter().map(|(n, t)| format!("{n} {t}")).collect();
        println!(
            "  gen {} (pid {}): fds at start: {}",
            g.number,
            g.pid,
            fds.join(", ")
        );
    }
    crate::restarts::check(
        &mut out.verdict,
        &out.generations,
        &out.served,
        out.refused,
        &out.failed,
        out.exited_cleanly,
    );
}
