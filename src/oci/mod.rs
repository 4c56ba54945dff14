//! A small OCI distribution client: manifests, blobs, referrers (with the
//! tag-schema fallback for registries without the referrers API), and the
//! uploads ferry's tests and demo need to attach signatures. Authentication
//! is none, HTTP Basic (ECR: `AWS` + authorization token) or a bearer
//! token.
//!
//! Every body ferry reads from a registry is bounded, because the registry
//! (or whoever can push to it) controls it: manifests, indexes and
//! referrers responses by [`MAX_MANIFEST_BYTES`], blobs by
//! [`MAX_BLOB_BYTES`]. A declared `Content-Length` over the limit is
//! refused before reading; otherwise the body is read chunk by chunk and
//! refused as soon as it passes the limit, so no more than the limit is
//! ever held in memory.

mod signatures;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256, Sha512};

pub use signatures::{BUNDLE_MEDIA_TYPE, SIMPLE_SIGNING_MEDIA_TYPE, attach, fetch_signatures};

use crate::image::{Digest, Tag};

/// Largest manifest, image index or referrers response ferry reads: 4 MiB,
/// the limit the CNCF distribution registry puts on a manifest it accepts
/// (and containers/image on one it reads). A signature manifest is a few
/// KiB.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Largest blob ferry reads: 16 MiB. ferry reads only signature payloads
/// and sigstore bundles, which are a few KiB even with a certificate
/// chain and transparency-log proof; the margin leaves room for unusual
/// ones without letting a registry make ferry hold an image layer.
pub const MAX_BLOB_BYTES: u64 = 16 * 1024 * 1024;

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
    /// A body over the limit for its kind; reading stopped there.
    #[error("{url}: {what} is larger than the {} limit ({seen})", mib(*.limit))]
    TooLarge {
        /// The URL requested.
        url: String,
        /// What was being read: "manifest", "referrers index" or "blob".
        what: &'static str,
        /// The limit in bytes.
        limit: u64,
        /// What gave it away: the declared length or the bytes read.
        seen: String,
    },
    /// Neither cosign signature source could be asked: not the `.sig` tag,
    /// not the referrers.
    #[error("no signature source could be read: signature tag: {legacy}; referrers: {referrers}")]
    Unavailable {
        /// Why the `.sig` tag could not be read.
        legacy: Box<OciError>,
        /// Why the referrers could not be listed.
        referrers: Box<OciError>,
    },
    /// A manifest reference that is neither a valid tag nor a valid
    /// digest; it is never put into a URL.
    #[error("{reference:?} is not a valid tag or digest: {why}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What the image grammar says.
        why: String,
    },
}

/// `n` bytes in MiB when it is a whole number of them, for messages.
fn mib(n: u64) -> String {
    if n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else {
        format!("{n}-byte")
    }
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

/// The digest of `bytes` with the algorithm of `like` (sha256 or sha512),
/// to check content against the digest it was asked by.
fn digest_like(like: &Digest, bytes: &[u8]) -> String {
    if like.as_str().starts_with("sha512:") {
        let hex: String = Sha512::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha512:{hex}")
    } else {
        sha256(bytes).to_string()
    }
}

/// A reference as the grammar allows it in a manifest URL: a digest when
/// it has a colon, else a tag.
fn checked_reference(reference: &str) -> Result<Option<Digest>, OciError> {
    let invalid = |why: String| OciError::InvalidReference {
        reference: reference.to_string(),
        why,
    };
    if reference.contains(':') {
        Digest::parse(reference)
            .map(Some)
            .map_err(|e| invalid(e.to_string()))
    } else {
        Tag::parse(reference)
            .map(|_| None)
            .map_err(|e| invalid(e.to_string()))
    }
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

    /// The body of `resp`, at most `limit` bytes: the declared length is
    /// checked first, then the body is read chunk by chunk and refused as
    /// soon as it passes the limit (a server may send no length, or keep
    /// sending).
    async fn body(
        mut resp: reqwest::Response,
        url: &str,
        what: &'static str,
        limit: u64,
    ) -> Result<Vec<u8>, OciError> {
        let too_large = |seen: String| OciError::TooLarge {
            url: url.to_string(),
            what,
            limit,
            seen,
        };
        let declared = resp.content_length();
        if let Some(n) = declared.filter(|n| *n > limit) {
            return Err(too_large(format!("Content-Length is {n} bytes")));
        }
        let capacity = usize::try_from(declared.unwrap_or(0)).unwrap_or(0);
        let mut out = Vec::with_capacity(capacity);
        while let Some(chunk) = resp.chunk().await.map_err(|e| OciError::Http {
            url: url.to_string(),
            message: e.to_string(),
        })? {
            let total = (out.len() + chunk.len()) as u64;
            if total > limit {
                return Err(too_large(format!("stopped after {total} bytes")));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// The manifest `reference` (tag or digest) of `repo`; `None` when the
    /// registry has no such manifest. A digest reference is verified; a
    /// reference that is neither a valid tag nor a valid digest is refused
    /// without a request. At most [`MAX_MANIFEST_BYTES`] are read.
    pub async fn manifest(&self, repo: &str, reference: &str) -> Result<Option<Fetched>, OciError> {
        let by_digest = checked_reference(reference)?;
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
        let bytes = Self::body(resp, &url, "manifest", MAX_MANIFEST_BYTES).await?;
        if let Some(want) = &by_digest {
            let got = digest_like(want, &bytes);
            if got != want.as_str() {
                return Err(OciError::DigestMismatch {
                    url,
                    want: want.to_string(),
                    got,
                });
            }
        }
        let digest = sha256(&bytes);
        Ok(Some(Fetched {
            bytes,
            media_type,
            digest,
        }))
    }

    /// A blob, verified against its digest; at most [`MAX_BLOB_BYTES`]
    /// are read.
    pub async fn blob(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, OciError> {
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
        let bytes = Self::body(resp, &url, "blob", MAX_BLOB_BYTES).await?;
        let got = digest_like(digest, &bytes);
        if got != digest.as_str() {
            return Err(OciError::DigestMismatch {
                url,
                want: digest.to_string(),
                got,
            });
        }
        Ok(bytes)
    }

    /// Manifests that refer to `digest`, from the referrers API, or from
    /// the `sha256-<hex>` fallback tag when the registry lacks the API. At
    /// most [`MAX_MANIFEST_BYTES`] are read. The descriptors are as the
    /// registry sent them: their digests are not validated here.
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
            Self::body(resp, &url, "referrers index", MAX_MANIFEST_BYTES).await?
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
/// the referrers API: `<alg>-<hex>`, the hex cut to 64 digits as the OCI
/// distribution spec's tag schema says (a sha512 digest would otherwise
/// make a tag longer than the 128 characters a tag may have).
pub fn fallback_tag(digest: &Digest) -> String {
    let (alg, hex) = digest
        .as_str()
        .split_once(':')
        .unwrap_or(("sha256", digest.as_str()));
    let hex: String = hex.chars().take(64).collect();
    format!("{alg}-{hex}")
}
