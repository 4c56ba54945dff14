//! Automatic revert end to end (issue 12): ferry's real passes
//! (`ferry::runner::context::load` + `Context::run_pass`, and the `ferry
//! plan` binary once) on a bare GitOps repository, a local registry whose
//! images are signed by a key the gates trust, the local forge
//! (`prs.json`), and a stateful fake Argo CD on loopback that follows the
//! repository's `main` and reports the health each test sets
//! (`tests/support_argocd/live.rs`).
//!
//! The usual story: dev (commit mode) runs B, staging (pull request mode,
//! `after: dev`, `auto_revert`) runs A; ferry opens the promotion PR of B,
//! sees it open, a reviewer merges it (a real merge commit on main, which
//! the forge names as the PR's merge commit), and the next pass starts
//! watching the deployment.
//!
//! Clocks are short (`after: 1s` or `2s`); each wait is the least the clock
//! needs, measured from the pass that started it.

mod common;
#[path = "support_argocd/live.rs"]
mod live_argo;
#[allow(dead_code)] // this file uses part of it
mod support_argocd;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Image;
use ferry::forge::local::LocalForge;
use ferry::forge::{Forge, PrState, StateFilter};
use ferry::gates::SignatureEvidence;
use ferry::gates::signer::Signer;
use ferry::gitops::{Author, Outcome, init_bare_with};
use ferry::promotion::pass::PassReport;
use ferry::runner::Context;
use live_argo::LiveArgo;
use serde_json::Value;

const NEW_NAME: &str = "registry.test/shop/api";
const STAGING: &str = "shop-staging";
const DEV: &str = "shop-dev";

fn overlay(image: &Image) -> String {
    format!(
        "resources: []\nimages:\n  - name: api   # the API\n    newName: {NEW_NAME}\n    newTag: {}\n    digest: {}\n",
        image.tag, image.digest
    )
}

/// A commit on main, as read from the bare repository.
#[derive(Debug, Clone)]
struct Commit {
    id: String,
    author: String,
    message: String,
}

impl Commit {
    fn trailer(&self, key: &str) -> Option<&str> {
        self.message
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
    }
}

/// The overlay of an environment at main's tip: image and pin.
#[derive(Debug)]
struct Overlay {
    text: String,
    tag: Option<String>,
    digest: Option<String>,
    pin: Option<ferry::kustomize::Pin>,
}

struct World {
    dir: tempfile::TempDir,
    argo: LiveArgo,
    signer: Signer,
    registry: Vec<String>,
}

impl World {
    /// A repository where the overlays of `runs` run their images, a
    /// registry with `images` (oldest first, signed), and a ferry.yaml
    /// with `environments` (`ARGO` stands for the fake's URL) and one app
    /// over the overlays of `runs`.
    async fn new(environments: &str, runs: &[(&str, &Image)], images: &[&Image]) -> World {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<(String, String)> = runs
            .iter()
            .map(|(env, i)| (format!("overlays/{env}/kustomization.yaml"), overlay(i)))
            .collect();
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_bytes()))
            .collect();
        let platform = Author {
            name: "platform".into(),
            email: "platform@shop.test".into(),
        };
        init_bare_with(&dir.path().join("gitops.git"), &files, "main", &platform).unwrap();
        let argo = LiveArgo::start(dir.path().join("gitops.git")).await;
        let signer = Signer::generate().unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        std::fs::create_dir_all(dir.path().join("sigs")).unwrap();
        std::fs::write(dir.path().join("keys/ci.pub"), signer.public_pem().unwrap()).unwrap();
        let overlays: Vec<String> = runs
            .iter()
            .map(|(env, _)| format!("{env}: overlays/{env}"))
            .collect();
        let config = format!(
            "gitops: {{repo: gitops.git, branch: main}}
registry: {{kind: local, path: registry.yaml}}
gates:
  signature: {{cosign_keys: [keys/ci.pub]}}
argocd: {{url: \"{url}\"}}
forge: {{kind: local, path: prs.json}}
environments:
{envs}
apps:
  - {{name: api, repository: shop/api, image: api, overlays: {{{overlays}}}}}
",
            url = argo.url,
            envs = environments.replace("ARGO", &argo.url),
            overlays = overlays.join(", "),
        );
        std::fs::write(dir.path().join("ferry.yaml"), config).unwrap();
        let mut w = World {
            dir,
            argo,
            signer,
            registry: Vec::new(),
        };
        for i in images {
            w.push(i, true);
        }
        w
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// CI pushes `image` to the registry, signed or not.
    fn push(&mut self, image: &Image, signed: bool) {
        let digest = ferry::image::Digest::parse(&image.digest).unwrap();
        let signature = if signed {
            let SignatureEvidence::SimpleSigning {
                payload,
                signature_b64,
            } = self
                .signer
                .sign_simple(&format!("{NEW_NAME}:{}", image.tag), &digest)
                .unwrap()
            else {
                unreachable!("simple signing")
            };
            let file = format!("sigs/{}.json", digest.hex());
            std::fs::write(self.path().join(&file), payload).unwrap();
            format!("{{payload: {file}, signature: \"{signature_b64}\"}}")
        } else {
            String::new()
        };
        let n = self.registry.len();
        self.registry.push(format!(
            "      - {{digest: {}, tags: [{}], pushed_at: \"2026-11-26T10:00:{n:02}Z\", scan: {{status: COMPLETE, findings: {{}}}}, signatures: [{signature}]}}\n",
            image.digest, image.tag
        ));
        let text = format!(
            "repositories:\n  shop/api:\n    images:\n{}",
            self.registry.concat()
        );
        ferry::atomic::write(&self.path().join("registry.yaml"), text.as_bytes()).unwrap();
    }

    /// A context as `ferry run` loads it, its checkout (and watch book) in
    /// `cache`.
    async fn context(&self, cache: &str) -> Context {
        ferry::runner::context::load(&self.path().join("ferry.yaml"), Some(&self.cache(cache)))
            .await
            .unwrap()
    }

    fn cache(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    fn forge(&self) -> LocalForge {
        LocalForge::new(self.path().join("prs.json"))
    }

    fn git(&self) -> git2::Repository {
        git2::Repository::open_bare(self.path().join("gitops.git")).unwrap()
    }

    fn tip(&self) -> String {
        self.git()
            .refname_to_id("refs/heads/main")
            .unwrap()
            .to_string()
    }

    /// The first-parent commits on main after `since`, newest first.
    fn commits_since(&self, since: &str) -> Vec<Commit> {
        let git = self.git();
        let mut out = Vec::new();
        let mut c = git
            .find_commit(git.refname_to_id("refs/heads/main").unwrap())
            .unwrap();
        while c.id().to_string() != since {
            out.push(Commit {
                id: c.id().to_string(),
                author: c.author().name().unwrap_or_default().to_string(),
                message: c.message().unwrap_or_default().to_string(),
            });
            c = c.parent(0).expect("`since` is on main's first-parent line");
        }
        out
    }

    fn overlay(&self, env: &str) -> Overlay {
        let git = self.git();
        let tip = git
            .find_commit(git.refname_to_id("refs/heads/main").unwrap())
            .unwrap();
        let blob = tip
            .tree()
            .unwrap()
            .get_path(Path::new(&format!("overlays/{env}/kustomization.yaml")))
            .unwrap()
            .to_object(&git)
            .unwrap()
            .peel_to_blob()
            .unwrap();
        let text = String::from_utf8(blob.content().to_vec()).unwrap();
        let entry = ferry::kustomize::read_images(&text)
            .unwrap()
            .into_iter()
            .find(|e| e.name == "api")
            .unwrap();
        let pin = ferry::kustomize::read_pins(&text)
            .unwrap()
            .into_iter()
            .find(|p| p.image == "api");
        Overlay {
            tag: entry.new_tag,
            digest: entry.digest,
            pin,
            text,
        }
    }

    /// Someone pushes a commit to main that sets `env` to `image`.
    fn commit_as(
        &self,
        name: &str,
        email: &str,
        env: &str,
        image: &Image,
        message: &str,
    ) -> String {
        let git = self.git();
        let main = git
            .find_commit(git.refname_to_id("refs/heads/main").unwrap())
            .unwrap();
        let blob = git.blob(overlay(image).as_bytes()).unwrap();
        let tree = git2::build::TreeUpdateBuilder::new()
            .upsert(
                format!("overlays/{env}/kustomization.yaml"),
                blob,
                git2::FileMode::Blob,
            )
            .create_updated(&git, &main.tree().unwrap())
            .unwrap();
        let tree = git.find_tree(tree).unwrap();
        let sig = git2::Signature::now(name, email).unwrap();
        git.commit(
            Some("refs/heads/main"),
            &sig,
            &sig,
            message,
            &tree,
            &[&main],
        )
        .unwrap()
        .to_string()
    }

    /// A reviewer merges PR `number` on the forge: a merge commit on main
    /// (first parent main, second the PR's branch, the branch's tree), and
    /// the forge records it as the PR's merge commit. Returns its id.
    async fn merge(&self, number: u64) -> String {
        self.merge_naming(number, |merge, _| Some(merge.to_string()))
            .await
    }

    /// [`merge`](Self::merge), the forge naming what `names` picks from
    /// the merge commit and the PR branch's head as the merge commit.
    async fn merge_naming(&self, number: u64, names: fn(&str, &str) -> Option<String>) -> String {
        let forge = self.forge();
        let pr = forge.get(number).await.unwrap();
        assert_eq!(pr.state, PrState::Open);
        let git = self.git();
        let head = git
            .find_commit(
                git.refname_to_id(&format!("refs/heads/{}", pr.head))
                    .unwrap(),
            )
            .unwrap();
        let main = git
            .find_commit(git.refname_to_id("refs/heads/main").unwrap())
            .unwrap();
        assert_eq!(
            head.parent_id(0).unwrap(),
            main.id(),
            "the PR's branch is one commit on main's tip"
        );
        let sig = git2::Signature::now("alice", "alice@shop.test").unwrap();
        let message = format!(
            "Merge pull request #{number} from {}\n\n{}",
            pr.head, pr.title
        );
        let id = git
            .commit(
                Some("refs/heads/main"),
                &sig,
                &sig,
                &message,
                &head.tree().unwrap(),
                &[&main, &head],
            )
            .unwrap()
            .to_string();
        let named = names(&id, &head.id().to_string());
        forge.merge_as(number, named.as_deref()).await.unwrap();
        id
    }

    /// The comments on PR `number` as `prs.json` holds them.
    fn pr_comments(&self, number: u64) -> Vec<String> {
        let state: Value =
            serde_json::from_slice(&std::fs::read(self.path().join("prs.json")).unwrap()).unwrap();
        state["pulls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["number"] == number)
            .expect("the PR")["comments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["body"].as_str().unwrap().to_string())
            .collect()
    }

    /// `ferry plan --output json`, the binary, on the checkout in `cache`.
    fn ferry_plan(&self, cache: &str) -> Value {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg("plan")
            .arg("--config")
            .arg(self.path().join("ferry.yaml"))
            .args(["--output", "json"])
            .env("FERRY_CACHE_DIR", self.cache(cache))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ferry plan: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// ferry opens the promotion PR of staging and sees it open on the next
    /// pass (of each context); the reviewer merges it. Returns the PR's
    /// number and the merge commit.
    async fn promote_and_merge(&self, ctxs: &mut [&mut Context]) -> (u64, String) {
        let number = self.promote(ctxs).await;
        (number, self.merge(number).await)
    }

    /// ferry opens the promotion PR of staging and each context sees it
    /// open on its next pass. Returns the PR's number.
    async fn promote(&self, ctxs: &mut [&mut Context]) -> u64 {
        let report = pass(ctxs[0]).await;
        let opened: Vec<_> = report.prs.iter().filter(|p| p.what == "opened").collect();
        assert_eq!(opened.len(), 1, "{:?}", report.prs);
        assert_eq!(opened[0].env, "staging");
        let number = opened[0].number;
        for ctx in ctxs.iter_mut() {
            let report = pass(ctx).await;
            assert!(
                report
                    .commits
                    .iter()
                    .all(|(_, o)| *o == Outcome::NothingToDo)
            );
        }
        number
    }

    /// The watch book beside the checkout in `cache`, as saved.
    fn book(&self, cache: &str) -> Value {
        let file = std::fs::read_dir(self.cache(cache))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".watch.json"))
            .expect("the watch book beside the checkout");
        serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
    }
}

async fn pass(ctx: &mut Context) -> PassReport {
    ctx.run_pass().await.expect("the pass succeeds")
}

/// The plan's watch entry of api in `env`, as `ferry plan --output json`
/// writes it.
fn watch(report: &PassReport, env: &str) -> Option<Value> {
    report
        .plan
        .watch
        .iter()
        .find(|w| w.app == "api" && w.env == env)
        .map(|w| serde_json::to_value(w).unwrap())
}

fn hold_code(report: &PassReport, env: &str) -> Option<&'static str> {
    report
        .plan
        .entries
        .iter()
        .find(|e| e.app == "api" && e.env == env)
        .and_then(|e| e.reason.as_ref())
        .map(|r| r.code)
}

/// Sleeps until `d` has passed since `t` (and a little more, so a clock
/// that started after `t` within the same pass has run out too).
async fn wait_past(t: Instant, d: Duration) {
    let until = t + d + Duration::from_millis(150);
    tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
}

const ONE_S: Duration = Duration::from_secs(1);
const TWO_S: Duration = Duration::from_secs(2);

fn staging_envs(auto_revert: &str, extra: &str) -> String {
    format!(
        "  - {{name: dev, mode: commit, argocd_app: {DEV}}}
  - {{name: staging, mode: pull_request, after: dev, argocd_app: {STAGING},
     auto_revert: {auto_revert}{extra}}}
"
    )
}

/// dev runs B, staging A; both signed.
async fn staging_world(auto_revert: &str, extra: &str) -> (World, Image, Image) {
    let (a, b) = (Image::new("v1"), Image::new("v2"));
    let w = World::new(
        &staging_envs(auto_revert, extra),
        &[("dev", &b), ("staging", &a)],
        &[&a, &b],
    )
    .await;
    (w, a, b)
}

/// Scenario 1: the promoted image goes Degraded; ferry says `reverting`
/// until the failure has lasted `after`, then reverts once, pins, comments,
/// and never again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_promotion_is_reverted_once_and_pinned() {
    let (w, a, b) = staging_world("{after: 2s, within: 1m}", "").await;
    let mut ctx = w.context("cache").await;
    let (number, merge) = w.promote_and_merge(&mut [&mut ctx]).await;
    w.argo.set_health(STAGING, "Degraded");

    let report = pass(&mut ctx).await;
    let first_look = Instant::now();
    let entry = watch(&report, "staging").expect("the merged promotion is watched");
    assert_eq!(entry["state"], "reverting", "{entry}");
    assert_eq!(entry["commit"], merge.as_str());
    assert_eq!(entry["via"]["kind"], "merge");
    assert_eq!(entry["via"]["number"], number);
    assert_eq!(entry["check"], "argocd");
    assert!(
        entry["seen"].as_str().unwrap().contains("Degraded"),
        "{entry}"
    );
    assert!(entry.get("revert").is_none(), "not due yet: {entry}");
    assert_eq!(report.reverts.len(), 0);
    assert_eq!(w.tip(), merge);

    // `ferry plan` (another process, read-only) reads the same watch from
    // the book beside the checkout and says the same.
    drop(ctx);
    let plan = w.ferry_plan("cache");
    let entry = plan["watch"]
        .as_array()
        .expect("ferry plan lists the watch")
        .iter()
        .find(|e| e["env"] == "staging")
        .unwrap()
        .clone();
    assert_eq!(entry["state"], "reverting", "{entry}");
    assert_eq!(entry["check"], "argocd");
    assert!(entry["seen"].as_str().unwrap().contains("Degraded"));
    let mut ctx = w.context("cache").await;

    // Still before `after`: nothing.
    let report = pass(&mut ctx).await;
    assert_eq!(watch(&report, "staging").unwrap()["state"], "reverting");
    assert!(report.reverts.is_empty());
    assert_eq!(w.tip(), merge, "no revert before `after`");

    wait_past(first_look, TWO_S).await;
    let report = pass(&mut ctx).await;
    assert_eq!(report.reverts.len(), 1, "{:?}", report.reverts);
    assert_eq!(hold_code(&report, "staging"), Some("reverting"));
    let new = w.commits_since(&merge);
    assert_eq!(new.len(), 1, "exactly one revert commit: {new:#?}");
    let revert = &new[0];
    assert_eq!(report.reverts[0].commit, revert.id);
    // The pass's board (status page, /metrics) shows the overlay as the
    // revert left it: the image before, pinned by ferry.
    let cell = report.board.cell("api", "staging").expect("a staging cell");
    assert_eq!(
        cell.running.as_ref().and_then(|r| r.digest.as_deref()),
        Some(a.digest.as_str())
    );
    assert_eq!(
        cell.pin.as_ref().and_then(|p| p.by.as_deref()),
        Some("ferry")
    );
    assert_eq!(revert.author, "ferry", "ferry's own commit");
    assert_eq!(revert.trailer("Ferry-Command"), Some("auto-revert"));
    assert_eq!(revert.trailer("Ferry-Reverts"), Some(merge.as_str()));
    assert_eq!(revert.trailer("Ferry-Digest"), Some(a.digest.as_str()));
    assert!(
        revert.trailer("Ferry-Signature").is_some(),
        "{}",
        revert.message
    );
    let o = w.overlay("staging");
    assert_eq!(
        (o.tag.as_deref(), o.digest.as_deref()),
        (Some(a.tag.as_str()), Some(a.digest.as_str())),
        "back to A:\n{}",
        o.text
    );
    let pin = o.pin.as_ref().expect("pinned");
    assert_eq!(pin.by.as_deref(), Some("ferry"));
    assert!(pin.at.is_some());
    let reason = pin.reason.as_deref().unwrap();
    assert!(reason.starts_with("auto-revert: argocd: "), "{reason}");
    assert!(o.text.contains("# ferry:pin by=ferry at="), "{}", o.text);
    // dev keeps B: only staging went back.
    assert_eq!(w.overlay("dev").tag.as_deref(), Some(b.tag.as_str()));
    let comments = w.pr_comments(number);
    assert!(
        comments
            .iter()
            .any(|c| c.contains("ferry reverted staging") && c.contains(&a.tag)),
        "{comments:#?}"
    );

    // The revert is never reverted, the pin holds, no PR re-proposes B.
    for _ in 0..2 {
        let report = pass(&mut ctx).await;
        assert!(report.reverts.is_empty());
        let entry = watch(&report, "staging").unwrap();
        assert_eq!(entry["state"], "reverted", "{entry}");
        assert_eq!(entry["by"], revert.id.as_str());
        assert_eq!(hold_code(&report, "staging"), Some("pinned"));
        assert!(report.prs.is_empty(), "{:?}", report.prs);
    }
    assert_eq!(w.commits_since(&merge).len(), 1);
    assert!(
        w.forge()
            .list(StateFilter::Open, "ferry/")
            .await
            .unwrap()
            .is_empty()
    );
}

/// Scenario 2: Degraded, then Healthy again before `after`: the failure
/// clock stops, so a later failure starts it afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_before_after_stops_the_clock() {
    let (w, _a, b) = staging_world("{after: 2s, within: 1m}", "").await;
    let mut ctx = w.context("cache").await;
    let (_, merge) = w.promote_and_merge(&mut [&mut ctx]).await;
    w.argo.set_health(STAGING, "Degraded");
    let report = pass(&mut ctx).await;
    let first_look = Instant::now();
    assert_eq!(watch(&report, "staging").unwrap()["state"], "reverting");

    w.argo.set_health(STAGING, "Healthy");
    let report = pass(&mut ctx).await;
    let entry = watch(&report, "staging").unwrap();
    assert_eq!(entry["state"], "watching", "{entry}");
    assert!(entry.get("note").is_none(), "plainly healthy: {entry}");
    assert!(entry["left_secs"].as_u64().unwrap() > 50);

    // Past `after` since the first failure: Degraded again is a new clock.
    wait_past(first_look, TWO_S).await;
    w.argo.set_health(STAGING, "Degraded");
    let report = pass(&mut ctx).await;
    let entry = watch(&report, "staging").unwrap();
    assert_eq!(entry["state"], "reverting", "{entry}");
    assert!(entry["failing_secs"].as_u64().unwrap() < 2, "{entry}");
    assert!(entry.get("revert").is_none(), "{entry}");
    assert!(report.reverts.is_empty());
    assert_eq!(w.tip(), merge);
    assert_eq!(w.overlay("staging").tag.as_deref(), Some(b.tag.as_str()));
    assert!(w.overlay("staging").pin.is_none());
}

/// Scenario 3: healthy through the whole watch, Degraded after it: not
/// ferry's to revert any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_within_is_not_reverted() {
    let (w, _a, b) = staging_world("{after: 1s, within: 2s}", "").await;
    let mut ctx = w.context("cache").await;
    let (_, merge) = w.promote_and_merge(&mut [&mut ctx]).await;
    let merged = Instant::now();
    let report = pass(&mut ctx).await;
    let entry = watch(&report, "staging").expect("watched within the window");
    assert_eq!(entry["state"], "watching", "{entry}");

    wait_past(merged, TWO_S).await;
    w.argo.set_health(STAGING, "Degraded");
    let report = pass(&mut ctx).await;
    let failed = Instant::now();
    assert!(watch(&report, "staging").is_none(), "the watch is over");
    wait_past(failed, ONE_S).await;
    let report = pass(&mut ctx).await;
    assert!(report.reverts.is_empty());
    assert!(watch(&report, "staging").is_none());
    assert_eq!(w.tip(), merge, "no revert after `within`");
    assert_eq!(w.overlay("staging").tag.as_deref(), Some(b.tag.as_str()));
}

/// Scenario 4: Argo CD cannot be asked: no revert however long it lasts,
/// and the failure clock starts afresh once it answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argo_cd_unreachable_is_not_a_failure() {
    let (w, a, _b) = staging_world("{after: 1s, within: 1m}", "").await;
    let mut ctx = w.context("cache").await;
    let (_, merge) = w.promote_and_merge(&mut [&mut ctx]).await;
    w.argo.set_health(STAGING, "Degraded");
    let report = pass(&mut ctx).await;
    let first_look = Instant::now();
    assert_eq!(watch(&report, "staging").unwrap()["state"], "reverting");

    w.argo.stop();
    wait_past(first_look, ONE_S).await;
    for _ in 0..2 {
        let report = pass(&mut ctx).await;
        assert!(report.reverts.is_empty());
        let entry = watch(&report, "staging").unwrap();
        assert_eq!(entry["state"], "watching", "{entry}");
        let note = entry["note"].as_str().unwrap();
        assert!(
            note.starts_with("cannot tell: Argo CD cannot be asked"),
            "{note}"
        );
    }
    assert_eq!(w.tip(), merge, "no revert while Argo CD is unreachable");

    // Back, still Degraded: a new clock, not the one from before.
    w.argo.restart().await;
    let report = pass(&mut ctx).await;
    let again = Instant::now();
    let entry = watch(&report, "staging").unwrap();
    assert_eq!(entry["state"], "reverting", "{entry}");
    assert!(entry.get("revert").is_none(), "{entry}");
    assert_eq!(w.tip(), merge);
    // A failure seen throughout `after` is reverted as usual.
    wait_past(again, ONE_S).await;
    let report = pass(&mut ctx).await;
    assert_eq!(report.reverts.len(), 1);
    assert_eq!(
        w.overlay("staging").digest.as_deref(),
        Some(a.digest.as_str())
    );
}

/// Scenario 5: someone else's hand edit to staging over ferry's watched
/// deployment: the watch ends, and the hand edit is never reverted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_edit_is_not_watched() {
    let (mut w, _a, _b) = staging_world("{after: 1s, within: 1m}", "").await;
    let mut ctx = w.context("cache").await;
    w.promote_and_merge(&mut [&mut ctx]).await;
    let report = pass(&mut ctx).await;
    assert_eq!(watch(&report, "staging").unwrap()["state"], "watching");

    // C (unsigned, so dev holds it) goes to staging by hand.
    let c = Image::new("v3");
    w.push(&c, false);
    let edit = w.commit_as(
        "dana",
        "dana@shop.test",
        "staging",
        &c,
        "staging: api v3 by hand (hotfix)",
    );
    w.argo.set_health(STAGING, "Degraded");
    let report = pass(&mut ctx).await;
    let first_look = Instant::now();
    assert!(
        watch(&report, "staging").is_none(),
        "{:?}",
        report.plan.watch
    );
    wait_past(first_look, ONE_S).await;
    for _ in 0..2 {
        let report = pass(&mut ctx).await;
        assert!(report.reverts.is_empty());
        assert!(report.plan.watch.is_empty(), "{:?}", report.plan.watch);
    }
    let new = w.commits_since(&edit);
    assert!(new.is_empty(), "ferry committed nothing: {new:#?}");
    let o = w.overlay("staging");
    assert_eq!(o.tag.as_deref(), Some(c.tag.as_str()));
    assert!(o.pin.is_none());
}

/// Scenario 6: two processes (their own checkouts and watch books, the
/// same repository and forge) both saw the PR open and merged, and both
/// decide to revert in the same moment: one revert commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_revert_once() {
    let (w, a, _b) = staging_world("{after: 1s, within: 1m}", "").await;
    let mut one = w.context("cache-one").await;
    let mut two = w.context("cache-two").await;
    let (_, merge) = w.promote_and_merge(&mut [&mut one, &mut two]).await;
    // Argo CD stays at the merge (it has not synced a revert yet), so what
    // each replica sees does not depend on which pushes first; it answers
    // Degraded and Missing in turn, so the two replicas' reverts differ
    // (their pins' reasons): only the compare-and-swap keeps the second.
    w.argo.freeze_revision(STAGING, Some(&merge));
    w.argo.cycle_health(STAGING, &["Degraded", "Missing"]);
    for ctx in [&mut one, &mut two] {
        let report = pass(ctx).await;
        assert_eq!(watch(&report, "staging").unwrap()["state"], "reverting");
    }
    let first_look = Instant::now();
    wait_past(first_look, ONE_S).await;

    // Each on a thread of its own, as two processes would run.
    let run = |mut ctx: Context| {
        tokio::task::spawn_blocking(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let report = rt.block_on(pass(&mut ctx));
            (report, ctx)
        })
    };
    let (t1, t2) = (run(one), run(two));
    let (r1, _one) = t1.await.unwrap();
    let (r2, _two) = t2.await.unwrap();
    for r in [&r1, &r2] {
        let entry = watch(r, "staging").unwrap();
        assert!(entry.get("revert").is_some(), "both decided: {entry}");
    }
    assert_eq!(
        r1.reverts.len() + r2.reverts.len(),
        1,
        "{:?} {:?}",
        r1.reverts,
        r2.reverts
    );
    let new = w.commits_since(&merge);
    assert_eq!(new.len(), 1, "one revert commit in all: {new:#?}");
    assert_eq!(new[0].trailer("Ferry-Command"), Some("auto-revert"));
    assert_eq!(
        w.overlay("staging").digest.as_deref(),
        Some(a.digest.as_str())
    );
}

/// Scenario 7, first half: dev in commit mode with `auto_revert`: the
/// commit ferry pushed goes Degraded and is reverted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferrys_own_dev_commit_is_reverted() {
    let (a, b) = (Image::new("v1"), Image::new("v2"));
    let w = World::new(
        &format!(
            "  - {{name: dev, mode: commit, argocd_app: {DEV}, auto_revert: {{after: 1s, within: 1m}}}}\n"
        ),
        &[("dev", &a)],
        &[&a, &b],
    )
    .await;
    w.argo.set_health(DEV, "Degraded");
    let start = w.tip();
    let mut ctx = w.context("cache").await;
    let report = pass(&mut ctx).await;
    let Some((_, Outcome::Pushed { commit, .. })) = report.commits.first() else {
        panic!("ferry moves dev to B: {:?}", report.commits)
    };
    let pushed = commit.to_string();
    assert_eq!(w.overlay("dev").tag.as_deref(), Some(b.tag.as_str()));

    let report = pass(&mut ctx).await;
    let first_look = Instant::now();
    let entry = watch(&report, "dev").expect("ferry's own commit is watched");
    assert_eq!(entry["state"], "reverting", "{entry}");
    assert_eq!(entry["via"]["kind"], "commit");
    assert_eq!(entry["commit"], pushed.as_str());
    wait_past(first_look, ONE_S).await;
    let report = pass(&mut ctx).await;
    assert_eq!(report.reverts.len(), 1);
    assert_eq!(report.reverts[0].pull_request, None);
    let new = w.commits_since(&pushed);
    assert_eq!(new.len(), 1, "{new:#?}");
    assert_eq!(new[0].trailer("Ferry-Reverts"), Some(pushed.as_str()));
    let o = w.overlay("dev");
    assert_eq!(
        (o.tag.as_deref(), o.digest.as_deref()),
        (Some(a.tag.as_str()), Some(a.digest.as_str()))
    );
    assert_eq!(o.pin.unwrap().by.as_deref(), Some("ferry"));
    // Pinned: ferry does not move dev to B again.
    let report = pass(&mut ctx).await;
    assert!(report.commits.is_empty(), "{:?}", report.commits);
    assert_eq!(watch(&report, "dev").unwrap()["state"], "reverted");
    assert_eq!(w.commits_since(&start).len(), 2);
}

/// Scenario 7, second half: a commit by someone else that carries ferry's
/// trailers (and ferry's author name) is not evidence: it is not watched.
/// A commit ferry then makes in the same environment is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_trailers_on_someone_elses_commit_are_not_watched() {
    let (a, b) = (Image::new("v1"), Image::new("v2"));
    let mut w = World::new(
        &format!(
            "  - {{name: dev, mode: commit, argocd_app: {DEV}, auto_revert: {{after: 1s, within: 1m}}}}\n"
        ),
        &[("dev", &a)],
        &[&a, &b],
    )
    .await;
    let forged = w.commit_as(
        "ferry",
        "ferry@localhost",
        "dev",
        &b,
        &format!(
            "dev: promote api v1→v2\n\nFerry-Command: promote\nFerry-App: api\nFerry-Env: dev\n\
             Ferry-Image: {NEW_NAME}:{}@{}\nFerry-Digest: {}\n",
            b.tag, b.digest, b.digest
        ),
    );
    w.argo.set_health(DEV, "Degraded");
    let mut ctx = w.context("cache").await;
    let report = pass(&mut ctx).await;
    let first_look = Instant::now();
    assert!(report.commits.is_empty(), "dev already runs B");
    assert!(watch(&report, "dev").is_none(), "{:?}", report.plan.watch);
    wait_past(first_look, ONE_S).await;
    let report = pass(&mut ctx).await;
    assert!(report.reverts.is_empty());
    assert!(report.plan.watch.is_empty());
    assert_eq!(w.tip(), forged, "the forged deployment is not reverted");

    // CI pushes C; ferry moves dev to it: that deployment is ferry's.
    let c = Image::new("v3");
    w.push(&c, true);
    let report = pass(&mut ctx).await;
    assert!(matches!(
        report.commits.first(),
        Some((_, Outcome::Pushed { .. }))
    ));
    let report = pass(&mut ctx).await;
    let first_look = Instant::now();
    assert_eq!(watch(&report, "dev").unwrap()["state"], "reverting");
    wait_past(first_look, ONE_S).await;
    let report = pass(&mut ctx).await;
    assert_eq!(report.reverts.len(), 1);
    assert_eq!(w.overlay("dev").tag.as_deref(), Some(b.tag.as_str()));
}

/// Scenario 8: Argo CD Healthy, the smoke check refused (no answer: not a
/// failure, and it breaks the clock), then answering 500 (a failure):
/// reverted with a `smoke:` reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smoke_check_the_server_fails_is_reverted_one_it_cannot_reach_is_not() {
    let dir = tempfile::tempdir().unwrap();
    // The smoke endpoint is a server of its own, so it can refuse
    // connections while Argo CD answers.
    let smoke = LiveArgo::start(dir.path().join("none.git")).await;
    let (w, a, _b) = staging_world(
        "{after: 1s, within: 1m}",
        &format!(
            ",\n     smoke: [{{url: \"{}/smoke/staging\", retries: 0, timeout: 2s}}]",
            smoke.url
        ),
    )
    .await;
    let mut ctx = w.context("cache").await;
    let (number, merge) = w.promote_and_merge(&mut [&mut ctx]).await;

    smoke.stop();
    let report = pass(&mut ctx).await;
    let first_look = Instant::now();
    let entry = watch(&report, "staging").unwrap();
    assert_eq!(entry["state"], "watching", "{entry}");
    let note = entry["note"].as_str().unwrap();
    assert!(note.contains("got no answer"), "{note}");
    wait_past(first_look, ONE_S).await;
    let report = pass(&mut ctx).await;
    assert!(report.reverts.is_empty());
    assert_eq!(
        w.tip(),
        merge,
        "no revert for a smoke check without an answer"
    );

    smoke.restart().await;
    smoke.set_smoke("staging", 500, "boom");
    let report = pass(&mut ctx).await;
    let failing = Instant::now();
    let entry = watch(&report, "staging").unwrap();
    assert_eq!(entry["state"], "reverting", "{entry}");
    assert_eq!(entry["check"], "smoke");
    assert!(entry.get("revert").is_none(), "a new clock: {entry}");
    wait_past(failing, ONE_S).await;
    let report = pass(&mut ctx).await;
    assert_eq!(report.reverts.len(), 1);
    assert_eq!(report.reverts[0].check, "smoke");
    let o = w.overlay("staging");
    assert_eq!(o.digest.as_deref(), Some(a.digest.as_str()));
    let reason = o.pin.unwrap().reason.unwrap();
    assert!(reason.starts_with("auto-revert: smoke: "), "{reason}");
    assert!(reason.contains("500"), "{reason}");
    assert!(smoke.asked("/smoke/staging") >= 2);
    assert!(
        w.pr_comments(number)
            .iter()
            .any(|c| c.contains("**smoke**")),
        "{:?}",
        w.pr_comments(number)
    );
}

/// A merge is ferry's deployment only when the forge names the commit
/// that brought the image on main: a merge recorded without a merge commit,
/// or naming another commit (the PR branch's head), is not watched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_is_watched_only_as_the_commit_the_forge_names() {
    async fn story(names: fn(&str, &str) -> Option<String>) {
        let (w, _a, b) = staging_world("{after: 1s, within: 1m}", "").await;
        let mut ctx = w.context("cache").await;
        let number = w.promote(&mut [&mut ctx]).await;
        let seen = w.book("cache");
        assert_eq!(seen["open_prs"][0]["number"], number, "{seen}");
        assert_eq!(seen["open_prs"][0]["env"], "staging");
        let merge = w.merge_naming(number, names).await;
        w.argo.set_health(STAGING, "Degraded");
        let report = pass(&mut ctx).await;
        let first_look = Instant::now();
        assert!(report.plan.watch.is_empty(), "{:?}", report.plan.watch);
        wait_past(first_look, ONE_S).await;
        let report = pass(&mut ctx).await;
        assert!(report.reverts.is_empty());
        assert!(report.plan.watch.is_empty(), "{:?}", report.plan.watch);
        assert_eq!(w.tip(), merge);
        assert_eq!(w.overlay("staging").tag.as_deref(), Some(b.tag.as_str()));
        let book = w.book("cache");
        assert!(
            book["open_prs"].as_array().unwrap().is_empty(),
            "the PR was handed back once it closed: {book}"
        );
    }
    tokio::join!(story(|_, _| None), story(|_, head| Some(head.to_string())));
}

/// The image to go back to must pass the signature gate: staging ran an
/// unsigned A (by hand, before), so a lasting failure of B is reported and
/// not reverted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_revert_to_an_image_whose_signature_does_not_pass() {
    let (a, b) = (Image::new("v1"), Image::new("v2"));
    let mut w = World::new(
        &staging_envs("{after: 1s, within: 1m}", ""),
        &[("dev", &b), ("staging", &a)],
        &[],
    )
    .await;
    w.push(&a, false);
    w.push(&b, true);
    let mut ctx = w.context("cache").await;
    let (_, merge) = w.promote_and_merge(&mut [&mut ctx]).await;
    w.argo.set_health(STAGING, "Degraded");
    let report = pass(&mut ctx).await;
    let first_look = Instant::now();
    assert_eq!(watch(&report, "staging").unwrap()["state"], "reverting");
    wait_past(first_look, ONE_S).await;
    let report = pass(&mut ctx).await;
    let entry = watch(&report, "staging").unwrap();
    assert_eq!(entry["state"], "reverting", "{entry}");
    assert!(entry.get("revert").is_none(), "{entry}");
    let blocked = entry["blocked"].as_str().unwrap();
    assert!(
        blocked.starts_with("the signature of ") && blocked.contains(&a.tag),
        "{blocked}"
    );
    assert!(report.reverts.is_empty());
    assert_eq!(w.tip(), merge);
    assert_eq!(w.overlay("staging").tag.as_deref(), Some(b.tag.as_str()));
}

/// Degraded at a revision older than the merge is the old image's: Argo
/// CD has not synced ferry's deployment yet, so the watch waits (settling),
/// however long it lasts; once Argo CD shows the merge Degraded, the clock
/// starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn degraded_before_argo_cd_syncs_the_merge_is_not_a_failure() {
    let (w, _a, _b) = staging_world("{after: 1s, within: 1m}", "").await;
    let mut ctx = w.context("cache").await;
    let before = w.tip();
    let (_, merge) = w.promote_and_merge(&mut [&mut ctx]).await;
    w.argo.freeze_revision(STAGING, Some(&before));
    w.argo.set_health(STAGING, "Degraded");
    let report = pass(&mut ctx).await;
    let first_look = Instant::now();
    let entry = watch(&report, "staging").unwrap();
    assert_eq!(entry["state"], "watching", "{entry}");
    assert!(
        entry["note"].as_str().unwrap().starts_with("settling: "),
        "{entry}"
    );
    wait_past(first_look, ONE_S).await;
    let report = pass(&mut ctx).await;
    assert_eq!(watch(&report, "staging").unwrap()["state"], "watching");
    assert!(report.reverts.is_empty());
    assert_eq!(w.tip(), merge);

    w.argo.freeze_revision(STAGING, None);
    let report = pass(&mut ctx).await;
    let entry = watch(&report, "staging").unwrap();
    assert_eq!(entry["state"], "reverting", "{entry}");
    assert!(entry.get("revert").is_none(), "a new clock: {entry}");
}
