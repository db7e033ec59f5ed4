#!/usr/bin/env python3
"""Writes RELIABILITY.md from the `RELIABILITY {json}` lines that reliability/run.sh
collected (the suites print them with --nocapture; run.sh adds its own for timings, the
pinned bugs, loom and valgrind).

    python3 reliability/report.py <results.log> <RELIABILITY.md>

Every figure in the output comes from the log. The prose around the figures (what each
suite does, which existing tests cover what) lives here, next to the code that fills it in.
"""

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load(path):
    records = []
    for line in Path(path).read_text(errors="replace").splitlines():
        if line.startswith("RELIABILITY "):
            try:
                records.append(json.loads(line[len("RELIABILITY "):]))
            except json.JSONDecodeError:
                pass
    return records


class Data:
    def __init__(self, records):
        self.records = records
        self.by = defaultdict(list)
        for r in records:
            self.by[(r.get("suite"), r.get("test"))].append(r)

    def all(self, suite, test=None):
        return [r for r in self.records
                if r.get("suite") == suite and (test is None or r.get("test") == test)]

    def one(self, suite, test):
        rows = self.by.get((suite, test), [])
        return rows[-1] if rows else {}


def fmt(n):
    if isinstance(n, bool):
        return "yes" if n else "no"
    if isinstance(n, int):
        return f"{n:,}"
    if isinstance(n, float):
        return f"{n:,.1f}" if n >= 10 else f"{n:.3g}"
    return str(n) if n is not None else "–"


def short(text, limit=160):
    text = re.sub(r"(.)\1{19,}", lambda m: m.group(1) * 8 + f"…({len(m.group(0))}×)", str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return "\n".join(out)


def test_cell(names):
    """A test name, or a tuple of them, in backticks; a trailing note such as " (UI case)"
    stays outside them."""
    if isinstance(names, str):
        names = (names,)
    cells = []
    for name in names:
        m = re.fullmatch(r"(\S+)( \(.*\))", name)
        cells.append(f"`{m.group(1)}`{m.group(2)}" if m else f"`{name}`")
    return ", ".join(cells)


def ignored_reasons():
    """`#[ignore = "bug: ..."]` reasons of the pinned bug tests, by test name."""
    reasons = {}
    for path in sorted((ROOT / "tests").glob("reliability_*.rs")):
        text = path.read_text()
        for m in re.finditer(r'#\[ignore = "(bug: [^"]*)"\]\s*fn (\w+)', text):
            reasons[m.group(2)] = (m.group(1), path.relative_to(ROOT).as_posix(),
                                   text[:m.start()].count("\n") + 2)
    return reasons


SUITES = {
    "soak": ("tests/reliability_soak.rs",
             "2 threads of resource lifecycles of every kind, with a registry walker and a "
             "spawner running alongside; leaks, registry, census and finalizer counters "
             "checked against a baseline at the end"),
    "deadlock": ("tests/reliability_deadlock.rs",
                 "every place a finalizer, a release hook or a registry callback could wait "
                 "for what its own or another thread holds, for many rounds, under watchdogs"),
    "faults": ("tests/reliability_faults.rs",
               "failing closes, EMFILE at every creation path, panics and errors in every "
               "position, SIGKILLed children, fork without exec"),
    "bad_input": ("tests/reliability_bad_input.rs",
                  "a table of runtime misuse: each a typed error, nothing lost"),
    "fork": ("tests/reliability_fork.rs",
             "fork() without exec while threads churn: children drop counted fds, flush and "
             "check `/proc/self/fd`; a pre-fork server's workers at RLIMIT_NOFILE 64"),
}

SIZES = [
    ("soak", "2 × 50,000 lifecycles, 100 spawns", "2 × 1,000,000 lifecycles, 1,000 spawns"),
    ("deadlock", "rounds: 10,000 locker drops, 1,000 passes, 4,000 hooks, 24 spawns, 1,000 flushes",
     "rounds: 500,000 locker drops, 50,000 passes, 200,000 hooks, 1,000 spawns, 50,000 flushes"),
    ("faults", "500 failing closes, 50 × 22 position cases, 17 EMFILE paths, 30 kills, 5 × 40 forks",
     "20,000 failing closes, 2,000 × 22 position cases, 17 EMFILE paths, 1,000 kills, 5 × 400 forks"),
    ("bad_input", "every row once; 100 zero-timeout flushes", "every row once; 1,000 zero-timeout flushes"),
    ("fork", "100 forks; 4 workers × 500 requests", "1,000 forks; 4 workers × 5,000 requests"),
]

# Rows the existing per-crate tests already cover: not repeated by the suites.
ELSEWHERE = [
    ("F1 release off the dropping thread; handle dropped in a TLS destructor; release that "
     "drops a handle", "guard-core/tests/counted.rs"),
    ("F2 panicking release isolated, payload whose Drop panics, panicking hook",
     "guard-core/tests/finalizer_events.rs"),
    ("F3 stuck release reported, fresh worker, released later", "guard-core/tests/finalizer_stuck.rs"),
    ("F5 queue depth / high-water; drain + retry for ReadFile and pipe",
     "guard-core/tests/finalizer_depth.rs, guard-os/tests/pressure.rs"),
    ("S1-S3 order, `?`, panic, forgotten guards, guard kept in an older resource",
     "guard-core/tests/scope.rs"),
    ("R1-R3 close during a callback, concurrent closes, callbacks that open/drop/iterate/panic, "
     "explicit close after a close behind the registry's back, deferred-close events",
     "guard-os/tests/registry.rs, guard-os/tests/events.rs"),
    ("R4/R5 exact child fd set, swapped targets, every cloexec strategy, fds without CLOEXEC, "
     "200/1,000 spawns under churn, typed plan errors, keeping a closed fd",
     "guard-os/tests/command.rs, guard-os/tests/registry.rs"),
    ("derived release order, every field attempted, hook first, panics (mock leaves)",
     "guard-macros/tests/release.rs"),
    ("OS mutex: holder death (one kill while holding), mutual exclusion, names",
     "guard-os/tests/ipc_mutex.rs"),
    ("fd leaks over 20,000/100,000 open/close cycles", "guard-os/tests/leaks.rs"),
    ("shutdown: drain at exit, inline release after the last runtime guard",
     "guard-core/tests/runtime.rs"),
    ("lost wake-ups, stuck hand-over (2 jobs), lease deferral, last of two leases (loom)",
     "guard-core/tests/loom.rs (the first four models)"),
    ("the child as a resource: exit code or signal returned by a scope, counted children "
     "reaped by a flush, no zombie after a failed spawn, stdio, R5 through `/proc/<pid>/fd`",
     "guard-os/tests/child.rs, guard-os/tests/spawn.rs"),
    ("async mutex: RFD 609 and its variants under a watchdog, the hand-over states driven by "
     "hand, the detector, the wake protocol (loom, `.ci/run`)",
     "guard-tokio/tests/lock_futurelock.rs, lock_states.rs, lock_detector.rs, lock_loom.rs"),
    ("async scopes: release order and errors, cancellation at every await point, on and off "
     "a runtime, the slots under Miri (`.ci/miri`)",
     "guard-tokio/tests/scope.rs, scope_cancel.rs, scope_sockets.rs, scope_slots.rs"),
    ("tokio interop: fds registered while tokio serves on them, child waits and flush off "
     "the workers, `IpcMutex` across tasks, processes and a holder's death",
     "guard-tokio/tests/interop.rs, guard-tokio/tests/ipc_mutex.rs, guard-os/tests/interop.rs"),
]


def failed_steps(d):
    """What failed in this run, for the first paragraph."""
    steps = [f"suite `{r['test']}`" for r in d.all("run") if r.get("test") != "total" and not r.get("ok")]
    steps += [f"loom model `{r['test']}`" for r in d.all("loom") if not r.get("ok")]
    s = d.one("valgrind", "summary")
    if s and not s.get("ok"):
        failed = [f"`{f['test']}`" for r in d.all("valgrind") for f in r.get("failures", [])]
        steps.append("valgrind: " + (", ".join(failed) + " failed under it" if failed else "see below")
                     + (f"; memcheck errors {s['memcheck_errors']}" if s.get("memcheck_errors") else ""))
    return steps


def render(d):
    env = d.one("env", "machine")
    total = d.one("run", "total")
    out = []
    w = out.append
    w("# Reliability")
    w("")
    w("Generated by `reliability/run.sh` from the suites' own output: the suites print "
      "`RELIABILITY {json}` lines, `run.sh` collects them in `reliability/results.log`, and "
      "`reliability/report.py` turns that log into this file. Do not edit it by hand.")
    w("")
    w(f"This run: **{env.get('size', '?')} size**, {env.get('profile', '?')} build, "
      f"{env.get('date', '?')}, commit `{env.get('commit', '?')}`, {env.get('cores', '?')} cores, "
      f"Linux {env.get('kernel', '?')}, {env.get('rustc', '?')}, RLIMIT_NOFILE "
      f"{fmt(env.get('nofile'))}. Everything below took {fmt(total.get('seconds'))} s "
      f"(suites, pinned bugs, fd pressure, loom, valgrind); overall: "
      f"**{'passed' if total.get('ok') else 'FAILED'}**"
      + ("" if total.get("ok") else f" ({', '.join(failed_steps(d)) or 'see the logs'})") + ".")
    w("")

    # --- how to run
    w("## How to run")
    w("")
    w("```text")
    w("cargo test -p guard --test 'reliability_*'      # CI sizes (also part of cargo test --workspace)")
    w("reliability/run.sh                              # CI sizes + pinned bugs + loom + valgrind, regenerates this file")
    w("reliability/run.sh --full                       # the issue's sizes: GUARD_FULL=1, release build")
    w("GUARD_FULL=1 cargo test -p guard --release --test reliability_soak -- --nocapture   # one suite, full size")
    w("cargo test -p guard-os --test pressure_figures -- --nocapture                     # the fd-pressure table alone")
    w("```")
    w("")
    w("`.ci/run` runs the suites at CI size through `cargo test --workspace`; every suite is "
      "its own test binary (process-wide state such as the event hook, the stuck deadline and "
      "rlimits stays inside it), every blocking step runs under a watchdog (a hang fails the "
      "test, it never blocks CI), and children are killed on timeout.")
    w("")
    w(table(["suite", "CI size (default)", "full size (`GUARD_FULL=1`)"], SIZES))
    w("")

    # --- summary
    w("## Summary")
    w("")
    hangs = d.all("watchdog")
    rows = []
    for suite, (path, what) in SUITES.items():
        run = d.one("run", suite)
        status = "passed" if run.get("ok") else ("FAILED" if run else "not run")
        rows.append([f"[{suite}](#{suite.replace('_', '-')})", f"`{path}`", what,
                     f"{fmt(run.get('passed'))} passed, {fmt(run.get('ignored'))} pinned bug(s)",
                     status, f"{fmt(run.get('seconds'))} s"])
    w(table(["suite", "file", "what it does", "tests", "result", "time"], rows))
    w("")
    soak = d.one("soak", "soak_lifecycles_with_concurrent_passes_and_spawns")
    injected, survived = fault_totals(d)
    leaked = sum(r.get("fds_leaked", 0) + r.get("fds_leaked_in_parent", 0)
                 for r in d.records if r.get("suite") in SUITES)
    w(table(["figure", "value"], [
        ["resource lifecycles (soak)", fmt(soak.get("lifecycles"))],
        ["fds created in the soak", fmt(soak.get("fds_created"))],
        ["fds leaked (all suites, against /proc/self/fd baselines)", fmt(leaked)],
        ["R1 violations seen by registry walkers", fmt(soak.get("r1_violations", 0)
                                                       + sum(r.get("r1_violations", 0) for r in d.all("deadlock")))],
        ["scenarios under a watchdog that hung (deadlocks)", fmt(len(hangs))],
        ["faults injected / survived", f"{fmt(injected)} / {fmt(survived)}"],
        ["bugs found: open (pinned by ignored tests) / fixed", f"{fmt(len(d.all('bugs')))} / {len(FIXED) + len(REVIEW_FIXED)} ({len(FIXED)} found by the suites, {len(REVIEW_FIXED)} by code review)"],
        [f"this wave's tests (issues {WAVE_SPAN}): rows / tests", f"{len(WAVE_ROWS)} / {wave_tests()}"],
        pressure_summary(d),
        ["loom models / preemption bound", f"{len(d.all('loom'))} / "
                                           f"{fmt(max((r.get('preemptions', 0) for r in d.all('loom')), default=None))}"],
    ]))
    w("")

    soak_section(d, w)
    deadlock_section(d, w)
    faults_section(d, w)
    bad_input_section(d, w)
    fork_suite_section(d, w)
    pressure_section(d, w)
    bugs_section(d, w)
    w("### Found and fixed")
    w("")
    w(table(["test", "file", "what it was"], [[test_cell(t), f, why] for t, f, why in FIXED]))
    w("")
    w("### Found by code review, not by the suites, and fixed")
    w("")
    w("A later review of the unsafe and concurrent code (reading it, then writing a failing "
      "test for each suspicion) found these, and Miri one of them; the suites above had "
      "not: each needs a fault they do not inject (a panicking `Drop` in user state, a "
      "thread that cannot be spawned, a deferred release that panics, an fd number at the "
      "edge, a signal) or a checker of aliasing rules. Each test failed before its fix.")
    w("")
    w(table(["test", "file", "what it was"], [[test_cell(t), f, why] for t, f, why in REVIEW_FIXED]))
    w("")
    wave_section(w)
    loom_section(d, w)
    valgrind_section(d, w)

    w("## Other findings")
    w("")
    w("Smaller things the suites ran into, not pinned as bugs:")
    w("")
    for line in OTHER_FINDINGS:
        w(f"- {line}")
    w("")
    w("## Covered elsewhere")
    w("")
    w("The suites do not repeat what the per-crate tests already prove; these rows are covered there:")
    w("")
    w(table(["invariant / row", "tests"], ELSEWHERE))
    w("")
    w("## Left out")
    w("")
    for line in LEFT_OUT:
        w(f"- {line}")
    w("")
    return "\n".join(out)


# Bugs the suites found that are fixed now: their tests run (no longer ignored).
FIXED = [
    ("a_finalizer_blocked_in_the_event_hook_is_taken_over", "tests/reliability_deadlock.rs",
     "A finalizer blocked in the event hook (the default hook on a full stderr pipe) was never "
     "declared stuck: the outcome was reported after the watched window. Now the job is "
     "reported inside it, and the watchdog delivers its own Stuck event from a short-lived "
     "thread, so a blocked hook cannot stop the watchdog either."),
    ("emfile_retry_is_not_held_up_by_a_stuck_release", "tests/reliability_faults.rs",
     "With one release stuck anywhere, every fd creation at EMFILE waited the full 2 s before "
     "its retry: `flush_timeout` had been changed to wait for stuck releases. It answers "
     "`Stuck` at once again; waiting for stuck releases is the separate `flush_all_timeout`."),
    ("exec_failure_is_reported_whatever_the_target_number", "tests/reliability_bad_input.rs",
     "A kept fd placed on the number std's exec-error pipe got lost the exec error (spawn "
     "returned Ok and std's error bytes reached the user's fd): `inherit` now reserves every "
     "free target number with a close-on-exec placeholder until the `Command` is dropped."),
    ("flush_timeout_zero_with_nothing_pending", "tests/reliability_bad_input.rs",
     "`flush_timeout(Duration::ZERO)` reported a timeout with nothing pending: flush now "
     "returns at once when nothing is pending or stuck."),
    ("socket_writes_to_a_peer_that_left_fail_with_epipe_as_std_does", "guard-os/tests/sigpipe.rs",
     "(issue 14) `TcpStream`/`UnixStream` writes went through socket2's `send` without "
     "`MSG_NOSIGNAL`: with `SIGPIPE` at its default (a CLI, a C host), a write to a peer that "
     "left killed the process (signal 13, status 141) where std's returns `EPIPE`. Every "
     "socket send now uses `MSG_NOSIGNAL`; pipes keep `write(2)`'s `SIGPIPE`, as std's "
     "`PipeWriter` does (`pipe_writes_with_no_reader_raise_sigpipe_as_std_does`, std beside "
     "guard)."),
    (("the_os_cause_is_on_the_same_line_and_shown_once",
      "every_public_error_converts_with_the_question_mark"),
     "guard-os/tests/errors.rs",
     "(issue 14) `guard::os::Error`'s message left out the OS cause (\"opening `/dev/null` "
     "failed\"), which only `source()` had; now the message ends with it and `source()` does "
     "not repeat it (anyhow's `{:#}` shows it once; `io_error()` keeps the `io::Error`). "
     "`TryFromFdError` did not convert into `guard::Error` with `?`."),
    (("counted_plain_unique_field", "counted_plain_unique_nested (UI cases)"), "guard-macros/tests/ui/",
     "(issue 14) A counted type with a unique resource in a plain field (`log: WriteFile`, or "
     "in an `Option`, `Box`, `Vec`, array, tuple) compiled, and the finalizer dropped the "
     "resource unreleased. It is now a compile error at the unique type, with the fix."),
]

# Bugs a code review found (with a failing test each) that are fixed now.
REVIEW_FIXED = [
    ("a_panicking_deferred_release_ends_each_lease_once_and_the_others_still_run",
     "guard-core/tests/registry.rs",
     "A deferred release that panicked inside `for_each` unwound after the batch's leases had "
     "ended; the batch's `Lease`s then ended them a second time (a lease count underflow, an "
     "abort in debug builds, an early release of another holder's entry in release builds), "
     "and the other deferred releases of the batch were lost. Deferred releases now run "
     "under `catch_unwind`, each reported as `ReleasePanicked`, and the leases are forgotten "
     "before they are ended."),
    ("an_error_whose_drop_panics_does_not_take_the_finalizer_down",
     "guard-core/tests/finalizer_events.rs",
     "A counted release's error whose `Drop` panicked unwound the finalizer worker, with the "
     "rest of its batch published to the watchdog (which would later run those jobs again). "
     "The error is now dropped under `catch_unwind`, and the worker calls its reporting "
     "under a backstop `catch_unwind` as well."),
    ("a_hook_whose_state_panics_when_dropped_on_the_worker_loses_and_repeats_nothing",
     "guard-core/tests/finalizer_faults.rs",
     "`event::emit` dropped its clone of the hook outside `catch_unwind`: a hook replaced "
     "while it ran had its captured state dropped on the worker, and a panic there ran two "
     "jobs twice and left `flush` answering `Stuck` for good."),
    ("a_watchdog_that_cannot_be_spawned_never_leads_to_a_second_worker",
     "guard-core/tests/finalizer_faults.rs",
     "If the watchdog thread could not be spawned, the next `Counted::new` started a second "
     "worker; two workers shared one shift, one took the other's bookkeeping for a takeover "
     "and dropped the rest of its batch (releases lost). The worker is now started once."),
    ("a_replacement_worker_that_cannot_be_spawned_is_retried_without_repeating_a_release",
     "guard-core/tests/finalizer_faults.rs",
     "If the replacement for a stuck worker could not be spawned, the stolen batch ran on the "
     "watchdog thread, uncounted, and the retried worker reused sequence numbers from 0, so "
     "the stuck worker later ran on with jobs already run and freed. The batch and its "
     "sequence number now wait in the watchdog until a worker can be spawned."),
    ("a_source_just_below_rlimit_nofile_is_passed", "guard-os/tests/command.rs",
     "The child copied each moving fd above every number in play; with a source or target "
     "near `RLIMIT_NOFILE` that copy failed with `EINVAL` in the child, so a valid plan "
     "failed at spawn. Copies now go to the lowest free numbers that are no target "
     "(`a_target_just_below_rlimit_nofile_is_passed` too)."),
    ("targets_not_below_rlimit_nofile_are_typed_errors", "guard-os/tests/command.rs",
     "A target no fd can have (not below the soft `RLIMIT_NOFILE`) passed `inherit` and "
     "failed only at spawn, as a bare `EINVAL`: it is now `Error::InheritTargetTooHigh`, "
     "before anything is spawned."),
    ("keep_where_never_offers_an_ipc_mutex", "guard-os/tests/command.rs",
     "`keep_where` offered `IpcMutex` fds to its selector (which `Registered` excludes on "
     "purpose): a child given one shared the parent's `flock` and could unlock it while the "
     "parent's lock guard lived."),
    ("kept_fds_numbered_0_to_2_are_not_clobbered_by_std", "guard-os/tests/command.rs",
     "A kept fd numbered 0-2 in the parent (a daemon that closed stdin) was overwritten by "
     "std's own stdio setup in the child before guard's hook copied it: the child got "
     "`/dev/null` instead. Such fds are now copied to 3 or above in the parent."),
    ("a_file_that_is_not_a_lock_file_is_refused_and_left_unchanged",
     "guard-os/tests/ipc_mutex.rs",
     "`IpcMutex::open_path` took any file without the owner record's magic for a fresh lock "
     "file, and the first `lock()` wrote its 32-byte record over the file's first bytes; "
     "opening also followed symlinks (in world-writable `/dev/shm`). A non-empty file "
     "without a record is now refused, unchanged, and a symlink is not followed "
     "(`a_symlink_is_refused_not_followed`)."),
    ("a_panic_while_holding_the_lock_poisons_it_until_recovered", "guard-os/tests/ipc_mutex.rs",
     "A thread that panicked holding an `IpcLock` released it clean: the next owner was not "
     "told, unlike std's `Mutex`. The release during unwinding now poisons the record; the "
     "next owner gets `OwnerDied` until it recovers."),
    ("another_users_lock_file_is_refused_never_waited_on_or_believed", "guard-os/tests/ipc_mutex.rs",
     "Issue 14 item 4: a lock file another local user created first (in `/dev/shm` or a "
     "sticky directory) was opened without complaint: the squatter could hold the lock (the "
     "victim waited forever) or forge the owner record. Now refused with "
     "`Error::UntrustedLockFile` naming its uid and mode, for root and for a third user."),
    ("named_mutexes_live_in_a_private_runtime_dir_when_there_is_one", "guard-os/tests/ipc_mutex.rs",
     "Named mutexes always lived in world-writable `/dev/shm`; now in `$XDG_RUNTIME_DIR` when "
     "it is the caller's 0700 directory."),
    ("relocking_from_the_holding_thread_is_an_error_not_a_hang", "guard-os/tests/ipc_mutex.rs",
     "A thread locking an `IpcMutex` it held waited for itself forever; now `EDEADLK`."),
    ("lock_errors_convert_with_question_mark", "guard-os/tests/ipc_mutex.rs",
     "`LockError<'a>` borrowed the mutex: `?` into `guard::Error` or `Box<dyn Error + Send + "
     "Sync>` did not compile."),
    ("a_forgotten_lock_does_not_crash_the_thread_later", "guard-os/tests/ipc_mutex.rs",
     "Guards the pthread design: a forgotten lock's page stays mapped while its thread's "
     "robust list points into it."),
    ("field_empty_parens (UI case)", "guard-macros/tests/ui/field_empty_parens.rs",
     "`#[resource()]` (empty parentheses) on a field compiled as a plain field: the field "
     "was dropped, never released, and no error said so. It is now a compile error at the "
     "`()`."),
    ("a_number_whose_close_a_lease_defers_is_refused", "guard-os/tests/listen_fds.rs",
     "`listen_fds()` checked for registered numbers with a pass that skips entries being "
     "closed: a number whose close a lease had deferred looked free and was claimed, and "
     "the deferred close later closed it under its new owner (R3). It now refuses every "
     "number the registry has not released (`Registry::unreleased_values`)."),
    ("listen_pidfdid_is_removed_too", "guard-os/tests/listen_fds.rs",
     "`LISTEN_PIDFDID`, which newer systemd sets beside `LISTEN_PID`, survived "
     "`listen_fds()` and `inherit`, so a child could be handed a stale one."),
    ("accept_is_retried_after_a_signal_without_sa_restart", "guard-os/tests/types.rs",
     "`accept` (and `connect`) went through socket2, which does not retry `EINTR`: a signal "
     "handler without `SA_RESTART` ended a blocking accept with an error, where std retries."),
    ("a_handle_dropped_by_a_thread_local_destructor_is_released (under Miri)",
     "guard-core/tests/counted.rs, `.ci/miri`",
     "Miri (Stacked Borrows): the queue rebuilt each job pointer from a `&Node` reference, "
     "whose provenance covers only the node, then read the whole job allocation through "
     "it. The chain's raw pointers are kept now."),
    ("untracked_leaves_out_pending_closes_and_reserved_placeholders", "guard-os/tests/registry.rs",
     "`untracked()` listed guard's own fds as foreign: a close a `for_each` lease defers "
     "(still open, no longer in the live registry) and the placeholders that hold a live "
     "`Command`'s reserved target numbers."),
    ("a_replacement_worker_that_cannot_be_spawned_is_retried_without_repeating_a_release",
     "guard-core/tests/finalizer_faults.rs",
     "`FinalizerUnavailable` was emitted on every retry: 62 events (each a stderr line with "
     "the default hook) for one outage of 5 s. Now once per outage."),
    ("an_unleased_fd_converts_in_place_with_no_fd_to_spare", "guard-os/tests/types.rs",
     "`TcpListener::try_from(fd)` (and `UnixListener`) always made a duplicate first, so it "
     "failed at EMFILE although an unleased fd keeps its number. The registry now replaces "
     "an unleased entry's type in place (`Registry::replace_unleased`); only a leased fd "
     "needs the duplicate."),
]

# This wave's issues: each row a test (or tests), its file, and what it found before the fix
# (every test failed on the code before its fix).
WAVE = [
    (12, "the finalizer over a process's whole life (F1, F3, N3, N4)", [
        ("a_100k_link_chain_dropped_after_finish_is_released_without_recursion",
         "guard-core/tests/after_finish.rs",
         "A 100,000-link chain dropped after `finish()` was released recursively: \"thread "
         "'watched' has overflowed its stack\", SIGABRT."),
        ("a_chain_still_queued_when_the_drain_deadline_passes_is_released_later",
         "guard-core/tests/after_finish.rs",
         "A chain still queued at the drain deadline overflowed the finalizer thread's stack "
         "(SIGABRT)."),
        ("a_thread_holding_the_mutex_a_release_takes_drops_its_last_handle_after_finish",
         "guard-core/tests/after_finish.rs",
         "Deadlocked (the watchdog fired after 30 s); now the release completes."),
        ("exit_chain (test binary, its own `main`)", "guard-core/tests/exit_chain.rs",
         "A 100,000-link chain released at exit killed the child with SIGSEGV."),
        ("a_storm_of_stuck_releases_stays_under_the_worker_cap_and_completes",
         "guard-core/tests/finalizer_storm.rs",
         "1,386 threads during a storm of stuck releases (one replacement worker each); the "
         "stuck workers are now capped (4 in the test)."),
        ("a_producer_that_outruns_a_1ms_release_is_held_to_the_bound",
         "guard-core/tests/finalizer_bound.rs",
         "2,985 releases pending for a bound of 256, and +47.8 MiB RSS."),
        ("a_producer_holding_the_lock_the_pending_releases_need_completes",
         "guard-core/tests/finalizer_bound.rs",
         "A bound that waits forever hangs here (watchdog): the releases need the lock the "
         "producer holds. The bound now waits only while the finalizer progresses; the "
         "producer completes."),
        ("pooled_memory_is_bounded_after_32_threads_bursts_and_given_back_at_exit",
         "guard-core/tests/counted_pool.rs",
         "64 MiB of pooled nodes held by 32 idle threads; now about 3 MiB, given back when "
         "a thread exits."),
        ("a_full_list_moves_to_another_thread_whole",
         "guard-core/src/counted/pool.rs (unit)",
         "Freed nodes went back to the shared pool one by one (a CAS on the total and one "
         "on the stack per free), and another thread reused 1 of 64 freed nodes; a full "
         "thread list now moves whole, as one batch, and all 64 are reused "
         "(`counted/new_and_last_drop` 123 -> 53.5 ns side by side at load 2-3)."),
        ("a_thousand_forks_while_threads_churn_counted_values_and_passes",
         "tests/reliability_fork.rs",
         "Forked children's drops were never released and their flush blocked (the children "
         "hung); now 1,000 of 1,000 pass at full size."),
        ("a_pre_fork_server_with_four_workers_at_nofile_64", "tests/reliability_fork.rs",
         "The workers hung; now 0 failures."),
        ("fork_without_exec_with_a_running_finalizer", "tests/reliability_faults.rs",
         "Its figures flipped: a counted value dropped in a forked child is now released "
         "there (40 of 40, was 0) and the child's flush returns `Ok` (was a timeout)."),
        ("lanes_push_drain_sleep_wake_with_two_producers_and_exit", "guard-core/tests/loom.rs",
         "New (one queue per producing thread, a last drop with no locked instruction): while "
         "it was built, loom found a livelock (the worker spun on a node whose push had "
         "published `head` but not `pushed`); with the idle check loosened it reports the "
         "lost wake as a deadlock."),
    ]),
    (12, "counted fds released on the dropping thread when the finalizer is idle (N1)", [
        ("an_isolated_drop_closes_the_fd_before_drop_returns", "tests/inline_release.rs",
         "Before: the fd was still open when `drop` returned (the finalizer, woken for it, "
         "closed it later), and each isolated drop cost 30-84 us of CPU (std: 16-57)."),
        ("a_drop_after_the_finalizer_slept_again_closes_inline", "tests/inline_release.rs",
         "Before: never on the dropping thread (the wait for it hung until the watchdog)."),
        (["a_drop_inside_a_visit_of_its_own_fd_closes_after_the_visit",
          "in_a_forked_child_an_isolated_drop_closes_inline"], "tests/inline_release.rs",
         "Before: the fd stayed open after the visit / the child's drop never ran inline "
         "(exit 2); now the registry's deferral and the child's own lanes hold inline too."),
        (["a_drop_behind_a_pending_release_of_its_thread_keeps_its_order",
          "a_type_that_keeps_the_default_is_never_released_inline"],
         "tests/inline_release.rs",
         "A version releasing every type inline, ignoring the lane's care, deadlocked on the "
         "test's own lock / released a default type on the dropping thread."),
        (["a_failing_inline_close_is_reported_by_the_finalizer_not_the_dropping_thread",
          "a_thread_holding_the_hooks_lock_drops_a_failing_counted_fd_without_deadlock"],
         "tests/inline_release.rs",
         "The first merged version called the event hook (user code) on the dropping thread: "
         "a thread holding the lock its hook takes hung (watchdog, 60 s). Now a report job "
         "carries the failure to the finalizer."),
        (["a_lingering_socket_last_drop_returns_at_once_and_the_finalizer_closes_it",
          "a_read_only_file_on_a_slow_fuse_fs_is_closed_by_the_finalizer"],
         "tests/inline_release.rs",
         "Found by review: the first version closed every counted fd inline, and a last drop "
         "blocked >10 s in `close(2)` (a socket under `SO_LINGER`; a read-only file on FUSE "
         "waiting for the daemon's FLUSH). Now only an fd whose close cannot wait, decided "
         "at registration."),
        ("a_lock_free_release_that_fails_or_panics_is_reported_by_the_finalizer",
         "guard-core/tests/counted.rs",
         "Reported on the dropping thread (`<unnamed>`) in that version; also runs the "
         "report job's allocation under Miri."),
        ("a_drained_lane_has_run_every_job_pushed (loom)", "guard-core/tests/loom.rs",
         "Fails when the drained check reads the care bit without the consumer's lock (a "
         "drop overtakes its own thread's queued job; 3 preemptions)."),
    ]),
    (13, "reports, the census and derived releases", [
        ("a_new_site_does_not_wait_for_a_census", "guard-core/src/census/index.rs (unit test)",
         "Creating a resource at a new site blocked for the whole of a census report."),
        ("a_forgotten_lease_shows_as_pinned_with_its_site", "guard-core/tests/report_readable.rs",
         "A pinned entry (its lease forgotten) was missing from `len`, the census and the "
         "report."),
        ("a_long_type_name_is_cut_in_its_row_and_given_once", "guard-core/tests/report_readable.rs",
         "One long type name padded every row of its section, to 21 KB."),
        ("a_derived_failure_names_its_resource_once", "guard-core/tests/report_readable.rs",
         "A derived resource's failure message named the resource twice."),
        ("every_part_shows_once_in_a_chain", "guard-core/tests/report_readable.rs",
         "`source()` repeated the first part of a release's errors and hid the rest."),
        ("a_blocked_hook_is_blamed_not_the_release", "guard-core/tests/hook_stuck.rs",
         "An event hook that blocked after a release finished was reported as a stuck "
         "release."),
        ("the_panicking_field_is_named", "tests/derive_panic_field.rs",
         "A derived release's panic did not name the field whose release panicked."),
        (("option_box_vec_and_array_fields_release_everything_last_first",
          "none_releases_nothing",
          "every_element_error_is_returned_with_its_field_and_index",
          "a_panicking_element_does_not_skip_the_others_and_resumes_after_them",
          "nested_containers_name_each_level_of_the_index",
          "a_generic_element_type_is_bounded_as_a_resource",
          "a_counted_type_releases_its_containers_on_the_finalizer",
          "scope_errors_carry_element_errors"),
         "guard-macros/tests/containers.rs",
         "`#[resource]` on an `Option`, `Box`, `Vec` or array field did not compile, so such "
         "fields were left unmarked and their releases never ran."),
        ("a_derived_value_dropped_outside_any_scope_is_reported", "guard-macros/tests/unreleased.rs",
         "A derived unique value dropped outside any scope was not reported: 0 of 5 drops (a "
         "struct without resource fields, a mixed struct, two enums, a packed struct)."),
        ("a_derived_value_taken_back_with_into_inner_and_dropped_is_reported",
         "guard-macros/tests/unreleased.rs",
         "A derived value taken back out of its guard with `into_inner` and dropped was not "
         "reported."),
        ("a_released_derived_value_is_not_reported", "guard-macros/tests/unreleased.rs",
         "A check against false reports (it passed before the fix too)."),
        ("user_drop_counted (UI case)", "guard-macros/tests/ui/user_drop_counted.rs",
         "New check, not a bug: a counted derived type with its own `impl Drop` keeps its "
         "compile error naming the fix (a release hook), now that the derive writes a unique "
         "type's `Drop` (to report it) and the unique case `user_drop` is E0119."),
        ("thread_counts_are_summed_and_reused_after_their_thread_exits",
         "guard-core/src/census/index.rs (unit test)",
         "New check, not a bug: a scope's resources are counted per thread (a load and a "
         "store, no atomic read-modify-write); the census sums the threads' counts, and a "
         "thread's counts are reused after it exits."),
        ("a_derived_value_names_the_creation_site_of_its_first_part (and 3 more)",
         "guard-macros/tests/created.rs",
         "A derived value dropped unreleased was reported \"created at\" its `#[derive]` "
         "line; now the site of its first part that knows one (`Option`, `Vec`, nested "
         "types, generic parts, counted parts), naming the field."),
        ("a_counted_handle_names_where_it_was_made_when_its_value_knows_nothing",
         "guard-macros/tests/created.rs",
         "A `Counted` part gave no site (the derive line again); now `Counted::new`'s."),
        ("a_value_whose_parts_know_nothing_says_where_its_type_is_defined",
         "guard-macros/tests/created.rs",
         "Claimed \"created at\" the derive line; now \"type defined at\"."),
        ("with_rust_backtrace_the_report_says_where_the_value_was_dropped",
         "guard-macros/tests/created.rs",
         "No drop site at all; with `RUST_BACKTRACE` set the report now carries one."),
        ("the_site_field_names_the_constructors_caller", "guard-macros/tests/site_field.rs",
         "New: `#[resource(site)]` (did not exist), with UI cases `site_wrong_type` and "
         "`site_misplaced`."),
        ("resources_of_a_thread_local_destructor_reuse_their_counts",
         "guard-core/src/census/index.rs (unit)",
         "A thread-local destructor entering resources after its thread gave its counts "
         "back took a new count each: 320 counts for one origin (now at most 3)."),
    ]),
    (14, "fd pressure and real closes (F5, R3)", [
        ("counted_fds_pending_close_never_cause_emfile", "guard-os/tests/pressure_figures.rs",
         "guard's `EMFILE` failures at `RLIMIT_NOFILE` 64 with 2/4/8 threads were "
         "412/2,008/12,501 (instant releases), and 362 at 1024 with 8 threads; now 0 "
         "everywhere, std's 0 beside it."),
        (("a_closed_pipe_writer_kept_for_a_child_is_closed_while_the_command_lives",
          "a_dropped_tcp_stream_kept_for_a_child_is_closed_while_the_command_lives",
          "a_closed_write_file_kept_for_a_child_returns_its_close_to_the_caller"),
         "guard-os/tests/real_close.rs",
         "After `close()` or a drop returned `Ok`, the fd still pointed to the pipe, socket or "
         "file while a `Command` that kept it lived."),
        ("a_pass_delays_only_the_close_of_the_fd_under_visit", "guard-os/tests/pass_close.rs",
         "A closed listener's fd stayed open (its port bound) while another thread's pass "
         "visited a different fd."),
        (("a_pass_delays_only_the_removal_of_the_entry_under_visit",
          "a_removal_on_another_thread_does_not_wait_for_the_pass"),
         "guard-core/tests/registry.rs",
         "The removal came back `Deferred` although the pass was visiting another entry."),
        ("closes_racing_passes_never_show_a_closed_fd_and_all_happen",
         "guard-os/tests/pass_stress.rs",
         "New (the pass's visit with no CAS, a membarrier on the remover): fails when the "
         "remover takes over the lease under visit (a closed fd visited, 3 of 3 runs) and "
         "hangs (watchdog) when a deferred lease is never ended."),
        ("a_removal_that_meets_the_visit_is_released_after_it (and 2 more)",
         "guard-core/tests/loom.rs",
         "New models of the pass: with `barrier::light()` made a compiler fence under loom, "
         "four models find a release while the callback visits the value."),
    ]),
    (15, "spawn without fork, the child as a resource (R4, R5)", [
        ("a_missing_program_is_an_error_every_time_and_writes_nothing", "guard-os/tests/spawn.rs",
         "Through `Command` + `inherit` (std's fork path), a missing program spawned 1,000 "
         "times under fd churn gave 85 `Ok` spawns and 240 bytes of std's exec error written "
         "into a passed pipe; the new `Spawn` path gives 0 and 0. On the new path it then "
         "found 296 of 1,000 failed spawns left zombies (the failed child was reaped with "
         "`WNOHANG` after `CLONE_VFORK`); now none."),
        (("child_gets_exactly_its_keep_list_at_the_numbers_asked",
          "swapped_sources_and_targets_land_where_asked",
          "spawns_under_churn_inherit_nothing_unexpected"),
         "guard-os/tests/spawn.rs",
         "New checks, not a bug: R5 seen from outside, through `/proc/<pid>/fd`, on the new "
         "no-fork path (exactly 0-2 and the keep-list, also under churn)."),
        ("counted_children_are_reaped_by_a_flush", "guard-os/tests/child.rs",
         "`Counted<Child>` did not exist. Checked against a release that does not wait for "
         "its child: 53 of the 1,000 children were left zombies after the flush; now 0."),
        (("a_scope_returns_its_childs_exit_code",
          "a_child_killed_by_a_signal_is_a_release_error_naming_it"),
         "guard-os/tests/child.rs",
         "A child had no release, so a scope could not return its failure: now the exit code "
         "(3) comes back from the scope, and a signal is a release error naming it."),
        ("a_nul_in_an_argument_or_the_environment_is_a_typed_error", "guard-os/tests/child.rs",
         "A NUL in an argument reached the program as std's `<string-with-nul>` placeholder; "
         "now a typed error before anything is spawned."),
        ("spawn_sets_listen_pid_without_a_shell", "guard-os/tests/listen_fds.rs",
         "Setting `LISTEN_PID` to the child's own pid needed `/bin/sh`; the spawned child now "
         "writes it itself."),
        ("pipeline_returns_both_statuses_from_the_scope_and_names_the_failing_consumer",
         "tests/examples.rs",
         "New example, not a bug: `printf | sort` and `printf | grep zzz` as two guard "
         "children joined by a guard pipe; the scope returns both statuses, names grep's exit "
         "1, and leaves no zombie."),
        ("a_target_that_changes_hands_before_spawn_fails_the_spawn",
         "guard-os/tests/command.rs",
         "A kept fd's number freed between `inherit` and `spawn` got std's exec-error "
         "channel: a failed exec came back as a spawned `Child` and std's errno went into "
         "the kept fd (round 0); now `EBUSY` before any fd changes."),
        ("keep_where_never_offers_a_childs_pidfd", "guard-os/tests/command.rs",
         "`keep_where` offered a `Child`'s pidfd, and `|_| true` passed it to the next "
         "child."),
        ("the_pidfd_open_fallback_spawns_waits_and_kills", "guard-os/tests/spawn.rs",
         "New: the `pidfd_open` fallback had no test (a hidden switch forces it); breaking "
         "`pidfd_open(pid)` fails it."),
        ("a_failed_wait_with_output_returns_its_error_and_reports_no_drop",
         "guard-os/tests/child.rs",
         "A failed `wait_with_output` (its stdout closed behind it) reported the child it "
         "had consumed as dropped unreleased, and the drop bomb panicked."),
        ("a_target_taken_by_another_spawns_channel_is_overwritten",
         "guard-os/tests/command.rs",
         "CI (stop 20): another thread's spawn channel (std's `SOCK_SEQPACKET` pair, both "
         "ends open) at an unreserved target was refused with `EBUSY` as if it were the "
         "spawn's own; now the child asks `sock_diag` for the peer and overwrites it."),
        ("a_seqpacket_socket_is_std_channel_only_when_its_peer_is_alive_elsewhere",
         "guard-os/src/sys/child.rs (unit)",
         "New: the own-channel test (peer alive, not shut down, open nowhere in the child) "
         "on real socket pairs, the peer held by another process."),
    ]),
    (16, "an async mutex that cannot futurelock by hand-off, and its detector", [
        ("rfd609_with_tokio_mutex_hangs", "guard-tokio/tests/lock_futurelock.rs",
         "The peer beside guard: RFD 609's program with `tokio::sync::Mutex` (a fair mutex "
         "that hands the lock to a waiter nobody polls) hangs; the test asserts the hang "
         "under a timeout."),
        (("rfd609_select_by_reference_completes", "join_of_two_waiters_completes",
          "a_waiter_cancelled_mid_wait_releases_nothing_and_loses_no_wake",
          "contended_on_a_multi_thread_runtime_loses_no_increment",
          "the_guard_is_a_unique_resource_released_at_scope_end"),
         "guard-tokio/tests/lock_futurelock.rs",
         "New, under a watchdog: the same program and its variants complete with guard's "
         "lock (guard had no async lock)."),
        (("nested_selects_by_reference_complete",
          "a_waiter_dropped_after_being_woken_passes_the_wake_on"),
         "guard-tokio/tests/lock_futurelock.rs",
         "Both hung without the pass-on: a waiter woken and then dropped unpolled kept the "
         "wake, and nobody else was woken."),
        (("a_release_wakes_one_waiter_and_grants_it_nothing",
          "a_woken_waiter_dropped_unpolled_passes_its_wake_on",
          "a_waiter_dropped_unwoken_wakes_nobody",
          "a_polled_waiter_wins_within_four_lost_wakes",
          "a_reservation_not_taken_within_its_grace_lapses",
          "a_reserved_waiter_dropped_unpolled_passes_the_release_on",
          "under_a_barger_that_always_polls_first_every_waiter_wins_within_a_bound"),
         "guard-tokio/tests/lock_states.rs",
         "The hand-over states driven by hand (each poll explicit, wakes counted). 4 of the 7 "
         "fail with the reservation off, among them the last two named here: a barger that "
         "always polls first took every release."),
        (("a_guard_held_across_select_is_named_with_both_sites_once",
          "a_waiter_nobody_woke_takes_a_lock_left_free_at_the_detectors_tick"),
         "guard-tokio/tests/lock_detector.rs",
         "Both hang without the detector's thread: a guard held across `select!` is never "
         "named (now once, with the lock's and the holder's sites), and a waiter whose wake "
         "went to a future its task no longer polls is never rescued."),
        (("a_release_racing_a_registration_loses_no_wake",
          "two_waiters_both_get_the_lock_once",
          "a_waiter_leaving_while_the_lock_is_released_passes_the_wake_on"),
         "guard-tokio/tests/lock_loom.rs (loom, `.ci/run`)",
         "Loom models of the wake protocol; they fail with the WAITING bit skipped (a lost "
         "wake) or the pass-on off (a lost pass-on)."),
        ("futurelock_tokio_mutex_hangs_guard_mutex_completes_held_guard_is_named",
         "tests/examples.rs",
         "New example, not a bug: `futurelock` hangs with tokio's mutex (under a timeout), "
         "completes with guard's, and the detector names a guard held across `select!`."),
        ("a_holder_that_takes_the_lock_back_at_once_wakes_one_waiter_not_each_in_turn",
         "guard-tokio/tests/lock_states.rs",
         "Each release woke the next waiter in turn ([1,1,1] wakes, now [1,0,0]): 45% of "
         "contended time was the queue's mutex."),
        ("a_woken_waiter_that_does_not_come_within_the_grace_no_longer_holds_the_others_up",
         "guard-tokio/tests/lock_states.rs",
         "New rule (one wake out at a time): an unpolled woken waiter (RFD 609) gives its "
         "wake on after 500 us."),
        ("the_detectors_thread_exits_once_nothing_waits_and_comes_back_for_the_next_wait",
         "guard-tokio/tests/lock_watch.rs",
         "`guard-lock-watch` lived forever after the first contended wait (so "
         "`listen_fds()` refused for the rest of the process)."),
        ("rfd609_on_an_ipc_mutex_completes (and the nested selects and join variant)",
         "guard-tokio/tests/ipc_futurelock.rs",
         "Hung (watchdog): the async `IpcMutex`'s turns were on tokio's FIFO mutex, which "
         "handed the turn to the future `select!` no longer polled; now on guard-tokio's "
         "`Mutex` (no hand-off)."),
        ("a_waiter_never_polled_again_does_not_keep_the_os_lock_from_other_processes",
         "guard-tokio/tests/ipc_futurelock.rs",
         "Hung: the OS lock was passed on to the unpolled future and held while it lived; "
         "a kept lock nobody claims within 50 us is now unlocked."),
        ("a_turn_held_too_long_is_named_by_the_detector", "guard-tokio/tests/ipc_futurelock.rs",
         "No report existed for `IpcMutex` waits; now `Event::LockWait` names both sites."),
        ("each_lock_guard_names_the_call_that_acquired_it", "guard-tokio/tests/created.rs",
         "`created()` was `None` for `IpcLock`, `MutexGuard` and `OwnedMutexGuard`."),
        ("the_list_stays_bounded_by_the_locks_still_waited_on",
         "guard-tokio/src/lock/watch.rs (unit)",
         "The detector's list kept one entry per short-lived contended lock until it fell "
         "due, scanned on every notify; now a heap, swept when it doubles."),
        (["a_reservation_not_taken_within_its_grace_lapses",
          "a_polled_waiter_wins_within_four_lost_wakes"],
         "guard-tokio/tests/lock_states.rs",
         "Timed by the real clock: a thread descheduled for over 500 us between two steps "
         "would fail them (not seen in CI yet), and Miri had to skip three; the grace is now "
         "per lock (`set_reservation_grace`) and the tests set it."),
        ("an_answer_nobody_takes_is_unlocked_quietly", "guard-tokio/tests/ipc_holder.rs",
         "A lock future cancelled after the holder's answer reached it had its acquisition "
         "reported as an unreleased `IpcLock` (with the drop bomb on, the holder thread "
         "would panic and the handle fail for good)."),
    ]),
    (16, "async scopes and their cancellation", [
        (("outside_any_runtime_the_dropping_thread_runs_every_release_before_the_drop_returns",
          "on_a_current_thread_runtime_a_cleanup_task_runs_every_release_once",
          "on_a_multi_thread_runtime_a_cleanup_task_runs_every_release_once",
          "a_runtime_shut_down_before_its_cleanup_task_ran_still_runs_every_release_once",
          "an_aborted_task_s_scope_is_released_by_a_cleanup_task",
          "a_runtime_shut_down_under_a_waiting_scope_runs_its_releases_once_before_it_is_gone",
          "a_scope_cut_short_by_a_timeout_releases_everything_once"),
         "guard-tokio/tests/scope_cancel.rs",
         "A scope dropped before its end dropped the releases not yet run instead of handing "
         "them on (\"after 1 polls: a released 0 times\"); now each runs once, on a cleanup "
         "task or on the dropping thread."),
        (("a_scope_dropped_at_any_await_point_outside_a_runtime_says_every_goodbye_before_the_drop_returns",
          "a_scope_dropped_at_any_await_point_on_a_multi_thread_runtime_says_every_goodbye_once"),
         "guard-tokio/tests/scope_sockets.rs",
         "With the releases dropped, a peer got \"hello tcp\\n\" and no goodbye; now each "
         "peer gets its goodbye once, then EOF, whatever the await point."),
        ("a_loop_of_enter_and_drop_holds_one_resource_at_a_time", "guard-tokio/tests/scope.rs",
         "A draft kept all 1,000 dropped guards' resources until the scope's end; now one at "
         "a time."),
        (("guards_read_and_write_across_awaits_and_leave_in_any_order",
          "a_body_dropped_mid_way_drops_its_values_before_the_scope_releases"),
         "guard-tokio/tests/scope_slots.rs (Miri, `.ci/miri`)",
         "New checks, not a bug: the unsafe slots behind guards under Stacked Borrows."),
    ]),
    (16, "interop with std and tokio", [
        (("counted_wrappers_round_trip_through_std_and_owned_fd",
          "unique_wrappers_hand_over_without_their_release"),
         "guard-os/tests/interop.rs",
         "No conversion existed between guard's wrappers and `OwnedFd` or std's types; now "
         "they round-trip, registering on the way in."),
        ("a_missing_pid_is_accepted_only_when_asked", "guard-os/tests/listen_fds.rs",
         "Under the old rule a missing `LISTEN_PID` took no fd (0 where 1 was passed); now it "
         "is accepted when the caller opts in, as listenfd and systemfd do."),
        (("flush_does_not_block_the_worker", "waiting_for_a_child_does_not_block_the_worker"),
         "guard-tokio/tests/interop.rs",
         "With the blocking calls on the runtime's only worker: \"did not finish within "
         "5s\"."),
        (("async_keeps_the_fds_registered_while_tokio_serves_on_them",
          "into_tokio_and_back_moves_the_fd_out_of_the_registry_and_in_again"),
         "guard-tokio/tests/interop.rs",
         "New checks of the conversions, with the registry and `/proc/self/fd` compared."),
        ("a_task_that_panics_holding_the_lock_poisons_it", "guard-tokio/tests/ipc_mutex.rs",
         "With the poison off: expected `OwnerDied`, got `Ok`."),
        (("a_lock_held_across_an_await_on_a_current_thread_runtime",
          "a_lock_held_across_an_await_on_a_multi_thread_runtime",
          "tasks_exclude_each_other_on_a_multi_thread_runtime",
          "a_cancelled_lock_leaves_the_mutex_usable",
          "two_processes_exclude_each_other",
          "a_holders_death_is_reported_to_the_async_owner"),
         "guard-tokio/tests/ipc_mutex.rs",
         "guard-os's blocking lock, held across an await by one task while another of the "
         "same thread locked it, returned `EDEADLK` at once; the async lock waits instead."),
        ("release_after_tokios_shutdown_and_the_peers_close_is_not_an_error",
         "guard-tokio/tests/interop.rs",
         "A guard stream shut down through tokio (`AsyncWriteExt::shutdown` on `Async`) "
         "then closed after the peer's close: the release returned `Error::Shutdown` "
         "(`ENOTCONN`). The stream now remembers its shutdown and only closes."),
        ("a_passed_lock_is_unlocked_once_no_task_wants_it", "guard-tokio/tests/ipc_mutex.rs",
         "New check of the pass-on (the OS lock handed from task to task without the "
         "holder thread): with the final unlock off, another thread never got the lock."),
        (("owned_guards_unlock_at_the_scope_end_newest_first_and_a_waiter_gets_them",
          "a_cancelled_scope_unlocks_the_guard_it_held_and_a_waiter_gets_it",
          "a_mutex_guard_enters_guard_cores_sync_scope_and_is_unlocked_at_its_end"),
         "guard-tokio/tests/lock_scope.rs",
         "Coverage, nothing found: the async mutex's guards in async and sync scopes, and "
         "a cancelled scope holding one unlocks it."),
        ("tokio_server_hands_its_listener_to_its_next_image_and_refuses_no_client",
         "tests/examples.rs",
         "New example, not a bug: a multi-thread tokio server on guard's sockets hands its "
         "listener to its next image by re-exec; 0 clients refused over 3 generations."),
    ]),
    (17, "guard-os on macOS and FreeBSD", [
        (("swapped_sources_are_copied_off_every_target",
          "in_place_sources_are_copied_only_when_asked",
          "closes_every_number_but_the_targets"),
         "guard-os/src/sys/spawned.rs (unit tests, run on Linux)",
         "The posix_spawn plan of macOS and FreeBSD: with `is_target(source)` forced false, "
         "a kept fd whose number is another's target was overwritten by an earlier "
         "`dup2`."),
        ("handles_to_one_file_share_turns_and_threads_take_them",
         "guard-os/src/ipc_mutex/flock.rs (unit test, runs on Linux)",
         "Without the in-process turns, the same thread locking again succeeded silently "
         "(`flock` locks per open file description) instead of `EDEADLK`."),
        ("another_open_file_description_excludes_and_its_close_frees",
         "guard-os/src/ipc_mutex/flock.rs (unit test, runs on Linux)",
         "Without the owner-record check, a holder that died went unreported."),
        (".ci/targets (script)", ".ci/targets",
         "guard-os was empty on macOS and FreeBSD; with the gate removed it failed to build "
         "there (`SYS_close_range`, `RawDir`, `pipe_with`, socket2's `domain`/`is_listener`, "
         "the robust mutex). Now clippy `-D warnings` passes for both targets."),
    ]),
]
WAVE_ROWS = [row for _, _, rows in WAVE for row in rows]
WAVE_SPAN = f"{min(i for i, _, _ in WAVE)}-{max(i for i, _, _ in WAVE)}"


def wave_tests():
    return sum(1 if isinstance(t, str) else len(t) for t, _, _ in WAVE_ROWS)


def wave_section(w):
    w("### Found in this wave, tests that failed before their fix")
    w("")
    w(f"Issues {WAVE_SPAN}. Each test below failed on the code before its fix, with what "
      "the last column says (where a row says otherwise, it compares two paths or checks a "
      "new one); it passes now and runs with the per-crate tests (the loom and Miri rows "
      "in `.ci/run`'s steps for them), the two fork tests in the [fork](#fork) suite, the "
      "fd-pressure test also in [fd pressure](#fd-pressure).")
    w("")
    for issue, title, rows in WAVE:
        w(f"**Issue {issue}: {title}.**")
        w("")
        w(table(["test", "file", "what it found before the fix"],
                [[test_cell(t), f, why] for t, f, why in rows]))
        w("")


OTHER_FINDINGS = [
    "`ReleaseErrors::parts()` handed out errors without `'static`, so they could not be "
    "downcast; fixed (the faults suite still reads the OS error through `source()`).",
    "`Inherit::keep_as_stdio(fd, 3)` was refused with advice to use `keep_as_stdio`, and "
    "`keep_foreign_at` errors named guard's internal duplicate instead of the caller's fd; "
    "both fixed (guard-os/tests/command.rs).",
    "`Fd::adopt` cannot refuse a closed fd (it takes an `OwnedFd`, open by contract); a "
    "caller who broke that contract with `unsafe` gets `InheritClosed` or `Close(EBADF)` at "
    "the first use instead (bad-input table).",
    "Spawning at EMFILE fails with std's own `EMFILE` (its exec-error pipe): guard cannot "
    "drain and retry there, since the fd is created inside `Command::spawn`.",
    "The existing loom model `lease_defers_removal_until_the_callback_ends` does not catch "
    "the `removal_ignores_leases` mutant (its `Removed` branch does not check that no "
    "callback is looking); the new models do. It is left as it was (existing models are "
    "not changed here).",
    "Three tests were flaky under CI's parallel runs: a test in one binary closed a listener "
    "while another test's `fds().for_each` pass leased it (the close, and the port, wait "
    "for the end of the pass's batch, as designed: documented now, checked in a child); "
    "two `command.rs` tests chose fd targets that other tests' fds could land on "
    "(`InheritCollision`, 4 in 300 runs); a `finalizer_events` test under valgrind took "
    "over the 1 s stuck deadline printing a panic's backtrace. Each runs isolated or with "
    "a deadline of its own now.",
]

LEFT_OUT = [
    "Miri over guard-os: Miri cannot run `fork`, `exec` or most raw syscalls. It runs over "
    "guard-core's unsafe code (`.ci/miri`); the OS layer is proven by the suites with real "
    "fds and processes instead.",
    "\"spawn while another thread holds the registry lock\": the lock is private and never "
    "held across user code, so no test can hold it; the deadlock suite keeps a third thread "
    "taking it in a loop (`len`, `census`) while spawning from inside another thread's pass.",
    "A compile-fail test of double release: `release(self)`/`close(self)` take the value, so "
    "a second call is E0382 by construction; the root package has no trybuild "
    "dev-dependency, and the compile-fail doctests already in the crates (a guard escaping "
    "its scope, a leased fd escaping its callback, an acquisition outliving its handle) "
    "cover the lifetime side.",
    "fd-number reuse by foreign code between a close behind the registry's back and the "
    "registry's own close: nothing can prevent the registry from closing the reused number "
    "(that is the I/O-safety violation itself); the fault tests keep the number unused.",
]


def fault_totals(d):
    injected = survived = 0
    c = d.one("faults", "close_failing_behind_the_registrys_back")
    injected += c.get("faults_injected", 0)
    survived += c.get("faults_survived", 0)
    p = d.one("faults", "panics_and_errors_in_every_position")
    injected += p.get("faults_injected", 0)
    survived += p.get("faults_survived", 0)
    e = d.one("faults", "emfile_summary")
    if e:
        injected += 2 * e.get("creation_paths", 0) + 2
        survived += e.get("typed_errors", 0) + e.get("recovered_after_drain", 0) + 2
    k = d.one("faults", "a_killed_child_hangs_nothing_and_owner_death_is_reported")
    if k:
        injected += k.get("sigkills", 0)
        survived += k.get("sigkills", 0) - k.get("torn_state_hidden", 0)
    return injected, survived


def soak_section(d, w):
    r = d.one("soak", "soak_lifecycles_with_concurrent_passes_and_spawns")
    w("## soak")
    w("")
    w("Two threads run lifecycles of every kind of resource (counted and unique; files, "
      "pipes, UDP, Unix pairs and listeners, TCP over loopback, adopted fds, OS mutexes, "
      "derived resources made of real fds), while a third thread walks the fd registry "
      "(`fds().for_each`, checking on every visit that the fd is open with `fcntl(F_GETFD)`, "
      "close-on-exec, and still points at what its type says: a reused number would not, R1) "
      "and a fourth spawns children through `CommandExt::inherit` that must each have exactly "
      "stdio plus the two fds they were given (R5). At the end, after a flush: "
      "`/proc/self/fd` equals the baseline, the registry and the census are back to their "
      "baselines, no event was reported, and the finalizer's counters balance.")
    w("")
    if not r:
        w("_not run_")
        w("")
        return
    w(table(["figure", "value"], [
        ["lifecycles (threads × per thread)", f"{fmt(r['lifecycles'])} ({r['threads']} × {fmt(r['lifecycles_per_thread'])})"],
        ["fds created", fmt(r["fds_created"])],
        ["registry passes / fds visited (R1-checked)", f"{fmt(r['for_each_passes'])} / {fmt(r['fds_visited'])}"],
        ["R1 violations", fmt(r["r1_violations"])],
        ["children spawned (R5-checked)", fmt(r["spawns"])],
        ["fds leaked / lost vs. baseline", f"{fmt(r['fds_leaked'])} / {fmt(r['fds_lost'])}"],
        ["registry delta / live census entries left", f"{fmt(r['registry_delta'])} / {fmt(r['live_left'])}"],
        ["finalizer: enqueued = released + failed + panicked",
         f"{fmt(r['enqueued'])} = {fmt(r['released'])} + {fmt(r['failed'])} + {fmt(r['panicked'])}"],
        ["finalizer: pending at the end / high-water", f"{fmt(r['pending'])} / {fmt(r['high_water'])}"],
        ["fd-pressure retries (F5)", fmt(r["pressure_retries"])],
        ["events reported (failures, unreleased drops)", fmt(r["events"])],
        ["time (churn / total)", f"{fmt(r['churn_s'])} s / {fmt(r['total_s'])} s"],
    ]))
    w("")
    kinds = [(k[len("kind_"):], v) for k, v in r.items() if k.startswith("kind_")]
    w(table(["lifecycle kind", "count"], [[f"`{k}`", fmt(v)] for k, v in kinds]))
    w("")


DEADLOCK_TEXT = {
    "a_finalizer_locking_a_mutex_the_dropper_holds":
        "2 threads drop the last handle of a derived counted resource (a real fd) while "
        "holding the `parking_lot` mutex its release hook locks; the drop returns at once and "
        "the release runs on the finalizer (F1). Then `flush` while still holding it: the "
        "watchdog declares the release stuck, `flush` returns `Stuck` once the 100 fds queued "
        "behind it are closed (F3, F4)",
    "reentrant_callbacks_on_two_threads":
        "2 threads iterate at once; their callbacks close fds the other may be visiting, "
        "open, drop counted, close unique, run nested passes that panic, spawn, and panic "
        "out of the pass (R1, R2)",
    "release_hooks_that_take_locks":
        "derived release hooks that lock a shared mutex and use the registry (a nested pass, "
        "an open, a close), run at a scope's end inside a `for_each` callback (unique) and on "
        "the finalizer while the dropper holds the mutex (counted)",
    "spawn_while_another_thread_is_mid_for_each":
        "one thread holds a lease on an fd inside its pass while another spawns a child "
        "keeping that fd (and a pipe, and the same fd again through `keep_where`, itself a "
        "pass), with a third thread taking the registry lock in a loop",
    "flush_from_a_finalizer_is_refused":
        "a release hook calls `flush` and `flush_timeout(60 s)` on the finalizer: both refuse "
        "with `InFinalizer` (F4); the error reaches the event hook naming the type and hook; "
        "the fds are closed anyway",
    "a_finalizer_that_never_returns":
        "in a child with a 100 ms stuck deadline, a release loops forever in `park`, with "
        "2 × 1,000 counted fds dropped behind it: `flush` (no timeout) comes back `Stuck`, every "
        "fd behind it is closed, the runtime guard drains within its deadline and reports it, "
        "and the process exits",
}


def deadlock_section(d, w):
    w("## deadlock")
    w("")
    w("Each scenario runs for many rounds with real fds, under a watchdog (a hang fails the "
      "test and is counted here; none did). The binary's stuck deadline is 250 ms; the "
      "never-returning release runs in a child process with 100 ms.")
    w("")
    rows = []
    for test, text in DEADLOCK_TEXT.items():
        r = d.one("deadlock", test)
        figures = ", ".join(f"{k.replace('_', ' ')} {fmt(v)}" for k, v in r.items()
                            if k not in ("suite", "test", "size"))
        rows.append([f"`{test}`", text, figures or "_not run_"])
    w(table(["scenario", "what", "figures"], rows))
    w("")
    hangs = d.all("watchdog")
    w(f"Scenarios that hung: **{len(hangs)}**"
      + ("" if not hangs else " (" + ", ".join(h["test"] for h in hangs) + ")") + ".")
    w("")


def faults_section(d, w):
    w("## faults")
    w("")
    c = d.one("faults", "close_failing_behind_the_registrys_back")
    w("**Close failing.** A registered fd is closed behind the registry's back (counted "
      "`ReadFile` on the finalizer, or one of the three fds of a derived counted resource, "
      "at each position), with sentinel fds of every kind open: the `EBADF` reaches the event "
      "hook naming the type (and the field), the entry is removed, and `/proc/self/fd` is "
      "exactly the snapshot before minus the victim's number(s) (no other fd touched, R3). "
      f"Faults injected {fmt(c.get('faults_injected'))}, survived {fmt(c.get('faults_survived'))}, "
      f"fds leaked {fmt(c.get('fds_leaked'))}, registry delta {fmt(c.get('registry_delta'))}.")
    w("")
    w("**EMFILE at every creation path**, in a child with `RLIMIT_NOFILE` = 64, filled to the "
      "limit: (a) with nothing pending each constructor retries once (F5) and returns a typed "
      "error naming the operation; (b) with 4 counted fds pending behind a 200 ms release, it "
      "drains the finalizer and the retry succeeds. No panic, nothing left registered, "
      "`/proc/self/fd` back to its baseline at the end.")
    w("")
    rows = [[f"`{r['path']}`", f"`{r['at_emfile']}`", r["after_drain"], fmt(r["drain_ms"])]
            for r in d.all("faults", "emfile_at_every_creation_path")]
    w(table(["creation path", "at EMFILE (variant:errno)", "with fds pending", "drain + retry (ms)"], rows))
    w("")
    e = d.one("faults", "emfile_summary")
    if e:
        w(f"Paths {fmt(e['creation_paths'])}, typed errors {fmt(e['typed_errors'])}, recovered "
          f"after the drain {fmt(e['recovered_after_drain'])}, panics {fmt(e['panics'])}, fds "
          f"leaked {fmt(e['fds_leaked'])}. Spawning at EMFILE: {e['spawn_at_emfile']}; the kept "
          f"fd stays open and registered. A release on the finalizer that opens an fd at "
          f"EMFILE gets its typed error after {fmt(e['finalizer_reopen_ms'])} ms: the drain "
          f"before its retry refuses at once there instead of waiting for itself.")
        w("")
    p = d.one("faults", "panics_and_errors_in_every_position")
    w("**Panics and errors in every position.** Derived resources of three real fds plus a "
      "release hook (`#[resource(release = ...)]`), unique (WriteFiles: a failure is a real "
      "`ENOSPC` from `/dev/full`) in a scope and counted (ReadFiles: a failure is a real "
      "`EBADF`) on the finalizer. 11 cases × 2 kinds: one fault at each position (hook, "
      "first, middle, last field; error or panic), all failing, all panicking, a mix. Every "
      "part is attempted in order; the first panic resumes (unique) or is reported (counted, "
      "F2) after all parts ran; every error is returned or reported naming its field; every "
      "fd is closed and deregistered. "
      f"Cases {fmt(p.get('cases'))}, faults injected {fmt(p.get('faults_injected'))}, survived "
      f"{fmt(p.get('faults_survived'))}, finalizer panicked/failed outcomes "
      f"{fmt(p.get('finalizer_panicked'))}/{fmt(p.get('finalizer_failed'))}, fds leaked "
      f"{fmt(p.get('fds_leaked'))}.")
    w("")
    k = d.one("faults", "a_killed_child_hangs_nothing_and_owner_death_is_reported")
    w("**A killed child.** A child loops over critical sections under an `IpcMutex` (the "
      "counter file is odd, i.e. torn, inside), with counted fds and registry passes churning "
      "on another thread; it is SIGKILLed at a pseudo-random point. Nothing hangs (its pipe "
      "reaches EOF, it is reaped, the next `lock` returns), and a torn critical section is "
      "always reported as owner death with the dead pid. "
      f"Kills {fmt(k.get('sigkills'))}: inside the critical section {fmt(k.get('killed_mid_critical_section'))}, "
      f"owner death reported {fmt(k.get('owner_death_reported'))} (also while holding the lock "
      f"outside the torn window), clean {fmt(k.get('killed_outside'))}, torn state hidden "
      f"**{fmt(k.get('torn_state_hidden'))}**.")
    w("")
    fork_section(d, w)


FORK_TEXT = {
    "Write": "`write(2)` to a pipe, then `_exit` (async-signal-safe only)",
    "DropCounted": "drop the last handle of a counted fd, then watch the fd for 100 ms",
    "Flush": "`finalizer::flush_timeout(100 ms)`",
    "Registry": "`fds().len()` (takes the registry lock)",
    "Open": "`ReadFile::open` (allocates, takes the registry lock)",
}


def fork_section(d, w):
    rows = d.all("faults", "fork_without_exec_with_a_running_finalizer")
    w("**fork() without exec** in a process whose finalizer runs, with two parent threads "
      "churning (counted drops; registry passes, opens and closes). Each forked child does "
      "one thing and leaves with `_exit`; the parent kills it if it has not exited within "
      "600 ms.")
    w("")
    w(table(["in the forked child", "forks", "completed", "hung (deadlocked)", "release ran in the child", "flush succeeded"],
            [[FORK_TEXT.get(r["action"], r["action"]), fmt(r["forks"]), fmt(r["completed"]), fmt(r["hung"]),
              fmt(r["released_in_child"]), fmt(r["flush_ok_in_child"])] for r in rows]))
    w("")
    by = {r["action"]: r for r in rows}
    short_names = {"DropCounted": "dropping a counted handle", "Flush": "`flush_timeout`",
                   "Registry": "`fds().len()`", "Open": "`ReadFile::open`"}
    verdict = []
    for action in ("DropCounted", "Flush", "Registry", "Open"):
        r = by.get(action)
        if not r:
            continue
        if r["hung"]:
            verdict.append(f"{short_names[action]} deadlocked in {r['hung']} of {r['forks']} forks")
        else:
            verdict.append(f"{short_names[action]} did not deadlock in {r['forks']} forks")
    drop, flush = by.get("DropCounted", {}), by.get("Flush", {})
    w("A forked child can use guard (issue 12): `pthread_atfork` handlers take guard's locks "
      "before the fork and give them back in both processes, and the child starts a "
      "finalizer of its own on first use (releases pending in the parent at the fork stay "
      "the parent's). In this run a counted value dropped in the child was released there "
      f"in {fmt(drop.get('released_in_child'))} of {fmt(drop.get('forks'))} forks and a flush "
      f"returned `Ok` in {fmt(flush.get('flush_ok_in_child'))} of {fmt(flush.get('forks'))}; "
      + "; ".join(verdict) + ". Before the fix (the full-size run of the previous report, "
      "400 forks each) the finalizer did not exist in the child: no dropped value was "
      "released (0 of 400), 166 flushes timed out, and dropping a counted handle, "
      "`fds().len()` and `ReadFile::open` deadlocked in 2, 10 and 8 forks on a lock a parent "
      "thread held at the fork. Locks that are not guard's (the program's, or a library's "
      "without fork handlers) still stay held in the child if another parent thread held "
      "them. Leave the child with `exec` or `_exit`, never `exit` or a return from `main` "
      "(those would run destructors and flush buffers that belong to the parent).")
    w("")
    s = d.one("faults", "fork_summary")
    if s:
        w(f"Forks {fmt(s['forks'])}; fds leaked in the parent {fmt(s['fds_leaked_in_parent'])}.")
        w("")


def fork_suite_section(d, w):
    w("## fork")
    w("")
    w("`fork()` without exec from a process whose finalizer, census and registry are busy "
      "(issue 12, N4). Each child is waited for under a timeout and killed if it hangs; its "
      "verdict is its exit code (it leaves with `_exit`).")
    w("")
    t = d.one("fork", "a_thousand_forks_while_threads_churn_counted_values_and_passes")
    w("**Forks while threads churn.** Three parent threads drop counted fds, run `for_each` "
      "passes, and hold batches of counted fds across passes. Each child drops the 4 counted "
      "fds it inherited (their last handles there) and 4 of its own, flushes, and checks in "
      "`/proc/self/fd` that all 8 are closed, that nothing is pending and that the registry "
      "lost exactly those entries.")
    w("")
    if t:
        w(table(["figure", "value"], [
            ["forks", fmt(t.get("forks"))],
            ["children that passed every check", fmt(t.get("children_ok"))],
            ["children hung (killed after 30 s)", fmt(t.get("children_hung"))],
            ["children that failed a check", fmt(t.get("children_failed"))],
            ["fds leaked in the parent", fmt(t.get("fds_leaked_in_parent"))],
            ["time", f"{fmt(t.get('seconds'))} s"],
        ]))
    else:
        w("_not run_")
    w("")
    p = d.one("fork", "a_pre_fork_server_with_four_workers_at_nofile_64")
    w("**A pre-fork server.** The parent uses guard (a counted fd held, one dropped), then "
      "forks 4 workers; each lowers `RLIMIT_NOFILE` to 64 and serves requests that open 8 "
      "counted fds, read one and drop them all, then flushes. Its exit code counts its "
      "failures.")
    w("")
    if p:
        w(table(["figure", "value"], [
            ["workers × requests", f"{fmt(p.get('workers'))} × {fmt(p.get('requests_per_worker'))}"],
            ["workers hung", fmt(p.get("workers_hung"))],
            ["failed requests and flushes", fmt(p.get("failures"))],
            ["time", f"{fmt(p.get('seconds'))} s"],
        ]))
    else:
        w("_not run_")
    w("")
    w("Before the fix, children's drops were never released and their flush blocked (the "
      "children hung), and the pre-fork server's workers hung.")
    w("")


PRESSURE_TEST = "counted_fds_pending_close_never_cause_emfile"


def pressure_summary(d):
    rows = d.all("pressure", PRESSURE_TEST)
    if not rows:
        return ["EMFILE under fd pressure, guard / std", "_not run_"]
    return [f"EMFILE under fd pressure, guard / std ({len(rows)} configurations)",
            f"{fmt(sum(r['guard_emfile'] for r in rows))} / {fmt(sum(r['std_emfile'] for r in rows))}"]


def pressure_section(d, w):
    w("## fd pressure")
    w("")
    run = d.one("run", "pressure_figures")
    w("`guard-os/tests/pressure_figures.rs` (issue 14, F5), under users' conditions: threads "
      "that each hold at most one fd at a time open a counted `ReadFile` and drop it, as fast "
      "as they can; the dropped fds wait for the finalizer, so the process runs out of fds "
      "while guard holds their closes pending. Releases take no time or 1 ms. Beside it, "
      "std's `File::open` and drop in the same loop (the 1 ms spent on the dropping thread, "
      "where std closes). Each limit runs in a child process with its own `RLIMIT_NOFILE`. "
      "The test fails if any guard open fails"
      + (f"; this run: **{'passed' if run.get('ok') else 'FAILED'}** in "
         f"{fmt(run.get('seconds'))} s (build included)." if run else "."))
    w("")
    rows = d.all("pressure", PRESSURE_TEST)
    if not rows:
        w("_not run_")
        w("")
        return
    w(table(["`RLIMIT_NOFILE`", "threads", "release", "opens (all threads)",
             "guard: EMFILE", "guard: other errors", "std: EMFILE", "std: other errors"],
            [[fmt(r["limit"]), fmt(r["threads"]), f"{r['release_ms']} ms" if r["release_ms"] else "instant",
              fmt(r["opens"]), fmt(r["guard_emfile"]), fmt(r["guard_other"]),
              fmt(r["std_emfile"]), fmt(r["std_other"])] for r in rows]))
    w("")
    short_rows = [r for r in rows if r["release_ms"] and r["opens"] <= r["limit"]]
    if short_rows:
        w("With 1 ms releases the finalizer closes at most one fd a ms, so a row whose opens "
          "do not exceed its limit cannot run out of fds: "
          + ", ".join(f"{fmt(r['limit'])} with {r['threads']} thread(s)" for r in short_rows)
          + " in this run.")
        w("")
    w("Before the fix (the drain-and-retry retried once, and other threads took the freed "
      "numbers first), the same test counted guard's `EMFILE` failures at `RLIMIT_NOFILE` 64 "
      "with 2, 4 and 8 threads at 412, 2,008 and 12,501 (instant releases), and 362 at 1024 "
      "with 8 threads; std's were 0. Times are left out here: the opens' speed is compared "
      "in the benches.")
    w("")


def bad_input_section(d, w):
    w("## bad input")
    w("")
    w("Each row: the misuse, and the typed error it gives. Every row also checks that nothing "
      "was lost, and fails its test otherwise: the fds involved are still open, registered "
      "once and not leased (a later close is not deferred), no fd leaked against a "
      "`/proc/self/fd` baseline, and the objects still work (a refused `Command` then runs "
      "with a valid plan).")
    w("")
    rows = []
    for r in d.all("bad_input"):
        if "misuse" in r:
            rows.append([short(r["misuse"]), short(r["error"])])
    w(table(["misuse", "typed result"], rows))
    w("")


def bugs_section(d, w):
    reasons = ignored_reasons()
    w("## Bugs found")
    w("")
    w("An open bug is pinned by a test marked `#[ignore = \"bug: ...\"]` that fails while the "
      "bug is there (`reliability/run.sh` runs them with `--ignored` and reports whether they "
      "still fail). A fixed one keeps its test, now run like any other.")
    w("")
    rows = []
    for b in d.all("bugs"):
        reason, path, line = reasons.get(b["test"], ("", b.get("file", ""), 0))
        figures = {}
        for suite in SUITES:
            r = d.one(suite, b["test"])
            if r.get("bug"):
                figures = {k: v for k, v in r.items() if k not in ("suite", "test", "size", "bug")}
        fig = ", ".join(f"{k.replace('_', ' ')} {fmt(v)}" for k, v in figures.items())
        rows.append([f"`{b['test']}` ({path}:{line})", reason.removeprefix("bug: "),
                     "yes" if b.get("reproduced") else "no (fixed? remove the ignore)", fig])
    if rows:
        w(table(["test", "bug", "still reproduces", "observed"], rows))
    else:
        w("No bug is open.")
    w("")


def loom_section(d, w):
    rows = d.all("loom")
    w("## Model checking (loom)")
    w("")
    w("`guard-core/tests/loom.rs` under `RUSTFLAGS=\"--cfg guard_loom\"`: loom explores every "
      "interleaving of the real queue, shift and registry code (their atomics, locks and "
      "condition variables come from `crate::loom`) up to the preemption bound. Four models "
      "were there first; the reliability work added four (marker ordering across batches, "
      "insertion and slot reuse during a pass, a three-job hand-over, two passes and a "
      "removal); later issues added the rest (a full queue under the pending bound that "
      "runs every job once and never holds a producer whose worker cannot run, a removal "
      "that meets a pass's batch lease before its visit). `guard-tokio/tests/lock_loom.rs` "
      "checks the async mutex's wake protocol the same way (its atomics and locks come from "
      "loom under the same cfg): a release racing a registration, two waiters, a waiter "
      "leaving while the lock is released.")
    w("")
    w(table(["model", "file", "preemption bound", "time (s)", "result"],
            [[f"`{r['test']}`", r.get("file", "guard-core/tests/loom.rs"), fmt(r["preemptions"]),
              fmt(r["seconds"]), "ok" if r["ok"] else "FAILED"]
             for r in rows]))
    w("")
    if rows:
        w(f"Total: {len(rows)} models, {fmt(sum(r['seconds'] for r in rows))} s "
          f"(bound {rows[0]['preemptions']}; the budget is about 2 minutes).")
        w("")
    mutants = d.all("mutant")
    if mutants:
        w("**Can the models fail?** `reliability/mutants.py` copies the repository, breaks the "
          "code one way at a time, and runs every model on the broken copy. A model *catches* "
          "a mutant when it fails there.")
        w("")
        names = list(dict.fromkeys(m["test"] for m in mutants))
        models = sorted({m["model"] for m in mutants if "model" in m})
        rows = []
        for name in names:
            ms = [m for m in mutants if m["test"] == name]
            caught = [m["model"] for m in ms if m.get("caught")]
            what = ms[0].get("what", "")
            rows.append([f"`{name}`: {what} (`{ms[0].get('file', '')}`)",
                         ", ".join(f"`{c}`" for c in caught) or "**not caught**"])
        w(table(["mutant", "caught by"], rows))
        w("")
        never = [m for m in models if not any(x.get("caught") for x in mutants if x.get("model") == m)]
        if never:
            w("Models that caught none of these mutants (they guard other properties, or are "
              "weaker than they look): " + ", ".join(f"`{m}`" for m in never) + ".")
            w("")


def valgrind_section(d, w):
    w("## Memory checking (valgrind and Miri)")
    w("")
    w("guard-core's test binaries run under valgrind memcheck (`.ci/valgrind`, a step of "
      "`.ci/run`): any invalid read or write, or use of uninitialised memory, in the unsafe "
      "code of scopes, counted handles, the node pool and the finalizer queue fails the run. "
      "Valgrind cannot see aliasing rules; Miri (`.ci/miri`, also a step of `.ci/run`, on a "
      "nightly toolchain only it uses) runs guard-core's unit tests and its counted, scope "
      "and registry tests under Stacked Borrows, with stress sizes shrunk. Miri found one "
      "violation, now fixed (see the review table above). Neither tool covers fork, exec or "
      "raw syscalls: the suites above do, with real ones.")
    w("")
    rows = [r for r in d.all("valgrind") if r.get("test") != "summary"]
    s = d.one("valgrind", "summary")
    if s.get("skipped"):
        w("_valgrind is not installed on this machine: skipped._")
    elif rows:
        w(table(["guard-core test binary", "tests passed under memcheck", "failed"],
                [[f"`{r['test']}`", fmt(r["passed"]), fmt(r["failed"])] for r in rows]))
        w("")
        errors = s.get("memcheck_errors")
        w(f"{len(rows)} binaries, {fmt(sum(r['passed'] for r in rows))} tests passed, "
          f"{fmt(sum(r['failed'] for r in rows))} failed, {fmt(s.get('seconds'))} s; memcheck "
          f"errors: **{fmt(errors) if errors else 'none'}**"
          + ("" if errors is not None or s.get("ok") else " (not counted in this log: see "
             "`valgrind.log`)") + ".")
        failures = [(r["test"], f) for r in rows for f in r.get("failures", [])]
        if failures:
            w("")
            w("Tests that failed under valgrind (their own assertions, not memcheck's):")
            w("")
            w(table(["binary", "test", "at", "message"],
                    [[f"`{b}`", f"`{f['test']}`", f["at"], short(f["message"])] for b, f in failures]))
        if s.get("not_reached"):
            w("")
            w("`.ci/valgrind` stops at the first failing binary; not reached in this run: "
              + ", ".join(f"`{b}`" for b in s["not_reached"]) + ".")
    else:
        w("_not run_")
    w("")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    text = render(Data(load(sys.argv[1])))
    Path(sys.argv[2]).write_text(text + "\n" if not text.endswith("\n") else text)


if __name__ == "__main__":
    main()
