//! The tour: the four resource bugs guard exists for, and a zero-downtime re-exec, run end
//! to end against real fds, threads and processes, then guard's report. Each section says
//! what the bug is, what guard did, and whether its guarantee held; the process exits
//! non-zero if any did not.
//!
//! 1. handles: a mutex is two resources (a counted handle, a unique acquisition);
//! 2. fd_registry: a table of every live fd, iterated while threads, finalisers, failed
//!    closes and panics change it;
//! 3. finaliser_deadlock: a release that takes a lock the dropping thread holds;
//! 4. counter: lost updates without a lock;
//! 5. reexec: a server re-executes itself passing only its listening socket;
//! 6. pipeline: `producer | consumer` as two guard children, whose exit statuses come
//!    back from their scope.
//!
//! `cargo run --release --example tour`. The same scenarios run one by one as the
//! examples `handles`, `fd_registry`, `finaliser_deadlock`, `counter`, `reexec` and
//! `pipeline`.

#[path = "scenarios/common.rs"]
mod common;
#[path = "scenarios/counter.rs"]
mod counter;
#[path = "scenarios/fd_registry.rs"]
mod fd_registry;
#[path = "scenarios/fd_registry_faults.rs"]
mod fd_registry_faults;
#[path = "scenarios/finaliser_deadlock.rs"]
mod finaliser_deadlock;
#[path = "scenarios/handles.rs"]
mod handles;
#[path = "scenarios/pipeline.rs"]
mod pipeline;
#[path = "scenarios/reexec.rs"]
mod reexec;
#[path = "scenarios/reexec_server.rs"]
mod reexec_server;
#[path = "scenarios/restarts.rs"]
mod restarts;

use common::{Result, Verdict};
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    // The tour's child processes are this binary, playing another role.
    if let Some(code) = fd_registry_faults::child_main() {
        return code;
    }
    if let Some(code) = reexec_server::child_main() {
        return code;
    }
    let rt = guard::runtime();
    let started = Instant::now();
    println!("guard: every resource says how it is released, and guard releases it that way.");
    println!("  unique  (a lock held, a connection, a writable file): released at the end of its");
    println!("          scope, on the thread that holds it, with every error returned;");
    println!("  counted (an OS handle, a read-only fd, a listener): released after its last");
    println!("          handle goes, on the `guard-finalizer` thread.");
    println!("Sections 1-4 port four classic resource bugs and check guard's answer to each;");
    println!("5 re-executes a server with only its listening socket; 6 runs a pipeline of two");
    println!("children whose exit statuses come back from a scope; 7 is guard's own report.");

    let exe = std::env::current_exe().map_err(common::Error::from);
    let mut results: Vec<(&str, Result<Verdict>)> = Vec::new();

    common::section(&format!("1. {}", handles::TITLE), handles::ABOUT);
    results.push(("handles", handles::run().map(|o| o.verdict)));

    common::section(&format!("2. {}", fd_registry::TITLE), fd_registry::ABOUT);
    let outcome = match &exe {
        Ok(exe) => fd_registry::run(exe).map(|o| o.verdict),
        Err(e) => Err(e.to_string().into()),
    };
    results.push(("fd_registry", outcome));

    common::section(
        &format!("3. {}", finaliser_deadlock::TITLE),
        finaliser_deadlock::ABOUT,
    );
    results.push((
        "finaliser_deadlock",
        finaliser_deadlock::run().map(|o| o.verdict),
    ));

    common::section(&format!("4. {}", counter::TITLE), counter::ABOUT);
    let outcome = counter::run(counter::THREADS, counter::ITERATIONS);
    results.push(("counter", outcome.map(|o| o.verdict)));

    common::section(&format!("5. {}", reexec::TITLE), reexec::ABOUT);
    let outcome = match &exe {
        Ok(exe) => reexec::run(exe).map(|o| o.verdict),
        Err(e) => Err(e.to_string().into()),
    };
    results.push(("reexec", outcome));

    common::section(&format!("6. {}", pipeline::TITLE), pipeline::ABOUT);
    results.push(("pipeline", pipeline::run().map(|o| o.verdict)));

    common::section(
        "7. guard::report(): what is live, by type and creation site, and the finalizer's counters",
        &[
            "After the six scenarios: nothing they created is live. The counters add up every",
            "counted release the tour handed to the finalizer, and the one declared stuck.",
        ],
    );
    if let Err(e) = guard::finalizer::flush() {
        println!("  flush: {e}");
    }
    for line in guard::report().to_string().lines() {
        println!("  {line}");
    }
    let exit = rt.finish();
    println!(
        "  at exit: {}",
        if exit.is_clean() {
            "clean (every counted release drained, no unique resource live)"
        } else {
            "NOT clean"
        }
    );

    println!("\n== Summary ({:.1?})", started.elapsed());
    let mut held = exit.is_clean();
    for (name, result) in &results {
        match result {
            Ok(v) if v.held() => println!("  {name:<20} guarantee held"),
            Ok(v) => {
                held = false;
                println!("  {name:<20} FAILED: {}", v.failures().join("; "));
            }
            Err(e) => {
                held = false;
                println!("  {name:<20} ERROR: {}", common::chain(&**e));
            }
        }
    }
    if held {
        println!("\nguard's guarantees held.");
        ExitCode::SUCCESS
    } else {
        println!("\nA guarantee did not hold: see above.");
        ExitCode::FAILURE
    }
}
