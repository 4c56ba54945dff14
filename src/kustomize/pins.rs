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
//! freezes too. A quoted value reads `\"` as `"` and `\\` as `\`; any
//! other backslash is kept as written.
//!
//! [`set_pin`] writes pins (what `/ferry pin` does): it changes the one
//! comment and no other byte, and checks the result before returning it.

use std::path::Path;

use super::entries::{self, Entry, ImagesList, node_end};
use super::error::{EditError, EditErrorKind};
use crate::yaml::{Kind, Node, Text, tree};

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
    Ok(entries
        .iter()
        .filter_map(|e| find_pin(&text, e))
        .map(|(_, pin)| pin)
        .collect())
}

/// The pin of entry `e` and the byte where its line starts: the first line
/// holding one, from the comment line right above the entry to its last
/// line.
fn find_pin(text: &Text, e: &Entry) -> Option<(usize, Pin)> {
    let src = text.src;
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
    line_spans(src.get(from..last)?).find_map(|(offset, line)| {
        parse_pin(line, &e.name).map(|pin| {
            (
                from + offset,
                Pin {
                    line: text.line_col(from + offset).0,
                    ..pin
                },
            )
        })
    })
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
            unquote(q)
        } else {
            match after.find(char::is_whitespace) {
                Some(end) => (after[..end].to_string(), &after[end..]),
                None => (after.trim_end().to_string(), ""),
            }
        };
        match key {
            "by" => pin.by = Some(value),
            "at" => pin.at = Some(value),
            "reason" => pin.reason = Some(value),
            _ => {}
        }
        rest = next.trim();
    }
    Some(pin)
}

/// A quoted value up to its closing quote (or the end of the line), with
/// `\"` and `\\` unescaped, and the text after it.
fn unquote(q: &str) -> (String, &str) {
    let mut out = String::new();
    let mut chars = q.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, &q[i + 1..]),
            '\\' => match chars.clone().next() {
                Some((_, n @ ('"' | '\\'))) => {
                    out.push(n);
                    chars.next();
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    (out.trim_end_matches(['\r', '\n']).to_string(), "")
}

/// The longest reason a pin keeps, in characters.
pub const MAX_REASON: usize = 200;

/// What a new pin says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinSpec {
    /// Who pins (a login).
    pub by: String,
    /// When, RFC 3339.
    pub at: String,
    /// Why, as the person wrote it; [`render_pin`] makes it safe.
    pub reason: String,
}

/// `s` with every character that could end or disturb a comment line
/// (controls, newlines, Unicode line and paragraph separators, a BOM)
/// replaced by a space.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// The values a rendered pin reads back as: `(by, at, reason)`.
fn safe_values(spec: &PinSpec) -> (String, String, String) {
    (
        one_line(&spec.by),
        one_line(&spec.at),
        one_line(&spec.reason).chars().take(MAX_REASON).collect(),
    )
}

/// `value` as [`parse_pin`] reads it back: bare when it is a simple word,
/// quoted with `"` and `\` escaped otherwise.
fn render_value(value: &str, quote: bool) -> String {
    if !quote
        && !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\\' | '='))
    {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The comment text, `# ferry:pin by=alice at=2026-12-01T03:00:00Z reason="..."`;
/// the reason is made safe: quotes and backslashes escaped the way
/// [`read_pins`] reads them, control characters and newlines replaced by
/// spaces, at most [`MAX_REASON`] characters. `by` and `at` are made one
/// line the same way, and quoted if they hold a space or a quote.
pub fn render_pin(spec: &PinSpec) -> String {
    let (by, at, reason) = safe_values(spec);
    format!(
        "# {PIN_MARKER} by={} at={} reason={}",
        render_value(&by, false),
        render_value(&at, false),
        render_value(&reason, true)
    )
}

/// Sets (`Some`) or removes (`None`) the pin on the `images:` entry named
/// `image`. Lossless: every other byte of the file is kept.
///
/// Set: an existing pin comment of that entry (the one [`read_pins`]
/// reads) is replaced in place, from its `#` to the end of its line, on
/// its own line or trailing; else a new own line `<indent># ferry:pin ...`
/// is inserted right above the entry's `- ` line, at the dash's
/// indentation, with the line break that line uses (CRLF files stay CRLF).
/// Remove: an own-line pin comment is deleted with its line; a trailing one
/// is cut with the whitespace before it; an entry carrying several pin
/// comments loses them all.
///
/// Returns the new text, equal to `src` when nothing changes (idempotent).
/// No entry named `image` is [`EditErrorKind::NoEntry`]. The result is
/// verified: the same data (every value, the `images:` entries as
/// [`super::read_images`] reads them), and [`read_pins`] gives exactly the
/// wanted pin (or none) for that image and the same pins for the others; a
/// mismatch is an error, never a result.
pub fn set_pin(src: &str, image: &str, pin: Option<&PinSpec>) -> Result<String, EditError> {
    let mut out = src.to_string();
    // One splice per round: a removal may find a second pin comment on the
    // same entry; each round removes one line's comment, so the number of
    // lines bounds the rounds.
    let rounds = src.lines().count() + 1;
    for _ in 0..rounds {
        match splice_once(&out, image, pin)? {
            Some(next) => out = next,
            None => {
                verify(src, &out, image, pin)?;
                return Ok(out);
            }
        }
        if pin.is_some() {
            verify(src, &out, image, pin)?;
            return Ok(out);
        }
    }
    Err(EditError::new(EditErrorKind::Verify(format!(
        "the pin comments of image {image:?} did not go away"
    ))))
}

/// The text with one change towards the wanted pin, or `None` when it is
/// there already.
fn splice_once(src: &str, image: &str, pin: Option<&PinSpec>) -> Result<Option<String>, EditError> {
    let text = Text::new(src);
    let root = tree::parse(&text)?;
    let list = entries::images(&text, root.as_ref())?;
    let no_entry = || {
        EditError::new(EditErrorKind::NoEntry {
            name: image.to_string(),
        })
    };
    let ImagesList::List { entries, .. } = list else {
        return Err(no_entry());
    };
    let e = entries
        .iter()
        .find(|e| e.name == image)
        .ok_or_else(no_entry)?;
    let at = |node: &Node| text.line_col(node.start);
    let existing = find_pin(&text, e);
    let (from, to, new) = match (existing, pin) {
        (None, None) => return Ok(None),
        (Some((line, _)), Some(spec)) => {
            let hash = comment_start(&text, e, line)?;
            let end = text.line_end(hash);
            let new = render_pin(spec);
            if src.get(hash..end) == Some(new.as_str()) {
                return Ok(None);
            }
            (hash, end, new)
        }
        (Some((line, _)), None) => {
            let hash = comment_start(&text, e, line)?;
            let end = text.line_end(hash);
            if text.only_blank_before(hash) {
                // The whole line goes, its line break with it.
                (line, text.next_line_start(hash), String::new())
            } else {
                let before = src[line..hash].trim_end_matches([' ', '\t']).len();
                (line + before, end, String::new())
            }
        }
        (None, Some(spec)) => {
            let first = text.line_start(e.node.start);
            let lead = &src[first..e.node.start];
            // The entry's `-` must start its first line: a flow list, or a
            // dash alone on the line above, leaves no line to put a pin on.
            let Some(dash) = lead.find('-').filter(|_| lead.trim() == "-") else {
                return Err(EditError::at(
                    EditErrorKind::Unsafe(format!(
                        "the entry of image {image:?} does not start a line with `- `; \
                         add the pin comment by hand"
                    )),
                    at(e.node),
                ));
            };
            let indent = &lead[..dash];
            let eol = text
                .eol_of_line(first)
                .unwrap_or_else(|| text.default_eol());
            (first, first, format!("{indent}{}{eol}", render_pin(spec)))
        }
    };
    let mut out = String::with_capacity(src.len() + new.len());
    out.push_str(&src[..from]);
    out.push_str(&new);
    out.push_str(&src[to..]);
    Ok(Some(out))
}

/// The `#` that starts the pin comment on the line starting at `line`:
/// the first `#` of the line, as [`parse_pin`] reads it, checked to be a
/// comment (at the line's start or after a blank, inside no value of the
/// entry), so a change there touches no data.
fn comment_start(text: &Text, e: &Entry, line: usize) -> Result<usize, EditError> {
    let src = text.src;
    let end = text.line_end(line);
    let unsafe_here = |why: &str| {
        EditError::at(
            EditErrorKind::Unsafe(format!("the pin comment of image {:?} {why}", e.name)),
            text.line_col(line),
        )
    };
    let hash = src
        .get(line..end)
        .and_then(|l| l.find('#'))
        .map(|i| line + i)
        .ok_or_else(|| unsafe_here("was not found again"))?;
    let after_blank = hash == line
        || text.only_blank_before(hash)
        || matches!(src.as_bytes().get(hash - 1), Some(b' ' | b'\t'));
    if !after_blank || inside_a_value(e.node, hash) {
        return Err(unsafe_here("shares its `#` with a value"));
    }
    Ok(hash)
}

/// Whether byte `b` lies inside a scalar of `node` (or one whose end is
/// not known starts before it).
fn inside_a_value(node: &Node, b: usize) -> bool {
    match &node.kind {
        Kind::Scalar { end: Some(end), .. } => node.start <= b && b < *end,
        Kind::Scalar { end: None, .. } => node.start <= b,
        Kind::Seq { items, .. } => items.iter().any(|n| inside_a_value(n, b)),
        Kind::Map { pairs, .. } => pairs
            .iter()
            .any(|(k, v)| inside_a_value(k, b) || inside_a_value(v, b)),
        Kind::Alias => false,
    }
}

/// Whether two trees hold the same data: values, styles, tags, anchors,
/// positions aside.
fn same_data(a: &Node, b: &Node) -> bool {
    if a.tag != b.tag || a.anchor != b.anchor {
        return false;
    }
    match (&a.kind, &b.kind) {
        (
            Kind::Scalar {
                value: x, style: s, ..
            },
            Kind::Scalar {
                value: y, style: t, ..
            },
        ) => x == y && s == t,
        (
            Kind::Seq {
                items: x, flow: f, ..
            },
            Kind::Seq {
                items: y, flow: g, ..
            },
        ) => f == g && x.len() == y.len() && x.iter().zip(y).all(|(m, n)| same_data(m, n)),
        (
            Kind::Map {
                pairs: x, flow: f, ..
            },
            Kind::Map {
                pairs: y, flow: g, ..
            },
        ) => {
            f == g
                && x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k, v), (l, w))| same_data(k, l) && same_data(v, w))
        }
        (Kind::Alias, Kind::Alias) => true,
        _ => false,
    }
}

/// A pin without its line: image, by, at, reason.
type PinValues = (String, Option<String>, Option<String>, Option<String>);

/// The check of [`set_pin`]'s result against its input.
fn verify(src: &str, out: &str, image: &str, pin: Option<&PinSpec>) -> Result<(), EditError> {
    let fail = |what: &str| Err(EditError::new(EditErrorKind::Verify(what.to_string())));
    if src == out {
        return Ok(());
    }
    let (before, after) = (Text::new(src), Text::new(out));
    let same = match (tree::parse(&before)?, tree::parse(&after)) {
        (Some(a), Ok(Some(b))) => same_data(&a, &b),
        (None, Ok(None)) => true,
        _ => false,
    };
    if !same {
        return fail("the pin edit changed the data of the file");
    }
    // Entries compared without their lines, which a new comment line moves.
    let entries = |s: &str| {
        super::read_images(s).map(|v| {
            v.into_iter()
                .map(|e| {
                    let problem = e.problem.map(|p| p.kind);
                    (e.name, e.new_name, e.new_tag, e.digest, problem)
                })
                .collect::<Vec<_>>()
        })
    };
    if entries(src)? != entries(out)? {
        return fail("the pin edit changed the `images:` entries");
    }
    let pins = |s: &str| {
        read_pins(s).map(|v| {
            v.into_iter()
                .map(|p| (p.image, p.by, p.at, p.reason))
                .collect::<Vec<_>>()
        })
    };
    let (old, new) = (pins(src)?, pins(out)?);
    let others = |v: &[PinValues]| {
        v.iter()
            .filter(|p| p.0 != image)
            .cloned()
            .collect::<Vec<_>>()
    };
    if others(&old) != others(&new) {
        return fail("the pin edit changed the pins of other images");
    }
    let got: Vec<_> = new.iter().filter(|p| p.0 == image).collect();
    let want = pin.map(|spec| {
        let (by, at, reason) = safe_values(spec);
        (image.to_string(), Some(by), Some(at), Some(reason))
    });
    if got != want.iter().collect::<Vec<_>>() {
        return fail(&format!(
            "image {image:?} does not read back the wanted pin"
        ));
    }
    Ok(())
}

/// File level: reads the kustomization file (or the one in a directory),
/// [`set_pin`], and writes it with [`crate::atomic::write`] only if it
/// changed; a symlinked file is refused as [`super::edit_file`] refuses
/// it. Returns whether it changed.
pub fn pin_file(path: &Path, image: &str, pin: Option<&PinSpec>) -> Result<bool, EditError> {
    let (file, before) = super::read_file(path)?;
    let after = set_pin(&before, image, pin).map_err(|e| e.in_file(&file))?;
    if after == before {
        return Ok(false);
    }
    crate::atomic::write(&file, after.as_bytes()).map_err(|e| {
        EditError::new(EditErrorKind::Io(format!("cannot write: {e}"))).in_file(&file)
    })?;
    Ok(true)
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

    fn spec(reason: &str) -> PinSpec {
        PinSpec {
            by: "alice".into(),
            at: "2026-12-01T03:00:00Z".into(),
            reason: reason.into(),
        }
    }

    fn pin_of(src: &str, image: &str) -> Option<Pin> {
        read_pins(src)
            .unwrap()
            .into_iter()
            .find(|p| p.image == image)
    }

    /// `src` with the pin set, checked to be idempotent and to remove back
    /// to `src` when `src` had no pin on `image`.
    fn set(src: &str, image: &str, reason: &str) -> String {
        let out = set_pin(src, image, Some(&spec(reason))).unwrap();
        assert_eq!(set_pin(&out, image, Some(&spec(reason))).unwrap(), out);
        let p = pin_of(&out, image).expect("pinned");
        assert_eq!(p.by.as_deref(), Some("alice"));
        assert_eq!(p.at.as_deref(), Some("2026-12-01T03:00:00Z"));
        out
    }

    #[test]
    fn renders_a_pin_that_reads_back() {
        assert_eq!(
            render_pin(&spec("CVE-2026-1234 rollback")),
            "# ferry:pin by=alice at=2026-12-01T03:00:00Z reason=\"CVE-2026-1234 rollback\""
        );
        let nasty = "say \"no\" \\ to C:\\path\nnext\rline\u{2028}x\u{7}";
        let line = render_pin(&spec(nasty));
        assert!(!line.contains(['\n', '\r', '\u{2028}', '\u{7}']), "{line}");
        let p = parse_pin(&line, "api").unwrap();
        assert_eq!(
            p.reason.as_deref(),
            Some("say \"no\" \\ to C:\\path next line x ")
        );
        let long = "é".repeat(300);
        let p = parse_pin(&render_pin(&spec(&long)), "api").unwrap();
        assert_eq!(p.reason.unwrap().chars().count(), MAX_REASON);
        // A `by` with a space is quoted rather than cut.
        let odd = PinSpec {
            by: "a b".into(),
            ..spec("")
        };
        let p = parse_pin(&render_pin(&odd), "api").unwrap();
        assert_eq!(
            (p.by.as_deref(), p.reason.as_deref()),
            (Some("a b"), Some(""))
        );
    }

    #[test]
    fn old_pins_with_backslashes_read_as_before() {
        let p = parse_pin(r#"# ferry:pin reason="C:\tmp\x" by=bob"#, "api").unwrap();
        assert_eq!(p.reason.as_deref(), Some(r"C:\tmp\x"));
        assert_eq!(p.by.as_deref(), Some("bob"));
    }

    #[test]
    fn sets_above_the_entry_and_removes_back() {
        let src = "# top\nimages:\n  # the api\n  - name: api   # keep me\n    newTag: v1\n  - name: web\n    newTag: v2\n";
        let out = set(src, "web", "hold");
        assert_eq!(
            out,
            "# top\nimages:\n  # the api\n  - name: api   # keep me\n    newTag: v1\n  # ferry:pin by=alice at=2026-12-01T03:00:00Z reason=\"hold\"\n  - name: web\n    newTag: v2\n"
        );
        assert_eq!(pin_of(&out, "api"), None, "a plain comment is no pin");
        assert_eq!(set_pin(&out, "web", None).unwrap(), src);
        assert_eq!(set_pin(src, "web", None).unwrap(), src, "nothing to remove");
        // Above an entry that has a comment right above it: the pin goes
        // between, and the comment stays.
        let out = set(src, "api", "x");
        assert!(out.contains("  # the api\n  # ferry:pin by=alice"), "{out}");
        assert_eq!(set_pin(&out, "api", None).unwrap(), src);
    }

    #[test]
    fn replaces_a_trailing_or_own_line_pin_in_place() {
        let trailing = "images:\n- name: api\n  newTag: v1  # ferry:pin by=bob reason=\"old\"\n- name: web\n  newTag: v2 # ferry:pin by=carol\n";
        let out = set(trailing, "api", "new");
        assert_eq!(
            out,
            "images:\n- name: api\n  newTag: v1  # ferry:pin by=alice at=2026-12-01T03:00:00Z reason=\"new\"\n- name: web\n  newTag: v2 # ferry:pin by=carol\n"
        );
        assert_eq!(pin_of(&out, "web").unwrap().by.as_deref(), Some("carol"));
        let removed = set_pin(&out, "api", None).unwrap();
        assert_eq!(
            removed,
            "images:\n- name: api\n  newTag: v1\n- name: web\n  newTag: v2 # ferry:pin by=carol\n"
        );
        assert_eq!(set_pin(&removed, "api", None).unwrap(), removed);

        let above = "images:\n  # ferry:pin by=bob\n  - name: api\n    newTag: v1\n";
        let out = set(above, "api", "new");
        assert_eq!(
            out,
            "images:\n  # ferry:pin by=alice at=2026-12-01T03:00:00Z reason=\"new\"\n  - name: api\n    newTag: v1\n"
        );
        assert_eq!(
            set_pin(&out, "api", None).unwrap(),
            "images:\n  - name: api\n    newTag: v1\n"
        );
    }

    #[test]
    fn removes_every_pin_comment_of_the_entry() {
        let src = "images:\n# ferry:pin by=a\n- name: api  # ferry:pin by=b\n  newTag: v1 # ferry:pin by=c\n";
        let out = set_pin(src, "api", None).unwrap();
        assert_eq!(out, "images:\n- name: api\n  newTag: v1\n");
    }

    #[test]
    fn flow_entries_crlf_bom_and_multibyte_text() {
        let flow =
            "images:\n- {name: api, newTag: v1}  # ferry:pin by=bob\n- {name: web, newTag: v2}\n";
        let out = set(flow, "web", "ok");
        assert!(
            out.contains(
                "\n# ferry:pin by=alice at=2026-12-01T03:00:00Z reason=\"ok\"\n- {name: web"
            ),
            "{out}"
        );
        let out = set(&out, "api", "ok");
        assert!(
            out.contains("- {name: api, newTag: v1}  # ferry:pin by=alice"),
            "{out}"
        );

        let crlf = "\u{feff}images:\r\n  - name: api # é grüße\r\n    newTag: \"v1\"\r\n";
        let out = set(crlf, "api", "naïve «reason» 🚀");
        assert_eq!(
            out,
            "\u{feff}images:\r\n  # ferry:pin by=alice at=2026-12-01T03:00:00Z reason=\"naïve «reason» 🚀\"\r\n  - name: api # é grüße\r\n    newTag: \"v1\"\r\n"
        );
        assert_eq!(
            pin_of(&out, "api").unwrap().reason.as_deref(),
            Some("naïve «reason» 🚀")
        );
        assert_eq!(set_pin(&out, "api", None).unwrap(), crlf);

        // A reason holding quotes and `#` reads back, and setting it again
        // changes nothing.
        let first = "images:\n- name: api\n  newTag: v1 # ferry:pin\n";
        let out = set(first, "api", "a \"quoted\" # hash");
        assert_eq!(
            pin_of(&out, "api").unwrap().reason.as_deref(),
            Some("a \"quoted\" # hash")
        );
    }

    #[test]
    fn a_missing_entry_or_a_layout_without_a_line_is_refused() {
        let src = "images:\n- name: api\n  newTag: v1\n";
        let e = set_pin(src, "web", Some(&spec("x"))).unwrap_err();
        assert_eq!(e.kind, EditErrorKind::NoEntry { name: "web".into() });
        assert!(e.to_string().contains("\"web\""), "{e}");
        assert!(set_pin("resources: []\n", "api", None).is_err());
        // One-line flow list: no line of its own for the entry.
        let flow = "images: [{name: api, newTag: v1}, {name: web}]\n";
        assert!(matches!(
            set_pin(flow, "api", Some(&spec("x"))).unwrap_err().kind,
            EditErrorKind::Unsafe(_)
        ));
        // A dash alone on its line.
        let dash = "images:\n-\n  name: api\n  newTag: v1\n";
        assert!(set_pin(dash, "api", Some(&spec("x"))).is_err());
        assert_eq!(set_pin(dash, "api", None).unwrap(), dash);
    }

    #[test]
    fn a_hash_inside_a_value_is_not_a_comment_to_replace() {
        // The reader takes the `#` inside the quotes for the comment's
        // start; replacing from there would cut the value.
        let src = "images:\n- name: api\n  newName: \"reg/x #y\"  # ferry:pin by=bob\n";
        assert!(pin_of(src, "api").is_some());
        for pin in [Some(spec("x")), None] {
            let e = set_pin(src, "api", pin.as_ref()).unwrap_err();
            assert!(matches!(e.kind, EditErrorKind::Unsafe(_)), "{e}");
        }
    }

    #[test]
    fn a_pin_that_would_also_pin_a_neighbour_is_refused() {
        // Both entries share one line: a pin comment there reads as a pin
        // of each, so replacing it would change the other's pin.
        let src = "images: [{name: api}, {name: web}]  # ferry:pin by=bob\n";
        assert_eq!(read_pins(src).unwrap().len(), 2);
        let e = set_pin(src, "api", Some(&spec("x"))).unwrap_err();
        assert!(matches!(e.kind, EditErrorKind::Verify(_)), "{e}");
    }

    #[test]
    fn pin_file_writes_only_a_change_and_refuses_links() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kustomization.yaml");
        std::fs::write(&file, "images:\n- name: api\n  newTag: v1\n").unwrap();
        assert!(pin_file(dir.path(), "api", Some(&spec("x"))).unwrap());
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(pin_of(&text, "api").is_some());
        assert!(!pin_file(&file, "api", Some(&spec("x"))).unwrap());
        assert!(pin_file(&file, "api", None).unwrap());
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "images:\n- name: api\n  newTag: v1\n"
        );
        let e = pin_file(&file, "nope", None).unwrap_err();
        assert_eq!(e.path.as_deref(), Some(file.as_path()));

        #[cfg(unix)]
        {
            let other = tempfile::tempdir().unwrap();
            let link = other.path().join("kustomization.yaml");
            std::os::unix::fs::symlink(&file, &link).unwrap();
            let e = pin_file(&link, "api", Some(&spec("x"))).unwrap_err();
            assert!(matches!(e.kind, EditErrorKind::SymbolicLink(_)), "{e}");
            assert_eq!(
                std::fs::read_to_string(&file).unwrap(),
                "images:\n- name: api\n  newTag: v1\n"
            );
        }
    }
}
