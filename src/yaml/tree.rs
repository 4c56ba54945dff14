//! A YAML node tree with byte spans, built from yaml-rust2's event stream.
//!
//! yaml-rust2 gives each event a start position only. Scalar ends are
//! computed here from the quoting style; a scalar whose end cannot be known
//! exactly (block scalars, plain scalars that continue on the next line)
//! gets `end: None`, and the editor refuses to touch it.

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use super::text::Text;

/// A document that does not parse, or holds more than one document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct YamlError {
    /// 1-based line and column.
    pub pos: (usize, usize),
    /// What the parser said.
    pub message: String,
    /// True when the text holds a second document.
    pub multiple_documents: bool,
}

/// One node with its position in the source.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// First byte of the node's content (after any anchor or tag).
    pub start: usize,
    /// Anchor id, 0 when none.
    pub anchor: usize,
    /// Explicit tag (`!!str` ...), as `handle+suffix`.
    pub tag: Option<String>,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Scalar {
        value: String,
        style: TScalarStyle,
        /// Byte after the last character (closing quote included);
        /// `None` for scalars spanning lines.
        end: Option<usize>,
    },
    Seq {
        flow: bool,
        items: Vec<Node>,
        /// Byte of the closing `]` (flow only).
        close: Option<usize>,
    },
    Map {
        flow: bool,
        pairs: Vec<(Node, Node)>,
        /// Byte of the closing `}` (flow only).
        close: Option<usize>,
    },
    Alias,
}

impl Node {
    /// The scalar's value, if this is a scalar.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Looks up `key` in a mapping.
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map { pairs, .. } => pairs
                .iter()
                .find(|(k, _)| k.scalar() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parses a single-document YAML text. `Ok(None)` for an empty document.
pub(crate) fn parse(text: &Text) -> Result<Option<Node>, YamlError> {
    let mut b = Builder {
        text,
        parser: Parser::new_from_str(text.body()),
    };
    b.parse_stream()
}

struct Builder<'t, 'a> {
    text: &'t Text<'a>,
    parser: Parser<std::str::Chars<'a>>,
}

impl Builder<'_, '_> {
    fn next(&mut self) -> Result<(Event, usize), YamlError> {
        match self.parser.next_token() {
            Ok((ev, m)) => Ok((ev, self.text.at(m.line(), m.col()))),
            Err(e) => {
                let m = e.marker();
                let b = self.text.at(m.line(), m.col());
                Err(YamlError {
                    pos: self.text.line_col(b),
                    message: e.info().to_string(),
                    multiple_documents: false,
                })
            }
        }
    }

    fn parse_stream(&mut self) -> Result<Option<Node>, YamlError> {
        let mut root = None;
        let mut docs = 0;
        loop {
            let (ev, at) = self.next()?;
            match ev {
                Event::StreamStart | Event::DocumentEnd => {}
                Event::DocumentStart => {
                    docs += 1;
                    if docs > 1 {
                        return Err(YamlError {
                            pos: self.text.line_col(at),
                            message: "more than one YAML document".into(),
                            multiple_documents: true,
                        });
                    }
                    let (ev, at) = self.next()?;
                    let node = self.node(ev, at, false)?;
                    let empty = matches!(&node.kind, Kind::Scalar { value, style: TScalarStyle::Plain, .. } if value.is_empty())
                        && node.tag.is_none();
                    root = (!empty).then_some(node);
                }
                Event::StreamEnd => return Ok(root),
                other => {
                    return Err(YamlError {
                        pos: self.text.line_col(at),
                        message: format!("unexpected event {other:?}"),
                        multiple_documents: false,
                    });
                }
            }
        }
    }

    fn node(&mut self, ev: Event, at: usize, in_flow: bool) -> Result<Node, YamlError> {
        let src = self.text.src;
        Ok(match ev {
            Event::Scalar(value, style, anchor, tag) => {
                let end = scalar_end(src, at, &value, style, in_flow);
                Node {
                    start: at,
                    anchor,
                    tag: tag.map(tag_name),
                    kind: Kind::Scalar { value, style, end },
                }
            }
            Event::Alias(_) => Node {
                start: at,
                anchor: 0,
                tag: None,
                kind: Kind::Alias,
            },
            Event::SequenceStart(anchor, tag) => {
                let flow = src[at..].starts_with('[');
                let mut items = Vec::new();
                let close = loop {
                    let (ev, pos) = self.next()?;
                    if ev == Event::SequenceEnd {
                        break pos;
                    }
                    items.push(self.node(ev, pos, in_flow || flow)?);
                };
                let flow = flow && src[close..].starts_with(']');
                // A block sequence starts at the `-` of its first item.
                let start = match items.first() {
                    _ if flow => at,
                    Some(first) => {
                        let ls = self.text.line_start(first.start);
                        let before = src[ls..first.start].trim_end_matches([' ', '\t']);
                        before
                            .strip_suffix('-')
                            .map_or(first.start, |d| ls + d.len())
                    }
                    None => at,
                };
                Node {
                    start,
                    anchor,
                    tag: tag.map(tag_name),
                    kind: Kind::Seq {
                        flow,
                        items,
                        close: flow.then_some(close),
                    },
                }
            }
            Event::MappingStart(anchor, tag) => {
                let flow = src[at..].starts_with('{');
                let mut pairs = Vec::new();
                let close = loop {
                    let (ev, pos) = self.next()?;
                    if ev == Event::MappingEnd {
                        break pos;
                    }
                    let k = self.node(ev, pos, in_flow || flow)?;
                    let (ev, pos) = self.next()?;
                    let v = self.node(ev, pos, in_flow || flow)?;
                    pairs.push((k, v));
                };
                let flow = flow && src[close..].starts_with('}');
                // A block mapping's start event points past its first key;
                // the mapping really starts at that key.
                let start = if flow {
                    at
                } else {
                    pairs.first().map_or(at, |(k, _)| k.start)
                };
                Node {
                    start,
                    anchor,
                    tag: tag.map(tag_name),
                    kind: Kind::Map {
                        flow,
                        pairs,
                        close: flow.then_some(close),
                    },
                }
            }
            other => {
                return Err(YamlError {
                    pos: self.text.line_col(at),
                    message: format!("unexpected event {other:?}"),
                    multiple_documents: false,
                });
            }
        })
    }
}

/// A tag as one string (`tag:yaml.org,2002:str`).
fn tag_name(t: yaml_rust2::parser::Tag) -> String {
    format!("{}{}", t.handle, t.suffix)
}

/// The byte after a scalar that starts at `start`, or `None` when it spans
/// lines (or is a block scalar) and so has no single-line extent.
fn scalar_end(
    src: &str,
    start: usize,
    value: &str,
    style: TScalarStyle,
    in_flow: bool,
) -> Option<usize> {
    let rest = &src[start..];
    let end = match style {
        TScalarStyle::SingleQuoted => {
            let b = rest.as_bytes();
            let mut i = 1;
            loop {
                match b.get(i)? {
                    b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
                    b'\'' => break start + i + 1,
                    b'\n' => return None,
                    _ => i += 1,
                }
            }
        }
        TScalarStyle::DoubleQuoted => {
            let b = rest.as_bytes();
            let mut i = 1;
            loop {
                match b.get(i)? {
                    b'\\' => i += 2,
                    b'"' => break start + i + 1,
                    b'\n' => return None,
                    _ => i += 1,
                }
            }
        }
        // An empty plain scalar (`key:` with no value) has no text of its
        // own; the parser places it at the next token.
        TScalarStyle::Plain if value.is_empty() => return None,
        TScalarStyle::Plain => {
            let end = plain_end(rest, in_flow);
            if rest[..end] != *value {
                return None;
            }
            start + end
        }
        _ => return None,
    };
    Some(end)
}

/// Length of a single-line plain scalar at the start of `s`.
fn plain_end(s: &str, in_flow: bool) -> usize {
    let b = s.as_bytes();
    let mut end = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        let stop = match c {
            b'\n' | b'\r' => true,
            b':' => match next {
                None | Some(b' ' | b'\t' | b'\n' | b'\r') => true,
                Some(b',' | b'[' | b']' | b'{' | b'}') => in_flow,
                _ => false,
            },
            b'#' => i > 0 && matches!(b[i - 1], b' ' | b'\t'),
            b',' | b'[' | b']' | b'{' | b'}' => in_flow,
            _ => false,
        };
        if stop {
            break;
        }
        i += 1;
        if c != b' ' && c != b'\t' {
            end = i;
        }
    }
    // `end` is a byte index after a non-blank ASCII or the tail of a UTF-8
    // sequence; step forward to a char boundary.
    while end < s.len() && !s.is_char_boundary(end) {
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(src: &str) -> Vec<(String, Option<String>)> {
        let t = Text::new(src);
        let root = parse(&t).unwrap().unwrap();
        let mut out = Vec::new();
        fn walk(n: &Node, src: &str, out: &mut Vec<(String, Option<String>)>) {
            match &n.kind {
                Kind::Scalar { value, end, .. } => {
                    out.push((value.clone(), end.map(|e| src[n.start..e].to_string())))
                }
                Kind::Seq { items, .. } => items.iter().for_each(|i| walk(i, src, out)),
                Kind::Map { pairs, .. } => pairs.iter().for_each(|(k, v)| {
                    walk(k, src, out);
                    walk(v, src, out)
                }),
                Kind::Alias => {}
            }
        }
        walk(&root, src, &mut out);
        out
    }

    #[test]
    fn scalar_spans_by_style() {
        let src = "\u{feff}a: 'it''s' # c\r\nb: \"q\\\"x\"\r\nc: plain value  \r\nd: [x, 'y', {e: f:g}]\r\ng: |\r\n  lit\r\nh: multi\r\n  line\r\né: ü\r\n";
        let got = spans(src);
        let want: Vec<(&str, Option<&str>)> = vec![
            ("a", Some("a")),
            ("it's", Some("'it''s'")),
            ("b", Some("b")),
            ("q\"x", Some("\"q\\\"x\"")),
            ("c", Some("c")),
            ("plain value", Some("plain value")),
            ("d", Some("d")),
            ("x", Some("x")),
            ("y", Some("'y'")),
            ("e", Some("e")),
            ("f:g", Some("f:g")),
            ("g", Some("g")),
            ("lit\n", None),
            ("h", Some("h")),
            ("multi line", None),
            ("é", Some("é")),
            ("ü", Some("ü")),
        ];
        let want: Vec<(String, Option<String>)> = want
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.map(str::to_string)))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn flow_and_block_collections() {
        let src = "k:\n- {name: a}\n- [b]\nm: {x: 1}\n";
        let t = Text::new(src);
        let root = parse(&t).unwrap().unwrap();
        let Kind::Seq { flow, items, .. } = &root.get("k").unwrap().kind else {
            panic!()
        };
        assert!(!flow);
        assert!(matches!(
            items[0].kind,
            Kind::Map {
                flow: true,
                close: Some(13),
                ..
            }
        ));
        assert!(matches!(items[1].kind, Kind::Seq { flow: true, .. }));
        assert!(matches!(
            root.get("m").unwrap().kind,
            Kind::Map { flow: true, .. }
        ));
        assert!(matches!(root.kind, Kind::Map { flow: false, .. }));
        assert_eq!(root.start, 0);
    }

    #[test]
    fn spans_after_multi_byte_text_in_block_scalars() {
        // yaml-rust2's index counts bytes on block scalar lines and
        // characters elsewhere; every span after such a line must still be
        // exact.
        for eol in ["\n", "\r\n"] {
            let src = [
                "\u{feff}p: |-  # 게이트웨이",
                "  - op: add  # 게이트웨이",
                "    value: Zoë 🚀",
                "q: >",
                "  Größe",
                "images:  # 게이트웨이",
                "- name: gateway   # 게이트웨이",
                "  newTag: 'v1'   # 게이트웨이",
                "- {name: api, digest: \"d\"}   # 게이트웨이",
                "",
            ]
            .join(eol);
            let got = spans(&src);
            let tail: Vec<_> = got[4..]
                .iter()
                .map(|(v, s)| (v.as_str(), s.as_deref()))
                .collect();
            assert_eq!(
                tail,
                vec![
                    ("images", Some("images")),
                    ("name", Some("name")),
                    ("gateway", Some("gateway")),
                    ("newTag", Some("newTag")),
                    ("v1", Some("'v1'")),
                    ("name", Some("name")),
                    ("api", Some("api")),
                    ("digest", Some("digest")),
                    ("d", Some("\"d\"")),
                ],
                "{eol:?}"
            );
        }
    }

    #[test]
    fn errors_and_documents() {
        let e = parse(&Text::new("a: [b\n")).unwrap_err();
        assert!(!e.multiple_documents, "{e}");
        assert_eq!(e.pos.0, 2);
        let e = parse(&Text::new("a: 1\n---\nb: 2\n")).unwrap_err();
        assert!(e.multiple_documents);
        assert_eq!(e.pos, (2, 1));
        assert!(parse(&Text::new("# only a comment\n")).unwrap().is_none());
        assert!(parse(&Text::new("")).unwrap().is_none());
    }
}
