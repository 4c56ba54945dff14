//! Analyses against a real Prometheus (Debian's `prometheus` package,
//! `/usr/bin/prometheus`, or `FERRY_PROMETHEUS`): the test starts it on a
//! loopback port with a scrape interval of one second, scraping an
//! exporter the test serves and changes. One loopback server plays the
//! exporter (`/metrics`) and Argo CD (`/api/v1/applications/{name}`).
//!
//! What `ferry plan` says about an image dev runs, as the value seen
//! changes: a passing value lets the promotion to staging proceed (and
//! the PR body shows the value); a failing one holds with its streak, and
//! past its limit once passes have counted it; no data, NaN, two series
//! and a Prometheus that is gone hold as inconclusive, never pass. And
//! `{app}` is escaped so a hostile name finds its own series and cannot
//! change the query.
//!
//! Without the binary the tests skip, unless `CI` is set: then they fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::Image;
use ferry::gitops::{Author, init_bare_with};
use serde_json::{Value, json};

const PROM_TOKEN: &str = "prom-s3cr3t-token";

/// The Prometheus binary, or `None` (with a message) when the tests
/// should skip; under CI a missing binary fails.
fn prometheus_binary() -> Option<PathBuf> {
    let path = PathBuf::from(
        std::env::var("FERRY_PROMETHEUS").unwrap_or_else(|_| "/usr/bin/prometheus".into()),
    );
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing (Debian package prometheus; .ci/run installs it)",
        path.display()
    );
    eprintln!(
        "SKIPPED: {} is missing (install Debian's prometheus package)",
        path.display()
    );
    None
}

#[derive(Clone, Default)]
struct Shared {
    /// Argo CD Applications by name.
    apps: Arc<Mutex<std::collections::HashMap<String, Value>>>,
    /// The exposition `/metrics` serves.
    metrics: Arc<Mutex<String>>,
}

/// The exporter and the fake Argo CD.
struct Server {
    url: String,
    addr: String,
    shared: Shared,
}

impl Server {
    async fn start() -> Server {
        let shared = Shared::default();
        let app = axum::Router::new()
            .route("/api/v1/applications/{name}", get(application))
            .route("/metrics", get(metrics))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Server {
            url: format!("http://{addr}"),
            addr,
            shared,
        }
    }

    /// Serves `lines` (samples of the gauge `ratio`) on `/metrics`.
    fn expose(&self, lines: &[&str]) {
        let mut text = String::from("# HELP ratio A test ratio.\n# TYPE ratio gauge\n");
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        *self.shared.metrics.lock().unwrap() = text;
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

async fn metrics(State(s): State<Shared>) -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        s.metrics.lock().unwrap().clone(),
    )
        .into_response()
}

/// A Prometheus process scraping `target` every second; killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(binary: &Path, target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: exporter
    static_configs: [{{targets: ['{target}']}}]
"
            ),
        )
        .unwrap();
        // A free port: bound, then let go for Prometheus to take.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let p = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        p.wait_for("the exporter scraped", "up", |r| {
            r.as_array().is_some_and(|a| a.len() == 1) && r[0]["value"][1] == "1"
        })
        .await;
        p
    }

    /// The `result` of an instant query, `None` while Prometheus does not
    /// answer.
    async fn query(&self, q: &str) -> Option<Value> {
        let url = ferry::health::analysis::query_url(&self.url, q).unwrap();
        let resp = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let body: Value = resp.json().await.ok()?;
        Some(body["data"]["result"].clone())
    }

    /// Polls `q` until `done` holds for its result (at most 15 s).
    async fn wait_for(&self, what: &str, q: &str, done: impl Fn(&Value) -> bool) {
        let started = Instant::now();
        loop {
            if let Some(r) = self.query(q).await
                && done(&r)
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "Prometheus never showed {what}: {q} = {:?}",
                self.query(q).await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `ratio{service="api"}` reads `shape`: the values of its
    /// series, as Prometheus sends them.
    async fn wait_ratio(&self, values: &[&str]) {
        self.wait_for(
            &format!("ratio = {values:?}"),
            r#"ratio{service="api"}"#,
            |r| {
                let got: Vec<&str> = r
                    .as_array()
                    .map(|a| a.iter().filter_map(|s| s["value"][1].as_str()).collect())
                    .unwrap_or_default();
                got == values
            },
        )
        .await;
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GitOps repository where dev runs `v1` and staging `v0`, a registry
/// listing both, a local forge, and a config whose dev environment has
/// the analysis `success-rate` (`ratio >= 0.95`, failure limit 2).
struct Setup {
    dir: tempfile::TempDir,
}

fn overlay(image: &Image) -> String {
    format!(
        "resources: []\nimages:\n  - name: api\n    newTag: {}\n    digest: {}\n",
        image.tag, image.digest
    )
}

fn registry_line(i: &Image, second: u32) -> String {
    format!(
        "      - {{digest: {}, tags: [{}], pushed_at: \"2026-11-26T10:00:{second:02}Z\", scan: {{status: COMPLETE, findings: {{}}}}}}\n",
        i.digest, i.tag
    )
}

impl Setup {
    fn new(server: &Server, prometheus: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let (v0, v1) = (Image::new("v0"), Image::new("v1"));
        let config = format!(
            "gitops: {{repo: gitops.git, branch: main}}
registry: {{kind: local, path: registry.yaml}}
argocd: {{url: \"{url}\"}}
forge: {{kind: local, path: prs.json}}
environments:
  - name: dev
    mode: commit
    argocd_app: \"{{app}}-dev\"
    analysis:
      - name: success-rate
        prometheus: {{url: \"{prometheus}\", token_env: FERRY_TEST_PROM_TOKEN}}
        query: 'ratio{{service=\"{{app}}\",stage=\"{{env}}\"}}'
        success: \">= 0.95\"
        failure_limit: 2
  - name: staging
    mode: pull_request
    after: dev
    argocd_app: \"{{app}}-staging\"
apps:
  - {{name: api, repository: shop/api, image: api, overlays: {{dev: overlays/dev, staging: overlays/staging}}}}
",
            url = server.url
        );
        let registry = format!(
            "repositories:\n  shop/api:\n    images:\n{}{}",
            registry_line(&v0, 0),
            registry_line(&v1, 1)
        );
        let (dev, staging) = (overlay(&v1), overlay(&v0));
        let files: Vec<(&str, &[u8])> = vec![
            ("overlays/dev/kustomization.yaml", dev.as_bytes()),
            ("overlays/staging/kustomization.yaml", staging.as_bytes()),
        ];
        let author = Author {
            name: "t".into(),
            email: "t@t".into(),
        };
        init_bare_with(&dir.path().join("gitops.git"), &files, "main", &author).unwrap();
        std::fs::write(dir.path().join("ferry.yaml"), config).unwrap();
        std::fs::write(dir.path().join("registry.yaml"), registry).unwrap();
        let s = Setup { dir };
        let tip = s.tip();
        server.serve_live("api-dev", &tip, &[format!("api:v1@{}", v1.digest)]);
        s
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn tip(&self) -> String {
        let repo = git2::Repository::open_bare(self.path().join("gitops.git")).unwrap();
        repo.refname_to_id("refs/heads/main").unwrap().to_string()
    }

    /// Runs the binary off the async runtime's threads, with the token.
    async fn ferry(&self, args: &[&str], token: bool) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferry"));
        c.args(args)
            .arg("--config")
            .arg(self.path().join("ferry.yaml"))
            .env("FERRY_CACHE_DIR", self.path().join("cache"))
            .env("NO_COLOR", "1")
            .env_remove("FERRY_FAILPOINT")
            .env_remove("FERRY_LOG_FORMAT");
        if token {
            c.env("FERRY_TEST_PROM_TOKEN", PROM_TOKEN);
        } else {
            c.env_remove("FERRY_TEST_PROM_TOKEN");
        }
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }

    async fn pass(&self) {
        ok(&self.ferry(&["run", "--once"], true).await);
    }

    /// `ferry plan --output json`: staging's entry for api.
    async fn staging(&self) -> Value {
        let o = self.ferry(&["plan", "--output", "json"], true).await;
        ok(&o);
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains(PROM_TOKEN)
                && !String::from_utf8_lossy(&o.stderr).contains(PROM_TOKEN),
            "the token was printed"
        );
        let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
        plan["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["app"] == "api" && e["env"] == "staging")
            .unwrap_or_else(|| panic!("no staging entry: {plan:#}"))
            .clone()
    }

    /// The staging hold: (code, message); panics when it is not held.
    async fn hold(&self) -> (String, String) {
        let e = self.staging().await;
        assert_eq!(e["action"], "none", "staging is not held: {e:#}");
        (
            e["reason"]["code"].as_str().unwrap().to_string(),
            e["reason"]["message"].as_str().unwrap().to_string(),
        )
    }

    /// The streak file beside the soak clocks, if any.
    fn streaks(&self) -> Option<String> {
        let cache = self.path().join("cache");
        std::fs::read_dir(&cache)
            .ok()?
            .filter_map(|e| e.ok())
            .find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(".soak.analysis.json")
            })
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
    }

    fn pulls(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path().join("prs.json")).unwrap_or_default();
        if text.is_empty() {
            return Vec::new();
        }
        let state: Value = serde_json::from_str(&text).unwrap();
        state["pulls"].as_array().cloned().unwrap_or_default()
    }
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

const API: &str = r#"service="api",stage="dev""#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_prometheus_shows_decides_whether_dev_has_proven_its_image() {
    let Some(binary) = prometheus_binary() else {
        return;
    };
    let server = Server::start().await;
    server.expose(&[&format!("ratio{{{API}}} 0.5")]);
    let mut prom = Some(Prometheus::start(&binary, &server.addr).await);
    let p = || prom.as_ref().unwrap();
    let s = Setup::new(&server, &p().url);

    // ferry run refuses to start without the token, naming the variable.
    let o = s.ferry(&["run", "--once"], false).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "environments[0].analysis[0].prometheus.token_env: \
             environment variable FERRY_TEST_PROM_TOKEN is not set"
        ),
        "{err}"
    );

    // check-config says the same, and is content with the variable set.
    let o = s.ferry(&["check-config"], false).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("environments[0].analysis[0].prometheus.token_env")
            && err.contains("FERRY_TEST_PROM_TOKEN is not set"),
        "{err}"
    );
    ok(&s.ferry(&["check-config"], true).await);

    // A real value that misses the condition: held, one failure counted.
    p().wait_ratio(&["0.5"]).await;
    let (code, message) = s.hold().await;
    assert_eq!(code, "analysis", "{message}");
    assert_eq!(
        message,
        "dev has not proven v1: success-rate: 0.5 (needs >= 0.95; failed 1 of 2)"
    );
    // Two passes count two failures and save them; plan reads them, counts
    // a third in memory, and saves nothing.
    s.pass().await;
    s.pass().await;
    let saved = s.streaks().expect("the streaks were saved");
    assert!(saved.contains("\"streak\": 2"), "{saved}");
    let (code, message) = s.hold().await;
    assert_eq!(code, "analysis");
    assert!(
        message
            .ends_with("success-rate: 0.5 (needs >= 0.95; failed 3 in a row, past its limit of 2)"),
        "{message}"
    );
    assert_eq!(s.streaks().as_deref(), Some(saved.as_str()), "plan saved");

    // No data (the series is gone, another app's remains): inconclusive,
    // held, and the streak starts again.
    server.expose(&[r#"ratio{service="web",stage="dev"} 1"#]);
    p().wait_ratio(&[]).await;
    assert_eq!(
        s.hold().await,
        (
            "analysis".into(),
            "dev has not proven v1: success-rate: no data".into()
        )
    );
    s.pass().await;
    assert!(!s.streaks().unwrap().contains("success-rate"));

    // NaN (a ratio of 0/0) is no value.
    server.expose(&[&format!("ratio{{{API}}} NaN")]);
    p().wait_ratio(&["NaN"]).await;
    assert_eq!(s.hold().await.1, "dev has not proven v1: success-rate: NaN");

    // Two series where one was expected: which one would be a guess.
    server.expose(&[
        &format!("ratio{{{API},pod=\"a\"}} 1"),
        &format!("ratio{{{API},pod=\"b\"}} 1"),
    ]);
    p().wait_ratio(&["1", "1"]).await;
    assert_eq!(
        s.hold().await.1,
        "dev has not proven v1: success-rate: 2 series, expected 1"
    );

    // A passing value: the promotion proceeds, and the PR body shows it.
    server.expose(&[&format!("ratio{{{API}}} 0.98")]);
    p().wait_ratio(&["0.98"]).await;
    let e = s.staging().await;
    assert_eq!(e["action"], "pull_request", "{e:#}");
    assert!(s.pulls().is_empty());
    s.pass().await;
    let pulls = s.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let body = pulls[0]["body"].as_str().unwrap();
    assert!(
        body.contains("analysis success-rate 0.98 (>= 0.95)"),
        "{body}"
    );

    // Prometheus is gone: inconclusive, held, the server named, no token.
    let url = p().url.clone();
    drop(prom.take());
    let (code, message) = s.hold().await;
    assert_eq!(code, "analysis");
    assert!(
        message.starts_with(&format!(
            "dev has not proven v1: success-rate: Prometheus {url}"
        )) && message.to_lowercase().contains("connection refused"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_names_are_escaped_into_the_query() {
    use ferry::config::{Analysis, Prometheus as Server_};
    use ferry::health::analysis::{AnalysisTracker, evaluate};
    use ferry::health::{Outcome, SoakKey};

    let Some(binary) = prometheus_binary() else {
        return;
    };
    let server = Server::start().await;
    // The exposition format escapes `\` and `"` in label values as PromQL
    // strings do.
    server.expose(&[
        r#"ratio{service="we\"ird\\app"} 7"#,
        "ratio{service=\"x\"} 1",
    ]);
    let prom = Prometheus::start(&binary, &server.addr).await;
    prom.wait_for("both series", "count(ratio)", |r| r[0]["value"][1] == "2")
        .await;
    let analysis = Analysis {
        name: "hostile".into(),
        prometheus: Server_ {
            url: prom.url.clone(),
            token_env: None,
        },
        query: r#"sum(ratio{service="{app}"})"#.into(),
        success: "> 0".into(),
        failure_limit: None,
    };
    let tracker = AnalysisTracker::new();
    let run = |app: &str| {
        let key = SoakKey {
            app: app.into(),
            env: "dev".into(),
            digest: "d".into(),
        };
        let (analysis, tracker) = (analysis.clone(), &tracker);
        async move { evaluate(&[analysis], &key, tracker).await.remove(0).outcome }
    };
    // The quote and the backslash find the series that has them.
    assert_eq!(run("we\"ird\\app").await, Outcome::Pass { value: 7.0 });
    // A name that tries to close the string and add to the query finds
    // nothing: unescaped, it would have read `sum(... or vector(1))`.
    assert_eq!(
        run("nope\"} or vector(1) or ratio{service=\"x").await,
        Outcome::Inconclusive {
            why: "no data".into()
        }
    );
    // A query Prometheus refuses: its own words, never a pass.
    let broken = Analysis {
        query: "sum(ratio".into(),
        ..analysis.clone()
    };
    let key = SoakKey {
        app: "x".into(),
        env: "dev".into(),
        digest: "d".into(),
    };
    let got = evaluate(&[broken], &key, &tracker).await.remove(0).outcome;
    let Outcome::Inconclusive { why } = &got else {
        panic!("{got:?}")
    };
    assert!(
        why.starts_with(&format!("Prometheus {}: HTTP 400: bad_data: ", prom.url))
            && why.contains("parse error"),
        "{why}"
    );
    // Control: the same text unescaped is a different query that passes.
    let raw = prom
        .query(r#"sum(ratio{service="nope"} or vector(1) or ratio{service="x"})"#)
        .await
        .unwrap();
    assert_eq!(raw[0]["value"][1], "2", "{raw}");
}
