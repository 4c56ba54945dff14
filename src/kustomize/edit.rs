//! Lossless edits of the `images:` list: each change is a splice of exact
//! byte ranges, so every byte that is not part of the change stays as it was.

use std::collections::{HashMap, HashSet};

use yaml_rust2::scanner::TScalarStyle;

use super::entries::{self, Entry, FIELDS, ImagesList, node_end};
use super::error::{EditError, EditErrorKind};
use super::scalar;
use super::verify;
use super::wanted::wanted_fields;
use crate::image::ImageUpdate;
use crate::yaml::Text;
use crate::yaml::{Kind, Node, tree};

/// One replacement of `src[at..end]` by `text`.
#[derive(Debug)]
struct Splice {
    at: usize,
    end: usize,
    text: String,
}

/// Applies `updates` to the kustomization text `src` and returns the new
/// text. Nothing outside the edited values changes; the result is
/// re-parsed and checked before it is returned.
pub fn set_images(src: &str, updates: &[ImageUpdate]) -> Result<String, EditError> {
    // Lookups by name go through hash maps so that an edit stays linear in
    // the number of entries and of updates.
    let mut given = HashSet::with_capacity(updates.len());
    for u in updates {
        if !given.insert(u.name.as_str()) {
            return Err(EditError::new(EditErrorKind::DuplicateUpdate {
                name: u.name.to_string(),
            }));
        }
    }
    let text = Text::new(src);
    let root = tree::parse(&text)?;
    let list = entries::images(&text, root.as_ref())?;

    let mut splices = Vec::new();
    let mut new_entries: Vec<&ImageUpdate> = Vec::new();
    let existing: HashMap<&str, &Entry> = match &list {
        ImagesList::List { entries, .. } => entries.iter().map(|e| (e.name.as_str(), e)).collect(),
        _ => HashMap::new(),
    };
    for u in updates {
        match existing.get(u.name.as_str()) {
            Some(e) => edit_entry(&text, e, u, &mut splices)?,
            None => new_entries.push(u),
        }
    }
    if !new_entries.is_empty() {
        splices.push(append_entries(&text, root.as_ref(), &list, &new_entries)?);
    }
    if splices.is_empty() {
        return Ok(src.to_string());
    }
    let out = apply(src, splices)?;
    verify::check(root.as_ref(), &out, updates)?;
    Ok(out)
}

/// Applies non-overlapping splices in one pass over `src`.
fn apply(src: &str, mut splices: Vec<Splice>) -> Result<String, EditError> {
    // Same start: insertions before deletions, each group in the order the
    // splices were made.
    let mut order: Vec<usize> = (0..splices.len()).collect();
    order.sort_by_key(|&i| (splices[i].at, splices[i].end > splices[i].at, i));
    let mut out =
        String::with_capacity(src.len() + splices.iter().map(|s| s.text.len()).sum::<usize>());
    let mut pos = 0;
    for i in order {
        let s = &mut splices[i];
        let (Some(kept), true) = (src.get(pos..s.at), s.at <= s.end) else {
            return Err(EditError::new(EditErrorKind::Verify(format!(
                "overlapping edits at bytes {}..{} (the previous one ends at {pos})",
                s.at, s.end
            ))));
        };
        out.push_str(kept);
        out.push_str(&std::mem::take(&mut s.text));
        pos = s.end;
    }
    let rest = src.get(pos..).ok_or_else(|| {
        EditError::new(EditErrorKind::Verify(format!(
            "an edit ends inside a character, at byte {pos}"
        )))
    })?;
    out.push_str(rest);
    Ok(out)
}

fn field_err(text: &Text, node: &Node, kind: EditErrorKind) -> EditError {
    EditError::at(kind, text.line_col(node.start))
}

/// Splices that turn entry `e` into what `u` asks for.
fn edit_entry(
    text: &Text,
    e: &Entry,
    u: &ImageUpdate,
    out: &mut Vec<Splice>,
) -> Result<(), EditError> {
    let want = wanted_fields(u, |k| e.value(k));
    let changes = FIELDS.iter().any(|k| {
        let now = e.field(k).map(|(_, v)| v);
        let to = want.iter().find(|(wk, _)| wk == k).map(|(_, v)| *v);
        match (now, to) {
            (None, None) => false,
            (Some(n), Some(t)) => {
                n.scalar() != Some(t)
                    || !matches!(&n.kind, Kind::Scalar { style, .. } if scalar::reads_as_string(t, *style, n.tag.as_deref()))
            }
            _ => true,
        }
    });
    if !changes {
        return Ok(());
    }
    if e.node.anchor != 0 {
        return Err(field_err(
            text,
            e.node,
            EditErrorKind::Unsafe(format!(
                "the entry of image {:?} has an anchor; its aliases would change too",
                e.name
            )),
        ));
    }
    // Every value of an entry being edited must be a single-line scalar
    // without an anchor: its lines decide where keys go.
    for (k, v) in e.pairs {
        let field = k.scalar().unwrap_or_default().to_string();
        let image = e.name.clone();
        match &v.kind {
            Kind::Scalar { end: Some(_), .. } if v.anchor == 0 => {}
            Kind::Scalar { end: Some(_), .. } => {
                return Err(field_err(text, v, EditErrorKind::Anchored { field, image }));
            }
            Kind::Scalar { .. }
                if entries::is_empty_plain(v) && !FIELDS.contains(&field.as_str()) => {}
            Kind::Scalar { .. } if entries::is_empty_plain(v) => {
                return Err(field_err(
                    text,
                    k,
                    EditErrorKind::Unsafe(format!("`{field}` of image {image:?} has no value")),
                ));
            }
            Kind::Scalar { .. } => {
                return Err(field_err(
                    text,
                    k,
                    EditErrorKind::MultiLine { field, image },
                ));
            }
            _ if FIELDS.contains(&field.as_str()) => {
                return Err(field_err(
                    text,
                    v,
                    EditErrorKind::NotAScalar { field, image },
                ));
            }
            _ if e.flow => {}
            _ => {
                return Err(field_err(
                    text,
                    v,
                    EditErrorKind::Unsafe(format!(
                        "image {image:?} has a nested value under `{field}`"
                    )),
                ));
            }
        }
    }
    let kept = |k: &str| want.iter().any(|(wk, _)| *wk == k);
    let removed: Vec<usize> = FIELDS
        .iter()
        .filter(|k| !kept(k))
        .filter_map(|k| e.field(k).map(|(i, _)| i))
        .collect();

    // Replace values that change.
    for (k, v) in &want {
        if let Some((_, node)) = e.field(k) {
            let Kind::Scalar {
                value,
                style,
                end: Some(end),
            } = &node.kind
            else {
                continue;
            };
            let same = value == v && scalar::reads_as_string(v, *style, node.tag.as_deref());
            if !same {
                // An empty implicit value has no span; it is replaced by
                // inserting after the key's colon.
                out.push(Splice {
                    at: node.start,
                    end: *end,
                    text: scalar::render(v, *style),
                });
            }
        }
    }

    if e.flow {
        flow_removals(e, &removed, out);
        let mut add = String::new();
        for (k, v) in &want {
            if e.field(k).is_none() {
                add.push_str(&format!(
                    ", {k}: {}",
                    scalar::render(v, TScalarStyle::Plain)
                ));
            }
        }
        if !add.is_empty() {
            let at = e
                .pairs
                .last()
                .and_then(|(_, v)| node_end(v))
                .ok_or_else(|| {
                    field_err(
                        text,
                        e.node,
                        EditErrorKind::Unsafe("cannot find the end of the entry".into()),
                    )
                })?;
            out.push(Splice {
                at,
                end: at,
                text: add,
            });
        }
        return Ok(());
    }

    block_removals(text, e, &removed, out)?;
    // New keys go on their own line after the nearest kept field that
    // precedes them in kustomize's order (`name` at least).
    for (pos, (k, v)) in want.iter().enumerate() {
        if e.field(k).is_some() {
            continue;
        }
        let anchor = want[..pos]
            .iter()
            .rev()
            .find_map(|(ak, _)| e.field(ak))
            .map(|(i, _)| i)
            .ok_or_else(|| field_err(text, e.node, EditErrorKind::EntryWithoutName { index: 0 }))?;
        let (anchor_key, anchor_val) = &e.pairs[anchor];
        let line_end = node_end(anchor_val).unwrap_or(anchor_key.start);
        let indent = " ".repeat(text.col(anchor_key.start));
        let value = scalar::render(v, TScalarStyle::Plain);
        out.push(match text.eol_of_line(line_end) {
            Some(eol) => Splice {
                at: text.next_line_start(line_end),
                end: text.next_line_start(line_end),
                text: format!("{indent}{k}: {value}{eol}"),
            },
            None => Splice {
                at: text.src.len(),
                end: text.src.len(),
                text: format!("{}{indent}{k}: {value}", text.default_eol()),
            },
        });
    }
    Ok(())
}

/// Removes pairs of a block entry: each its whole line; a pair on the
/// `- ` line of the entry is removed up to the next kept key, which then
/// moves up onto the dash line.
fn block_removals(
    text: &Text,
    e: &Entry,
    removed: &[usize],
    out: &mut Vec<Splice>,
) -> Result<(), EditError> {
    let end_of = |i: usize| node_end(&e.pairs[i].1).unwrap_or(e.pairs[i].0.start);
    let mut sorted = removed.to_vec();
    sorted.sort_unstable();
    let mut covered_to = 0;
    for i in sorted {
        if i < covered_to {
            continue;
        }
        let key = &e.pairs[i].0;
        if text.only_blank_before(key.start) {
            let ls = text.line_start(key.start);
            let nls = text.next_line_start(end_of(i));
            if text.eol_of_line(end_of(i)).is_none() && ls > 0 {
                // Last line without a line break: take the break before it
                // so that the file still ends without one.
                let prev_eol = if text.src[..ls].ends_with("\r\n") {
                    2
                } else {
                    1
                };
                out.push(Splice {
                    at: ls - prev_eol,
                    end: nls,
                    text: String::new(),
                });
            } else {
                out.push(Splice {
                    at: ls,
                    end: nls,
                    text: String::new(),
                });
            }
            continue;
        }
        // On the dash line: every following removed pair must sit alone on
        // the next line, up to the first kept key.
        let mut j = i;
        let chained = loop {
            let line_ok = is_blank_or_comment(&text.src[end_of(j)..text.line_end(end_of(j))]);
            let Some((next, _)) = e.pairs.get(j + 1) else {
                break false;
            };
            if !line_ok
                || text.line_start(next.start) != text.next_line_start(end_of(j))
                || !text.only_blank_before(next.start)
            {
                break false;
            }
            j += 1;
            if !removed.contains(&j) {
                break true;
            }
        };
        if !chained {
            return Err(field_err(
                text,
                key,
                EditErrorKind::Unsafe(format!(
                    "`{}` of image {:?} shares its line with the list dash and the next key is not on the next line",
                    key.scalar().unwrap_or_default(),
                    e.name
                )),
            ));
        }
        out.push(Splice {
            at: key.start,
            end: e.pairs[j].0.start,
            text: String::new(),
        });
        covered_to = j;
    }
    Ok(())
}

/// Nothing but spaces and maybe a comment: the removed key's own comment
/// goes with its line.
fn is_blank_or_comment(rest: &str) -> bool {
    let t = rest.trim();
    t.is_empty() || t.starts_with('#')
}

/// Removes pairs of a flow entry together with the comma that joins them.
fn flow_removals(e: &Entry, removed: &[usize], out: &mut Vec<Splice>) {
    let first_kept = (0..e.pairs.len())
        .find(|i| !removed.contains(i))
        .unwrap_or(0);
    let value_end = |i: usize| node_end(&e.pairs[i].1).unwrap_or(e.pairs[i].0.start);
    if first_kept > 0 {
        out.push(Splice {
            at: e.pairs[0].0.start,
            end: e.pairs[first_kept].0.start,
            text: String::new(),
        });
    }
    for &i in removed.iter().filter(|&&i| i > first_kept) {
        out.push(Splice {
            at: value_end(i - 1),
            end: value_end(i),
            text: String::new(),
        });
    }
}

/// The key/value lines of a new block entry.
fn block_entry(u: &ImageUpdate, dash_col: usize, key_off: usize, eol: &str) -> String {
    let mut s = String::new();
    for (n, (k, v)) in wanted_fields(u, |_| None).iter().enumerate() {
        let value = scalar::render(v, TScalarStyle::Plain);
        if n == 0 {
            s.push_str(&format!(
                "{}-{}{k}: {value}{eol}",
                " ".repeat(dash_col),
                " ".repeat(key_off.max(1) - 1)
            ));
        } else {
            s.push_str(&format!(
                "{}{k}: {value}{eol}",
                " ".repeat(dash_col + key_off.max(1))
            ));
        }
    }
    s
}

fn flow_entry(u: &ImageUpdate) -> String {
    let fields: Vec<String> = wanted_fields(u, |_| None)
        .iter()
        .map(|(k, v)| format!("{k}: {}", scalar::render(v, TScalarStyle::Plain)))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

/// Inserts `block` (lines ending in `eol`) after the line holding `after`;
/// at the end of a file without a final line break, keeps it that way.
fn insert_lines_after(text: &Text, after: usize, block: String) -> Splice {
    let at = text.next_line_start(after);
    if text.eol_of_line(after).is_none() {
        let eol = text.default_eol();
        let body = block.strip_suffix(eol).unwrap_or(&block);
        let prefix = if text.src.is_empty() { "" } else { eol };
        return Splice {
            at,
            end: at,
            text: format!("{prefix}{body}"),
        };
    }
    Splice {
        at,
        end: at,
        text: block,
    }
}

/// The splice that adds entries for images the list does not have yet.
fn append_entries(
    text: &Text,
    root: Option<&Node>,
    list: &ImagesList,
    news: &[&ImageUpdate],
) -> Result<Splice, EditError> {
    let unsafe_at =
        |node: &Node, why: &str| field_err(text, node, EditErrorKind::Unsafe(why.to_string()));
    match list {
        ImagesList::List { seq, entries } => {
            if let Kind::Seq {
                flow: true,
                close: Some(close),
                items,
            } = &seq.kind
            {
                let (at, sep) = match items.last() {
                    Some(last) => (
                        node_end(last).ok_or_else(|| {
                            unsafe_at(last, "cannot find the end of the last images entry")
                        })?,
                        ", ",
                    ),
                    None => (*close, ""),
                };
                let body: Vec<String> = news.iter().map(|u| flow_entry(u)).collect();
                return Ok(Splice {
                    at,
                    end: at,
                    text: format!("{sep}{}", body.join(", ")),
                });
            }
            let last = entries
                .last()
                .ok_or_else(|| unsafe_at(seq, "empty block list"))?;
            let end = node_end(last.node).ok_or_else(|| {
                unsafe_at(
                    last.node,
                    "the last images entry ends with a multi-line value",
                )
            })?;
            let (dash_col, key_off) = dash_layout(text, last.node).ok_or_else(|| {
                unsafe_at(
                    last.node,
                    "the last images entry does not start on the line of its `-`",
                )
            })?;
            let eol = text.eol_of_line(end).unwrap_or(text.default_eol());
            let block: String = news
                .iter()
                .map(|u| block_entry(u, dash_col, key_off, eol))
                .collect();
            Ok(insert_lines_after(text, end, block))
        }
        ImagesList::Empty { key } => {
            let after_key = node_end(key).unwrap_or(key.start);
            let rest = &text.src[after_key..text.line_end(after_key)];
            let rest = rest
                .trim_start()
                .strip_prefix(':')
                .unwrap_or("x")
                .trim_start();
            if !(rest.is_empty() || rest.starts_with('#')) {
                return Err(unsafe_at(key, "`images:` has a value that is not a list"));
            }
            let dash_col = text.col(key.start) + seq_indent(text, root);
            let eol = text.eol_of_line(after_key).unwrap_or(text.default_eol());
            let block: String = news
                .iter()
                .map(|u| block_entry(u, dash_col, 2, eol))
                .collect();
            Ok(insert_lines_after(text, after_key, block))
        }
        ImagesList::Absent => {
            let key_col = match root {
                Some(
                    r @ Node {
                        kind: Kind::Map { flow: false, .. },
                        ..
                    },
                ) => text.col(r.start),
                Some(r) => return Err(field_err(text, r, EditErrorKind::NotAMapping)),
                None => 0,
            };
            let eol = text.default_eol();
            let dash_col = key_col + seq_indent(text, root);
            let mut block = format!("{}images:{eol}", " ".repeat(key_col));
            for u in news {
                block.push_str(&block_entry(u, dash_col, 2, eol));
            }
            let at = section_insert_point(text);
            if at < text.src.len() || text.src.is_empty() || text.src.ends_with('\n') {
                Ok(Splice {
                    at,
                    end: at,
                    text: block,
                })
            } else {
                // No final line break: start a new line, end without one.
                let body = block.strip_suffix(eol).unwrap_or(&block);
                Ok(Splice {
                    at,
                    end: at,
                    text: format!("{eol}{body}"),
                })
            }
        }
    }
}

/// Column of the `-` of a block list item and the distance from it to the
/// item's first key.
fn dash_layout(text: &Text, item: &Node) -> Option<(usize, usize)> {
    let ls = text.line_start(item.start);
    let before = text.src[ls..item.start].trim_end_matches([' ', '\t']);
    let dash = before.strip_suffix('-')?;
    if !dash.chars().all(|c| c == ' ') {
        return None;
    }
    let dash_col = text.col(ls + dash.len());
    Some((dash_col, text.col(item.start) - dash_col))
}

/// How far this file indents a block list under its key (0 or more),
/// judged from the first top-level block list it has.
fn seq_indent(text: &Text, root: Option<&Node>) -> usize {
    let Some(Node {
        kind: Kind::Map { pairs, .. },
        ..
    }) = root
    else {
        return 0;
    };
    pairs
        .iter()
        .find_map(|(k, v)| match &v.kind {
            Kind::Seq {
                flow: false, items, ..
            } => {
                let first = items.first()?;
                let (dash_col, _) = dash_layout(text, first)?;
                dash_col.checked_sub(text.col(k.start))
            }
            _ => None,
        })
        .unwrap_or(0)
}

/// Where a new top-level section goes: the end of the file, or before a
/// closing `...` document marker (only blank and comment lines after it).
fn section_insert_point(text: &Text) -> usize {
    let src = text.src;
    let mut end = src.len();
    while end > 0 {
        let ls = text.line_start(end - 1);
        let line = src[ls..end].trim();
        if line == "..." || line.starts_with("... ") {
            return ls;
        }
        if !(line.is_empty() || line.starts_with('#')) {
            break;
        }
        end = ls;
    }
    src.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_updates_in_one_pass() {
        let mut src = String::from("images:\n");
        for i in 0..300 {
            src.push_str(&format!("- name: app-{i}  # 앱 {i}\n  newTag: v1\n"));
        }
        let updates: Vec<ImageUpdate> = (0..300)
            .rev()
            .map(|i| ImageUpdate::parse(&format!("app-{i}:v{i}")).unwrap())
            .chain([ImageUpdate::parse("new:v1").unwrap()])
            .collect();
        let out = set_images(&src, &updates).unwrap();
        let read = super::super::read_images(&out).unwrap();
        assert_eq!(read.len(), 301);
        for (i, e) in read.iter().take(300).enumerate() {
            assert_eq!(e.name, format!("app-{i}"));
            assert_eq!(e.new_tag.as_deref(), Some(format!("v{i}").as_str()));
        }
        assert!(
            out.ends_with("- name: app-299  # 앱 299\n  newTag: v299\n- name: new\n  newTag: v1\n")
        );
    }

    #[test]
    fn overlapping_splices_are_refused() {
        let s = |at, end| Splice {
            at,
            end,
            text: "x".into(),
        };
        assert_eq!(
            apply("abcdef", vec![s(4, 4), s(1, 2), s(4, 6)]).unwrap(),
            "axcdxx"
        );
        let e = apply("abcdef", vec![s(1, 3), s(2, 4)]).unwrap_err();
        assert!(matches!(e.kind, EditErrorKind::Verify(_)), "{e}");
        let e = apply("aé", vec![s(2, 2)]).unwrap_err();
        assert!(matches!(e.kind, EditErrorKind::Verify(_)), "{e}");
    }
}
