//! Byte positions in the source text.
//!
//! yaml-rust2 reports positions as *character* indices into the text it was
//! given, and it does not understand a byte-order mark. [`Text`] strips the
//! BOM before parsing and maps character indices back to byte offsets in the
//! original file, so every edit is a splice of exact byte ranges.

/// UTF-8 byte-order mark.
const BOM: &str = "\u{feff}";

/// The source of one YAML file with helpers for byte and line arithmetic.
pub(crate) struct Text<'a> {
    /// The whole file, BOM included.
    pub src: &'a str,
    /// Length of the BOM (0 or 3): the parser sees `src[bom..]`.
    pub bom: usize,
    /// Byte offset (in `src`) of every character of the body, plus the end;
    /// `None` when the body is ASCII and char index == byte index.
    char_bytes: Option<Vec<usize>>,
    /// Start of every line, built on first use: positions are reported
    /// for many entries, and counting newlines each time is quadratic.
    line_starts: std::sync::OnceLock<Vec<usize>>,
}

impl<'a> Text<'a> {
    pub fn new(src: &'a str) -> Self {
        let bom = if src.starts_with(BOM) { BOM.len() } else { 0 };
        let body = &src[bom..];
        let char_bytes = (!body.is_ascii()).then(|| {
            body.char_indices()
                .map(|(i, _)| i + bom)
                .chain(std::iter::once(src.len()))
                .collect()
        });
        Text {
            src,
            bom,
            char_bytes,
            line_starts: std::sync::OnceLock::new(),
        }
    }

    /// The text the parser reads.
    pub fn body(&self) -> &'a str {
        &self.src[self.bom..]
    }

    /// Byte offset in `src` of the parser's character index `ci`.
    pub fn byte(&self, ci: usize) -> usize {
        match &self.char_bytes {
            None => (ci + self.bom).min(self.src.len()),
            Some(v) => v.get(ci).copied().unwrap_or(self.src.len()),
        }
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

    /// 1-based line and column of byte `b`, for messages.
    pub fn line_col(&self, b: usize) -> (usize, usize) {
        let b = self.boundary(b);
        let starts = self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.src.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        });
        // Index of the last line start at or before `b`.
        let line = starts.partition_point(|&s| s <= b);
        (line, self.col(b) + 1)
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
    fn maps_characters_to_bytes_past_a_bom_and_utf8() {
        let src = "\u{feff}# é\r\nk: v\r\n";
        let t = Text::new(src);
        assert_eq!(t.bom, 3);
        assert_eq!(t.body(), "# é\r\nk: v\r\n");
        // 'k' is character 5 of the body: '#', ' ', 'é', '\r', '\n'.
        let k = t.byte(5);
        assert_eq!(&src[k..k + 1], "k");
        assert_eq!(t.line_col(k), (2, 1));
        assert_eq!(t.eol_of_line(k), Some("\r\n"));
        assert_eq!(t.default_eol(), "\r\n");
        assert_eq!(&src[t.line_start(k)..t.line_end(k)], "k: v");
        assert_eq!(t.next_line_start(k), src.len());
        assert_eq!(t.byte(1000), src.len());
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
