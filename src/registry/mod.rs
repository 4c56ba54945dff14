//! Where images come from: the registry adapters (ECR, local), EventBridge
//! events that say "look now", and the tag policy that picks candidates.

pub mod ecr;
pub mod events;
pub mod intake;
pub mod local;
pub mod policy;

use std::future::Future;

use crate::evidence::{ScanState, SignatureEvidence};
use crate::image::Digest;
pub use policy::ImageRecord;

/// A registry could not answer. Gates treat this as "hold", never "pass".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The repository does not exist.
    #[error("repository {0:?} not found")]
    RepositoryNotFound(String),
    /// The image does not exist.
    #[error("image {0} not found")]
    ImageNotFound(String),
    /// The registry throttled us past the retry budget.
    #[error("throttled by the registry: {0}")]
    Throttled(String),
    /// Anything else: network, auth, a malformed answer.
    #[error("{0}")]
    Other(String),
}

/// What ferry needs from a registry. Implemented by the ECR adapter and the
/// local (file) adapter; gates run the same code on both.
pub trait ImageSource: Sync {
    /// Every image of `repository` with its tags and push time.
    fn list_images(
        &self,
        repository: &str,
    ) -> impl Future<Output = Result<Vec<ImageRecord>, RegistryError>> + Send;
    /// The scan state of one digest.
    fn scan(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> impl Future<Output = Result<ScanState, RegistryError>> + Send;
    /// Every cosign signature attached to one digest, in either format.
    fn signatures(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> impl Future<Output = Result<Vec<SignatureEvidence>, RegistryError>> + Send;
}

/// The adapter the config selects.
pub enum AnyRegistry {
    /// Amazon ECR.
    Ecr(Box<ecr::EcrRegistry>),
    /// The local YAML file.
    Local(local::LocalRegistry),
}

impl AnyRegistry {
    /// Builds the adapter for `registry:`; relative paths are resolved
    /// against `base` (the config file's directory).
    pub async fn from_config(
        cfg: &crate::config::Registry,
        base: &std::path::Path,
    ) -> Result<Self, RegistryError> {
        use crate::config::RegistryKind;
        match cfg.kind {
            RegistryKind::Local => {
                let path = cfg.path.as_ref().ok_or_else(|| {
                    RegistryError::Other("registry.path is required for kind local".into())
                })?;
                Ok(AnyRegistry::Local(local::LocalRegistry::new(
                    base.join(path),
                )))
            }
            RegistryKind::Ecr => {
                let settings = ecr::EcrSettings {
                    region: cfg.region.clone().ok_or_else(|| {
                        RegistryError::Other("registry.region is required for kind ecr".into())
                    })?,
                    endpoint: cfg.endpoint.clone(),
                    oci_endpoint: cfg.oci_endpoint.clone(),
                    max_attempts: 6,
                };
                Ok(AnyRegistry::Ecr(Box::new(
                    ecr::EcrRegistry::connect(&settings).await,
                )))
            }
        }
    }
}

impl ImageSource for AnyRegistry {
    async fn list_images(&self, repository: &str) -> Result<Vec<ImageRecord>, RegistryError> {
        match self {
            AnyRegistry::Ecr(r) => r.list_images(repository).await,
            AnyRegistry::Local(r) => r.list_images(repository).await,
        }
    }
    async fn scan(&self, repository: &str, digest: &Digest) -> Result<ScanState, RegistryError> {
        match self {
            AnyRegistry::Ecr(r) => r.scan(repository, digest).await,
            AnyRegistry::Local(r) => r.scan(repository, digest).await,
        }
    }
    async fn signatures(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Vec<SignatureEvidence>, RegistryError> {
        match self {
            AnyRegistry::Ecr(r) => r.signatures(repository, digest).await,
            AnyRegistry::Local(r) => r.signatures(repository, digest).await,
        }
    }
}
