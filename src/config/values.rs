//! Scalar config values with their own syntax: durations and tag patterns.

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
}
