//! Smoke tests of the integration-test services in `tests/support/`: each one
//! starts a real service on loopback and checks that it does real work, so a
//! broken install fails here, plainly, rather than deep inside an adapter
//! test. They also show how to drive each service.

mod support;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use support::{Moto, OciRegistry};

const ECR: &str = "AmazonEC2ContainerRegistry_V20150921";

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// A small but well-formed OCI image manifest and its digest.
fn oci_manifest(config: &[u8], layer: &[u8]) -> (Vec<u8>, String) {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(config),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": sha256(layer),
            "size": layer.len(),
        }],
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = sha256(&bytes);
    (bytes, digest)
}

/// ECR's JSON protocol against moto by hand, plus scan findings injected
/// through moto's API and read back with `DescribeImageScanFindings`.
#[test]
fn moto_ecr_json_protocol_and_injected_scan_findings() {
    let Some(moto) = Moto::start() else { return };
    let ecr = |action: &str, body: Value| {
        let (status, out) = moto.aws_json("ecr", &format!("{ECR}.{action}"), &body);
        (status, out)
    };

    let (status, out) = ecr("CreateRepository", json!({"repositoryName": "gateway"}));
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["repository"]["repositoryName"], "gateway");
    assert_eq!(out["repository"]["registryId"], support::MOTO_ACCOUNT_ID);
    assert_eq!(
        out["repository"]["repositoryUri"],
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/gateway"
    );

    // An error comes back in the AWS JSON error shape.
    let (status, out) = ecr("CreateRepository", json!({"repositoryName": "gateway"}));
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["__type"], "RepositoryAlreadyExistsException");

    let (manifest, digest) = oci_manifest(b"{}", b"layer");
    let (status, out) = ecr(
        "PutImage",
        json!({
            "repositoryName": "gateway",
            "imageTag": "sha-3f2a9c1",
            "imageManifest": String::from_utf8(manifest).unwrap(),
            "imageDigest": digest,
        }),
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["image"]["imageId"]["imageDigest"], digest.as_str());

    // Never scanned: moto says so, as ECR does.
    let by_digest = json!({"repositoryName": "gateway", "imageId": {"imageDigest": digest}});
    let (status, out) = ecr("DescribeImageScanFindings", by_digest.clone());
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["__type"], "ScanNotFoundException");

    let (status, out) = ecr("StartImageScan", by_digest.clone());
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["imageScanStatus"]["status"], "IN_PROGRESS");

    moto.set_ecr_scan_findings(&json!([{
        "registryId": support::MOTO_ACCOUNT_ID,
        "repositoryName": "gateway",
        "imageId": {"imageDigest": digest, "imageTag": "sha-3f2a9c1"},
        "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
        "imageScanFindings": {
            "imageScanCompletedAt": 1767225600,
            "findingSeverityCounts": {"CRITICAL": 1, "MEDIUM": 2},
            "findings": [
                {"name": "CVE-2026-0001", "severity": "CRITICAL", "uri": "https://example.invalid/CVE-2026-0001", "attributes": []},
                {"name": "CVE-2026-0002", "severity": "MEDIUM", "attributes": []},
                {"name": "CVE-2026-0003", "severity": "MEDIUM", "attributes": []},
            ],
        },
    }]));

    // The same request, twice: the injected result both times.
    for _ in 0..2 {
        let (status, out) = ecr("DescribeImageScanFindings", by_digest.clone());
        assert_eq!(status, 200, "{out}");
        assert_eq!(out["imageScanStatus"]["status"], "COMPLETE");
        let f = &out["imageScanFindings"];
        assert_eq!(
            f["findingSeverityCounts"],
            json!({"CRITICAL": 1, "MEDIUM": 2})
        );
        assert_eq!(f["findings"].as_array().unwrap().len(), 3);
        assert_eq!(f["findings"][0]["name"], "CVE-2026-0001");
        assert_eq!(f["imageScanCompletedAt"], 1767225600);
    }
    // A request spelled otherwise (by tag) finds the queue empty and gets
    // moto's static default: one HIGH CVE-9999-9999.
    let (status, out) = ecr(
        "DescribeImageScanFindings",
        json!({"repositoryName": "gateway", "imageId": {"imageTag": "sha-3f2a9c1"}}),
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["imageScanFindings"]["findingSeverityCounts"],
        json!({"HIGH": 1})
    );
    assert_eq!(
        out["imageScanFindings"]["findings"][0]["name"],
        "CVE-9999-9999"
    );
}

/// The AWS SDK the ECR adapter uses, pointed at moto: the wiring later
/// adapter tests need.
#[tokio::test]
async fn moto_serves_aws_sdk_ecr() {
    use aws_sdk_ecr::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_ecr::types::{FindingSeverity, ImageIdentifier, ScanStatus};

    let Some(moto) = Moto::start() else { return };
    let conf = aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(support::MOTO_REGION))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "ferry-tests"))
        .build();
    let client = aws_sdk_ecr::Client::from_conf(conf);

    client
        .create_repository()
        .repository_name("team/api")
        .send()
        .await
        .expect("CreateRepository");
    let (manifest, digest) = oci_manifest(b"{\"os\":\"linux\"}", b"api-layer");
    client
        .put_image()
        .repository_name("team/api")
        .image_tag("v1.2.3")
        .image_manifest(String::from_utf8(manifest).unwrap())
        .image_digest(&digest)
        .send()
        .await
        .expect("PutImage");

    let images = client
        .describe_images()
        .repository_name("team/api")
        .send()
        .await
        .expect("DescribeImages");
    let details = images.image_details();
    assert_eq!(details.len(), 1);
    assert_eq!(details[0].image_digest(), Some(digest.as_str()));
    assert_eq!(details[0].image_tags(), ["v1.2.3"]);
    assert!(details[0].image_pushed_at().is_some());

    let id = ImageIdentifier::builder().image_digest(&digest).build();
    client
        .start_image_scan()
        .repository_name("team/api")
        .image_id(id.clone())
        .send()
        .await
        .expect("StartImageScan");
    moto.set_ecr_scan_findings(&json!([{
        "repositoryName": "team/api",
        "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": "COMPLETE"},
        "imageScanFindings": {
            "imageScanCompletedAt": "2026-01-01T00:00:00Z",
            "findingSeverityCounts": {"HIGH": 4, "LOW": 1},
            "findings": [],
        },
    }]));
    let out = client
        .describe_image_scan_findings()
        .repository_name("team/api")
        .image_id(id)
        .send()
        .await
        .expect("DescribeImageScanFindings");
    assert_eq!(
        out.image_scan_status().and_then(|s| s.status()),
        Some(&ScanStatus::Complete)
    );
    let findings = out.image_scan_findings().expect("findings");
    let counts = findings.finding_severity_counts().expect("counts");
    assert_eq!(counts.get(&FindingSeverity::High), Some(&4));
    assert_eq!(counts.get(&FindingSeverity::Low), Some(&1));
    assert_eq!(counts.len(), 2);
    assert_eq!(
        findings.image_scan_completed_at().map(|t| t.secs()),
        Some(1767225600)
    );
}

/// A blob pushed with a monolithic upload, then read back.
async fn push_blob(http: &reqwest::Client, reg: &OciRegistry, name: &str, blob: &[u8]) -> String {
    let digest = sha256(blob);
    let auth = |rb: reqwest::RequestBuilder| match &reg.credentials {
        Some((u, p)) => rb.basic_auth(u, Some(p)),
        None => rb,
    };
    let start = auth(http.post(format!("{}/v2/{name}/blobs/uploads/", reg.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status().as_u16(), 202, "start upload");
    let location = start.headers()["location"].to_str().unwrap().to_string();
    // 2.8 answers an absolute URL; a relative one is legal too.
    let mut url = reqwest::Url::parse(&reg.url)
        .unwrap()
        .join(&location)
        .unwrap();
    url.query_pairs_mut().append_pair("digest", &digest);
    let put = auth(http.put(url))
        .header("content-type", "application/octet-stream")
        .body(blob.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 201, "finish upload");
    assert_eq!(put.headers()["docker-content-digest"], digest.as_str());

    let get = auth(http.get(format!("{}/v2/{name}/blobs/{digest}", reg.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 200);
    assert_eq!(get.bytes().await.unwrap().as_ref(), blob);
    digest
}

/// Pushes an image (config, layer, manifest under a tag) and reads the
/// manifest back by tag and by digest.
async fn push_and_pull_image(reg: &OciRegistry, name: &str, tag: &str) {
    const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    let http = reqwest::Client::new();
    let auth = |rb: reqwest::RequestBuilder| match &reg.credentials {
        Some((u, p)) => rb.basic_auth(u, Some(p)),
        None => rb,
    };
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let layer = b"not really a tarball, the registry does not care";
    push_blob(&http, reg, name, config).await;
    push_blob(&http, reg, name, layer).await;

    let (manifest, digest) = oci_manifest(config, layer);
    let put = auth(http.put(format!("{}/v2/{name}/manifests/{tag}", reg.url)))
        .header("content-type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    let status = put.status().as_u16();
    let put_digest = put.headers().get("docker-content-digest").cloned();
    assert_eq!(status, 201, "{}", put.text().await.unwrap_or_default());
    assert_eq!(put_digest.unwrap(), digest.as_str());

    for reference in [tag, digest.as_str()] {
        let get = auth(http.get(format!("{}/v2/{name}/manifests/{reference}", reg.url)))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(get.status().as_u16(), 200, "GET manifest {reference}");
        assert_eq!(get.headers()["docker-content-digest"], digest.as_str());
        assert_eq!(get.headers()["content-type"], OCI_MANIFEST);
        let body = get.bytes().await.unwrap();
        assert_eq!(body.as_ref(), manifest.as_slice());
        assert_eq!(sha256(&body), digest);
    }

    let head = auth(http.head(format!("{}/v2/{name}/manifests/{tag}", reg.url)))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(head.headers()["docker-content-digest"], digest.as_str());

    let tags: Value = auth(http.get(format!("{}/v2/{name}/tags/list", reg.url)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags, json!({"name": name, "tags": [tag]}));

    let missing = auth(http.get(format!("{}/v2/{name}/manifests/no-such-tag", reg.url)))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test]
async fn registry_push_and_pull_manifest() {
    let Some(reg) = OciRegistry::start() else {
        return;
    };
    let v2 = support::http(&reg.addr, "GET", "/v2/", &[], b"").unwrap();
    assert_eq!(v2.status, 200);
    assert_eq!(
        v2.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    push_and_pull_image(&reg, "team/gateway", "sha-3f2a9c1").await;
    assert!(
        reg.root
            .join("docker/registry/v2/repositories/team/gateway")
            .is_dir()
    );
}

#[tokio::test]
async fn registry_with_htpasswd_requires_basic_auth() {
    let Some(reg) = OciRegistry::start_with_htpasswd("AWS", "token-123") else {
        return;
    };
    let http = reqwest::Client::new();
    let anon = http.get(format!("{}/v2/", reg.url)).send().await.unwrap();
    assert_eq!(anon.status().as_u16(), 401);
    assert_eq!(
        anon.headers()["www-authenticate"],
        r#"Basic realm="ferry-test""#
    );
    let wrong = http
        .get(format!("{}/v2/", reg.url))
        .basic_auth("AWS", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let right = http
        .get(format!("{}/v2/", reg.url))
        .basic_auth("AWS", Some("token-123"))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status().as_u16(), 200);

    push_and_pull_image(&reg, "gateway", "v1").await;
}
