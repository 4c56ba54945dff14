use super::*;
use crate::gates::signer::Signer;

fn corpus(p: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/cosign")
        .join(p)
}

fn key(p: &str) -> TrustedKey {
    TrustedKey::from_pem(p, &std::fs::read_to_string(corpus(p)).unwrap()).unwrap()
}

fn evidence(payload: &str, sig: &str) -> SignatureEvidence {
    SignatureEvidence::SimpleSigning {
        payload: std::fs::read(corpus(payload)).unwrap(),
        signature_b64: std::fs::read_to_string(corpus(sig)).unwrap(),
    }
}

fn signed_digest(payload: &str) -> Digest {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(corpus(payload)).unwrap()).unwrap();
    Digest::parse(
        v["critical"]["image"]["docker-manifest-digest"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
}

/// Every pair listed in shared/corpus/SOURCES.md (cosign/verify_result.txt),
/// with its expected result.
#[test]
fn corpus_fixtures_verify_as_documented() {
    let ci = "containers-image";
    let cases: &[(&str, &str, &str, bool)] = &[
        (
            "sigstore-rs/cosign.pub",
            "sigstore-rs/payload.json",
            "sigstore-rs/signature.b64",
            true,
        ),
        (
            "sigstore-rs/rsa_public_key.pem",
            "sigstore-rs/rsa_payload.json",
            "sigstore-rs/rsa_signature.b64",
            true,
        ),
        (
            "sigstore-rs/cosign.pub",
            "sigstore-rs/rsa_payload.json",
            "sigstore-rs/signature.b64",
            false,
        ),
        (
            "containers-image/cosign.pub",
            "containers-image/dir-img-cosign-key-rekor-valid/signature-1.payload.json",
            "containers-image/dir-img-cosign-key-rekor-valid/signature-1.signature.b64",
            false,
        ),
        (
            "containers-image/cosign2.pub",
            "containers-image/dir-img-cosign-key-rekor-valid/signature-1.payload.json",
            "containers-image/dir-img-cosign-key-rekor-valid/signature-1.signature.b64",
            true,
        ),
        (
            "containers-image/cosign.pub",
            "containers-image/dir-img-cosign-valid-2/signature-2.payload.json",
            "containers-image/dir-img-cosign-valid-2/signature-2.signature.b64",
            true,
        ),
        (
            "containers-image/cosign2.pub",
            "containers-image/dir-img-cosign-valid-2/signature-2.payload.json",
            "containers-image/dir-img-cosign-valid-2/signature-2.signature.b64",
            false,
        ),
        (
            "containers-image/cosign.pub",
            "containers-image/dir-img-cosign-valid-with-tag/signature-1.payload.json",
            "containers-image/dir-img-cosign-valid-with-tag/signature-1.signature.b64",
            true,
        ),
        (
            "containers-image/cosign2.pub",
            "containers-image/dir-img-cosign-valid-with-tag/signature-1.payload.json",
            "containers-image/dir-img-cosign-valid-with-tag/signature-1.signature.b64",
            false,
        ),
        (
            "containers-image/cosign.pub",
            "containers-image/dir-img-cosign-valid/signature-1.payload.json",
            "containers-image/dir-img-cosign-valid/signature-1.signature.b64",
            true,
        ),
        (
            "containers-image/cosign2.pub",
            "containers-image/dir-img-cosign-valid/signature-1.payload.json",
            "containers-image/dir-img-cosign-valid/signature-1.signature.b64",
            false,
        ),
        (
            "salrashid123-kms-real-registry/kms_pub.pem",
            "salrashid123-kms-real-registry/payload_reconstructed.json",
            "salrashid123-kms-real-registry/signature_kms.b64",
            true,
        ),
        (
            "salrashid123-kms-real-registry/kms_pub.pem",
            "salrashid123-kms-real-registry/payload_reconstructed.json",
            "salrashid123-kms-real-registry/signature_keyless.b64",
            false,
        ),
    ];
    let _ = ci;
    for (k, payload, sig, valid) in cases {
        let digest = signed_digest(payload);
        let got = verify(&digest, &[evidence(payload, sig)], &[key(k)]);
        match (valid, &got) {
            (
                true,
                SignatureOutcome::Verified {
                    key: fp,
                    format: "simple-signing",
                },
            ) => assert_eq!(fp, &key(k).fingerprint),
            (false, SignatureOutcome::Untrusted(why)) => {
                assert!(why[0].contains("does not verify"), "{why:?}")
            }
            _ => panic!("{k} {payload}: expected valid={valid}, got {got:?}"),
        }
    }
}

#[test]
fn containers_image_manifest_digest_matches_payload() {
    // The payload names the sha256 of the manifest it signs.
    let manifest = std::fs::read(corpus(
        "containers-image/dir-img-cosign-valid/manifest.json",
    ))
    .unwrap();
    let digest = Digest::parse(&format!("sha256:{}", hex(&Sha256::digest(&manifest)))).unwrap();
    let ev = evidence(
        "containers-image/dir-img-cosign-valid/signature-1.payload.json",
        "containers-image/dir-img-cosign-valid/signature-1.signature.b64",
    );
    let got = verify(&digest, &[ev], &[key("containers-image/cosign.pub")]);
    assert!(matches!(got, SignatureOutcome::Verified { .. }), "{got:?}");
}

#[test]
fn a_trusted_signature_of_another_digest_is_a_mismatch() {
    let other = Digest::parse(&format!("sha256:{}", "0".repeat(64))).unwrap();
    let ev = evidence("sigstore-rs/payload.json", "sigstore-rs/signature.b64");
    let got = verify(&other, &[ev], &[key("sigstore-rs/cosign.pub")]);
    assert_eq!(
        got,
        SignatureOutcome::DigestMismatch {
            signed: "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b"
                .into(),
            key: key("sigstore-rs/cosign.pub").fingerprint
        }
    );
}

#[test]
fn any_one_key_and_any_one_signature_is_enough() {
    let digest = signed_digest("sigstore-rs/payload.json");
    let keys = [
        key("containers-image/cosign2.pub"),
        key("sigstore-rs/rsa_public_key.pem"),
        key("sigstore-rs/cosign.pub"),
    ];
    let bad = SignatureEvidence::SimpleSigning {
        payload: b"{}".to_vec(),
        signature_b64: "!!".into(),
    };
    let good = evidence("sigstore-rs/payload.json", "sigstore-rs/signature.b64");
    assert!(matches!(
        verify(&digest, &[bad.clone(), good], &keys),
        SignatureOutcome::Verified { .. }
    ));
    assert_eq!(verify(&digest, &[], &keys), SignatureOutcome::Unsigned);
    let SignatureOutcome::Untrusted(why) = verify(&digest, &[bad], &keys) else {
        panic!()
    };
    assert_eq!(
        why,
        vec!["simple-signing signature is not base64".to_string()]
    );
}

#[test]
fn keys_are_classified_or_refused() {
    assert_eq!(key("sigstore-rs/cosign.pub").kind, KeyKind::EcdsaP256);
    assert_eq!(key("sigstore-rs/rsa_public_key.pem").kind, KeyKind::Rsa);
    let e = TrustedKey::from_pem("k", "not a key").unwrap_err();
    assert!(e.to_string().contains("no PEM block"), "{e}");
    let e = TrustedKey::from_pem(
        "k",
        "-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----",
    )
    .unwrap_err();
    assert!(e.to_string().contains("not base64"), "{e}");
    let cert = std::fs::read_to_string(corpus(
        "salrashid123-kms-real-registry/keyless_certificate.pem",
    ))
    .unwrap();
    assert!(TrustedKey::from_pem("cert", &cert).is_err());
}

#[test]
fn generated_signatures_verify_in_both_formats_and_tampering_fails() {
    let s = Signer::generate().unwrap();
    let k = TrustedKey::from_pem("demo", &s.public_pem().unwrap()).unwrap();
    let d = Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap();
    for ev in [
        s.sign_simple("reg/app", &d).unwrap(),
        s.sign_bundle("reg/app", &d).unwrap(),
    ] {
        let got = verify(&d, std::slice::from_ref(&ev), std::slice::from_ref(&k));
        assert!(matches!(got, SignatureOutcome::Verified { .. }), "{got:?}");
        // Flip one byte of what was signed.
        let tampered = match ev {
            SignatureEvidence::SimpleSigning {
                mut payload,
                signature_b64,
            } => {
                let i = payload.len() / 2;
                payload[i] ^= 1;
                SignatureEvidence::SimpleSigning {
                    payload,
                    signature_b64,
                }
            }
            SignatureEvidence::Bundle { json } => {
                let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
                let other = Signer::simple_signing_payload("x", &d);
                v["dsseEnvelope"]["payload"] = B64.encode(other).into();
                SignatureEvidence::Bundle {
                    json: v.to_string().into_bytes(),
                }
            }
            SignatureEvidence::Unusable { .. } => unreachable!("the signer signs"),
        };
        assert!(matches!(
            verify(&d, &[tampered], std::slice::from_ref(&k)),
            SignatureOutcome::Untrusted(_)
        ));
    }
    // Another key does not verify.
    let other =
        TrustedKey::from_pem("other", &Signer::generate().unwrap().public_pem().unwrap()).unwrap();
    assert!(matches!(
        verify(&d, &[s.sign_bundle("reg/app", &d).unwrap()], &[other]),
        SignatureOutcome::Untrusted(_)
    ));
}

#[test]
fn an_attestation_by_the_trusted_key_is_not_a_signature() {
    let s = Signer::generate().unwrap();
    let k = TrustedKey::from_pem("ci.pub", &s.public_pem().unwrap()).unwrap();
    let d = Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap();
    let other = Digest::parse(&format!("sha256:{}", "cd".repeat(32))).unwrap();
    for (predicate, subject) in [
        ("https://spdx.dev/Document", &d),
        ("https://slsa.dev/provenance/v1", &d),
        // Not a digest mismatch either: it signs nothing.
        ("https://cyclonedx.org/bom", &other),
    ] {
        let att = s
            .sign_attestation("reg/app", subject, predicate, serde_json::json!({"x": 1}))
            .unwrap();
        let got = verify(&d, std::slice::from_ref(&att), std::slice::from_ref(&k));
        let SignatureOutcome::Untrusted(why) = &got else {
            panic!("{predicate}: {got:?}")
        };
        assert_eq!(why.len(), 1);
        assert!(
            why[0].contains(&format!("predicateType {predicate:?}"))
                && why[0].contains("not a cosign signature")
                && why[0].contains(&k.fingerprint),
            "{why:?}"
        );
        // Next to a real signature, the signature decides.
        let sig = s.sign_bundle("reg/app", &d).unwrap();
        assert_eq!(
            verify(&d, &[att, sig], std::slice::from_ref(&k)),
            SignatureOutcome::Verified {
                key: k.fingerprint.clone(),
                format: "bundle"
            }
        );
    }
}

#[test]
fn a_statement_without_predicate_type_is_not_a_signature() {
    // A DSSE envelope the trusted key signed whose statement names the
    // digest but no predicateType.
    let s = Signer::generate().unwrap();
    let k = TrustedKey::from_pem("ci.pub", &s.public_pem().unwrap()).unwrap();
    let d = Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap();
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "reg/app", "digest": {"sha256": d.hex()}}],
    })
    .to_string();
    let pt = "application/vnd.in-toto+json";
    let sig = s.sign(&pae(pt, statement.as_bytes())).unwrap();
    let json = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "dsseEnvelope": {
            "payload": B64.encode(&statement),
            "payloadType": pt,
            "signatures": [{"sig": B64.encode(sig)}]
        }
    })
    .to_string()
    .into_bytes();
    let got = verify(&d, &[SignatureEvidence::Bundle { json }], &[k]);
    let SignatureOutcome::Untrusted(why) = &got else {
        panic!("{got:?}")
    };
    assert!(why[0].contains("has no predicateType"), "{why:?}");
}

#[test]
fn unusable_evidence_never_verifies_and_never_hides_a_signature() {
    let d = signed_digest("sigstore-rs/payload.json");
    let keys = [key("sigstore-rs/cosign.pub")];
    let broken = SignatureEvidence::Unusable {
        source: "referrer sha256:1234".into(),
        why: "blob is missing (HTTP 404)".into(),
    };
    assert_eq!(
        verify(&d, std::slice::from_ref(&broken), &keys),
        SignatureOutcome::Untrusted(vec![
            "referrer sha256:1234: blob is missing (HTTP 404)".into()
        ])
    );
    let good = evidence("sigstore-rs/payload.json", "sigstore-rs/signature.b64");
    assert!(matches!(
        verify(&d, &[broken, good], &keys),
        SignatureOutcome::Verified {
            format: "simple-signing",
            ..
        }
    ));
}
