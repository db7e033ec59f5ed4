//! What the drivers of the two re-exec scenarios share (`reexec.rs`, `tokio_server.rs`):
//! starting the server with only 0, 1 and 2, reading its lines (`FD <n> <target>`,
//! `SAY <text>`, `READY gen=<g> pid=<p> addr=<a> [listener=<socket>]`, `ERROR <text>`),
//! clients sending `PING` without pause while the driver restarts it, `QUIT`, and the
//! checks every re-exec must pass.
//!
//! Included with `#[path]` next to `common.rs` by the `reexec` and `tokio_server`
//! examples, by the tour and by `tests/examples.rs`.
#![allow(dead_code)]

use crate::common::{CHILD_ARG, Result, Verdict};
use guard::os::{CommandExt as _, Inherit};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Requests each generation must serve before the next step.
pub const PER_GENERATION: u64 = 20;
/// How long any one step may take.
pub const STEP: Duration = Duration::from_secs(10);

/// One server image, as it reported itself at start.
#[derive(Clone, Debug, Default)]
pub struct Generation {
    /// 0 for the first image.
    pub number: u32,
    /// Its process id (the same for every image: exec keeps it).
    pub pid: u32,
    /// Its fds at start, before it opened anything.
    pub fds: Vec<(i32, String)>,
    /// The listening socket (`socket:[inode]`), where the server reports it.
    pub listener: String,
}

/// The driver's view of the server: its stdout, line by line, and the process.
pub struct Server {
    lines: mpsc::Receiver<String>,
    /// The server process.
    pub child: Child,
}

impl Server {
    /// Starts `exe` playing `role` with `args`, passing it nothing but 0, 1 and 2 (stdin
    /// `/dev/null`, stdout a pipe to the driver) and no `LISTEN_FDS`.
    pub fn start(exe: &Path, role: &str, args: &[&std::ffi::OsStr]) -> Result<Server> {
        let mut child = Command::new(exe)
            .arg(CHILD_ARG)
            .arg(role)
            .args(args)
            .inherit(Inherit::new())? // the first image, too, gets only 0, 1 and 2
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", exe.display()))?;
        let stdout = child.stdout.take().ok_or("no pipe from the server")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout)
                .lines()
                .map_while(std::io::Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Server { lines, child })
    }

    /// Reads lines until `READY gen=<generation>`, relaying `SAY` lines.
    pub fn ready(&self, generation: u32) -> Result<(Generation, SocketAddr)> {
        let deadline = Instant::now() + STEP;
        let mut g = Generation {
            number: generation,
            ..Generation::default()
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).map_err(|_| {
                format!("the server did not report generation {generation} within {STEP:?}")
            })?;
            if let Some(say) = line.strip_prefix("SAY ") {
                println!("    server: {say}");
            } else if let Some(fd) = line.strip_prefix("FD ") {
                let (n, target) = fd.split_once(' ').unwrap_or((fd, ""));
                g.fds.push((n.parse().unwrap_or(-1), target.to_owned()));
            } else if let Some(e) = line.strip_prefix("ERROR ") {
                return Err(format!("the server failed: {e}").into());
            } else if let Some(ready) = line.strip_prefix("READY ") {
                let field = |k: &str| {
                    ready
                        .split(' ')
                        .find_map(|w| w.strip_prefix(k)?.strip_prefix('='))
                        .unwrap_or_default()
                        .to_owned()
                };
                if field("gen") != generation.to_string() {
                    return Err(format!("expected generation {generation}: {line}").into());
                }
                g.pid = field("pid").parse().unwrap_or(0);
                g.listener = field("listener");
                return Ok((g, field("addr").parse()?));
            }
        }
    }

    /// Sends `QUIT` and waits at most [`STEP`] for the server to exit: true if it exited
    /// with success.
    pub fn quit(&mut self, addr: SocketAddr) -> Result<bool> {
        request(addr, "QUIT")?;
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.success());
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Ends the driving: kills the server if `result` is an error, reaps it, and returns
    /// `result`.
    pub fn end<T>(mut self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        result
    }
}

/// Sends `request` on a new connection; the reply, read to the server's EOF (its release
/// of the connection).
pub fn request(addr: SocketAddr, request: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, STEP)?;
    s.set_read_timeout(Some(STEP))?;
    s.set_write_timeout(Some(STEP))?;
    s.write_all(format!("{request}\n").as_bytes())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    Ok(reply)
}

/// Sends `PING <id>`; the generation that answered `PONG <id> gen=<g>`.
fn ping(addr: SocketAddr, id: u64) -> std::io::Result<u32> {
    let reply = request(addr, &format!("PING {id}"))?;
    reply
        .strip_prefix(&format!("PONG {id} gen="))
        .and_then(|r| r.split(' ').next()?.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("unexpected reply {reply:?}")))
}

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Tally {
    served: Mutex<BTreeMap<u32, u64>>,
    refused: AtomicU64,
    failed: Mutex<Vec<String>>,
}

impl Tally {
    fn served_by(&self, generation: u32) -> u64 {
        self.served.lock().get(&generation).copied().unwrap_or(0)
    }

    /// Waits until `generation` has answered [`PER_GENERATION`] requests.
    pub fn wait_for(&self, generation: u32) -> Result {
        let deadline = Instant::now() + STEP;
        while self.served_by(generation) < PER_GENERATION {
            if Instant::now() >= deadline {
                return Err(format!("generation {generation} served too few requests").into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// Requests answered per generation, connections refused, and the other failures.
    pub fn into_parts(self) -> (BTreeMap<u32, u64>, u64, Vec<String>) {
        (
            self.served.into_inner(),
            self.refused.into_inner(),
            self.failed.into_inner(),
        )
    }
}

/// Runs `steps` while `clients` threads send `PING`s to `addr` without pause, and stops
/// them after; what they saw, or the steps' error.
pub fn under_load(
    addr: SocketAddr,
    clients: usize,
    steps: impl FnOnce(&Tally) -> Result,
) -> Result<Tally> {
    let tally = Tally::default();
    let stop = AtomicBool::new(false);
    let next_id = AtomicU64::new(0);
    std::thread::scope(|t| -> Result {
        for _ in 0..clients {
            t.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    match ping(addr, id) {
                        Ok(g) => *tally.served.lock().entry(g).or_default() += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                            tally.refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => tally.failed.lock().push(format!("request {id}: {e}")),
                    }
                }
            });
        }
        println!("  {clients} clients send requests without pause from now on");
        let result = steps(&tally);
        stop.store(true, Ordering::Relaxed);
        result
    })?;
    Ok(tally)
}

/// Prints what the clients saw.
pub fn print_tally(served: &BTreeMap<u32, u64>, refused: u64, failed: &[String]) {
    let served: Vec<String> = served
        .iter()
        .map(|(g, n)| format!("gen {g}: {n}"))
        .collect();
    println!(
        "  requests answered: {}; refused: {refused}; failed: {}",
        served.join(", "),
        failed.len()
    );
}

/// The checks every re-exec passes: no request refused or failed, three generations each
/// served, each started with 0, 1 and 2 (the first) or those and the listener at 3 (the
/// others: the same socket as the first's, where it reported one), all in one process,
/// and a clean exit after `QUIT`.
pub fn check(
    v: &mut Verdict,
    generations: &[Generation],
    served: &BTreeMap<u32, u64>,
    refused: u64,
    failed: &[String],
    exited_cleanly: bool,
) {
    v.check(refused == 0, format!("{refused} connections refused"));
    v.check(failed.is_empty(), format!("failed requests: {failed:?}"));
    for g in 0..3 {
        v.check(
            served.get(&g).copied().unwrap_or(0) > 0,
            format!("generation {g} answered no request"),
        );
    }
    let socket = generations.first().map(|g| g.listener.clone());
    for g in generations {
        let numbers: Vec<i32> = g.fds.iter().map(|(n, _)| *n).collect();
        let expected: &[i32] = if g.number == 0 {
            &[0, 1, 2]
        } else {
            &[0, 1, 2, 3]
        };
        v.check(
            numbers == expected,
            format!(
                "gen {} started with fds {numbers:?}, not {expected:?}",
                g.number
            ),
        );
        if g.number > 0 && socket.as_deref().is_some_and(|s| !s.is_empty()) {
            let three = g.fds.iter().find(|(n, _)| *n == 3).map(|(_, t)| t.clone());
            v.check(
                three == socket,
                format!(
                    "gen {}'s fd 3 is {three:?}, not the listener {socket:?}",
                    g.number
                ),
            );
        }
    }
    v.check(
        generations.len() == 3 && generations.iter().all(|g| g.pid == generations[0].pid),
        "the images did not all run in one process",
    );
    v.check(exited_cleanly, "the server did not exit cleanly after QUIT");
}
