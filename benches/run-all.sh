#!/usr/bin/env bash
# Runs every benchmark (criterion and the cross-language peers) and regenerates
# BENCHMARKS.md, benches/spawn.svg and benches/spawn_fds.svg. Takes about 17 minutes; run it
# on a quiet machine with 8 GiB available (`os/spawn_true` and benches/peers/spawn_rss.py
# touch a 4 GiB heap, one after the other; with less, their 4 GiB rows are skipped and say so).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf target/criterion
cargo bench --bench counted --bench scope --bench registry --bench census --bench os \
    --bench async_lock --bench async_io
benches/peers/run.sh
python3 benches/report.py --plots
