//! The gates on the local registry adapter: every verdict code, every
//! reason at once, the per-digest cache, and `ferry check-image`; an
//! attestation is not a signature; every file read is bounded.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferry::config::Severity;
use ferry::gates::{Code, GatePolicy, Gates, SignatureEvidence, TrustedKey, signer::Signer};
use ferry::image::Digest;
use ferry::registry::local::LocalRegistry;

fn digest(n: u8) -> Digest {
    Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap()
}

/// A registry file in a temp dir, written from image entries.
struct Fixture {
    dir: tempfile::TempDir,
    signer: Signer,
    entries: Vec<String>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sigs")).unwrap();
        let signer = Signer::generate().unwrap();
        std::fs::write(dir.path().join("ci.pub"), signer.public_pem().unwrap()).unwrap();
        Fixture {
            dir,
            signer,
            entries: Vec::new(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("registry.yaml")
    }

    /// Writes a signature file and returns its YAML entry.
    fn signature(&self, name: &str, ev: SignatureEvidence) -> String {
        match ev {
            SignatureEvidence::SimpleSigning {
                payload,
                signature_b64,
            } => {
                std::fs::write(self.dir.path().join("sigs").join(name), payload).unwrap();
                format!("{{payload: sigs/{name}, signature: \"{signature_b64}\"}}")
            }
            SignatureEvidence::Bundle { json } => {
                std::fs::write(self.dir.path().join("sigs").join(name), json).unwrap();
                format!("{{bundle: sigs/{name}}}")
            }
            SignatureEvidence::Unusable { .. } => unreachable!("the signer signs"),
        }
    }

    fn image(&mut self, d: &Digest, tag: &str, scan: &str, sigs: &[String]) {
        let scan = if scan.is_empty() {
            String::new()
        } else {
            format!("\n        scan: {scan}")
        };
        self.entries.push(format!(
            "      - digest: {d}\n        tags: [{tag}]\n        pushed_at: 2026-11-20T10:00:00Z{scan}\n        signatures: [{}]\n",
            sigs.join(", ")
        ));
        self.write();
    }

    fn write(&self) {
        let body = format!(
            "repositories:\n  team/api:\n    images:\n{}",
            self.entries.concat()
        );
        std::fs::write(self.path(), body).unwrap();
    }

    fn gates(&self) -> Gates {
        let pem = std::fs::read_to_string(self.dir.path().join("ci.pub")).unwrap();
        Gates::new(GatePolicy {
            scan_max: Some(
                [(Severity::Critical, 0), (Severity::High, 3)]
                    .into_iter()
                    .collect(),
            ),
            keys: Some(vec![TrustedKey::from_pem("ci.pub", &pem).unwrap()]),
        })
    }
}

fn codes(v: &ferry::gates::Verdict) -> Vec<&'static str> {
    v.reasons.iter().map(|r| r.code.as_str()).collect()
}

#[tokio::test]
async fn every_gate_outcome() {
    let mut f = Fixture::new();
    let other = Signer::generate().unwrap();
    let ok_scan = "{status: COMPLETE, findings: {CRITICAL: 0, HIGH: 3, LOW: 40}}";
    let cases: Vec<(u8, &str, Vec<String>, Vec<&str>)> = vec![
        (
            1,
            ok_scan,
            vec![f.signature("1", f.signer.sign_simple("team/api", &digest(1)).unwrap())],
            vec![],
        ),
        (
            2,
            ok_scan,
            vec![f.signature("2", f.signer.sign_bundle("team/api", &digest(2)).unwrap())],
            vec![],
        ),
        (
            3,
            "",
            vec![f.signature("3", f.signer.sign_simple("team/api", &digest(3)).unwrap())],
            vec!["scan_missing"],
        ),
        (
            4,
            "{status: IN_PROGRESS}",
            vec![f.signature("4", f.signer.sign_simple("team/api", &digest(4)).unwrap())],
            vec!["scan_pending"],
        ),
        (
            5,
            "{status: SCAN_ELIGIBILITY_EXPIRED, description: too old}",
            vec![f.signature("5", f.signer.sign_simple("team/api", &digest(5)).unwrap())],
            vec!["scan_failed"],
        ),
        (
            6,
            "{status: COMPLETE, findings: {CRITICAL: 1, HIGH: 4}}",
            vec![f.signature("6", f.signer.sign_simple("team/api", &digest(6)).unwrap())],
            vec!["scan_budget"],
        ),
        (7, ok_scan, vec![], vec!["unsigned"]),
        (
            8,
            ok_scan,
            vec![f.signature("8", other.sign_simple("team/api", &digest(8)).unwrap())],
            vec!["signature_untrusted"],
        ),
        (
            9,
            ok_scan,
            vec![f.signature("9", f.signer.sign_bundle("team/api", &digest(1)).unwrap())],
            vec!["signature_digest_mismatch"],
        ),
        (
            10,
            "{status: FAILED}",
            vec!["{payload: sigs/1, signature: \"bm9wZQ==\"}".to_string()],
            vec!["scan_failed", "signature_untrusted"],
        ),
    ];
    for (n, scan, sigs, _) in &cases {
        f.image(&digest(*n), &format!("v{n}"), scan, sigs);
    }
    let reg = LocalRegistry::new(f.path());
    let gates = f.gates();
    for (n, _, _, want) in &cases {
        let v = gates.check(&reg, "team/api", &digest(*n)).await;
        assert_eq!(codes(&v), *want, "image {n}: {:?}", v.reasons);
        assert_eq!(v.passes(), want.is_empty());
    }
    let v = gates.check(&reg, "team/api", &digest(6)).await;
    assert_eq!(
        v.reasons[0].message,
        "findings over budget: CRITICAL 1 > 0, HIGH 4 > 3 (found CRITICAL=1 HIGH=4)"
    );
    let v = gates.check(&reg, "team/api", &digest(5)).await;
    assert_eq!(
        v.reasons[0].message,
        "scan status SCAN_ELIGIBILITY_EXPIRED: too old"
    );
    let v = gates.check(&reg, "team/api", &digest(1)).await;
    assert_eq!(
        v.signature_key.as_deref(),
        Some(f.gates_key_fingerprint().as_str())
    );
}

impl Fixture {
    fn gates_key_fingerprint(&self) -> String {
        TrustedKey::from_pem("k", &self.signer.public_pem().unwrap())
            .unwrap()
            .fingerprint
    }
}

#[tokio::test]
async fn unreachable_sources_hold() {
    let f = Fixture::new();
    let reg = LocalRegistry::new(f.dir.path().join("missing.yaml"));
    let v = f.gates().check(&reg, "team/api", &digest(1)).await;
    assert_eq!(codes(&v), vec!["scan_unavailable", "signature_unavailable"]);
    let mut f = Fixture::new();
    f.image(&digest(1), "v1", "{status: COMPLETE}", &[]);
    let v = f
        .gates()
        .check(&LocalRegistry::new(f.path()), "other/repo", &digest(1))
        .await;
    assert!(
        v.reasons
            .iter()
            .all(|r| r.message.contains("repository \"other/repo\" not found")),
        "{:?}",
        v.reasons
    );
}

#[tokio::test]
async fn settled_facts_are_cached_and_pending_ones_are_not() {
    let mut f = Fixture::new();
    let sig = f.signature("1", f.signer.sign_simple("team/api", &digest(1)).unwrap());
    f.image(
        &digest(1),
        "v1",
        "{status: COMPLETE, findings: {HIGH: 1}}",
        &[sig],
    );
    f.image(
        &digest(2),
        "v2",
        "{status: IN_PROGRESS}",
        &[f.signature("2", f.signer.sign_simple("team/api", &digest(2)).unwrap())],
    );
    let reg = LocalRegistry::new(f.path());
    let gates = f.gates();
    assert!(gates.check(&reg, "team/api", &digest(1)).await.passes());
    assert_eq!(
        codes(&gates.check(&reg, "team/api", &digest(2)).await),
        vec!["scan_pending"]
    );
    assert_eq!(
        gates.cached(),
        2,
        "digest 1: scan and signature; digest 2: signature"
    );

    // The registry changes: digest 1's facts are settled and stay; digest
    // 2's scan is asked again and now completes.
    f.entries.clear();
    f.image(
        &digest(1),
        "v1",
        "{status: COMPLETE, findings: {CRITICAL: 9}}",
        &[],
    );
    f.image(
        &digest(2),
        "v2",
        "{status: COMPLETE, findings: {CRITICAL: 5}}",
        &[],
    );
    assert!(gates.check(&reg, "team/api", &digest(1)).await.passes());
    assert_eq!(
        codes(&gates.check(&reg, "team/api", &digest(2)).await),
        vec!["scan_budget"]
    );
}

fn ferry(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .output()
        .unwrap()
}

fn write_config(dir: &Path) -> PathBuf {
    let p = dir.join("ferry.yaml");
    std::fs::write(
        &p,
        "registry: {kind: local, path: registry.yaml}\ngates:\n  scan: {max: {CRITICAL: 0, HIGH: 3}}\n  signature: {cosign_keys: [ci.pub]}\n",
    )
    .unwrap();
    p
}

#[test]
fn check_image_reports_pass_and_hold() {
    let mut f = Fixture::new();
    let sig = f.signature("1", f.signer.sign_simple("team/api", &digest(1)).unwrap());
    f.image(
        &digest(1),
        "sha-1111111",
        "{status: COMPLETE, findings: {HIGH: 1}}",
        &[sig],
    );
    f.image(
        &digest(2),
        "sha-2222222",
        "{status: COMPLETE, findings: {CRITICAL: 2}}",
        &[],
    );
    let cfg = write_config(f.dir.path());
    let cfg = cfg.to_str().unwrap();

    let o = ferry(&[
        "check-image",
        "--config",
        cfg,
        "--output",
        "json",
        "team/api:sha-1111111",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["digest"], digest(1).as_str());
    assert_eq!(v["image"], "team/api:sha-1111111");
    assert_eq!(v["reasons"], serde_json::json!([]));

    let o = ferry(&[
        "check-image",
        "--config",
        cfg,
        "--output",
        "json",
        &format!("team/api@{}", digest(2)),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "hold");
    assert_eq!(v["reasons"][0]["gate"], "scan");
    assert_eq!(v["reasons"][0]["code"], "scan_budget");
    assert_eq!(v["reasons"][1]["gate"], "signature");
    assert_eq!(v["reasons"][1]["code"], "unsigned");

    let o = ferry(&["check-image", "--config", cfg, "team/api:sha-2222222"]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("verdict  hold")
            && text.contains("scan scan_budget: findings over budget: CRITICAL 2 > 0"),
        "{text}"
    );

    for bad in [
        "team/api",
        "team/api:no-such-tag",
        "team/api@sha256:abc",
        "team/API:v1",
    ] {
        let o = ferry(&["check-image", "--config", cfg, bad]);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{bad}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    std::fs::write(f.dir.path().join("ci.pub"), "garbage").unwrap();
    let o = ferry(&["check-image", "--config", cfg, "team/api:sha-1111111"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("public key ci.pub: no PEM block"));
}

#[test]
fn gate_codes_have_stable_names() {
    assert_eq!(
        Code::SignatureDigestMismatch.as_str(),
        "signature_digest_mismatch"
    );
    assert_eq!(
        serde_json::to_value(Code::ScanBudget).unwrap(),
        "scan_budget"
    );
}

#[tokio::test]
async fn an_attestation_by_the_trusted_key_is_held_and_a_signature_passes() {
    let mut f = Fixture::new();
    let ok_scan = "{status: COMPLETE}";
    let sbom = |d: &Digest| {
        f.signer
            .sign_attestation(
                "team/api",
                d,
                "https://slsa.dev/provenance/v1",
                serde_json::json!({"buildDefinition": {}}),
            )
            .unwrap()
    };
    let only = vec![f.signature("att-1", sbom(&digest(1)))];
    let both = vec![
        f.signature("att-2", sbom(&digest(2))),
        f.signature(
            "sig-2",
            f.signer.sign_bundle("team/api", &digest(2)).unwrap(),
        ),
    ];
    f.image(&digest(1), "v1", ok_scan, &only);
    f.image(&digest(2), "v2", ok_scan, &both);
    let reg = LocalRegistry::new(f.path());
    let gates = f.gates();
    let v = gates.check(&reg, "team/api", &digest(1)).await;
    assert_eq!(codes(&v), vec!["signature_untrusted"]);
    assert_eq!(
        v.reasons[0].message,
        format!(
            "no trusted signature among 1 candidate(s): bundle signed by {} is an attestation \
             with predicateType \"https://slsa.dev/provenance/v1\", not a cosign signature \
             (https://sigstore.dev/cosign/sign/v1)",
            f.gates_key_fingerprint()
        )
    );
    assert!(gates.check(&reg, "team/api", &digest(2)).await.passes());
}

/// Runs `f` on another thread and fails the test if it takes longer than
/// a minute (an unbounded read of `/dev/zero` never ends).
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("the read did not stop")
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_signature_file_of_dev_zero_is_cut_at_the_limit_and_named() {
    let mut f = Fixture::new();
    let zero = "{payload: /dev/zero, signature: \"bm9wZQ==\"}".to_string();
    let good = f.signature("2", f.signer.sign_simple("team/api", &digest(2)).unwrap());
    f.image(
        &digest(1),
        "v1",
        "{status: COMPLETE}",
        std::slice::from_ref(&zero),
    );
    f.image(&digest(2), "v2", "{status: COMPLETE}", &[zero, good]);
    let reg = LocalRegistry::new(f.path());
    let gates = f.gates();
    let (v1, v2) = within_a_minute(move || {
        block_on(async {
            (
                gates.check(&reg, "team/api", &digest(1)).await,
                gates.check(&reg, "team/api", &digest(2)).await,
            )
        })
    });
    assert_eq!(codes(&v1), vec!["signature_untrusted"]);
    assert_eq!(
        v1.reasons[0].message,
        "no trusted signature among 1 candidate(s): signature file /dev/zero: /dev/zero: \
         larger than the 16 MiB limit (stopped after 16777217 bytes)"
    );
    // The unreadable file does not hide the good signature next to it.
    assert!(v2.passes(), "{:?}", v2.reasons);
}

#[test]
fn a_registry_file_of_dev_zero_is_cut_at_the_limit_and_named() {
    let f = Fixture::new();
    let gates = f.gates();
    let v = within_a_minute(move || {
        block_on(gates.check(&LocalRegistry::new("/dev/zero"), "team/api", &digest(1)))
    });
    assert_eq!(codes(&v), vec!["scan_unavailable", "signature_unavailable"]);
    assert!(
        v.reasons.iter().all(|r| r
            .message
            .ends_with("/dev/zero: larger than the 16 MiB limit (stopped after 16777217 bytes)")),
        "{:?}",
        v.reasons
    );
}
