//! Writing scalars: keep the existing quoting style, and quote a plain value
//! that a YAML reader would not take for a string.

use std::sync::LazyLock;

use regex::Regex;
use yaml_rust2::scanner::TScalarStyle;

/// Plain scalars that YAML 1.1 or 1.2 resolve to something other than a
/// string: null, booleans, integers (also octal, hex, binary, sexagesimal),
/// floats, infinities and timestamps. kustomize reads `newTag: 1.10` as a
/// number and rejects it, so such values are written quoted.
static NON_STRING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)^(?:
          ~ | null | Null | NULL
        | y | Y | yes | Yes | YES | n | N | no | No | NO
        | true | True | TRUE | false | False | FALSE
        | on | On | ON | off | Off | OFF
        | [-+]? (?: [0-9][0-9_]* )? \.? [0-9_]* (?: [eE] [-+]? [0-9]+ )?
        | [-+]? 0b [01_]+
        | [-+]? 0o? [0-7_]+
        | [-+]? 0x [0-9a-fA-F_]+
        | [-+]? [0-9][0-9_]* (?: : [0-5]?[0-9] )+ (?: \. [0-9_]* )?
        | [-+]? \. (?: inf | Inf | INF )
        | \. (?: nan | NaN | NAN )
        | [0-9]{4} - [0-9]{1,2} - [0-9]{1,2} .*
        )$",
    )
    .expect("static regex")
});

/// True when `s` may be written as a plain scalar and read back as the same
/// string, in block and in flow context.
pub(crate) fn plain_is_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    // Image names, tags and digests only use these characters; anything
    // else is quoted rather than reasoned about.
    let chars_ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@'));
    let first_ok = first.is_ascii_alphanumeric() || first == '_' || first == '/';
    chars_ok && first_ok && !s.ends_with(':') && !(may_be_non_string(s) && NON_STRING.is_match(s))
}

/// Renders `value` as a scalar in `style`, switching plain to double quotes
/// when the plain form would not read back as the same string.
pub(crate) fn render(value: &str, style: TScalarStyle) -> String {
    match style {
        TScalarStyle::SingleQuoted if !value.contains(['\n', '\r']) => {
            format!("'{}'", value.replace('\'', "''"))
        }
        TScalarStyle::Plain if plain_is_safe(value) => value.to_string(),
        _ => double_quoted(value),
    }
}

fn double_quoted(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// How a scalar reads: its text and whether it is a string. Two scalars are
/// the same value when both agree; `1.10` and `"1.10"` are not.
pub(crate) fn reads_as_string(value: &str, style: TScalarStyle, tag: Option<&str>) -> bool {
    match tag {
        Some(t) => t.ends_with("str"),
        None => {
            style != TScalarStyle::Plain || !may_be_non_string(value) || !NON_STRING.is_match(value)
        }
    }
}

/// What a scalar of an `images:` entry is to kustomize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reads {
    /// `~`, `null`, an empty plain value, `!!null`: the field is absent.
    Null,
    /// A string.
    String,
    /// A number, a boolean or another tagged value: kustomize refuses it
    /// ("cannot unmarshal number into ... of type string").
    Other,
}

/// Plain timestamps: YAML 1.1 would make them dates, but kustomize reads
/// them into its string fields as written (`newTag: 2026-11-20` renders
/// `app:2026-11-20`).
static TIMESTAMP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}").expect("static regex"));

/// How kustomize reads a scalar that is to be a string field.
pub(crate) fn reads(value: &str, style: TScalarStyle, tag: Option<&str>) -> Reads {
    match tag {
        Some(t) if t.ends_with("str") => Reads::String,
        Some(t) if t.ends_with("null") => Reads::Null,
        Some(_) => Reads::Other,
        None if style != TScalarStyle::Plain => Reads::String,
        None if matches!(value, "" | "~" | "null" | "Null" | "NULL") => Reads::Null,
        None if TIMESTAMP.is_match(value) => Reads::String,
        None if reads_as_string(value, style, None) => Reads::String,
        None => Reads::Other,
    }
}

/// Cheap filter before the regex: every non-string plain scalar starts
/// with one of these characters. Most keys and values do not.
fn may_be_non_string(s: &str) -> bool {
    s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit() || "~.+-yYnNtTfFoO".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_values_that_would_not_read_as_strings() {
        for s in [
            "1.10",
            "1",
            "20260812",
            "1e3",
            "0x1F",
            "0o17",
            "017",
            "1_000",
            "1:20",
            ".5",
            "-1",
            "true",
            "yes",
            "No",
            "on",
            "~",
            "null",
            "2026-11-20",
            ".inf",
            ".NaN",
            "",
        ] {
            assert!(!plain_is_safe(s), "{s} must be quoted");
            assert_eq!(render(s, TScalarStyle::Plain), format!("\"{s}\""));
        }
        for s in [
            "v1.10",
            "1.25-alpine",
            "sha-3f2a9c1",
            "deadbeef",
            "latest",
            "master",
            "sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3",
            "localhost:5000/app",
            "1.2.3",
            "e",
            "b1",
            "_x",
        ] {
            assert!(plain_is_safe(s), "{s} should stay plain");
            assert_eq!(render(s, TScalarStyle::Plain), s);
        }
    }

    #[test]
    fn keeps_quoting_style() {
        assert_eq!(render("1.10", TScalarStyle::SingleQuoted), "'1.10'");
        assert_eq!(render("it's", TScalarStyle::SingleQuoted), "'it''s'");
        assert_eq!(render("v2", TScalarStyle::DoubleQuoted), "\"v2\"");
        assert_eq!(
            render("a\"b\\", TScalarStyle::DoubleQuoted),
            "\"a\\\"b\\\\\""
        );
        assert_eq!(
            render("[::1]:5000/app", TScalarStyle::Plain),
            "\"[::1]:5000/app\""
        );
    }

    #[test]
    fn how_kustomize_reads_fields() {
        use TScalarStyle::{DoubleQuoted, Plain, SingleQuoted};
        for (v, style, tag, want) in [
            ("v1", Plain, None, Reads::String),
            ("2026-11-20", Plain, None, Reads::String),
            ("1.10", SingleQuoted, None, Reads::String),
            ("1.10", Plain, Some("tag:yaml.org,2002:str"), Reads::String),
            ("", DoubleQuoted, None, Reads::String),
            ("~", Plain, None, Reads::Null),
            ("null", Plain, None, Reads::Null),
            ("", Plain, None, Reads::Null),
            ("x", Plain, Some("tag:yaml.org,2002:null"), Reads::Null),
            ("1.10", Plain, None, Reads::Other),
            ("1", Plain, None, Reads::Other),
            ("yes", Plain, None, Reads::Other),
            ("0x1F", Plain, None, Reads::Other),
            (
                "1",
                DoubleQuoted,
                Some("tag:yaml.org,2002:int"),
                Reads::Other,
            ),
        ] {
            assert_eq!(reads(v, style, tag), want, "{v:?} {style:?} {tag:?}");
        }
    }

    #[test]
    fn string_reading() {
        assert!(!reads_as_string("1.10", TScalarStyle::Plain, None));
        assert!(reads_as_string("1.10", TScalarStyle::DoubleQuoted, None));
        assert!(reads_as_string(
            "1.10",
            TScalarStyle::Plain,
            Some("tag:yaml.org,2002:str")
        ));
        assert!(reads_as_string("v1", TScalarStyle::Plain, None));
    }
}
