"""Judge of the lossless-edit benchmark (see benches/README.md).

Usage: judge.py CORPUS OUT TOOL...

Builds the edit set from CORPUS, reads each tool's summary OUT/<TOOL>.json
and outputs OUT/<TOOL>/<edit id>, judges every edit of every tool the same
way, and prints a markdown table (speed-ups are relative to the first TOOL)
followed by each tool's edits that were not lossless, with the reason.
"""

import difflib
import json
import pathlib
import sys

import ruamel.yaml

TAG = "v9.9.9-ferry"
DIGEST = "sha256:" + "ab" * 32
ROUND_TRIP = ruamel.yaml.YAML()  # only for line numbers of the original
SAFE = ruamel.yaml.YAML(typ="safe", pure=True)  # plain data for comparison


def blank_or_comment(line):
    text = line.strip()
    return not text or text.startswith(b"#")


def edit_set(corpus):
    """Yields (edit id, original bytes, entry index, key, value, first, last),
    where first..last are the 0-based lines of the entry in the original."""
    for path in sorted(p for p in corpus.iterdir() if p.is_file()):
        raw = path.read_bytes()
        root = ROUND_TRIP.load(raw.decode())
        images = root.get("images") if isinstance(root, dict) else None
        if not isinstance(images, list):
            continue
        lines = raw.splitlines(keepends=True)
        keys = list(root)
        after = keys.index("images") + 1
        end = root.lc.key(keys[after])[0] if after < len(keys) else len(lines)
        starts = [images.lc.item(i)[0] for i in range(len(images))] + [end]
        for i, entry in enumerate(images):
            if not (isinstance(entry, dict) and "name" in entry):
                continue
            first, last = starts[i], max(starts[i], starts[i + 1] - 1)
            while last > first and blank_or_comment(lines[last]):
                last -= 1
            for kind, key, value in (("tag", "newTag", TAG), ("digest", "digest", DIGEST)):
                yield f"{path.name}.{i}.{kind}", raw, i, key, value, first, last


def short(value):
    text = repr(value)
    return text if len(text) <= 90 else text[:87] + "..."


def difference(want, got, path="$"):
    """The first place where `got` differs from `want`, or None."""
    if isinstance(want, dict) and isinstance(got, dict):
        for k in list(want) + [k for k in got if k not in want]:
            if k not in want or k not in got:
                return f"{path}.{k}: {short(want.get(k))} -> {short(got.get(k))}"
            found = difference(want[k], got[k], f"{path}.{k}")
            if found:
                return found
        return None
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (w, g) in enumerate(zip(want, got)):
            found = difference(w, g, f"{path}[{i}]")
            if found:
                return found
        return None
    if type(want) is not type(got) or want != got:
        return f"{path}: {short(want)} -> {short(got)}"
    return None


def lossless(raw, out, index, key, value, first, last):
    """None when the edit is lossless, else the reason it is not."""
    a, b = raw.splitlines(keepends=True), out.splitlines(keepends=True)
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        inside = first <= i1 <= last + 1 if op == "insert" else first <= i1 and i2 - 1 <= last
        if op == "equal" or inside:
            continue
        entry = f"(entry is lines {first + 1}-{last + 1})"
        if op == "insert":
            return f"inserts {short(b[j1])} before line {i1 + 1} {entry}"
        if op == "delete":
            return f"deletes line {i1 + 1} {short(a[i1])} {entry}"
        return f"changes line {i1 + 1} {short(a[i1])} to {short(b[j1])} {entry}"
    try:
        got = SAFE.load(out)
    except ruamel.yaml.YAMLError as err:
        return f"output does not parse: {short(str(err))}"
    want = SAFE.load(raw)
    want["images"][index][key] = value
    found = difference(want, got)
    return f"data differs at {found}" if found else None


def main():
    corpus, out, tools = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3:]
    edits = list(edit_set(corpus))
    rows, failures = [], {}
    for tool in tools:
        summary = json.loads((out / f"{tool}.json").read_text())
        good, lossy, refused, failures[tool] = 0, 0, 0, []
        for edit_id, raw, *edit in edits:
            path = out / tool / edit_id
            file = edit_id.rsplit(".", 2)[0]
            if path.exists():
                reason = lossless(raw, path.read_bytes(), *edit)
                good, lossy = good + (reason is None), lossy + (reason is not None)
            elif edit_id in summary["refused"]:
                refused, reason = refused + 1, "refused: " + summary["refused"][edit_id]
            elif file in summary["file_errors"]:
                refused, reason = refused + 1, "refused: " + summary["file_errors"][file]
            else:
                refused, reason = refused + 1, "failed: no output"
            if reason:
                failures[tool].append((edit_id, reason))
        rows.append((summary, good, lossy, refused))

    base = rows[0][0]["mean_ns"]
    print(f"| tool | version | edits | lossless | lossy | refused/failed | mean µs/edit "
          f"| {rows[0][0]['tool']} speed-up |")
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    for summary, good, lossy, refused in rows:
        speedup = f"{summary['mean_ns'] / base:.1f}×" if summary is not rows[0][0] else "1×"
        print(f"| {summary['tool']} | {summary['version']} | {len(edits)} | {good} | {lossy} "
              f"| {refused} | {summary['mean_ns'] / 1000:.1f} | {speedup} |")
    for tool, (summary, *_) in zip(tools, rows):
        print(f"\n### {summary['tool']}: {len(failures[tool])} edits not lossless\n")
        for edit_id, reason in failures[tool]:
            print(f"- `{edit_id}`: {reason}")


if __name__ == "__main__":
    main()
