//! Cosign signatures in a registry: the legacy `sha256-<hex>.sig` tag and
//! cosign v3 sigstore bundles attached as referrers.

use std::collections::BTreeMap;

use super::{
    Descriptor, INDEX_V1, Index, MANIFEST_V1, MAX_BLOB_BYTES, Manifest, OciClient, OciError,
    fallback_tag,
};
use crate::evidence::SignatureEvidence;
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

/// A value the registry sent, quoted and cut short for a message: it may
/// be anything, of any length.
fn shown(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head:?}...")
    }
}

fn unusable(source: String, why: String) -> SignatureEvidence {
    SignatureEvidence::Unusable { source, why }
}

/// Every cosign signature of `digest` in `repo`, in both formats: the
/// legacy `.sig` tag and the bundle referrers.
///
/// One broken candidate (a missing blob, a referrer manifest that is gone
/// or malformed, a descriptor digest outside the image grammar, a body
/// over the size limit) never hides another: it is kept as
/// [`SignatureEvidence::Unusable`] with the reason, and the rest is still
/// read. A descriptor digest is validated with the image grammar before
/// it goes into a URL; an invalid one is never requested. The call fails
/// only when neither source could be asked at all.
pub async fn fetch_signatures(
    client: &OciClient,
    repo: &str,
    digest: &Digest,
) -> Result<Vec<SignatureEvidence>, OciError> {
    let mut out = Vec::new();
    let legacy = legacy_signatures(client, repo, digest, &mut out).await;
    let bundles = bundle_signatures(client, repo, digest, &mut out).await;
    match (legacy, bundles) {
        (Err(legacy), Err(referrers)) => Err(OciError::Unavailable {
            legacy: Box::new(legacy),
            referrers: Box::new(referrers),
        }),
        (Err(e), Ok(())) => {
            out.push(unusable(
                format!("signature tag {}.sig", fallback_tag(digest)),
                e.to_string(),
            ));
            Ok(out)
        }
        (Ok(()), Err(e)) => {
            out.push(unusable(format!("referrers of {digest}"), e.to_string()));
            Ok(out)
        }
        (Ok(()), Ok(())) => Ok(out),
    }
}

/// The layers of the `sha256-<hex>.sig` manifest. `Err` only when the
/// manifest itself could not be asked for.
async fn legacy_signatures(
    client: &OciClient,
    repo: &str,
    digest: &Digest,
    out: &mut Vec<SignatureEvidence>,
) -> Result<(), OciError> {
    let tag = format!("{}.sig", fallback_tag(digest));
    let Some(f) = client.manifest(repo, &tag).await? else {
        return Ok(());
    };
    let source = format!("signature tag {tag}");
    let m: Manifest = match parse(&f.bytes, &tag) {
        Ok(m) => m,
        Err(e) => {
            out.push(unusable(source, e.to_string()));
            return Ok(());
        }
    };
    for layer in m
        .layers
        .iter()
        .filter(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
    {
        out.push(match layer_blob(client, repo, layer).await {
            Ok(payload) => SignatureEvidence::SimpleSigning {
                payload,
                signature_b64: layer
                    .annotations
                    .get(SIGNATURE_ANNOTATION)
                    .cloned()
                    .unwrap_or_default(),
            },
            Err(why) => unusable(format!("{source} layer {}", shown(&layer.digest)), why),
        });
    }
    Ok(())
}

/// The bundles of every referrer of `digest` whose artifact type is a
/// sigstore bundle. `Err` only when the referrers could not be listed.
async fn bundle_signatures(
    client: &OciClient,
    repo: &str,
    digest: &Digest,
    out: &mut Vec<SignatureEvidence>,
) -> Result<(), OciError> {
    for r in client.referrers(repo, digest).await? {
        if r.artifact_type.as_deref() != Some(BUNDLE_MEDIA_TYPE) {
            continue;
        }
        let source = format!("referrer {}", shown(&r.digest));
        let d = match Digest::parse(&r.digest) {
            Ok(d) => d,
            Err(e) => {
                out.push(unusable(source, format!("{e}; not requested")));
                continue;
            }
        };
        let m: Manifest = match client.manifest(repo, d.as_str()).await {
            Ok(Some(f)) => match parse(&f.bytes, d.as_str()) {
                Ok(m) => m,
                Err(e) => {
                    out.push(unusable(source, e.to_string()));
                    continue;
                }
            },
            Ok(None) => {
                out.push(unusable(
                    source,
                    "the manifest is missing (HTTP 404)".into(),
                ));
                continue;
            }
            Err(e) => {
                out.push(unusable(source, e.to_string()));
                continue;
            }
        };
        for layer in m
            .layers
            .iter()
            .filter(|l| l.media_type == BUNDLE_MEDIA_TYPE)
        {
            out.push(match layer_blob(client, repo, layer).await {
                Ok(json) => SignatureEvidence::Bundle { json },
                Err(why) => unusable(format!("{source} layer {}", shown(&layer.digest)), why),
            });
        }
    }
    Ok(())
}

/// The blob a layer descriptor names, or why it was not read: a digest
/// outside the image grammar or a declared size over the limit is never
/// requested.
async fn layer_blob(client: &OciClient, repo: &str, layer: &Descriptor) -> Result<Vec<u8>, String> {
    let d = Digest::parse(&layer.digest).map_err(|e| format!("{e}; not requested"))?;
    if layer.size > MAX_BLOB_BYTES {
        return Err(format!(
            "the descriptor declares {} bytes, over the {} blob limit; not requested",
            layer.size,
            super::mib(MAX_BLOB_BYTES)
        ));
    }
    client.blob(repo, &d).await.map_err(|e| match e {
        OciError::Status { status: 404, .. } => format!("the blob is missing ({e})"),
        e => e.to_string(),
    })
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
        SignatureEvidence::Unusable { source, why } => {
            return Err(OciError::Malformed {
                url: source.clone(),
                message: format!("nothing to attach: {why}"),
            });
        }
    }
    Ok(())
}
