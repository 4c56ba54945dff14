//! The ECR adapter and SQS intake through the real AWS SDK against moto,
//! with signatures served by a real OCI registry (docker-registry) behind
//! Basic auth with the ECR authorization token, as ECR itself does.

mod support;

use aws_sdk_ecr::config::{Credentials, Region, SharedCredentialsProvider};
use aws_sdk_ecr::types::ImageIdentifier;
use ferry::config::Severity;
use ferry::gates::signer::Signer;
use ferry::gates::{GatePolicy, Gates, ScanState, TrustedKey};
use ferry::image::Digest;
use ferry::oci::{self, Auth, OciClient};
use ferry::registry::ImageSource;
use ferry::registry::ecr::EcrRegistry;
use ferry::registry::events::TriggerKind;
use ferry::registry::intake::SqsIntake;
use ferry::registry::policy::TagPolicy;
use serde_json::json;
use support::{Moto, OciRegistry};

fn sdk_config(moto: &Moto) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(Region::new(support::MOTO_REGION))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test",
            "test",
            None,
            None,
            "ferry-tests",
        )))
        .build()
}

/// An OCI image manifest for `seed`, and its digest.
fn manifest(seed: &str) -> (Vec<u8>, Digest) {
    let config = format!("{{\"seed\":\"{seed}\"}}");
    let m = json!({
        "schemaVersion": 2,
        "mediaType": oci::MANIFEST_V1,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": oci::sha256(config.as_bytes()).as_str(), "size": config.len()},
        "layers": []
    })
    .to_string()
    .into_bytes();
    let d = oci::sha256(&m);
    (m, d)
}

async fn push(ecr: &aws_sdk_ecr::Client, repo: &str, tag: Option<&str>, seed: &str) -> Digest {
    let (m, d) = manifest(seed);
    let mut req = ecr
        .put_image()
        .repository_name(repo)
        .image_manifest(String::from_utf8(m).unwrap())
        .image_digest(d.as_str());
    if let Some(t) = tag {
        req = req.image_tag(t);
    }
    req.send().await.expect("PutImage");
    d
}

async fn scan(
    moto: &Moto,
    ecr: &aws_sdk_ecr::Client,
    repo: &str,
    d: &Digest,
    status: &str,
    counts: serde_json::Value,
) {
    ecr.start_image_scan()
        .repository_name(repo)
        .image_id(ImageIdentifier::builder().image_digest(d.as_str()).build())
        .send()
        .await
        .expect("StartImageScan");
    moto.set_ecr_scan_findings(&json!([{
        "repositoryName": repo,
        "imageId": {"imageDigest": d.as_str()},
        "imageScanStatus": {"status": status, "description": format!("{status} by test")},
        "imageScanFindings": {"findingSeverityCounts": counts, "findings": []},
    }]));
}

#[tokio::test]
async fn images_scans_and_candidates_through_the_sdk() {
    let Some(moto) = Moto::start() else { return };
    let reg = EcrRegistry::from_sdk_config(&sdk_config(&moto), None);
    let ecr = reg.client().clone();
    ecr.create_repository()
        .repository_name("team/api")
        .send()
        .await
        .unwrap();
    let d1 = push(&ecr, "team/api", Some("sha-1111111"), "one").await;
    let d2 = push(&ecr, "team/api", Some("sha-2222222"), "two").await;
    let sig = push(
        &ecr,
        "team/api",
        Some(&format!("{}.sig", oci::fallback_tag(&d2))),
        "sig",
    )
    .await;
    let untagged = push(&ecr, "team/api", None, "untagged").await;

    let images = reg.list_images("team/api").await.unwrap();
    assert_eq!(images.len(), 4);
    let tags_of = |d: &Digest| images.iter().find(|i| &i.digest == d).unwrap().tags.clone();
    assert_eq!(tags_of(&d1), vec!["sha-1111111"]);
    assert!(tags_of(&untagged).is_empty());
    let cands = TagPolicy::new(None, ferry::config::Order::Pushed).candidates(&images);
    let digests: Vec<&Digest> = cands.iter().map(|c| &c.digest).collect();
    assert_eq!(
        cands.len(),
        2,
        "signature tags and untagged images are never candidates: {cands:?}"
    );
    assert!(digests.contains(&&d1) && digests.contains(&&d2) && !digests.contains(&&sig));

    // Not scanned yet.
    assert_eq!(reg.scan("team/api", &d1).await.unwrap(), ScanState::Missing);
    scan(
        &moto,
        &ecr,
        "team/api",
        &d1,
        "COMPLETE",
        json!({"CRITICAL": 1, "HIGH": 2}),
    )
    .await;
    assert_eq!(
        reg.scan("team/api", &d1).await.unwrap(),
        ScanState::Complete {
            counts: [(Severity::Critical, 1), (Severity::High, 2)]
                .into_iter()
                .collect(),
            settled: true
        }
    );
    scan(&moto, &ecr, "team/api", &d2, "IN_PROGRESS", json!({})).await;
    assert_eq!(
        reg.scan("team/api", &d2).await.unwrap(),
        ScanState::Pending {
            status: "IN_PROGRESS".into()
        }
    );

    // Gate codes through the real client: budget and pending.
    let gates = Gates::new(GatePolicy {
        scan_max: Some([(Severity::Critical, 0)].into_iter().collect()),
        keys: None,
    });
    let v = gates.check(&reg, "team/api", &d1).await;
    assert_eq!(v.reasons[0].code.as_str(), "scan_budget");
    assert_eq!(
        gates.check(&reg, "team/api", &d2).await.reasons[0]
            .code
            .as_str(),
        "scan_pending"
    );

    let e = reg.list_images("nope/none").await.unwrap_err();
    assert!(
        matches!(e, ferry::registry::RegistryError::RepositoryNotFound(_)),
        "{e:?}"
    );
    let v = gates.check(&reg, "nope/none", &d1).await;
    assert_eq!(v.reasons[0].code.as_str(), "scan_unavailable");
}

#[tokio::test]
async fn enhanced_scanning_statuses() {
    let Some(moto) = Moto::start() else { return };
    let reg = EcrRegistry::from_sdk_config(&sdk_config(&moto), None);
    let ecr = reg.client().clone();
    ecr.create_repository()
        .repository_name("app")
        .send()
        .await
        .unwrap();
    for (i, (status, want)) in [
        ("ACTIVE", "complete"),
        ("SCAN_ELIGIBILITY_EXPIRED", "failed"),
        ("FINDINGS_UNAVAILABLE", "failed"),
        ("UNSUPPORTED_IMAGE", "failed"),
    ]
    .into_iter()
    .enumerate()
    {
        let d = push(&ecr, "app", Some(&format!("v{i}")), status).await;
        scan(&moto, &ecr, "app", &d, status, json!({"MEDIUM": 3})).await;
        let got = reg.scan("app", &d).await.unwrap();
        match (want, &got) {
            (
                "complete",
                ScanState::Complete {
                    settled: false,
                    counts,
                },
            ) => assert_eq!(counts[&Severity::Medium], 3),
            (
                "failed",
                ScanState::Failed {
                    status: s,
                    description,
                },
            ) => {
                assert_eq!(s, status);
                assert_eq!(
                    description.as_deref(),
                    Some(format!("{status} by test").as_str())
                );
            }
            _ => panic!("{status}: {got:?}"),
        }
    }
}

#[tokio::test]
async fn signatures_through_the_ecr_token_and_oci() {
    let Some(moto) = Moto::start() else { return };
    let config = sdk_config(&moto);
    // The registry accepts exactly the credentials ECR's token carries.
    let token = aws_sdk_ecr::Client::new(&config)
        .get_authorization_token()
        .send()
        .await
        .unwrap();
    let decoded = base64_decode(token.authorization_data()[0].authorization_token().unwrap());
    let (user, password) = decoded.split_once(':').unwrap();
    assert_eq!(user, "AWS");
    let Some(registry) = OciRegistry::start_with_htpasswd(user, password) else {
        return;
    };
    let reg = EcrRegistry::from_sdk_config(&config, Some(registry.url.clone()));
    let ecr = reg.client().clone();
    ecr.create_repository()
        .repository_name("team/api")
        .send()
        .await
        .unwrap();

    let oci_client = OciClient::new(
        &registry.url,
        Auth::Basic {
            user: user.into(),
            password: password.into(),
        },
    );
    let signer = Signer::generate().unwrap();
    let mut digests = Vec::new();
    for (i, format) in ["simple", "bundle", "none"].iter().enumerate() {
        let d = push(&ecr, "team/api", Some(&format!("v{i}")), format).await;
        let (m, d2) = manifest(format);
        assert_eq!(d, d2);
        oci_client
            .put_blob("team/api", format!("{{\"seed\":\"{format}\"}}").as_bytes())
            .await
            .unwrap();
        oci_client
            .put_manifest("team/api", d.as_str(), oci::MANIFEST_V1, &m)
            .await
            .unwrap();
        scan(&moto, &ecr, "team/api", &d, "COMPLETE", json!({"LOW": 1})).await;
        match *format {
            "simple" => oci::attach(
                &oci_client,
                "team/api",
                &d,
                &signer.sign_simple("team/api", &d).unwrap(),
            )
            .await
            .unwrap(),
            "bundle" => oci::attach(
                &oci_client,
                "team/api",
                &d,
                &signer.sign_bundle("team/api", &d).unwrap(),
            )
            .await
            .unwrap(),
            _ => {}
        }
        digests.push(d);
    }
    let key = TrustedKey::from_pem("ci.pub", &signer.public_pem().unwrap()).unwrap();
    let gates = Gates::new(GatePolicy {
        scan_max: Some([(Severity::Critical, 0)].into_iter().collect()),
        keys: Some(vec![key.clone()]),
    });
    let v = gates.check(&reg, "team/api", &digests[0]).await;
    assert!(v.passes(), "{:?}", v.reasons);
    assert_eq!(v.signature_key.as_deref(), Some(key.fingerprint.as_str()));
    assert!(gates.check(&reg, "team/api", &digests[1]).await.passes());
    assert_eq!(
        gates.check(&reg, "team/api", &digests[2]).await.reasons[0]
            .code
            .as_str(),
        "unsigned"
    );
}

fn base64_decode(s: &str) -> String {
    use base64::Engine;
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s).unwrap()).unwrap()
}

#[tokio::test]
async fn sqs_intake_handles_deletes_drops_and_keeps() {
    let Some(moto) = Moto::start() else { return };
    let config = sdk_config(&moto);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs
        .create_queue()
        .queue_name("ferry-ecr-events")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let corpus =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/ecr-events");
    let push = std::fs::read_to_string(
        corpus.join("01b_ecr-image-action-push_aws-lambda-go-testdata.json"),
    )
    .unwrap();
    let scan = std::fs::read_to_string(
        corpus.join("04_ecr-image-scan-basic-allseverities_aws-lambda-go-testdata.json"),
    )
    .unwrap();
    let broken =
        std::fs::read_to_string(corpus.join("06_ecr-pull-through-cache-action_aws-docs-2025.json"))
            .unwrap();
    for body in [
        push.as_str(),
        scan.as_str(),
        broken.as_str(),
        "not json at all",
    ] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let mut intake = SqsIntake::from_sdk_config(&config, &url);
    intake.wait = std::time::Duration::from_secs(1);

    // The batch's handler fails: the usable messages stay, the unusable
    // ones are dropped all the same.
    let mut seen = Vec::new();
    let mut calls = 0;
    let total = intake
        .receive_once(|triggers| {
            calls += 1;
            seen.extend(triggers);
            async { Err("handler failed".to_string()) }
        })
        .await
        .unwrap();
    assert_eq!(calls, 1, "one call for the batch");
    assert_eq!(
        (total.received, total.handled, total.dropped, total.failed),
        (4, 0, 2, 2),
        "{total:?}"
    );
    assert!(seen.iter().any(|t| t.kind == TriggerKind::Push));
    assert!(seen.iter().any(|t| t.kind == TriggerKind::Scan));
    // Only the failed batch is left, in flight until its visibility ends.
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let get = |k: aws_sdk_sqs::types::QueueAttributeName| {
        attrs
            .attributes()
            .unwrap()
            .get(&k)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages),
        "0"
    );
    assert_eq!(
        get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        "2"
    );
}

/// (visible, in flight) messages of a queue.
async fn queue_counts(sqs: &aws_sdk_sqs::Client, url: &str) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::All)
        .send()
        .await
        .unwrap();
    let get = |k: A| {
        attrs
            .attributes()
            .unwrap()
            .get(&k)
            .cloned()
            .unwrap_or_default()
    };
    (
        get(A::ApproximateNumberOfMessages),
        get(A::ApproximateNumberOfMessagesNotVisible),
    )
}

#[tokio::test]
async fn a_batch_of_events_is_one_pass_and_is_deleted_after_it() {
    let Some(moto) = Moto::start() else { return };
    let config = sdk_config(&moto);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs
        .create_queue()
        .queue_name("ferry-batch")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let push =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../shared/corpus/ecr-events/01b_ecr-image-action-push_aws-lambda-go-testdata.json",
        ))
        .unwrap();
    const N: usize = 7;
    let entries: Vec<_> = (0..N)
        .map(|i| {
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(format!("e{i}"))
                .message_body(&push)
                .build()
                .unwrap()
        })
        .collect();
    sqs.send_message_batch()
        .queue_url(&url)
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap();
    let mut intake = SqsIntake::from_sdk_config(&config, &url);
    intake.wait = std::time::Duration::from_secs(1);

    let passes = std::sync::atomic::AtomicUsize::new(0);
    let during = tokio::sync::Mutex::new(None);
    let stats = intake
        .receive_once(|triggers| {
            passes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (sqs, url, during) = (&sqs, &url, &during);
            async move {
                assert_eq!(triggers.len(), N, "every message's trigger, at once");
                // The "pass": the messages are still on the queue, in flight.
                *during.lock().await = Some(queue_counts(sqs, url).await);
                Ok(())
            }
        })
        .await
        .unwrap();
    assert_eq!(passes.into_inner(), 1, "{N} messages, one pass");
    assert_eq!((stats.received, stats.handled, stats.failed), (N, N, 0));
    assert_eq!(
        during.into_inner(),
        Some(("0".to_string(), N.to_string())),
        "not deleted before the pass ended"
    );
    assert_eq!(
        queue_counts(&sqs, &url).await,
        ("0".to_string(), "0".to_string()),
        "all deleted after it"
    );
    // Nothing comes back: an empty receive does not call the handler.
    let again = intake
        .receive_once(|_| async { panic!("no pass for an empty batch") })
        .await
        .unwrap();
    assert_eq!(again.received, 0);
}
