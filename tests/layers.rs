//! The layer order written in docs/ARCHITECTURE.md ("## Layers") holds in
//! the code: a module of `src/` names only modules of its own or a lower
//! layer, through `crate::` paths or `super::` chains that reach the crate
//! root. The list is read from the document, so the two cannot drift: a
//! module missing from it, or listed but gone, fails too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Module name → layer number, from the "## Layers" section: lines such as
/// `0. image, yaml`, numbered from 0 in order.
fn parse_layers(doc: &str) -> Result<BTreeMap<String, usize>, String> {
    let mut lines = doc.lines().enumerate();
    if !lines.any(|(_, l)| l.trim() == "## Layers") {
        return Err("no \"## Layers\" section".into());
    }
    let mut layers = BTreeMap::new();
    let mut next = 0;
    for (i, line) in lines {
        let line = line.trim();
        if line.starts_with("## ") {
            break;
        }
        let Some((num, names)) = line.split_once(". ") else {
            continue;
        };
        let Ok(num) = num.parse::<usize>() else {
            continue;
        };
        if num != next {
            return Err(format!("line {}: layer {num}, expected {next}", i + 1));
        }
        next += 1;
        for name in names.split(',').map(str::trim) {
            let name = name.trim_matches('`');
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("line {}: {name:?} is not a module name", i + 1));
            }
            if layers.insert(name.to_string(), num).is_some() {
                return Err(format!("line {}: {name} is listed twice", i + 1));
            }
        }
    }
    if layers.is_empty() {
        return Err("the \"## Layers\" section lists no layer".into());
    }
    Ok(layers)
}

/// `src` with comments (doc comments included) and the contents of string
/// and character literals blanked out; line breaks are kept, so line
/// numbers still match.
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(i + k).copied();
        if at(0) == Some('/') && at(1) == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if at(0) == Some('/') && at(1) == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if at(0) == Some('"') {
            out.push('"');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if let Some(&ch) = c.get(i) {
                    blank(&mut out, ch);
                }
                i += 1;
            }
            out.push('"');
            i += 1;
        } else if at(0) == Some('r')
            && (i == 0 || !ident(c[i - 1]) || (c[i - 1] == 'b' && (i < 2 || !ident(c[i - 2]))))
            && matches!(at(1), Some('"' | '#'))
        {
            // A raw string, r"..." or r#"..."#, unless `r#` starts a raw
            // identifier.
            let hashes = c[i + 1..].iter().take_while(|&&ch| ch == '#').count();
            if c.get(i + 1 + hashes) != Some(&'"') {
                out.push('r');
                i += 1;
                continue;
            }
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            i += 2 + hashes;
            out.push_str("r\"");
            while i < c.len() && !c[i..].starts_with(&close) {
                blank(&mut out, c[i]);
                i += 1;
            }
            out.push('"');
            i += close.len();
        } else if at(0) == Some('\'') && (at(1) == Some('\\') || at(2) == Some('\'')) {
            // A character literal; `'a` without a closing quote is a lifetime.
            out.push('\'');
            i += 1;
            if c.get(i) == Some(&'\\') {
                // The escape and the character it escapes (`'\''`).
                out.push_str("  ");
                i += 2;
            }
            while i < c.len() && c[i] != '\'' {
                blank(&mut out, c[i]);
                i += 1;
            }
            out.push('\'');
            i += 1;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Other(char),
}

/// Tokens of code (after [`code_only`]) with their 1-based line.
fn tokens(code: &str) -> Vec<(usize, Tok)> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((line, Tok::Ident(c[start..i].iter().collect())));
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push((line, Tok::PathSep));
            i += 2;
        } else {
            out.push((
                line,
                match ch {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    ',' => Tok::Comma,
                    _ => Tok::Other(ch),
                },
            ));
            i += 1;
        }
    }
    out
}

/// The top-level modules named from a file, with the line: the first
/// segment after `crate::` (each item of a `crate::{..}` group), or after a
/// `super::` chain that climbs to the crate root. `path` is the file's
/// module path (`["gates", "cosign"]` for src/gates/cosign.rs); inline
/// `mod name { .. }` blocks are followed.
fn edges(src: &str, path: &[String]) -> Vec<(usize, String)> {
    let toks = tokens(&code_only(src));
    let ident = |k: usize| match toks.get(k) {
        Some((_, Tok::Ident(s))) => Some(s.as_str()),
        _ => None,
    };
    let is = |k: usize, t: Tok| toks.get(k).map(|(_, x)| x) == Some(&t);
    // First segments of the path starting at token `k`.
    let heads = |k: usize| -> Vec<String> {
        match toks.get(k) {
            Some((_, Tok::Ident(s))) => vec![s.clone()],
            Some((_, Tok::Open)) => {
                let (mut depth, mut j, mut out, mut first) = (0usize, k, Vec::new(), true);
                while let Some((_, t)) = toks.get(j) {
                    match t {
                        Tok::Open => depth += 1,
                        Tok::Close => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        Tok::Comma if depth == 1 => first = true,
                        Tok::Ident(s) if depth == 1 && first => {
                            first = false;
                            if s != "self" {
                                out.push(s.clone());
                            }
                        }
                        _ if depth == 1 => first = false,
                        _ => {}
                    }
                    j += 1;
                }
                out
            }
            _ => Vec::new(),
        }
    };
    let mut out = Vec::new();
    let mut depth = 0usize;
    // Inline modules: (brace depth inside them, name).
    let mut inline: Vec<usize> = Vec::new();
    for k in 0..toks.len() {
        let line = toks[k].0;
        match &toks[k].1 {
            Tok::Open => {
                depth += 1;
                if k >= 2 && ident(k - 2) == Some("mod") && ident(k - 1).is_some() {
                    inline.push(depth);
                }
            }
            Tok::Close => {
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(s) if s == "crate" && is(k + 1, Tok::PathSep) => {
                let starts_path =
                    k == 0 || !matches!(toks[k - 1].1, Tok::PathSep | Tok::Other('$'));
                if starts_path {
                    out.extend(heads(k + 2).into_iter().map(|m| (line, m)));
                }
            }
            Tok::Ident(s)
                if s == "super"
                    && is(k + 1, Tok::PathSep)
                    && (k == 0 || toks[k - 1].1 != Tok::PathSep) =>
            {
                let mut n = 0;
                while ident(k + 2 * n) == Some("super") && is(k + 2 * n + 1, Tok::PathSep) {
                    n += 1;
                }
                if n == path.len() + inline.len() {
                    out.extend(heads(k + 2 * n).into_iter().map(|m| (line, m)));
                }
            }
            _ => {}
        }
    }
    out
}

/// The violations in one file of module `path[0]`, one line each.
fn check_file(
    layers: &BTreeMap<String, usize>,
    file: &str,
    path: &[String],
    src: &str,
) -> Vec<String> {
    let own = &path[0];
    let Some(&mine) = layers.get(own) else {
        return vec![format!("{file}: module {own} is not in the layer list")];
    };
    let mut out = Vec::new();
    for (line, to) in edges(src, path) {
        if &to == own {
            continue;
        }
        match layers.get(&to) {
            None => out.push(format!(
                "{file}:{line}: {own} uses {to}, which is not in the layer list"
            )),
            Some(&theirs) if theirs > mine => out.push(format!(
                "{file}:{line}: {own} (layer {mine}) uses {to} (layer {theirs}), a higher layer"
            )),
            Some(_) => {}
        }
    }
    out
}

/// Every `.rs` file of `dir`, recursively, sorted.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// src/gates/cosign.rs → ["gates", "cosign"]; mod.rs names its directory.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    if last != "mod.rs" {
        parts.push(last.trim_end_matches(".rs").to_string());
    }
    parts
}

#[test]
fn modules_use_only_their_own_or_lower_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let layers = parse_layers(&doc).unwrap_or_else(|e| panic!("docs/ARCHITECTURE.md: {e}"));
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        // The crate root declares the modules; the binary is its own crate.
        if rel == Path::new("lib.rs") || rel == Path::new("main.rs") {
            continue;
        }
        let path = module_path(rel);
        seen.insert(path[0].clone());
        let text = std::fs::read_to_string(f).unwrap();
        let shown = format!("src/{}", rel.display());
        problems.extend(check_file(&layers, &shown, &path, &text));
    }
    for listed in layers.keys() {
        if !seen.contains(listed) {
            problems.push(format!(
                "docs/ARCHITECTURE.md lists {listed}, which is not a module of src/"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "layer order broken:\n{}",
        problems.join("\n")
    );
}

fn planted_layers() -> BTreeMap<String, usize> {
    parse_layers("# x\n\n## Layers\n\nprose 1. here\n0. image, yaml\n1. config\n2. promotion, cli\n\n## Next\n3. nope\n").unwrap()
}

#[test]
fn a_planted_upward_edge_is_caught_and_comments_are_not() {
    let layers = planted_layers();
    assert_eq!(layers.get("cli"), Some(&2));
    assert_eq!(layers.get("nope"), None);
    let src = r####"//! Uses crate::cli in a doc comment: not an edge.
use crate::image::Digest;
/* crate::cli /* nested crate::cli */ crate::cli */
/// [`crate::promotion::plan`]
fn f<'a>(x: &'a str) -> char {
    let s = "crate::cli \" crate::cli";
    let r = r##"crate::cli "# crate::cli"##;
    let q = '"';
    crate::promotion::plan(); // crate::cli
    '\''
}
use crate::{yaml, cli::run};
"####;
    let path = vec!["config".to_string(), "validate".to_string()];
    assert_eq!(
        check_file(&layers, "src/config/validate.rs", &path, src),
        vec![
            "src/config/validate.rs:9: config (layer 1) uses promotion (layer 2), a higher layer"
                .to_string(),
            "src/config/validate.rs:12: config (layer 1) uses cli (layer 2), a higher layer"
                .to_string(),
        ]
    );
}

#[test]
fn super_chains_to_the_crate_root_and_unknown_modules_count() {
    let layers = planted_layers();
    let src = "use super::super::cli;\nmod tests {\n    use super::super::super::promotion;\n    use super::super::image;\n}\nuse super::super::elsewhere::X;\nuse super::sibling;\npub(super) fn f() {}\n";
    let path = vec!["config".to_string(), "model".to_string()];
    assert_eq!(
        check_file(&layers, "src/config/model.rs", &path, src),
        vec![
            "src/config/model.rs:1: config (layer 1) uses cli (layer 2), a higher layer"
                .to_string(),
            "src/config/model.rs:3: config (layer 1) uses promotion (layer 2), a higher layer"
                .to_string(),
            "src/config/model.rs:6: config uses elsewhere, which is not in the layer list"
                .to_string(),
        ]
    );
    assert_eq!(
        check_file(&layers, "src/gitops/mod.rs", &["gitops".to_string()], ""),
        vec!["src/gitops/mod.rs: module gitops is not in the layer list".to_string()]
    );
}

#[test]
fn a_malformed_layer_list_is_refused() {
    assert!(
        parse_layers("## Layers\n1. image\n")
            .unwrap_err()
            .contains("expected 0")
    );
    assert!(
        parse_layers("## Layers\n0. image, image\n")
            .unwrap_err()
            .contains("twice")
    );
    assert!(parse_layers("no section\n0. image\n").is_err());
    assert!(parse_layers("## Layers\n\n## Next\n").is_err());
}
