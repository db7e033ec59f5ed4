#!/usr/bin/env python3
"""Turns the output of `.ci/valgrind` into `RELIABILITY {json}` lines for report.py.

    python3 reliability/valgrind.py <ok> <seconds> <valgrind.log>

A binary's failure can be memcheck's (an error report, lines `==pid== ...`; valgrind exits
97) or a test's own assertion failing under valgrind (a `test result: FAILED` line): the
lines keep them apart. `.ci/valgrind` stops at the first failing binary, so the binaries it
did not reach are listed too (from `cargo test -p guard-core --no-run`, already built).
"""

import json
import re
import subprocess
import sys


def emit(record):
    print("RELIABILITY " + json.dumps(record))


def built_binaries():
    """guard-core's test binaries (not loom's), by name without the hash."""
    try:
        out = subprocess.run(["cargo", "test", "-p", "guard-core", "--no-run",
                              "--message-format=json"], capture_output=True, text=True).stdout
    except OSError:
        return []
    names = []
    for line in out.splitlines():
        try:
            m = json.loads(line)
        except json.JSONDecodeError:
            continue
        if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
            name = re.sub(r"-[0-9a-f]{16}$", "", m["executable"].rsplit("/", 1)[-1])
            if "loom" not in name:
                names.append(name)
    return names


def main():
    ok, secs, path = sys.argv[1] == "true", float(sys.argv[2]), sys.argv[3]
    text = open(path, errors="replace").read()
    skipped = "skipped: valgrind is not installed" in text
    # Error headers: `==pid== Invalid read of size 8` (stack lines are indented further).
    memcheck_errors = len(re.findall(r"^==\d+== (?!Warning)\S", text, re.M))
    seen, current, failures, panic_of = [], None, {}, {}
    for line in text.splitlines():
        m = re.match(r"-- valgrind (\S+)", line)
        if m:
            current = re.sub(r"-[0-9a-f]{16}$", "", m.group(1))
            seen.append(current)
            continue
        m = re.match(r"thread '(\w+)' .*panicked at (\S+):$", line)
        if m:
            panic_of["pending"] = (m.group(1), m.group(2))
            continue
        if "pending" in panic_of and current and line.strip():
            test, at = panic_of.pop("pending")
            failures.setdefault(current, []).append({"test": test, "at": at, "message": line})
            continue
        m = re.match(r"test result: (\w+)\. (\d+) passed; (\d+) failed", line)
        if m and current:
            emit({"suite": "valgrind", "test": current, "passed": int(m.group(2)),
                  "failed": int(m.group(3)), "failures": failures.get(current, [])})
    not_reached = [] if skipped or ok else [b for b in built_binaries() if b not in seen]
    emit({"suite": "valgrind", "test": "summary", "ok": ok, "skipped": skipped,
          "seconds": secs, "memcheck_errors": memcheck_errors, "not_reached": not_reached})


if __name__ == "__main__":
    main()
