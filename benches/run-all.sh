#!/usr/bin/env bash
# Runs every benchmark (criterion and the cross-language peers) and regenerates
# BENCHMARKS.md and benches/spawn.svg. Takes about 15 minutes; run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf target/criterion
cargo bench --bench counted --bench scope --bench registry --bench os
benches/peers/run.sh
python3 benches/report.py
