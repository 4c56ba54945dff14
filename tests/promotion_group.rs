//! Promotion pull requests of a `group: environment` environment, through
//! `ferry::promotion::promote::execute` on real local adapters: a bare
//! GitOps repository on disk, a `Workspace` checkout of it, and the local
//! (JSON file) forge. Plans and snapshots are written by hand for each step
//! (the planner has its own tests); each plan is also checked against what
//! the planner makes of the same snapshot, so execute only ever sees plans
//! a real pass could produce.
//!
//! The story, one PR on `ferry/staging/_all`:
//! 1. api moves, web waits for dev's health → the PR opens with api only;
//! 2. web moves, api's promotion waits for review → the same PR, both apps;
//! 3. api merged by hand, web still waits → the PR stays open;
//! 4. web merged too → the PR is closed with a comment.
//!
//! And separately: a per-app PR left from before the grouping is closed,
//! PRs on branches ferry does not own are left alone.

mod common;

use std::path::Path;

use common::Image;
use ferry::config::Config;
use ferry::forge::local::LocalForge;
use ferry::forge::{AnyForge, Forge, PrSpec, PrState, PullRequest, StateFilter};
use ferry::gates::Verdict;
use ferry::gitops::{Author, Credentials, Outcome, Workspace, init_bare_with};
use ferry::promotion::observe::Overlay;
use ferry::promotion::plan::{Action, Entry, ImageRef, Plan, Why};
use ferry::promotion::promote::{
    BRANCH_PREFIX, PrAction, carried, execute, head_for, open_pr_for, read_proposals,
};
use ferry::promotion::snapshot::{AppState, EnvState, Gated, Incoming, Proof, Snapshot, Window};
use git2::{Oid, Repository};

const GROUP_BRANCH: &str = "ferry/staging/_all";
const REGISTRY: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com/shop";

const CONFIG: &str = "gitops: {repo: gitops.git, branch: main}
forge: {kind: local, path: prs.json}
environments:
  - name: dev
    mode: commit
    argocd_app: shop-dev
  - name: staging
    mode: pull_request
    after: dev
    argocd_app: shop-staging
    group: environment
    labels: [ferry, \"env:staging\"]
    reviewers: [alice, \"team:platform\"]
apps:
  - name: api
    repository: shop/api
    image: api
    overlays: {dev: overlays/dev, staging: overlays/staging}
  - name: web
    repository: shop/web
    image: web
    overlays: {dev: overlays/dev, staging: overlays/staging}
";

impl Image {
    fn reference(&self) -> ImageRef {
        ImageRef {
            tag: Some(self.tag.clone()),
            digest: Some(self.digest.clone()),
        }
    }
}

fn overlay_file(env: &str) -> String {
    format!("overlays/{env}/kustomization.yaml")
}

/// The overlay of `env` running `api` and `web`, byte for byte: comments,
/// blank lines and key order are what a lossless edit keeps.
fn overlay(env: &str, api: &Image, web: &Image) -> String {
    format!(
        "# {env}: ferry edits the images below; everything else is ours.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop-{env}

resources:
  - ../../base

images:
  - name: api
    newName: {REGISTRY}/api
    newTag: {}
    digest: {}
  # The storefront.
  - name: web
    newName: {REGISTRY}/web
    newTag: {}   # release tags
    digest: {}
",
        api.tag, api.digest, web.tag, web.digest
    )
}

/// A `Plan` entry that moves `app` in staging from `from` to `to`.
fn moves(app: &str, from: &Image, to: &Image) -> Entry {
    Entry {
        app: app.into(),
        env: "staging".into(),
        action: Action::PullRequest,
        from: Some(from.reference()),
        to: Some(to.reference()),
        reason: None,
        held: Vec::new(),
        scan: None,
        signature_key: None,
        pushed_at: None,
    }
}

/// A `Plan` entry for `app` in `env`, which runs `runs` and does not move,
/// the way the planner writes it (no `to`).
fn stays(env: &str, app: &str, runs: &Image, code: &'static str, message: &str) -> Entry {
    Entry {
        app: app.into(),
        env: env.into(),
        action: Action::None,
        from: Some(runs.reference()),
        to: None,
        reason: Some(Why {
            code,
            message: message.into(),
            held: Vec::new(),
        }),
        held: Vec::new(),
        scan: None,
        signature_key: None,
        pushed_at: None,
    }
}

/// The plan of a pass, in the planner's order (app by app, environments
/// in config order): dev, a commit environment with nothing new in the
/// registry, and the given staging entries of api and web.
fn plan(dev_api: &Image, dev_web: &Image, staging: [Entry; 2]) -> Plan {
    let [api, web] = staging;
    let entries = vec![
        stays("dev", "api", dev_api, "up_to_date", "no candidate newer"),
        api,
        stays("dev", "web", dev_web, "up_to_date", "no candidate newer"),
        web,
    ];
    Plan {
        entries,
        pull_requests: Vec::new(),
        watch: Vec::new(),
    }
}

/// The gates pass `digest` (the registry's verdict, as gating takes it).
fn passes(digest: &str) -> Verdict {
    Verdict {
        digest: ferry::image::Digest::parse(digest).unwrap(),
        reasons: Vec::new(),
        scan_counts: Some(Default::default()),
        signature_key: Some("sha256:test-key".into()),
    }
}

fn proven() -> Option<Proof> {
    Some(Proof::Proven {
        evidence: "Argo CD revision 0123abc, health Healthy, no smoke checks".into(),
    })
}

fn unhealthy() -> Option<Proof> {
    Some(Proof::NotYet {
        code: "health",
        message: "health: health is Progressing, not Healthy".into(),
    })
}

/// A bare GitOps repository with a dev and a staging overlay, a checkout
/// of it, the local forge, and the config.
struct Harness {
    dir: tempfile::TempDir,
    config: Config,
    ws: Workspace,
    forge: AnyForge,
    author: Author,
}

impl Harness {
    fn new(dev: (&Image, &Image), staging: (&Image, &Image)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let author = Author {
            name: "Shop Platform".into(),
            email: "platform@shop.test".into(),
        };
        let files = [
            (overlay_file("dev"), overlay("dev", dev.0, dev.1)),
            (
                overlay_file("staging"),
                overlay("staging", staging.0, staging.1),
            ),
            (
                "base/kustomization.yaml".to_string(),
                "resources: []\n".to_string(),
            ),
        ];
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_bytes()))
            .collect();
        let bare = dir.path().join("gitops.git");
        init_bare_with(&bare, &files, "main", &author).unwrap();
        let config = ferry::config::parse(CONFIG).unwrap();
        let ws = Workspace::open(
            bare.to_str().unwrap(),
            "main",
            &dir.path().join("cache"),
            Credentials::None,
        )
        .unwrap();
        let forge = AnyForge::Local(LocalForge::new(dir.path().join("prs.json")));
        Harness {
            dir,
            config,
            ws,
            forge,
            author,
        }
    }

    fn bare(&self) -> Repository {
        Repository::open_bare(self.dir.path().join("gitops.git")).unwrap()
    }

    fn tip(&self, branch: &str) -> Oid {
        self.bare()
            .find_reference(&format!("refs/heads/{branch}"))
            .unwrap_or_else(|e| panic!("branch {branch}: {e}"))
            .peel_to_commit()
            .unwrap()
            .id()
    }

    /// The text of `path` at `commit` in the bare repository.
    fn file_at(&self, commit: Oid, path: &str) -> String {
        let repo = self.bare();
        let tree = repo.find_commit(commit).unwrap().tree().unwrap();
        let entry = tree.get_path(Path::new(path)).unwrap();
        let blob = repo.find_blob(entry.id()).unwrap();
        String::from_utf8(blob.content().to_vec()).unwrap()
    }

    /// Asserts that `branch` is one commit on top of main's tip whose only
    /// change is the staging overlay, which then reads `expected`.
    fn assert_proposal(&self, branch: &str, expected: &str) -> Oid {
        let repo = self.bare();
        let tip = self.tip(branch);
        let commit = repo.find_commit(tip).unwrap();
        let parents: Vec<Oid> = commit.parent_ids().collect();
        assert_eq!(
            parents,
            [self.tip("main")],
            "{branch} is one commit on main"
        );
        let diff = repo
            .diff_tree_to_tree(
                Some(&commit.parent(0).unwrap().tree().unwrap()),
                Some(&commit.tree().unwrap()),
                None,
            )
            .unwrap();
        let changed: Vec<String> = diff
            .deltas()
            .map(|d| d.new_file().path().unwrap().display().to_string())
            .collect();
        assert_eq!(changed, [overlay_file("staging")], "files {branch} changes");
        assert_eq!(
            self.file_at(tip, &overlay_file("staging")),
            expected,
            "the staging overlay on {branch}"
        );
        tip
    }

    fn local(&self) -> &LocalForge {
        match &self.forge {
            AnyForge::Local(f) => f,
            AnyForge::GitHub(_) => unreachable!("the test forge is local"),
        }
    }

    /// Every PR the forge holds, in any state, any branch.
    async fn all_prs(&self) -> Vec<PullRequest> {
        self.forge.list(StateFilter::All, "").await.unwrap()
    }

    async fn pr(&self, number: u64) -> PullRequest {
        self.forge.get(number).await.unwrap()
    }

    async fn comments(&self, number: u64) -> Vec<String> {
        self.local()
            .comments(number)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.body)
            .collect()
    }

    /// A person edits main's staging overlay (a merge, or a manual change).
    fn edit_main(&mut self, env: &str, text: String) {
        let file = overlay_file(env);
        let outcome = self
            .ws
            .apply(&self.author, 1, |root: &Path| {
                std::fs::write(root.join(&file), &text).map(|()| Some(format!("{env}: by hand")))
            })
            .unwrap();
        assert!(matches!(outcome, Outcome::Pushed { .. }), "{outcome:?}");
    }

    /// The snapshot a pass takes now: what the overlays on main run, what
    /// dev has proven per app, and the open `ferry/` PRs read from their
    /// branches as `promote::observe` reads them; every image passes the
    /// gates.
    async fn snapshot(&mut self, dev_proof: &[(&str, Option<Proof>)]) -> Snapshot {
        self.ws.sync().unwrap();
        let prs = self
            .forge
            .list(StateFilter::Open, BRANCH_PREFIX)
            .await
            .unwrap();
        let mut apps = Vec::new();
        for app in &self.config.apps {
            let mut envs = Vec::new();
            for cfg in &self.config.environments {
                let dir = &app.overlays[&cfg.name];
                let overlay = Overlay::load(self.ws.root(), dir).unwrap();
                let (running, pin) = overlay.get(&app.image);
                let proof = match cfg.name.as_str() {
                    "dev" => dev_proof
                        .iter()
                        .find(|(a, _)| *a == app.name)
                        .and_then(|(_, p)| p.clone()),
                    _ => None,
                };
                envs.push(EnvState {
                    env: cfg.name.clone(),
                    mode: cfg.mode,
                    after: cfg.after.clone(),
                    group: cfg.group,
                    running: Ok(running.unwrap()),
                    pin,
                    file: Some(overlay.file().to_path_buf()),
                    new_name: overlay.new_name(&app.image).map(str::to_string),
                    proof,
                    open_pr: None,
                    rejected: None,
                    window: Window::Open,
                    incoming: None,
                    foreign_pr: None,
                    live: None,
                    watch: None,
                    analysis: Vec::new(),
                });
            }
            // What staging would receive: what dev runs, passing.
            let dev = envs[0].running.clone().unwrap().unwrap();
            let (tag, digest) = (dev.tag.unwrap(), dev.digest.unwrap());
            envs[1].incoming = Some(Incoming::Image {
                verdict: passes(&digest),
                tag,
                digest,
            });
            apps.push(AppState {
                app: app.name.clone(),
                image: app.image.clone(),
                candidates: Ok(Vec::new()),
                records: Default::default(),
                envs,
            });
        }
        let mut snap = Snapshot {
            taken_at: time::OffsetDateTime::now_utc(),
            apps,
            proposals: Vec::new(),
            forge_error: None,
        };
        let (proposals, unreadable) = read_proposals(&self.config, &snap, &self.ws, prs);
        assert_eq!(unreadable, None);
        snap.proposals = proposals;
        for (app, cfg) in snap.apps.iter_mut().zip(self.config.apps.iter()) {
            for env in app.envs.iter_mut() {
                let Some(env_cfg) = self
                    .config
                    .environments
                    .iter()
                    .find(|e| e.name == env.env && e.after.is_some())
                else {
                    continue;
                };
                env.open_pr = snap
                    .proposals
                    .iter()
                    .find(|p| p.head == head_for(env_cfg, &cfg.name))
                    .and_then(|p| open_pr_for(p, &cfg.name));
                if let Some(pr) = env.open_pr.as_mut()
                    && let Some(d) = pr.digest.clone()
                {
                    pr.gate = Some(Gated::Checked(passes(&d)));
                }
            }
        }
        snap
    }

    /// Runs execute on a hand-written plan, after checking that the planner
    /// would have planned the same from this snapshot.
    async fn execute(&mut self, snapshot: &Snapshot, plan: &Plan) -> Vec<PrAction> {
        let key = |e: &Entry| {
            (
                e.app.clone(),
                e.env.clone(),
                e.action,
                e.from.clone(),
                e.to.clone(),
                e.reason.as_ref().map(|r| r.code),
            )
        };
        let planned: Vec<_> = ferry::promotion::plan(snapshot)
            .entries
            .iter()
            .map(key)
            .collect();
        let written: Vec<_> = plan.entries.iter().map(key).collect();
        assert_eq!(written, planned, "the hand-written plan is a real one");
        // The pull-request steps are the planner's own, from those entries.
        let plan = Plan {
            entries: plan.entries.clone(),
            pull_requests: ferry::promotion::plan::plan_prs(snapshot, &plan.entries),
            watch: Vec::new(),
        };
        execute(
            &self.config,
            snapshot,
            &plan,
            &mut self.ws,
            &self.author,
            Some(&self.forge),
        )
        .await
        .unwrap()
    }

    async fn action(&self, number: u64, apps: &[&str], what: &'static str) -> PrAction {
        PrAction {
            env: "staging".into(),
            apps: apps.iter().map(|a| a.to_string()).collect(),
            number,
            url: self.pr(number).await.url,
            what,
        }
    }
}

fn pairs(items: &[(&str, &Image)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(app, image)| (app.to_string(), image.digest.clone()))
        .collect()
}

/// The images of the story: dev runs the `_2`s, staging starts on the
/// `_1`s.
struct Images {
    api_1: Image,
    api_2: Image,
    web_1: Image,
    web_2: Image,
}

fn images() -> Images {
    Images {
        api_1: Image::new("sha-1111111"),
        api_2: Image::new("sha-2222222"),
        web_1: Image::new("v1.0.0"),
        web_2: Image::new("v1.1.0"),
    }
}

fn waits_for_review(app: &str, runs: &Image, pr: &PullRequest) -> Entry {
    stays(
        "staging",
        app,
        runs,
        "pr_open",
        &format!("pull request #{} waits for review: {}", pr.number, pr.url),
    )
}

fn runs_what_dev_runs(app: &str, runs: &Image) -> Entry {
    stays("staging", app, runs, "up_to_date", "runs what dev runs")
}

/// Step 1: dev has proven api, not web. One PR on the environment's
/// branch, api only. Returns it and its branch tip.
async fn api_moves_web_is_unhealthy(h: &mut Harness, i: &Images) -> (PullRequest, Oid) {
    let main_0 = h.tip("main");
    let snap = h.snapshot(&[("api", proven()), ("web", unhealthy())]).await;
    let step = plan(
        &i.api_2,
        &i.web_2,
        [
            moves("api", &i.api_1, &i.api_2),
            stays(
                "staging",
                "web",
                &i.web_1,
                "health",
                "dev has not proven v1.1.0: health: health is Progressing, not Healthy",
            ),
        ],
    );
    let done = h.execute(&snap, &step).await;
    assert_eq!(done, [h.action(1, &["api"], "opened").await]);
    let prs = h.all_prs().await;
    assert_eq!(prs.len(), 1, "{prs:#?}");
    let pr = prs[0].clone();
    assert_eq!(pr.state, PrState::Open);
    assert_eq!(pr.head, GROUP_BRANCH);
    assert_eq!(pr.base, "main");
    assert_eq!(pr.title, "staging: api sha-1111111 → sha-2222222");
    assert_eq!(pr.labels, ["ferry", "env:staging"]);
    assert_eq!(pr.reviewers, ["alice", "team:platform"]);
    assert_eq!(carried(&pr.body), pairs(&[("api", &i.api_2)]));
    assert_eq!(h.tip("main"), main_0, "a proposal does not move main");
    let tip = h.assert_proposal(GROUP_BRANCH, &overlay("staging", &i.api_2, &i.web_1));
    (pr, tip)
}

/// Step 3: a reviewer brings api to staging by hand while web's promotion
/// still waits in the PR: nothing happens to the PR or its branch.
async fn api_merged_by_hand_web_waits(h: &mut Harness, i: &Images, pr: &PullRequest, tip: Oid) {
    h.edit_main("staging", overlay("staging", &i.api_2, &i.web_1));
    let comments = h.comments(1).await;
    let snap = h.snapshot(&[("api", proven()), ("web", proven())]).await;
    let step = plan(
        &i.api_2,
        &i.web_2,
        [
            runs_what_dev_runs("api", &i.api_2),
            waits_for_review("web", &i.web_1, pr),
        ],
    );
    let done = h.execute(&snap, &step).await;
    assert_eq!(done, []);
    assert_eq!(h.pr(1).await.state, PrState::Open, "web still waits");
    assert_eq!(h.comments(1).await, comments, "no new comment");
    assert_eq!(h.all_prs().await.len(), 1);
    assert_eq!(h.tip(GROUP_BRANCH), tip, "the branch is left alone");
}

/// Step 4: web reaches staging too, so the PR has nothing left to propose:
/// closed with a comment, once.
async fn web_merged_by_hand_pr_closes(h: &mut Harness, i: &Images) {
    h.edit_main("staging", overlay("staging", &i.api_2, &i.web_2));
    let snap = h.snapshot(&[("api", proven()), ("web", proven())]).await;
    let step = plan(
        &i.api_2,
        &i.web_2,
        [
            runs_what_dev_runs("api", &i.api_2),
            runs_what_dev_runs("web", &i.web_2),
        ],
    );
    let done = h.execute(&snap, &step).await;
    assert_eq!(done, [h.action(1, &["api", "web"], "closed").await]);
    assert_eq!(h.pr(1).await.state, PrState::Closed);
    let comments = h.comments(1).await;
    assert!(
        comments.iter().any(|c| c.contains("staging")),
        "a comment names the environment: {comments:?}"
    );
    assert_eq!(h.all_prs().await.len(), 1);

    // The next pass has nothing to do.
    let snap = h.snapshot(&[("api", proven()), ("web", proven())]).await;
    assert!(snap.proposals.is_empty());
    assert_eq!(h.execute(&snap, &step).await, []);
    assert_eq!(h.comments(1).await, comments, "closed once");
    assert_eq!(h.all_prs().await.len(), 1);
}

#[tokio::test]
async fn a_grouped_environment_opens_one_pull_request_for_what_moves() {
    let i = images();
    let mut h = Harness::new((&i.api_2, &i.web_2), (&i.api_1, &i.web_1));
    api_moves_web_is_unhealthy(&mut h, &i).await;
}

/// The whole story on one PR: opened for api, updated with web, left open
/// while web waits, closed when staging runs both.
#[tokio::test]
async fn an_update_keeps_every_app_the_pull_request_carries() {
    let i = images();
    let mut h = Harness::new((&i.api_2, &i.web_2), (&i.api_1, &i.web_1));
    let main_0 = h.tip("main");
    let (pr, tip_1) = api_moves_web_is_unhealthy(&mut h, &i).await;

    // 2. dev has proven web too; api's promotion waits for review. The same
    //    PR now carries both.
    let snap = h.snapshot(&[("api", proven()), ("web", proven())]).await;
    let step = plan(
        &i.api_2,
        &i.web_2,
        [
            waits_for_review("api", &i.api_1, &pr),
            moves("web", &i.web_1, &i.web_2),
        ],
    );
    let done = h.execute(&snap, &step).await;
    assert_eq!(done, [h.action(1, &["api", "web"], "updated").await]);
    let prs = h.all_prs().await;
    assert_eq!(prs.len(), 1, "no second PR: {prs:#?}");
    let pr = prs[0].clone();
    assert_eq!((pr.number, pr.state), (1, PrState::Open));
    assert_eq!(pr.head, GROUP_BRANCH);
    assert_eq!(
        carried(&pr.body),
        pairs(&[("api", &i.api_2), ("web", &i.web_2)]),
        "the body carries both apps:\n{}",
        pr.body
    );
    assert_eq!(
        pr.title,
        "staging: api sha-1111111 → sha-2222222, web v1.0.0 → v1.1.0"
    );
    let comments = h.comments(1).await;
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].contains(&format!(
            "- web: added, v1.1.0 (`{}`)",
            &i.web_2.digest[..19]
        )) && !comments[0].contains("- api"),
        "the update names what changed: {}",
        comments[0]
    );
    let tip_2 = h.assert_proposal(GROUP_BRANCH, &overlay("staging", &i.api_2, &i.web_2));
    assert_ne!(tip_2, tip_1);
    assert_eq!(h.tip("main"), main_0);

    // 3. and 4.
    api_merged_by_hand_web_waits(&mut h, &i, &pr, tip_2).await;
    web_merged_by_hand_pr_closes(&mut h, &i).await;
}

/// Steps 3 and 4 of the story on a PR that carried both apps from the
/// start, so they run whatever becomes of updates.
#[tokio::test]
async fn the_pull_request_stays_open_until_the_environment_runs_all_it_carries() {
    let i = images();
    let mut h = Harness::new((&i.api_2, &i.web_2), (&i.api_1, &i.web_1));
    let snap = h.snapshot(&[("api", proven()), ("web", proven())]).await;
    let step = plan(
        &i.api_2,
        &i.web_2,
        [
            moves("api", &i.api_1, &i.api_2),
            moves("web", &i.web_1, &i.web_2),
        ],
    );
    let done = h.execute(&snap, &step).await;
    assert_eq!(done, [h.action(1, &["api", "web"], "opened").await]);
    let pr = h.pr(1).await;
    assert_eq!(pr.head, GROUP_BRANCH);
    assert_eq!(
        pr.title,
        "staging: api sha-1111111 → sha-2222222, web v1.0.0 → v1.1.0"
    );
    assert_eq!(
        carried(&pr.body),
        pairs(&[("api", &i.api_2), ("web", &i.web_2)])
    );
    let tip = h.assert_proposal(GROUP_BRANCH, &overlay("staging", &i.api_2, &i.web_2));

    api_merged_by_hand_web_waits(&mut h, &i, &pr, tip).await;
    web_merged_by_hand_pr_closes(&mut h, &i).await;
}

/// A newer image upstream has not proven yet does not push the proven one
/// the PR carries out of it when another app updates the PR.
#[tokio::test]
async fn an_update_keeps_a_carried_app_whose_newer_image_is_not_proven() {
    let i = images();
    let (api_3, web_3) = (Image::new("sha-3333333"), Image::new("v1.2.0"));
    let mut h = Harness::new((&i.api_2, &i.web_2), (&i.api_1, &i.web_1));
    let snap = h.snapshot(&[("api", proven()), ("web", proven())]).await;
    let step = plan(
        &i.api_2,
        &i.web_2,
        [
            moves("api", &i.api_1, &i.api_2),
            moves("web", &i.web_1, &i.web_2),
        ],
    );
    h.execute(&snap, &step).await;

    // dev moves on: its api is not proven yet, its web is.
    h.edit_main("dev", overlay("dev", &api_3, &web_3));
    let snap = h.snapshot(&[("api", unhealthy()), ("web", proven())]).await;
    let step = plan(
        &api_3,
        &web_3,
        [
            stays(
                "staging",
                "api",
                &i.api_1,
                "health",
                "dev has not proven sha-3333333: health: health is Progressing, not Healthy",
            ),
            moves("web", &i.web_1, &web_3),
        ],
    );
    let done = h.execute(&snap, &step).await;
    assert_eq!(done, [h.action(1, &["api", "web"], "updated").await]);
    let pr = h.pr(1).await;
    assert_eq!(
        carried(&pr.body),
        pairs(&[("api", &i.api_2), ("web", &web_3)]),
        "api keeps the proven image the PR carried:\n{}",
        pr.body
    );
    assert_eq!(
        pr.title,
        "staging: api sha-1111111 → sha-2222222, web v1.0.0 → v1.2.0"
    );
    h.assert_proposal(GROUP_BRANCH, &overlay("staging", &i.api_2, &web_3));
    assert_eq!(h.all_prs().await.len(), 1);
}

#[tokio::test]
async fn per_app_pull_requests_are_closed_once_the_environment_is_grouped() {
    let Images {
        api_1,
        api_2,
        web_1,
        ..
    } = images();
    let mut h = Harness::new((&api_2, &web_1), (&api_1, &web_1));
    // What a per-app config left open, and PRs this ferry does not own.
    let open = |head: &str, body: String| PrSpec {
        head: head.into(),
        base: "main".into(),
        title: format!("{head}: api sha-1111111 → sha-2222222"),
        body,
        labels: vec!["ferry".into()],
        reviewers: Vec::new(),
        draft: false,
    };
    let trailers = |env: &str| {
        format!(
            "```\n{env}: api sha-1111111→sha-2222222\n\nFerry-App: api\nFerry-Env: {env}\n\
             Ferry-Digest: {}\n```\n",
            api_2.digest
        )
    };
    let old = h
        .forge
        .open(&open("ferry/staging/api", trailers("staging")))
        .await
        .unwrap();
    let qa = h
        .forge
        .open(&open("ferry/qa/api", trailers("qa")))
        .await
        .unwrap();
    let renovate = h
        .forge
        .open(&open("renovate/web-1.x", "bump web".into()))
        .await
        .unwrap();
    let (old, qa, renovate) = (old.number, qa.number, renovate.number);
    assert_eq!((old, qa, renovate), (1, 2, 3));

    // The grouped branch has no PR, so api moves; web runs what dev runs.
    let snap = h.snapshot(&[("api", proven()), ("web", proven())]).await;
    assert_eq!(snap.proposals.len(), 2, "{:?}", snap.proposals);
    let pass = plan(
        &api_2,
        &web_1,
        [
            moves("api", &api_1, &api_2),
            stays("staging", "web", &web_1, "up_to_date", "runs what dev runs"),
        ],
    );
    let done = h.execute(&snap, &pass).await;
    let grouped = h
        .forge
        .find_open(GROUP_BRANCH)
        .await
        .unwrap()
        .expect("the grouped PR");
    assert_eq!(grouped.number, 4);
    assert_eq!(carried(&grouped.body), pairs(&[("api", &api_2)]));
    h.assert_proposal(GROUP_BRANCH, &overlay("staging", &api_2, &web_1));
    assert_eq!(
        done,
        [
            h.action(grouped.number, &["api"], "opened").await,
            h.action(old, &[], "closed").await,
        ]
    );
    assert_eq!(h.pr(old).await.state, PrState::Closed);
    let comments = h.comments(old).await;
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].contains("ferry/staging/api")
            && comments[0].contains("no longer")
            && comments[0].contains("group"),
        "the comment says why: {comments:?}"
    );
    for other in [qa, renovate] {
        let pr = h.pr(other).await;
        assert_eq!(pr.state, PrState::Open, "{} is not ferry's", pr.head);
        assert!(h.comments(other).await.is_empty(), "{}", pr.head);
    }

    // The next pass: api waits for review of the grouped PR; nothing else
    // is closed or opened.
    let snap = h.snapshot(&[("api", proven()), ("web", proven())]).await;
    let pass = plan(
        &api_2,
        &web_1,
        [
            stays(
                "staging",
                "api",
                &api_1,
                "pr_open",
                &format!("pull request #4 waits for review: {}", grouped.url),
            ),
            stays("staging", "web", &web_1, "up_to_date", "runs what dev runs"),
        ],
    );
    assert_eq!(h.execute(&snap, &pass).await, []);
    let states: Vec<(u64, PrState)> = h
        .all_prs()
        .await
        .iter()
        .map(|p| (p.number, p.state))
        .collect();
    assert_eq!(
        states,
        [
            (old, PrState::Closed),
            (qa, PrState::Open),
            (renovate, PrState::Open),
            (grouped.number, PrState::Open),
        ]
    );
}

/// What a grouped PR carries comes from its branch, not its body: a
/// collaborator adds `Ferry-App: web` / `Ferry-Digest: <another digest>` to
/// the body; the next update rebuilds the branch from git, and no overlay
/// ever carries that digest.
#[tokio::test]
async fn an_edited_body_never_reaches_the_rebuilt_branch() {
    let i = images();
    let evil = Image::new("v6.6.6");
    let mut h = Harness::new((&i.api_2, &i.web_2), (&i.api_1, &i.web_1));
    let (pr, _) = api_moves_web_is_unhealthy(&mut h, &i).await;
    let forged = format!(
        "{}\nFerry-App: web\nFerry-Digest: {}\n",
        pr.body, evil.digest
    );
    h.forge.update(pr.number, &pr.title, &forged).await.unwrap();

    // dev moves api on; web is still not proven, so it is not carried.
    let api_3 = Image::new("sha-3333333");
    h.edit_main("dev", overlay("dev", &api_3, &i.web_2));
    let snap = h.snapshot(&[("api", proven()), ("web", unhealthy())]).await;
    let step = plan(
        &api_3,
        &i.web_2,
        [
            moves("api", &i.api_1, &api_3),
            stays(
                "staging",
                "web",
                &i.web_1,
                "health",
                "dev has not proven v1.1.0: health: health is Progressing, not Healthy",
            ),
        ],
    );
    let done = h.execute(&snap, &step).await;
    assert_eq!(done, [h.action(pr.number, &["api"], "updated").await]);
    h.assert_proposal(GROUP_BRANCH, &overlay("staging", &api_3, &i.web_1));
    let body = h.pr(pr.number).await.body;
    assert!(
        !body.contains(&evil.digest),
        "the body is rewritten:\n{body}"
    );
    for branch in ["main", GROUP_BRANCH] {
        let text = h.file_at(h.tip(branch), &overlay_file("staging"));
        assert!(!text.contains(&evil.digest), "{branch}: {text}");
    }
}
