//! Notifications end to end, in one process: real passes and a real
//! `/ferry revert` run by ferry's runner (`ferry::runner::Runner`) on a
//! bare GitOps repository, a local registry file and the local forge,
//! with one loopback server playing Argo CD, a Slack incoming webhook
//! (recording each body), a generic webhook receiver (checking each
//! signature with its own HMAC), a sink that answers 500 and one that
//! holds the request open.
//!
//! Every wait polls the stand-in or the runner's status with a deadline;
//! none sleeps a fixed time, and nothing asserts on wall-clock durations.

mod common;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use common::Image;
use ferry::chatops::{CommandOutcome, CommentEvent};
use ferry::forge::local::LocalForge;
use ferry::gitops::{Author, init_bare_with};
use ferry::notify::{Notifier, Options};
use ferry::runner::{Context, Runner, Trigger};
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};

const HOOK_SECRET: &str = "notify-test-hmac-secret";
const PATIENCE: Duration = Duration::from_secs(30);

/// One webhook delivery as received.
#[derive(Debug, Clone)]
struct Hooked {
    event: String,
    delivery: String,
    /// The signature matched an HMAC computed here over the raw body.
    verified: bool,
    body: Value,
}

#[derive(Clone, Default)]
struct Shared {
    slack: Arc<Mutex<Vec<Value>>>,
    hooks: Arc<Mutex<Vec<Hooked>>>,
    argo: Arc<Mutex<HashMap<String, Value>>>,
    /// Requests to `/fail`, each answered 500.
    failed: Arc<AtomicUsize>,
    /// Requests to `/hang` received (answered once `release` turns true).
    hanging: Arc<AtomicUsize>,
    release: Arc<Mutex<Option<watch::Receiver<bool>>>>,
}

struct StandIn {
    url: String,
    shared: Shared,
    release: watch::Sender<bool>,
}

async fn slack(State(s): State<Shared>, body: Bytes) -> StatusCode {
    let v: Value = serde_json::from_slice(&body).expect("Slack gets JSON");
    s.slack.lock().unwrap().push(v);
    StatusCode::OK
}

/// What a receiver does with `X-Ferry-Signature-256`: HMAC-SHA256 of the
/// raw body under the shared secret, compared in constant time.
fn verify(headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(hex) = headers
        .get("x-ferry-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
    else {
        return false;
    };
    let Ok(tag) = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, HOOK_SECRET.as_bytes());
    hmac::verify(&key, body, &tag).is_ok()
}

async fn hook(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let h = Hooked {
        event: header("x-ferry-event"),
        delivery: header("x-ferry-delivery"),
        verified: verify(&headers, &body),
        body: serde_json::from_slice(&body).expect("JSON"),
    };
    let ok = h.verified;
    s.hooks.lock().unwrap().push(h);
    if ok {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

async fn fail(State(s): State<Shared>) -> StatusCode {
    s.failed.fetch_add(1, Ordering::SeqCst);
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn hang(State(s): State<Shared>) -> StatusCode {
    s.hanging.fetch_add(1, Ordering::SeqCst);
    let rx = s.release.lock().unwrap().clone();
    if let Some(mut rx) = rx {
        let _ = rx.wait_for(|r| *r).await;
    }
    StatusCode::OK
}

async fn application(
    State(s): State<Shared>,
    UrlPath(name): UrlPath<String>,
) -> (StatusCode, String) {
    match s.argo.lock().unwrap().get(&name) {
        Some(v) => (StatusCode::OK, v.to_string()),
        None => (
            StatusCode::NOT_FOUND,
            json!({"message": "not found"}).to_string(),
        ),
    }
}

impl StandIn {
    async fn start() -> StandIn {
        let shared = Shared::default();
        let (release, rx) = watch::channel(false);
        *shared.release.lock().unwrap() = Some(rx);
        let app = axum::Router::new()
            .route("/slack", post(slack))
            .route("/hook", post(hook))
            .route("/fail", post(fail))
            .route("/hang", post(hang))
            .route("/api/v1/applications/{name}", get(application))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        StandIn {
            url,
            shared,
            release,
        }
    }

    /// Argo CD reports `name` Synced and Healthy at `commit`, running `images`.
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
            .argo
            .lock()
            .unwrap()
            .insert(name.to_string(), app);
    }

    fn slack_texts(&self) -> Vec<String> {
        self.shared
            .slack
            .lock()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn hooks(&self) -> Vec<Hooked> {
        self.shared.hooks.lock().unwrap().clone()
    }
}

/// Polls `f` until it is true, or fails the test after [`PATIENCE`].
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn overlay(image: &Image) -> String {
    format!(
        "resources: []\nimages:\n  - name: api   # the API\n    newTag: {}\n    digest: {}\n",
        image.tag, image.digest
    )
}

fn registry_line(i: &Image, second: u32, findings: &str) -> String {
    format!(
        "      - {{digest: {}, tags: [{}], pushed_at: \"2026-11-26T10:00:{second:02}Z\", scan: {{status: COMPLETE, findings: {{{findings}}}}}}}\n",
        i.digest, i.tag
    )
}

/// A GitOps repository where dev and staging run `v0`; the registry has
/// `v0`, a newer good `v1`, and a newer still `h1` with two CRITICAL
/// findings, which the gates hold.
struct Setup {
    dir: tempfile::TempDir,
    v0: Image,
    v1: Image,
    h1: Image,
}

impl Setup {
    fn new(url: &str, notify: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let (v0, v1, h1) = (Image::new("v0"), Image::new("v1"), Image::new("h1"));
        let author = Author {
            name: "platform".into(),
            email: "platform@test".into(),
        };
        init_bare_with(
            &dir.path().join("gitops.git"),
            &[
                ("overlays/dev/kustomization.yaml", overlay(&v0).as_bytes()),
                (
                    "overlays/staging/kustomization.yaml",
                    overlay(&v0).as_bytes(),
                ),
            ],
            "main",
            &author,
        )
        .unwrap();
        let registry = format!(
            "repositories:\n  shop/api:\n    images:\n{}{}{}",
            registry_line(&v0, 0, ""),
            registry_line(&v1, 1, ""),
            registry_line(&h1, 2, "CRITICAL: 2"),
        );
        std::fs::write(dir.path().join("registry.yaml"), registry).unwrap();
        let config = format!(
            "gitops: {{repo: gitops.git, branch: main}}
registry: {{kind: local, path: registry.yaml}}
gates:
  scan: {{max: {{CRITICAL: 0}}}}
argocd: {{url: \"{url}\"}}
forge: {{kind: local, path: prs.json, repository: acme/gitops}}
environments:
  - {{name: dev, mode: commit, argocd_app: api-dev}}
  - {{name: staging, mode: pull_request, after: dev, argocd_app: api-staging}}
apps:
  - {{name: api, repository: shop/api, image: api, overlays: {{dev: overlays/dev, staging: overlays/staging}}}}
{notify}"
        );
        std::fs::write(dir.path().join("ferry.yaml"), config).unwrap();
        Setup { dir, v0, v1, h1 }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cache(&self) -> PathBuf {
        self.path().join("cache")
    }

    /// The GitOps branch's tip.
    fn tip(&self) -> String {
        let git = git2::Repository::open_bare(self.path().join("gitops.git")).unwrap();
        git.refname_to_id("refs/heads/main").unwrap().to_string()
    }

    /// A context as `ferry run` loads it, with the sinks `notify:` names
    /// started on `stand_in`'s URLs (the values `ferry run` reads from
    /// the environment).
    async fn context(&self, stand_in: &StandIn, options: Options) -> Context {
        let mut ctx =
            ferry::runner::context::load(&self.path().join("ferry.yaml"), Some(&self.cache()))
                .await
                .unwrap();
        let env: HashMap<&str, String> = HashMap::from([
            ("SLACK_URL", format!("{}/slack", stand_in.url)),
            ("HOOK_URL", format!("{}/hook", stand_in.url)),
            ("HOOK_SECRET", HOOK_SECRET.to_string()),
            ("FAIL_URL", format!("{}/fail", stand_in.url)),
            ("HANG_URL", format!("{}/hang", stand_in.url)),
        ]);
        let targets =
            ferry::notify::targets(&ctx.config.notify, |n| env.get(n).map(OsString::from)).unwrap();
        let file = ferry::notify::state_file(ctx.workspace.root());
        ctx.notifier = Notifier::start(targets, Some(file), options);
        ctx
    }
}

fn quick() -> Options {
    Options {
        backoff: Duration::from_millis(20),
        timeout: Duration::from_secs(60),
        ..Options::default()
    }
}

struct Running {
    runner: Runner,
    stop: watch::Sender<bool>,
    notifier: Notifier,
}

impl Running {
    fn start(ctx: Context) -> Running {
        let notifier = ctx.notifier.clone();
        let (stop, stopped) = watch::channel(false);
        // A resync far away: each further pass is triggered by the test.
        let runner = Runner::spawn(ctx, Duration::from_secs(3600), stopped);
        Running {
            runner,
            stop,
            notifier,
        }
    }

    fn passes(&self) -> u64 {
        self.runner.status().borrow().passes
    }

    async fn wait_passes(&self, n: u64) {
        let status = self.runner.status();
        until(&format!("{n} passes"), || status.borrow().passes >= n).await;
        let s = status.borrow();
        let error = s.last_pass.as_ref().and_then(|p| p.error.clone());
        assert_eq!(error, None, "the pass succeeded");
    }

    async fn pass(&self) {
        let n = self.passes() + 1;
        self.runner.sender().send(Trigger::Resync).await.unwrap();
        self.wait_passes(n).await;
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        self.runner.join().await;
        self.notifier.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_for_a_commit_a_pull_request_a_hold_once_and_a_revert() {
    let stand_in = StandIn::start().await;
    let s = Setup::new(
        &stand_in.url,
        "notify:
  - {kind: slack, webhook_url_env: SLACK_URL}
  - {kind: webhook, url_env: HOOK_URL, secret_env: HOOK_SECRET, events: [committed, held, reverted]}
",
    );
    let held_digest = s.h1.digest.clone();

    // Pass 1: dev moves v0 → v1 by commit; h1, newer, is held.
    let run = Running::start(s.context(&stand_in, quick()).await);
    run.wait_passes(1).await;
    assert!(run.notifier.idle(PATIENCE).await);
    let commit = s.tip();
    assert_eq!(
        stand_in.slack_texts(),
        vec![
            "committed dev: api v0 → v1".to_string(),
            "held dev: api h1".to_string()
        ]
    );
    let slack = stand_in.shared.slack.lock().unwrap().clone();
    let blocks = slack[0]["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["text"]["text"], "Committed to dev");
    let section = blocks[1]["text"]["text"].as_str().unwrap();
    assert!(section.starts_with("*api*  `v0` → `v1`"), "{section}");
    assert!(
        section.contains(&format!(
            "<{}/applications/api-dev|Argo CD api-dev>",
            stand_in.url
        )),
        "{section}"
    );
    // The local forge has no web page: the commit is named, not linked.
    assert!(
        section.contains(&format!("commit `{}`", &commit[..8])),
        "{section}"
    );
    let held_section = slack[1]["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(held_section.contains("> scan_budget: "), "{held_section}");

    let hooks = stand_in.hooks();
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    assert!(hooks.iter().all(|h| h.verified), "{hooks:?}");
    assert_eq!(hooks[0].event, "committed");
    assert_eq!(hooks[0].delivery, format!("committed:{commit}"));
    assert_eq!(hooks[0].body["id"], hooks[0].delivery.as_str());
    assert_eq!(hooks[0].body["commit"], commit.as_str());
    assert_eq!(hooks[0].body["changes"][0]["app"], "api");
    assert_eq!(
        hooks[0].body["changes"][0]["from"]["digest"],
        s.v0.digest.as_str()
    );
    assert_eq!(hooks[0].body["changes"][0]["to"]["tag"], "v1");
    assert_eq!(
        hooks[0].body["changes"][0]["to"]["digest"],
        s.v1.digest.as_str()
    );
    assert_eq!(hooks[0].body["changes"][0]["image"], "api");
    assert_eq!(hooks[1].event, "held");
    assert_eq!(hooks[1].delivery, format!("held:api:{held_digest}"));

    // A restart: a new process state, the same cache. Dev is proven now,
    // so staging gets a pull request; h1 is still held, and not announced
    // again (the sent keys were kept beside the checkout).
    run.stop().await;
    stand_in.serve_live("api-dev", &commit, &[format!("api@{}", s.v1.digest)]);
    let run = Running::start(s.context(&stand_in, quick()).await);
    run.wait_passes(1).await;
    assert!(run.notifier.idle(PATIENCE).await);
    let texts = stand_in.slack_texts();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(
        texts[2].starts_with("pr_opened staging: api v0 → v1 (#"),
        "{texts:?}"
    );
    let pr = stand_in.shared.slack.lock().unwrap()[2].clone();
    assert_eq!(
        pr["blocks"][0]["text"]["text"],
        "Promotion pull request opened for staging"
    );
    // The webhook's filter leaves pull requests out.
    assert_eq!(stand_in.hooks().len(), 2);

    // Another pass in the same process: the same hold, still once.
    run.pass().await;
    assert!(run.notifier.idle(PATIENCE).await);
    assert_eq!(
        stand_in.slack_texts().len(),
        3,
        "{:?}",
        stand_in.slack_texts()
    );

    // dana reverts dev: back to v0, pinned.
    let forge = LocalForge::new(s.path().join("prs.json"));
    forge.set_role("dana", "write").await.unwrap();
    let issue = forge
        .open_issue("api: errors in dev", "dana")
        .await
        .unwrap();
    let body = "/ferry revert api dev";
    let posted = forge.post_comment(issue, "dana", body).await.unwrap();
    let (reply, outcomes) = oneshot::channel::<Vec<CommandOutcome>>();
    let event = CommentEvent {
        repository: "acme/gitops".into(),
        number: issue,
        is_pull_request: false,
        comment_id: posted.id,
        comment_url: posted.url.clone(),
        login: "dana".into(),
        body: body.into(),
    };
    run.runner
        .sender()
        .send(Trigger::Comment(Box::new(event), Some(reply)))
        .await
        .unwrap();
    let outcomes = outcomes.await.unwrap();
    assert!(outcomes[0].ok, "{outcomes:?}");
    let revert = outcomes[0].commit.clone().expect("the revert pushed");
    assert_eq!(revert, s.tip());
    assert!(run.notifier.idle(PATIENCE).await);
    let texts = stand_in.slack_texts();
    assert_eq!(
        texts.last().map(String::as_str),
        Some("reverted dev: api v1 → v0 by dana"),
        "{texts:?}"
    );
    let hooks = stand_in.hooks();
    let last = hooks.last().unwrap();
    assert!(last.verified);
    assert_eq!(last.event, "reverted");
    assert_eq!(last.delivery, format!("reverted:{revert}"));
    assert_eq!(last.body["who"], "dana");
    assert_eq!(last.body["command"], body);
    assert_eq!(
        last.body["changes"][0]["to"]["digest"],
        s.v0.digest.as_str()
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_sink_and_a_failing_sink_never_hold_up_the_runner() {
    let stand_in = StandIn::start().await;
    let s = Setup::new(
        &stand_in.url,
        "notify:
  - {kind: slack, webhook_url_env: HANG_URL}
  - {kind: webhook, url_env: FAIL_URL, secret_env: HOOK_SECRET, events: [committed]}
",
    );
    let options = Options {
        attempts: 3,
        ..quick()
    };
    let run = Running::start(s.context(&stand_in, options).await);
    run.wait_passes(1).await;
    // The Slack stand-in holds the first message (committed) open...
    until("the hanging request", || {
        stand_in.shared.hanging.load(Ordering::SeqCst) == 1
    })
    .await;
    // ...while the runner goes on: two more passes, and a status that
    // says each succeeded, with the request still pending.
    run.pass().await;
    run.pass().await;
    assert_eq!(run.passes(), 3);
    assert!(!*stand_in.release.borrow(), "still holding the request");
    assert!(run.notifier.pending() >= 1);
    // The failing sink is retried: three attempts, then given up.
    until("three attempts", || {
        stand_in.shared.failed.load(Ordering::SeqCst) == 3
    })
    .await;
    assert_eq!(stand_in.shared.hanging.load(Ordering::SeqCst), 1);
    stand_in.release.send(true).unwrap();
    assert!(run.notifier.idle(PATIENCE).await, "everything went out");
    assert_eq!(
        stand_in.shared.failed.load(Ordering::SeqCst),
        3,
        "no attempt beyond the third"
    );
    // The held image's message came after the released one, in order.
    assert_eq!(stand_in.shared.hanging.load(Ordering::SeqCst), 2);
    run.stop().await;
}

#[test]
fn ferry_run_refuses_to_start_without_a_sink_variable_and_never_echoes_a_value() {
    let s = Setup::new(
        "http://127.0.0.1:9",
        "notify:\n  - {kind: slack, webhook_url_env: SLACK_URL}\n",
    );
    let run = |value: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
        c.args(["run", "--once", "--config"])
            .arg(s.path().join("ferry.yaml"))
            .env("FERRY_CACHE_DIR", s.cache());
        match value {
            Some(v) => c.env("SLACK_URL", v),
            None => c.env_remove("SLACK_URL"),
        };
        c.output().unwrap()
    };
    let o = run(None);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "environment variable SLACK_URL (notify[0].webhook_url_env) is unset or empty"
        ),
        "{err}"
    );
    let o = run(Some("hooks.slack.com/services/T0/B0/XSECRETX"));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("does not hold an http:// or https:// URL"),
        "{err}"
    );
    assert!(!err.contains("XSECRETX"), "{err}");
    // Nothing ran: no pass, no commit.
    assert!(!err.contains("pass complete"), "{err}");
}

/// A pass that pushed dev's commit and then failed (here: the promotion
/// side; the error carries what was pushed) still announces the commit,
/// and its failure counts towards the failing streak, not as a success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_that_fails_after_its_commit_still_announces_it() {
    let stand_in = StandIn::start().await;
    let s = Setup::new(
        &stand_in.url,
        "notify:\n  - {kind: slack, webhook_url_env: SLACK_URL}\n",
    );
    // A pass with notifications off, for a real report with a pushed commit.
    let mut ctx = ferry::runner::context::load(&s.path().join("ferry.yaml"), Some(&s.cache()))
        .await
        .unwrap();
    let report = ctx.run_pass().await.unwrap();
    assert!(
        report
            .commits
            .iter()
            .any(|(_, o)| matches!(o, ferry::gitops::Outcome::Pushed { .. }))
    );
    drop(ctx);
    let ctx = s.context(&stand_in, quick()).await;
    ctx.notifier.after_partial_pass(
        &ctx.config,
        &ctx.workspace,
        &report,
        "promotion: GitHub answered 502".into(),
    );
    assert!(ctx.notifier.idle(PATIENCE).await);
    assert_eq!(
        stand_in.slack_texts(),
        vec![
            "committed dev: api v0 → v1".to_string(),
            "held dev: api h1".to_string()
        ]
    );
    // Two more failures make three in a row: pass_failing, so the partial
    // pass counted as a failure.
    for _ in 0..2 {
        ctx.notifier
            .after_pass(&ctx.config, &ctx.workspace, Err("git: unreachable".into()));
    }
    assert!(ctx.notifier.idle(PATIENCE).await);
    let texts = stand_in.slack_texts();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(
        texts[2].starts_with("pass_failing") && texts[2].ends_with("after 3 failed pass(es)"),
        "{texts:?}"
    );
}
