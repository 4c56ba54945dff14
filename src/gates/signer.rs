//! A cosign-compatible signer with a P-256 key: what CI does with
//! `cosign sign --key`. ferry never signs in production; the demo and the
//! tests use this to produce real signatures in both cosign formats.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::cosign::{COSIGN_SIGN_PREDICATE, SignatureEvidence};
use crate::image::Digest;

/// A signing key pair.
pub struct Signer {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
}

/// Signing failed inside the crypto library.
#[derive(Debug, thiserror::Error)]
#[error("signing failed: {0}")]
pub struct SignError(String);

impl Signer {
    /// A fresh random key.
    pub fn generate() -> Result<Self, SignError> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .map_err(|e| SignError(e.to_string()))?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// A key from PKCS#8 DER bytes.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, SignError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der)
            .map_err(|e| SignError(e.to_string()))?;
        Ok(Signer {
            pair,
            pkcs8: der.to_vec(),
        })
    }

    /// The private key as PKCS#8 DER (to store a demo key).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as a PEM `PUBLIC KEY`, as `cosign.pub` holds it.
    pub fn public_pem(&self) -> Result<String, SignError> {
        let der = self
            .pair
            .public_key()
            .as_der()
            .map_err(|e| SignError(e.to_string()))?;
        let b64 = B64.encode(der.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        Ok(format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        ))
    }

    /// Raw signature over `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(self
            .pair
            .sign(&SystemRandom::new(), message)
            .map_err(|e| SignError(e.to_string()))?
            .as_ref()
            .to_vec())
    }

    /// The simple-signing payload cosign writes for `reference@digest`.
    pub fn simple_signing_payload(reference: &str, digest: &Digest) -> Vec<u8> {
        serde_json::json!({
            "critical": {
                "identity": {"docker-reference": reference},
                "image": {"docker-manifest-digest": digest.as_str()},
                "type": "cosign container image signature"
            },
            "optional": null
        })
        .to_string()
        .into_bytes()
    }

    /// A legacy (`.sig` tag) signature of `digest`.
    pub fn sign_simple(
        &self,
        reference: &str,
        digest: &Digest,
    ) -> Result<SignatureEvidence, SignError> {
        let payload = Self::simple_signing_payload(reference, digest);
        let signature_b64 = B64.encode(self.sign(&payload)?);
        Ok(SignatureEvidence::SimpleSigning {
            payload,
            signature_b64,
        })
    }

    /// A cosign v3 sigstore bundle (DSSE over an in-toto statement) for
    /// `digest`: what `cosign sign` writes.
    pub fn sign_bundle(
        &self,
        reference: &str,
        digest: &Digest,
    ) -> Result<SignatureEvidence, SignError> {
        self.sign_attestation(
            reference,
            digest,
            COSIGN_SIGN_PREDICATE,
            serde_json::json!({}),
        )
    }

    /// A sigstore bundle over an in-toto statement with any
    /// `predicate_type`: what `cosign attest` writes for an SBOM
    /// (`https://spdx.dev/Document`) or provenance
    /// (`https://slsa.dev/provenance/v1`). Only [`COSIGN_SIGN_PREDICATE`]
    /// makes it a signature.
    pub fn sign_attestation(
        &self,
        reference: &str,
        digest: &Digest,
        predicate_type: &str,
        predicate: serde_json::Value,
    ) -> Result<SignatureEvidence, SignError> {
        let statement = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": reference, "digest": {"sha256": digest.hex()}}],
            "predicateType": predicate_type,
            "predicate": predicate
        })
        .to_string();
        let payload_type = "application/vnd.in-toto+json";
        let mut pae = format!(
            "DSSEv1 {} {payload_type} {} ",
            payload_type.len(),
            statement.len()
        )
        .into_bytes();
        pae.extend_from_slice(statement.as_bytes());
        let sig = B64.encode(self.sign(&pae)?);
        let bundle = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"publicKey": {"hint": ""}},
            "dsseEnvelope": {
                "payload": B64.encode(statement.as_bytes()),
                "payloadType": payload_type,
                "signatures": [{"sig": sig}]
            }
        });
        Ok(SignatureEvidence::Bundle {
            json: bundle.to_string().into_bytes(),
        })
    }
}
