//! The OCI client and cosign signatures on a real registry
//! (docker-registry): push signed images in both cosign formats, verify,
//! tamper, verify again; broken referrers, invalid descriptor digests and
//! oversized bodies (against a small scripted registry where the real one
//! would refuse to store them).

mod support;

use ferry::gates::cosign::{SignatureOutcome, verify};
use ferry::gates::signer::Signer;
use ferry::gates::{SignatureEvidence, TrustedKey};
use ferry::image::Digest;
use ferry::oci::{self, Auth, Index, Manifest, OciClient, OciError};
use support::OciRegistry;

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    let e = c.blob("app", &missing).await.unwrap_err();
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

#[tokio::test]
async fn an_attestation_by_the_trusted_key_does_not_pass_and_a_signature_does() {
    let Some(registry) = OciRegistry::start() else {
        return;
    };
    let c = OciClient::new(&registry.url, Auth::None);
    let d = push_image(&c, "team/api", "att").await;
    let signer = Signer::generate().unwrap();
    let key = TrustedKey::from_pem("ci.pub", &signer.public_pem().unwrap()).unwrap();
    let sbom = signer
        .sign_attestation(
            "team/api",
            &d,
            "https://spdx.dev/Document",
            serde_json::json!({"spdxVersion": "SPDX-2.3"}),
        )
        .unwrap();
    oci::attach(&c, "team/api", &d, &sbom).await.unwrap();
    let ev = oci::fetch_signatures(&c, "team/api", &d).await.unwrap();
    assert_eq!(ev.len(), 1);
    let got = verify(&d, &ev, std::slice::from_ref(&key));
    let SignatureOutcome::Untrusted(why) = &got else {
        panic!("{got:?}")
    };
    assert!(
        why[0].contains("attestation with predicateType \"https://spdx.dev/Document\""),
        "{why:?}"
    );
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
    assert_eq!(
        verify(&d, &ev, std::slice::from_ref(&key)),
        SignatureOutcome::Verified {
            key: key.fingerprint.clone(),
            format: "bundle"
        }
    );
}

#[tokio::test]
async fn a_referrer_with_a_missing_blob_does_not_hide_a_legacy_signature() {
    let Some(registry) = OciRegistry::start() else {
        return;
    };
    let c = OciClient::new(&registry.url, Auth::None);
    let d = push_image(&c, "team/api", "broken").await;
    let signer = Signer::generate().unwrap();
    let key = TrustedKey::from_pem("ci.pub", &signer.public_pem().unwrap()).unwrap();
    let bundle = signer.sign_bundle("team/api", &d).unwrap();
    oci::attach(&c, "team/api", &d, &bundle).await.unwrap();
    oci::attach(
        &c,
        "team/api",
        &d,
        &signer.sign_simple("team/api", &d).unwrap(),
    )
    .await
    .unwrap();
    // The bundle blob goes away (garbage collection, a half-finished copy).
    let SignatureEvidence::Bundle { json } = &bundle else {
        unreachable!()
    };
    let gone = oci::sha256(json);
    let resp = reqwest::Client::new()
        .delete(format!("{}/v2/team/api/blobs/{gone}", registry.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202, "{}", registry.log());

    let ev = oci::fetch_signatures(&c, "team/api", &d).await.unwrap();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(matches!(ev[0], SignatureEvidence::SimpleSigning { .. }));
    let SignatureEvidence::Unusable { source, why } = &ev[1] else {
        panic!("{:?}", ev[1])
    };
    assert!(source.starts_with("referrer \"sha256:"), "{source}");
    assert!(
        why.contains("the blob is missing")
            && why.contains("HTTP 404")
            && why.contains(gone.as_str()),
        "{why}"
    );
    assert!(matches!(
        verify(&d, &ev, std::slice::from_ref(&key)),
        SignatureOutcome::Verified {
            format: "simple-signing",
            ..
        }
    ));
    // Without the legacy signature the broken referrer is the reason.
    let got = verify(&d, &ev[1..], std::slice::from_ref(&key));
    let SignatureOutcome::Untrusted(why) = &got else {
        panic!("{got:?}")
    };
    assert!(why[0].contains("the blob is missing"), "{why:?}");
}

/// What the scripted registry answers for one path.
enum Answer {
    NotFound,
    Body(&'static str, Vec<u8>),
    /// `Content-Length` declares `n` bytes, and they are sent.
    Declared(&'static str, usize),
    /// Chunked, without a length, until the client hangs up.
    Endless(&'static str),
}

/// A registry that answers from a script, records every path asked, and
/// closes each connection after one answer. It serves what a real
/// registry would refuse to store: invalid digests, huge manifests.
struct Scripted {
    url: String,
    paths: Arc<Mutex<Vec<String>>>,
    sent: Arc<Mutex<usize>>,
}

impl Scripted {
    async fn start(script: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Scripted {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let paths = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(Mutex::new(0usize));
        let script = Arc::new(script);
        let (p, n) = (paths.clone(), sent.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (script, p, n) = (script.clone(), p.clone(), n.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => head.extend_from_slice(&buf[..k]),
                        }
                    }
                    let line = String::from_utf8_lossy(&head)
                        .lines()
                        .next()
                        .unwrap()
                        .to_string();
                    let path = line.split(' ').nth(1).unwrap().to_string();
                    p.lock().unwrap().push(path.clone());
                    let w = |s: String| s.into_bytes();
                    match script(&path) {
                        Answer::NotFound => {
                            let _ = sock
                                .write_all(&w("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into()))
                                .await;
                        }
                        Answer::Body(t, body) => {
                            let _ = sock
                                .write_all(&w(format!("HTTP/1.1 200 OK\r\ncontent-type: {t}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len())))
                                .await;
                            let _ = sock.write_all(&body).await;
                        }
                        Answer::Declared(t, len) => {
                            let _ = sock
                                .write_all(&w(format!("HTTP/1.1 200 OK\r\ncontent-type: {t}\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n")))
                                .await;
                            let _ = sock.write_all(&vec![b' '; len]).await;
                        }
                        Answer::Endless(t) => {
                            let _ = sock
                                .write_all(&w(format!("HTTP/1.1 200 OK\r\ncontent-type: {t}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n")))
                                .await;
                            let chunk = [b' '; 65536];
                            // Stops on its own past 1 GiB, so a client
                            // that never stops fails the test instead of
                            // hanging it.
                            for _ in 0..16384 {
                                let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
                                frame.extend_from_slice(&chunk);
                                frame.extend_from_slice(b"\r\n");
                                if sock.write_all(&frame).await.is_err() {
                                    return;
                                }
                                *n.lock().unwrap() += chunk.len();
                            }
                            let _ = sock.write_all(b"0\r\n\r\n").await;
                        }
                    }
                });
            }
        });
        Scripted { url, paths, sent }
    }

    fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn invalid_descriptor_digests_are_never_requested() {
    let d = oci::sha256(b"the image");
    let hex = d.hex().to_string();
    // A referrer manifest that is fine, except that its one bundle layer
    // names an invalid digest.
    let referrer = serde_json::json!({
        "schemaVersion": 2, "mediaType": oci::MANIFEST_V1,
        "artifactType": oci::BUNDLE_MEDIA_TYPE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": oci::sha256(b"{}").as_str(), "size": 2},
        "layers": [{"mediaType": oci::BUNDLE_MEDIA_TYPE, "digest": "sha256:../../../../evil", "size": 10}]
    })
    .to_string()
    .into_bytes();
    let rd = oci::sha256(&referrer);
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": oci::INDEX_V1,
        "manifests": [
            {"mediaType": oci::MANIFEST_V1, "digest": "sha256:../../blobs/uploads", "size": 1, "artifactType": oci::BUNDLE_MEDIA_TYPE},
            {"mediaType": oci::MANIFEST_V1, "digest": format!("SHA256:{}", hex.to_uppercase()), "size": 1, "artifactType": oci::BUNDLE_MEDIA_TYPE},
            {"mediaType": oci::MANIFEST_V1, "digest": rd.as_str(), "size": referrer.len(), "artifactType": oci::BUNDLE_MEDIA_TYPE},
        ]
    })
    .to_string()
    .into_bytes();
    let referrers_path = format!("/v2/team/api/referrers/{d}");
    let referrer_path = format!("/v2/team/api/manifests/{rd}");
    let (rp, mp) = (referrers_path.clone(), referrer_path.clone());
    let registry = Scripted::start(move |path| {
        if path == rp {
            Answer::Body(oci::INDEX_V1, index.clone())
        } else if path == mp {
            Answer::Body(oci::MANIFEST_V1, referrer.clone())
        } else {
            Answer::NotFound
        }
    })
    .await;
    let c = OciClient::new(&registry.url, Auth::None);
    let ev = oci::fetch_signatures(&c, "team/api", &d).await.unwrap();
    assert_eq!(
        registry.paths(),
        vec![
            format!("/v2/team/api/manifests/sha256-{hex}.sig"),
            referrers_path,
            referrer_path
        ],
        "only valid references are requested"
    );
    let why: Vec<String> = ev
        .iter()
        .map(|e| match e {
            SignatureEvidence::Unusable { source, why } => format!("{source}: {why}"),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(why.len(), 3, "{why:?}");
    assert!(
        why[0].starts_with("referrer \"sha256:../../blobs/uploads\": "),
        "{why:?}"
    );
    assert!(why[1].starts_with("referrer \"SHA256:"), "{why:?}");
    assert!(
        why[2].starts_with(&format!(
            "referrer \"{rd}\" layer \"sha256:../../../../evil\": "
        )),
        "{why:?}"
    );
    assert!(
        why.iter().all(|w| w.ends_with("; not requested")),
        "{why:?}"
    );
    // A manifest reference outside the grammar is refused before any
    // request, too.
    let before = registry.paths().len();
    let e = c.manifest("team/api", "sha256:../x").await.unwrap_err();
    assert!(matches!(e, OciError::InvalidReference { .. }), "{e:?}");
    assert!(c.manifest("team/api", "../x").await.is_err());
    assert_eq!(registry.paths().len(), before);
}

#[tokio::test]
async fn oversized_manifests_and_blobs_are_refused_at_the_limit() {
    let registry = Scripted::start(|path| {
        if path.ends_with("/manifests/declared") {
            Answer::Declared(oci::MANIFEST_V1, 5 * 1024 * 1024)
        } else if path.ends_with("/manifests/endless") {
            Answer::Endless(oci::MANIFEST_V1)
        } else if path.contains("/blobs/") {
            Answer::Endless("application/octet-stream")
        } else {
            Answer::NotFound
        }
    })
    .await;
    let c = OciClient::new(&registry.url, Auth::None);
    let e = c.manifest("team/api", "declared").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}/v2/team/api/manifests/declared: manifest is larger than the 4 MiB limit (Content-Length is 5242880 bytes)",
            registry.url
        )
    );
    let e = c.manifest("team/api", "endless").await.unwrap_err();
    let OciError::TooLarge {
        what, limit, seen, ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((*what, *limit), ("manifest", oci::MAX_MANIFEST_BYTES));
    assert!(seen.starts_with("stopped after "), "{e}");
    let d = oci::sha256(b"a blob");
    let e = c.blob("team/api", &d).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("blob is larger than the 16 MiB limit (stopped after "),
        "{e}"
    );
    // The server was cut off near the limit, not allowed to send on.
    let sent = *registry.sent.lock().unwrap();
    assert!(sent < 64 * 1024 * 1024, "the server sent {sent} bytes");
}

#[tokio::test]
async fn an_oversized_blob_in_a_real_registry_is_refused_by_its_length() {
    let Some(registry) = OciRegistry::start() else {
        return;
    };
    let c = OciClient::new(&registry.url, Auth::None);
    let big = vec![7u8; (oci::MAX_BLOB_BYTES + 1) as usize];
    let d = c.put_blob("team/api", &big).await.unwrap();
    let e = c.blob("team/api", &d).await.unwrap_err();
    assert!(
        e.to_string()
            .ends_with("blob is larger than the 16 MiB limit (Content-Length is 16777217 bytes)"),
        "{e}"
    );
    // A blob at the limit is read.
    let fits = vec![7u8; oci::MAX_BLOB_BYTES as usize];
    let d = c.put_blob("team/api", &fits).await.unwrap();
    assert_eq!(c.blob("team/api", &d).await.unwrap().len(), fits.len());
}
