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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::{ImageRecord, ImageSource, RegistryError};
use crate::gates::{ScanState, SignatureEvidence, severity};
use crate::image::Digest;

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
        if let Some((m, l, file)) = slot.as_ref() {
            if (*m, *l) == stamp {
                return Ok(file.clone());
            }
        }
        let file = Arc::new(self.parse()?);
        *slot = Some((stamp.0, stamp.1, file.clone()));
        Ok(file)
    }

    fn parse(&self) -> Result<File, RegistryError> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| RegistryError::Other(format!("{}: {e}", self.path.display())))?;
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

    fn read(&self, p: &Path) -> Result<Vec<u8>, RegistryError> {
        let full = self.base().join(p);
        std::fs::read(&full).map_err(|e| RegistryError::Other(format!("{}: {e}", full.display())))
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
                (Some(p), Some(sig), None) => Ok(SignatureEvidence::SimpleSigning {
                    payload: self.read(p)?,
                    signature_b64: sig.clone(),
                }),
                (None, None, Some(b)) => Ok(SignatureEvidence::Bundle {
                    json: self.read(b)?,
                }),
                _ => Err(RegistryError::Other(format!(
                    "{}: a signature needs `payload` and `signature`, or `bundle`",
                    self.path.display()
                ))),
            })
            .collect()
    }
}
