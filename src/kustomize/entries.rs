//! The `images:` list of a kustomization: its entries and their fields,
//! checked for the shapes the editor can change safely.

use super::error::{EditError, EditErrorKind};
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
    let mut found = pairs.iter().filter(|(k, _)| k.scalar() == Some("images"));
    let Some((key, seq)) = found.next() else {
        return Ok(ImagesList::Absent);
    };
    if let Some((dup, _)) = found.next() {
        return Err(at(
            EditErrorKind::Syntax("duplicate key `images`".into()),
            dup,
        ));
    }
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
        if entries.iter().any(|e| e.name == name) {
            return Err(at(
                EditErrorKind::DuplicateEntry {
                    name: name.to_string(),
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
