#!/usr/bin/env bash
# Side-by-side benchmark of lossless kustomize image edits: ferry vs Python
# ruamel.yaml vs npm yaml, judged by one script (see benches/README.md).
#
# Usage: benches/compare.sh [CORPUS_DIR]
#   CORPUS_DIR        default: shared/corpus/kustomize beside the checkout
#   FERRY_ITERATIONS  timed passes over the edit set for ferry (default 200)
#   OTHER_ITERATIONS  the same for ruamel.yaml and yaml (default 20)
# Needs python3 (with venv), node and npm; installs into benches/compare.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cmp="$here/compare"
corpus="$(cd "${1:-$root/../shared/corpus/kustomize}" && pwd)"
out="$cmp/out"

# 1. Python: ruamel.yaml at the pinned version.
if [ ! -x "$cmp/.venv/bin/pip" ]; then
    python3 -m venv --clear "$cmp/.venv" || {
        echo "python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2
        exit 1
    }
fi
"$cmp/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$cmp/requirements.txt"

# 2. Node: yaml at the version in package-lock.json.
(cd "$cmp" && npm ci --no-audit --no-fund --loglevel=error)

# 3-4. Run the three tools on the same corpus; each writes one file per edit
# and prints a JSON summary.
rm -rf "$out"
mkdir -p "$out"
cargo run --quiet --release --example corpus_edits --manifest-path "$root/Cargo.toml" -- \
    --input "$corpus" --output "$out/ferry" --iterations "${FERRY_ITERATIONS:-200}" >"$out/ferry.json"
"$cmp/.venv/bin/python" "$cmp/ruamel_edit.py" \
    --input "$corpus" --output "$out/ruamel" --iterations "${OTHER_ITERATIONS:-20}" >"$out/ruamel.json"
node "$cmp/yaml_edit.mjs" \
    --input "$corpus" --output "$out/yaml" --iterations "${OTHER_ITERATIONS:-20}" >"$out/yaml.json"

# 5. Judge all outputs the same way; the table and every failure go to
# stdout and to out/report.md.
{
    echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
        "Python $("$cmp/.venv/bin/python" -c 'import platform; print(platform.python_version())')," \
        "node $(node --version), $(rustc --version | cut -d' ' -f1-2)"
    echo
    "$cmp/.venv/bin/python" "$cmp/judge.py" "$corpus" "$out" ferry ruamel yaml
} | tee "$out/report.md"
