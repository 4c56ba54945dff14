//! Operating ferry as a user would, with the real binary: `ferry plan`
//! changes nothing in the cache and sends no POST; a second process on one
//! cache waits and then fails naming the holder; a daemon logs each hold
//! once at WARN when it starts, not on every pass; `/metrics` passes
//! `promtool check metrics` and moves with each pass; `/readyz` follows the
//! GitOps remote; the example alert rules pass `promtool test rules`.
//!
//! One loopback server plays Argo CD (`/api/v1/applications/{name}`, from
//! a map the test fills) and the smoke endpoints (`/health`, `/deploy`),
//! counting requests by method.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use common::Image;
use ferry::gitops::{Author, Workspace, init_bare_with};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Shared {
    apps: Arc<Mutex<HashMap<String, Value>>>,
    /// (path, method) → requests.
    hits: Arc<Mutex<BTreeMap<(String, String), usize>>>,
    /// What `/health` answers.
    health: Arc<Mutex<u16>>,
}

struct Server {
    url: String,
    shared: Shared,
}

impl Server {
    async fn start() -> Server {
        let shared = Shared::default();
        *shared.health.lock().unwrap() = 200;
        let app = axum::Router::new()
            .route("/api/v1/applications/{name}", get(application))
            .route("/health", any(smoke))
            .route("/deploy", any(smoke))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Server { url, shared }
    }

    fn hits(&self, path: &str, method: &str) -> usize {
        let hits = self.shared.hits.lock().unwrap();
        hits.get(&(path.to_string(), method.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Serves `name` as Synced and Healthy at `commit`, running `images`.
    fn serve_live(&self, name: &str, commit: &str, images: &[String]) {
        let app = json!({
            "metadata": {"name": name},
            "status": {
                "sync": {"status": "Synced", "revision": commit},
                "operationState": {"phase": "Succeeded", "finishedAt": "2026-11-30T10:00:00Z"},
                "reconciledAt": "2026-11-30T10:00:05Z",
                "health": {"status": "Healthy"},
                "summary": {"images": images},
            }
        });
        self.shared
            .apps
            .lock()
            .unwrap()
            .insert(name.to_string(), app);
    }
}

async fn application(State(s): State<Shared>, UrlPath(name): UrlPath<String>) -> Response {
    match s.apps.lock().unwrap().get(&name) {
        Some(app) => axum::Json(app.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn smoke(State(s): State<Shared>, method: Method, uri: axum::http::Uri) -> StatusCode {
    *s.hits
        .lock()
        .unwrap()
        .entry((uri.path().to_string(), method.to_string()))
        .or_default() += 1;
    StatusCode::from_u16(*s.health.lock().unwrap()).unwrap()
}

/// A GitOps repository, a registry file and a config in a temp dir.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    /// `apps`: (name, image in the dev overlay, image in staging); an app
    /// without images has no overlay entry (and `gone` no overlay at all).
    fn new(config: &str, overlays: &[(&str, String)], registry: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<(&str, &[u8])> = overlays
            .iter()
            .map(|(p, body)| (*p, body.as_bytes()))
            .collect();
        let author = Author {
            name: "t".into(),
            email: "t@t".into(),
        };
        init_bare_with(&dir.path().join("gitops.git"), &files, "main", &author).unwrap();
        std::fs::write(dir.path().join("ferry.yaml"), config).unwrap();
        std::fs::write(dir.path().join("registry.yaml"), registry).unwrap();
        Setup { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cache(&self) -> PathBuf {
        self.path().join("cache")
    }

    fn tip(&self) -> String {
        let repo = git2::Repository::open_bare(self.path().join("gitops.git")).unwrap();
        repo.refname_to_id("refs/heads/main").unwrap().to_string()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferry"));
        c.args(args)
            .arg("--config")
            .arg(self.path().join("ferry.yaml"))
            .env("FERRY_CACHE_DIR", self.cache())
            .env("FERRY_LOG_FORMAT", "json")
            .env_remove("FERRY_FAILPOINT")
            .env_remove("FERRY_LOCK_WAIT");
        c
    }

    /// Runs the binary off the async runtime's threads.
    async fn ferry(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.command(args);
        c.envs(env.iter().copied());
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }
}

fn overlay(images: &[(&str, &Image)]) -> String {
    let mut s = String::from("resources: []\nimages:\n");
    for (name, i) in images {
        s.push_str(&format!(
            "  - name: {name}\n    newTag: {}\n    digest: {}\n",
            i.tag, i.digest
        ));
    }
    s
}

fn registry_line(i: &Image, second: u32, findings: &str) -> String {
    format!(
        "      - {{digest: {}, tags: [{}], pushed_at: \"2026-11-26T10:00:{second:02}Z\", scan: {{status: COMPLETE, findings: {{{findings}}}}}}}\n",
        i.digest, i.tag
    )
}

/// Every file under `dir` with a hash of its bytes (symlinks by target).
fn hash_tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                out.insert(rel, "dir".into());
                todo.push(p);
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&p).unwrap();
                out.insert(rel, format!("-> {}", target.display()));
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.insert(rel, ferry::oci::sha256(&bytes).to_string());
            }
        }
    }
    out
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "ferry failed: {}\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

const API_V1: &str = "v1";

fn plan_setup(server: &Server) -> Setup {
    let (v0, v1) = (Image::new("v0"), Image::new(API_V1));
    let config = format!(
        "gitops: {{repo: gitops.git, branch: main}}
registry: {{kind: local, path: registry.yaml}}
argocd: {{url: \"{url}\"}}
forge: {{kind: local, path: prs.json}}
environments:
  - name: dev
    mode: commit
    argocd_app: shop-dev
    soak: 5m
    smoke:
      - {{url: \"{url}/health?token=s3cr3t\", retries: 0}}
      - {{url: \"{url}/deploy\", method: POST, body: go, retries: 0}}
  - name: staging
    mode: pull_request
    after: dev
    argocd_app: shop-staging
apps:
  - {{name: api, repository: shop/api, image: api, overlays: {{dev: overlays/dev, staging: overlays/staging}}}}
",
        url = server.url
    );
    let registry = format!(
        "repositories:\n  shop/api:\n    images:\n{}{}",
        registry_line(&v0, 0, ""),
        registry_line(&v1, 1, "")
    );
    Setup::new(
        &config,
        &[
            ("overlays/dev/kustomization.yaml", overlay(&[("api", &v1)])),
            (
                "overlays/staging/kustomization.yaml",
                overlay(&[("api", &v0)]),
            ),
        ],
        &registry,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_leaves_the_cache_byte_identical_and_sends_no_post() {
    let server = Server::start().await;
    let s = plan_setup(&server);
    // A first pass while Argo CD knows nothing: the cache is made, no
    // smoke check runs, no soak clock starts.
    ok(&s.ferry(&["run", "--once"], &[]).await);
    assert_eq!(server.hits("/health", "GET"), 0);
    // Now dev runs v1, Synced and Healthy: smoke checks and the soak clock
    // would run.
    let d1 = Image::new(API_V1).digest;
    server.serve_live("shop-dev", &s.tip(), &[format!("api@{d1}")]);

    let before = hash_tree(&s.cache());
    assert!(before.len() > 10, "{before:?}");
    let o = s.ferry(&["plan"], &[]).await;
    ok(&o);
    let after = hash_tree(&s.cache());
    assert_eq!(before, after, "ferry plan changed the cache");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("not run by plan (POST"), "{out}");
    assert_eq!(server.hits("/deploy", "POST"), 0, "plan sent a POST");
    assert!(
        server.hits("/health", "GET") >= 1,
        "plan did not reach the smoke checks, so the test proves nothing"
    );

    // The same with JSON output.
    let o = s.ferry(&["plan", "--output", "json"], &[]).await;
    ok(&o);
    assert_eq!(hash_tree(&s.cache()), before);
    assert_eq!(server.hits("/deploy", "POST"), 0);

    // Control: a real pass sends the POST and starts the soak clock, which
    // it saves beside the checkout: what plan did not do.
    ok(&s.ferry(&["run", "--once"], &[]).await);
    assert_eq!(server.hits("/deploy", "POST"), 1);
    let soak: Vec<_> = hash_tree(&s.cache())
        .into_keys()
        .filter(|p| p.to_string_lossy().ends_with(".soak.json"))
        .collect();
    assert_eq!(soak.len(), 1, "the pass saved its soak clock");
    assert!(!before.contains_key(&soak[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_one_cache_waits_then_names_the_holder() {
    let server = Server::start().await;
    let s = plan_setup(&server);
    ok(&s.ferry(&["run", "--once"], &[]).await);
    let url = s.path().join("gitops.git");
    let checkout = Workspace::dir_for(url.to_str().unwrap(), "main", &s.cache()).unwrap();
    assert!(checkout.is_dir(), "{}", checkout.display());
    let lock = Workspace::lock_dir(&checkout, Duration::ZERO).unwrap();
    let head_before = hash_tree(&checkout.join(".git/refs"));
    // The holder is in the middle of a git operation: its lock files are
    // live and must survive the processes that wait.
    let index_lock = checkout.join(".git/index.lock");
    std::fs::write(&index_lock, "").unwrap();

    for args in [&["run", "--once"][..], &["plan"][..]] {
        let started = Instant::now();
        let o = s.ferry(args, &[("FERRY_LOCK_WAIT", "1")]).await;
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(started.elapsed() >= Duration::from_secs(1), "{args:?}");
        assert!(
            err.contains(&format!("the cache {} is in use by", checkout.display())),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(&format!("pid {} on ", std::process::id())),
            "{args:?}: {err}"
        );
    }
    // Nothing was touched while the lock was held.
    assert_eq!(hash_tree(&checkout.join(".git/refs")), head_before);
    assert!(
        index_lock.exists(),
        "another process's git lock was deleted"
    );
    // Its holder died without cleaning up: under the checkout's lock, the
    // next pass knows the git lock is stale and clears it.
    drop(lock);
    ok(&s
        .ferry(&["run", "--once"], &[("FERRY_LOCK_WAIT", "1")])
        .await);
    assert!(!index_lock.exists());

    // A wait that is not a number of seconds is refused as bad input.
    let o = s.ferry(&["plan"], &[("FERRY_LOCK_WAIT", "soon")]).await;
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("FERRY_LOCK_WAIT=\"soon\""));

    // A process that waits gets the lock once the holder lets go.
    let lock = Workspace::lock_dir(&checkout, Duration::ZERO).unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        drop(lock);
    });
    ok(&s.ferry(&["plan"], &[("FERRY_LOCK_WAIT", "30")]).await);
    release.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hold_is_logged_once_at_warn_when_it_starts() {
    let server = Server::start().await;
    *server.shared.health.lock().unwrap() = 503;
    let api = Image::new("v1");
    let web = Image::new("w1");
    let held_old = Image::new("h1");
    let held_new = Image::new("h2");
    let ext = Image::new("x1");
    let config = format!(
        "gitops: {{repo: gitops.git, branch: main}}
registry: {{kind: local, path: registry.yaml}}
gates:
  scan: {{max: {{CRITICAL: 0}}}}
argocd: {{url: \"{url}\"}}
forge: {{kind: local, path: prs.json}}
environments:
  - name: dev
    mode: commit
    argocd_app: \"{{app}}-dev\"
    smoke: [{{url: \"{url}/health\", retries: 0}}]
  - name: staging
    mode: pull_request
    after: dev
    argocd_app: \"{{app}}-staging\"
apps:
  - {{name: api, repository: shop/api, image: api, overlays: {{dev: overlays/dev, staging: overlays/staging}}}}
  - {{name: web, repository: shop/web, image: web, overlays: {{dev: overlays/dev, staging: overlays/staging}}}}
  - {{name: held, repository: shop/held, image: held, overlays: {{dev: overlays/dev}}}}
  - {{name: ext, repository: shop/missing, image: ext, overlays: {{dev: overlays/dev}}}}
  - {{name: gone, repository: shop/api, image: gone, overlays: {{dev: overlays/gone}}}}
",
        url = server.url
    );
    let registry = format!(
        "repositories:\n  shop/api:\n    images:\n{}  shop/web:\n    images:\n{}  shop/held:\n    images:\n{}{}",
        registry_line(&api, 0, ""),
        registry_line(&web, 0, ""),
        registry_line(&held_old, 0, ""),
        registry_line(&held_new, 1, "CRITICAL: 2"),
    );
    let dev = overlay(&[
        ("api", &api),
        ("web", &web),
        ("held", &held_old),
        ("ext", &ext),
    ]);
    let staging = overlay(&[("api", &Image::new("v0")), ("web", &Image::new("w0"))]);
    let s = Setup::new(
        &config,
        &[
            ("overlays/dev/kustomization.yaml", dev),
            ("overlays/staging/kustomization.yaml", staging),
        ],
        &registry,
    );
    // api's dev is live (so its smoke check runs, and fails); web's Argo
    // CD application does not exist (Argo CD cannot be asked about it).
    server.serve_live("api-dev", &s.tip(), &[format!("api@{}", api.digest)]);

    let log = s.path().join("run.log");
    let mut child = s
        .command(&["run", "--resync", "1"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let passes = |text: &str| text.matches("\"pass complete\"").count();
    let deadline = Instant::now() + Duration::from_secs(90);
    let text = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if passes(&text) >= 3 || Instant::now() > deadline {
            break text;
        }
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert!(passes(&text) >= 3, "fewer than 3 passes:\n{text}");

    let mut started: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["fields"]["message"] != "hold started" {
            continue;
        }
        assert_eq!(v["level"], "WARN", "{line}");
        assert!(
            v["fields"]["reason"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
            "a hold names its reason: {line}"
        );
        let f = |k: &str| v["fields"][k].as_str().unwrap_or_default().to_string();
        *started.entry((f("app"), f("env"), f("code"))).or_default() += 1;
    }
    let key = |a: &str, e: &str, c: &str| (a.to_string(), e.to_string(), c.to_string());
    for want in [
        key("api", "staging", "smoke"),
        key("web", "staging", "health"),
        key("held", "dev", "held"),
        key("ext", "dev", "registry_unavailable"),
        key("gone", "dev", "overlay_unreadable"),
    ] {
        assert!(
            started.contains_key(&want),
            "{want:?} not logged: {started:#?}\n{text}"
        );
    }
    for (hold, n) in &started {
        assert_eq!(
            *n,
            1,
            "{hold:?} logged {n} times over {} passes",
            passes(&text)
        );
    }
}

/// `ferry run` with `server:`: refuses to start without the secret, and
/// otherwise serves `/healthz` and verified webhooks, runs its first pass
/// (then `/readyz` says ready), and ends with 0 on SIGTERM without a
/// secret in its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_webhooks_only_with_its_secret() {
    let server = Server::start().await;
    let s = plan_setup(&server);
    let port = add_server(&s);

    // No secret: exit 2 at once, naming the variable, nothing served.
    let o = s
        .ferry(
            &["run", "--resync", "3600"],
            &[("FERRY_TEST_WEBHOOK_SECRET", "")],
        )
        .await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("FERRY_TEST_WEBHOOK_SECRET"), "{err}");

    let child = spawn_run(&s, "3600");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never served /healthz"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let push = serde_json::to_vec(&json!({
        "ref": "refs/heads/main",
        "repository": {"full_name": ""}
    }))
    .unwrap();
    let deliver = |secret: &'static [u8], id: &'static str| {
        let client = client.clone();
        let url = format!("{base}/webhooks/github");
        let push = push.clone();
        async move {
            client
                .post(url)
                .header("x-github-event", "push")
                .header("x-github-delivery", id)
                .header(
                    "x-hub-signature-256",
                    ferry::server::signature::sign(secret, &push),
                )
                .body(push)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Ready once the first pass has succeeded.
    let started = Instant::now();
    let ready = loop {
        let r = client.get(format!("{base}/readyz")).send().await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        if status == 200 {
            break body;
        }
        assert_eq!(status, 503, "{body}");
        assert!(body.starts_with("not ready: "), "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never ready: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        ready.starts_with("ready: the last successful pass was "),
        "{ready}"
    );
    assert_eq!(deliver(b"not it", "d-1").await, 401, "another secret");
    // A push to another repository: answered, and ignored.
    assert_eq!(deliver(b"s3cret", "d-2").await, 200);
    assert_eq!(deliver(b"s3cret", "d-2").await, 200, "a redelivery");
    let log = terminate(child).await;
    assert!(log.contains("serving /webhooks/github"), "{log}");
    assert!(log.contains("pass complete"), "the first pass ran: {log}");
    assert!(
        !log.contains("s3cret"),
        "the secret never reaches a log: {log}"
    );
}

/// Gives the setup's config a `server:` on a free loopback port (secret
/// in `FERRY_TEST_WEBHOOK_SECRET`) and the forge a repository; returns
/// the port.
fn add_server(s: &Setup) -> u16 {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = std::fs::read_to_string(s.path().join("ferry.yaml"))
        .unwrap()
        .replace(
            "forge: {kind: local, path: prs.json}",
            "forge: {kind: local, path: prs.json, repository: acme/gitops}",
        )
        + &format!(
            "server: {{listen: \"127.0.0.1:{port}\", webhook_secret_env: FERRY_TEST_WEBHOOK_SECRET}}\n"
        );
    std::fs::write(s.path().join("ferry.yaml"), config).unwrap();
    port
}

/// `ferry run` on `s` with the test secret, its log piped.
fn spawn_run(s: &Setup, resync: &str) -> std::process::Child {
    s.command(&["run", "--resync", resync])
        .env("FERRY_TEST_WEBHOOK_SECRET", "s3cret")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// GETs `url` until `done` accepts (status, body), for at most 60 s.
async fn poll_until(url: &str, what: &str, done: impl Fn(u16, &str) -> bool) -> String {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut last = String::new();
    loop {
        if let Ok(r) = client.get(url).send().await {
            let status = r.status().as_u16();
            last = r.text().await.unwrap_or_default();
            if done(status, &last) {
                return last;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: never; last answer: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stops a `ferry run` child with SIGTERM; returns its log.
async fn terminate(child: std::process::Child) -> String {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{log}");
    log
}

/// Runs `promtool check metrics` (Debian's `prometheus` package) on an
/// exposition: it must parse and pass Prometheus's naming lints.
fn promtool_check(text: &str) {
    use std::io::Write;
    let promtool = std::env::var("FERRY_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{promtool} (Debian package prometheus) is required: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of the sample `series` (name and labels exactly as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `/metrics` of a running `ferry run`, before and after a pass that a
/// webhook asks for: `promtool check metrics` passes both, and the
/// counters move as the passes, the commit and the deliveries did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_move_with_each_pass() {
    let server = Server::start().await;
    let s = plan_setup(&server);
    // A newer image than dev runs: the first pass commits it.
    let v2 = Image::new("v2");
    let registry = std::fs::read_to_string(s.path().join("registry.yaml")).unwrap()
        + &registry_line(&v2, 2, "");
    std::fs::write(s.path().join("registry.yaml"), registry).unwrap();
    let port = add_server(&s);
    let base = format!("http://127.0.0.1:{port}");
    let child = spawn_run(&s, "3600");
    let metrics = format!("{base}/metrics");
    // As soon as it serves, most likely before the first pass ends.
    let first = poll_until(&metrics, "metrics", |st, _| st == 200).await;
    promtool_check(&first);
    poll_until(&format!("{base}/readyz"), "ready", |st, _| st == 200).await;
    let before = poll_until(&metrics, "metrics", |st, _| st == 200).await;
    promtool_check(&before);
    assert_eq!(
        sample(&before, r#"ferry_passes_total{result="ok"}"#),
        Some(1.0),
        "{before}"
    );
    assert_eq!(
        sample(&before, r#"ferry_commits_total{env="dev"}"#),
        Some(1.0),
        "{before}"
    );
    assert_eq!(
        sample(
            &before,
            r#"ferry_environment_image_info{app="api",env="dev",pinned="false",tag="v2"}"#
        ),
        Some(1.0),
        "{before}"
    );
    assert_eq!(
        sample(&before, r#"ferry_held_images{app="api",env="dev"}"#),
        Some(0.0),
        "{before}"
    );
    assert!(before.contains("ferry_build_info{version=\""), "{before}");
    // DORA from the repository: the commit just made is dev's deployment,
    // its lead time runs from the image's push time.
    assert_eq!(
        sample(&before, r#"ferry_dora_deployments{env="dev"}"#),
        Some(1.0),
        "{before}"
    );
    assert_eq!(
        sample(&before, r#"ferry_dora_deployments{env="staging"}"#),
        Some(0.0),
        "{before}"
    );
    assert!(
        sample(&before, r#"ferry_dora_lead_time_p50_seconds{env="dev"}"#).is_some_and(|s| s > 0.0),
        "{before}"
    );
    assert_eq!(
        sample(&before, "ferry_dora_window_seconds"),
        Some(30.0 * 86400.0),
        "{before}"
    );

    let push = serde_json::to_vec(&json!({
        "ref": "refs/heads/main",
        "repository": {"full_name": "acme/gitops"}
    }))
    .unwrap();
    let r = reqwest::Client::new()
        .post(format!("{base}/webhooks/github"))
        .header("x-github-event", "push")
        .header("x-github-delivery", "m-1")
        .header(
            "x-hub-signature-256",
            ferry::server::signature::sign(b"s3cret", &push),
        )
        .body(push)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let after = poll_until(&metrics, "a second pass", |_, t| {
        sample(t, r#"ferry_passes_total{result="ok"}"#) == Some(2.0)
    })
    .await;
    promtool_check(&after);
    assert_eq!(
        sample(
            &after,
            r#"ferry_webhook_deliveries_total{event="push",result="accepted"}"#
        ),
        Some(1.0),
        "{after}"
    );
    // Nothing new to commit: the counter stays.
    assert_eq!(
        sample(&after, r#"ferry_commits_total{env="dev"}"#),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "ferry_pass_duration_seconds_count"),
        Some(2.0),
        "{after}"
    );
    let last = |t: &str| sample(t, "ferry_last_successful_pass_timestamp_seconds").unwrap();
    assert!(last(&after) > last(&before), "{after}");
    terminate(child).await;
}

/// `/readyz` turns 503 with the reason when the GitOps remote goes away
/// (every pass fails), and 200 again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_flips_when_the_remote_disappears_and_returns() {
    let server = Server::start().await;
    let s = plan_setup(&server);
    let port = add_server(&s);
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    let child = spawn_run(&s, "1");
    poll_until(&readyz, "ready", |st, _| st == 200).await;
    let remote = s.path().join("gitops.git");
    let away = s.path().join("gitops.git.away");
    std::fs::rename(&remote, &away).unwrap();
    let reason = poll_until(&readyz, "not ready without the remote", |st, _| st == 503).await;
    assert!(
        reason.starts_with("not ready: the last successful pass was "),
        "{reason}"
    );
    assert!(reason.contains("the last pass failed: git"), "{reason}");
    std::fs::rename(&away, &remote).unwrap();
    let back = poll_until(&readyz, "ready again", |st, _| st == 200).await;
    assert!(back.starts_with("ready: "), "{back}");
    let log = terminate(child).await;
    assert!(log.contains("pass failed"), "{log}");
}

/// The example alert rules (`deploy/prometheus/alerts.yaml`) load in
/// Prometheus, their unit tests pass (`promtool test rules`), and every
/// metric they name is one ferry defines.
#[test]
fn the_example_alerts_load_pass_their_tests_and_name_real_metrics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus");
    let promtool = std::env::var("FERRY_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    for args in [
        &["check", "rules", "alerts.yaml"][..],
        &["test", "rules", "alerts_test.yaml"][..],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| panic!("{promtool} (Debian package prometheus) is required: {e}"));
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let defined =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/metrics/mod.rs"))
            .unwrap();
    let rules = std::fs::read_to_string(dir.join("alerts.yaml")).unwrap();
    let re = regex::Regex::new(r"\bferry_[a-z_]+").unwrap();
    let used: std::collections::BTreeSet<&str> = rules
        .lines()
        .filter(|l| l.trim_start().starts_with("expr:") || l.starts_with("          "))
        .flat_map(|l| re.find_iter(l).map(|m| m.as_str()))
        .collect();
    assert!(used.len() >= 6, "{used:?}");
    for name in used {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        assert!(
            defined.contains(&format!("\"{base}\"")),
            "alerts.yaml names {name}, which src/metrics defines nowhere"
        );
    }
}
