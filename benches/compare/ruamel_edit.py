"""ruamel.yaml side of the lossless-edit benchmark (see benches/README.md).

Same edit set and output names as examples/corpus_edits.rs: for each named
entry of `images:`, set `newTag`, and separately set `digest`, each on the
original text, with a round-trip load / assign / dump. Prints a JSON summary.
"""

import argparse
import io
import json
import pathlib
import time

import ruamel.yaml

TAG = "v9.9.9-ferry"
DIGEST = "sha256:" + "ab" * 32


def new_yaml():
    yaml = ruamel.yaml.YAML()  # round-trip mode, default layout
    yaml.preserve_quotes = True
    return yaml


def plan(files, file_errors):
    """Yields (edit id, source text, entry index, key, value)."""
    yaml = new_yaml()
    for name, src in files:
        try:
            data = yaml.load(src)
        except ruamel.yaml.YAMLError as err:
            file_errors[name] = str(err)
            continue
        images = data.get("images") if isinstance(data, dict) else None
        if not isinstance(images, list):
            continue
        for i, entry in enumerate(images):
            if isinstance(entry, dict) and "name" in entry:
                yield f"{name}.{i}.tag", src, i, "newTag", TAG
                yield f"{name}.{i}.digest", src, i, "digest", DIGEST


def edit(yaml, src, index, key, value):
    """One edit: parse, assign, emit."""
    data = yaml.load(src)
    data["images"][index][key] = value
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", type=pathlib.Path, required=True)
    ap.add_argument("--output", type=pathlib.Path, required=True)
    ap.add_argument("--iterations", type=int, default=20)
    args = ap.parse_args()

    files = sorted((p.name, p.read_bytes().decode()) for p in args.input.iterdir() if p.is_file())
    file_errors = {}
    edits = list(plan(files, file_errors))
    yaml = new_yaml()

    # One untimed pass writes the results (and warms up).
    args.output.mkdir(parents=True, exist_ok=True)
    refused = {}
    for edit_id, *e in edits:
        try:
            (args.output / edit_id).write_bytes(edit(yaml, *e).encode())
        except Exception as err:  # noqa: BLE001 - any failure is a refusal
            refused[edit_id] = f"{type(err).__name__}: {err}"

    start = time.perf_counter_ns()
    for _ in range(args.iterations):
        for _, *e in edits:
            try:
                edit(yaml, *e)
            except Exception:  # noqa: BLE001 - recorded above
                pass
    mean_ns = (time.perf_counter_ns() - start) // max(1, len(edits) * args.iterations)

    print(json.dumps({
        "tool": "ruamel.yaml",
        "version": ruamel.yaml.__version__,
        "edits": len(edits),
        "iterations": args.iterations,
        "mean_ns": mean_ns,
        "refused": refused,
        "file_errors": file_errors,
    }))


if __name__ == "__main__":
    main()
