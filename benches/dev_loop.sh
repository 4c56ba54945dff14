#!/usr/bin/env bash
# The dev loop at scale, with the release `ferry` binary (benches/README.md,
# "Dev loop"):
#   0. where a snapshot's time goes (one overlay read, by size) and the
#      registry calls per repository of a pass (benches/loop_calls.rs);
#   1. new image -> pushed dev commit, 200 apps in one dev overlay, 30 samples;
#   2. CPU time of a no-op `ferry run --once`, 1,000 apps x 3 environments
#      (and 125/250/500 apps, to show how it scales);
#   3. peak RSS of `ferry run --resync 1` on 1,000 apps, and its exit on SIGTERM.
#
# Needs cargo, git, python3 (3.9+). Knobs (environment): APPS=200 SAMPLES=30
# NOOP_APPS=1000 NOOP_RUNS=2 SCALE=125,250,500 DAEMON_SECONDS=5 CALLS_APPS=1000
# SEED=20261126 ONLY=0,1,2,3 WORK=dir (kept; default a temporary dir, removed)
# OUT=results.json (default target/dev_loop.json). FERRY_BIN and
# LOOP_CALLS_BIN (both) skip the build and use those binaries.
#
# Time (2 cores, 2026-11-26, commit 3b57539): about 15 s plus the build.
# Before df061bc a pass at 1,000 apps x 3 environments took ~100 s of CPU
# and the whole script ~6 minutes (see README). Everything runs one process
# at a time, so about one core is busy.
set -euo pipefail
cd "$(dirname "$0")/.."

ONLY=${ONLY:-0,1,2,3}
OUT=${OUT:-target/dev_loop.json}

if [ -n "${FERRY_BIN:-}" ] && [ -n "${LOOP_CALLS_BIN:-}" ]; then
    ferry_bin=$FERRY_BIN harness=$LOOP_CALLS_BIN
else
    cargo build --release --bin ferry
    ferry_bin=target/release/ferry
    harness=$(cargo bench --bench loop_calls --no-run --message-format=json |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "loop_calls" and m.get("executable"):
        print(m["executable"])')
fi
[ -x "$ferry_bin" ] && [ -x "$harness" ] || { echo "dev_loop.sh: missing ferry or loop_calls binary" >&2; exit 1; }

# Copies, so that a concurrent `cargo build` cannot swap a binary mid-run.
bin=$(mktemp -d "${TMPDIR:-/tmp}/ferry-dev-loop-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT
cp "$ferry_bin" "$bin/ferry"
cp "$harness" "$bin/loop_calls"

rev=$(git rev-parse --short HEAD 2>/dev/null || echo "(not a git checkout)")
git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || rev+=" + uncommitted changes"
[ -z "${FERRY_BIN:-}" ] || rev="$FERRY_BIN (checkout at $rev)"
echo "ferry $rev; $(nproc) cpus; $(date -u +%FT%TZ)"
if [[ ",$ONLY," == *,0,* ]]; then
    echo; echo "== 0. one overlay read, by size"
    "$bin/loop_calls" probe
    echo; echo "== 0. registry calls per repository, ${CALLS_APPS:-1000} apps x 3 environments"
    "$bin/loop_calls" calls "${CALLS_APPS:-1000}"
fi
only=$(echo ",$ONLY," | sed 's/,0,/,/; s/^,//; s/,$//')
[ -n "$only" ] || exit 0
args=(--ferry "$bin/ferry" --harness "$bin/loop_calls" --only "$only" --json "$OUT"
    --apps "${APPS:-200}" --samples "${SAMPLES:-30}" --seed "${SEED:-20261126}"
    --noop-apps "${NOOP_APPS:-1000}" --noop-runs "${NOOP_RUNS:-2}" --scale "${SCALE-125,250,500}"
    --daemon-seconds "${DAEMON_SECONDS:-5}")
[ -z "${WORK:-}" ] || args+=(--work "$WORK")
python3 benches/dev_loop.py "${args[@]}"
