//! The HTTP half of an analysis: one `GET /api/v1/query` to Prometheus,
//! bounded in time and size, with the bearer token from `token_env`.
//! Every failure is a reason the evaluation is inconclusive, never a pass;
//! no message carries the token or the URL's query string.

use std::time::Duration;

use reqwest::Url;

use super::super::argocd::{describe, read_capped};
use super::query::{error_answer, read_value};
use crate::config::Prometheus;

/// How long one query may take, connection and body together.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer read: a query meant to return one value that
/// returns more than this is not read on.
pub const MAX_ANSWER: usize = 1 << 20;

/// `GET {url}/api/v1/query?query=…` and the one value of its answer, or
/// why there is none (every message names the server, redacted).
pub async fn query(
    http: &reqwest::Client,
    server: &Prometheus,
    promql: &str,
    token: Option<&str>,
) -> Result<f64, String> {
    let shown = crate::redact::url(&server.url);
    let fail = |why: String| format!("Prometheus {shown}: {why}");
    let url = query_url(&server.url, promql).map_err(fail)?;
    let mut req = http.get(url).timeout(QUERY_TIMEOUT);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    // Outer error: the server could not be asked (named in the message);
    // inner: what its answer says about the value ("no data").
    let read = async {
        let mut resp = req.send().await.map_err(describe)?;
        let status = resp.status();
        let body = read_capped(&mut resp, MAX_ANSWER).await?;
        if !status.is_success() {
            // Prometheus answers a bad query with 400 and an error body:
            // what it says is worth more than the status.
            return Err(match error_answer(&body) {
                Some(said) => format!("HTTP {}: {said}", status.as_u16()),
                None => format!("HTTP {}", status.as_u16()),
            });
        }
        Ok(read_value(&body))
    };
    // reqwest's timeout covers the body too; this one is the bound the
    // caller relies on, whatever reqwest does.
    match tokio::time::timeout(QUERY_TIMEOUT, read).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(why)) => Err(fail(why)),
        Err(_) => Err(fail(format!(
            "timed out after {} s",
            QUERY_TIMEOUT.as_secs()
        ))),
    }
}

/// `{base}/api/v1/query?query=…`: the base may carry a path prefix
/// (`https://acme.io/prometheus`); the query is percent-encoded, so it
/// cannot add parameters.
pub fn query_url(base: &str, promql: &str) -> Result<Url, String> {
    let mut url = Url::parse(base).map_err(|e| format!("invalid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err("not an http:// or https:// URL".into());
    }
    url.path_segments_mut()
        .map_err(|()| "the URL cannot take a path".to_string())?
        .pop_if_empty()
        .extend(["api", "v1", "query"]);
    url.query_pairs_mut().append_pair("query", promql);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_url_keeps_the_prefix_and_encodes_the_query() {
        let u = query_url("http://p:9090", r#"up{a="b&c=d"}"#).unwrap();
        assert_eq!(
            u.as_str(),
            "http://p:9090/api/v1/query?query=up%7Ba%3D%22b%26c%3Dd%22%7D"
        );
        let u = query_url("https://acme.io/prometheus/", "up").unwrap();
        assert_eq!(
            u.as_str(),
            "https://acme.io/prometheus/api/v1/query?query=up"
        );
        assert!(query_url("ftp://p", "up").is_err());
        assert!(query_url("not a url", "up").is_err());
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_reason_never_a_value() {
        // Port 9 (discard) is closed on loopback.
        let server = Prometheus {
            url: "http://127.0.0.1:9/?token=s3cr3t".into(),
            token_env: None,
        };
        let why = query(&reqwest::Client::new(), &server, "up", Some("hunter2"))
            .await
            .unwrap_err();
        assert!(why.starts_with("Prometheus http://127.0.0.1:9/"), "{why}");
        assert!(!why.contains("s3cr3t") && !why.contains("hunter2"), "{why}");
    }
}
