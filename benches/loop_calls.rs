//! The dev loop at scale: fixtures for `benches/dev_loop.sh`, and the
//! registry calls a pass makes per repository.
//!
//! ```sh
//! cargo bench --bench loop_calls                  # call counts, 1,000 apps × 3 environments
//! cargo bench --bench loop_calls -- calls APPS    # the same for APPS apps
//! cargo bench --bench loop_calls -- probe         # time of reading one overlay, by size
//! cargo bench --bench loop_calls -- fixture DIR APPS ENVS IMAGES
//! cargo bench --bench loop_calls -- arrive DIR APP N [unsigned]
//! cargo bench --bench loop_calls -- promote APPS  # the pull-request side: Argo CD and smoke calls
//! cargo bench --bench loop_calls -- comment APPS N # ChatOps: comment → pushed commit
//! ```
//!
//! `fixture` writes into DIR (which must not hold one yet) what
//! `tests/reconcile.rs` builds, at any size: a bare GitOps repository
//! `gitops.git` whose overlays (`dev/`, and with ENVS=3 also `staging/` and
//! `production/`, both `pull_request` with `after:`) hold one `images:` entry
//! per app, a local registry `registry.yaml` with one repository per app and
//! IMAGES images each (`build-0` …, scan COMPLETE, signed with the key in
//! `ci.pub`), and `ferry.yaml`. Every overlay runs each app's newest image,
//! so a pass has nothing to do. `arrive` adds image `build-N` to app APP's
//! repository (signed unless `unsigned`) and rewrites `registry.yaml`
//! atomically.
//!
//! `calls` wraps the local adapter in a counting `ImageSource` and runs the
//! snapshot and plan (`ferry::promotion::pass::plan_only`) on a checkout,
//! printing `list_images` / `scan` / `signatures` calls per repository for
//! a pass with nothing to do, for one new image, and for what the daemon
//! asks again on its next passes (gates cache kept). The counts per
//! repository do not depend on the number of apps; `probe` and the
//! snapshot times printed show what reading the overlays costs
//! (benches/README.md, "Dev loop").
//!
//! `promote` builds the same fixture with Argo CD and a smoke check on
//! every environment, serves the Applications from a loopback stand-in
//! that counts requests (every app Synced, Healthy and live at the
//! repository's tip), and times `ferry::promotion::pass::snapshot`, which
//! adds the pull-request side (proofs of dev and staging, open PRs,
//! windows) to the registry snapshot.
//!
//! `comment` builds the fixture (3 environments) with the local forge and
//! `chatops:`, loads a `Context`, starts the runner and the real webhook
//! server on a loopback port, and sends N signed `issue_comment`
//! deliveries, alternately `/ferry pin appK production -- bench` and
//! `/ferry unpin appK production`, one at a time. For each it times the
//! acknowledgement (the server's answer) and comment → pushed commit (until
//! `main` of the bare repository moves), and prints p50/p90/p99/max.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use ferry::config::Config;
use ferry::gates::signer::Signer;
use ferry::gates::{GatePolicy, Gates, ScanState, SignatureEvidence};
use ferry::gitops::{Author, Credentials, Workspace, init_bare_with};
use ferry::image::Digest;
use ferry::promotion::Action;
use ferry::promotion::pass::plan_only;
use ferry::promotion::plan::Plan;
use ferry::registry::local::LocalRegistry;
use ferry::registry::{ImageRecord, ImageSource, RegistryError};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const ENVS3: [&str; 3] = ["dev", "staging", "production"];

fn digest(app: usize, n: u32) -> Digest {
    ferry::oci::sha256(format!("app{app}:{n}").as_bytes())
}

fn key_path(dir: &Path) -> PathBuf {
    dir.join("ci.key.der")
}

/// The registry line of image `n` of `app`; writes its signature payload.
fn image_line(dir: &Path, signer: Option<&Signer>, app: usize, n: u32) -> Res<String> {
    let d = digest(app, n);
    let sig = match signer {
        None => String::new(),
        Some(s) => {
            let SignatureEvidence::SimpleSigning {
                payload,
                signature_b64,
            } = s.sign_simple(&format!("registry.example/team/app{app}"), &d)?
            else {
                return Err("sign_simple returned a bundle".into());
            };
            std::fs::write(dir.join(format!("sigs/{}", d.hex())), payload)?;
            format!(
                "{{payload: sigs/{}, signature: \"{signature_b64}\"}}",
                d.hex()
            )
        }
    };
    if n >= 24 * 3600 {
        return Err("image number too large for the push-time scheme".into());
    }
    Ok(format!(
        "      - {{digest: {d}, tags: [build-{n}], pushed_at: \"2026-11-26T{:02}:{:02}:{:02}Z\", scan: {{status: COMPLETE}}, signatures: [{sig}]}}\n",
        n / 3600,
        n / 60 % 60,
        n % 60
    ))
}

fn fixture(dir: &Path, apps: usize, envs: usize, images: u32) -> Res<()> {
    if envs != 1 && envs != 3 {
        return Err("ENVS is 1 (dev) or 3 (dev, staging, production)".into());
    }
    if images == 0 {
        return Err("IMAGES must be at least 1".into());
    }
    if dir.join("gitops.git").exists() {
        return Err(format!("{} already holds a fixture", dir.display()).into());
    }
    std::fs::create_dir_all(dir.join("sigs"))?;
    let signer = Signer::generate()?;
    std::fs::write(key_path(dir), signer.pkcs8())?;
    std::fs::write(dir.join("ci.pub"), signer.public_pem()?)?;
    let newest = images - 1;
    let env_names = &ENVS3[..envs];
    let mut overlays = Vec::new();
    for env in env_names {
        let mut o = format!("# {env} overlay\nresources: []\nimages:\n");
        for a in 0..apps {
            o.push_str(&format!(
                "  - name: app{a}   # app number {a}\n    newTag: build-{newest}\n    digest: {}\n",
                digest(a, newest)
            ));
        }
        overlays.push((format!("{env}/kustomization.yaml"), o));
    }
    let files: Vec<(&str, &[u8])> = overlays
        .iter()
        .map(|(p, o)| (p.as_str(), o.as_bytes()))
        .collect();
    let author = Author {
        name: "bench".into(),
        email: "bench@localhost".into(),
    };
    init_bare_with(&dir.join("gitops.git"), &files, "main", &author)?;
    let mut cfg = String::from(
        "gitops: {repo: gitops.git, branch: main}\nregistry: {kind: local, path: registry.yaml}\ngates:\n  scan: {max: {CRITICAL: 0}}\n  signature: {cosign_keys: [ci.pub]}\nenvironments:\n  - {name: dev, mode: commit}\n",
    );
    if envs == 3 {
        cfg.push_str("  - {name: staging, mode: pull_request, after: dev}\n  - {name: production, mode: pull_request, after: staging}\n");
    }
    cfg.push_str("apps:\n");
    let overlay_map: Vec<String> = env_names.iter().map(|e| format!("{e}: {e}")).collect();
    for a in 0..apps {
        cfg.push_str(&format!(
            "  - {{name: app{a}, repository: team/app{a}, image: app{a}, tags: '^build-', overlays: {{{}}}}}\n",
            overlay_map.join(", ")
        ));
    }
    std::fs::write(dir.join("ferry.yaml"), cfg)?;
    let mut reg = String::from("repositories:\n");
    for a in 0..apps {
        reg.push_str(&format!("  team/app{a}:\n    images:\n"));
        for n in 0..images {
            reg.push_str(&image_line(dir, Some(&signer), a, n)?);
        }
    }
    ferry::atomic::write(&dir.join("registry.yaml"), reg.as_bytes())?;
    Ok(())
}

/// Image `build-N` of `app` arrives: its line goes first in the app's
/// repository (order in the file does not matter; push time does).
fn arrive(dir: &Path, app: usize, n: u32, signed: bool) -> Res<()> {
    let signer = Signer::from_pkcs8(&std::fs::read(key_path(dir))?)?;
    let line = image_line(dir, signed.then_some(&signer), app, n)?;
    let path = dir.join("registry.yaml");
    let text = std::fs::read_to_string(&path)?;
    let head = format!("  team/app{app}:\n    images:\n");
    let at = text
        .find(&head)
        .ok_or_else(|| format!("team/app{app} is not in {}", path.display()))?
        + head.len();
    let mut out = String::with_capacity(text.len() + line.len());
    out.push_str(&text[..at]);
    out.push_str(&line);
    out.push_str(&text[at..]);
    ferry::atomic::write(&path, out.as_bytes())?;
    Ok(())
}

/// Counts calls per repository and delegates.
struct Counting<S> {
    inner: S,
    calls: Mutex<BTreeMap<String, [u64; 3]>>,
}

impl<S> Counting<S> {
    fn new(inner: S) -> Self {
        Counting {
            inner,
            calls: Mutex::new(BTreeMap::new()),
        }
    }
    fn bump(&self, repository: &str, which: usize) {
        self.calls
            .lock()
            .expect("counter")
            .entry(repository.to_string())
            .or_default()[which] += 1;
    }
    fn take(&self) -> BTreeMap<String, [u64; 3]> {
        std::mem::take(&mut *self.calls.lock().expect("counter"))
    }
}

impl<S: ImageSource> ImageSource for Counting<S> {
    async fn list_images(&self, repository: &str) -> Result<Vec<ImageRecord>, RegistryError> {
        self.bump(repository, 0);
        self.inner.list_images(repository).await
    }
    async fn scan(&self, repository: &str, digest: &Digest) -> Result<ScanState, RegistryError> {
        self.bump(repository, 1);
        self.inner.scan(repository, digest).await
    }
    async fn signatures(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Vec<SignatureEvidence>, RegistryError> {
        self.bump(repository, 2);
        self.inner.signatures(repository, digest).await
    }
}

/// One line: totals, and the distinct per-repository (list, scan, signatures) patterns.
fn report(case: &str, apps: usize, calls: &BTreeMap<String, [u64; 3]>, plan: &Plan, ms: f64) {
    let mut patterns: BTreeMap<[u64; 3], Vec<&str>> = BTreeMap::new();
    for (repo, c) in calls {
        patterns.entry(*c).or_default().push(repo);
    }
    let unlisted = apps - calls.len();
    let total = calls.values().fold([0u64; 3], |mut t, c| {
        (0..3).for_each(|i| t[i] += c[i]);
        t
    });
    let moving = plan
        .entries
        .iter()
        .filter(|e| e.action != Action::None)
        .count();
    println!(
        "{case}: plan {} entries, {moving} moving; snapshot+plan {ms:.0} ms; calls list={} scan={} signatures={}",
        plan.entries.len(),
        total[0],
        total[1],
        total[2]
    );
    for (c, repos) in &patterns {
        let example = if repos.len() <= 3 {
            repos.join(", ")
        } else {
            format!(
                "{}, … ({} repositories)",
                repos[..2].join(", "),
                repos.len()
            )
        };
        println!(
            "    list={} scan={} signatures={} per repository: {example}",
            c[0], c[1], c[2]
        );
    }
    if unlisted > 0 {
        println!("    {unlisted} repositories never asked");
    }
}

fn calls(apps: usize) -> Res<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let images = 3;
    let t = Instant::now();
    fixture(dir, apps, 3, images)?;
    println!(
        "fixture: {apps} apps × 3 environments, {images} signed images per repository ({:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let mut ws = Workspace::open(
        dir.join("gitops.git").to_str().ok_or("path")?,
        "main",
        &dir.join("cache"),
        Credentials::None,
    )?;
    ws.sync()?;
    let config: Config = ferry::config::load(&dir.join("ferry.yaml"))?;
    let policy = GatePolicy::load(config.gates.as_ref(), dir)?;
    let source = Counting::new(LocalRegistry::new(dir.join("registry.yaml")));
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let pass = |case: &str, gates: &Gates| -> Plan {
        let t = Instant::now();
        let plan = rt.block_on(plan_only(&config, ws.root(), &source, gates));
        let ms = t.elapsed().as_secs_f64() * 1e3;
        report(case, apps, &source.take(), &plan, ms);
        plan
    };
    let moving = |p: &Plan| {
        p.entries
            .iter()
            .filter(|e| e.action != Action::None)
            .count()
    };

    // Warm the registry file cache so the first case is not charged for it.
    rt.block_on(source.list_images("team/app0"))?;
    source.take();

    // A fresh `Gates` is what `ferry run --once` has, and what the daemon
    // has on its first pass; the daemon keeps it for later passes.
    let gates = Gates::new(policy);
    let p = pass(
        "no-op (ferry run --once, or the daemon's first pass)",
        &gates,
    );
    assert_eq!(moving(&p), 0, "the fixture is up to date");

    arrive(dir, 7, images, true)?;
    let p = pass("one new signed image for app7", &gates);
    assert_eq!(moving(&p), 1, "app7 moves in dev");
    pass(
        "daemon: next pass, same gates, before app7's commit lands",
        &gates,
    );

    arrive(dir, 9, images, false)?;
    let p = pass("daemon: plus one unsigned image for app9", &gates);
    assert_eq!(moving(&p), 1, "app9 is held, app7 still moves");
    pass("daemon: next pass while app9 stays held", &gates);
    Ok(())
}

/// Where the time of reading one overlay goes, by overlay size: the
/// snapshot reads the overlay once per app and environment.
fn probe() -> Res<()> {
    println!("read_overlay on one overlay of N entries (mean of repeated calls):");
    println!(
        "{:>6} {:>9} {:>13} {:>13} {:>15}",
        "N", "bytes", "read_images", "read_pins", "read_overlay"
    );
    for n in [125usize, 250, 500, 1000] {
        let tmp = tempfile::tempdir()?;
        let mut o = String::from("# dev overlay\nresources: []\nimages:\n");
        for a in 0..n {
            o.push_str(&format!(
                "  - name: app{a}   # app number {a}\n    newTag: build-2\n    digest: {}\n",
                digest(a, 2)
            ));
        }
        std::fs::create_dir(tmp.path().join("dev"))?;
        std::fs::write(tmp.path().join("dev/kustomization.yaml"), &o)?;
        let reps = (200_000 / n).max(3) as u32 / 20;
        let time = |f: &dyn Fn()| {
            f();
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() * 1e3 / f64::from(reps)
        };
        let images = time(&|| {
            ferry::kustomize::read_images(&o).expect("read_images");
        });
        let pins = time(&|| {
            ferry::kustomize::read_pins(&o).expect("read_pins");
        });
        let overlay = time(&|| {
            ferry::promotion::observe::read_overlay(tmp.path(), Path::new("dev"), "app0")
                .expect("read_overlay");
        });
        println!(
            "{n:>6} {:>9} {images:>10.2} ms {pins:>10.2} ms {overlay:>12.2} ms",
            o.len()
        );
    }
    Ok(())
}

/// A loopback Argo CD that reports every Application Synced and Healthy at
/// `revision`, running `images`; and a smoke endpoint. Counts requests.
struct ArgoStandIn {
    url: String,
    applications: std::sync::Arc<std::sync::atomic::AtomicU64>,
    smoke: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

async fn argo_stand_in(revision: String, images: Vec<String>) -> Res<ArgoStandIn> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let applications = Arc::new(AtomicU64::new(0));
    let smoke = Arc::new(AtomicU64::new(0));
    let body = serde_json::json!({
        "status": {
            "sync": {"status": "Synced", "revision": revision},
            "health": {"status": "Healthy", "lastTransitionTime": "2026-11-26T00:00:00Z"},
            "operationState": {"phase": "Succeeded", "finishedAt": "2026-11-26T00:00:00Z",
                               "syncResult": {"revision": revision}},
            "reconciledAt": "2026-11-26T00:01:00Z",
            "summary": {"images": images}
        }
    })
    .to_string();
    let (a, s) = (applications.clone(), smoke.clone());
    let app = axum::Router::new()
        .route(
            "/api/v1/applications/{name}",
            axum::routing::get(move || {
                a.fetch_add(1, Ordering::Relaxed);
                let body = body.clone();
                async move { ([("content-type", "application/json")], body) }
            }),
        )
        .route(
            "/smoke",
            axum::routing::get(move || {
                s.fetch_add(1, Ordering::Relaxed);
                async { "ok" }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(ArgoStandIn {
        url,
        applications,
        smoke,
    })
}

fn promote(apps: usize) -> Res<()> {
    use ferry::forge::AnyForge;
    use ferry::forge::local::LocalForge;
    use ferry::health::{ArgoClient, SoakTracker};
    use ferry::promotion::promote::PromotionIo;
    use std::sync::atomic::Ordering;

    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let images = 2;
    fixture(dir, apps, 3, images)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut ws = Workspace::open(
        dir.join("gitops.git").to_str().ok_or("path")?,
        "main",
        &dir.join("cache"),
        Credentials::None,
    )?;
    let tip = ws.sync()?.to_string();
    let live: Vec<String> = (0..apps)
        .map(|a| format!("app{a}:build-{}@{}", images - 1, digest(a, images - 1)))
        .collect();
    let argo = rt.block_on(argo_stand_in(tip, live))?;
    let cfg = std::fs::read_to_string(dir.join("ferry.yaml"))?;
    let smoke = format!("smoke: [{{url: \"{}/smoke\"}}]", argo.url);
    let cfg = cfg
        .replace(
            "{name: dev, mode: commit}",
            &format!("{{name: dev, mode: commit, argocd_app: platform-dev, {smoke}}}"),
        )
        .replace(
            "{name: staging, mode: pull_request, after: dev}",
            &format!("{{name: staging, mode: pull_request, after: dev, argocd_app: platform-staging, {smoke}}}"),
        )
        .replace(
            "{name: production, mode: pull_request, after: staging}",
            "{name: production, mode: pull_request, after: staging, argocd_app: platform-production}",
        );
    let cfg = format!("argocd: {{url: \"{}\"}}\n{cfg}", argo.url);
    std::fs::write(dir.join("ferry.yaml"), cfg)?;
    let config: Config = ferry::config::load(&dir.join("ferry.yaml"))?;
    let gates = Gates::new(GatePolicy::load(config.gates.as_ref(), dir)?);
    let source = LocalRegistry::new(dir.join("registry.yaml"));
    let argo_client = ArgoClient::new(&argo.url, None)?;
    let forge = AnyForge::Local(LocalForge::new(dir.join("prs.json")));
    let soak = SoakTracker::new();
    let watch = ferry::promotion::watch::WatchBook::new();
    let io = PromotionIo {
        argo: Some(&argo_client),
        forge: Some(&forge),
        soak: &soak,
        watch: &watch,
        read_only: false,
    };
    println!(
        "pull-request side, {apps} apps × 3 environments (dev and staging prove, with one smoke check each):"
    );
    println!(
        "{:>6} {:>12} {:>14} {:>8}",
        "pass", "snapshot", "Argo CD reqs", "smoke"
    );
    for pass in 1..=3 {
        let t = Instant::now();
        let snap = rt.block_on(ferry::promotion::pass::snapshot(
            &config, &ws, &source, &gates, &io,
        ));
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let plan = ferry::promotion::plan(&snap);
        let up_to_date = plan
            .entries
            .iter()
            .filter(|e| e.reason.as_ref().is_some_and(|r| r.code == "up_to_date"))
            .count();
        assert_eq!(
            up_to_date,
            apps * 3,
            "every app runs the same image everywhere"
        );
        let proven = snap
            .apps
            .iter()
            .flat_map(|a| &a.envs)
            .filter(|e| matches!(e.proof, Some(ferry::promotion::Proof::Proven { .. })))
            .count();
        assert_eq!(proven, apps * 2, "dev and staging prove every app");
        println!(
            "{pass:>6} {ms:>9.1} ms {:>14} {:>8}",
            argo.applications.swap(0, Ordering::Relaxed),
            argo.smoke.swap(0, Ordering::Relaxed)
        );
    }
    Ok(())
}

fn quantiles(times: &mut [f64]) -> String {
    times.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((times.len() as f64 - 1.0) * q).round() as usize;
        times.get(i).copied().unwrap_or(f64::NAN)
    };
    format!(
        "p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}

fn comment(apps: usize, n: usize) -> Res<()> {
    use ferry::server::signature::sign;
    use ferry::server::{Scope, ServerState, serve};
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    fixture(dir, apps, 3, 2)?;
    let mut cfg = std::fs::read_to_string(dir.join("ferry.yaml"))?;
    cfg.push_str(
        "forge: {kind: local, path: prs.json, repository: acme/gitops}\nchatops: {environments: {production: maintain}}\n",
    );
    std::fs::write(dir.join("ferry.yaml"), cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let ctx = ferry::runner::context::load(&dir.join("ferry.yaml"), Some(&dir.join("cache")))
            .await
            .map_err(|e| e.message)?;
        // The runner owns the context's forge; the same state file, opened
        // again, is the people commenting.
        let forge = ferry::forge::local::LocalForge::new(dir.join("prs.json"));
        forge.set_role("oncall", "maintain").await?;
        let issue = forge.open_issue("bench", "oncall").await?;
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let runner = ferry::runner::Runner::spawn(ctx, std::time::Duration::from_secs(3600), stopped);
        let mut status = runner.status();
        status.wait_for(|s| s.passes >= 1).await?;
        let (tx, intake) = tokio::sync::mpsc::channel(64);
        let secret = b"bench secret".to_vec();
        let scope = Scope {
            repository: "acme/gitops".into(),
            base_branch: "main".into(),
            identity: "ferry".into(),
        };
        let state = ServerState::new(secret.clone(), 5 << 20, scope, tx)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/webhooks/github", listener.local_addr()?);
        tokio::spawn(serve(listener, state, std::future::pending()));
        tokio::spawn(ferry::server::forward(intake, runner.sender()));
        let bare = git2::Repository::open_bare(dir.join("gitops.git"))?;
        let client = reqwest::Client::new();
        let (mut ack, mut commit) = (Vec::new(), Vec::new());
        for i in 0..n {
            let app = (i / 2) % apps;
            let body = if i % 2 == 0 {
                format!("/ferry pin app{app} production -- bench")
            } else {
                format!("/ferry unpin app{app} production")
            };
            let posted = forge.post_comment(issue, "oncall", &body).await?;
            let payload = serde_json::json!({
                "action": "created",
                "issue": {"number": issue},
                "comment": {"id": posted.id, "html_url": posted.url, "body": body,
                            "user": {"login": "oncall", "type": "User"}, "performed_via_github_app": null},
                "repository": {"full_name": "acme/gitops"},
                "sender": {"login": "oncall", "type": "User"}
            });
            let bytes = serde_json::to_vec(&payload)?;
            let before = bare.refname_to_id("refs/heads/main")?;
            let started = Instant::now();
            let resp = client
                .post(&url)
                .header("x-github-event", "issue_comment")
                .header("x-github-delivery", format!("bench-{i}"))
                .header("x-hub-signature-256", sign(&secret, &bytes))
                .body(bytes)
                .send()
                .await?;
            ack.push(started.elapsed().as_secs_f64() * 1e3);
            if resp.status().as_u16() != 202 {
                return Err(format!("delivery {i}: {}", resp.status()).into());
            }
            loop {
                if bare.refname_to_id("refs/heads/main")? != before {
                    break;
                }
                if started.elapsed().as_secs() > 30 {
                    return Err(format!("comment {i} ({body}) made no commit in 30 s").into());
                }
                tokio::time::sleep(std::time::Duration::from_micros(500)).await;
            }
            commit.push(started.elapsed().as_secs_f64() * 1e3);
        }
        println!("comment: {apps} apps x 3 environments, {n} commands, one at a time");
        println!("  acknowledgement        {}", quantiles(&mut ack));
        println!("  comment -> pushed commit {}", quantiles(&mut commit));
        Ok(())
    })
}

fn main() -> Res<()> {
    // `cargo bench` passes `--bench`; libtest-style flags are ignored.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let arg = |i: usize| -> Res<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| "missing argument; see the top of benches/loop_calls.rs".into())
    };
    match args.first().map(String::as_str) {
        None => calls(1000),
        Some("probe") => probe(),
        Some("promote") => promote(args.get(1).map_or(Ok(1000), |a| a.parse())?),
        Some("calls") => calls(arg(1)?.parse()?),
        Some("comment") => comment(
            args.get(1).map_or(Ok(200), |a| a.parse())?,
            args.get(2).map_or(Ok(200), |a| a.parse())?,
        ),
        Some("fixture") => fixture(
            Path::new(arg(1)?),
            arg(2)?.parse()?,
            arg(3)?.parse()?,
            arg(4)?.parse()?,
        ),
        Some("arrive") => arrive(
            Path::new(arg(1)?),
            arg(2)?.parse()?,
            arg(3)?.parse()?,
            args.get(4).map(String::as_str) != Some("unsigned"),
        ),
        Some(other) => Err(format!("unknown command {other:?}").into()),
    }
}
