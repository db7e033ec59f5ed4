"""Python peer of `os/spawn_true` (benches/os.rs): spawn + wait of /bin/true with
`subprocess.run(close_fds=True)`, keeping none and keeping one fd (`pass_fds=(fd,)`, a
/dev/null), from a parent whose resident heap is ~0, 1 GiB and 4 GiB (a bytearray touched
page by page first, freed before the next size). CPython's `_posixsubprocess` uses vfork
here, so the cost should not grow with the heap.

Sampled as criterion does in that group: a 1 s warm-up estimates the time per spawn, then
SAMPLES batches of the same number of spawns, timed with `time.perf_counter_ns`, about
MEASURE_S of timed spawns in all; the figure is the median of the batches' per-spawn times
(criterion reports the median of its samples, 20 there too). As guard's rows alternate
with std's there, the two variants here alternate spawn by spawn (only one is timed). A size is skipped, and says so on stderr,
when MemAvailable is under HEADROOM times the heap (4 GiB needs ~8 GiB).

Prints JSON lines: {"group", "name", "n", "ns", "rss_mib"} where n is the heap in MiB, ns
the median per spawn and rss_mib this process's VmRSS while it ran.
"""
import json
import os
import statistics
import subprocess
import sys
import time

HEAP_MIB = (0, 1024, 4096)
HEADROOM = 2
SAMPLES = 20
WARM_UP_S = 1.0
MEASURE_S = 3.0
PAGE = 4096


def meminfo_mib(path, key):
    with open(path) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024
    return None


def resident_heap(mib):
    heap = bytearray(mib << 20)
    for i in range(0, len(heap), PAGE):
        heap[i] = 1
    return heap


def spawn_true(pass_fds):
    subprocess.run(["/bin/true"], close_fds=True, pass_fds=pass_fds, check=True)


def median_ns(timed, partner):
    """Criterion's sampling of `os/spawn_true`: a warm-up sizes the batches, then the median
    of SAMPLES batches' per-spawn times. Each timed spawn runs right after an untimed spawn
    of `partner` (the other variant), as guard's rows alternate with std's in benches/os.rs,
    so both variants see the same load on a shared machine."""
    def timed_pair():
        spawn_true(partner)
        start = time.perf_counter_ns()
        spawn_true(timed)
        return time.perf_counter_ns() - start

    runs, spent, start = 0, 0, time.perf_counter_ns()
    while time.perf_counter_ns() - start < WARM_UP_S * 1e9:
        spent += timed_pair()
        runs += 1
    batch = max(1, round(MEASURE_S * 1e9 / (SAMPLES * spent / runs)))
    return statistics.median(sum(timed_pair() for _ in range(batch)) / batch for _ in range(SAMPLES))


def main():
    kept = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    for mib in HEAP_MIB:
        avail = meminfo_mib("/proc/meminfo", "MemAvailable")
        need = mib * HEADROOM
        if avail is not None and avail < need:
            for name in ("subprocess_close_fds", "subprocess_pass_fds"):
                print(f"peers/python_spawn_rss/{name}/{mib}: skipped: {avail} MiB available, "
                      f"a {mib} MiB heap needs {need} MiB", file=sys.stderr)
            continue
        heap = resident_heap(mib)
        rss = meminfo_mib("/proc/self/status", "VmRSS")
        for name, timed, partner in (("subprocess_close_fds", (), (kept,)),
                                     ("subprocess_pass_fds", (kept,), ())):
            ns = median_ns(timed, partner)
            print(json.dumps({"group": "peers/python_spawn_rss", "name": name, "n": mib,
                              "ns": ns, "rss_mib": rss}), flush=True)
        del heap
    os.close(kept)


if __name__ == "__main__":
    main()
