//! Scenario 5: a zero-downtime re-exec. The driver starts the server (`reexec_server.rs`),
//! keeps clients sending requests without pause, restarts the server twice (once by
//! SIGHUP, once by a control message), and checks that no connection was refused, that
//! each new image has exactly fds 0, 1, 2 and the listening socket at 3, and that the
//! connection that asked for the restart was not passed on (its client sees EOF at exec).
//!
//! The server's stdout is a pipe to the driver, one line per fact: `FD <n> <target>` (its
//! fds at start), `READY gen=<g> pid=<p> addr=<a> listener=<socket>`, `SAY <text>` (relayed
//! as is), `ERROR <text>`; `restarts.rs` reads them, as it does `tokio_server.rs`'s.

use crate::common::{Result, TempDir, Verdict, Watchdog};
use crate::reexec_server::SERVER_ROLE;
pub use crate::restarts::Generation;
use crate::restarts::{STEP, Server, under_load};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// The scenario's title in the tour.
pub const TITLE: &str = "reexec: a server re-executes itself, passing only its listening socket";

/// What the scenario shows, in three lines.
pub const ABOUT: &[&str] = &[
    "On SIGHUP or a control message the server execs its own binary in place, passing the",
    "listening socket as fd 3 (LISTEN_FDS=1) and nothing else: not its client connections,",
    "log files or pipes. Clients keep sending throughout: none is refused.",
];

/// What the scenario found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every image, in order.
    pub generations: Vec<Generation>,
    /// Requests answered, per generation.
    pub served: BTreeMap<u32, u64>,
    /// Connections refused (the port was closed for a moment): must be 0.
    pub refused: u64,
    /// Requests that failed otherwise.
    pub failed: Vec<String>,
    /// The client that asked for the second restart read EOF when the old image exec'd.
    pub control_saw_eof: bool,
    /// The server exited with success after `QUIT`.
    pub exited_cleanly: bool,
    /// The server's log (written by every image, each flushing it before its exec).
    pub log: String,
    /// The checks.
    pub verdict: Verdict,
}

/// Client threads sending requests throughout.
const CLIENTS: usize = 4;

/// Runs the scenario with `server` as the server's binary (a program that plays the
/// server role: this binary, or the `reexec` example when called from a test).
pub fn run(server: &Path) -> Result<Outcome> {
    let _watchdog = Watchdog::arm("reexec", Duration::from_secs(90));
    let dir = TempDir::new("reexec")?;
    let mut server = Server::start(server, SERVER_ROLE, &["0".as_ref(), dir.path().as_os_str()])?;
    let result = drive(&mut server, &dir);
    server.end(result)
}

fn drive(server: &mut Server, dir: &TempDir) -> Result<Outcome> {
    let mut out = Outcome::default();
    let (first, addr) = server.ready(0)?;
    describe(&first, None);
    out.generations.push(first);

    let tally = under_load(addr, CLIENTS, |tally| {
        tally.wait_for(0)?;
        println!(
            "  restart 1: the driver sends SIGHUP to pid {}",
            out.generations[0].pid
        );
        let pid = rustix::process::Pid::from_raw(out.generations[0].pid as i32)
            .ok_or("bad server pid")?;
        rustix::process::kill_process(pid, rustix::process::Signal::HUP)?;
        let (g1, _) = server.ready(1)?;
        describe(&g1, out.generations.first());
        out.generations.push(g1);
        tally.wait_for(1)?;

        println!("  restart 2: the driver sends the control message RESTART");
        let mut control = TcpStream::connect_timeout(&addr, STEP)?;
        control.set_read_timeout(Some(STEP))?;
        control.write_all(b"RESTART\n")?;
        let mut reply = [0u8; 64];
        let n = control.read(&mut reply)?;
        let (g2, _) = server.ready(2)?;
        describe(&g2, out.generations.first());
        out.generations.push(g2);
        let mut rest = Vec::new();
        out.control_saw_eof = control.read_to_end(&mut rest).is_ok();
        println!(
            "    the control connection got {:?}, then EOF: {}",
            String::from_utf8_lossy(&reply[..n]).trim(),
            if out.control_saw_eof {
                "the exec closed it, it was not passed on"
            } else {
                "NO"
            }
        );
        tally.wait_for(2)
    })?;
    (out.served, out.refused, out.failed) = tally.into_parts();
    out.exited_cleanly = server.quit(addr)?;
    out.log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    report(&mut out);
    Ok(out)
}

/// Prints one image's report.
fn describe(g: &Generation, first: Option<&Generation>) {
    let fds: Vec<String> = g.fds.iter().map(|(n, t)| format!("{n} {t}")).collect();
    match first {
        None => println!(
            "  gen 0: pid {}, listening ({}); its fds at start: {}",
            g.pid,
            g.listener,
            fds.join(", ")
        ),
        Some(first) => {
            println!(
                "  gen {}: pid {}{}; its fds at start: {}",
                g.number,
                g.pid,
                if g.pid == first.pid {
                    " (the same process, a new image)"
                } else {
                    ""
                },
                fds.join(", ")
            );
        }
    }
}

/// The final tally and the checks.
fn report(out: &mut Outcome) {
    crate::restarts::print_tally(&out.served, out.refused, &out.failed);
    let lines: Vec<&str> = out.log.lines().collect();
    println!(
        "  the server's log ({} lines, each image flushed it before its exec):",
        lines.len()
    );
    for l in &lines {
        println!("    | {l}");
    }
    let v = &mut out.verdict;
    crate::restarts::check(
        v,
        &out.generations,
        &out.served,
        out.refused,
        &out.failed,
        out.exited_cleanly,
    );
    v.check(
        out.control_saw_eof,
        "the control connection was not closed by the exec",
    );
    v.check(
        (0..3).all(|g| out.log.contains(&format!("gen {g}: served"))),
        "the log lacks a generation's last line (not flushed before exec?)",
    );
}
