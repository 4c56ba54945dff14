//! The local registry adapter: a YAML file describing repositories, images,
//! scans and signatures, for the demo and tests. It is re-read on every
//! call, so a test or the demo "pushes" an image by rewriting the file. The
//! gates run on it exactly as on ECR; only the fetching differs.
//!
//! ```yaml
//! repositories:
//!   team/api:
//!     images:
//!       - digest: sha256:<64 hex>
//!         tags: [sha-3f2a9c1]
//!         pushed_at: 2026-11-20T10:00:00Z
//!         scan: {status: COMPLETE, findings: {CRITICAL: 0, HIGH: 1}}   # no scan key = no scan
//!         signatures:
//!           - {payload: sigs/api-1.json, signature: <base64>}  # legacy simple signing
//!           - {bundle: sigs/api-1.bundle.json}                 # cosign v3 bundle
//! ```
//! Paths are relative to the file.
//!
//! Every file read is bounded: the registry file by
//! [`MAX_REGISTRY_FILE_BYTES`], a signature payload or bundle by
//! [`MAX_BLOB_BYTES`], the limit the OCI client puts on the same blobs in a
//! real registry. A path may name anything (`/dev/zero`, a FIFO, a huge
//! file); reading stops one byte past the limit with an error naming the
//! file. A signature file that cannot be read does not hide the image's
//! other signatures: it counts as [`SignatureEvidence::Unusable`] with the
//! reason, as a broken referrer does in a real registry.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::{ImageRecord, ImageSource, RegistryError};
use crate::evidence::{ScanState, SignatureEvidence, severity};
use crate::image::Digest;
use crate::oci::MAX_BLOB_BYTES;

/// Largest registry file read: 16 MiB, room for tens of thousands of
/// images, far more than a demo or test writes.
pub const MAX_REGISTRY_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// At most `limit` bytes of the file at `path`, or an error naming it. The
/// read is cut one byte past the limit, whatever the file claims to be.
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if out.len() as u64 > limit {
        return Err(format!(
            "{}: larger than the {} MiB limit (stopped after {} bytes)",
            path.display(),
            limit / (1024 * 1024),
            out.len()
        ));
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    repositories: BTreeMap<String, Repository>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Repository {
    #[serde(default)]
    images: Vec<Image>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    digest: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pushed_at: time::OffsetDateTime,
    scan: Option<Scan>,
    #[serde(default)]
    signatures: Vec<Signature>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scan {
    status: String,
    description: Option<String>,
    #[serde(default)]
    findings: BTreeMap<String, u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Signature {
    payload: Option<PathBuf>,
    signature: Option<String>,
    bundle: Option<PathBuf>,
}

/// The parsed file and the metadata it was read with.
type Loaded = (Option<std::time::SystemTime>, u64, Arc<File>);

/// A registry backed by one YAML file.
#[derive(Debug)]
pub struct LocalRegistry {
    path: PathBuf,
    // The file is parsed again only when its size or mtime changes.
    loaded: Mutex<Option<Loaded>>,
}

impl LocalRegistry {
    /// The registry described by the file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LocalRegistry {
            path: path.into(),
            loaded: Mutex::new(None),
        }
    }

    fn base(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    fn load(&self) -> Result<Arc<File>, RegistryError> {
        let meta = std::fs::metadata(&self.path)
            .map_err(|e| RegistryError::Other(format!("{}: {e}", self.path.display())))?;
        let stamp = (meta.modified().ok(), meta.len());
        let mut slot = self
            .loaded
            .lock()
            .map_err(|_| RegistryError::Other("registry cache poisoned".into()))?;
        if let Some((m, l, file)) = slot.as_ref()
            && (*m, *l) == stamp
        {
            return Ok(file.clone());
        }
        let file = Arc::new(self.parse()?);
        *slot = Some((stamp.0, stamp.1, file.clone()));
        Ok(file)
    }

    fn parse(&self) -> Result<File, RegistryError> {
        let bytes =
            read_bounded(&self.path, MAX_REGISTRY_FILE_BYTES).map_err(RegistryError::Other)?;
        let text = String::from_utf8(bytes).map_err(|e| {
            RegistryError::Other(format!("{}: not UTF-8: {e}", self.path.display()))
        })?;
        yaml_serde::from_str(&text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            RegistryError::Other(format!("{}{at}: {e}", self.path.display()))
        })
    }

    fn repository<'f>(
        &self,
        file: &'f File,
        repository: &str,
    ) -> Result<&'f Repository, RegistryError> {
        file.repositories
            .get(repository)
            .ok_or_else(|| RegistryError::RepositoryNotFound(repository.to_string()))
    }

    fn image<'f>(
        &self,
        file: &'f File,
        repository: &str,
        digest: &Digest,
    ) -> Result<&'f Image, RegistryError> {
        self.repository(file, repository)?
            .images
            .iter()
            .find(|i| i.digest == digest.as_str())
            .ok_or_else(|| RegistryError::ImageNotFound(format!("{repository}@{digest}")))
    }

    /// A signature file, as evidence: its bytes, or why it does not count.
    fn evidence(
        &self,
        p: &Path,
        ok: impl FnOnce(Vec<u8>) -> SignatureEvidence,
    ) -> SignatureEvidence {
        let full = self.base().join(p);
        match read_bounded(&full, MAX_BLOB_BYTES) {
            Ok(bytes) => ok(bytes),
            Err(why) => SignatureEvidence::Unusable {
                source: format!("signature file {}", p.display()),
                why,
            },
        }
    }
}

impl ImageSource for LocalRegistry {
    async fn list_images(&self, repository: &str) -> Result<Vec<ImageRecord>, RegistryError> {
        let file = self.load()?;
        self.repository(&file, repository)?
            .images
            .iter()
            .map(|i| {
                let digest = Digest::parse(&i.digest)
                    .map_err(|e| RegistryError::Other(format!("{}: {e}", self.path.display())))?;
                Ok(ImageRecord {
                    digest,
                    tags: i.tags.clone(),
                    pushed_at: i.pushed_at,
                })
            })
            .collect()
    }

    async fn scan(&self, repository: &str, digest: &Digest) -> Result<ScanState, RegistryError> {
        let file = self.load()?;
        let Some(scan) = &self.image(&file, repository, digest)?.scan else {
            return Ok(ScanState::Missing);
        };
        let mut counts = BTreeMap::new();
        for (name, n) in &scan.findings {
            let sev = severity(name).ok_or_else(|| {
                RegistryError::Other(format!(
                    "{}: unknown severity {name:?}",
                    self.path.display()
                ))
            })?;
            counts.insert(sev, *n);
        }
        Ok(ScanState::from_status(
            &scan.status,
            scan.description.clone(),
            counts,
        ))
    }

    async fn signatures(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Vec<SignatureEvidence>, RegistryError> {
        let file = self.load()?;
        self.image(&file, repository, digest)?
            .signatures
            .iter()
            .map(|s| match (&s.payload, &s.signature, &s.bundle) {
                (Some(p), Some(sig), None) => {
                    Ok(
                        self.evidence(p, |payload| SignatureEvidence::SimpleSigning {
                            payload,
                            signature_b64: sig.clone(),
                        }),
                    )
                }
                (None, None, Some(b)) => {
                    Ok(self.evidence(b, |json| SignatureEvidence::Bundle { json }))
                }
                _ => Err(RegistryError::Other(format!(
                    "{}: a signature needs `payload` and `signature`, or `bundle`",
                    self.path.display()
                ))),
            })
            .collect()
    }
}
