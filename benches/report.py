#!/usr/bin/env python3
"""Writes BENCHMARKS.md (and, with `--plots`, the plots benches/spawn.svg and
benches/spawn_fds.svg, through benches/svg.py) from criterion's output and the
cross-language peers' figures. Run by benches/run-all.sh (with `--plots`); never edit
BENCHMARKS.md by hand.

Without `--plots` the committed plots are left as they are (a report from a partial run
must not replace them with plots of whatever groups it ran) and only linked. `--out PATH`
writes the report to PATH instead of BENCHMARKS.md (to check that a section renders from a
partial local run). `--spawn-only` prints the spawn sections, and with `--plots` rewrites
the two plots (after a run of the spawn groups and peers alone), leaving BENCHMARKS.md as
it is.

Reads target/criterion/**/new/{benchmark,estimates}.json (the median of each benchmark)
and target/peers.jsonl (benches/peers/run.sh).
"""
import datetime
import glob
import json
import os
import platform
import subprocess
import sys

import svg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_criterion():
    medians = {}
    for path in glob.glob(os.path.join(ROOT, "target/criterion/**/new/benchmark.json"), recursive=True):
        with open(path) as f:
            bench = json.load(f)
        with open(os.path.join(os.path.dirname(path), "estimates.json")) as f:
            est = json.load(f)
        medians[bench["full_id"]] = est["median"]["point_estimate"]
    return medians


def load_peers():
    peers = {}
    path = os.path.join(ROOT, "target/peers.jsonl")
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                p = json.loads(line)
                key = f'{p["group"]}/{p["name"]}' + (f'/{p["n"]}' if "n" in p else "")
                peers[key] = p["ns"]
    return peers


def fmt_ns(ns):
    if ns is None:
        return "–"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return [
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("machine", f"{os.cpu_count()} CPUs, {cpu}"),
        ("kernel", platform.release()),
        ("toolchain", rustc),
    ]


# Parent heap sizes of the spawn-vs-RSS section (MiB), as in benches/os.rs and
# benches/peers/spawn_rss.py.
SPAWN_RSS_MIB = [(0, "~0"), (1024, "1 GiB"), (4096, "4 GiB")]
# (name, id pattern, plot style: colour by method, dashed when keeping one)
SPAWN_METHODS = [
    ("guard `Spawn`, keep none", "os/spawn_true/guard_spawn_keep_0/{}", ("#c33", "")),
    ("guard `Spawn`, keep one", "os/spawn_true/guard_spawn_keep_1/{}", ("#c33", "6,3")),
    ("std `Command`, no hook (keeps none)", "os/spawn_true/std_command/{}", ("#36c", "")),
    ("std + `inherit` (fork), keep none", "os/spawn_true/std_inherit_keep_0/{}", ("#444", "")),
    ("std + `inherit` (fork), keep one", "os/spawn_true/std_inherit_keep_1/{}", ("#444", "6,3")),
    ("Python `subprocess.run(close_fds=True)`", "peer:peers/python_spawn_rss/subprocess_close_fds/{}",
     ("#3a3", "")),
    ("Python, `pass_fds=(fd,)`", "peer:peers/python_spawn_rss/subprocess_pass_fds/{}", ("#3a3", "6,3")),
]
SPAWN_MATRIX = ([label for _, label in SPAWN_RSS_MIB],
                [(name, [pattern.format(mib) for mib, _ in SPAWN_RSS_MIB]) for name, pattern, _ in SPAWN_METHODS])
SPAWN_TARGET = ("<=", 1.2)
SPAWN_ROWS = [
    row
    for mib, label in SPAWN_RSS_MIB
    for row in [
        (f"{label}: keep none vs std without hook", f"os/spawn_true/guard_spawn_keep_0/{mib}",
         f"os/spawn_true/std_command/{mib}", SPAWN_TARGET),
        (f"{label}: keep one vs std without hook", f"os/spawn_true/guard_spawn_keep_1/{mib}",
         f"os/spawn_true/std_command/{mib}", SPAWN_TARGET),
        (f"{label}: keep none vs Python `close_fds=True`", f"os/spawn_true/guard_spawn_keep_0/{mib}",
         f"peer:peers/python_spawn_rss/subprocess_close_fds/{mib}", SPAWN_TARGET),
        (f"{label}: keep one vs Python `pass_fds=(fd,)`", f"os/spawn_true/guard_spawn_keep_1/{mib}",
         f"peer:peers/python_spawn_rss/subprocess_pass_fds/{mib}", SPAWN_TARGET),
        (f"{label}: keep one vs std + `inherit` keep one (fork)", f"os/spawn_true/guard_spawn_keep_1/{mib}",
         f"os/spawn_true/std_inherit_keep_1/{mib}", None),
    ]
]

# Each section: (title, note, rows[, matrix])
# Each row: (what, guard id, peer id, target)
#   target: None, or (op, value) where the ratio guard/peer must satisfy op value
#   A peer id starting with "peer:" is read from the cross-language figures.
SECTIONS = [
    ("Deferred release: the dropping thread's CPU per last drop of an open `/dev/null` fd",
     "Each side drops a value whose release is `close(2)`; criterion's median, dropping thread's CPU time.",
     [
         ("vs inline `close(2)` on the dropping thread", "counted/last_drop/guard_counted", "counted/last_drop/inline_drop", ("<=", 0.05)),
         ("vs `Arc` (its last drop closes inline)", "counted/last_drop/guard_counted", "counted/last_drop/arc_last_drop", None),
         ("vs the `defer-drop` crate", "counted/last_drop/guard_counted", "counted/last_drop/defer_drop", ("<=", 0.25)),
         ("vs `backdrop`'s trash thread", "counted/last_drop/guard_counted", "counted/last_drop/backdrop_trash_thread", None),
         ("vs a hand-rolled `std::sync::mpsc` finalizer", "counted/last_drop/guard_counted", "counted/last_drop/mpsc_thread", None),
     ]),
    ("Deferred release, wall clock (includes blocking: `backdrop`'s channel holds 10)",
     "The same drops, timed on the wall clock: a peer that blocks the dropping thread shows here.",
     [
         ("vs inline `close(2)`", "counted/last_drop_wall/guard_counted", "counted/last_drop_wall/inline_drop", None),
         ("vs `defer-drop`", "counted/last_drop_wall/guard_counted", "counted/last_drop_wall/defer_drop", None),
         ("vs `backdrop`", "counted/last_drop_wall/guard_counted", "counted/last_drop_wall/backdrop_trash_thread", None),
         ("vs `mpsc` finalizer", "counted/last_drop_wall/guard_counted", "counted/last_drop_wall/mpsc_thread", None),
     ]),
    ("Deferred release of memory: a 1 KiB `Vec`",
     "Dropping thread's CPU per last drop.",
     [
         ("vs inline `free`", "counted/last_drop_vec1k/guard_counted", "counted/last_drop_vec1k/inline_drop", None),
         ("vs `defer-drop`", "counted/last_drop_vec1k/guard_counted", "counted/last_drop_vec1k/defer_drop", None),
         ("vs `backdrop`", "counted/last_drop_vec1k/guard_counted", "counted/last_drop_vec1k/backdrop_trash_thread", None),
         ("vs `mpsc` finalizer", "counted/last_drop_vec1k/guard_counted", "counted/last_drop_vec1k/mpsc_thread", None),
     ]),
    ("Draining 100k `/dev/null` fds (drop them all, wait until all are closed)",
     "Per 100k fds, opened in chunks of 4000 (the fd limit is 20000); opening untimed.",
     [
         ("vs an inline close loop", "counted/drain_100k/guard_finalizer", "counted/drain_100k/inline_close_loop", ("<=", 1.15)),
         ("vs the same loop on a plain second thread", "counted/drain_100k/guard_finalizer", "counted/drain_100k/plain_thread_close_loop", None),
         ("vs `defer-drop`", "counted/drain_100k/guard_finalizer", "counted/drain_100k/defer_drop", None),
         ("vs `backdrop`", "counted/drain_100k/guard_finalizer", "counted/drain_100k/backdrop_trash_thread", None),
         ("vs `mpsc` finalizer", "counted/drain_100k/guard_finalizer", "counted/drain_100k/mpsc_thread", None),
     ]),
    ("Registering a finalizable resource and releasing it",
     "guard: `Counted::new` + last drop, wall time per resource with the finalizer's work running on the other core; and `Counted::new` + `try_release`, the explicit release on the calling thread. Java: `Cleaner.register` + `Cleanable.clean` (JIT warm). Python: `weakref.finalize` + firing at `del`.",
     [
         ("`new` + last drop (deferred) vs Java `Cleaner`", "counted/new_and_last_drop/guard_counted", "peer:peers/java_cleaner/register_and_clean", ("<=", 0.5)),
         ("`new` + `try_release` (explicit, like `clean()`) vs Java `Cleaner`", "counted/new_and_last_drop/guard_counted_try_release", "peer:peers/java_cleaner/register_and_clean", ("<=", 0.5)),
         ("vs Python `weakref.finalize`", "counted/new_and_last_drop/guard_counted", "peer:peers/python_finalize/register_and_fire", None),
     ]),
    ("Scopes: one resource entered and released",
     "The sides are interleaved iteration by iteration (see benches/scope.rs).",
     [
         ("one `/dev/null` fd, vs hand-written RAII", "scope/one_fd/guard_scope", "scope/one_fd/raii", ("<=", 1.05)),
         ("one `/dev/null` fd, vs `scopeguard`", "scope/one_fd/guard_scope", "scope/one_fd/scopeguard", None),
         ("a release that does nothing, vs RAII", "scope/one_trivial/guard_scope", "scope/one_trivial/raii", None),
         ("a release that does nothing, vs `scopeguard`", "scope/one_trivial/guard_scope", "scope/one_trivial/scopeguard", None),
         ("a `parking_lot` lock taken in a derived unique guard, vs the bare lock + unlock (issue 13's target)", "scope/lock/guard_scope", "scope/lock/bare", ("<=", 2.0)),
         ("the same, as a leaf unique guard, vs the bare lock + unlock", "scope/lock/leaf", "scope/lock/bare", None),
     ]),
    ("The fd registry",
     "`for_each` visits each registered fd under a lease; the peer reads `/proc/self/fd`. 10k fds.",
     [
         ("`fds().for_each` vs listing `/proc/self/fd`", "registry/fds_10k/guard_fds_for_each", "registry/fds_10k/proc_self_fd_listing", ("<=", 0.02)),
     ]),
    ("The fd registry: a close that meets a running pass",
     "Closing a registered `/dev/null` fd that another thread's `for_each` pass holds in its batch "
     "while it visits the fd before it, vs with no pass (benches/registry.rs): the close pays the "
     "barrier (`membarrier(2)`) that spares the pass a fence per visit.",
     [
         ("meeting a pass, vs a plain close", "registry/close/meeting_a_pass", "registry/close/plain", None),
     ]),
    ("Spawning `/bin/true` with 10k live fds",
     "guard's exec plan vs std's `Command` with the same fds open (all CLOEXEC).",
     [
         ("keeping one fd, vs std", "os/spawn_true_fds/guard_keep_1/10000", "os/spawn_true_fds/std_command/10000", ("<=", 1.3)),
         ("keeping none (closes everything else, R5), vs std", "os/spawn_true_fds/guard_keep_0/10000", "os/spawn_true_fds/std_command/10000", None),
         ("keeping none, `trust_cloexec` (no hook), vs std", "os/spawn_true_fds/guard_keep_0_trust_cloexec/10000", "os/spawn_true_fds/std_command/10000", ("<=", 1.05)),
         ("keeping none, vs a `pre_exec` close loop", "os/spawn_true_fds/guard_keep_0/10000", "os/spawn_true_fds/pre_exec_close_loop/10000", None),
         ("keeping none, vs `close_range` alone", "os/spawn_true_fds/guard_keep_0/10000", "os/spawn_true_fds/close_range_only/10000", None),
         ("keeping none, vs Python `subprocess.run(close_fds=True)`", "os/spawn_true_fds/guard_keep_0/10000", "peer:peers/python_spawn_true/subprocess_close_fds/10000", None),
     ]),
    ("Spawn + wait of `/bin/true` against the parent's RSS",
     "The parent allocates and touches a heap of ~0, 1 GiB or 4 GiB first (`os/spawn_true` in "
     "benches/os.rs, `benches/peers/spawn_rss.py` for Python, which touches a `bytearray` page by "
     "page); keep one = a `/dev/null` passed as fd 3 (`keep_at(&fd, 3)`, Python "
     "`pass_fds=(fd,)`), keep none = only 0-2. Each iteration builds its command, spawns and "
     "waits, as `subprocess.run` does. std's `Command` without hook keeps nothing (posix_spawn); "
     "`inherit` adds a `pre_exec` hook, so std forks. A size needs twice its heap in "
     "`MemAvailable` or is skipped (–); the bench and the peer say so in their output.",
     SPAWN_ROWS, SPAWN_MATRIX),
    ("The OS mutex: lock + unlock, uncontended",
     "guard's `IpcMutex` excludes threads and processes; `parking_lot` only threads; `flock` only processes.",
     [
         ("vs `parking_lot::Mutex`", "os/mutex_lock_unlock/guard_ipc_mutex", "os/mutex_lock_unlock/parking_lot", None),
         ("vs `File::lock` (`flock`)", "os/mutex_lock_unlock/guard_ipc_mutex", "os/mutex_lock_unlock/std_file_lock", None),
         ("vs raw `flock`", "os/mutex_lock_unlock/guard_ipc_mutex", "os/mutex_lock_unlock/raw_flock", None),
         ("vs a raw robust process-shared pthread mutex (the floor)", "os/mutex_lock_unlock/guard_ipc_mutex",
          "os/mutex_lock_unlock/raw_pthread_robust_shared", None),
     ]),
    ("Opening and closing a read-only file",
     "guard registers the fd (the registry, the census, and whether its close can wait: "
     "`fstat`, and for a regular file `fstatfs`, remembered per block device) and closes it "
     "on the spot at the last drop when its close cannot wait; std opens and closes. "
     "`os/open_close` in benches/os.rs; no target was set (see the notes).",
     [
         ("`/dev/null`: `Counted<ReadFile>` open + last drop vs std `File`",
          "os/open_close/guard_counted_read_file/dev_null", "os/open_close/std_file/dev_null", None),
         ("`/dev/null`: `ReadFile` open + `close()` vs std `File`",
          "os/open_close/guard_read_file_close/dev_null", "os/open_close/std_file/dev_null", None),
         ("a temp file: `Counted<ReadFile>` open + last drop vs std `File`",
          "os/open_close/guard_counted_read_file/tmp_file", "os/open_close/std_file/tmp_file", None),
         ("a temp file: `ReadFile` open + `close()` vs std `File`",
          "os/open_close/guard_read_file_close/tmp_file", "os/open_close/std_file/tmp_file", None),
     ]),
]


# guard-tokio (benches/async_lock.rs, benches/async_io.rs) and the census (benches/census.rs).
ASYNC_LOCKS = [("tokio::sync::Mutex", "tokio"), ("async-lock's `Mutex`", "async-lock"),
               ("`parking_lot::Mutex` (blocking the worker)", "parking_lot")]
ASYNC_CONTENDED_TARGET = {"async-lock": ("<=", 1.0)}
IPC_PEERS = [("guard-os's blocking `IpcMutex` in `spawn_blocking`", "guard_os_ipc_mutex_spawn_blocking"),
             ("std `File::lock` in `spawn_blocking`", "std_file_lock_spawn_blocking")]
SECTIONS += [
    ("The async mutex: lock + unlock, uncontended",
     "guard-tokio's `Mutex` (cannot futurelock by hand-off, with the held-too-long detector) vs the "
     "async mutexes users reach for today, one task on a current-thread runtime (benches/async_lock.rs).",
     [(f"vs {name}", "async_lock/uncontended/guard", f"async_lock/uncontended/{peer}",
       ("<=", 1.1) if peer == "tokio" else None) for name, peer in ASYNC_LOCKS]),
    ("The async mutex, contended",
     "2, 8 or 64 tasks on a 2-worker multi-thread runtime share 16,384 increments behind one "
     "lock; the time to finish all.",
     [(f"{tasks} tasks, vs {name}", f"async_lock/contended/{tasks}/guard", f"async_lock/contended/{tasks}/{peer}",
       ASYNC_CONTENDED_TARGET.get(peer)) for tasks in (2, 8, 64) for name, peer in ASYNC_LOCKS]),
    ("The async inter-process mutex: lock + unlock",
     "guard-tokio's `IpcMutex` (no worker blocks; its holder thread takes the OS lock) vs what a "
     "tokio user writes today: lock and unlock inside one `spawn_blocking` (benches/async_io.rs). "
     "Uncontended: one task, per acquisition; contended: 2 or 8 tasks share 512 acquisitions, "
     "the time to finish all (the `File::lock` peer opens one `File` per task).",
     [(f"{what}, vs {name}", f"async_io/ipc_{group}/guard_tokio_ipc_mutex", f"async_io/ipc_{group}/{peer}",
       ("<=", 1.0))
      for what, group in (("uncontended", "uncontended"), ("2 tasks", "contended/2"), ("8 tasks", "contended/8"))
      for name, peer in IPC_PEERS]),
    ("Async sockets: a 64-byte ping-pong over loopback TCP",
     "Per round trip, two tasks on a current-thread runtime, `TCP_NODELAY` (benches/async_io.rs; "
     "on two workers both sides swung between 20 and 60 µs with the tasks' placement).",
     [("`Async<guard_os::TcpStream>` vs `tokio::net::TcpStream`", "async_io/tcp_ping_pong/guard_async_tcp_stream",
       "async_io/tcp_ping_pong/tokio_tcp_stream", ("<=", 1.05))]),
    ("The census: `report()` over 10,000 live sites",
     "One report, and one report formatted to text (benches/census.rs).",
     [("`report()` vs `report().to_string()`", "census/report_10k/report", "census/report_10k/report_to_string", None)]),
    ("The census: a new creation site while reports run",
     "A fresh thread's first `Counted::new` (thread spawn included), with no report running and "
     "while another thread takes `report()` over 10,000 live sites in a loop (benches/census.rs).",
     [("while reporting 10k sites, vs idle", "census/new_site_during_report/reporting_10k",
       "census/new_site_during_report/idle", None)]),
]

ABSOLUTE = [
    ("registry register + deregister", "registry/register_deregister/guard_registry", 40.0, 1),
    ("registry `for_each` per entry (10k entries)", "registry/for_each_10k/guard_leased", 10.0, 10_000),
    ("registry `for_each` per entry (10k entries), the thread's CPU time",
     "registry/for_each_10k/guard_leased_thread_cpu", 10.0, 10_000),
]


def verdict(ratio, target):
    if ratio is None:
        return "–", "no figure"
    if ratio < 1:
        plain = f"guard takes {ratio:.3g}× the peer's time ({1 / ratio:.3g}× less)"
    else:
        plain = f"guard takes {ratio:.3g}× the peer's time"
    if target is None:
        return "–", plain
    op, value = target
    met = ratio <= value if op == "<=" else ratio >= value
    return ("met" if met else "**not met**") + f" (≤ {value}×)", plain


def figure(medians, peers, fid):
    """A median by id: criterion's, or a peer's for an id starting with "peer:"."""
    return peers.get(fid[5:]) if fid.startswith("peer:") else medians.get(fid)


def section(medians, peers, title, note, rows, matrix=None):
    """The lines of one section, and the rows whose target was missed."""
    lines, missed = [f"## {title}", "", note, ""], []
    if matrix:
        columns, methods = matrix
        lines += ["| median | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for name, ids in methods:
            lines.append(f"| {name} | " + " | ".join(fmt_ns(figure(medians, peers, i)) for i in ids) + " |")
        lines.append("")
    lines += ["| comparison | guard | peer | ratio | target | verdict |",
              "|---|---|---|---|---|---|"]
    for what, gid, pid, target in rows:
        g, p = figure(medians, peers, gid), figure(medians, peers, pid)
        ratio = g / p if g and p else None
        state, plain = verdict(ratio, target)
        if "not met" in state:
            missed.append(f"{title}: {what}")
        r = f"{ratio:.3f}×" if ratio else "–"
        lines.append(f"| {what} | {fmt_ns(g)} | {fmt_ns(p)} | {r} | {state} | {plain} |")
    lines.append("")
    return lines, missed


# The plots: (path, section title, alt text).
SPAWN_PLOTS = [("benches/spawn.svg", "Spawn time against the parent's RSS", "spawn time against parent RSS"),
               ("benches/spawn_fds.svg", "Spawn time against live fds", "spawn time against live fds")]


def spawn_svgs(medians, peers, write):
    """benches/spawn.svg (time against parent RSS) and benches/spawn_fds.svg (against live
    fds), rewritten if `write`; returns the markdown that shows those that exist (with
    `write`, those that have data)."""
    if not write:
        return [line for name, title, alt in SPAWN_PLOTS
                if os.path.exists(os.path.join(ROOT, name))
                for line in (f"## {title}", "", f"![{alt}]({name})", "")]
    lines = []
    series = [(name, [(mib, figure(medians, peers, pattern.format(mib))) for mib, _ in SPAWN_RSS_MIB], style)
              for name, pattern, style in SPAWN_METHODS]
    ticks = [(mib, label) for mib, label in SPAWN_RSS_MIB]
    (rss_svg, rss_title, rss_alt), (fds_svg, fds_title, fds_alt) = SPAWN_PLOTS
    if svg.line_chart(os.path.join(ROOT, rss_svg),
                      "spawn + wait of /bin/true (median, log scale)", "parent RSS", ticks, series):
        lines += [f"## {rss_title}", "", f"![{rss_alt}]({rss_svg})", ""]
    fds = [0, 1000, 10000]
    methods = [("std_command", ("#36c", "")), ("guard_keep_0", ("#c33", "")),
               ("guard_keep_0_trust_cloexec", ("#c33", "2,3")), ("guard_keep_1", ("#c33", "6,3")),
               ("pre_exec_close_loop", ("#444", "")), ("close_range_only", ("#b80", ""))]
    series = [(m, [(i, medians.get(f"os/spawn_true_fds/{m}/{n}")) for i, n in enumerate(fds)], style)
              for m, style in methods]
    series.append(("python_subprocess_close_fds",
                   [(i, peers.get(f"peers/python_spawn_true/subprocess_close_fds/{n}")) for i, n in enumerate(fds)],
                   ("#3a3", "")))
    if svg.line_chart(os.path.join(ROOT, fds_svg),
                      "spawn + wait of /bin/true (median, log scale)", "live fds in the parent",
                      [(i, str(n)) for i, n in enumerate(fds)], series):
        lines += [f"## {fds_title}", "", f"![{fds_alt}]({fds_svg})", ""]
    return lines


def main():
    args = sys.argv[1:]
    spawn_only = "--spawn-only" in args
    plots = "--plots" in args
    # `--out PATH`: write there instead of BENCHMARKS.md (to check a section renders).
    out = args[args.index("--out") + 1] if "--out" in args else os.path.join(ROOT, "BENCHMARKS.md")
    medians = load_criterion()
    peers = load_peers()
    if not medians and not spawn_only:
        sys.exit("no criterion results under target/criterion: run `cargo bench` first")
    if spawn_only:
        # The spawn sections and plots alone, from whatever figures there are: for a run
        # of `os/spawn_true` and the spawn peers only. BENCHMARKS.md is left alone.
        lines = []
        for title, note, rows, *matrix in SECTIONS:
            if title.startswith("Spawn"):
                lines += section(medians, peers, title, note, rows, *matrix)[0]
        lines += spawn_svgs(medians, peers, plots)
        print("\n".join(lines))
        return
    lines = ["# Benchmarks", "",
             "Written by `benches/report.py` from criterion's output; regenerate with "
             "`benches/run-all.sh` (never edit by hand). Each figure is a median; ratios are "
             "guard ÷ peer from the same run. The machine is shared and noisy: compare ratios, "
             "not absolute times, and expect a few percent of drift between runs.", ""]
    for k, v in machine():
        lines.append(f"- {k}: {v}")
    lines.append("")
    missed = []
    for title, note, rows, *matrix in SECTIONS:
        more, miss = section(medians, peers, title, note, rows, *matrix)
        lines += more
        missed += miss
    lines += ["## Absolute targets", "", "| what | guard | target | verdict |", "|---|---|---|---|"]
    for what, gid, limit, per in ABSOLUTE:
        g = medians.get(gid)
        v = g / per if g else None
        state = "–" if v is None else ("met" if v <= limit else "**not met**")
        if "not met" in state:
            missed.append(what)
        lines.append(f"| {what} | {fmt_ns(v)} | ≤ {limit:g} ns | {state} |")
    lines.append("")
    lines += spawn_svgs(medians, peers, plots)
    lines += ["## Targets missed", ""]
    lines += [f"- {m}" for m in missed] or ["- none"]
    lines.append("")
    notes = os.path.join(ROOT, "benches/NOTES.md")
    if os.path.exists(notes):
        lines += ["## Why, where a target is missed", "", open(notes).read().strip(), ""]
    with open(out, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {out}" + (", benches/spawn.svg and benches/spawn_fds.svg" if plots else ""))


if __name__ == "__main__":
    main()
