//! A small OCI distribution client: manifests, blobs, referrers (with the
//! tag-schema fallback for registries without the referrers API), and the
//! uploads ferry's tests and demo need to attach signatures. Authentication
//! is none, HTTP Basic (ECR: `AWS` + authorization token) or a bearer
//! token.

mod signatures;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use signatures::{BUNDLE_MEDIA_TYPE, SIMPLE_SIGNING_MEDIA_TYPE, attach, fetch_signatures};

use crate::image::Digest;

/// OCI image manifest media type.
pub const MANIFEST_V1: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const INDEX_V1: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Credentials for a registry.
#[derive(Clone, Default)]
pub enum Auth {
    /// Anonymous.
    #[default]
    None,
    /// HTTP Basic.
    Basic {
        /// User name.
        user: String,
        /// Password or token.
        password: String,
    },
    /// A bearer token.
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    // Secrets never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { user, .. } => write!(f, "Basic({user}, ***)"),
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

/// A registry request that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OciError {
    /// Transport failure.
    #[error("{url}: {message}")]
    Http {
        /// The URL requested.
        url: String,
        /// What failed.
        message: String,
    },
    /// An unexpected status.
    #[error("{url}: HTTP {status}")]
    Status {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
    },
    /// Content whose digest is not the one asked for.
    #[error("{url}: content digest {got} does not match {want}")]
    DigestMismatch {
        /// The URL requested.
        url: String,
        /// The digest asked for.
        want: String,
        /// The digest of what came back.
        got: String,
    },
    /// A manifest or index that does not parse.
    #[error("{url}: malformed JSON: {message}")]
    Malformed {
        /// The URL requested.
        url: String,
        /// The parser's message.
        message: String,
    },
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type.
    pub media_type: String,
    /// Content digest.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Artifact type (referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// An image manifest (the parts ferry reads and writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// Media type.
    #[serde(default)]
    pub media_type: String,
    /// Artifact type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Config descriptor.
    pub config: Descriptor,
    /// Layers.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// An image index (also the shape of a referrers response).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// Media type.
    #[serde(default)]
    pub media_type: String,
    /// Entries.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// Raw manifest bytes with their media type and digest.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The bytes, exactly as served (their digest is the manifest digest).
    pub bytes: Vec<u8>,
    /// `Content-Type`.
    pub media_type: String,
    /// sha256 of the bytes.
    pub digest: Digest,
}

/// `sha256:` digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Digest::parse(&format!("sha256:{hex}")).expect("a sha256 hex digest is valid")
}

/// A client for one registry.
#[derive(Debug, Clone)]
pub struct OciClient {
    http: reqwest::Client,
    base: String,
    auth: Auth,
}

impl OciClient {
    /// A client for the registry at `base` (`https://host` or
    /// `http://127.0.0.1:5000`).
    pub fn new(base: &str, auth: Auth) -> Self {
        OciClient {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            base: base.trim_end_matches('/').to_string(),
            auth,
        }
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, url);
        match &self.auth {
            Auth::None => r,
            Auth::Basic { user, password } => r.header(
                "Authorization",
                format!("Basic {}", B64.encode(format!("{user}:{password}"))),
            ),
            Auth::Bearer(t) => r.bearer_auth(t),
        }
    }

    async fn send(
        &self,
        rb: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<reqwest::Response, OciError> {
        rb.send().await.map_err(|e| OciError::Http {
            url: url.to_string(),
            message: e.to_string(),
        })
    }

    async fn body(resp: reqwest::Response, url: &str) -> Result<Vec<u8>, OciError> {
        resp.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| OciError::Http {
                url: url.to_string(),
                message: e.to_string(),
            })
    }

    /// The manifest `reference` (tag or digest) of `repo`; `None` when the
    /// registry has no such manifest. A digest reference is verified.
    pub async fn manifest(&self, repo: &str, reference: &str) -> Result<Option<Fetched>, OciError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let rb = self.request(reqwest::Method::GET, &url).header(
            "Accept",
            format!("{MANIFEST_V1}, {INDEX_V1}, {DOCKER_MANIFEST_V2}"),
        );
        let resp = self.send(rb, &url).await?;
        match resp.status() {
            StatusCode::NOT_FOUND => return Ok(None),
            s if !s.is_success() => {
                return Err(OciError::Status {
                    url,
                    status: s.as_u16(),
                });
            }
            _ => {}
        }
        let media_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = Self::body(resp, &url).await?;
        let digest = sha256(&bytes);
        if reference.starts_with("sha256:") && digest.as_str() != reference {
            return Err(OciError::DigestMismatch {
                url,
                want: reference.into(),
                got: digest.to_string(),
            });
        }
        Ok(Some(Fetched {
            bytes,
            media_type,
            digest,
        }))
    }

    /// A blob, verified against its digest.
    pub async fn blob(&self, repo: &str, digest: &str) -> Result<Vec<u8>, OciError> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base);
        let resp = self
            .send(self.request(reqwest::Method::GET, &url), &url)
            .await?;
        if !resp.status().is_success() {
            return Err(OciError::Status {
                url,
                status: resp.status().as_u16(),
            });
        }
        let bytes = Self::body(resp, &url).await?;
        let got = sha256(&bytes);
        if got.as_str() != digest {
            return Err(OciError::DigestMismatch {
                url,
                want: digest.into(),
                got: got.to_string(),
            });
        }
        Ok(bytes)
    }

    /// Manifests that refer to `digest`, from the referrers API, or from
    /// the `sha256-<hex>` fallback tag when the registry lacks the API.
    pub async fn referrers(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Vec<Descriptor>, OciError> {
        let url = format!("{}/v2/{repo}/referrers/{digest}", self.base);
        let resp = self
            .send(self.request(reqwest::Method::GET, &url), &url)
            .await?;
        let from_api = resp.status().is_success()
            && resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.starts_with(INDEX_V1));
        let bytes = if from_api {
            Self::body(resp, &url).await?
        } else {
            match self.manifest(repo, &fallback_tag(digest)).await? {
                Some(f) => f.bytes,
                None => return Ok(Vec::new()),
            }
        };
        let index: Index = serde_json::from_slice(&bytes).map_err(|e| OciError::Malformed {
            url,
            message: e.to_string(),
        })?;
        Ok(index.manifests)
    }

    /// Uploads a blob (monolithic) unless the registry has it already.
    pub async fn put_blob(&self, repo: &str, bytes: &[u8]) -> Result<Digest, OciError> {
        let digest = sha256(bytes);
        let head = format!("{}/v2/{repo}/blobs/{digest}", self.base);
        if self
            .send(self.request(reqwest::Method::HEAD, &head), &head)
            .await?
            .status()
            .is_success()
        {
            return Ok(digest);
        }
        let url = format!("{}/v2/{repo}/blobs/uploads/", self.base);
        let resp = self
            .send(self.request(reqwest::Method::POST, &url), &url)
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(OciError::Status {
                url,
                status: resp.status().as_u16(),
            });
        }
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| OciError::Http {
                url: url.clone(),
                message: "upload without Location".into(),
            })?;
        let mut put = if location.starts_with("http") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        };
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str(&format!("digest={digest}"));
        let rb = self
            .request(reqwest::Method::PUT, &put)
            .header("Content-Type", "application/octet-stream")
            .body(bytes.to_vec());
        let resp = self.send(rb, &put).await?;
        if resp.status() != StatusCode::CREATED {
            return Err(OciError::Status {
                url: put,
                status: resp.status().as_u16(),
            });
        }
        Ok(digest)
    }

    /// Uploads a manifest under `reference` (a tag or its digest).
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, OciError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let rb = self
            .request(reqwest::Method::PUT, &url)
            .header("Content-Type", media_type)
            .body(bytes.to_vec());
        let resp = self.send(rb, &url).await?;
        if resp.status() != StatusCode::CREATED {
            return Err(OciError::Status {
                url,
                status: resp.status().as_u16(),
            });
        }
        Ok(sha256(bytes))
    }
}

/// The tag holding the referrers index of `digest` on registries without
/// the referrers API (`sha256-<hex>`).
pub fn fallback_tag(digest: &Digest) -> String {
    digest.as_str().replacen(':', "-", 1)
}
