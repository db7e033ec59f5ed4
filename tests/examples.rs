//! The examples' scenarios, asserted. Each scenario runs here in-process (the same functions
//! the examples and the tour call) and its outcome is checked field by field, against
//! `/proc/self/fd` where fds are concerned; the processes a scenario starts (the exit child,
//! the re-executed server) are the example binaries, and each example binary (and the
//! tour) is also run whole, as a user would, and must exit 0.
//!
//! The tests look at this process's fds and set process-wide state (the event hook, the
//! finalizer's stuck deadline), so they run one at a time. Every blocking step is under a
//! watchdog (the scenarios arm their own; child processes have deadlines).
// Linux only: it reads /proc/self/fd (macOS and FreeBSD are compile-checked, README).
#![cfg(target_os = "linux")]

#[path = "../examples/scenarios/common.rs"]
mod common;
#[path = "../examples/scenarios/counter.rs"]
mod counter;
#[path = "../examples/scenarios/fd_registry.rs"]
mod fd_registry;
#[path = "../examples/scenarios/fd_registry_faults.rs"]
#[allow(dead_code)] // the exit child's side runs in the example binary
mod fd_registry_faults;
#[path = "../examples/scenarios/finaliser_deadlock.rs"]
mod finaliser_deadlock;
#[path = "../examples/scenarios/futurelock.rs"]
mod futurelock;
#[path = "../examples/scenarios/handles.rs"]
mod handles;
#[path = "../examples/scenarios/pipeline.rs"]
mod pipeline;
#[path = "../examples/scenarios/reexec.rs"]
mod reexec;
#[path = "../examples/scenarios/reexec_server.rs"]
#[allow(dead_code)] // the server runs in the example binary
mod reexec_server;
#[path = "../examples/scenarios/restarts.rs"]
mod restarts;
#[path = "../examples/scenarios/tokio_server.rs"]
mod tokio_server;
#[path = "../examples/scenarios/tokio_server_child.rs"]
#[allow(dead_code)] // the server runs in the example binary
mod tokio_server_child;

use guard_testkit::serial;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The built example `name`: `target/<profile>/examples/<name>`, next to this test's
/// `target/<profile>/deps/`. `cargo test` builds the examples before running tests; when
/// only this test was selected (`--test examples`) they are built here, once.
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    let built = BUILT.get_or_init(|| {
        let profile = profile_dir
            .file_name()
            .and_then(|p| p.to_str())
            .map_or("dev", |p| if p == "debug" { "dev" } else { p });
        let target_dir = profile_dir.parent().expect("target dir");
        let out = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--examples", "--profile", profile])
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .env("CARGO_TARGET_DIR", target_dir)
            .output()
            .map_err(|e| e.to_string())?;
        out.status.success().then_some(()).ok_or_else(|| {
            let stderr = String::from_utf8_lossy(&out.stderr);
            format!("cargo build --examples: {}: {stderr}", out.status)
        })
    });
    if let Err(e) = built {
        assert!(path.exists(), "example `{name}` not built ({e})");
    }
    path
}

/// Runs a whole example binary; it must exit 0 and say that guard's guarantees held.
fn run_example(name: &str) -> common::Finished {
    let child = Command::new(example(name))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the example `{name}`: {e}"));
    let done = common::wait_with_deadline(child, Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("example `{name}`: {e}"));
    assert!(
        done.status.success(),
        "example `{name}` failed ({}):\n{}\n{}",
        done.status,
        done.stdout,
        done.stderr
    );
    done
}

#[test]
fn handles_closes_every_os_mutex_handle_on_the_finalizer_and_unlocks_at_scope_end() {
    let _s = serial();
    let out = handles::run().expect("the handles scenario");
    assert_eq!(out.with_locks, out.baseline + handles::LOCKS, "{out:?}");
    assert_eq!(out.reported_live, handles::LOCKS, "the report's census");
    assert_eq!(
        out.released_on_finalizer,
        handles::LOCKS,
        "F1: on the finalizer"
    );
    assert_eq!(
        out.released_elsewhere, 0,
        "F1: never on the dropping thread"
    );
    assert_eq!(
        out.after_flush, out.baseline,
        "back to the baseline after a flush"
    );
    assert!(out.busy_inside_scope, "the scope held the lock");
    assert!(out.free_after_scope, "the scope's end released the lock");
    assert!(out.verdict.held(), "{:?}", out.verdict.failures());
}

#[test]
fn fd_registry_never_visits_a_closed_fd_never_closes_twice_and_leaks_nothing() {
    let _s = serial();
    let exe = example("fd_registry");
    let before = common::open_fds().expect("/proc/self/fd");
    let out = fd_registry::run(&exe).expect("the fd_registry scenario");
    let after = common::open_fds().expect("/proc/self/fd");

    assert_eq!(
        before, after,
        "R3: the scenario leaked or closed fds of this process"
    );
    assert!(out.leaked.is_empty(), "leaked: {:?}", out.leaked);
    assert!(
        out.visited_after_close.is_empty(),
        "R1: {:?}",
        out.visited_after_close
    );
    assert!(out.closed_twice.is_empty(), "R3: {:?}", out.closed_twice);
    assert!(out.visits > 0 && out.deferred_closes > 0, "{out:?}");
    assert_eq!(out.finalised_during_pass, 48);
    assert!(
        out.visited_after_last_handle > 0,
        "a counted close met a lease"
    );
    assert!(
        out.flush_in_callback.is_some(),
        "R2: flush inside the callback returned"
    );

    let f = &out.faults;
    assert!(
        f.failed_close_error
            .as_deref()
            .is_some_and(|e| e.contains("Bad file descriptor")),
        "{:?}",
        f.failed_close_error
    );
    assert!(
        f.failed_close_deregistered,
        "R3: the failed close removed the entry"
    );
    assert!(
        f.new_owner_survived,
        "R3: the failed close was never retried"
    );
    assert!(
        f.deferred_failure_reported,
        "the deferred failure reached the hook"
    );
    assert!(f.panic_propagated && f.panic_consistent, "{f:?}");
    for want in ["drained=true", "unique_live=1", "pending=0"] {
        assert!(
            f.exit_summary.split(' ').any(|w| w == want),
            "exit report: {}",
            f.exit_summary
        );
    }
    assert!(out.verdict.held(), "{:?}", out.verdict.failures());
}

#[test]
fn finaliser_deadlock_plain_drop_hangs_counted_release_completes_stuck_one_is_reported() {
    let _s = serial();
    let out = finaliser_deadlock::run().expect("the finaliser_deadlock scenario");
    assert!(
        out.plain_deadlocked,
        "the plain Drop should have deadlocked"
    );
    assert!(
        out.counted_drop_took < finaliser_deadlock::PATIENCE,
        "{out:?}"
    );
    assert!(out.counted_released, "{out:?}");
    assert_eq!(out.released_on, ["guard-finalizer"], "F1");
    assert!(out.stuck_reported, "F3: the stuck release was reported");
    assert_eq!(out.others_released_meanwhile, 10, "F3: the queue moved on");
    assert!(out.stuck_completed, "{out:?}");
    assert!(out.verdict.held(), "{:?}", out.verdict.failures());
}

#[test]
fn futurelock_tokio_mutex_hangs_guard_mutex_completes_held_guard_is_named() {
    let _s = serial();
    common::section(futurelock::TITLE, futurelock::ABOUT);
    let out = futurelock::run().expect("the futurelock scenario");
    assert!(
        out.tokio_hung,
        "RFD 609 with tokio's mutex should have hung"
    );
    assert_eq!(out.guard_total, Some(10), "op2 took guard's lock: {out:?}");
    let report = out.report.as_deref().expect("the detector's report");
    assert!(
        report.contains("examples/scenarios/futurelock.rs") && report.contains("acquired at"),
        "{report}"
    );
    assert_eq!(
        out.reported_lines,
        Some((out.lines.0, Some(out.lines.1))),
        "the lock's creation line and op1's acquisition line"
    );
    assert!(
        out.timeout
            .as_deref()
            .is_some_and(|t| t.contains("acquired at")),
        "{out:?}"
    );
    assert!(out.verdict.held(), "{:?}", out.verdict.failures());
}

#[test]
fn counter_guarded_by_a_scoped_acquisition_loses_nothing() {
    let _s = serial();
    let out = counter::run(counter::THREADS, counter::ITERATIONS).expect("the counter scenario");
    assert_eq!(out.expected, counter::THREADS * counter::ITERATIONS);
    assert_eq!(
        out.guarded, out.expected,
        "the guarded counter lost increments"
    );
    assert!(out.unsynchronised <= out.expected);
    assert!(out.verdict.held(), "{:?}", out.verdict.failures());
}

#[test]
fn reexec_passes_only_the_listener_and_refuses_no_client() {
    let _s = serial();
    let out = reexec::run(&example("reexec")).expect("the reexec scenario");
    assert_eq!(out.refused, 0, "no connection refused");
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    assert_eq!(out.generations.len(), 3);
    let first = &out.generations[0];
    let numbers = |g: &reexec::Generation| g.fds.iter().map(|(n, _)| *n).collect::<Vec<_>>();
    assert_eq!(
        numbers(first),
        [0, 1, 2],
        "R5: the first image got only stdio"
    );
    assert!(first.listener.starts_with("socket:["), "{first:?}");
    for g in &out.generations[1..] {
        assert_eq!(
            numbers(g),
            [0, 1, 2, 3],
            "R5: gen {} fds {:?}",
            g.number,
            g.fds
        );
        assert_eq!(
            g.fds[3].1, first.listener,
            "fd 3 is the same listening socket"
        );
        assert_eq!(g.pid, first.pid, "re-executed in place");
    }
    for g in 0..3 {
        assert!(
            out.served.get(&g).copied().unwrap_or(0) > 0,
            "gen {g} served nothing"
        );
    }
    assert!(
        out.control_saw_eof,
        "the restarting connection was not passed on"
    );
    assert!(out.exited_cleanly);
    assert!(out.log.contains("gen 0: served") && out.log.contains("gen 2: served"));
    assert!(out.verdict.held(), "{:?}", out.verdict.failures());
}

#[test]
fn pipeline_returns_both_statuses_from_the_scope_and_names_the_failing_consumer() {
    let _s = serial();
    let out = pipeline::run().expect("the pipeline scenario");
    assert_eq!(out.good.output, "apple\nfig\npear\n");
    assert_eq!(out.good.failures, [], "{:?}", out.good.error);
    assert!(out.good.error.is_empty(), "{}", out.good.error);
    assert_eq!(out.bad.output, "");
    assert_eq!(
        out.bad.failures,
        [pipeline::Failure {
            program: "grep".into(),
            code: Some(1),
            signal: None,
        }]
    );
    assert!(
        out.bad.error.contains("(`grep`) exited with code 1"),
        "{}",
        out.bad.error
    );
    assert_eq!(out.zombies, [], "every release reaped its child");
    assert!(out.verdict.held(), "{:?}", out.verdict.failures());
}

#[test]
fn tokio_server_hands_its_listener_to_its_next_image_and_refuses_no_client() {
    let _s = serial();
    let out = tokio_server::run(&example("tokio_server")).expect("the tokio_server scenario");
    assert_eq!(out.refused, 0, "no connection refused");
    assert!(out.failed.is_empty(), "{:?}", out.failed);
    assert_eq!(out.generations.len(), 3);
    let numbers = |g: &tokio_server::Generation| g.fds.iter().map(|(n, _)| *n).collect::<Vec<_>>();
    assert_eq!(numbers(&out.generations[0]), [0, 1, 2]);
    for g in &out.generations[1..] {
        assert_eq!(
            numbers(g),
            [0, 1, 2, 3],
            "gen {}: only the listener passed",
            g.number
        );
        assert!(g.fds[3].1.starts_with("socket:["), "{g:?}");
        assert_eq!(g.fds[3].1, out.generations[1].fds[3].1, "the same listener");
        assert_eq!(g.pid, out.generations[0].pid, "re-executed in place");
    }
    for g in 0..3 {
        assert!(
            out.served.get(&g).copied().unwrap_or(0) > 0,
            "gen {g} served nothing"
        );
    }
    assert!(out.exited_cleanly);
    assert!(out.verdict.held(), "{:?}", out.verdict.failures());
    // And the example binary, run whole, as a user would.
    let done = run_example("tokio_server");
    assert!(done.stdout.contains(&format!("== {}", tokio_server::TITLE)));
    assert!(tokio_server::ABOUT.iter().all(|l| done.stdout.contains(l)));
    assert!(
        done.stdout
            .contains("tokio_server: guard's guarantee held."),
        "{}",
        done.stdout
    );
}

#[test]
fn every_example_binary_exits_zero_and_says_its_guarantee_held() {
    let _s = serial();
    for name in [
        "handles",
        "fd_registry",
        "finaliser_deadlock",
        "futurelock",
        "counter",
        "reexec",
        "pipeline",
    ] {
        let done = run_example(name);
        assert!(
            done.stdout
                .contains(&format!("{name}: guard's guarantee held.")),
            "{name}:\n{}",
            done.stdout
        );
    }
}

#[test]
fn the_tour_runs_every_scenario_and_ends_with_a_clean_report() {
    let _s = serial();
    let done = run_example("tour");
    let titles = [
        handles::TITLE,
        fd_registry::TITLE,
        finaliser_deadlock::TITLE,
        counter::TITLE,
        reexec::TITLE,
        pipeline::TITLE,
    ];
    for (i, title) in titles.iter().enumerate() {
        let section = format!("== {}. {title}", i + 1);
        assert!(
            done.stdout.contains(&section),
            "`{section}` missing:\n{}",
            done.stdout
        );
    }
    let explained = [
        handles::ABOUT,
        fd_registry::ABOUT,
        finaliser_deadlock::ABOUT,
        counter::ABOUT,
        reexec::ABOUT,
        pipeline::ABOUT,
    ];
    for line in explained.iter().flat_map(|a| a.iter()) {
        assert!(done.stdout.contains(line), "`{line}` missing");
    }
    for section in [
        "== 7. guard::report()",
        "live resources: none",
        "registered fds: none",
        "at exit: clean",
        "guard's guarantees held.",
    ] {
        assert!(
            done.stdout.contains(section),
            "`{section}` missing:\n{}",
            done.stdout
        );
    }
    assert!(!done.stdout.contains("FAILED"), "{}", done.stdout);
}
