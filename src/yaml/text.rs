//! Byte positions in the source text.
//!
//! yaml-rust2 reports a position as an index, a line and a column, but the
//! index cannot be trusted: it counts characters, except on the content
//! lines of block scalars (`|`, `>`), where it adds each line's length in
//! bytes. One multi-byte character in a block scalar (a patch, a comment
//! inside it) would shift every later position. Line and column are
//! exact once the scanner moves to the next line, so [`Text::at`] maps
//! (line, column) to a byte offset. [`Text`] also strips the byte-order
//! mark, which yaml-rust2 does not understand, before parsing.

/// UTF-8 byte-order mark.
const BOM: &str = "\u{feff}";

/// Where a line of the body starts, as YAML counts lines (`\n`, `\r\n` or a
/// lone `\r` ends one).
#[derive(Debug, Clone, Copy)]
struct LineStart {
    /// Byte offset in `src`.
    byte: usize,
    /// Index of its first character in the body.
    char: usize,
}

/// The source of one YAML file with helpers for byte and line arithmetic.
pub(crate) struct Text<'a> {
    /// The whole file, BOM included.
    pub src: &'a str,
    /// Length of the BOM (0 or 3): the parser sees `src[bom..]`.
    pub bom: usize,
    /// Byte offset (in `src`) of every character of the body, plus the end;
    /// `None` when the body is ASCII and char index == byte index.
    char_bytes: Option<Vec<usize>>,
    /// Start of every line, built once: positions are looked up for every
    /// event and every message, and counting newlines each time would be
    /// quadratic.
    lines: Vec<LineStart>,
}

impl<'a> Text<'a> {
    pub fn new(src: &'a str) -> Self {
        let bom = if src.starts_with(BOM) { BOM.len() } else { 0 };
        let body = &src[bom..];
        let char_bytes: Option<Vec<usize>> = (!body.is_ascii()).then(|| {
            body.char_indices()
                .map(|(i, _)| i + bom)
                .chain(std::iter::once(src.len()))
                .collect()
        });
        let mut lines = vec![LineStart { byte: bom, char: 0 }];
        let mut chars = body.char_indices().enumerate().peekable();
        while let Some((ci, (bi, c))) = chars.next() {
            let ends_line = match c {
                '\n' => true,
                '\r' => !matches!(chars.peek(), Some((_, (_, '\n')))),
                _ => false,
            };
            if ends_line {
                lines.push(LineStart {
                    byte: bom + bi + 1,
                    char: ci + 1,
                });
            }
        }
        Text {
            src,
            bom,
            char_bytes,
            lines,
        }
    }

    /// The text the parser reads.
    pub fn body(&self) -> &'a str {
        &self.src[self.bom..]
    }

    /// Byte offset in `src` of the parser's position: 1-based `line`,
    /// 0-based `col` in characters. A column past the end of its line (the
    /// scanner over-counts on block scalar lines) is held at the line break.
    pub fn at(&self, line: usize, col: usize) -> usize {
        let Some(start) = line.checked_sub(1).and_then(|i| self.lines.get(i)) else {
            return self.src.len();
        };
        let next = self.lines.get(line).map_or(self.src.len(), |l| l.byte);
        let b = match &self.char_bytes {
            None => start.byte.saturating_add(col),
            Some(v) => start
                .char
                .checked_add(col)
                .and_then(|ci| v.get(ci))
                .copied()
                .unwrap_or(self.src.len()),
        };
        b.min(next)
    }

    /// `b` moved back to a character boundary, so that positions computed
    /// from odd input never slice inside a character.
    fn boundary(&self, b: usize) -> usize {
        let mut b = b.min(self.src.len());
        while !self.src.is_char_boundary(b) {
            b -= 1;
        }
        b
    }

    /// Start of the line holding byte `b`.
    pub fn line_start(&self, b: usize) -> usize {
        let b = self.boundary(b);
        self.src[..b].rfind('\n').map_or(0, |i| i + 1)
    }

    /// End of the content of the line holding `b` (before `\r\n` or `\n`).
    pub fn line_end(&self, b: usize) -> usize {
        let b = self.boundary(b);
        let nl = self.src[b..].find('\n').map_or(self.src.len(), |i| b + i);
        if nl > b
            && self.src.as_bytes().get(nl.wrapping_sub(1)) == Some(&b'\r')
            && nl < self.src.len()
        {
            nl - 1
        } else {
            nl
        }
    }

    /// Start of the line after the one holding `b` (or the end of the text
    /// when that line has no line break).
    pub fn next_line_start(&self, b: usize) -> usize {
        let b = self.boundary(b);
        self.src[b..]
            .find('\n')
            .map_or(self.src.len(), |i| b + i + 1)
    }

    /// The line break that ends the line holding `b`, if it has one.
    pub fn eol_of_line(&self, b: usize) -> Option<&'static str> {
        let end = self.line_end(b);
        match &self.src[end..] {
            s if s.starts_with("\r\n") => Some("\r\n"),
            s if s.starts_with('\n') => Some("\n"),
            _ => None,
        }
    }

    /// The file's line break: the first one it uses, `\n` when it has none.
    pub fn default_eol(&self) -> &'static str {
        match self.src.find('\n') {
            Some(i) if i > 0 && self.src.as_bytes()[i - 1] == b'\r' => "\r\n",
            _ => "\n",
        }
    }

    /// Column of byte `b` in characters from the start of its line (0-based).
    pub fn col(&self, b: usize) -> usize {
        let b = self.boundary(b);
        let ls = self.line_start(b);
        let col = self.src[ls..b].chars().count();
        if ls == 0 {
            col.saturating_sub(usize::from(self.bom > 0))
        } else {
            col
        }
    }

    /// 1-based line and column of byte `b`, for messages; lines are
    /// counted as the parser counts them.
    pub fn line_col(&self, b: usize) -> (usize, usize) {
        let b = self.boundary(b);
        // Index of the last line start at or before `b`.
        let line = self.lines.partition_point(|l| l.byte <= b).max(1);
        let start = self.lines[line - 1].byte;
        let col = self.src.get(start..b).map_or(0, |s| s.chars().count());
        (line, col + 1)
    }

    /// True when only spaces and tabs stand between the line start and `b`.
    pub fn only_blank_before(&self, b: usize) -> bool {
        let b = self.boundary(b);
        self.src[self.line_start(b)..b]
            .trim_start_matches(BOM)
            .chars()
            .all(|c| c == ' ' || c == '\t')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_and_columns_to_bytes_past_a_bom_and_utf8() {
        let src = "\u{feff}# é\r\nk: v\r\n";
        let t = Text::new(src);
        assert_eq!(t.bom, 3);
        assert_eq!(t.body(), "# é\r\nk: v\r\n");
        let k = t.at(2, 0);
        assert_eq!(&src[k..k + 1], "k");
        assert_eq!(&src[t.at(1, 2)..t.at(1, 3)], "é");
        assert_eq!(t.at(1, 0), 3, "line 1 starts after the BOM");
        assert_eq!(t.line_col(k), (2, 1));
        assert_eq!(t.line_col(t.at(1, 3)), (1, 4));
        assert_eq!(t.eol_of_line(k), Some("\r\n"));
        assert_eq!(t.default_eol(), "\r\n");
        assert_eq!(&src[t.line_start(k)..t.line_end(k)], "k: v");
        assert_eq!(t.next_line_start(k), src.len());
        assert_eq!(t.at(3, 0), src.len());
        assert_eq!(t.at(1000, 0), src.len());
        assert_eq!(t.at(0, 0), src.len());
    }

    #[test]
    fn a_column_past_its_line_stays_on_that_line() {
        // The scanner over-counts columns on block scalar lines.
        let src = "a: |\n  게이트\nb: 1\n";
        let t = Text::new(src);
        assert_eq!(t.at(2, 40), t.at(3, 0));
        assert_eq!(&src[t.at(3, 0)..t.at(3, 1)], "b");
        let t = Text::new("a: |\n  xyz\nb: 1\n");
        assert_eq!(t.at(2, 40), t.at(3, 0));
    }

    #[test]
    fn a_lone_carriage_return_ends_a_line_as_in_yaml() {
        let src = "a: 1\rb: ü\r\nc: 3";
        let t = Text::new(src);
        assert_eq!(&src[t.at(2, 0)..t.at(2, 1)], "b");
        assert_eq!(&src[t.at(2, 3)..t.at(2, 4)], "ü");
        assert_eq!(&src[t.at(3, 0)..], "c: 3");
        assert_eq!(t.line_col(t.at(3, 3)), (3, 4));
    }

    #[test]
    fn positions_inside_a_character_do_not_panic() {
        let t = Text::new("\u{feff}");
        assert_eq!(t.line_start(2), 0);
        assert_eq!(t.next_line_start(1), 3);
        assert_eq!(t.line_col(2), (1, 1));
    }

    #[test]
    fn last_line_without_break() {
        let src = "a: 1\nb: 2";
        let t = Text::new(src);
        assert_eq!(t.eol_of_line(6), None);
        assert_eq!(t.line_end(6), src.len());
        assert_eq!(t.next_line_start(6), src.len());
        assert_eq!(t.col(8), 3);
    }
}
