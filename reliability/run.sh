#!/usr/bin/env bash
# Runs the reliability suites (tests/reliability_*.rs), the pinned bugs (their ignored
# tests), the per-crate tests whose figures the report shows (guard-os's pressure_figures),
# the loom models and valgrind over guard-core's tests, and regenerates
# RELIABILITY.md from what they print (`RELIABILITY {json}` lines) with report.py.
#
#   reliability/run.sh                 # CI sizes, debug build (a few minutes on 2 cores)
#   reliability/run.sh --full          # the issue's sizes (GUARD_FULL=1), release build
#
# Options: --no-loom, --no-mutants (skip checking that the loom models catch broken
# copies of the code, reliability/mutants.py), --no-valgrind, --no-report (keep
# RELIABILITY.md as it is), --preemptions N (LOOM_MAX_PREEMPTIONS, default 2). Logs go to
# ${CARGO_TARGET_DIR:-target}/reliability/; the result lines are also kept in
# reliability/results.log, from which RELIABILITY.md is written. Exits non-zero if a suite
# fails.
set -euo pipefail
cd "$(dirname "$0")/.."

full=0 loom=1 mutants=1 valgrind=1 report=1 preemptions=2
while [ $# -gt 0 ]; do
    case "$1" in
        --full) full=1 ;;
        --no-loom) loom=0 ;;
        --no-mutants) mutants=0 ;;
        --no-valgrind) valgrind=0 ;;
        --no-report) report=0 ;;
        --preemptions) preemptions="$2"; shift ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
    shift
done

target="${CARGO_TARGET_DIR:-target}"
out="$target/reliability"
rm -rf "$out"
mkdir -p "$out"
log="$out/results.log"
: >"$log"

# One result line from the script itself.
record() { printf 'RELIABILITY %s\n' "$1" >>"$log"; }
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$(now) - $1:.1f}')"; }

if [ "$full" = 1 ]; then
    export GUARD_FULL=1
    profile=(--release)
    size=full
else
    unset GUARD_FULL
    profile=()
    size=ci
fi

record "$(python3 - "$size" <<'EOF'
import json, os, platform, resource, subprocess, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
print(json.dumps({
    "suite": "env", "test": "machine", "size": sys.argv[1],
    "profile": "release" if sys.argv[1] == "full" else "debug",
    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip(),
    "kernel": platform.release(), "cores": os.cpu_count(),
    "nofile": soft, "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True).stdout.strip(),
}))
EOF
)"

status=0
start_all=$(now)

echo "== building the suites ($size)"
cargo test -p guard "${profile[@]}" --test 'reliability_*' --no-run 2>&1 | tail -1

suites=(soak deadlock faults bad_input fork)
# A new tests/reliability_*.rs must be added above (and to SUITES in report.py).
for file in tests/reliability_*.rs; do
    name=$(basename "$file" .rs)
    name=${name#reliability_}
    if [[ " ${suites[*]} " != *" $name "* ]]; then
        echo "reliability/run.sh: $file is not in its list of suites" >&2
        status=1
    fi
done

for suite in "${suites[@]}"; do
    echo "== reliability_$suite ($size)"
    t=$(now)
    suite_log="$out/$suite.log"
    if cargo test -p guard "${profile[@]}" --test "reliability_$suite" -- --nocapture \
        >"$suite_log" 2>&1; then ok=true; else ok=false; status=1; fi
    grep '^RELIABILITY ' "$suite_log" >>"$log" || true
    summary=$(grep -E '^test result:' "$suite_log" | tail -1 || true)
    echo "   ${summary:-no result (see $suite_log)}"
    record "$(python3 - "$suite" "$ok" "$(elapsed "$t")" "$summary" <<'EOF'
import json, re, sys
suite, ok, secs, summary = sys.argv[1], sys.argv[2] == "true", float(sys.argv[3]), sys.argv[4]
counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|ignored)", summary)}
print(json.dumps({"suite": "run", "test": suite, "ok": ok, "seconds": secs, **counts}))
EOF
)"

    echo "   pinned bugs (ignored tests) of reliability_$suite"
    bugs_log="$out/$suite.bugs.log"
    cargo test -p guard "${profile[@]}" --test "reliability_$suite" -- --ignored --nocapture \
        >"$bugs_log" 2>&1 || true
    grep '^RELIABILITY ' "$bugs_log" >>"$log" || true
    { grep -E '^test .* \.\.\. (ok|FAILED)$' "$bugs_log" || true; } | while read -r _ name _ result; do
        reproduced=$([ "$result" = FAILED ] && echo true || echo false)
        record "{\"suite\":\"bugs\",\"test\":\"$name\",\"file\":\"tests/reliability_$suite.rs\",\"reproduced\":$reproduced}"
        echo "   $name: $([ "$reproduced" = true ] && echo 'still fails (bug reproduced)' || echo 'passes now: remove its #[ignore]')"
    done
done

# Figures from per-crate tests that print `RELIABILITY {json}` lines too (package:test).
# Their failures count like a suite's.
for entry in guard-os:pressure_figures; do
    package=${entry%%:*} test=${entry#*:}
    echo "== $package --test $test ($size)"
    t=$(now)
    test_log="$out/$test.log"
    if cargo test -p "$package" "${profile[@]}" --test "$test" -- --nocapture \
        >"$test_log" 2>&1; then ok=true; else ok=false; status=1; fi
    grep '^RELIABILITY ' "$test_log" >>"$log" || true
    summary=$(grep -E '^test result:' "$test_log" | tail -1 || true)
    echo "   ${summary:-no result (see $test_log)}"
    record "$(python3 - "$test" "$ok" "$(elapsed "$t")" "$summary" <<'EOF'
import json, re, sys
test, ok, secs, summary = sys.argv[1], sys.argv[2] == "true", float(sys.argv[3]), sys.argv[4]
counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|ignored)", summary)}
print(json.dumps({"suite": "run", "test": test, "ok": ok, "seconds": secs, **counts}))
EOF
)"
done

if [ "$loom" = 1 ]; then
    echo "== loom models (LOOM_MAX_PREEMPTIONS=$preemptions)"
    loom_target="$target/loom"
    # package:test of each loom test binary (as .ci/run runs them).
    for spec in guard-core:loom guard-tokio:lock_loom; do
        package=${spec%%:*} test=${spec#*:}
        RUSTFLAGS="--cfg guard_loom" CARGO_TARGET_DIR="$loom_target" \
            cargo test -p "$package" --release --test "$test" --no-run 2>&1 | tail -1
        bin=$(RUSTFLAGS="--cfg guard_loom" CARGO_TARGET_DIR="$loom_target" \
            cargo test -p "$package" --release --test "$test" --no-run --message-format=json 2>/dev/null |
            python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])')
        for model in $("$bin" --list 2>/dev/null | sed -n 's/: test$//p'); do
            t=$(now)
            if LOOM_MAX_PREEMPTIONS="$preemptions" "$bin" --exact "$model" -q >"$out/loom.$model.log" 2>&1; then
                ok=true
            else
                ok=false
                status=1
            fi
            secs=$(elapsed "$t")
            echo "   $model: $([ "$ok" = true ] && echo ok || echo FAILED) in ${secs}s"
            record "{\"suite\":\"loom\",\"test\":\"$model\",\"file\":\"$package/tests/$test.rs\",\"ok\":$ok,\"preemptions\":$preemptions,\"seconds\":$secs}"
        done
    done
    if [ "$mutants" = 1 ]; then
        echo "== loom models against broken copies of the code (reliability/mutants.py)"
        python3 reliability/mutants.py "$out/mutant-src" "$target/loom-mutants" "$preemptions" \
            | tee -a "$log" | python3 -c '
import json, sys
caught = {}
for line in sys.stdin:
    r = json.loads(line[len("RELIABILITY "):])
    caught.setdefault(r["test"], []).extend([r["model"]] if r.get("caught") else [])
for name, models in caught.items():
    print(f"   {name}: caught by {len(models)} model(s)" if models else f"   {name}: NOT CAUGHT")'
    fi
fi

if [ "$valgrind" = 1 ]; then
    echo "== valgrind memcheck over guard-core's tests (.ci/valgrind)"
    t=$(now)
    if .ci/valgrind >"$out/valgrind.log" 2>&1; then ok=true; else ok=false; status=1; fi
    secs=$(elapsed "$t")
    python3 reliability/valgrind.py "$ok" "$secs" "$out/valgrind.log" >>"$log"
    echo "   $([ "$ok" = true ] && echo ok || echo FAILED) in ${secs}s"
fi

record "{\"suite\":\"run\",\"test\":\"total\",\"seconds\":$(elapsed "$start_all"),\"ok\":$([ "$status" = 0 ] && echo true || echo false)}"

if [ "$report" = 1 ]; then
    # Keep the lines the report is made from next to it.
    cp "$log" reliability/results.log
    python3 reliability/report.py reliability/results.log RELIABILITY.md
    echo "== RELIABILITY.md regenerated from reliability/results.log"
fi
exit "$status"
