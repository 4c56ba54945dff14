//! The Argo CD REST client and the typed subset of an `Application` that
//! the health checks read.

use reqwest::Url;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

use super::HealthError;
use crate::config::ArgoCd;

/// The largest Application body read: real ones with thousands of
/// resources stay well below; a larger answer is an error, not a read
/// without end.
pub const MAX_APPLICATION_BODY: usize = 16 << 20;

/// Reads an Argo CD server's Applications over its REST API.
#[derive(Clone)]
pub struct ArgoClient {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

impl std::fmt::Debug for ArgoClient {
    // Secrets never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArgoClient")
            .field("base", &crate::redact::url(self.base.as_str()))
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl ArgoClient {
    /// A client for the server at `base_url` (`https://argocd.acme.io`, or
    /// with a path prefix such as `https://acme.io/argocd`), sending
    /// `token` as a bearer token when given.
    pub fn new(base_url: &str, token: Option<String>) -> Result<Self, HealthError> {
        let shown = crate::redact::url(base_url);
        let base = Url::parse(base_url).map_err(|e| HealthError::Config {
            message: format!("argocd.url {shown:?}: {e}"),
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(HealthError::Config {
                message: format!("argocd.url {shown:?} is not an http:// or https:// URL"),
            });
        }
        Ok(ArgoClient {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            base,
            token,
        })
    }

    /// A client for the `argocd:` section, reading the token from the
    /// environment variable it names. A named variable that is unset is an
    /// error rather than an anonymous client: it is a deployment mistake.
    pub fn from_config(config: &ArgoCd) -> Result<Self, HealthError> {
        let token = match &config.token_env {
            Some(var) => Some(std::env::var(var).map_err(|_| HealthError::Config {
                message: format!("argocd.token_env: environment variable {var} is not set"),
            })?),
            None => None,
        };
        Self::new(&config.url, token)
    }

    /// `GET {base}/api/v1/applications/{name}`. Any failure (transport,
    /// a status other than 200, a body that is not an Application) is an
    /// error, which callers turn into a hold.
    pub async fn application(&self, name: &str) -> Result<Application, HealthError> {
        let url = self.url_for(name)?;
        // The base URL may carry a query or user-info; errors never show it.
        let shown = crate::redact::url(url.as_str());
        let mut req = self.http.get(url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let mut resp = req.send().await.map_err(|e| HealthError::Http {
            url: shown.clone(),
            message: describe(e),
        })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(HealthError::Status {
                url: shown,
                status: status.as_u16(),
            });
        }
        let body = read_capped(&mut resp, MAX_APPLICATION_BODY)
            .await
            .map_err(|message| HealthError::Http {
                url: shown.clone(),
                message,
            })?;
        serde_json::from_slice(&body).map_err(|e| HealthError::Malformed {
            url: shown,
            message: e.to_string(),
        })
    }

    fn url_for(&self, name: &str) -> Result<Url, HealthError> {
        let mut url = self.base.clone();
        // `cannot_be_a_base` was refused in `new`, so this cannot fail; the
        // segments are percent-encoded, so a name cannot escape the path.
        url.path_segments_mut()
            .map_err(|()| HealthError::Config {
                message: format!(
                    "argocd.url {:?} cannot take a path",
                    crate::redact::url(self.base.as_str())
                ),
            })?
            .pop_if_empty()
            .extend(["api", "v1", "applications", name]);
        Ok(url)
    }
}

/// A transport error with its causes, without the URL (reported apart)
/// and with any secret a cause quotes redacted.
pub(crate) fn describe(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if timeout && !text.contains("timed out") {
        text.push_str(" (timed out)");
    }
    crate::redact::text(&text)
}

/// What [`read_capped`] says about a body over its cap.
const TOO_LARGE: &str = "the response body exceeds the limit of";

/// Whether a [`read_capped`] error is a body over the cap (the server's
/// answer) rather than a transport failure.
pub(crate) fn is_too_large(error: &str) -> bool {
    error.starts_with(TOO_LARGE)
}

/// Reads a body chunk by chunk and fails as soon as it exceeds `cap`
/// bytes (or announces more), so a huge answer is never held in memory.
pub(crate) async fn read_capped(
    resp: &mut reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, String> {
    let too_large = || format!("{TOO_LARGE} {cap} bytes");
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(cap).unwrap_or(u64::MAX))
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(describe)? {
        if body.len().saturating_add(chunk.len()) > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An Argo CD `Application`: only what ferry reads. Unknown fields are
/// ignored and absent or `null` ones take their default, so objects from
/// any Argo CD version parse; a check that needs a missing field fails.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// `metadata`.
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Metadata,
    /// `status`.
    #[serde(default, deserialize_with = "nullable")]
    pub status: AppStatus,
}

impl Application {
    /// The revisions Argo CD compared with: `status.sync.revisions` for a
    /// multi-source application, else `status.sync.revision`.
    pub fn revisions(&self) -> Vec<&str> {
        let sync = &self.status.sync;
        if !sync.revisions.is_empty() {
            sync.revisions.iter().map(String::as_str).collect()
        } else {
            sync.revision.as_deref().into_iter().collect()
        }
    }
}

/// `metadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// `metadata.name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `metadata.namespace`.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    /// `status.sync`.
    #[serde(default, deserialize_with = "nullable")]
    pub sync: SyncStatus,
    /// `status.health`.
    #[serde(default, deserialize_with = "nullable")]
    pub health: HealthStatus,
    /// `status.operationState`: the last (or running) sync operation.
    #[serde(default)]
    pub operation_state: Option<OperationState>,
    /// `status.reconciledAt`: when the controller last compared live and
    /// desired state.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub reconciled_at: Option<OffsetDateTime>,
    /// `status.conditions`.
    #[serde(default, deserialize_with = "nullable")]
    pub conditions: Vec<Condition>,
    /// `status.summary`.
    #[serde(default, deserialize_with = "nullable")]
    pub summary: Summary,
}

/// `status.sync`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// `Synced`, `OutOfSync` or `Unknown`.
    #[serde(default)]
    pub status: Option<String>,
    /// The revision compared with (single-source applications).
    #[serde(default)]
    pub revision: Option<String>,
    /// One revision per source (multi-source applications).
    #[serde(default, deserialize_with = "nullable")]
    pub revisions: Vec<String>,
}

/// `status.health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthStatus {
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or
    /// `Unknown`.
    #[serde(default)]
    pub status: Option<String>,
    /// When the status last changed (Argo CD 2.11 and later).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_transition_time: Option<OffsetDateTime>,
}

/// `status.operationState`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationState {
    /// `Running`, `Terminating`, `Failed`, `Error` or `Succeeded`.
    #[serde(default)]
    pub phase: Option<String>,
    /// Operation message.
    #[serde(default)]
    pub message: Option<String>,
    /// When the operation finished.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// `syncResult`.
    #[serde(default)]
    pub sync_result: Option<SyncResult>,
}

/// `status.operationState.syncResult`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncResult {
    /// The revision synced (single source).
    #[serde(default)]
    pub revision: Option<String>,
    /// The revisions synced (multi-source).
    #[serde(default, deserialize_with = "nullable")]
    pub revisions: Vec<String>,
}

/// One entry of `status.conditions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `ComparisonError`, `SharedResourceWarning`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    /// What Argo CD says.
    #[serde(default)]
    pub message: Option<String>,
}

impl Condition {
    /// Argo CD's own rule (`ApplicationCondition.IsError`): a condition is
    /// an error when its type ends in `Error` (`ComparisonError`,
    /// `InvalidSpecError`, `SyncError`, `UnknownError`, `DeletionError`).
    pub fn is_error(&self) -> bool {
        self.kind.ends_with("Error")
    }
}

/// `status.summary`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Every container image of the live resources, as written in them.
    #[serde(default, deserialize_with = "nullable")]
    pub images: Vec<String>,
}

/// `null` reads as the default, as Go's encoder writes nil slices so.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_keeps_a_path_prefix_and_encodes_the_name() {
        let c = ArgoClient::new("https://acme.io/argocd/", None).unwrap();
        assert_eq!(
            c.url_for("web").unwrap().as_str(),
            "https://acme.io/argocd/api/v1/applications/web"
        );
        assert_eq!(
            c.url_for("a/../b").unwrap().as_str(),
            "https://acme.io/argocd/api/v1/applications/a%2F..%2Fb"
        );
    }

    #[test]
    fn bad_base_urls_are_refused() {
        assert!(ArgoClient::new("argocd.acme.io", None).is_err());
        assert!(ArgoClient::new("ftp://argocd.acme.io", None).is_err());
    }

    #[test]
    fn error_urls_lose_their_query_and_user_info() {
        let c = ArgoClient::new("https://u:pw@acme.io/argocd?token=s3cret", None).unwrap();
        let url = c.url_for("web").unwrap();
        let shown = crate::redact::url(url.as_str());
        assert_eq!(
            shown,
            "https://***@acme.io/argocd/api/v1/applications/web?<redacted>"
        );
    }

    #[test]
    fn debug_hides_the_token() {
        let c = ArgoClient::new("https://a.io", Some("s3cret".into())).unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn nulls_and_unknown_fields_are_tolerated() {
        let app: Application = serde_json::from_str(
            r#"{"kind":"Application","status":{"sync":{"status":"Synced","revisions":null},
               "conditions":null,"summary":{"images":null,"externalURLs":["x"]}}}"#,
        )
        .unwrap();
        assert_eq!(app.status.sync.status.as_deref(), Some("Synced"));
        assert!(app.status.conditions.is_empty());
        assert!(app.revisions().is_empty());
    }

    #[test]
    fn a_malformed_timestamp_is_an_error_not_a_default() {
        let r: Result<Application, _> =
            serde_json::from_str(r#"{"status":{"reconciledAt":"yesterday"}}"#);
        assert!(r.is_err());
    }
}
