"""Python peers of guard's counted release: `weakref.finalize` register + fire.

Prints JSON lines: {"group", "name", "ns"} with the median ns per operation over rounds.
"""
import gc
import json
import os
import statistics
import time
import weakref

ROUNDS = 7
N = 100_000


class Resource:
    """A stand-in for an object owning an OS resource."""


def noop():
    pass


def register_and_fire(n):
    start = time.perf_counter_ns()
    for _ in range(n):
        r = Resource()
        weakref.finalize(r, noop)
        del r  # CPython: the refcount hits zero, the finalizer fires now, on this thread
    return (time.perf_counter_ns() - start) / n


def register_and_fire_close(n):
    fds = [os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC) for _ in range(n)]
    start = time.perf_counter_ns()
    for fd in fds:
        r = Resource()
        weakref.finalize(r, os.close, fd)
        del r
    return (time.perf_counter_ns() - start) / n


def median(f, n):
    gc.collect()
    f(n // 10)  # warm up
    return statistics.median(f(n) for _ in range(ROUNDS))


def main():
    emit("peers/python_finalize", "register_and_fire", median(register_and_fire, N))
    emit("peers/python_finalize", "register_and_fire_close_devnull", median(register_and_fire_close, 4000))


def emit(group, name, ns):
    print(json.dumps({"group": group, "name": name, "ns": ns}))


if __name__ == "__main__":
    main()
