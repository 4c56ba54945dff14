//! Property test: random kustomization files (comments everywhere, with
//! multi-byte text in trailing comments on dash lines, key lines and flow
//! entries and in a block scalar before the list, every quoting style,
//! indented and unindented lists, flow entries, LF or CRLF, BOM, document
//! markers, with or without a final newline) edited with
//! random set-image arguments. The edit must succeed, touch only lines that
//! hold the edited fields, keep every comment and line ending, read back as
//! exactly the requested change, and render with `kubectl kustomize` to
//! exactly the requested image.

mod common;

use ferry::image::{FieldChange, ImageUpdate};
use ferry::kustomize::{read_images, set_images};
use proptest::prelude::*;
use similar::{ChangeTag, TextDiff};

const NAMES: [&str; 4] = ["app", "sidecar", "db", "registry.local:5000/team/web"];
const TAGS: [&str; 6] = ["v1", "1.10", "sha-3f2a9c1", "2026-11-20", "latest", "true"];
const DIGESTS: [&str; 2] = [
    "sha256:3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f",
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
];
const NEW_NAMES: [&str; 2] = ["mirror.io/team/app", "localhost:5000/x"];
/// Trailing comments of entry lines. Each holds `# 키`, so that the checks
/// below can tell them from the file's other comments: a removed field
/// takes the comment of its own line with it.
const TRAILS: [&str; 4] = ["", "  # 키 게이트웨이", "   # 키 Größe ✓ 🚀", " # 키"];

#[derive(Debug, Clone)]
struct Entry {
    name: usize,
    new_name: Option<usize>,
    tag: Option<usize>,
    digest: Option<usize>,
    /// Rotation of the key order (0 = name first).
    rotate: usize,
    quotes: [usize; 4],
    flow: bool,
    comment: bool,
    /// Trailing comment (index into `TRAILS`) of each line of the entry,
    /// in line order; a flow entry uses the first.
    trails: [usize; 4],
}

#[derive(Debug, Clone)]
struct File {
    crlf: bool,
    bom: bool,
    doc_start: bool,
    final_newline: bool,
    list_indent: usize,
    flow_list: bool,
    header_comment: bool,
    blank_between: bool,
    /// A block scalar with multi-byte text (comment-like lines included)
    /// before `images:`: yaml-rust2 counts such lines in bytes.
    block_scalar: bool,
    entries: Vec<Entry>,
}

fn quote(v: &str, style: usize) -> String {
    let plain_ok = !matches!(v, "1.10" | "2026-11-20" | "true") && !v.starts_with('[');
    match style {
        0 if plain_ok => v.to_string(),
        1 => format!("'{v}'"),
        _ => format!("\"{v}\""),
    }
}

fn entry_fields(e: &Entry) -> Vec<(&'static str, String)> {
    let mut f = vec![("name", quote(NAMES[e.name], e.quotes[0]))];
    if let Some(n) = e.new_name {
        f.push(("newName", quote(NEW_NAMES[n], e.quotes[1])));
    }
    if let Some(t) = e.tag {
        f.push(("newTag", quote(TAGS[t], e.quotes[2])));
    }
    if let Some(d) = e.digest {
        f.push(("digest", quote(DIGESTS[d], e.quotes[3])));
    }
    let r = e.rotate % f.len();
    f.rotate_left(r);
    f
}

fn render_file(f: &File) -> String {
    let mut lines: Vec<String> = Vec::new();
    if f.header_comment {
        lines.push("# header: Größe ✓".into());
    }
    if f.doc_start {
        lines.push("---".into());
    }
    lines.push("resources:".into());
    lines.push(format!(
        "{}- deployment.yaml   # the app 앱",
        " ".repeat(f.list_indent)
    ));
    if f.block_scalar {
        lines.push("commonAnnotations:".into());
        lines.push("  note: |-  # 메모".into());
        lines.push("    게이트웨이 # 주석 ✓".into());
        lines.push("    Größe 🚀".into());
    }
    if f.flow_list {
        let items: Vec<String> = f
            .entries
            .iter()
            .map(|e| {
                let kv: Vec<String> = entry_fields(e)
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect();
                format!("{{{}}}", kv.join(", "))
            })
            .collect();
        lines.push(format!(
            "images: [{}]  # flow 게이트웨이 ✓",
            items.join(", ")
        ));
    } else {
        lines.push("images:  # managed by ferry — 페리".into());
        let pad = " ".repeat(f.list_indent);
        for (i, e) in f.entries.iter().enumerate() {
            if f.blank_between && i > 0 {
                lines.push(String::new());
            }
            if e.comment {
                lines.push(format!("{pad}# entry {i}"));
            }
            let fields = entry_fields(e);
            if e.flow {
                let kv: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                lines.push(format!(
                    "{pad}- {{ {} }}{}",
                    kv.join(", "),
                    TRAILS[e.trails[0]]
                ));
                continue;
            }
            for (j, (k, v)) in fields.iter().enumerate() {
                let trail = if e.comment && j == 0 {
                    "  # first"
                } else {
                    TRAILS[e.trails[j]]
                };
                let lead = if j == 0 {
                    format!("{pad}- ")
                } else {
                    format!("{pad}  ")
                };
                lines.push(format!("{lead}{k}: {v}{trail}"));
            }
        }
    }
    lines.push("namePrefix: demo-".into());
    let eol = if f.crlf { "\r\n" } else { "\n" };
    let mut s = lines.join(eol);
    if f.final_newline {
        s.push_str(eol);
    }
    if f.bom {
        s.insert(0, '\u{feff}');
    }
    s
}

fn entry_strategy() -> impl Strategy<Value = Entry> {
    (
        0..NAMES.len(),
        proptest::option::of(0..NEW_NAMES.len()),
        proptest::option::of(0..TAGS.len()),
        proptest::option::of(0..DIGESTS.len()),
        0..4usize,
        [0..3usize, 0..3usize, 0..3usize, 0..3usize],
        proptest::bool::weighted(0.2),
        any::<bool>(),
        [
            0..TRAILS.len(),
            0..TRAILS.len(),
            0..TRAILS.len(),
            0..TRAILS.len(),
        ],
    )
        .prop_map(
            |(name, new_name, tag, digest, rotate, quotes, flow, comment, trails)| Entry {
                name,
                new_name,
                tag,
                digest,
                rotate,
                quotes,
                flow,
                comment,
                trails,
            },
        )
}

fn file_strategy() -> impl Strategy<Value = File> {
    (
        any::<(bool, bool, bool, bool)>(),
        prop_oneof![Just(0usize), Just(2), Just(4)],
        proptest::bool::weighted(0.15),
        any::<(bool, bool, bool)>(),
        proptest::collection::vec(entry_strategy(), 1..4),
    )
        .prop_map(
            |(
                (crlf, bom, doc_start, final_newline),
                list_indent,
                flow_list,
                (header_comment, blank_between, block_scalar),
                entries,
            )| {
                // Entry names must be unique, as kustomize requires.
                let mut seen = Vec::new();
                let entries = entries
                    .into_iter()
                    .filter(|e| {
                        let fresh = !seen.contains(&e.name);
                        seen.push(e.name);
                        fresh
                    })
                    .collect();
                File {
                    crlf,
                    bom,
                    doc_start,
                    final_newline,
                    list_indent,
                    flow_list,
                    header_comment,
                    blank_between,
                    block_scalar,
                    entries,
                }
            },
        )
}

fn change(kind: usize, value: &str) -> String {
    match kind {
        0 => "*".to_string(),
        1 => value.to_string(),
        _ => String::new(),
    }
}

fn update_strategy() -> impl Strategy<Value = String> {
    (
        0..NAMES.len(),
        0..3usize,
        0..NEW_NAMES.len(),
        0..3usize,
        0..TAGS.len(),
        0..3usize,
        0..DIGESTS.len(),
    )
        .prop_map(|(name, nk, nn, tk, t, dk, d)| {
            let nn = change(nk, NEW_NAMES[nn]);
            let t = change(tk, TAGS[t]);
            let d = change(dk, DIGESTS[d]);
            let mut s = format!(
                "{}={}",
                NAMES[name],
                if nn.is_empty() {
                    NAMES[name].to_string()
                } else {
                    nn
                }
            );
            if !t.is_empty() {
                s.push(':');
                s.push_str(&t);
            }
            if !d.is_empty() {
                s.push('@');
                s.push_str(&d);
            }
            s
        })
}

fn deployment() -> String {
    let containers: Vec<String> = NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| format!("      - {{name: c{i}, image: \"{n}:0.1\"}}"))
        .collect();
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: x}}\nspec:\n  selector: {{matchLabels: {{a: x}}}}\n  template:\n    metadata: {{labels: {{a: x}}}}\n    spec:\n      containers:\n{}\n",
        containers.join("\n")
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_edits_are_lossless_and_render_exactly(file in file_strategy(), arg in update_strategy()) {
        let src = render_file(&file);
        let update = ImageUpdate::parse(&arg).unwrap();
        let before = read_images(&src).unwrap();
        let out = set_images(&src, std::slice::from_ref(&update)).unwrap();

        // Only lines holding image fields (or the one-line flow list) change.
        let diff = TextDiff::from_lines(src.as_str(), out.as_str());
        for c in diff.iter_all_changes().filter(|c| c.tag() != ChangeTag::Equal) {
            let line = c.value();
            let field_line = ["name:", "newName:", "newTag:", "digest:"].iter().any(|k| line.contains(k));
            prop_assert!(field_line, "unexpected change {:?} {line:?}\n{src}\n=>\n{out}", c.tag());
            if c.tag() == ChangeTag::Delete && !line.contains('{') {
                prop_assert!(!line.contains('#') || line.contains("# first") || line.contains("# 키"), "a comment was removed: {line:?}");
            }
        }
        // Comments, line endings, BOM and final newline survive.
        // (A removed field takes the comment of its own line with it.)
        let comments = |s: &str| s.matches("# ").count() - s.matches("# first").count() - s.matches("# 키").count();
        prop_assert_eq!(comments(&src), comments(&out));
        prop_assert!(out.matches("# 키").count() <= src.matches("# 키").count());
        let eol = if file.crlf { "\r\n" } else { "\n" };
        prop_assert_eq!(out.matches('\n').count(), out.matches(eol).count());
        prop_assert_eq!(out.starts_with('\u{feff}'), file.bom);
        prop_assert_eq!(out.ends_with('\n'), file.final_newline);

        // An independent reader sees exactly the requested entry.
        let cur = before.iter().find(|e| e.name == update.name.as_str());
        let after = read_images(&out).unwrap();
        let entry = after.iter().find(|e| e.name == update.name.as_str()).unwrap();
        fn pick<T: ToString>(c: &FieldChange<T>, old: Option<&String>) -> Option<String> {
            match c {
                FieldChange::Keep => old.cloned(),
                FieldChange::Set(v) => Some(v.to_string()),
                FieldChange::Remove => None,
            }
        }
        prop_assert_eq!(&entry.new_name, &pick(&update.new_name, cur.and_then(|e| e.new_name.as_ref())));
        prop_assert_eq!(&entry.new_tag, &pick(&update.new_tag, cur.and_then(|e| e.new_tag.as_ref())));
        prop_assert_eq!(&entry.digest, &pick(&update.digest, cur.and_then(|e| e.digest.as_ref())));
        let body = out.trim_start_matches('\u{feff}');
        let reread: yaml_serde::Value = yaml_serde::from_str(body).unwrap();
        prop_assert_eq!(reread["namePrefix"].as_str(), Some("demo-"));
        prop_assert_eq!(reread["images"].as_sequence().unwrap().len(), after.len());
        for e in &after {
            let v = reread["images"].as_sequence().unwrap().iter().find(|x| x["name"].as_str() == Some(&e.name)).unwrap();
            prop_assert_eq!(v["newTag"].as_str(), e.new_tag.as_deref(), "newTag must read as a string");
        }

        // kubectl kustomize renders the requested reference.
        let want = update.rendered(
            cur.and_then(|e| e.new_name.as_deref()),
            cur.and_then(|e| e.new_tag.as_deref()),
            cur.and_then(|e| e.digest.as_deref()),
        );
        let r = ferry::image::ImageRef::parse(&want).unwrap();
        let want = if r.tag.is_none() && r.digest.is_none() { format!("{want}:0.1") } else { want };
        let images = common::rendered_images(&out, &deployment());
        prop_assert!(images.contains(&want), "{want} not in {images:?}\n{out}");
    }
}
