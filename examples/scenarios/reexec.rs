//! Scenario 5: a zero-downtime re-exec. The driver starts the server (`reexec_server.rs`),
//! keeps clients sending requests without pause, restarts the server twice (once by
//! SIGHUP, once by a control message), and checks that no connection was refused, that
//! each new image has exactly fds 0, 1, 2 and the listening socket at 3, and that the
//! connection that asked for the restart was not passed on (its client sees EOF at exec).
//!
//! The server's stdout is a pipe to the driver, one line per fact: `FD <n> <target>` (its
//! fds at start), `READY gen=<g> pid=<p> addr=<a> listener=<socket>`, `SAY <text>` (relayed
//! as is), `ERROR <text>`.

use crate::common::{CHILD_ARG, Result, TempDir, Verdict, Watchdog};
use crate::reexec_server::SERVER_ROLE;
use guard::os::{CommandExt, Inherit};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The scenario's title in the tour.
pub const TITLE: &str = "reexec: a server re-executes itself, passing only its listening socket";

/// What the scenario shows, in three lines.
pub const ABOUT: &[&str] = &[
    "On SIGHUP or a control message the server execs its own binary in place, passing the",
    "listening socket as fd 3 (LISTEN_FDS=1) and nothing else: not its client connections,",
    "log files or pipes. Clients keep sending throughout: none is refused.",
];

/// Client threads sending requests throughout.
const CLIENTS: usize = 4;
/// Requests each generation must serve before the next step.
const PER_GENERATION: u64 = 20;
/// How long any one step may take.
const STEP: Duration = Duration::from_secs(10);

/// One server image, as it reported itself at start.
#[derive(Clone, Debug, Default)]
pub struct Generation {
    /// 0 for the first image.
    pub number: u32,
    /// Its process id (the same for every image: exec keeps it).
    pub pid: u32,
    /// Its fds at start, before it opened anything.
    pub fds: Vec<(i32, String)>,
    /// The listening socket (`socket:[inode]`).
    pub listener: String,
}

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

/// The driver's view of the server's stdout.
struct Server {
    lines: mpsc::Receiver<String>,
    child: std::process::Child,
}

impl Server {
    /// Reads lines until `READY gen=<generation>`, relaying `SAY` lines.
    fn ready(&self, generation: u32) -> Result<(Generation, SocketAddr)> {
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
                let addr = field("addr").parse()?;
                return Ok((g, addr));
            }
        }
    }
}

/// Sends one request; `Ok(Some(gen))` is the generation that answered.
fn ping(addr: SocketAddr, id: u64) -> std::io::Result<u32> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("PING {id}\n").as_bytes())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?; // the server's release of the connection: EOF
    reply
        .strip_prefix(&format!("PONG {id} gen="))
        .and_then(|r| r.split(' ').next()?.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("unexpected reply {reply:?}")))
}

/// Counts of the clients' requests.
#[derive(Default)]
struct Tally {
    served: Mutex<BTreeMap<u32, u64>>,
    refused: AtomicU64,
    failed: Mutex<Vec<String>>,
}

impl Tally {
    fn served_by(&self, generation: u32) -> u64 {
        self.served.lock().get(&generation).copied().unwrap_or(0)
    }

    /// Waits until `generation` has answered [`PER_GENERATION`] requests.
    fn wait_for(&self, generation: u32) -> Result {
        let deadline = Instant::now() + STEP;
        while self.served_by(generation) < PER_GENERATION {
            if Instant::now() >= deadline {
                return Err(format!("generation {generation} served too few requests").into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }
}

/// Runs the scenario with `server` as the server's binary (a program that plays the
/// server role: this binary, or the `reexec` example when called from a test).
pub fn run(server: &Path) -> Result<Outcome> {
    let _watchdog = Watchdog::arm("reexec", Duration::from_secs(90));
    let dir = TempDir::new("reexec")?;
    let mut child = Command::new(server)
        .arg(CHILD_ARG)
        .arg(SERVER_ROLE)
        .arg("0")
        .arg(dir.path())
        .inherit(Inherit::new())? // the first image, too, gets only 0, 1 and 2
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", server.display()))?;
    let stdout = child.stdout.take().ok_or("no pipe from the server")?;
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut server = Server { lines, child };
    let result = drive(&mut server, &dir);
    if result.is_err() {
        let _ = server.child.kill();
    }
    let _ = server.child.wait();
    result
}

fn drive(server: &mut Server, dir: &TempDir) -> Result<Outcome> {
    let mut out = Outcome::default();
    let (first, addr) = server.ready(0)?;
    describe(&first, None);
    out.generations.push(first);

    let tally = Tally::default();
    let stop = AtomicBool::new(false);
    let next_id = AtomicU64::new(0);
    std::thread::scope(|t| -> Result {
        for _ in 0..CLIENTS {
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
        let steps = (|| -> Result {
            println!("  {CLIENTS} clients send requests without pause from now on");
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
        })();
        stop.store(true, Ordering::Relaxed);
        steps
    })?;
    out.served = tally.served.into_inner();
    out.refused = tally.refused.load(Ordering::Relaxed);
    out.failed = tally.failed.into_inner();

    let mut quit = TcpStream::connect_timeout(&addr, STEP)?;
    quit.set_read_timeout(Some(STEP))?;
    quit.write_all(b"QUIT\n")?;
    let mut bye = String::new();
    quit.read_to_string(&mut bye)?;
    let deadline = Instant::now() + STEP;
    out.exited_cleanly = loop {
        if let Some(status) = server.child.try_wait()? {
            break status.success();
        }
        if Instant::now() >= deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
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
    let served: Vec<String> = out
        .served
        .iter()
        .map(|(g, n)| format!("gen {g}: {n}"))
        .collect();
    println!(
        "  requests answered: {}; refused: {}; failed: {}",
        served.join(", "),
        out.refused,
        out.failed.len()
    );
    let lines: Vec<&str> = out.log.lines().collect();
    println!(
        "  the server's log ({} lines, each image flushed it before its exec):",
        lines.len()
    );
    for l in &lines {
        println!("    | {l}");
    }
    let v = &mut out.verdict;
    v.check(
        out.refused == 0,
        format!("{} connections refused", out.refused),
    );
    v.check(
        out.failed.is_empty(),
        format!("failed requests: {:?}", out.failed),
    );
    for g in 0..3 {
        v.check(
            out.served.get(&g).copied().unwrap_or(0) > 0,
            format!("generation {g} answered no request"),
        );
    }
    let socket = out.generations.first().map(|g| g.listener.clone());
    for g in &out.generations {
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
        if g.number > 0 {
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
        out.generations.len() == 3
            && out
                .generations
                .iter()
                .all(|g| g.pid == out.generations[0].pid),
        "the images did not all run in one process",
    );
    v.check(
        out.control_saw_eof,
        "the control connection was not closed by the exec",
    );
    v.check(
        out.exited_cleanly,
        "the server did not exit cleanly after QUIT",
    );
    v.check(
        (0..3).all(|g| out.log.contains(&format!("gen {g}: served"))),
        "the log lacks a generation's last line (not flushed before exec?)",
    );
}
