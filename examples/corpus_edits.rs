//! ferry's side of the lossless-edit benchmark (`benches/compare.sh`, see
//! `benches/README.md`).
//!
//! For every kustomization in `--input` and every named entry of its
//! `images:` list, makes two independent edits of the original text: set
//! `newTag` to `v9.9.9-ferry`, and set `digest` to `sha256:abab…`. Each
//! result is written to `--output/<file>.<entry index>.<tag|digest>`; then
//! all edits are repeated `--iterations` times on the in-memory texts and a
//! JSON summary is printed: edit count, mean nanoseconds per edit (YAML
//! parse + edit + emit, i.e. one `set_images` call) and every refusal.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use ferry::image::ImageUpdate;
use ferry::kustomize::{read_images, set_images};

const TAG: &str = "v9.9.9-ferry";
const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";

#[derive(Parser)]
struct Args {
    /// Directory of kustomization files (read only).
    #[arg(long)]
    input: PathBuf,
    /// Directory for the edited files, one per edit.
    #[arg(long)]
    output: PathBuf,
    /// Timed repetitions of the whole edit set.
    #[arg(long, default_value_t = 200)]
    iterations: u32,
}

/// One edit: which input text, and the `set-image` argument to apply.
struct Edit {
    id: String,
    src: usize,
    update: ImageUpdate,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&args.input).context("reading --input")? {
        let path = entry?.path();
        if path.is_file() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text =
                std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
            files.push((name, text));
        }
    }
    files.sort();

    // The edit set. A file whose entries cannot be read yields no edit ids
    // here; the judge charges its edits to `file_errors`.
    let mut edits = Vec::new();
    let mut refused: Vec<(String, String)> = Vec::new();
    let mut file_errors = Vec::new();
    for (src, (file, text)) in files.iter().enumerate() {
        let entries = match read_images(text) {
            Ok(entries) => entries,
            Err(e) => {
                file_errors.push((file.clone(), e.to_string()));
                continue;
            }
        };
        for (index, entry) in entries.iter().enumerate() {
            let name = &entry.name;
            for (kind, arg) in [
                ("tag", format!("{name}=*:{TAG}@*")),
                ("digest", format!("{name}=*:*@{DIGEST}")),
            ] {
                let id = format!("{file}.{index}.{kind}");
                match ImageUpdate::parse(&arg) {
                    Ok(update) => edits.push(Edit { id, src, update }),
                    Err(e) => refused.push((id, e.to_string())),
                }
            }
        }
    }

    let planned = edits.len() + refused.len();

    // One untimed pass writes the results (and warms up).
    std::fs::create_dir_all(&args.output).context("creating --output")?;
    for edit in &edits {
        match set_images(&files[edit.src].1, std::slice::from_ref(&edit.update)) {
            Ok(out) => std::fs::write(args.output.join(&edit.id), out)?,
            Err(e) => refused.push((edit.id.clone(), e.to_string())),
        }
    }

    let start = Instant::now();
    for _ in 0..args.iterations {
        for edit in &edits {
            let src = black_box(files[edit.src].1.as_str());
            let _ = black_box(set_images(src, std::slice::from_ref(&edit.update)));
        }
    }
    let timed = edits.len() as u128 * u128::from(args.iterations);
    let mean_ns = start.elapsed().as_nanos() / timed.max(1);

    println!(
        "{{\"tool\":\"ferry\",\"version\":\"{}\",\"edits\":{},\"iterations\":{},\"mean_ns\":{mean_ns},\"refused\":{},\"file_errors\":{}}}",
        env!("CARGO_PKG_VERSION"),
        planned,
        args.iterations,
        json_object(&refused),
        json_object(&file_errors),
    );
    Ok(())
}

/// `{"key": "value", ...}` with JSON string escaping.
fn json_object(pairs: &[(String, String)]) -> String {
    let items: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}:{}", json_string(k), json_string(v)))
        .collect();
    format!("{{{}}}", items.join(","))
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => write!(out, "\\u{:04x}", u32::from(c)).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
