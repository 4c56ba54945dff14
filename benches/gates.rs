//! Gate evaluation of 1,000 digests on the local registry adapter: cold
//! (every signature verified, every scan read) and cached (settled facts
//! remembered per digest).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferry::config::Severity;
use ferry::gates::signer::Signer;
use ferry::gates::{GatePolicy, Gates, SignatureEvidence, TrustedKey};
use ferry::image::Digest;
use ferry::registry::local::LocalRegistry;

const N: usize = 1000;

fn setup() -> (tempfile::TempDir, Vec<Digest>, GatePolicy) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("sigs")).expect("sigs");
    let signer = Signer::generate().expect("key");
    let mut yaml = String::from("repositories:\n  team/api:\n    images:\n");
    let mut digests = Vec::with_capacity(N);
    for i in 0..N {
        let d = Digest::parse(&format!("sha256:{:064x}", i + 1)).expect("digest");
        let SignatureEvidence::SimpleSigning {
            payload,
            signature_b64,
        } = signer.sign_simple("team/api", &d).expect("sign")
        else {
            unreachable!("sign_simple returns simple signing")
        };
        std::fs::write(dir.path().join(format!("sigs/{i}.json")), payload).expect("write");
        yaml.push_str(&format!(
            "      - digest: {d}\n        tags: [v{i}]\n        pushed_at: 2026-11-20T10:00:00Z\n        scan: {{status: COMPLETE, findings: {{HIGH: 1}}}}\n        signatures: [{{payload: sigs/{i}.json, signature: \"{signature_b64}\"}}]\n"
        ));
        digests.push(d);
    }
    std::fs::write(dir.path().join("registry.yaml"), yaml).expect("write");
    let key = TrustedKey::from_pem("ci.pub", &signer.public_pem().expect("pem")).expect("key");
    let policy = GatePolicy {
        scan_max: Some([(Severity::Critical, 0)].into_iter().collect()),
        keys: Some(vec![key]),
    };
    (dir, digests, policy)
}

fn bench(c: &mut Criterion) {
    let (dir, digests, policy) = setup();
    let reg = LocalRegistry::new(dir.path().join("registry.yaml"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let check_all = |gates: &Gates| {
        rt.block_on(async {
            for d in &digests {
                assert!(gates.check(&reg, "team/api", d).await.passes());
            }
        })
    };
    let mut g = c.benchmark_group("gates_1000_digests");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("cold", |b| {
        b.iter(|| check_all(&Gates::new(policy.clone())))
    });
    let warm = Gates::new(policy.clone());
    check_all(&warm);
    g.bench_function("cached", |b| b.iter(|| check_all(&warm)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
