//! The OCI client and cosign signatures on a real registry
//! (docker-registry): push signed images in both cosign formats, verify,
//! tamper, verify again.

mod support;

use ferry::gates::cosign::{SignatureOutcome, verify};
use ferry::gates::signer::Signer;
use ferry::gates::{SignatureEvidence, TrustedKey};
use ferry::image::Digest;
use ferry::oci::{self, Auth, Index, Manifest, OciClient, OciError};
use support::OciRegistry;

async fn push_image(c: &OciClient, repo: &str, seed: &str) -> Digest {
    let config = format!("{{\"seed\":\"{seed}\"}}");
    let layer = format!("layer of {seed}");
    let cd = c.put_blob(repo, config.as_bytes()).await.unwrap();
    let ld = c.put_blob(repo, layer.as_bytes()).await.unwrap();
    let m = serde_json::json!({
        "schemaVersion": 2, "mediaType": oci::MANIFEST_V1,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.as_str(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld.as_str(), "size": layer.len()}]
    })
    .to_string();
    c.put_manifest(repo, "latest", oci::MANIFEST_V1, m.as_bytes())
        .await
        .unwrap()
}

#[tokio::test]
async fn both_formats_verify_then_tampering_is_caught() {
    let Some(registry) = OciRegistry::start() else {
        return;
    };
    let c = OciClient::new(&registry.url, Auth::None);
    let d = push_image(&c, "team/api", "a").await;
    let signer = Signer::generate().unwrap();
    let key = TrustedKey::from_pem("ci.pub", &signer.public_pem().unwrap()).unwrap();

    assert!(
        oci::fetch_signatures(&c, "team/api", &d)
            .await
            .unwrap()
            .is_empty()
    );
    oci::attach(
        &c,
        "team/api",
        &d,
        &signer.sign_simple("team/api", &d).unwrap(),
    )
    .await
    .unwrap();
    oci::attach(
        &c,
        "team/api",
        &d,
        &signer.sign_bundle("team/api", &d).unwrap(),
    )
    .await
    .unwrap();

    let ev = oci::fetch_signatures(&c, "team/api", &d).await.unwrap();
    assert_eq!(ev.len(), 2);
    assert!(matches!(ev[0], SignatureEvidence::SimpleSigning { .. }));
    assert!(matches!(ev[1], SignatureEvidence::Bundle { .. }));
    for e in &ev {
        let got = verify(&d, std::slice::from_ref(e), std::slice::from_ref(&key));
        assert!(matches!(got, SignatureOutcome::Verified { .. }), "{got:?}");
    }
    // The bundle is found through the referrers fallback index.
    let refs = c.referrers("team/api", &d).await.unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(
        refs[0].artifact_type.as_deref(),
        Some(oci::BUNDLE_MEDIA_TYPE)
    );

    // Tamper: replace the .sig manifest's signature annotation with one
    // over another payload.
    let tag = format!("{}.sig", oci::fallback_tag(&d));
    let mut m: Manifest =
        serde_json::from_slice(&c.manifest("team/api", &tag).await.unwrap().unwrap().bytes)
            .unwrap();
    let other = Digest::parse(&format!("sha256:{}", "cd".repeat(32))).unwrap();
    let SignatureEvidence::SimpleSigning { signature_b64, .. } =
        signer.sign_simple("team/api", &other).unwrap()
    else {
        unreachable!()
    };
    m.layers[0]
        .annotations
        .insert("dev.cosignproject.cosign/signature".into(), signature_b64);
    c.put_manifest(
        "team/api",
        &tag,
        oci::MANIFEST_V1,
        &serde_json::to_vec(&m).unwrap(),
    )
    .await
    .unwrap();
    // Tamper: point the referrers index at a bundle signed for another digest.
    let bundle_other = signer.sign_bundle("team/api", &other).unwrap();
    let SignatureEvidence::Bundle { json } = &bundle_other else {
        unreachable!()
    };
    let idx_tag = oci::fallback_tag(&d);
    let idx: Index = serde_json::from_slice(
        &c.manifest("team/api", &idx_tag)
            .await
            .unwrap()
            .unwrap()
            .bytes,
    )
    .unwrap();
    let referrer: Manifest = serde_json::from_slice(
        &c.manifest("team/api", &idx.manifests[0].digest)
            .await
            .unwrap()
            .unwrap()
            .bytes,
    )
    .unwrap();
    let mut forged = referrer.clone();
    forged.layers[0].digest = c.put_blob("team/api", json).await.unwrap().to_string();
    forged.layers[0].size = json.len() as u64;
    let fb = serde_json::to_vec(&forged).unwrap();
    let fd = c
        .put_manifest("team/api", oci::sha256(&fb).as_str(), oci::MANIFEST_V1, &fb)
        .await
        .unwrap();
    let mut idx2 = idx.clone();
    idx2.manifests[0].digest = fd.to_string();
    idx2.manifests[0].size = fb.len() as u64;
    c.put_manifest(
        "team/api",
        &idx_tag,
        oci::INDEX_V1,
        &serde_json::to_vec(&idx2).unwrap(),
    )
    .await
    .unwrap();

    let ev = oci::fetch_signatures(&c, "team/api", &d).await.unwrap();
    assert_eq!(ev.len(), 2);
    let got = verify(&d, &ev[..1], std::slice::from_ref(&key));
    assert!(
        matches!(got, SignatureOutcome::Untrusted(_)),
        "simple signing after tampering: {got:?}"
    );
    let got = verify(&d, &ev[1..], std::slice::from_ref(&key));
    assert_eq!(
        got,
        SignatureOutcome::DigestMismatch {
            signed: other.to_string(),
            key: key.fingerprint.clone()
        }
    );
}

#[tokio::test]
async fn content_is_checked_against_its_digest_and_missing_is_none() {
    let Some(registry) = OciRegistry::start() else {
        return;
    };
    let c = OciClient::new(&registry.url, Auth::None);
    let d = push_image(&c, "app", "b").await;
    let f = c.manifest("app", d.as_str()).await.unwrap().unwrap();
    assert_eq!(f.digest, d);
    assert_eq!(oci::sha256(&f.bytes), d);
    assert!(c.manifest("app", "no-such-tag").await.unwrap().is_none());
    let missing = Digest::parse(&format!("sha256:{}", "0".repeat(64))).unwrap();
    let e = c.blob("app", missing.as_str()).await.unwrap_err();
    assert!(matches!(e, OciError::Status { status: 404, .. }), "{e:?}");
    assert!(c.referrers("app", &d).await.unwrap().is_empty());
}

#[tokio::test]
async fn basic_auth_is_sent_and_refusals_are_errors() {
    let Some(registry) = OciRegistry::start_with_htpasswd("AWS", "token-123") else {
        return;
    };
    let good = OciClient::new(
        &registry.url,
        Auth::Basic {
            user: "AWS".into(),
            password: "token-123".into(),
        },
    );
    let d = push_image(&good, "team/api", "c").await;
    assert!(
        good.manifest("team/api", d.as_str())
            .await
            .unwrap()
            .is_some()
    );
    let bad = OciClient::new(
        &registry.url,
        Auth::Basic {
            user: "AWS".into(),
            password: "wrong".into(),
        },
    );
    let e = bad.manifest("team/api", d.as_str()).await.unwrap_err();
    assert!(matches!(e, OciError::Status { status: 401, .. }), "{e:?}");
    let e = oci::fetch_signatures(&bad, "team/api", &d)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("HTTP 401"), "{e}");
    // Credentials never show in debug output.
    assert!(
        !format!(
            "{:?}",
            Auth::Basic {
                user: "AWS".into(),
                password: "token-123".into()
            }
        )
        .contains("token-123")
    );
}
