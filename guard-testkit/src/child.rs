//! A child process's output, waited for with a deadline, and the payload a re-executed
//! test binary prints between `BEGIN` and `END`.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Runs `cmd` with its stdout and stderr captured, at most `limit` (see [`wait_output`]).
///
/// # Panics
///
/// If the child cannot be spawned, or has not finished within `limit` (it is killed).
///
/// # Examples
///
/// ```
/// # use std::{process::Command, time::Duration};
/// let out = guard_testkit::output_of(Command::new("echo").arg("hi"), Duration::from_secs(10));
/// assert_eq!(out.stdout, b"hi\n");
/// ```
pub fn output_of(cmd: &mut Command, limit: Duration) -> Output {
    let child = spawn_again_if_busy(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()))
        .expect("spawn the child");
    wait_output(child, limit)
}

/// `cmd.spawn()`, spawned again (up to 100 times) while it fails with `EBUSY`: what
/// `guard_os::CommandExt::inherit` documents for a target another thread closed between
/// `inherit` and the spawn, which became the spawn's own exec-error channel. Tests that
/// run beside others (which open and close low fd numbers all the time) meet it; a test
/// of that refusal itself calls `spawn` directly.
///
/// # Errors
///
/// The last spawn's error, if it is not `EBUSY` or the tries ran out.
///
/// # Examples
///
/// ```
/// # use std::process::Command;
/// let status = guard_testkit::spawn_again_if_busy(&mut Command::new("true"))?.wait()?;
/// assert!(status.success());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_again_if_busy(cmd: &mut Command) -> std::io::Result<Child> {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ResourceBusy && tries < 100 => tries += 1,
            other => return other,
        }
    }
}

/// Waits at most `limit` for `child`, reading whichever of its stdout and stderr are piped
/// on threads meanwhile (a chatty child never blocks on a full pipe).
///
/// # Panics
///
/// If the child has not finished within `limit` (it is killed and reaped first).
///
/// # Examples
///
/// ```
/// # use std::{process::{Command, Stdio}, time::Duration};
/// let child = Command::new("true").stdout(Stdio::piped()).spawn().unwrap();
/// assert!(guard_testkit::wait_output(child, Duration::from_secs(10)).status.success());
/// ```
pub fn wait_output(mut child: Child, limit: Duration) -> Output {
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child did not finish within {limit:?} (killed)");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// The lines between `BEGIN` and `END` markers in a child's stdout (libtest prints its own
/// lines around them), trimmed.
///
/// # Examples
///
/// ```
/// # use std::{os::unix::process::ExitStatusExt, process::{ExitStatus, Output}};
/// let out = Output {
///     status: ExitStatus::from_raw(0),
///     stdout: b"running 1 test\nBEGIN\n 3 /dev/null\nEND\ntest ok\n".to_vec(),
///     stderr: Vec::new(),
/// };
/// assert_eq!(guard_testkit::payload(&out), ["3 /dev/null"]);
/// ```
pub fn payload(out: &Output) -> Vec<String> {
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        match line.trim() {
            "BEGIN" => inside = true,
            "END" => inside = false,
            l if inside => lines.push(l.to_owned()),
            _ => {}
        }
    }
    lines
}
