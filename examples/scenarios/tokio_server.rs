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
//! (its fds at start), `READY gen=<g> pid=<p> addr=<a>`, `ERROR <text>`.

use crate::common::{CHILD_ARG, Result, Verdict, Watchdog};
use crate::tokio_server_child::SERVER_ROLE;
use guard::os::{CommandExt as _, Inherit};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The scenario's title.
pub const TITLE: &str = "tokio_server: a tokio server on guard's sockets, upgraded by re-exec";

/// What the scenario shows.
pub const ABOUT: &[&str] = &[
    "A multi-thread tokio runtime serves on guard's listener; on RESTART the server hands",
    "the listener to a re-executed copy of itself, which takes it before its runtime",
    "starts. Clients keep sending throughout: none is refused.",
];

const CLIENTS: usize = 3;
const PER_GENERATION: u64 = 20;
const STEP: Duration = Duration::from_secs(10);

// ----- the driver -----

/// One server image, as it reported itself.
#[derive(Clone, Debug, Default)]
pub struct Generation {
    /// 0 for the first image.
    pub number: u32,
    /// Its pid (the same for all: exec keeps it).
    pub pid: u32,
    /// Its fds at start.
    pub fds: Vec<(i32, String)>,
}

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

/// Reads the server's lines until `READY gen=<generation>`.
fn ready(lines: &mpsc::Receiver<String>, generation: u32) -> Result<(Generation, SocketAddr)> {
    let deadline = Instant::now() + STEP;
    let mut g = Generation {
        number: generation,
        ..Generation::default()
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .map_err(|_| format!("no READY from generation {generation}"))?;
        if let Some(fd) = line.strip_prefix("FD ") {
            let (n, target) = fd.split_once(' ').unwrap_or((fd, ""));
            g.fds.push((n.parse().unwrap_or(-1), target.to_owned()));
        } else if let Some(e) = line.strip_prefix("ERROR ") {
            return Err(format!("the server failed: {e}").into());
        } else if let Some(r) = line.strip_prefix("READY ") {
            let field = |k: &str| {
                r.split(' ')
                    .find_map(|w| w.strip_prefix(k)?.strip_prefix('='))
                    .unwrap_or_default()
                    .to_owned()
            };
            if field("gen") != generation.to_string() {
                return Err(format!("expected generation {generation}: {line}").into());
            }
            g.pid = field("pid").parse().unwrap_or(0);
            return Ok((g, field("addr").parse()?));
        }
    }
}

/// Sends `request`, returns the reply (read to the server's EOF).
fn request(addr: SocketAddr, request: &str) -> std::io::Result<String> {
    let mut s = std::net::TcpStream::connect_timeout(&addr, STEP)?;
    s.set_read_timeout(Some(STEP))?;
    s.write_all(format!("{request}\n").as_bytes())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    Ok(reply)
}

/// Runs the scenario with `server` as the server's binary.
pub fn run(server: &Path) -> Result<Outcome> {
    let _watchdog = Watchdog::arm("tokio_server", Duration::from_secs(90));
    let mut child = Command::new(server)
        .arg(CHILD_ARG)
        .arg(SERVER_ROLE)
        .arg("0")
        .inherit(Inherit::new())?
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no pipe from the server")?;
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let result = drive(&lines, &mut child);
    if result.is_err() {
        let _ = child.kill();
    }
    let _ = child.wait();
    result
}

fn drive(lines: &mpsc::Receiver<String>, child: &mut std::process::Child) -> Result<Outcome> {
    let mut out = Outcome::default();
    let (first, addr) = ready(lines, 0)?;
    out.generations.push(first);
    let served = Arc::new(Mutex::new(BTreeMap::<u32, u64>::new()));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let next_id = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (served, failed, refused) = (served.clone(), failed.clone(), refused.clone());
            let (stop, next_id) = (stop.clone(), next_id.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    match request(addr, &format!("PING {id}")) {
                        Ok(reply) => match reply
                            .strip_prefix(&format!("PONG {id} gen="))
                            .and_then(|r| r.split(' ').next()?.parse::<u32>().ok())
                        {
                            Some(g) => *served.lock().unwrap().entry(g).or_default() += 1,
                            None => failed.lock().unwrap().push(format!("{id}: {reply:?}")),
                        },
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => failed.lock().unwrap().push(format!("{id}: {e}")),
                    }
                }
            })
        })
        .collect();
    let wait_for = |g: u32| -> Result {
        let deadline = Instant::now() + STEP;
        while served.lock().unwrap().get(&g).copied().unwrap_or(0) < PER_GENERATION {
            if Instant::now() >= deadline {
                return Err(format!("generation {g} served too few requests").into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    };
    let steps = (|| -> Result {
        wait_for(0)?;
        for g in 1..=2 {
            println!("  restart {g}: RESTART sent; the server hands its listener on");
            request(addr, "RESTART")?;
            let (next, _) = ready(lines, g)?;
            out.generations.push(next);
            wait_for(g)?;
        }
        Ok(())
    })();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }
    steps?;
    request(addr, "QUIT")?;
    let deadline = Instant::now() + STEP;
    out.exited_cleanly = loop {
        if let Some(status) = child.try_wait()? {
            break status.success();
        }
        if Instant::now() >= deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    out.served = served.lock().unwrap().clone();
    out.refused = refused.load(Ordering::Relaxed);
    out.failed = failed.lock().unwrap().clone();
    report(&mut out);
    Ok(out)
}

/// Prints the tally and runs the checks.
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
    for g in &out.generations {
        let fds: Vec<String> = g.fds.iter().map(|(n, t)| format!("{n} {t}")).collect();
        println!(
            "  gen {} (pid {}): fds at start: {}",
            g.number,
            g.pid,
            fds.join(", ")
        );
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
        out.exited_cleanly,
        "the server did not exit cleanly after QUIT",
    );
}
