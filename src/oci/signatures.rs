//! Cosign signatures in a registry: the legacy `sha256-<hex>.sig` tag and
//! cosign v3 sigstore bundles attached as referrers.

use std::collections::BTreeMap;

use super::{
    Descriptor, INDEX_V1, Index, MANIFEST_V1, Manifest, OciClient, OciError, fallback_tag,
};
use crate::gates::SignatureEvidence;
use crate::image::Digest;

/// Layer media type of a legacy cosign signature payload.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Artifact and layer media type of a cosign v3 bundle.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, OciError> {
    serde_json::from_slice(bytes).map_err(|e| OciError::Malformed {
        url: what.to_string(),
        message: e.to_string(),
    })
}

/// Every cosign signature of `digest` in `repo`, in both formats.
pub async fn fetch_signatures(
    client: &OciClient,
    repo: &str,
    digest: &Digest,
) -> Result<Vec<SignatureEvidence>, OciError> {
    let mut out = Vec::new();
    let sig_tag = format!("{}.sig", fallback_tag(digest));
    if let Some(f) = client.manifest(repo, &sig_tag).await? {
        let m: Manifest = parse(&f.bytes, &sig_tag)?;
        for layer in m
            .layers
            .iter()
            .filter(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
        {
            out.push(SignatureEvidence::SimpleSigning {
                payload: client.blob(repo, &layer.digest).await?,
                signature_b64: layer
                    .annotations
                    .get(SIGNATURE_ANNOTATION)
                    .cloned()
                    .unwrap_or_default(),
            });
        }
    }
    for r in client.referrers(repo, digest).await? {
        if r.artifact_type.as_deref() != Some(BUNDLE_MEDIA_TYPE) {
            continue;
        }
        let Some(f) = client.manifest(repo, &r.digest).await? else {
            continue;
        };
        let m: Manifest = parse(&f.bytes, &r.digest)?;
        for layer in m
            .layers
            .iter()
            .filter(|l| l.media_type == BUNDLE_MEDIA_TYPE)
        {
            out.push(SignatureEvidence::Bundle {
                json: client.blob(repo, &layer.digest).await?,
            });
        }
    }
    Ok(out)
}

/// Attaches `evidence` to `digest` the way cosign does: a layer of the
/// `.sig` manifest, or a bundle referrer (plus the fallback index for
/// registries without the referrers API). For tests and the demo.
pub async fn attach(
    client: &OciClient,
    repo: &str,
    digest: &Digest,
    evidence: &SignatureEvidence,
) -> Result<(), OciError> {
    let empty = client.put_blob(repo, b"{}").await?;
    match evidence {
        SignatureEvidence::SimpleSigning {
            payload,
            signature_b64,
        } => {
            let layer_digest = client.put_blob(repo, payload).await?;
            let tag = format!("{}.sig", fallback_tag(digest));
            let mut m = match client.manifest(repo, &tag).await? {
                Some(f) => parse(&f.bytes, &tag)?,
                None => Manifest {
                    schema_version: 2,
                    media_type: MANIFEST_V1.into(),
                    config: Descriptor {
                        media_type: "application/vnd.oci.image.config.v1+json".into(),
                        digest: empty.to_string(),
                        size: 2,
                        ..Default::default()
                    },
                    ..Default::default()
                },
            };
            m.layers.push(Descriptor {
                media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
                digest: layer_digest.to_string(),
                size: payload.len() as u64,
                annotations: BTreeMap::from([(
                    SIGNATURE_ANNOTATION.to_string(),
                    signature_b64.clone(),
                )]),
                ..Default::default()
            });
            let bytes = serde_json::to_vec(&m).map_err(|e| OciError::Malformed {
                url: tag.clone(),
                message: e.to_string(),
            })?;
            client.put_manifest(repo, &tag, MANIFEST_V1, &bytes).await?;
        }
        SignatureEvidence::Bundle { json } => {
            let subject = client
                .manifest(repo, digest.as_str())
                .await?
                .ok_or_else(|| OciError::Status {
                    url: format!("{repo}@{digest}"),
                    status: 404,
                })?;
            let layer_digest = client.put_blob(repo, json).await?;
            let m = Manifest {
                schema_version: 2,
                media_type: MANIFEST_V1.into(),
                artifact_type: Some(BUNDLE_MEDIA_TYPE.into()),
                config: Descriptor {
                    media_type: EMPTY_MEDIA_TYPE.into(),
                    digest: empty.to_string(),
                    size: 2,
                    ..Default::default()
                },
                layers: vec![Descriptor {
                    media_type: BUNDLE_MEDIA_TYPE.into(),
                    digest: layer_digest.to_string(),
                    size: json.len() as u64,
                    ..Default::default()
                }],
                subject: Some(Descriptor {
                    media_type: subject.media_type.clone(),
                    digest: digest.to_string(),
                    size: subject.bytes.len() as u64,
                    ..Default::default()
                }),
                annotations: BTreeMap::new(),
            };
            let bytes = serde_json::to_vec(&m).map_err(|e| OciError::Malformed {
                url: repo.into(),
                message: e.to_string(),
            })?;
            let referrer = super::sha256(&bytes);
            client
                .put_manifest(repo, referrer.as_str(), MANIFEST_V1, &bytes)
                .await?;
            // Keep the tag-schema index current, as clients must on
            // registries without the referrers API.
            let tag = fallback_tag(digest);
            let mut index: Index = match client.manifest(repo, &tag).await? {
                Some(f) => parse(&f.bytes, &tag)?,
                None => Index {
                    schema_version: 2,
                    media_type: INDEX_V1.into(),
                    manifests: Vec::new(),
                },
            };
            index.manifests.push(Descriptor {
                media_type: MANIFEST_V1.into(),
                digest: referrer.to_string(),
                size: bytes.len() as u64,
                artifact_type: Some(BUNDLE_MEDIA_TYPE.into()),
                ..Default::default()
            });
            let ib = serde_json::to_vec(&index).map_err(|e| OciError::Malformed {
                url: tag.clone(),
                message: e.to_string(),
            })?;
            client.put_manifest(repo, &tag, INDEX_V1, &ib).await?;
        }
    }
    Ok(())
}
