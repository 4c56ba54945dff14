//! The `images:` list of a kustomization: its entries and their fields,
//! checked for the shapes the editor can change safely.

use std::collections::HashMap;

use super::error::{EditError, EditErrorKind};
use super::scalar::{self, Reads};
use crate::image::{Digest, ImageName, RefError, Tag};
use crate::yaml::Text;
use crate::yaml::{Kind, Node};

/// Fields of an `images:` entry that ferry reads and writes, in the order
/// kustomize writes them.
pub(crate) const FIELDS: [&str; 4] = ["name", "newName", "newTag", "digest"];

/// One `images:` entry as found in the file.
#[derive(Debug)]
pub(crate) struct Entry<'n> {
    pub node: &'n Node,
    /// The `name` value.
    pub name: String,
    pub flow: bool,
    /// Key and value nodes in file order.
    pub pairs: &'n [(Node, Node)],
}

impl<'n> Entry<'n> {
    /// The value node of `key`, with its index among the pairs.
    pub fn field(&self, key: &str) -> Option<(usize, &'n Node)> {
        self.pairs
            .iter()
            .enumerate()
            .find(|(_, (k, _))| k.scalar() == Some(key))
            .map(|(i, (_, v))| (i, v))
    }

    /// The scalar value of `key`, if present.
    pub fn value(&self, key: &str) -> Option<&'n str> {
        self.field(key).and_then(|(_, v)| v.scalar())
    }
}

/// Where the list is, if any.
pub(crate) enum ImagesList<'n> {
    /// No `images:` key.
    Absent,
    /// `images:` with an empty value; `key` is the `images` key node.
    Empty { key: &'n Node },
    /// A block or flow sequence.
    List {
        seq: &'n Node,
        entries: Vec<Entry<'n>>,
    },
}

/// Finds and checks the `images:` list of a kustomization's root node.
pub(crate) fn images<'n>(text: &Text, root: Option<&'n Node>) -> Result<ImagesList<'n>, EditError> {
    let at = |kind, node: &Node| EditError::at(kind, text.line_col(node.start));
    let Some(root) = root else {
        return Ok(ImagesList::Absent);
    };
    let Kind::Map { pairs, .. } = &root.kind else {
        return Err(at(EditErrorKind::NotAMapping, root));
    };
    // kustomize reads the last of two equal keys, while ferry would read and
    // edit the first: refuse rather than guess.
    no_duplicate_keys(text, pairs, None)?;
    let Some((key, seq)) = pairs.iter().find(|(k, _)| k.scalar() == Some("images")) else {
        return Ok(ImagesList::Absent);
    };
    let items = match &seq.kind {
        Kind::Seq { items, .. } if seq.anchor == 0 => items,
        Kind::Scalar { .. } if is_empty_plain(seq) => {
            return Ok(ImagesList::Empty { key });
        }
        Kind::Seq { .. } => {
            return Err(at(
                EditErrorKind::Unsafe(
                    "`images:` carries an anchor; its aliases would change too".into(),
                ),
                seq,
            ));
        }
        _ => return Err(at(EditErrorKind::ImagesNotAList, seq)),
    };
    let mut entries: Vec<Entry> = Vec::with_capacity(items.len());
    // Entry names seen so far, with where each was first given: one hash
    // lookup per entry keeps large lists linear.
    let mut names: HashMap<&str, &Node> = HashMap::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let pairs = match &item.kind {
            Kind::Map { pairs, .. } => pairs,
            Kind::Alias => return Err(at(EditErrorKind::AliasEntry { index }, item)),
            _ => return Err(at(EditErrorKind::EntryNotAMapping { index }, item)),
        };
        for (k, _) in pairs {
            match k.scalar() {
                Some("<<") => return Err(at(EditErrorKind::MergeKey { index }, k)),
                Some(_) if k.tag.is_none() && k.anchor == 0 => {}
                _ => return Err(at(EditErrorKind::ComplexKey { index }, k)),
            }
        }
        no_duplicate_keys(text, pairs, Some(index))?;
        let name_node = pairs
            .iter()
            .find(|(k, _)| k.scalar() == Some("name"))
            .map(|(_, v)| v)
            .ok_or_else(|| at(EditErrorKind::EntryWithoutName { index }, item))?;
        let name = name_node.scalar().ok_or_else(|| {
            at(
                EditErrorKind::NotAScalar {
                    field: "name".into(),
                    image: format!("#{index}"),
                },
                name_node,
            )
        })?;
        if let Some(first) = names.insert(name, item) {
            return Err(at(
                EditErrorKind::DuplicateEntry {
                    name: name.to_string(),
                    first: text.line_col(first.start),
                },
                item,
            ));
        }
        entries.push(Entry {
            node: item,
            name: name.to_string(),
            flow: matches!(item.kind, Kind::Map { flow: true, .. }),
            pairs,
        });
    }
    Ok(ImagesList::List { seq, entries })
}

/// Refuses a mapping that holds a key twice, with both positions: the
/// error points at the second (the one kustomize reads) and names the first.
/// Keys that are not scalars are left to the callers' own checks.
fn no_duplicate_keys(
    text: &Text,
    pairs: &[(Node, Node)],
    entry: Option<usize>,
) -> Result<(), EditError> {
    let mut seen: HashMap<&str, &Node> = HashMap::with_capacity(pairs.len());
    for (k, _) in pairs {
        let Some(key) = k.scalar() else { continue };
        if let Some(first) = seen.insert(key, k) {
            let second = text.line_col(k.start);
            return Err(EditError::at(
                EditErrorKind::DuplicateKey {
                    entry,
                    key: key.into(),
                    first: text.line_col(first.start),
                    second,
                },
                second,
            ));
        }
    }
    Ok(())
}

/// The image fields of `e` as kustomize reads them, each checked against
/// the image grammar: a null or empty value is absent, as in kustomize; a
/// number, boolean, list or mapping is refused, as kustomize refuses it;
/// a string that is not a valid name, tag or digest is refused with the
/// field and its position, so no caller ever sees it.
fn checked_fields(text: &Text, e: &Entry) -> Result<[Option<String>; 3], EditError> {
    let field = |key: &str, check: fn(&str) -> Result<(), RefError>| {
        let Some((_, node)) = e.field(key) else {
            return Ok(None);
        };
        let err = |kind| EditError::at(kind, text.line_col(node.start));
        let value = match &node.kind {
            Kind::Scalar { value, style, .. } => {
                match scalar::reads(value, *style, node.tag.as_deref()) {
                    Reads::Null => return Ok(None),
                    Reads::String => value,
                    Reads::Other => return Err(err(not_a_string(key, e))),
                }
            }
            _ => return Err(err(not_a_string(key, e))),
        };
        if value.is_empty() {
            return Ok(None);
        }
        check(value).map_err(|why| {
            err(EditErrorKind::InvalidValue {
                field: key.to_string(),
                image: e.name.clone(),
                why: why.to_string().into(),
            })
        })?;
        Ok(Some(value.clone()))
    };
    if field("name", |v| ImageName::parse(v).map(drop))?.is_none() {
        // `name: ~` or `name: ""` matches no image.
        let at = e.field("name").map_or(e.node, |(_, v)| v);
        return Err(EditError::at(
            EditErrorKind::InvalidValue {
                field: "name".into(),
                image: e.name.clone(),
                why: RefError::Empty { what: "image name" }.to_string().into(),
            },
            text.line_col(at.start),
        ));
    }
    Ok([
        field("newName", |v| ImageName::parse(v).map(drop))?,
        field("newTag", |v| Tag::parse(v).map(drop))?,
        field("digest", |v| Digest::parse(v).map(drop))?,
    ])
}

fn not_a_string(key: &str, e: &Entry) -> EditErrorKind {
    EditErrorKind::NotAScalar {
        field: key.to_string(),
        image: e.name.clone(),
    }
}

/// Every entry of the `images:` list of `root`, its values checked.
pub(crate) fn read(text: &Text, root: Option<&Node>) -> Result<Vec<super::ImageEntry>, EditError> {
    let ImagesList::List { entries, .. } = images(text, root)? else {
        return Ok(Vec::new());
    };
    entries
        .iter()
        .map(|e| {
            let line = text.line_col(e.node.start).0;
            // A bad value concerns its entry only: the other images of the
            // file (other apps) stay readable.
            Ok(match checked_fields(text, e) {
                Ok([new_name, new_tag, digest]) => super::ImageEntry {
                    name: e.name.clone(),
                    new_name,
                    new_tag,
                    digest,
                    line,
                    problem: None,
                },
                Err(problem) => super::ImageEntry {
                    name: e.name.clone(),
                    new_name: None,
                    new_tag: None,
                    digest: None,
                    line,
                    problem: Some(problem),
                },
            })
        })
        .collect()
}

/// The byte after the last character of `node` (closing bracket included),
/// or `None` when some scalar inside spans lines.
pub(crate) fn node_end(node: &Node) -> Option<usize> {
    match &node.kind {
        Kind::Scalar { end, .. } => *end,
        Kind::Seq { close: Some(c), .. } | Kind::Map { close: Some(c), .. } => Some(c + 1),
        Kind::Seq { items, .. } => items.last().and_then(node_end),
        Kind::Map { pairs, .. } => pairs.last().and_then(|(k, v)| {
            node_end(v).or_else(|| if is_empty_plain(v) { node_end(k) } else { None })
        }),
        Kind::Alias => None,
    }
}

/// `key:` with nothing after it.
pub(crate) fn is_empty_plain(node: &Node) -> bool {
    matches!(&node.kind, Kind::Scalar { value, style: yaml_rust2::scanner::TScalarStyle::Plain, .. } if value.is_empty())
        && node.tag.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::tree;

    fn check(src: &str) -> Result<usize, EditError> {
        let text = Text::new(src);
        let root = tree::parse(&text)?;
        Ok(match images(&text, root.as_ref())? {
            ImagesList::List { entries, .. } => entries.len(),
            _ => 0,
        })
    }

    /// Every entry, or the first entry's problem.
    fn read_all(src: &str) -> Result<Vec<super::super::ImageEntry>, EditError> {
        let text = Text::new(src);
        let root = tree::parse(&text)?;
        let entries = read(&text, root.as_ref())?;
        match entries.iter().find_map(|e| e.problem.clone()) {
            Some(p) => Err(p),
            None => Ok(entries),
        }
    }

    #[test]
    fn duplicate_keys_are_refused_with_both_positions() {
        let d1 = "sha256:3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f";
        let d2 = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        for (src, entry, key, first, second) in [
            (
                "images:\n- name: web\n  name: api\n  newTag: v1\n".to_string(),
                Some(0),
                "name",
                (2, 3),
                (3, 3),
            ),
            (
                format!("images:\n- name: web\n  digest: {d1}\n  digest: {d2}\n"),
                Some(0),
                "digest",
                (3, 3),
                (4, 3),
            ),
            (
                "images:\n- name: a\n- {name: web, newTag: v1, \"newTag\": v2}\n".to_string(),
                Some(1),
                "newTag",
                (3, 15),
                (3, 27),
            ),
            (
                "images:\n- name: web\n  newTag: v1\nnamePrefix: a-\nimages:\n- name: api\n"
                    .to_string(),
                None,
                "images",
                (1, 1),
                (5, 1),
            ),
            (
                "resources: [a]\nimages: []\nresources: [b]\n".to_string(),
                None,
                "resources",
                (1, 1),
                (3, 1),
            ),
            (
                "# 게이트웨이\nimages:\n- name: web  # 게이트웨이\n  newTag: v1\n  x: 1\n  x: 2\n"
                    .to_string(),
                Some(0),
                "x",
                (5, 3),
                (6, 3),
            ),
        ] {
            let e = check(&src).unwrap_err();
            assert_eq!(
                e.kind,
                EditErrorKind::DuplicateKey {
                    entry,
                    key: key.into(),
                    first,
                    second
                },
                "{src}"
            );
            assert_eq!(e.pos, Some(second));
            let msg = e.to_string();
            let both = format!(
                "at {}:{} and at {}:{}",
                first.0, first.1, second.0, second.1
            );
            assert!(msg.contains(&both), "{msg}");
            assert!(read_all(&src).is_err());
        }
        // The same key in different entries is fine.
        assert_eq!(
            check("images:\n- name: a\n  newTag: v1\n- name: b\n  newTag: v1\n").unwrap(),
            2
        );
    }

    #[test]
    fn a_duplicate_entry_names_the_first_one() {
        let e = check("images:\n- name: a\n- name: b\n- {name: a}\n").unwrap_err();
        assert_eq!(
            e.kind,
            EditErrorKind::DuplicateEntry {
                name: "a".into(),
                first: (2, 3)
            }
        );
        assert_eq!(e.pos, Some((4, 3)));
    }

    #[test]
    fn read_values_pass_the_image_grammar() {
        let d = "sha256:3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f";
        let ok = read_all(&format!(
            "images:\n- name: web\n  newName: reg.io/web\n  newTag: '1.10'\n  digest: {d}\n- name: api\n  newTag: ~\n  digest: ''\n- name: db\n  newTag: 2026-11-20\n  newName:\n"
        ))
        .unwrap();
        assert_eq!(ok[0].new_name.as_deref(), Some("reg.io/web"));
        assert_eq!(ok[0].new_tag.as_deref(), Some("1.10"));
        assert_eq!(ok[0].digest.as_deref(), Some(d));
        // Null and empty values are absent, as kustomize reads them.
        assert_eq!(
            (ok[1].new_tag.as_ref(), ok[1].digest.as_ref()),
            (None, None)
        );
        assert_eq!(ok[2].new_tag.as_deref(), Some("2026-11-20"));
        assert_eq!(ok[2].new_name, None);

        for (src, field, pos, why) in [
            (
                "images:\n- name: web\n  newTag: bad tag\n",
                "newTag",
                (3, 11),
                "invalid tag",
            ),
            (
                "images:\n- name: web\n  newTag: -x\n",
                "newTag",
                (3, 11),
                "must start",
            ),
            (
                "images:\n- name: web\n  digest: sha256:abc\n",
                "digest",
                (3, 11),
                "64 hex",
            ),
            (
                "images:\n- name: web\n  newName: Web/App\n",
                "newName",
                (3, 12),
                "image name",
            ),
            (
                "images:\n- name: Web\n",
                "name",
                (2, 9),
                "invalid image name",
            ),
            (
                "images:\n- name: ''\n",
                "name",
                (2, 9),
                "image name is empty",
            ),
            (
                "images:\n- {name: web, newTag: \"a\\u0000\"}\n",
                "newTag",
                (2, 23),
                "invalid tag",
            ),
        ] {
            let e = read_all(src).unwrap_err();
            assert!(
                matches!(&e.kind, EditErrorKind::InvalidValue { field: f, .. } if f == field),
                "{src}: {e}"
            );
            assert_eq!(e.pos, Some(pos), "{src}: {e}");
            assert!(e.to_string().contains(why), "{src}: {e}");
        }
        for (src, field, pos) in [
            ("images:\n- name: web\n  newTag: 1.10\n", "newTag", (3, 11)),
            ("images:\n- name: web\n  newTag: yes\n", "newTag", (3, 11)),
            ("images:\n- name: web\n  newTag: [v1]\n", "newTag", (3, 11)),
            (
                "images:\n- name: web\n  digest: {a: b}\n",
                "digest",
                (3, 11),
            ),
            (
                "images:\n- name: web\n  newName: !!int 1\n",
                "newName",
                (3, 18),
            ),
        ] {
            let e = read_all(src).unwrap_err();
            assert_eq!(
                e.kind,
                EditErrorKind::NotAScalar {
                    field: field.into(),
                    image: "web".into()
                },
                "{src}"
            );
            assert_eq!(e.pos, Some(pos), "{src}: {e}");
        }
    }
}
