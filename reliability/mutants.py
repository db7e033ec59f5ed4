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
        "batches_run_newest_first",
        "take_all hands the Treiber stack over without reversing it: a batch runs newest first",
        "guard-core/src/counted/queue.rs",
        None,  # replaced by `lifo_take_all` below
        None,
    ),
    (
        "stolen_rest_is_lost",
        "the watchdog's steal takes the stuck worker's batch but drops the rest of it",
        "guard-core/src/counted/queue.rs",
        "        let head = self.rest.swap(ptr::null_mut(), Ordering::Relaxed);",
        "        let head: *mut Node = ptr::null_mut();\n        let _ = &self.rest;",
    ),
    (
        "wake_without_fence",
        "the producer's SeqCst fence before reading the consumer's state is gone (Dekker pair broken)",
        "guard-core/src/counted/queue.rs",
        "    fn wake_consumer(&self) {\n        fence(Ordering::SeqCst);\n",
        "    fn wake_consumer(&self) {\n",
    ),
    (
        "removal_ignores_leases",
        "a removal completes (and hands the value back to be released) while leases are held",
        "guard-core/src/lease.rs",
        "        if self.closing && self.leases == 0 {",
        "        if self.closing {",
    ),
]


def lifo_take_all(text):
    start = text.index("    pub(crate) fn take_all(&self) -> Batch {")
    end = text.index("    /// True if nothing is queued (a snapshot).")
    body = """    pub(crate) fn take_all(&self) -> Batch {
        let node = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        let mut len = 0;
        let mut n = node;
        while let Some(nn) = NonNull::new(n) {
            // SAFETY: the mutant only counts the chain it owns.
            let r = unsafe { nn.as_ref() };
            len += u64::from(!r.vtable.is_marker);
            n = r.next.load(Ordering::Relaxed);
        }
        Batch { head: node, len }
    }

"""
    return text[:start] + body + text[end:]


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
    env = dict(os.environ, RUSTFLAGS="--cfg guard_loom", CARGO_TARGET_DIR=str(target),
               LOOM_MAX_PREEMPTIONS=str(preemptions))
    p = subprocess.run(
        ["cargo", "test", "-p", "guard-core", "--release", "--test", "loom", "--no-fail-fast",
         "--", "--test-threads=1"],
        cwd=scratch, env=env, capture_output=True, text=True, timeout=1800)
    results = {}
    for m in re.finditer(r"^test (\w+) \.\.\. (ok|FAILED)$", p.stdout, re.M):
        results[m.group(1)] = m.group(2) == "FAILED"
    if not results:
        sys.stderr.write(p.stdout[-2000:] + p.stderr[-4000:])
    return results


def main():
    scratch, target, preemptions = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    for name, what, path, old, new in MUTANTS:
        copy_tree(scratch)
        file = scratch / path
        text = file.read_text()
        if old is None:
            mutated = lifo_take_all(text)
        else:
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
