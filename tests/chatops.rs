//! ChatOps end to end, in one process: a `/ferry` comment on the GitOps
//! repository's issue is delivered, signed, to ferry's real webhook server
//! (`ferry::server`), forwarded to the runner as `ferry run` forwards it,
//! handled by `chatops::handle_comment` with the `Context` the config
//! loads, and answered on the stateful fake GitHub (`tests/fake_github`,
//! through ferry's real `GitHubForge`), with a bare GitOps repository on
//! disk, a signed local registry file and the fake Argo CD.
//!
//! Every wait polls the fake (ferry's reply, its reactions) or the runner's
//! status (its pass count), with a timeout; none sleeps a fixed time. A
//! comment that must do nothing is followed by a sentinel command whose
//! reply proves the runner got past it (the runner handles comments in
//! the order they came).

mod common;
mod fake_github;
#[allow(dead_code)] // this file uses part of it
mod support_argocd;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::Image;
use fake_github::{Comment, FakeGitHub};
use ferry::forge::Forge as _;
use ferry::gates::SignatureEvidence;
use ferry::gates::signer::Signer;
use ferry::gitops::{Author, init_bare_with};
use ferry::runner::{Context, QUEUE, Runner, Trigger};
use ferry::server::http::{ServerState, WEBHOOK_PATH, serve};
use ferry::server::webhook::Scope;
use git2::{Oid, Repository};
use serde_json::{Value, json};
use support_argocd::{FakeArgo, at, corpus_app};
use tokio::sync::{mpsc, watch};

const REPO: &str = "acme/platform-gitops";
const GITHUB_TOKEN: &str = "ghp_chatopstesttoken";
const ARGO_TOKEN: &str = "argocd-chatops-test-token";
const FERRY: &str = "ferry-bot";
const SECRET: &[u8] = b"chatops-webhook-secret";
const IMAGE_NAME: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com/llmplatform/gateway";
const ENVOY: &str = "envoyproxy/envoy:v1.31.2";
/// How long any one wait may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// (environment, overlay directory, Argo CD application).
const ENVS: [(&str, &str, &str); 3] = [
    ("dev", "k8s/overlays/dev", "gateway-dev"),
    ("staging", "k8s/overlays/staging", "gateway-staging"),
    ("production", "k8s/overlays/prod", "gateway-prod"),
];

/// Who comments, with the role the fake gives them.
const DANA: &str = "dana"; // maintain
const WALT: &str = "walt"; // write
const RITA: &str = "rita"; // read

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: gateway
spec:
  template:
    spec:
      containers:
        - name: gateway
          image: gateway
        - name: envoy
          image: envoyproxy/envoy
";

fn reference(image: &Image) -> String {
    format!("{IMAGE_NAME}:{}@{}", image.tag, image.digest)
}

fn env(name: &str) -> (&'static str, &'static str, &'static str) {
    *ENVS.iter().find(|e| e.0 == name).expect("environment")
}

fn overlay_file(name: &str) -> String {
    format!("{}/kustomization.yaml", env(name).1)
}

/// The overlay of `name` running `image`, byte for byte.
fn overlay(name: &str, image: &Image) -> String {
    format!(
        "# {name} overlay of the platform. ferry keeps the gateway current.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: platform-{name}

resources:
  - deployment.yaml

images:
  # The API gateway, built by CI on every merge.
  - name: gateway
    newName: {IMAGE_NAME}
    newTag: {}   # set by ferry
    digest: {}
  - name: envoyproxy/envoy
    newTag: \"v1.31.2\"
",
        image.tag, image.digest
    )
}

/// `text` with its one `# ferry:pin` line taken out, and that line.
fn split_pin(text: &str) -> (String, String) {
    let pins: Vec<&str> = text.lines().filter(|l| l.contains("ferry:pin")).collect();
    assert_eq!(pins.len(), 1, "one pin line: {text}");
    let pin = pins[0].to_string();
    let rest: String = text
        .split_inclusive('\n')
        .filter(|l| !l.contains("ferry:pin"))
        .collect();
    (rest, pin)
}

/// `overlay(name, image)` with `pin` on its own line above the gateway
/// entry: the only place `/ferry pin` may write it.
fn pinned_overlay(name: &str, image: &Image, pin: &str) -> String {
    overlay(name, image).replace(
        "  - name: gateway\n",
        &format!("{pin}\n  - name: gateway\n"),
    )
}

/// How CI left an image in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pushed {
    Good,
    Critical,
    Unsigned,
}

/// What came back for one command comment.
struct Answer {
    /// The command comment, as the fake holds it afterwards.
    comment: Comment,
    /// Its `html_url`, as the payload said.
    url: String,
    /// ferry's reply.
    reply: String,
}

impl Answer {
    fn reactions(&self) -> Vec<(String, String)> {
        self.comment
            .reactions
            .iter()
            .map(|r| (r.user.clone(), r.content.clone()))
            .collect()
    }

    fn assert_reactions(&self, last: &str) {
        assert_eq!(
            self.reactions(),
            [
                (FERRY.to_string(), "eyes".to_string()),
                (FERRY.to_string(), last.to_string())
            ],
            "{}",
            self.reply
        );
    }
}

/// The running ferry: the runner, the server in front of it.
struct Ferry {
    runner: Runner,
    stop: watch::Sender<bool>,
    addr: std::net::SocketAddr,
}

/// A GitOps repository (bare, on disk) with dev, staging and production
/// overlays, a local registry file, a signing key, a config, the fake
/// GitHub serving the repository, the fake Argo CD, and (after
/// [`Harness::start`]) ferry's runner and webhook server.
struct Harness {
    dir: tempfile::TempDir,
    signer: Signer,
    registry: Vec<String>,
    github: FakeGitHub,
    argo: FakeArgo,
    http: reqwest::Client,
    ferry: Option<Ferry>,
    deliveries: AtomicU64,
    // Last: everything above runs on it.
    rt: tokio::runtime::Runtime,
}

/// The tokens go in through the environment, as the config names them;
/// set once, before any test loads a config.
fn set_token_env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: every test calls this first, before any thread of this
        // binary reads the environment; the values never change.
        unsafe {
            std::env::set_var("FERRY_TEST_GITHUB_TOKEN", GITHUB_TOKEN);
            std::env::set_var("FERRY_TEST_ARGOCD_TOKEN", ARGO_TOKEN);
        }
    });
}

/// Polls `f` until it gives a value, failing after [`PATIENCE`].
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Harness {
    /// Every environment runs `initial`, Argo CD shows each of them
    /// running it at the initial commit; dana maintains, walt writes and
    /// rita reads.
    fn new(initial: &Image) -> Harness {
        set_token_env();
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (name, overlay_dir, _) in ENVS {
            files.push((overlay_file(name), overlay(name, initial).into_bytes()));
            files.push((
                format!("{overlay_dir}/deployment.yaml"),
                DEPLOYMENT.as_bytes().to_vec(),
            ));
        }
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice()))
            .collect();
        let author = Author {
            name: "Platform Team".into(),
            email: "platform@acme.test".into(),
        };
        init_bare_with(&dir.path().join("gitops.git"), &files, "main", &author).unwrap();

        let signer = Signer::generate().unwrap();
        std::fs::create_dir(dir.path().join("sigs")).unwrap();
        std::fs::write(dir.path().join("ci.pub"), signer.public_pem().unwrap()).unwrap();

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (github, argo) =
            rt.block_on(async { (FakeGitHub::start().await, FakeArgo::start(ARGO_TOKEN).await) });
        github.add_repo(REPO);
        github.add_token(GITHUB_TOKEN, FERRY);
        github.back_with_git(REPO, &dir.path().join("gitops.git"));
        github.set_role(REPO, DANA, "maintain");
        github.set_role(REPO, WALT, "write");
        github.set_role(REPO, RITA, "read");

        let config = format!(
            "gitops: {{repo: gitops.git, branch: main}}
registry: {{kind: local, path: registry.yaml}}
gates:
  scan: {{max: {{CRITICAL: 0, HIGH: 3}}}}
  signature: {{cosign_keys: [ci.pub]}}
argocd: {{url: \"{argo}\", token_env: FERRY_TEST_ARGOCD_TOKEN}}
forge:
  kind: github
  repository: {REPO}
  api_url: \"{github}\"
  token_env: FERRY_TEST_GITHUB_TOKEN
chatops: {{permission: write, environments: {{production: maintain}}}}
environments:
  - name: dev
    mode: commit
    argocd_app: \"{{app}}-dev\"
    soak: 0s
  - name: staging
    mode: pull_request
    after: dev
    argocd_app: \"{{app}}-staging\"
    soak: 0s
  - name: production
    mode: pull_request
    after: staging
    argocd_app: \"{{app}}-prod\"
    soak: 0s
apps:
  - name: gateway
    repository: llmplatform/gateway
    image: gateway
    tags: '^sha-[0-9a-f]{{7,40}}$'
    overlays: {{dev: {}, staging: {}, production: {}}}
",
            env("dev").1,
            env("staging").1,
            env("production").1,
            argo = argo.url,
            github = github.url,
        );
        std::fs::write(dir.path().join("ferry.yaml"), config).unwrap();

        let mut h = Harness {
            dir,
            signer,
            registry: Vec::new(),
            github,
            argo,
            http: reqwest::Client::new(),
            ferry: None,
            deliveries: AtomicU64::new(0),
            rt,
        };
        h.push_image(initial);
        let root = h.tip();
        for (name, _, _) in ENVS {
            h.argo_reports(name, root, initial);
        }
        h
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    // ---- ferry ------------------------------------------------------------

    /// A `Context` loaded from the config with the checkout cache `cache`.
    fn context(&self, cache: &str) -> Context {
        let config = self.path().join("ferry.yaml");
        let cache = self.path().join(format!("cache-{cache}"));
        self.rt
            .block_on(ferry::runner::context::load(&config, Some(&cache)))
            .unwrap()
    }

    /// Starts ferry: the runner on its own checkout (its first pass done
    /// before this returns) and the webhook server on a loopback port,
    /// forwarding to it. Resyncs are an hour apart: only the test triggers
    /// passes.
    fn start(&mut self) {
        let ctx = self.context("a");
        let scope = Scope {
            repository: REPO.into(),
            base_branch: ctx.workspace.branch().to_string(),
            identity: ctx
                .forge
                .as_ref()
                .map(|f| f.identity().to_string())
                .unwrap(),
        };
        assert_eq!(scope.identity, FERRY);
        let (stop, stopped) = watch::channel(false);
        let ferry = self.rt.block_on(async move {
            let runner = Runner::spawn(ctx, Duration::from_secs(3600), stopped.clone());
            let (tx, intake) = mpsc::channel(QUEUE);
            let state = ServerState::new(SECRET.to_vec(), 1 << 20, scope, tx).unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(ferry::server::forward(intake, runner.sender()));
            let mut stopped = stopped.clone();
            tokio::spawn(serve(listener, state, async move {
                let _ = stopped.wait_for(|s| *s).await;
            }));
            Ferry { runner, stop, addr }
        });
        self.ferry = Some(ferry);
        self.wait_passes(1);
    }

    fn ferry(&self) -> &Ferry {
        self.ferry.as_ref().expect("start first")
    }

    fn passes(&self) -> u64 {
        self.ferry().runner.status().borrow().passes
    }

    /// Waits until the runner has run `n` passes; the last one succeeded.
    fn wait_passes(&self, n: u64) {
        let status = self.ferry().runner.status();
        wait_for(&format!("pass {n}"), || {
            let s = status.borrow();
            (s.passes >= n).then_some(())
        });
        let s = status.borrow();
        let last = s.last_pass.as_ref().unwrap();
        assert_eq!(last.error, None, "the pass failed");
    }

    /// One resync pass of the runner, waited for.
    fn resync(&self) {
        let n = self.passes();
        self.send(Trigger::Resync);
        self.wait_passes(n + 1);
    }

    fn send(&self, t: Trigger) {
        let tx = self.ferry().runner.sender();
        self.rt.block_on(tx.send(t)).unwrap();
    }

    /// The runner's last plan entry for the gateway in `name`.
    fn planned_reason(&self, name: &str) -> Option<&'static str> {
        let status = self.ferry().runner.status();
        let s = status.borrow();
        let plan = s.plan.as_ref().expect("a plan");
        let entry = plan
            .entries
            .iter()
            .find(|e| e.app == "gateway" && e.env == name)
            .expect("an entry");
        entry.reason.as_ref().map(|w| w.code)
    }

    // ---- deliveries -------------------------------------------------------

    fn delivery_id(&self) -> String {
        let n = self.deliveries.fetch_add(1, Ordering::Relaxed);
        format!("72d3162e-cc78-11e3-81ab-{n:012x}")
    }

    /// POSTs `body` signed as GitHub signs it, with these headers; the
    /// status and the answer's text.
    fn post_raw(&self, event: &str, delivery: &str, body: &[u8]) -> (u16, String) {
        let url = format!("http://{}{WEBHOOK_PATH}", self.ferry().addr);
        let signature = ferry::server::signature::sign(SECRET, body);
        self.rt.block_on(async {
            let r = self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .header("x-github-event", event)
                .header("x-github-delivery", delivery)
                .header("x-hub-signature-256", signature)
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    /// Delivers `payload` as event `event` with a fresh delivery id.
    fn deliver(&self, event: &str, payload: &Value) -> (u16, String) {
        let body = serde_json::to_vec(payload).unwrap();
        self.post_raw(event, &self.delivery_id(), &body)
    }

    /// ferry's replies on issue `number`, oldest first.
    fn replies(&self, number: u64) -> Vec<String> {
        self.github
            .comments(REPO, number)
            .into_iter()
            .filter(|c| c.author == FERRY && c.body.starts_with('@'))
            .map(|c| c.body)
            .collect()
    }

    fn comment(&self, number: u64, id: u64) -> Comment {
        self.github
            .comments(REPO, number)
            .into_iter()
            .find(|c| c.id == id)
            .expect("the comment")
    }

    /// Delivers `payload` (a comment `post_comment` made on issue `number`)
    /// and waits until ferry replied and put its second reaction on it.
    fn answer(&self, number: u64, payload: &Value) -> Answer {
        let before = self.replies(number).len();
        let (status, text) = self.deliver("issue_comment", payload);
        assert_eq!(status, 202, "{text}");
        let id = payload["comment"]["id"].as_u64().unwrap();
        let comment = wait_for("ferry's reply and reactions", || {
            let c = self.comment(number, id);
            (self.replies(number).len() > before && c.reactions.len() >= 2).then_some(c)
        });
        let replies = self.replies(number);
        assert_eq!(replies.len(), before + 1, "one reply: {replies:#?}");
        Answer {
            comment,
            url: payload["comment"]["html_url"].as_str().unwrap().to_string(),
            reply: replies[before].clone(),
        }
    }

    /// `login` comments `body` on issue `number`; ferry's answer.
    fn command(&self, number: u64, login: &str, body: &str) -> Answer {
        let payload = self.github.post_comment(REPO, number, login, body);
        self.answer(number, &payload)
    }

    /// A `/ferry help` by walt, answered: every comment delivered before it
    /// has been handled.
    fn sentinel(&self, number: u64) -> Answer {
        let a = self.command(number, WALT, "/ferry help");
        assert!(a.reply.contains("> /ferry help"), "{}", a.reply);
        a
    }

    fn issue(&self) -> u64 {
        self.github.add_issue(REPO, "ops", DANA)
    }

    // ---- the registry -----------------------------------------------------

    fn push_image(&mut self, image: &Image) {
        self.push_as(image, Pushed::Good);
    }

    fn push_as(&mut self, image: &Image, how: Pushed) {
        let digest = ferry::image::Digest::parse(&image.digest).unwrap();
        let signature = match how {
            Pushed::Unsigned => String::new(),
            Pushed::Good | Pushed::Critical => {
                let r = format!("{IMAGE_NAME}:{}", image.tag);
                let SignatureEvidence::SimpleSigning {
                    payload,
                    signature_b64,
                } = self.signer.sign_simple(&r, &digest).unwrap()
                else {
                    unreachable!("simple signing")
                };
                std::fs::write(self.path().join(format!("sigs/{}", digest.hex())), payload)
                    .unwrap();
                format!(
                    "{{payload: sigs/{}, signature: \"{signature_b64}\"}}",
                    digest.hex()
                )
            }
        };
        let scan = match how {
            Pushed::Critical => "{status: COMPLETE, findings: {CRITICAL: 7, HIGH: 1}}",
            _ => "{status: COMPLETE, findings: {HIGH: 1}}",
        };
        let n = self.registry.len();
        self.registry.push(format!(
            "      - {{digest: {}, tags: [{}], pushed_at: \"2026-11-26T10:00:{n:02}Z\", scan: {scan}, signatures: [{signature}]}}\n",
            image.digest, image.tag,
        ));
        let text = format!(
            "repositories:\n  llmplatform/gateway:\n    images:\n{}",
            self.registry.concat()
        );
        ferry::atomic::write(&self.path().join("registry.yaml"), text.as_bytes()).unwrap();
    }

    // ---- Argo CD ----------------------------------------------------------

    fn argo_reports(&self, name: &str, revision: Oid, image: &Image) {
        let mut app = corpus_app("06_");
        *at(&mut app, "metadata.name") = json!(env(name).2);
        for path in [
            "status.sync.revision",
            "status.operationState.operation.sync.revision",
            "status.operationState.syncResult.revision",
        ] {
            *at(&mut app, path) = json!(revision.to_string());
        }
        *at(&mut app, "status.sync.status") = json!("Synced");
        *at(&mut app, "status.operationState.phase") = json!("Succeeded");
        *at(&mut app, "status.health.status") = json!("Healthy");
        *at(&mut app, "status.summary.images") = json!([reference(image), ENVOY]);
        self.argo.put(env(name).2, app);
    }

    // ---- git --------------------------------------------------------------

    fn git(&self) -> Repository {
        Repository::open_bare(self.path().join("gitops.git")).unwrap()
    }

    fn tip(&self) -> Oid {
        self.branch("main").unwrap()
    }

    fn branch(&self, name: &str) -> Option<Oid> {
        let repo = self.git();
        let r = repo.find_reference(&format!("refs/heads/{name}")).ok()?;
        Some(r.peel_to_commit().unwrap().id())
    }

    fn file_at(&self, commit: Oid, path: &str) -> String {
        let repo = self.git();
        let tree = repo.find_commit(commit).unwrap().tree().unwrap();
        let entry = tree.get_path(Path::new(path)).unwrap();
        let blob = repo.find_blob(entry.id()).unwrap();
        String::from_utf8(blob.content().to_vec()).unwrap()
    }

    /// The overlay of `name` on main's tip.
    fn overlay_now(&self, name: &str) -> String {
        self.file_at(self.tip(), &overlay_file(name))
    }

    fn message(&self, commit: Oid) -> String {
        let repo = self.git();
        let c = repo.find_commit(commit).unwrap();
        c.message().unwrap().to_string()
    }

    fn parents(&self, commit: Oid) -> Vec<Oid> {
        self.git()
            .find_commit(commit)
            .unwrap()
            .parent_ids()
            .collect()
    }

    /// Commits on main after `base`, oldest first (main is linear).
    fn commits_since(&self, base: Oid) -> Vec<Oid> {
        let mut out = Vec::new();
        let mut at = self.tip();
        while at != base {
            out.push(at);
            at = *self.parents(at).first().expect("base is an ancestor");
        }
        out.reverse();
        out
    }

    /// Files `commit` changes against its first parent.
    fn changed_files(&self, commit: Oid) -> Vec<String> {
        let repo = self.git();
        let c = repo.find_commit(commit).unwrap();
        let parent = c.parent(0).unwrap().tree().unwrap();
        let diff = repo
            .diff_tree_to_tree(Some(&parent), Some(&c.tree().unwrap()), None)
            .unwrap();
        diff.deltas()
            .map(|d| d.new_file().path().unwrap().display().to_string())
            .collect()
    }

    /// Someone commits `image` into the overlay of `name` on main by hand.
    fn edit_by_hand(&self, name: &str, image: &Image) -> Oid {
        let repo = self.git();
        let parent = repo.find_commit(self.tip()).unwrap();
        let blob = repo.blob(overlay(name, image).as_bytes()).unwrap();
        let mut update = git2::build::TreeUpdateBuilder::new();
        update.upsert(overlay_file(name), blob, git2::FileMode::Blob);
        let tree = update
            .create_updated(&repo, &parent.tree().unwrap())
            .unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let sig = git2::Signature::now("Dana Oncall", "dana@acme.test").unwrap();
        repo.commit(
            Some("refs/heads/main"),
            &sig,
            &sig,
            &format!("{name}: gateway {} by hand\n", image.tag),
            &tree,
            &[&parent],
        )
        .unwrap()
    }

    /// `body` is commented by dana and delivered while `other` (a second
    /// process's context) passes on a thread of its own and this runner
    /// is asked to pass too; returns `other` and ferry's reply, once the
    /// command, this runner's pass and the other pass are done.
    fn race(&self, mut other: Context, issue: u64, body: &str) -> (Context, String) {
        let replies = self.replies(issue).len();
        let payload = self.github.post_comment(REPO, issue, DANA, body);
        let passes = self.passes();
        let go = std::sync::Arc::new(std::sync::Barrier::new(2));
        let ready = go.clone();
        let second = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            ready.wait();
            let result = rt.block_on(other.run_pass()).map(|_| ());
            (other, result)
        });
        go.wait();
        let (status, text) = self.deliver("issue_comment", &payload);
        assert_eq!(status, 202, "{text}");
        self.send(Trigger::Resync);
        let (other, result) = second.join().unwrap();
        result.expect("the second process's pass");
        let reply = wait_for("the reply", || {
            let r = self.replies(issue);
            (r.len() > replies).then(|| r[replies].clone())
        });
        self.wait_passes(passes + 1);
        (other, reply)
    }

    /// Requests to the fake GitHub that change something, after `mark`.
    fn writes_since(&self, mark: usize) -> Vec<String> {
        self.github.requests()[mark..]
            .iter()
            .filter(|r| !r.starts_with("GET "))
            .cloned()
            .collect()
    }

    fn mark(&self) -> usize {
        self.github.requests().len()
    }
}

impl Drop for Harness {
    /// Stops the server and the runner (after what is in flight) before
    /// the runtime they run on goes.
    fn drop(&mut self) {
        if let Some(f) = self.ferry.take() {
            let _ = f.stop.send(true);
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(PATIENCE, f.runner.join()).await });
        }
    }
}

/// The `key` trailers of `message`.
fn trailers<'m>(message: &'m str, key: &str) -> Vec<&'m str> {
    message
        .lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
        .collect()
}

fn trailer<'m>(message: &'m str, key: &str) -> &'m str {
    let t = trailers(message, key);
    assert_eq!(t.len(), 1, "one {key} in {message}");
    t[0]
}

/// The one commit on main after `base`.
fn one_commit(h: &Harness, base: Oid) -> Oid {
    let commits = h.commits_since(base);
    assert_eq!(commits.len(), 1, "exactly one commit: {commits:?}");
    commits[0]
}

/// Checks a `/ferry` commit's common trailers.
fn assert_requested(message: &str, command: &str, login: &str, answer: &Answer) {
    assert_eq!(trailer(message, "Ferry-Command"), command, "{message}");
    assert_eq!(trailer(message, "Ferry-Requested-By"), login, "{message}");
    assert_eq!(trailer(message, "Ferry-Comment"), answer.url, "{message}");
    assert_eq!(trailer(message, "Ferry-App"), "gateway", "{message}");
}

// ── 1. revert ─────────────────────────────────────────────────────────────

#[test]
fn a_maintainer_reverts_production_and_it_stays_pinned() {
    let v0 = Image::new("sha-1111111");
    let v1 = Image::new("sha-aaaaaaa");
    let v2 = Image::new("sha-bbbbbbb");
    let mut h = Harness::new(&v0);
    h.push_image(&v1);
    let brought = h.edit_by_hand("production", &v1);
    h.start();
    let issue = h.issue();

    let before = h.tip();
    let old = h.overlay_now("production");
    assert_eq!(old, overlay("production", &v1));
    let a = h.command(issue, DANA, "/ferry revert gateway production");
    let commit = one_commit(&h, before);
    assert_eq!(h.changed_files(commit), [overlay_file("production")]);
    let message = h.message(commit);
    assert_requested(&message, "revert", DANA, &a);
    assert_eq!(trailer(&message, "Ferry-Env"), "production");
    assert_eq!(
        trailer(&message, "Ferry-Reverts"),
        brought.to_string(),
        "the commit that brought sha-aaaaaaa"
    );
    assert_eq!(trailer(&message, "Ferry-Digest"), v0.digest);

    // Only newTag and digest changed, and one pin line came in.
    let new = h.file_at(commit, &overlay_file("production"));
    let (rest, pin) = split_pin(&new);
    let (old_lines, rest_lines): (Vec<&str>, Vec<&str>) =
        (old.lines().collect(), rest.lines().collect());
    assert_eq!(old_lines.len(), rest_lines.len(), "{new}");
    let changed: Vec<(&str, &str)> = old_lines
        .iter()
        .zip(&rest_lines)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (*a, *b))
        .collect();
    assert_eq!(
        changed,
        [
            (
                "    newTag: sha-aaaaaaa   # set by ferry",
                "    newTag: sha-1111111   # set by ferry"
            ),
            (
                format!("    digest: {}", v1.digest).as_str(),
                format!("    digest: {}", v0.digest).as_str()
            ),
        ]
    );
    assert_eq!(
        new,
        pinned_overlay("production", &v0, &pin),
        "byte for byte"
    );
    assert!(
        pin.starts_with(&format!("  # ferry:pin by={DANA} at=20")),
        "{pin}"
    );
    assert!(pin.contains(&format!("reason=\"revert by {DANA}")), "{pin}");
    assert_eq!(
        common::rendered_images(&new, DEPLOYMENT),
        [reference(&v0), ENVOY.to_string()],
        "kubectl kustomize renders the previous image"
    );

    assert!(
        a.reply
            .contains("> /ferry revert gateway production\n\n**Done.**"),
        "{}",
        a.reply
    );
    assert!(a.reply.contains(&commit.to_string()), "{}", a.reply);
    assert!(a.reply.starts_with(&format!("@{DANA}\n")), "{}", a.reply);
    a.assert_reactions("+1");

    // The same revert again (a second operator, a retyped command): it
    // would go back past the pin, to the image just reverted. Refused.
    let again = h.command(issue, DANA, "/ferry revert gateway production");
    assert_eq!(h.tip(), commit, "nothing written");
    assert!(
        again.reply.contains("is pinned by") && again.reply.contains("to TAG"),
        "{}",
        again.reply
    );
    again.assert_reactions("confused");
    assert_eq!(h.overlay_now("production"), new);

    // Upstream proves a newer image: staging runs sha-bbbbbbb, healthy.
    // Production stays where the revert put it, through two passes.
    h.push_image(&v2);
    h.edit_by_hand("staging", &v2);
    h.argo_reports("staging", h.tip(), &v2);
    for _ in 0..2 {
        h.resync();
        assert_eq!(h.overlay_now("production"), new, "pinned");
        assert_eq!(h.planned_reason("production"), Some("pinned"));
        assert_eq!(h.branch("ferry/production/gateway"), None, "no PR branch");
        assert!(
            h.github
                .pulls(REPO)
                .iter()
                .all(|p| !p.head.starts_with("ferry/production/")),
            "{:#?}",
            h.github.pulls(REPO)
        );
    }
    // The passes ran: dev took the new image meanwhile.
    assert_eq!(h.overlay_now("dev"), overlay("dev", &v2));
}

/// `revert` must not be blocked by a scan finding (it is the emergency
/// exit), but never goes back to an image without a trusted signature.
#[test]
fn a_revert_lets_a_scan_finding_through_but_never_a_missing_signature() {
    let v0 = Image::new("sha-1111111");
    let v1 = Image::new("sha-aaaaaaa");
    for (how, allowed) in [(Pushed::Critical, true), (Pushed::Unsigned, false)] {
        let mut h = Harness::new(&v0);
        // The registry now says this of the image production ran before.
        h.registry.clear();
        h.push_as(&v0, how);
        h.push_image(&v1);
        h.edit_by_hand("production", &v1);
        h.start();
        let issue = h.issue();
        let body = "/ferry revert gateway production";
        if allowed {
            let before = h.tip();
            let a = h.command(issue, DANA, body);
            a.assert_reactions("+1");
            one_commit(&h, before);
            let (rest, _) = split_pin(&h.overlay_now("production"));
            assert_eq!(rest, overlay("production", &v0), "{how:?}");
            assert!(a.reply.contains("CRITICAL=7"), "{how:?}: {}", a.reply);
        } else {
            assert_refused(&h, issue, DANA, body, &["signature does not pass"]);
            assert_eq!(h.overlay_now("production"), overlay("production", &v1));
        }
    }
}

// ── 2. refusals ───────────────────────────────────────────────────────────

/// A command refused: a reply saying why (each of `says`), a confused
/// reaction, and nothing written but the reply and the reactions.
fn assert_refused(h: &Harness, issue: u64, login: &str, body: &str, says: &[&str]) {
    let before = h.tip();
    let mark = h.mark();
    let a = h.command(issue, login, body);
    assert_eq!(h.tip(), before, "{body}: main unchanged");
    let quoted = format!("> {}\n\n**Not done.**", body.lines().next().unwrap());
    assert!(a.reply.contains(&quoted), "{body}: {}", a.reply);
    for s in says {
        assert!(a.reply.contains(s), "{body}: {s:?} not in {}", a.reply);
    }
    a.assert_reactions("confused");
    let writes = h.writes_since(mark);
    let id = a.comment.id;
    assert_eq!(
        writes,
        [
            format!("POST /repos/{REPO}/issues/comments/{id}/reactions"),
            format!("POST /repos/{REPO}/issues/{issue}/comments"),
            format!("POST /repos/{REPO}/issues/comments/{id}/reactions"),
        ],
        "{body}: only the reply and the reactions"
    );
}

#[test]
fn refused_commands_write_nothing() {
    let v0 = Image::new("sha-1111111");
    let mut h = Harness::new(&v0);
    h.start();
    let issue = h.issue();
    let pinned = "/ferry pin gateway dev";

    assert_refused(
        &h,
        issue,
        RITA,
        "/ferry unpin gateway dev",
        &["this needs the write role; yours is read"],
    );
    assert_refused(
        &h,
        issue,
        WALT,
        "/ferry revert gateway production",
        &["this needs the maintain role; yours is write"],
    );
    assert_refused(
        &h,
        issue,
        WALT,
        "/ferry pin nope dev",
        &[
            "Unknown app `nope`; apps: `gateway`",
            "Usage:\n```\n/ferry pin APP ENV",
        ],
    );
    assert_refused(
        &h,
        issue,
        WALT,
        "/ferry unpin gateway qa",
        &[
            "Unknown environment `qa`; environments: `dev`, `staging`, `production`",
            "Usage:\n```\n/ferry unpin APP ENV",
        ],
    );
    assert_refused(
        &h,
        issue,
        WALT,
        "/ferry pin gateway",
        &["pin: missing ENV.", "Usage:\n```\n/ferry pin APP ENV"],
    );
    assert_refused(
        &h,
        issue,
        WALT,
        "/ferry frobnicate gateway",
        &["unknown command", "Usage:\n```\n"],
    );
    // The role cannot be read: refused, whatever the role would be.
    h.github.set_role(REPO, "pat", "admin");
    h.github.fail_permission(REPO, "pat", 500);
    h.github.set_role(REPO, "nina", "admin");
    h.github.fail_permission(REPO, "nina", 404);
    for login in ["pat", "nina"] {
        assert_refused(
            &h,
            issue,
            login,
            pinned,
            &["your role could not be checked with GitHub"],
        );
    }
    // A login GitHub gives no role on the repository.
    assert_refused(&h, issue, "ghost", pinned, &["yours is none"]);
}

// ── 3. ignored comments ───────────────────────────────────────────────────

#[test]
fn ignored_comments_get_nothing() {
    let v0 = Image::new("sha-1111111");
    let mut h = Harness::new(&v0);
    h.start();
    let issue = h.issue();
    h.github.add_repo("acme/other");
    let elsewhere = h.github.add_issue("acme/other", "ops", DANA);
    let before = h.tip();
    let mark = h.mark();
    let cmd = "/ferry pin gateway dev";

    let mut ignored = Vec::new();
    let mut edited = h.github.post_comment(REPO, issue, DANA, cmd);
    edited["action"] = json!("edited");
    ignored.push(("edited", edited, 200));
    let mut by_bot = h.github.post_comment(REPO, issue, DANA, cmd);
    by_bot["sender"]["type"] = json!("Bot");
    ignored.push(("sender is a bot", by_bot, 200));
    h.github.set_role(REPO, "renovate[bot]", "admin");
    let bot_login = h.github.post_comment(REPO, issue, "renovate[bot]", cmd);
    ignored.push(("[bot] login", bot_login, 200));
    let own = h.github.post_comment(REPO, issue, FERRY, cmd);
    ignored.push(("ferry itself", own, 200));
    let other = h.github.post_comment("acme/other", elsewhere, DANA, cmd);
    ignored.push(("another repository", other, 200));
    let fenced = h.github.post_comment(
        REPO,
        issue,
        DANA,
        &format!("Try this:\n\n```\n{cmd}\n```\n"),
    );
    ignored.push(("fenced code", fenced, 202));
    let quoted = h.github.post_comment(
        REPO,
        issue,
        DANA,
        &format!("> {cmd}\n\nI would not do that."),
    );
    ignored.push(("quoted", quoted, 202));

    for (what, payload, want) in &ignored {
        let (status, text) = h.deliver("issue_comment", payload);
        assert_eq!(status, *want, "{what}: {text}");
        if *want == 200 {
            assert!(text.contains("\"ignored\""), "{what}: {text}");
        }
    }
    let sentinel = h.sentinel(issue);
    assert_eq!(h.tip(), before, "nothing written");
    assert_eq!(
        h.replies(issue),
        [sentinel.reply.as_str()],
        "one reply only"
    );
    for (what, payload, _) in &ignored {
        let id = payload["comment"]["id"].as_u64().unwrap();
        let number = payload["issue"]["number"].as_u64().unwrap();
        let full = payload["repository"]["full_name"].as_str().unwrap();
        let c = h
            .github
            .comments(full, number)
            .into_iter()
            .find(|c| c.id == id)
            .unwrap();
        assert!(c.reactions.is_empty(), "{what}: {:?}", c.reactions);
    }
    assert!(
        h.github
            .comments("acme/other", elsewhere)
            .iter()
            .all(|c| c.author != FERRY)
    );
    let id = sentinel.comment.id;
    assert_eq!(
        h.writes_since(mark),
        [
            format!("POST /repos/{REPO}/issues/comments/{id}/reactions"),
            format!("POST /repos/{REPO}/issues/{issue}/comments"),
            format!("POST /repos/{REPO}/issues/comments/{id}/reactions"),
        ],
        "only the sentinel was answered"
    );
}

// ── 4. pin and unpin ──────────────────────────────────────────────────────

#[test]
fn pin_and_unpin_commit_once_and_are_idempotent() {
    let v0 = Image::new("sha-1111111");
    let unsigned = Image::new("sha-0000dea");
    let critical = Image::new("sha-c0ffee0");
    let mut h = Harness::new(&v0);
    h.start();
    let issue = h.issue();

    let before = h.tip();
    let a = h.command(issue, WALT, "/ferry pin gateway dev -- load test at noon");
    let commit = one_commit(&h, before);
    let message = h.message(commit);
    assert_requested(&message, "pin", WALT, &a);
    assert_eq!(trailer(&message, "Ferry-Env"), "dev");
    let text = h.overlay_now("dev");
    let (_, pin) = split_pin(&text);
    assert!(
        pin.starts_with(&format!("  # ferry:pin by={WALT} at=20"))
            && pin.ends_with(" reason=\"load test at noon\""),
        "{pin}"
    );
    assert_eq!(text, pinned_overlay("dev", &v0, &pin));
    assert!(a.reply.contains(&commit.to_string()), "{}", a.reply);
    a.assert_reactions("+1");

    let a = h.command(issue, WALT, "/ferry pin gateway dev -- load test at noon");
    assert_eq!(h.tip(), commit, "a second pin commits nothing");
    assert!(a.reply.contains("already"), "{}", a.reply);
    a.assert_reactions("+1");

    let a = h.command(issue, WALT, "/ferry unpin gateway dev");
    let unpinned = one_commit(&h, commit);
    let message = h.message(unpinned);
    assert_requested(&message, "unpin", WALT, &a);
    assert_eq!(
        h.overlay_now("dev"),
        overlay("dev", &v0),
        "as before the pin"
    );
    a.assert_reactions("+1");

    let a = h.command(issue, WALT, "/ferry unpin gateway dev");
    assert_eq!(h.tip(), unpinned, "a second unpin commits nothing");
    assert!(a.reply.contains("not pinned; nothing to do"), "{}", a.reply);

    // Pinning to an image the gates refuse writes nothing.
    h.push_as(&unsigned, Pushed::Unsigned);
    h.push_as(&critical, Pushed::Critical);
    for (image, code) in [(&unsigned, "unsigned"), (&critical, "scan_budget")] {
        let body = format!("/ferry pin gateway dev {}", image.tag);
        assert_refused(&h, issue, WALT, &body, &["does not pass the gates", code]);
    }
    assert_eq!(h.overlay_now("dev"), overlay("dev", &v0));

    // Pinning to an image that passes sets it and pins it, in one commit;
    // `status` shows the pin.
    let good = Image::new("sha-9009009");
    h.push_image(&good);
    let before = h.tip();
    let a = h.command(issue, WALT, "/ferry pin gateway dev sha-9009009 -- hold");
    let commit = one_commit(&h, before);
    let message = h.message(commit);
    assert_requested(&message, "pin", WALT, &a);
    assert_eq!(trailer(&message, "Ferry-Image"), reference(&good));
    let text = h.overlay_now("dev");
    let (_, pin) = split_pin(&text);
    assert!(pin.ends_with(" reason=\"hold\""), "{pin}");
    assert_eq!(text, pinned_overlay("dev", &good, &pin));
    let a = h.command(issue, RITA, "/ferry status gateway");
    a.assert_reactions("+1");
    let row = a
        .reply
        .lines()
        .find(|l| l.starts_with("| gateway | dev |"))
        .unwrap_or_else(|| panic!("{}", a.reply));
    assert!(
        row.contains("| sha-9009009 |") && row.contains(&format!("by {WALT}: hold")),
        "{row}"
    );

    // Two commands in one comment: each runs on its own, one reply
    // answers both, and the refusal makes the reaction confused.
    let before = h.tip();
    let a = h.command(
        issue,
        WALT,
        "Rolling this back.\n/ferry unpin gateway dev\n/ferry revert gateway production\n",
    );
    let commit = one_commit(&h, before);
    assert_eq!(trailer(&h.message(commit), "Ferry-Command"), "unpin");
    assert_eq!(h.overlay_now("dev"), overlay("dev", &good));
    assert!(
        a.reply.contains("> /ferry unpin gateway dev\n\n**Done.**")
            && a.reply
                .contains("> /ferry revert gateway production\n\n**Not done.**"),
        "{}",
        a.reply
    );
    a.assert_reactions("confused");
}

// ── 5. promote ────────────────────────────────────────────────────────────

#[test]
fn promote_commits_to_a_commit_env_and_proposes_to_a_pull_request_env() {
    let v0 = Image::new("sha-1111111");
    let v1 = Image::new("sha-aaaaaaa");
    let unsigned = Image::new("sha-0000dea");
    let mut h = Harness::new(&v0);
    h.start();
    let issue = h.issue();
    h.push_image(&v1);
    h.push_as(&unsigned, Pushed::Unsigned);

    let before = h.tip();
    let a = h.command(issue, WALT, "/ferry promote gateway sha-aaaaaaa to dev");
    let commit = one_commit(&h, before);
    assert_eq!(h.changed_files(commit), [overlay_file("dev")]);
    let message = h.message(commit);
    assert_requested(&message, "promote", WALT, &a);
    assert_eq!(
        trailer(&message, "Ferry-Image"),
        reference(&v1),
        "{message}"
    );
    assert_eq!(h.overlay_now("dev"), overlay("dev", &v1));
    a.assert_reactions("+1");

    // Staging: Argo CD has not seen dev run it yet, so not proven.
    let a = h.command(issue, WALT, "/ferry promote gateway sha-aaaaaaa to staging");
    assert_eq!(h.tip(), commit, "a pull request, not a commit on main");
    let pulls = h.github.pulls(REPO);
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let pr = &pulls[0];
    assert!(pr.open);
    assert_eq!(pr.head, "ferry/staging/gateway");
    assert_eq!(pr.author, FERRY);
    let body = pr.body.clone().unwrap();
    assert!(body.contains(&format!("@{WALT} asked")), "{body}");
    assert!(body.contains(&a.url), "{body}");
    assert!(body.contains("not yet proven"), "{body}");
    let branch = h.branch("ferry/staging/gateway").unwrap();
    assert_eq!(
        h.file_at(branch, &overlay_file("staging")),
        overlay("staging", &v1)
    );
    assert!(a.reply.contains(&format!("#{}", pr.number)), "{}", a.reply);
    a.assert_reactions("+1");

    assert_refused(
        &h,
        issue,
        WALT,
        "/ferry promote gateway sha-0000dea to dev",
        &["does not pass the gates", "unsigned"],
    );
    assert_eq!(h.github.pulls(REPO).len(), 1);

    // The same promote again points at the open PR and rewrites nothing.
    let writes = h.mark();
    let again = h.command(issue, WALT, "/ferry promote gateway sha-aaaaaaa to staging");
    again.assert_reactions("+1");
    assert!(again.reply.contains("already proposes"), "{}", again.reply);
    assert!(
        h.writes_since(writes).iter().all(|w| !w.contains("/pulls")),
        "no PR write: {:#?}",
        h.writes_since(writes)
    );
    assert_eq!(h.branch("ferry/staging/gateway"), Some(branch));

    // A pinned environment refuses promote: the pin says "leave it".
    h.command(issue, WALT, "/ferry pin gateway dev -- freeze")
        .assert_reactions("+1");
    h.push_image(&Image::new("sha-bbbbbbb"));
    let pinned_tip = h.tip();
    assert_refused(
        &h,
        issue,
        WALT,
        "/ferry promote gateway sha-bbbbbbb to dev",
        &["is pinned by", "unpin it first"],
    );
    assert_eq!(h.tip(), pinned_tip);

    // A command on the pull request is answered there.
    let before = h.replies(pr.number).len();
    let a = h.command(pr.number, RITA, "/ferry status");
    a.assert_reactions("+1");
    assert_eq!(h.replies(pr.number).len(), before + 1);
    assert!(a.url.contains(&format!("/pull/{}", pr.number)), "{}", a.url);
    assert!(
        a.reply.contains(&format!("[#{}](", pr.number)),
        "status links the open PR: {}",
        a.reply
    );
}

/// `promote` to a pull-request environment says "not yet proven" about
/// the image asked for, even when upstream has proven another one.
#[test]
fn promote_of_an_unproven_image_says_so_while_upstream_proved_another() {
    let v0 = Image::new("sha-1111111");
    let v1 = Image::new("sha-aaaaaaa");
    let v2 = Image::new("sha-bbbbbbb");
    let mut h = Harness::new(&v0);
    h.push_image(&v1);
    h.push_image(&v2);
    // The first pass moves dev straight to sha-bbbbbbb; dev never runs
    // sha-aaaaaaa. Argo CD then shows dev healthy on sha-bbbbbbb.
    h.start();
    assert_eq!(h.overlay_now("dev"), overlay("dev", &v2));
    h.argo_reports("dev", h.tip(), &v2);
    let issue = h.issue();
    let a = h.command(issue, WALT, "/ferry promote gateway sha-aaaaaaa to staging");
    a.assert_reactions("+1");
    let pulls = h.github.pulls(REPO);
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let branch = h.branch("ferry/staging/gateway").unwrap();
    assert_eq!(
        h.file_at(branch, &overlay_file("staging")),
        overlay("staging", &v1),
        "the image asked for is proposed"
    );
    let body = pulls[0].body.clone().unwrap();
    assert!(
        !body.contains("upstream has proven it"),
        "dev never ran sha-aaaaaaa: {body}"
    );
    assert!(body.contains("not yet proven"), "{body}");
    assert!(a.reply.contains("not yet proven"), "{}", a.reply);
}

// ── 6. the corpus ─────────────────────────────────────────────────────────

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/github-webhooks")
}

#[test]
fn every_corpus_payload_is_answered_and_foreign_comments_write_nothing() {
    let v0 = Image::new("sha-1111111");
    let mut h = Harness::new(&v0);
    h.start();
    let issue = h.issue();
    let before = h.tip();
    let mark = h.mark();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let mut comments = 0;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let event = name
            .split_once("X-GitHub-Event=")
            .and_then(|(_, rest)| rest.split_once("_action"))
            .map(|(e, _)| e.to_string())
            .unwrap_or_else(|| panic!("no event in {name}"));
        let body = std::fs::read(file).unwrap();
        let payload: Value = serde_json::from_slice(&body).unwrap();
        let (status, text) = h.post_raw(&event, &h.delivery_id(), &body);
        assert!((200..300).contains(&status), "{name}: {status} {text}");
        if event == "issue_comment" {
            assert_ne!(payload["repository"]["full_name"], REPO, "{name}");
            comments += 1;
        }
    }
    assert!(comments >= 4, "{comments}");
    let sentinel = h.sentinel(issue);
    assert_eq!(h.tip(), before, "nothing written");
    let id = sentinel.comment.id;
    assert_eq!(
        h.writes_since(mark),
        [
            format!("POST /repos/{REPO}/issues/comments/{id}/reactions"),
            format!("POST /repos/{REPO}/issues/{issue}/comments"),
            format!("POST /repos/{REPO}/issues/comments/{id}/reactions"),
        ],
        "no corpus comment was answered"
    );
}

// ── 7. a command and passes racing ────────────────────────────────────────

#[test]
fn a_command_racing_passes_in_two_processes_loses_nothing() {
    let v0 = Image::new("sha-1111111");
    let mut h = Harness::new(&v0);
    h.start();
    let issue = h.issue();
    let mut other = Some(h.context("b"));
    let production = overlay_file("production");
    let dev = overlay_file("dev");
    let tags = ["sha-aaaaaaa", "sha-bbbbbbb", "sha-ccccccc"];
    for (round, tag) in tags.into_iter().enumerate() {
        let image = Image::new(tag);
        h.push_image(&image);
        let pin = round % 2 == 0;
        let verb = if pin { "pin" } else { "unpin" };
        let before = h.tip();
        let ctx = other.take().unwrap();
        let (ctx, reply) = h.race(ctx, issue, &format!("/ferry {verb} gateway production"));
        other = Some(ctx);

        let commits = h.commits_since(before);
        let moving_dev: Vec<&Oid> = commits
            .iter()
            .filter(|c| h.changed_files(**c).contains(&dev))
            .collect();
        assert_eq!(moving_dev.len(), 1, "round {round}: {commits:?}");
        let by_command: Vec<&Oid> = commits
            .iter()
            .filter(|c| trailers(&h.message(**c), "Ferry-Command") == [verb])
            .collect();
        assert_eq!(by_command.len(), 1, "round {round}: {commits:?}");
        assert_eq!(
            h.changed_files(*by_command[0]),
            [production.as_str()],
            "round {round}"
        );
        assert_eq!(commits.len(), 2, "round {round}: nothing else");
        // Both changes are on main: no lost update.
        assert_eq!(
            h.overlay_now("dev"),
            overlay("dev", &image),
            "round {round}"
        );
        let now = h.overlay_now("production");
        assert_eq!(now.contains("ferry:pin"), pin, "round {round}: {now}");
        assert!(reply.contains("**Done.**"), "round {round}: {reply}");
    }
}

/// A pin of dev races passes that move dev (here and in a second
/// process): whichever wins, a pinned overlay is never moved afterwards,
/// and a pin that lost says so and writes nothing.
#[test]
fn a_pin_racing_passes_that_move_the_same_overlay_never_moves_a_pin() {
    let v0 = Image::new("sha-1111111");
    let mut h = Harness::new(&v0);
    h.start();
    let issue = h.issue();
    let mut other = Some(h.context("b"));
    let dev = overlay_file("dev");
    let mut was = v0.clone();
    for (round, tag) in ["sha-aaaaaaa", "sha-bbbbbbb", "sha-ccccccc"]
        .into_iter()
        .enumerate()
    {
        if h.overlay_now("dev").contains("ferry:pin") {
            let a = h.command(issue, WALT, "/ferry unpin gateway dev");
            a.assert_reactions("+1");
        }
        let image = Image::new(tag);
        h.push_image(&image);
        let before = h.tip();
        let ctx = other.take().unwrap();
        let (ctx, reply) = h.race(ctx, issue, "/ferry pin gateway dev -- race");
        other = Some(ctx);
        let commits = h.commits_since(before);
        let pins: Vec<usize> = (0..commits.len())
            .filter(|i| trailers(&h.message(commits[*i]), "Ferry-Command") == ["pin"])
            .collect();
        let moves: Vec<usize> = (0..commits.len())
            .filter(|i| trailers(&h.message(commits[*i]), "Ferry-Command").is_empty())
            .collect();
        for c in &commits {
            assert_eq!(h.changed_files(*c), [dev.as_str()], "round {round}");
        }
        assert!(moves.len() <= 1, "round {round}: {commits:?}");
        let now = h.overlay_now("dev");
        match pins.as_slice() {
            [] => {
                // The pass won and moved dev; the pin saw it and wrote
                // nothing.
                assert!(reply.contains("**Not done.**"), "round {round}: {reply}");
                assert!(
                    reply.contains("changed meanwhile"),
                    "round {round}: {reply}"
                );
                assert_eq!(now, overlay("dev", &image), "round {round}");
            }
            [p] => {
                assert!(reply.contains("**Done.**"), "round {round}: {reply}");
                assert!(
                    moves.iter().all(|m| m < p),
                    "round {round}: a pass moved dev after the pin: {commits:?}"
                );
                let pinned_at = if moves.is_empty() { &was } else { &image };
                let (_, pin) = split_pin(&now);
                assert_eq!(now, pinned_overlay("dev", pinned_at, &pin), "round {round}");
            }
            more => panic!("round {round}: {} pin commits", more.len()),
        }
        was = if now.contains(&image.digest) {
            image
        } else {
            was
        };
    }
}

// ── 8. a redelivery ───────────────────────────────────────────────────────

#[test]
fn a_redelivered_comment_is_handled_once() {
    let v0 = Image::new("sha-1111111");
    let mut h = Harness::new(&v0);
    h.start();
    let issue = h.issue();
    let before = h.tip();
    let payload = h
        .github
        .post_comment(REPO, issue, WALT, "/ferry pin gateway staging");
    let body = serde_json::to_vec(&payload).unwrap();
    let delivery = h.delivery_id();
    let (status, text) = h.post_raw("issue_comment", &delivery, &body);
    assert_eq!(status, 202, "{text}");
    // Again at once, while the first may still be queued.
    let (status, text) = h.post_raw("issue_comment", &delivery, &body);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("duplicate"), "{text}");
    let id = payload["comment"]["id"].as_u64().unwrap();
    wait_for("the pin's reply and reactions", || {
        (h.replies(issue).len() == 1 && h.comment(issue, id).reactions.len() >= 2).then_some(())
    });
    // And once more after it was handled, as GitHub's "Redeliver" does.
    let (status, text) = h.post_raw("issue_comment", &delivery, &body);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("duplicate"), "{text}");
    // A replica or a restarted process that never saw the delivery id:
    // ferry's +1 on the comment says it was handled.
    let (status, text) = h.post_raw("issue_comment", &h.delivery_id(), &body);
    assert_eq!(status, 202, "{text}");
    let sentinel = h.sentinel(issue);
    let commit = one_commit(&h, before);
    assert_eq!(trailer(&h.message(commit), "Ferry-Command"), "pin");
    let replies = h.replies(issue);
    assert_eq!(
        replies.len(),
        2,
        "the pin's and the sentinel's: {replies:#?}"
    );
    assert!(
        replies[0].contains("> /ferry pin gateway staging"),
        "{}",
        replies[0]
    );
    assert_eq!(replies[1], sentinel.reply);
    assert_eq!(h.comment(issue, id).reactions.len(), 2, "eyes and +1, once");
}

/// A promotion pull request `/ferry promote` opened for an image upstream
/// does not run is still open after the next pass: the command promises a
/// PR "without waiting for upstream proof".
#[test]
fn a_promotion_pull_request_asked_for_survives_the_next_pass() {
    let v0 = Image::new("sha-1111111");
    let v1 = Image::new("sha-aaaaaaa");
    let mut h = Harness::new(&v0);
    h.start();
    let issue = h.issue();
    // dev is frozen at sha-1111111; a hotfix goes to staging by hand.
    h.command(issue, WALT, "/ferry pin gateway dev -- freeze")
        .assert_reactions("+1");
    h.push_image(&v1);
    let a = h.command(issue, WALT, "/ferry promote gateway sha-aaaaaaa to staging");
    a.assert_reactions("+1");
    let pulls = h.github.pulls(REPO);
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let number = pulls[0].number;
    h.resync();
    let pr = h.github.pull(REPO, number);
    let said: Vec<&str> = pr.comments.iter().map(|c| c.body.as_str()).collect();
    assert!(pr.open, "closed by the pass: {said:#?}");
    assert_eq!(h.overlay_now("staging"), overlay("staging", &v0));
    let branch = h.branch("ferry/staging/gateway").unwrap();
    assert_eq!(
        h.file_at(branch, &overlay_file("staging")),
        overlay("staging", &v1),
        "it still proposes sha-aaaaaaa"
    );
}

/// `promote` never pushes over a collaborator's pull request on ferry's
/// branch (the planner's `pr_foreign`): refused, their branch untouched.
#[test]
fn promote_never_pushes_over_a_collaborators_pull_request() {
    use ferry::forge::github::{GitHubAuth, GitHubForge, GitHubSettings};
    use ferry::forge::{Forge, PrSpec};

    let v0 = Image::new("sha-1111111");
    let v1 = Image::new("sha-aaaaaaa");
    let mut h = Harness::new(&v0);
    h.push_image(&v1);
    h.start();
    let issue = h.issue();
    // carol, who may push, opens her own PR from ferry/staging/gateway.
    h.github.add_token("ghp_carol", "carol");
    let (owner, name) = REPO.split_once('/').unwrap();
    let base = h.tip();
    h.git()
        .reference("refs/heads/ferry/staging/gateway", base, true, "carol")
        .unwrap();
    h.rt.block_on(async {
        let carol = GitHubForge::connect(GitHubSettings {
            api_url: h.github.url.clone(),
            owner: owner.into(),
            repo: name.into(),
            auth: GitHubAuth::Token("ghp_carol".to_string().into()),
            max_rate_limit_wait: Duration::from_secs(5),
        })
        .await
        .unwrap();
        carol
            .open(&PrSpec {
                head: "ferry/staging/gateway".into(),
                base: "main".into(),
                title: "carol's experiment".into(),
                ..PrSpec::default()
            })
            .await
            .unwrap()
    });
    assert_refused(
        &h,
        issue,
        WALT,
        "/ferry promote gateway sha-aaaaaaa to staging",
        &["pr_foreign"],
    );
    assert_eq!(
        h.branch("ferry/staging/gateway"),
        Some(base),
        "carol's branch is not pushed over"
    );
    assert_eq!(h.github.pulls(REPO).len(), 1, "no PR of ferry's");
}
