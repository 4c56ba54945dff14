//! The pure half of an analysis: the query with `{app}` and `{env}`
//! replaced, the answer of Prometheus's `/api/v1/query` read into one
//! value, and that value judged against the success condition.

use serde::Deserialize;

use super::Outcome;
use crate::config::{Condition, placeholders};

/// `query` with every `{app}` and `{env}` replaced by `app` and `env`,
/// escaped for a double-quoted PromQL string (`service="{app}"`), so that
/// a name can never end the string and add to the query. Any other
/// placeholder is left as written (config load refuses them).
pub fn substitute(query: &str, app: &str, env: &str) -> String {
    let mut out = String::with_capacity(query.len());
    let mut last = 0;
    for (range, name) in placeholders(query) {
        let value = match name {
            "app" => app,
            "env" => env,
            _ => continue,
        };
        out.push_str(query.get(last..range.start).unwrap_or_default());
        out.push_str(&escape(value));
        last = range.end;
    }
    out.push_str(query.get(last..).unwrap_or_default());
    out
}

/// `value` escaped for the inside of a double-quoted PromQL string, the
/// escapes PromQL's lexer (Go's `strconv.Unquote`) reads back.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The envelope of every Prometheus HTTP API answer.
#[derive(Debug, Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `data` of a query answer, by `resultType`.
#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<Sample>),
    Scalar(Point),
    Matrix(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

/// One series of an instant vector; its labels are not read.
#[derive(Debug, Deserialize)]
struct Sample {
    value: Point,
}

/// `[ <unix time>, "<value>" ]`: Prometheus sends the value as a string,
/// `"NaN"`, `"+Inf"` and `"-Inf"` included.
#[derive(Debug, Deserialize)]
struct Point(#[allow(dead_code)] serde::de::IgnoredAny, String);

/// The longest Prometheus error message shown; the rest is cut.
const MAX_ERROR: usize = 300;

/// The one value of an answer body, or why there is none: an error
/// status (`"status":"error"` with its `errorType` and `error`), a body
/// that is not an answer, no series, more than one, a matrix or a string,
/// a value that is NaN or infinite.
pub fn read_value(body: &[u8]) -> Result<f64, String> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| format!("not a Prometheus query answer: {e}"))?;
    if envelope.status != "success" {
        return Err(format!("Prometheus answered {}", error_of(&envelope)));
    }
    let raw = match envelope.data {
        None => return Err("not a Prometheus query answer: no data".into()),
        Some(Data::Scalar(Point(_, v))) => v,
        Some(Data::Vector(samples)) => {
            let mut samples = samples.into_iter();
            match (samples.next(), samples.len()) {
                (None, _) => return Err("no data".into()),
                (Some(s), 0) => s.value.1,
                (Some(_), more) => return Err(format!("{} series, expected 1", more + 1)),
            }
        }
        Some(Data::Matrix(_)) => {
            return Err("a range vector (matrix), expected an instant vector or a scalar".into());
        }
        Some(Data::String(_)) => {
            return Err("a string, expected an instant vector or a scalar".into());
        }
    };
    let value: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("{:?} is not a number", shorten(&raw)))?;
    if value.is_nan() {
        return Err("NaN".into());
    }
    if value.is_infinite() {
        return Err(if value > 0.0 { "+Inf" } else { "-Inf" }.into());
    }
    Ok(value)
}

/// What an error answer says, or `None` when the body is not one: a
/// Prometheus error comes with an HTTP status of 400, 422 or 503.
pub fn error_answer(body: &[u8]) -> Option<String> {
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    (envelope.status == "error").then(|| error_of(&envelope))
}

fn error_of(e: &Envelope) -> String {
    let kind = e.error_type.as_deref().unwrap_or("error");
    let message = e.error.as_deref().unwrap_or("(no message)");
    format!("{}: {}", shorten(kind), shorten(message))
}

/// At most [`MAX_ERROR`] characters (never a cut inside one), with any
/// secret redacted.
fn shorten(text: &str) -> String {
    let mut s: String = text.chars().take(MAX_ERROR).collect();
    if text.chars().count() > MAX_ERROR {
        s.push('…');
    }
    crate::redact::text(&s)
}

/// Judges one value read (or why none was) against `condition`.
pub fn judge(read: Result<f64, String>, condition: &Condition) -> Outcome {
    match read {
        Ok(value) if condition.holds(value) => Outcome::Pass { value },
        Ok(value) => Outcome::Fail { value },
        Err(why) => Outcome::Inconclusive { why },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str =
        r#"sum(rate(http_requests_total{service="{app}",env="{env}",status=~"2.."}[5m]))"#;

    #[test]
    fn names_are_substituted_and_escaped() {
        assert_eq!(
            substitute(Q, "api", "staging"),
            r#"sum(rate(http_requests_total{service="api",env="staging",status=~"2.."}[5m]))"#
        );
        let hostile = "a\"}) or vector(1) or up{x=\"\\";
        let q = substitute(r#"up{service="{app}"}"#, hostile, "e");
        assert_eq!(q, r#"up{service="a\"}) or vector(1) or up{x=\"\\"}"#);
        assert_eq!(escape("x\ny\r\t\u{7}é"), "x\\ny\\r\\t\\x07é");
        // Twice, and unknown ones left alone.
        assert_eq!(substitute("{app}{app} {other}", "a", "e"), "aa {other}");
    }

    fn answer(data: &str) -> Vec<u8> {
        format!(r#"{{"status":"success","data":{data}}}"#).into_bytes()
    }

    #[test]
    fn one_value_from_a_vector_or_a_scalar() {
        let vector = answer(
            r#"{"resultType":"vector","result":[{"metric":{"service":"api"},"value":[1764662400.123,"0.975"]}]}"#,
        );
        assert_eq!(read_value(&vector), Ok(0.975));
        let scalar = answer(r#"{"resultType":"scalar","result":[1764662400.123,"3"]}"#);
        assert_eq!(read_value(&scalar), Ok(3.0));
        // A warnings field, as Prometheus adds one, changes nothing.
        let warned = br#"{"status":"success","warnings":["w"],"data":{"resultType":"scalar","result":[1,"-2.5e-1"]}}"#;
        assert_eq!(read_value(warned), Ok(-0.25));
    }

    #[test]
    fn no_single_finite_value_is_never_a_value() {
        let sample = |v: &str| format!(r#"{{"metric":{{}},"value":[1764662400,"{v}"]}}"#);
        let vector = |samples: &[String]| {
            answer(&format!(
                r#"{{"resultType":"vector","result":[{}]}}"#,
                samples.join(",")
            ))
        };
        assert_eq!(read_value(&vector(&[])), Err("no data".into()));
        assert_eq!(read_value(&vector(&[sample("NaN")])), Err("NaN".into()));
        assert_eq!(read_value(&vector(&[sample("+Inf")])), Err("+Inf".into()));
        assert_eq!(read_value(&vector(&[sample("-Inf")])), Err("-Inf".into()));
        assert_eq!(
            read_value(&vector(&[sample("1"), sample("2")])),
            Err("2 series, expected 1".into())
        );
        assert_eq!(
            read_value(&vector(&[sample("lots")])),
            Err("\"lots\" is not a number".into())
        );
        let scalar_nan = answer(r#"{"resultType":"scalar","result":[1764662400,"NaN"]}"#);
        assert_eq!(read_value(&scalar_nan), Err("NaN".into()));
        let matrix = answer(
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]}]}"#,
        );
        assert!(read_value(&matrix).unwrap_err().contains("matrix"));
        let string = answer(r#"{"resultType":"string","result":[1,"hello"]}"#);
        assert!(read_value(&string).unwrap_err().contains("a string"));
        assert!(
            read_value(b"<html>")
                .unwrap_err()
                .contains("not a Prometheus")
        );
        assert!(
            read_value(br#"{"status":"success"}"#)
                .unwrap_err()
                .contains("no data")
        );
    }

    #[test]
    fn an_error_answer_says_what_prometheus_said() {
        let body = br#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unexpected \"}\""}"#;
        let want = r#"bad_data: invalid parameter "query": 1:5: parse error: unexpected "}""#;
        assert_eq!(read_value(body), Err(format!("Prometheus answered {want}")));
        assert_eq!(error_answer(body).as_deref(), Some(want));
        assert_eq!(error_answer(b"502 Bad Gateway"), None);
        let long = format!(
            r#"{{"status":"error","errorType":"execution","error":"{}"}}"#,
            "x".repeat(1000)
        );
        assert!(error_answer(long.as_bytes()).unwrap().chars().count() < 350);
    }

    #[test]
    fn only_a_value_failing_the_condition_fails() {
        let c = Condition::parse(">= 0.95").unwrap();
        assert_eq!(judge(Ok(0.97), &c), Outcome::Pass { value: 0.97 });
        assert_eq!(judge(Ok(0.5), &c), Outcome::Fail { value: 0.5 });
        assert_eq!(
            judge(Err("no data".into()), &c),
            Outcome::Inconclusive {
                why: "no data".into()
            }
        );
    }
}
