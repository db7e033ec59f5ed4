//! Scenario 6: `producer | consumer` without a shell. Two children started with guard's
//! own spawn (no `fork`), joined by a guard pipe, entered in one scope: their releases wait
//! for them, so the scope returns how they ended. Run twice: once both succeed, once the
//! consumer fails and the scope's error names it.

use crate::common::{Result, Verdict};
use guard::os::{Error as OsError, Inherit, Spawn, Stdio};
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

/// The scenario's title in the tour.
pub const TITLE: &str = "pipeline: `producer | consumer` as two guard children in a scope";

/// What the scenario shows, in three lines.
pub const ABOUT: &[&str] = &[
    "A shell pipeline without the shell: `printf | sort`, then `printf | grep zzz`, each child",
    "spawned without fork and joined by a guard pipe. A child's release waits for it, so the",
    "scope returns their exit statuses: nothing when both succeed, the failing one named.",
];

/// What the producer writes, one fruit a line.
pub const FRUIT: &str = "pear\napple\nfig\n";

/// A failed child, as the scope's error reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The program (`sort`, `grep`).
    pub program: String,
    /// Its exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
}

/// One run of the pipeline.
#[derive(Debug, Default)]
pub struct Run {
    /// What the consumer wrote.
    pub output: String,
    /// The scope's release failures that were failed children.
    pub failures: Vec<Failure>,
    /// The scope's error, as printed (empty if it succeeded).
    pub error: String,
    /// The children's pids, to check that none was left a zombie.
    pub pids: Vec<u32>,
}

/// What the scenario found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// `printf | sort`: both succeed.
    pub good: Run,
    /// `printf | grep zzz`: grep finds nothing and exits 1.
    pub bad: Run,
    /// Children of this process left zombies after both runs.
    pub zombies: Vec<u32>,
    /// Did each check hold?
    pub verdict: Verdict,
}

fn producer() -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", &format!("printf '{}'", FRUIT.replace('\n', "\\n"))]);
    cmd
}

fn consumer(program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(program); // found through PATH, as a shell would
    cmd.args(args);
    cmd
}

/// Runs `producer | consumer` in one scope and collects how it ended.
pub fn pipeline(producer: &Command, consumer: &Command) -> Result<Run> {
    let mut run = Run::default();
    let (reader, writer) = guard::os::pipe()?;
    let scoped = guard::scope(|s| {
        // Each `Spawn` is a temporary: its copy of the pipe end is closed once the child runs.
        let producer = s.enter(
            Spawn::from_command(producer)
                .inherit(Inherit::new().keep_as_stdio(&writer, 1))?
                .spawn()?,
        );
        let mut consumer = s.enter(
            Spawn::from_command(consumer)
                .inherit(Inherit::new().keep_as_stdio(&reader, 0))?
                .stdout(Stdio::Piped)
                .spawn()?,
        );
        run.pids = vec![producer.id(), consumer.id()];
        writer.close()?; // now only the producer writes: the consumer sees EOF when it ends
        reader.close()?;
        if let Some(mut out) = consumer.take_stdout() {
            out.read_to_string(&mut run.output)?;
        }
        Ok::<_, guard::Error>(())
    }); // the releases: wait for each child, a failure is an error
    if let Err(e) = scoped {
        run.error = e.to_string();
        for failure in e.releases() {
            if let Some(OsError::ChildFailed {
                program, status, ..
            }) = failure.error().downcast_ref::<OsError>()
            {
                run.failures.push(Failure {
                    program: program.display().to_string(),
                    code: status.code(),
                    signal: status.signal(),
                });
            }
        }
        if let Some(body) = e.into_body() {
            return Err(body.into());
        }
    }
    Ok(run)
}

/// Whether `pid` is a zombie child of this process (`/proc/<pid>/stat`).
fn is_zombie_of_ours(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let mut rest = stat.rsplit_once(") ").map(|r| r.1).unwrap_or("").split(' ');
    let state = rest.next();
    let ppid = rest.next().and_then(|p| p.parse::<u32>().ok());
    state == Some("Z") && ppid == Some(std::process::id())
}

/// Runs the scenario and checks it.
pub fn run() -> Result<Outcome> {
    let mut out = Outcome {
        good: pipeline(&producer(), &consumer("sort", &[]))?,
        bad: pipeline(&producer(), &consumer("grep", &["zzz"]))?,
        ..Outcome::default()
    };
    let v = &mut out.verdict;

    println!("  printf | sort      -> {:?}", out.good.output);
    if out.good.error.is_empty() {
        println!("                        the scope returned Ok: both children exited 0");
    }
    v.check(
        out.good.error.is_empty() && out.good.output == "apple\nfig\npear\n",
        format!(
            "printf | sort: sorted fruit and no error (got {:?}, error {:?})",
            out.good.output, out.good.error
        ),
    );

    println!("  printf | grep zzz  -> {:?}", out.bad.output);
    println!(
        "                        the scope's error: {}",
        out.bad.error
    );
    let expected = [Failure {
        program: "grep".into(),
        code: Some(1),
        signal: None,
    }];
    v.check(
        out.bad.failures == expected,
        format!(
            "printf | grep zzz: the scope names grep, exit 1, and only it (got {:?})",
            out.bad.failures
        ),
    );

    out.zombies = out
        .good
        .pids
        .iter()
        .chain(&out.bad.pids)
        .copied()
        .filter(|&p| is_zombie_of_ours(p))
        .collect();
    println!(
        "  zombies left                         {}   (each release reaped its child)",
        out.zombies.len()
    );
    v.check(
        out.zombies.is_empty() && out.good.pids.len() == 2 && out.bad.pids.len() == 2,
        format!("no child left a zombie (zombies {:?})", out.zombies),
    );
    Ok(out)
}
