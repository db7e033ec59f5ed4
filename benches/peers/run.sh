#!/usr/bin/env bash
# Runs the cross-language peers and writes their figures to target/peers.jsonl.
# A missing runtime is skipped, not an error.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=target/peers.jsonl
mkdir -p target
: > "$out"
if command -v python3 >/dev/null; then
    python3 benches/peers/finalize.py >> "$out"
    python3 benches/peers/close_fds.py >> "$out"
    python3 benches/peers/spawn_rss.py >> "$out"
else
    echo "skipped: no python3"
fi
if command -v javac >/dev/null && command -v java >/dev/null; then
    build=$(mktemp -d)
    javac -d "$build" benches/peers/CleanerPeer.java
    java -cp "$build" CleanerPeer >> "$out"
    rm -rf "$build"
else
    echo "skipped: no java"
fi
cat "$out"
