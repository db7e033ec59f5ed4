#!/usr/bin/env python3
"""Writes BENCHMARKS.md (and benches/spawn.svg) from criterion's output and the
cross-language peers' figures. Run by benches/run-all.sh; never edit BENCHMARKS.md by hand.

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


# Each row: (what, guard id, peer id, target, sense)
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
     ]),
    ("The fd registry",
     "`for_each` visits each registered fd under a lease; the peer reads `/proc/self/fd`. 10k fds.",
     [
         ("`fds().for_each` vs listing `/proc/self/fd`", "registry/fds_10k/guard_fds_for_each", "registry/fds_10k/proc_self_fd_listing", ("<=", 0.02)),
     ]),
    ("Spawning `/bin/true` with 10k live fds",
     "guard's exec plan vs std's `Command` with the same fds open (all CLOEXEC).",
     [
         ("keeping one fd, vs std", "os/spawn_true/guard_keep_1/10000", "os/spawn_true/std_command/10000", ("<=", 1.3)),
         ("keeping none (closes everything else, R5), vs std", "os/spawn_true/guard_keep_0/10000", "os/spawn_true/std_command/10000", None),
         ("keeping none, `trust_cloexec` (no hook), vs std", "os/spawn_true/guard_keep_0_trust_cloexec/10000", "os/spawn_true/std_command/10000", ("<=", 1.05)),
         ("keeping none, vs a `pre_exec` close loop", "os/spawn_true/guard_keep_0/10000", "os/spawn_true/pre_exec_close_loop/10000", None),
         ("keeping none, vs `close_range` alone", "os/spawn_true/guard_keep_0/10000", "os/spawn_true/close_range_only/10000", None),
         ("keeping none, vs Python `subprocess.run(close_fds=True)`", "os/spawn_true/guard_keep_0/10000", "peer:peers/python_spawn_true/subprocess_close_fds/10000", None),
     ]),
    ("The OS mutex: lock + unlock, uncontended",
     "guard's `IpcMutex` excludes threads and processes; `parking_lot` only threads; `flock` only processes.",
     [
         ("vs `parking_lot::Mutex`", "os/mutex_lock_unlock/guard_ipc_mutex", "os/mutex_lock_unlock/parking_lot", None),
         ("vs `File::lock` (`flock`)", "os/mutex_lock_unlock/guard_ipc_mutex", "os/mutex_lock_unlock/flock", None),
     ]),
]

ABSOLUTE = [
    ("registry register + deregister", "registry/register_deregister/guard_registry", 40.0, 1),
    ("registry `for_each` per entry (10k entries)", "registry/for_each_10k/guard_leased", 10.0, 10_000),
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


def spawn_svg(medians, peers):
    methods = ["std_command", "guard_keep_0", "guard_keep_0_trust_cloexec", "guard_keep_1",
               "pre_exec_close_loop", "close_range_only"]
    colours = ["#444", "#c33", "#e89", "#36c", "#999", "#6a3", "#b80"]
    ns = [0, 1000, 10000]
    series = {m: [medians.get(f"os/spawn_true/{m}/{n}") for n in ns] for m in methods}
    series["python_subprocess_close_fds"] = [peers.get(f"peers/python_spawn_true/subprocess_close_fds/{n}") for n in ns]
    values = [v for s in series.values() for v in s if v]
    if not values:
        return None
    top = max(values) * 1.1
    w, h, left, bottom = 640, 360, 70, 40
    def x(i): return left + i * (w - left - 20) / (len(ns) - 1)
    def y(v): return h - bottom - v / top * (h - bottom - 20)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 20 * len(series)}" font-family="sans-serif" font-size="12">',
           f'<line x1="{left}" y1="{h - bottom}" x2="{w - 10}" y2="{h - bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="20" x2="{left}" y2="{h - bottom}" stroke="black"/>',
           f'<text x="{w / 2}" y="{h - 8}" text-anchor="middle">live fds in the parent</text>',
           f'<text x="12" y="14">spawn of /bin/true (median, µs)</text>']
    for i, n in enumerate(ns):
        out.append(f'<text x="{x(i)}" y="{h - bottom + 16}" text-anchor="middle">{n}</text>')
    for k in range(5):
        v = top * k / 4
        out.append(f'<text x="{left - 6}" y="{y(v) + 4}" text-anchor="end">{v / 1000:.0f}</text>')
    for (name, vals), colour in zip(series.items(), colours):
        pts = [(x(i), y(v)) for i, v in enumerate(vals) if v]
        if len(pts) > 1:
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in pts)}"/>')
    for k, (name, colour) in enumerate(zip(series, colours)):
        yy = h + 14 + 20 * k
        out.append(f'<rect x="{left}" y="{yy - 10}" width="14" height="4" fill="{colour}"/><text x="{left + 20}" y="{yy - 4}">{name}</text>')
    out.append("</svg>")
    path = os.path.join(ROOT, "benches/spawn.svg")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return "benches/spawn.svg"


def main():
    medians = load_criterion()
    peers = load_peers()
    if not medians:
        sys.exit("no criterion results under target/criterion: run `cargo bench` first")
    lines = ["# Benchmarks", "",
             "Written by `benches/report.py` from criterion's output; regenerate with "
             "`benches/run-all.sh` (never edit by hand). Each figure is a median; ratios are "
             "guard ÷ peer from the same run. The machine is shared and noisy: compare ratios, "
             "not absolute times, and expect a few percent of drift between runs.", ""]
    for k, v in machine():
        lines.append(f"- {k}: {v}")
    lines.append("")
    missed = []
    for title, note, rows in SECTIONS:
        lines += [f"## {title}", "", note, "",
                  "| comparison | guard | peer | ratio | target | verdict |",
                  "|---|---|---|---|---|---|"]
        for what, gid, pid, target in rows:
            g = medians.get(gid)
            p = peers.get(pid[5:]) if pid.startswith("peer:") else medians.get(pid)
            ratio = g / p if g and p else None
            state, plain = verdict(ratio, target)
            if "not met" in state:
                missed.append(f"{title}: {what}")
            r = f"{ratio:.3f}×" if ratio else "–"
            lines.append(f"| {what} | {fmt_ns(g)} | {fmt_ns(p)} | {r} | {state} | {plain} |")
        lines.append("")
    lines += ["## Absolute targets", "", "| what | guard | target | verdict |", "|---|---|---|---|"]
    for what, gid, limit, per in ABSOLUTE:
        g = medians.get(gid)
        v = g / per if g else None
        state = "–" if v is None else ("met" if v <= limit else "**not met**")
        if "not met" in state:
            missed.append(what)
        lines.append(f"| {what} | {fmt_ns(v)} | ≤ {limit:g} ns | {state} |")
    lines.append("")
    svg = spawn_svg(medians, peers)
    if svg:
        lines += ["## Spawn time vs live fds", "", f"![spawn time vs live fds]({svg})", ""]
    lines += ["## Targets missed", ""]
    lines += [f"- {m}" for m in missed] or ["- none"]
    lines.append("")
    notes = os.path.join(ROOT, "benches/NOTES.md")
    if os.path.exists(notes):
        lines += ["## Why, where a target is missed", "", open(notes).read().strip(), ""]
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(lines))
    print("wrote BENCHMARKS.md" + (f" and {svg}" if svg else ""))


if __name__ == "__main__":
    main()
