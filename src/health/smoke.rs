//! HTTP smoke checks: requests an environment must answer as configured.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};

use super::argocd::{describe, read_capped};
use crate::config::Smoke;

/// Per-request timeout when the check sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries after a failed attempt when the check sets none.
pub const DEFAULT_RETRIES: u32 = 2;
/// The wait before the first retry; it doubles for each further one.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The largest response body read for `body_regex`; a longer one fails
/// the attempt with a clear message rather than being read on.
pub const MAX_BODY: usize = 1 << 20;
/// The most retries made, whatever the check sets: one pass stays bounded.
pub const MAX_RETRIES: u32 = 10;
/// The longest one request may take, whatever the check sets.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The longest one check takes, attempts and waits together.
pub const CHECK_BUDGET: Duration = Duration::from_secs(120);

/// The outcome of one smoke check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeResult {
    /// The URL requested, without its user-info and query string (they
    /// may hold credentials; see [`crate::redact::url`]).
    pub url: String,
    /// Whether an attempt met every expectation.
    pub ok: bool,
    /// Requests made; 0 when the check itself is invalid.
    pub attempts: u32,
    /// What the last attempt got, for a human.
    pub message: String,
    /// The server answered the last attempt (with a status or body that
    /// did not meet the expectations, when `ok` is false). A check that got
    /// no answer (refused, timed out, invalid) could not be asked: it holds
    /// a promotion but never triggers an automatic revert.
    #[serde(default)]
    pub answered: bool,
}

/// Which smoke checks may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmokeMode {
    /// Every check, as configured.
    Full,
    /// Only checks that cannot change anything (GET and HEAD): `ferry
    /// plan` must not make a POST; the others fail as "not run by plan",
    /// without a request, so the plan holds instead of guessing.
    ReadOnly,
}

impl SmokeMode {
    /// [`ReadOnly`](Self::ReadOnly) when `read_only`, else
    /// [`Full`](Self::Full).
    pub fn of(read_only: bool) -> Self {
        if read_only {
            Self::ReadOnly
        } else {
            Self::Full
        }
    }
}

/// [`smoke_in`] with every check sent ([`SmokeMode::Full`]).
pub async fn smoke(checks: &[Smoke]) -> Vec<SmokeResult> {
    smoke_in(checks, SmokeMode::Full).await
}

/// Runs every check (concurrently) and returns one result per check, in
/// the order given. Each attempt must answer with the expected status
/// (default 200) and, when set, a body matching `body_regex`; a failed
/// attempt is retried `retries` times (default 2), waiting 200 ms, then
/// 400 ms, and so on. Whatever the config says, a check makes at most
/// [`MAX_RETRIES`] retries, waits at most [`MAX_BACKOFF`] between them,
/// gives one request at most [`MAX_TIMEOUT`] and ends within
/// [`CHECK_BUDGET`]. A check that cannot be sent (bad method, header or
/// regex) fails at once without a request. Redirects are not followed
/// (expect `302` to check one). In [`SmokeMode::ReadOnly`], a check whose
/// method is neither GET nor HEAD is not sent and fails as "not run by plan".
pub async fn smoke_in(checks: &[Smoke], mode: SmokeMode) -> Vec<SmokeResult> {
    // Redirects are not followed: the status checked is the one the
    // configured URL answers, not that of a login page it redirects to.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default();
    let mut set = tokio::task::JoinSet::new();
    let mut results: Vec<Option<SmokeResult>> = vec![None; checks.len()];
    for (i, check) in checks.iter().enumerate() {
        if mode == SmokeMode::ReadOnly {
            let method = check.method.as_deref().unwrap_or("GET");
            if !["GET", "HEAD"]
                .iter()
                .any(|m| method.eq_ignore_ascii_case(m))
            {
                results[i] = Some(SmokeResult {
                    url: crate::redact::url(&check.url),
                    ok: false,
                    attempts: 0,
                    message: format!(
                        "not run by plan ({} can change state)",
                        method.to_ascii_uppercase()
                    ),
                    answered: false,
                });
                continue;
            }
        }
        let (http, check) = (http.clone(), check.clone());
        set.spawn(async move { (i, run_check(&http, &check, CHECK_BUDGET).await) });
    }
    while let Some(joined) = set.join_next().await {
        if let Ok((i, r)) = joined {
            results[i] = Some(r);
        }
    }
    // A task that panicked leaves its slot empty: report it as failed.
    results
        .into_iter()
        .zip(checks)
        .map(|(r, c)| {
            r.unwrap_or_else(|| SmokeResult {
                url: crate::redact::url(&c.url),
                ok: false,
                attempts: 0,
                message: "the check did not complete".into(),
                answered: false,
            })
        })
        .collect()
}

/// A check ready to send, or why it cannot be.
struct Prepared {
    method: Method,
    url: Url,
    headers: HeaderMap,
    regex: Option<regex::Regex>,
}

fn prepare(check: &Smoke) -> Result<Prepared, String> {
    let method_text = check
        .method
        .as_deref()
        .unwrap_or("GET")
        .to_ascii_uppercase();
    let method = Method::from_bytes(method_text.as_bytes())
        .map_err(|_| format!("invalid HTTP method {method_text:?}"))?;
    let url = Url::parse(&check.url).map_err(|e| format!("invalid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("not an http:// or https:// URL".into());
    }
    let mut headers = HeaderMap::new();
    for (k, v) in &check.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("invalid header name {k:?}"))?;
        // The value may be a credential: never echo it.
        let value =
            HeaderValue::from_str(v).map_err(|_| format!("invalid value for header {k:?}"))?;
        headers.insert(name, value);
    }
    let regex = match &check.body_regex {
        Some(r) => Some(regex::Regex::new(r).map_err(|e| format!("invalid body_regex: {e}"))?),
        None => None,
    };
    Ok(Prepared {
        method,
        url,
        headers,
        regex,
    })
}

async fn run_check(http: &reqwest::Client, check: &Smoke, budget: Duration) -> SmokeResult {
    let url = crate::redact::url(&check.url);
    let prepared = match prepare(check) {
        Ok(p) => p,
        Err(message) => {
            return SmokeResult {
                url,
                ok: false,
                attempts: 0,
                message: crate::redact::text(&message),
                answered: false,
            };
        }
    };
    let expect = check.expect_status.unwrap_or(200);
    let limits = Limits::of(check, budget);
    let deadline = tokio::time::Instant::now() + limits.budget;
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let timeout = limits.timeout.min(left);
        // reqwest's timeout covers the body too; the outer one is the
        // bound this function promises, whatever reqwest does.
        let outcome = match tokio::time::timeout(
            timeout,
            attempt(http, &prepared, check.body.as_deref(), expect, timeout),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(Missed::unanswered(format!(
                "timed out after {} ms",
                timeout.as_millis()
            ))),
        };
        let ok = outcome.is_ok();
        let answered = match &outcome {
            Ok(_) => true,
            Err(m) => m.answered,
        };
        let outcome = outcome.map_err(|m| m.message);
        let out_of_time = tokio::time::Instant::now() + backoff >= deadline;
        if ok || attempts >= limits.attempts || out_of_time {
            let message = match outcome {
                Ok(status) => format!("HTTP {status} after {attempts} attempt(s)"),
                Err(e) if out_of_time && attempts < limits.attempts => format!(
                    "{e} (attempt {attempts}; no time left for more within {} s)",
                    limits.budget.as_secs()
                ),
                Err(e) => format!("{e} (attempt {attempts} of {})", limits.attempts),
            };
            return SmokeResult {
                url,
                ok,
                attempts,
                message: crate::redact::text(&message),
                answered,
            };
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
    }
}

/// What one check may spend, the config's values clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    /// Requests at most.
    attempts: u32,
    /// Per request.
    timeout: Duration,
    /// For the whole check.
    budget: Duration,
}

impl Limits {
    fn of(check: &Smoke, budget: Duration) -> Limits {
        let retries = check.retries.unwrap_or(DEFAULT_RETRIES).min(MAX_RETRIES);
        let timeout = check.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0);
        Limits {
            attempts: retries + 1,
            // A zero timeout would fail every request before it is sent.
            timeout: timeout.clamp(Duration::from_millis(1), MAX_TIMEOUT),
            budget,
        }
    }
}

/// Why one attempt did not meet the expectations.
struct Missed {
    message: String,
    /// The server answered (a status or body other than expected).
    answered: bool,
}

impl Missed {
    fn unanswered(message: String) -> Self {
        Missed {
            message,
            answered: false,
        }
    }

    fn answered(message: String) -> Self {
        Missed {
            message,
            answered: true,
        }
    }
}

/// One request; `Ok(status)` when it meets the expectations.
async fn attempt(
    http: &reqwest::Client,
    p: &Prepared,
    body: Option<&str>,
    expect: u16,
    timeout: Duration,
) -> Result<u16, Missed> {
    let mut req = http
        .request(p.method.clone(), p.url.clone())
        .headers(p.headers.clone())
        .timeout(timeout);
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let mut resp = req
        .send()
        .await
        .map_err(|e| Missed::unanswered(describe(e)))?;
    let status = resp.status().as_u16();
    if status != expect {
        return Err(Missed::answered(format!(
            "expected HTTP {expect}, got {status}"
        )));
    }
    let Some(re) = &p.regex else {
        // The body is never read: dropping the response closes it.
        return Ok(status);
    };
    // A body cut off (reset, timed out) is the network's word, not the
    // app's; a body too large to match is the app's answer.
    let text = read_capped(&mut resp, MAX_BODY).await.map_err(|e| {
        if super::argocd::is_too_large(&e) {
            Missed::answered(e)
        } else {
            Missed::unanswered(e)
        }
    })?;
    if re.is_match(&String::from_utf8_lossy(&text)) {
        Ok(status)
    } else {
        Err(Missed::answered(format!(
            "HTTP {status} but the body does not match /{}/",
            re.as_str()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DurationValue;

    fn check(url: &str) -> Smoke {
        Smoke {
            url: url.into(),
            method: None,
            headers: Default::default(),
            body: None,
            expect_status: None,
            body_regex: None,
            timeout: Some(DurationValue(Duration::from_secs(1))),
            retries: None,
        }
    }

    #[test]
    fn absurd_retries_and_timeouts_are_clamped() {
        let mut c = check("http://127.0.0.1:9/");
        c.retries = Some(u32::MAX);
        c.timeout = Some(DurationValue(Duration::MAX));
        let l = Limits::of(&c, CHECK_BUDGET);
        assert_eq!(l.attempts, MAX_RETRIES + 1);
        assert_eq!(l.timeout, MAX_TIMEOUT);
        c.timeout = Some(DurationValue(Duration::ZERO));
        assert_eq!(
            Limits::of(&c, CHECK_BUDGET).timeout,
            Duration::from_millis(1)
        );
        c.retries = None;
        c.timeout = None;
        let l = Limits::of(&c, CHECK_BUDGET);
        assert_eq!(
            (l.attempts, l.timeout),
            (DEFAULT_RETRIES + 1, DEFAULT_TIMEOUT)
        );
    }

    /// A server that answers every request with 503 at once; counts them.
    async fn always_down() -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
        use std::sync::atomic::{AtomicU32, Ordering};
        let hits = std::sync::Arc::new(AtomicU32::new(0));
        let counter = hits.clone();
        let app = axum::Router::new().fallback(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                axum::http::StatusCode::SERVICE_UNAVAILABLE
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, hits)
    }

    #[tokio::test]
    async fn a_check_ends_within_its_budget_whatever_the_config_says() {
        let (url, hits) = always_down().await;
        let mut c = check(&url);
        c.retries = Some(u32::MAX);
        c.timeout = Some(DurationValue(Duration::MAX));
        let http = reqwest::Client::new();
        let budget = Duration::from_millis(1700);
        let started = std::time::Instant::now();
        let r = run_check(&http, &c, budget).await;
        let took = started.elapsed();
        assert!(!r.ok, "{r:?}");
        assert!(took < budget + Duration::from_millis(500), "{took:?}");
        // 200 + 400 + 800 ms of backoff fit in 1.7 s; the next 1.6 s not.
        assert_eq!(r.attempts, 4, "{r:?}");
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 4);
        assert!(r.message.contains("no time left"), "{r:?}");
    }

    #[tokio::test]
    async fn invalid_checks_fail_without_a_request() {
        let mut bad_method = check("http://127.0.0.1:9/");
        bad_method.method = Some("GE T".into());
        let mut bad_regex = check("http://127.0.0.1:9/");
        bad_regex.body_regex = Some("(".into());
        let mut bad_header = check("http://127.0.0.1:9/");
        bad_header
            .headers
            .insert("Authorization".into(), "Bearer x\nsecret".into());
        let results = smoke(&[bad_method, bad_regex, bad_header, check("ftp://x/")]).await;
        assert!(results.iter().all(|r| !r.ok && r.attempts == 0));
        assert!(results[0].message.contains("method"), "{results:?}");
        assert!(results[1].message.contains("body_regex"), "{results:?}");
        assert!(results[2].message.contains("Authorization"), "{results:?}");
        assert!(!results[2].message.contains("secret"), "{results:?}");
        assert!(results[3].message.contains("http"), "{results:?}");
    }

    #[tokio::test]
    async fn read_only_mode_sends_no_post() {
        // Port 9 (discard) is closed on loopback: a sent check would fail
        // with a connection error and one attempt or more, not with 0.
        let mut post = check("http://127.0.0.1:9/deploy?token=x");
        post.method = Some("post".into());
        post.retries = Some(0);
        let results = smoke_in(&[post.clone()], SmokeMode::ReadOnly).await;
        assert_eq!(results[0].attempts, 0, "{results:?}");
        assert!(!results[0].ok);
        assert!(
            results[0].message.contains("not run by plan (POST"),
            "{results:?}"
        );
        let sent = smoke_in(&[post], SmokeMode::Full).await;
        assert_eq!(sent[0].attempts, 1, "{sent:?}");
    }
}
