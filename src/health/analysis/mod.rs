//! Analysis: Prometheus checks that are part of what *proven* means.
//!
//! Each `environments[].analysis` entry is an instant query (with `{app}`
//! and `{env}` replaced) whose one value must meet a condition such as
//! `>= 0.95`. One evaluation is a [`Outcome`]: Pass, Fail (a real value
//! that misses the condition), or Inconclusive (no data, NaN, ±Inf, more
//! than one series, a matrix, an error from Prometheus, a server that
//! cannot be asked). Only Pass proves anything: Inconclusive holds a
//! promotion as Fail does, and never counts as a pass.
//!
//! - `query`: the pure parts (substitution with PromQL escaping, reading
//!   an answer, judging a value).
//! - `client`: the one HTTP request.
//! - [`AnalysisTracker`]: failed evaluations in a row, per app,
//!   environment, digest and analysis; "failed past its limit" when the
//!   streak reaches `failure_limit`.

mod client;
mod query;
mod streak;

use serde::Serialize;

pub use client::{MAX_ANSWER, QUERY_TIMEOUT, query_url};
pub use query::{escape, judge, read_value, substitute};
pub use streak::AnalysisTracker;

use super::SoakKey;
use crate::config::{Analysis, Config};

/// What one evaluation of an analysis showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The value meets the condition.
    Pass {
        /// The value.
        value: f64,
    },
    /// A real value that misses the condition.
    Fail {
        /// The value.
        value: f64,
    },
    /// No single finite value could be had: holds, never passes.
    Inconclusive {
        /// Why, for a person.
        why: String,
    },
}

// Values come from `read_value`, which refuses NaN: equality is total.
impl Eq for Outcome {}

/// One analysis evaluated for one app in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnalysisResult {
    /// The analysis's `name`.
    pub name: String,
    /// What this evaluation showed.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The condition, as configured (`>= 0.95`).
    pub success: String,
    /// Failed evaluations in a row for this image, this one included.
    pub streak: u32,
    /// `failure_limit`.
    pub limit: u32,
}

impl AnalysisResult {
    /// This evaluation passed.
    pub fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Pass { .. })
    }

    /// The analysis failed `failure_limit` times in a row or more: it
    /// counts as failed (what an automatic revert acts on).
    pub fn past_limit(&self) -> bool {
        matches!(self.outcome, Outcome::Fail { .. }) && self.streak >= self.limit
    }

    /// Why it holds, for a plan and a person: `success-rate: 0.5 (needs
    /// >= 0.95; failed 2 of 3)`, `success-rate: no data`.
    pub fn hold_message(&self) -> String {
        match &self.outcome {
            Outcome::Pass { value } => format!("{}: {} passes", self.name, show(*value)),
            Outcome::Fail { value } => {
                let streak = if self.past_limit() {
                    format!(
                        "failed {} in a row, past its limit of {}",
                        self.streak, self.limit
                    )
                } else {
                    format!("failed {} of {}", self.streak, self.limit)
                };
                format!(
                    "{}: {} (needs {}; {streak})",
                    self.name,
                    show(*value),
                    self.success
                )
            }
            Outcome::Inconclusive { why } => format!("{}: {why}", self.name),
        }
    }

    /// The evidence of a pass: `success-rate 0.9833 (>= 0.95)`.
    pub fn evidence(&self) -> String {
        match &self.outcome {
            Outcome::Pass { value } | Outcome::Fail { value } => {
                format!("{} {} ({})", self.name, show(*value), self.success)
            }
            Outcome::Inconclusive { why } => format!("{} {why}", self.name),
        }
    }
}

/// A value for a person: at most four decimals, without trailing zeros.
pub fn show(value: f64) -> String {
    let s = format!("{value:.4}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    if s == "-0" { "0".into() } else { s.into() }
}

/// The shared HTTP client: no redirects (a bearer token goes to the
/// configured server only), rustls.
fn http() -> &'static reqwest::Client {
    static HTTP: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    HTTP.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(QUERY_TIMEOUT)
            .build()
            .unwrap_or_default()
    })
}

/// Evaluates `analysis` once for the image of `key` (app `key.app` in
/// environment `key.env`), concurrently, and records each outcome in
/// `tracker`. One result per analysis, in config order.
pub async fn evaluate(
    analyses: &[Analysis],
    key: &SoakKey,
    tracker: &AnalysisTracker,
) -> Vec<AnalysisResult> {
    let mut set = tokio::task::JoinSet::new();
    for (i, a) in analyses.iter().enumerate() {
        let (a, app, env) = (a.clone(), key.app.clone(), key.env.clone());
        set.spawn(async move { (i, evaluate_one(&a, &app, &env).await) });
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; analyses.len()];
    while let Some(joined) = set.join_next().await {
        if let Ok((i, o)) = joined
            && let Some(slot) = outcomes.get_mut(i)
        {
            *slot = Some(o);
        }
    }
    analyses
        .iter()
        .zip(outcomes)
        .map(|(a, o)| {
            // A task that panicked proves nothing.
            let outcome = o.unwrap_or_else(|| Outcome::Inconclusive {
                why: "the evaluation did not complete".into(),
            });
            AnalysisResult {
                streak: tracker.record(key, &a.name, &outcome),
                name: a.name.clone(),
                outcome,
                success: a.success.trim().to_string(),
                limit: a.limit(),
            }
        })
        .collect()
}

async fn evaluate_one(a: &Analysis, app: &str, env: &str) -> Outcome {
    let condition = match a.condition() {
        Ok(c) => c,
        Err(why) => return Outcome::Inconclusive { why },
    };
    let token = match token(a) {
        Ok(t) => t,
        Err(why) => return Outcome::Inconclusive { why },
    };
    let promql = substitute(&a.query, app, env);
    let read = client::query(http(), &a.prometheus, &promql, token.as_deref()).await;
    judge(read, &condition)
}

/// The bearer token `token_env` names, if any; a variable unset or empty
/// is an error naming it, never showing a value.
fn token(a: &Analysis) -> Result<Option<String>, String> {
    let Some(var) = &a.prometheus.token_env else {
        return Ok(None);
    };
    match std::env::var(var) {
        Ok(t) if !t.trim().is_empty() => Ok(Some(t)),
        _ => Err(format!(
            "environment variable {var} (prometheus.token_env) is not set"
        )),
    }
}

/// Every `prometheus.token_env` of the config whose variable `is_set`
/// says is unset: (field, variable name), the field as
/// `environments[i].analysis[j].prometheus.token_env`. Names only, never
/// a value: `ferry run` refuses to start with any.
pub fn missing_tokens(config: &Config, is_set: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let mut missing = Vec::new();
    for (i, env) in config.environments.iter().enumerate() {
        for (j, a) in env.analysis.iter().enumerate() {
            if let Some(var) = &a.prometheus.token_env
                && !is_set(var)
            {
                missing.push((
                    format!("environments[{i}].analysis[{j}].prometheus.token_env"),
                    var.clone(),
                ));
            }
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(outcome: Outcome, streak: u32, limit: u32) -> AnalysisResult {
        AnalysisResult {
            name: "success-rate".into(),
            outcome,
            success: ">= 0.95".into(),
            streak,
            limit,
        }
    }

    #[test]
    fn messages_show_the_value_or_why() {
        let fail = result(Outcome::Fail { value: 0.5 }, 2, 3);
        assert_eq!(
            fail.hold_message(),
            "success-rate: 0.5 (needs >= 0.95; failed 2 of 3)"
        );
        assert!(!fail.past_limit() && !fail.passed());
        let past = result(Outcome::Fail { value: 0.5 }, 3, 3);
        assert!(past.past_limit());
        assert_eq!(
            past.hold_message(),
            "success-rate: 0.5 (needs >= 0.95; failed 3 in a row, past its limit of 3)"
        );
        let none = result(
            Outcome::Inconclusive {
                why: "no data".into(),
            },
            0,
            1,
        );
        assert_eq!(none.hold_message(), "success-rate: no data");
        assert!(!none.past_limit() && !none.passed());
        let pass = result(Outcome::Pass { value: 0.983333 }, 0, 1);
        assert!(pass.passed() && !pass.past_limit());
        assert_eq!(pass.evidence(), "success-rate 0.9833 (>= 0.95)");
        assert_eq!(
            (show(1.0), show(-0.00001), show(12.5)),
            ("1".into(), "0".into(), "12.5".into())
        );
    }

    #[test]
    fn results_serialize_with_their_outcome() {
        let v = serde_json::to_value(result(Outcome::Fail { value: 0.5 }, 2, 3)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"name": "success-rate", "outcome": "fail", "value": 0.5,
                "success": ">= 0.95", "streak": 2, "limit": 3})
        );
    }

    #[test]
    fn unset_token_variables_are_named() {
        let config = crate::config::parse(
            "environments:
- name: dev
  mode: commit
  analysis:
  - {name: a, prometheus: {url: 'http://p:9090', token_env: PROM_A}, query: up, success: '> 0'}
  - {name: b, prometheus: {url: 'http://p:9090'}, query: up, success: '> 0'}
  - {name: c, prometheus: {url: 'http://p:9090', token_env: PROM_C}, query: up, success: '> 0'}
",
        )
        .unwrap();
        assert_eq!(
            missing_tokens(&config, |v| v == "PROM_A"),
            vec![(
                "environments[0].analysis[2].prometheus.token_env".to_string(),
                "PROM_C".to_string()
            )]
        );
        assert!(missing_tokens(&config, |_| true).is_empty());
    }
}
