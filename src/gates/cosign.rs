//! Cosign signature verification with PEM public keys (ECDSA P-256 and
//! RSA), for both formats cosign writes:
//!
//! - the legacy simple-signing payload (`sha256-<hex>.sig` tag): the
//!   signature is over the payload bytes, and the payload's
//!   `critical.image.docker-manifest-digest` names the signed image;
//! - the cosign v3 sigstore bundle (OCI referrer): a DSSE envelope whose
//!   signature is over `PAE(payloadType, payload)` and whose in-toto
//!   statement names the image in `subject[].digest.sha256`. Only a
//!   statement whose `predicateType` is [`COSIGN_SIGN_PREDICATE`] is a
//!   signature: cosign stores attestations (SBOM, provenance) in the same
//!   bundle format, and a trusted key attesting to an SBOM has not signed
//!   the image.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

pub use crate::evidence::SignatureEvidence;
use crate::image::Digest;

/// The in-toto `predicateType` of a cosign image signature (`cosign sign`
/// with the bundle format); any other predicate is an attestation.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// Algorithm of a trusted key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256,
    /// RSA PKCS#1 v1.5 with SHA-256.
    Rsa,
}

/// A public key signatures may verify against.
#[derive(Clone)]
pub struct TrustedKey {
    /// Where it came from (a file name), for messages.
    pub name: String,
    /// `sha256:` of the DER SubjectPublicKeyInfo: how commits name the key.
    pub fingerprint: String,
    /// Its algorithm.
    pub kind: KeyKind,
    der: Vec<u8>,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TrustedKey({}, {:?}, {})",
            self.name, self.kind, self.fingerprint
        )
    }
}

/// A key file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("public key {name}: {why}")]
pub struct KeyError {
    /// The key's name (file).
    pub name: String,
    /// What is wrong.
    pub why: String,
}

// DER encodings of the algorithm identifiers in a SubjectPublicKeyInfo.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

impl TrustedKey {
    /// Reads a PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
    pub fn from_pem(name: &str, pem: &str) -> Result<Self, KeyError> {
        let err = |why: &str| KeyError {
            name: name.to_string(),
            why: why.to_string(),
        };
        let body = pem
            .split("-----BEGIN PUBLIC KEY-----")
            .nth(1)
            .and_then(|rest| rest.split("-----END PUBLIC KEY-----").next())
            .ok_or_else(|| err("no PEM block \"PUBLIC KEY\""))?;
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = B64
            .decode(b64)
            .map_err(|_| err("the PEM body is not base64"))?;
        // The algorithm identifier sits in the first few dozen bytes.
        let head = &der[..der.len().min(40)];
        let kind = if contains(head, OID_EC_PUBLIC_KEY) {
            if !contains(head, OID_P256) {
                return Err(err("EC keys must use the P-256 curve"));
            }
            KeyKind::EcdsaP256
        } else if contains(head, OID_RSA) {
            KeyKind::Rsa
        } else {
            return Err(err("not an ECDSA P-256 or RSA public key"));
        };
        Ok(TrustedKey {
            name: name.to_string(),
            fingerprint: format!("sha256:{}", hex(&Sha256::digest(&der))),
            kind,
            der,
        })
    }

    /// True when `signature` (DER ECDSA or PKCS#1 v1.5) signs `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm = match self.kind {
            KeyKind::EcdsaP256 => &ECDSA_P256_SHA256_ASN1,
            KeyKind::Rsa => &RSA_PKCS1_2048_8192_SHA256,
        };
        UnparsedPublicKey::new(alg, &self.der)
            .verify(message, signature)
            .is_ok()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the signatures of an image prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureOutcome {
    /// A trusted key signed exactly this digest.
    Verified {
        /// Fingerprint of the key that verified.
        key: String,
        /// "simple-signing" or "bundle".
        format: &'static str,
    },
    /// No signature at all.
    Unsigned,
    /// Signatures exist; none verifies with a trusted key. One line each.
    Untrusted(Vec<String>),
    /// A trusted key signed, but another digest.
    DigestMismatch {
        /// The digest the signature names.
        signed: String,
        /// The key that verified it.
        key: String,
    },
}

#[derive(Deserialize)]
struct SimpleSigning {
    critical: Critical,
}
#[derive(Deserialize)]
struct Critical {
    image: CriticalImage,
    #[serde(rename = "type")]
    kind: String,
}
#[derive(Deserialize)]
struct CriticalImage {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    media_type: String,
    dsse_envelope: Option<Dsse>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dsse {
    payload: String,
    payload_type: String,
    signatures: Vec<DsseSig>,
}
#[derive(Deserialize)]
struct DsseSig {
    sig: String,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Statement {
    subject: Vec<Subject>,
    predicate_type: Option<String>,
}
#[derive(Deserialize)]
struct Subject {
    digest: std::collections::BTreeMap<String, String>,
}

/// DSSE pre-authentication encoding.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    v.extend_from_slice(payload);
    v
}

/// One evidence checked against the keys: the key that verified and the
/// digests the signed payload names, or why it does not verify.
fn check_one(
    e: &SignatureEvidence,
    keys: &[TrustedKey],
) -> Result<(String, &'static str, Vec<String>), String> {
    match e {
        SignatureEvidence::SimpleSigning {
            payload,
            signature_b64,
        } => {
            let sig = B64
                .decode(signature_b64.trim())
                .map_err(|_| "simple-signing signature is not base64".to_string())?;
            let key = keys
                .iter()
                .find(|k| k.verifies(payload, &sig))
                .ok_or_else(|| {
                    "simple-signing signature does not verify with any configured key".to_string()
                })?;
            let p: SimpleSigning = serde_json::from_slice(payload)
                .map_err(|e| format!("simple-signing payload is malformed: {e}"))?;
            if p.critical.kind != "cosign container image signature" {
                return Err(format!(
                    "simple-signing payload has type {:?}",
                    p.critical.kind
                ));
            }
            Ok((
                key.fingerprint.clone(),
                "simple-signing",
                vec![p.critical.image.digest],
            ))
        }
        SignatureEvidence::Bundle { json } => {
            let b: Bundle =
                serde_json::from_slice(json).map_err(|e| format!("bundle is malformed: {e}"))?;
            if !b
                .media_type
                .starts_with("application/vnd.dev.sigstore.bundle")
            {
                return Err(format!("bundle has media type {:?}", b.media_type));
            }
            let env = b.dsse_envelope.ok_or_else(|| {
                "bundle has no DSSE envelope (only image signatures are accepted)".to_string()
            })?;
            let payload = B64
                .decode(&env.payload)
                .map_err(|_| "bundle payload is not base64".to_string())?;
            let message = pae(&env.payload_type, &payload);
            let key = env
                .signatures
                .iter()
                .filter_map(|s| B64.decode(&s.sig).ok())
                .find_map(|sig| keys.iter().find(|k| k.verifies(&message, &sig)))
                .ok_or_else(|| {
                    "bundle signature does not verify with any configured key".to_string()
                })?;
            if env.payload_type != "application/vnd.in-toto+json" {
                return Err(format!("bundle payload type is {:?}", env.payload_type));
            }
            let st: Statement = serde_json::from_slice(&payload)
                .map_err(|e| format!("bundle statement is malformed: {e}"))?;
            // Checked after the signature so the reason can say that a
            // trusted key made it: it is that key's attestation, not its
            // signature of the image.
            match st.predicate_type.as_deref() {
                Some(COSIGN_SIGN_PREDICATE) => {}
                Some(other) => {
                    return Err(format!(
                        "bundle signed by {} is an attestation with predicateType {other:?}, \
                         not a cosign signature ({COSIGN_SIGN_PREDICATE})",
                        key.fingerprint
                    ));
                }
                None => {
                    return Err(format!(
                        "bundle signed by {} has no predicateType, so it is not a cosign \
                         signature ({COSIGN_SIGN_PREDICATE})",
                        key.fingerprint
                    ));
                }
            }
            let digests = st
                .subject
                .iter()
                .filter_map(|s| s.digest.get("sha256").map(|h| format!("sha256:{h}")))
                .collect();
            Ok((key.fingerprint.clone(), "bundle", digests))
        }
        SignatureEvidence::Unusable { source, why } => Err(format!("{source}: {why}")),
    }
}

/// Checks every signature of `digest` against `keys`: one that a trusted
/// key signed for exactly this digest is enough.
pub fn verify(
    digest: &Digest,
    evidence: &[SignatureEvidence],
    keys: &[TrustedKey],
) -> SignatureOutcome {
    if evidence.is_empty() {
        return SignatureOutcome::Unsigned;
    }
    let mut problems = Vec::new();
    let mut mismatch = None;
    for e in evidence {
        match check_one(e, keys) {
            Ok((key, format, digests)) if digests.iter().any(|d| d == digest.as_str()) => {
                return SignatureOutcome::Verified { key, format };
            }
            Ok((key, _, digests)) => {
                mismatch.get_or_insert(SignatureOutcome::DigestMismatch {
                    signed: digests.first().cloned().unwrap_or_else(|| "nothing".into()),
                    key,
                });
            }
            Err(why) => problems.push(why),
        }
    }
    mismatch.unwrap_or(SignatureOutcome::Untrusted(problems))
}

#[cfg(test)]
mod tests;
