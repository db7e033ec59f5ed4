#!/usr/bin/env python3
"""Checks that the loom models can fail: copies the repository to a scratch directory,
breaks the code a model guards (one mutant at a time), runs every model there, and prints
one `RELIABILITY {json}` line per (mutant, model) saying whether the model caught it.

    python3 reliability/mutants.py <scratch-dir> <target-dir> <preemptions>

Nothing in the repository itself is changed.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (name, what it breaks, file, exact text, replacement)
MUTANTS = [
    (
        "lane_runs_newest_first",
        "a lane's take hands its chain over without reversing it: a thread's jobs run newest first",
        "guard-core/src/finalizer/lane.rs",
        "            n.next.store(reversed, Ordering::Relaxed);\n            reversed = node;\n            node = below;\n        }\n        if let Some(oldest) = NonNull::new(reversed) {\n            // SAFETY: the run `oldest ..= newest` is ours (taken above).\n            unsafe { chain.append_run(oldest, newest, last - taken) };",
        "            reversed = node;\n            node = below;\n        }\n        if let Some(oldest) = NonNull::new(reversed) {\n            // SAFETY: the mutant keeps the links as pushed (newest first), ending the run\n            // at the oldest, which is ours.\n            unsafe { oldest.as_ref() }.next.store(ptr::null_mut(), Ordering::Relaxed);\n            unsafe { chain.append_run(newest, oldest, last - taken) };",
    ),
    (
        "stolen_rest_is_lost",
        "the watchdog's steal takes the stuck worker's batch but drops the rest of it",
        "guard-core/src/finalizer/shift.rs",
        "        let head = self.rest.swap(ptr::null_mut(), Ordering::Relaxed);",
        "        let head: *mut Node = ptr::null_mut();\n        let _ = &self.rest;",
    ),
    (
        "wake_without_fence",
        "the producer reads the consumer's state with no fence and a relaxed load (the Dekker pair with the sleeping consumer broken; the fence alone is redundant after the SeqCst push)",
        "guard-core/src/finalizer/queue.rs",
        "    fn wake_consumer(&self) {\n        fence(Ordering::SeqCst);\n        if self.state.load(Ordering::SeqCst) == SLEEPING",
        "    fn wake_consumer(&self) {\n        if self.state.load(Ordering::Relaxed) == SLEEPING",
    ),
    (
        "drained_without_the_care_lock",
        "a drop asks whether its lane is drained from the care bit alone, without the consumer's lock",
        "guard-core/src/finalizer/queue.rs",
        "        let Some(_care) = self.care.try_lock() else {\n            return false;\n        };\n",
        "",
    ),
    (
        "removal_ignores_leases",
        "a removal completes (and hands the value back to be released) while leases are held",
        "guard-core/src/registry/lease_count.rs",
        "        if self.closing && self.leases == 0 {",
        "        if self.closing {",
    ),
]


def copy_tree(scratch):
    if scratch.exists():
        shutil.rmtree(scratch)
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for f in files:
        src = ROOT / f
        if src.is_file():
            dst = scratch / f
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def run_models(scratch, target, preemptions):
    """Runs each model in a process of its own, so that one that aborts (a panic while
    unwinding) fails only itself; a model that fails, aborts or hangs caught the mutant."""
    env = dict(os.environ, RUSTFLAGS="--cfg guard_loom", CARGO_TARGET_DIR=str(target),
               LOOM_MAX_PREEMPTIONS=str(preemptions))
    base = ["cargo", "test", "-p", "guard-core", "--release", "--test", "loom", "--"]
    listing = subprocess.run(base + ["--list"], cwd=scratch, env=env, capture_output=True,
                             text=True, timeout=1800)
    models = [line[: -len(": test")] for line in listing.stdout.splitlines()
              if line.endswith(": test")]
    if not models:
        sys.stderr.write(listing.stdout[-2000:] + listing.stderr[-4000:])
    results = {}
    for model in models:
        try:
            p = subprocess.run(base + ["--exact", model, "--test-threads=1"], cwd=scratch,
                               env=env, capture_output=True, text=True, timeout=600)
            results[model] = p.returncode != 0
        except subprocess.TimeoutExpired:
            results[model] = True
    return results


def main():
    scratch, target, preemptions = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    for name, what, path, old, new in MUTANTS:
        copy_tree(scratch)
        file = scratch / path
        text = file.read_text()
        if old not in text:
            print("RELIABILITY " + json.dumps({"suite": "mutant", "test": name,
                  "what": what, "error": f"pattern not found in {path}"}))
            continue
        mutated = text.replace(old, new, 1)
        file.write_text(mutated)
        results = run_models(scratch, target, preemptions)
        for model, caught in sorted(results.items()):
            print("RELIABILITY " + json.dumps({"suite": "mutant", "test": name, "what": what,
                  "file": path, "model": model, "caught": caught}))
        sys.stdout.flush()
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
