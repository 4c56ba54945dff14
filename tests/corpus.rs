//! Every image of every real-world kustomization in `shared/corpus/kustomize`
//! gets a tag edit and a digest edit. Each must change exactly one line (the
//! edited or inserted field), keep every other byte, and read back — through
//! an independent YAML parser — as the original data with only that change.

use std::path::PathBuf;

use ferry::image::ImageUpdate;
use ferry::kustomize::{EditErrorKind, read_images, set_images};
use similar::{ChangeTag, TextDiff};

const TAG: &str = "v9.9.9-ferry";
const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";

fn corpus_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/kustomize");
    assert!(dir.is_dir(), "corpus missing at {}", dir.display());
    dir
}

fn corpus_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Names of the `images:` entries, read by an independent parser: the
/// editor must handle every entry, even of files whose values
/// `read_images` refuses.
fn entry_names(src: &str) -> Vec<String> {
    let doc: yaml_serde::Value = yaml_serde::from_str(src).unwrap();
    doc["images"]
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|e| e["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Corpus files with a value outside the image grammar, the field and the
/// value's start: placeholders for a later substitution and a shortened
/// digest in documentation. kustomize would render invalid references.
const INVALID: [(&str, &str, (usize, usize)); 3] = [
    (
        "20_microservices-demo_images-registry.yaml",
        "newName",
        (19, 12),
    ),
    (
        "25_kustomize_examples-transformerconfigs-images.yaml",
        "digest",
        (19, 11),
    ),
    ("44_qcon-api_overlay-review.yaml", "newName", (29, 14)),
];

/// The data of `src` with `key` of the images entry `name` set to `value`.
fn expected(src: &str, name: &str, key: &str, value: &str) -> yaml_serde::Value {
    let mut doc: yaml_serde::Value = yaml_serde::from_str(src).unwrap();
    let images = doc.get_mut("images").unwrap().as_sequence_mut().unwrap();
    let entry = images
        .iter_mut()
        .find(|e| e.get("name").and_then(|n| n.as_str()) == Some(name))
        .unwrap()
        .as_mapping_mut()
        .unwrap();
    entry.insert(key.into(), value.into());
    doc
}

#[test]
fn every_corpus_image_edit_is_lossless() {
    let files = corpus_files();
    assert_eq!(files.len(), 35, "the corpus has 35 kustomization files");
    let mut edits = 0;
    for (file, src) in &files {
        for name in entry_names(src) {
            for (key, value, arg) in [
                ("newTag", TAG, format!("{name}=*:{TAG}@*")),
                ("digest", DIGEST, format!("{name}=*:*@{DIGEST}")),
            ] {
                let ctx = format!("{file}: {arg}");
                let update = ImageUpdate::parse(&arg).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                let out = set_images(src, &[update]).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                edits += 1;

                // Exactly one line differs: the field, replaced or inserted.
                let diff = TextDiff::from_lines(src.as_str(), out.as_str());
                let removed: Vec<&str> = diff
                    .iter_all_changes()
                    .filter(|c| c.tag() == ChangeTag::Delete)
                    .map(|c| c.value())
                    .collect();
                let added: Vec<&str> = diff
                    .iter_all_changes()
                    .filter(|c| c.tag() == ChangeTag::Insert)
                    .map(|c| c.value())
                    .collect();
                assert_eq!(added.len(), 1, "{ctx}: added {added:?}");
                let line = added[0].trim_end();
                assert!(
                    [
                        format!("{key}: {value}"),
                        format!("{key}: \"{value}\""),
                        format!("{key}: '{value}'")
                    ]
                    .iter()
                    .any(|f| line.ends_with(f.as_str()) || line.contains(&format!("{f} #"))),
                    "{ctx}: {added:?}"
                );
                assert!(removed.len() <= 1, "{ctx}: removed {removed:?}");
                if let Some(r) = removed.first() {
                    assert!(r.contains(&format!("{key}:")), "{ctx}: removed {r:?}");
                    // Same line with only the value changed.
                    let prefix = &r[..r.find(&format!("{key}:")).unwrap()];
                    assert!(added[0].starts_with(prefix), "{ctx}: indentation changed");
                }
                // Same line ending as the file, or none on a last line without one.
                let eol = if src.contains("\r\n") { "\r\n" } else { "\n" };
                assert!(added[0].ends_with(eol) || out.ends_with(added[0]), "{ctx}");

                // An independent parser reads exactly the requested change.
                let got: yaml_serde::Value =
                    yaml_serde::from_str(&out).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert_eq!(got, expected(src, &name, key, value), "{ctx}");
            }
        }
    }
    assert!(
        edits >= 150,
        "only {edits} edits: the corpus has more images"
    );
}

#[test]
fn reading_then_rewriting_the_same_values_changes_nothing() {
    for (file, src) in corpus_files() {
        for entry in read_images(&src).unwrap_or_else(|e| panic!("{file}: {e}")) {
            if entry.problem.is_some() {
                continue;
            }
            let arg = format!("{}=*:*@*", entry.name);
            let out = set_images(&src, &[ImageUpdate::parse(&arg).unwrap()]).unwrap();
            assert_eq!(out, src, "{file}: {arg}");
        }
    }
}

#[test]
fn values_outside_the_image_grammar_are_refused_with_field_and_position() {
    let mut refused = Vec::new();
    for (file, src) in corpus_files() {
        // The file stays readable: a bad value concerns its entry only.
        let entries = read_images(&src).unwrap_or_else(|e| panic!("{file}: {e}"));
        for e in entries.iter().filter_map(|e| e.problem.as_ref()) {
            let EditErrorKind::InvalidValue { field, .. } = &e.kind else {
                panic!("{file}: {e}");
            };
            let (line, col) = e.pos.unwrap();
            let text = src.lines().nth(line - 1).unwrap();
            assert!(
                text.trim_start().starts_with(&format!("{field}:")),
                "{file}: {e} points at {text:?}"
            );
            // The first bad entry of each file is the one INVALID names.
            if !refused.iter().any(|(f, _, _)| *f == file) {
                refused.push((file.clone(), field.clone(), (line, col)));
            }
        }
    }
    let want: Vec<(String, String, (usize, usize))> = INVALID
        .iter()
        .map(|(f, k, p)| (f.to_string(), k.to_string(), *p))
        .collect();
    assert_eq!(refused, want);
}
