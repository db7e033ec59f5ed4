"""Python peer of guard's exec hygiene: `subprocess.run(close_fds=True)` of /bin/true with N
extra fds open (CPython closes them in the child; on Linux with close_range when it can).

Prints JSON lines: {"group", "name", "n", "ns"} with the median ns per spawn.
"""
import json
import os
import resource
import statistics
import subprocess
import time

ROUNDS = 30


def spawn_time():
    start = time.perf_counter_ns()
    subprocess.run(["/bin/true"], close_fds=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter_ns() - start


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    fds = []
    for n in (0, 1000, 10_000):
        while len(fds) < n:
            fds.append(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC))
        spawn_time()
        ns = statistics.median(spawn_time() for _ in range(ROUNDS))
        print(json.dumps({"group": "peers/python_spawn_true", "name": "subprocess_close_fds",
                          "n": n, "ns": ns}))
    for fd in fds:
        os.close(fd)


if __name__ == "__main__":
    main()
