//! Scalar config values with their own syntax: durations, tag patterns and
//! the success conditions of analyses.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, de};

/// A duration written as `90s`, `5m`, `1h30m` or `2d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationValue(pub Duration);

impl DurationValue {
    /// Parses `1h30m`-style text.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("empty duration".into());
        }
        let mut total = 0u64;
        let mut num = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                _ => {
                    return Err(format!(
                        "duration {s:?}: unknown unit {c:?} (use s, m, h, d)"
                    ));
                }
            };
            let n: u64 = num
                .parse()
                .map_err(|_| format!("duration {s:?}: a number must come before {c:?}"))?;
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("duration {s:?} is too long"))?;
            num.clear();
        }
        if !num.is_empty() {
            return Err(format!("duration {s:?}: {num} needs a unit (s, m, h, d)"));
        }
        Ok(DurationValue(Duration::from_secs(total)))
    }
}

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DurationValue::parse(&s).map_err(de::Error::custom)
    }
}

/// A compiled tag regex.
#[derive(Clone)]
pub struct TagPattern(pub regex::Regex);

impl fmt::Debug for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TagPattern({:?})", self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for TagPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        regex::Regex::new(&s)
            .map(TagPattern)
            .map_err(|e| de::Error::custom(format!("tags: invalid regex: {e}")))
    }
}

/// A comparison operator of an analysis `success` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CompareOp {
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `==`
    #[serde(rename = "==")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
}

impl CompareOp {
    /// The operator as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Ge => ">=",
            CompareOp::Gt => ">",
            CompareOp::Le => "<=",
            CompareOp::Lt => "<",
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
        }
    }
}

/// An analysis `success` condition: an operator and a finite number, such
/// as `>= 0.95`. A value meets it when `value OP threshold` holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    /// The comparison.
    pub op: CompareOp,
    /// The number compared with; always finite.
    pub threshold: f64,
}

// The threshold is finite (parse refuses NaN), so equality is total.
impl Eq for Condition {}

impl Condition {
    /// Parses `>= 0.95`, `<0.5`, `== 1`: one of `>=`, `>`, `<=`, `<`,
    /// `==`, `!=` and a finite number.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        // Two-character operators first, so `>=` is not read as `>`.
        let ops = [
            (">=", CompareOp::Ge),
            ("<=", CompareOp::Le),
            ("==", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            (">", CompareOp::Gt),
            ("<", CompareOp::Lt),
        ];
        let Some((op, rest)) = ops
            .iter()
            .find_map(|(text, op)| t.strip_prefix(text).map(|rest| (*op, rest)))
        else {
            return Err(format!(
                "{s:?}: an operator (>=, >, <=, <, ==, !=) and a number, such as \">= 0.95\""
            ));
        };
        let number = rest.trim();
        let threshold: f64 = number
            .parse()
            .map_err(|_| format!("{s:?}: {number:?} is not a number"))?;
        if !threshold.is_finite() {
            return Err(format!("{s:?}: the number must be finite"));
        }
        Ok(Condition { op, threshold })
    }

    /// Whether `value` meets the condition. NaN meets none (every
    /// comparison with it is false, `!=` included: it is not a value).
    pub fn holds(&self, value: f64) -> bool {
        if value.is_nan() {
            return false;
        }
        let t = self.threshold;
        match self.op {
            CompareOp::Ge => value >= t,
            CompareOp::Gt => value > t,
            CompareOp::Le => value <= t,
            CompareOp::Lt => value < t,
            CompareOp::Eq => value == t,
            CompareOp::Ne => value != t,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.threshold)
    }
}

/// The placeholders an analysis query may hold: `{app}` and `{env}`.
pub const QUERY_PLACEHOLDERS: [&str; 2] = ["app", "env"];

/// The `{name}` placeholders in an analysis query, in order, with their
/// byte ranges. Only a brace around an identifier is a placeholder: PromQL's
/// own braces (`{service="api"}`, `{}`) hold other text.
pub fn placeholders(query: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = query.get(from..).and_then(|r| r.find('{')) {
        let start = from + open;
        let after = start + 1;
        let Some(rest) = query.get(after..) else {
            break;
        };
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let name = rest.get(..len).unwrap_or_default();
        let is_ident = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        if is_ident && rest.as_bytes().get(len) == Some(&b'}') {
            found.push((start..after + len + 1, name));
            from = after + len + 1;
        } else {
            from = after;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(DurationValue::parse("90s").unwrap().0.as_secs(), 90);
        assert_eq!(DurationValue::parse("1h30m").unwrap().0.as_secs(), 5400);
        assert_eq!(DurationValue::parse("2d").unwrap().0.as_secs(), 172_800);
        assert!(
            DurationValue::parse("5")
                .unwrap_err()
                .contains("needs a unit")
        );
        assert!(
            DurationValue::parse("5w")
                .unwrap_err()
                .contains("unknown unit 'w'")
        );
        assert!(
            DurationValue::parse("m")
                .unwrap_err()
                .contains("number must come before")
        );
        assert!(DurationValue::parse("").is_err());
    }

    #[test]
    fn conditions() {
        let c = Condition::parse(">= 0.95").unwrap();
        assert_eq!((c.op, c.threshold), (CompareOp::Ge, 0.95));
        assert!(c.holds(0.95) && c.holds(1.0) && !c.holds(0.5) && !c.holds(f64::NAN));
        assert_eq!(c.to_string(), ">= 0.95");
        for (text, op) in [
            (">1", CompareOp::Gt),
            ("<= 2", CompareOp::Le),
            (" < -3.5 ", CompareOp::Lt),
            ("==0", CompareOp::Eq),
            ("!= 1e3", CompareOp::Ne),
        ] {
            assert_eq!(Condition::parse(text).unwrap().op, op, "{text}");
        }
        assert!(Condition::parse("!= 0").unwrap().holds(1.0));
        assert!(!Condition::parse("!= 0").unwrap().holds(f64::NAN));
        assert!(Condition::parse("> 1").unwrap().holds(f64::INFINITY));
        for bad in [
            "0.95", "=> 1", "= 1", ">= ", ">= abc", ">= NaN", "< inf", ">= 1 2", "",
        ] {
            assert!(Condition::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Condition::parse(">= NaN").unwrap_err().contains("finite"));
        assert!(Condition::parse("~ 1").unwrap_err().contains("operator"));
    }

    #[test]
    fn placeholders_are_braced_identifiers_only() {
        let q = r#"sum(rate(x{service="{app}",env="{env}"}[5m])) / up{} + {__name__="a"} {bad-one} {9x} {other}"#;
        let names: Vec<&str> = placeholders(q).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, ["app", "env", "other"]);
        let (range, _) = &placeholders("a{app}b")[0];
        assert_eq!(&"a{app}b"[range.clone()], "{app}");
        assert!(placeholders("{").is_empty());
        assert!(placeholders("{app").is_empty());
        assert_eq!(placeholders("{{app}}").len(), 1);
    }
}
