//! Pins: a `# ferry:pin` comment on an `images:` entry freezes that image
//! in that overlay. The pin lives in git next to the tag it freezes, so it
//! is reviewed, audited and survives restarts; ferry's own edits keep it,
//! as they keep every comment.
//!
//! ```yaml
//! images:
//!   - name: api
//!     newTag: sha-1a2b3c4  # ferry:pin by=alice at=2026-11-20T10:00:00Z reason="CVE-2026-1234 rollback"
//! ```
//! The comment may sit on any line of the entry or on its own line right
//! above it. `by`, `at` and `reason` are optional; a bare `# ferry:pin`
//! freezes too.

use super::entries::{self, ImagesList, node_end};
use super::error::EditError;
use crate::yaml::{Text, tree};

/// The marker that makes a comment a pin.
pub const PIN_MARKER: &str = "ferry:pin";

/// A pin on one image of one overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The image (`images[].name`) it freezes.
    pub image: String,
    /// Who pinned it.
    pub by: Option<String>,
    /// When (as written).
    pub at: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// 1-based line of the pin comment.
    pub line: usize,
}

/// Every pin of a kustomization text.
pub fn read_pins(src: &str) -> Result<Vec<Pin>, EditError> {
    let text = Text::new(src);
    let root = tree::parse(&text)?;
    let ImagesList::List { entries, .. } = entries::images(&text, root.as_ref())? else {
        return Ok(Vec::new());
    };
    let mut pins = Vec::new();
    for e in &entries {
        let first = text.line_start(e.node.start);
        let last = node_end(e.node).map_or(text.line_end(e.node.start), |end| text.line_end(end));
        // The line right above the entry, if it is only a comment.
        let above = if first > 0 {
            text.line_start(first - 1)
        } else {
            first
        };
        let above_is_comment = above < first && src[above..first].trim_start().starts_with('#');
        let from = if above_is_comment { above } else { first };
        for (offset, line) in line_spans(&src[from..last]) {
            if let Some(pin) = parse_pin(line, &e.name) {
                pins.push(Pin {
                    line: text.line_col(from + offset).0,
                    ..pin
                });
                break;
            }
        }
    }
    Ok(pins)
}

fn line_spans(s: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    s.split_inclusive('\n').map(move |l| {
        let at = offset;
        offset += l.len();
        (at, l)
    })
}

/// Parses `# ferry:pin key=value key="quoted value"` anywhere in a line's
/// comment.
fn parse_pin(line: &str, image: &str) -> Option<Pin> {
    let hash = line.find('#')?;
    let comment = &line[hash + 1..];
    let at = comment.find(PIN_MARKER)?;
    let mut rest = comment[at + PIN_MARKER.len()..].trim();
    let mut pin = Pin {
        image: image.to_string(),
        by: None,
        at: None,
        reason: None,
        line: 0,
    };
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(char::is_whitespace) {
                Some(end) => (&after[..end], &after[end..]),
                None => (after.trim_end(), ""),
            }
        };
        match key {
            "by" => pin.by = Some(value.to_string()),
            "at" => pin.at = Some(value.to_string()),
            "reason" => pin.reason = Some(value.to_string()),
            _ => {}
        }
        rest = next.trim();
    }
    Some(pin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_on_entries_and_above_them() {
        let src = "images:\n  - name: api\n    newTag: v1   # ferry:pin by=alice at=2026-11-20T10:00:00Z reason=\"CVE rollback\"\n  # ferry:pin by=bob\n  - name: web\n    newTag: v2\n  - name: db  # not pinned: ferry pins are explicit\n    newTag: v3\n\n# ferry:pin by=nobody (belongs to no entry)\n";
        let pins = read_pins(src).unwrap();
        assert_eq!(pins.len(), 2, "{pins:?}");
        assert_eq!(
            pins[0],
            Pin {
                image: "api".into(),
                by: Some("alice".into()),
                at: Some("2026-11-20T10:00:00Z".into()),
                reason: Some("CVE rollback".into()),
                line: 3
            }
        );
        assert_eq!(
            (pins[1].image.as_str(), pins[1].by.as_deref(), pins[1].line),
            ("web", Some("bob"), 4)
        );
    }

    #[test]
    fn bare_marker_and_flow_entries() {
        let pins = read_pins("images:\n- {name: api, newTag: v1}  # ferry:pin\n").unwrap();
        assert_eq!(pins.len(), 1);
        assert_eq!(pins[0].by, None);
        assert!(read_pins("resources: []\n").unwrap().is_empty());
    }

    #[test]
    fn ferry_edits_keep_the_pin() {
        let src =
            "images:\n- name: api\n  newTag: v1 # ferry:pin by=alice\n- name: web\n  newTag: v1\n";
        let out =
            super::super::set_images(src, &[crate::image::ImageUpdate::parse("web:v2").unwrap()])
                .unwrap();
        assert_eq!(read_pins(&out).unwrap()[0].by.as_deref(), Some("alice"));
    }
}
