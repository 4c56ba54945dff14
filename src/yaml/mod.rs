//! YAML with positions: a node tree whose every node knows its byte span,
//! built from yaml-rust2's event stream. The kustomization editor splices
//! bytes with it; the config loader uses it to point errors at a field.

pub(crate) mod text;
pub(crate) mod tree;

pub(crate) use text::Text;
pub(crate) use tree::{Kind, Node, YamlError};

/// One step of a path into a document: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// The node at `path` below `root`, or the deepest node on the way.
pub(crate) fn lookup<'n>(root: &'n Node, path: &[PathSeg]) -> &'n Node {
    let mut node = root;
    for seg in path {
        let next = match (seg, &node.kind) {
            (PathSeg::Key(k), Kind::Map { pairs, .. }) => pairs
                .iter()
                .find(|(key, _)| key.scalar() == Some(k))
                .map(|(_, v)| v),
            (PathSeg::Index(i), Kind::Seq { items, .. }) => items.get(*i),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    node
}
