//! Promotion end to end with the `ferry` binary (`ferry run --once`,
//! `ferry plan`) against the stateful fake GitHub (`tests/fake_github`,
//! reached through ferry's real `GitHubForge` and octocrab) and the fake
//! Argo CD (`tests/support_argocd`, real Application objects from the
//! corpus): a bare GitOps repository on disk whose branches the fake GitHub
//! serves, a local registry file with signed, scanned images.
//!
//! The story: dev commit → dev proven → staging PR; a newer image proven
//! in dev updates the same PR; a restarted process changes nothing; the
//! reviewer merges → staging runs it, staging proven → production PR; a
//! hand edit of the overlay makes an open PR stale → ferry closes it with a
//! comment. And separately: two processes racing to open one PR leave one.

mod common;
mod fake_github;
#[allow(dead_code)] // this file uses part of it
mod support_argocd;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::Image;
use fake_github::{FakeGitHub, Pull};
use ferry::gates::SignatureEvidence;
use ferry::gates::signer::Signer;
use ferry::gitops::{Author, init_bare_with};
use git2::{Oid, Repository};
use serde_json::{Value, json};
use support_argocd::{FakeArgo, at, corpus_app};

const REPO: &str = "acme/platform-gitops";
const GITHUB_TOKEN: &str = "ghp_promotiontesttoken";
const ARGO_TOKEN: &str = "argocd-promotion-test-token";
const IMAGE_NAME: &str = "123456789012.dkr.ecr.us-west-2.amazonaws.com/llmplatform/gateway";
const ENVOY: &str = "envoyproxy/envoy:v1.31.2";
const PULLS: &str = "/repos/acme/platform-gitops/pulls";

/// (environment, overlay directory, Argo CD application: one per app and
/// environment, `argocd_app: "{app}-<env>"` in the config).
const ENVS: [(&str, &str, &str); 3] = [
    ("dev", "k8s/overlays/dev", "gateway-dev"),
    ("staging", "k8s/overlays/staging", "gateway-staging"),
    ("production", "k8s/overlays/prod", "gateway-prod"),
];

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

impl Image {
    /// What kustomize renders and Argo CD lists in `status.summary.images`.
    fn reference(&self) -> String {
        format!("{IMAGE_NAME}:{}@{}", self.tag, self.digest)
    }
}

fn env(name: &str) -> (&'static str, &'static str, &'static str) {
    *ENVS.iter().find(|e| e.0 == name).expect("environment")
}

fn overlay_file(name: &str) -> String {
    format!("{}/kustomization.yaml", env(name).1)
}

/// The overlay of `name` running `image`, byte for byte: comments, the
/// trailing comment on `newTag`, the quoted envoy tag and the key order are
/// what a lossless edit must keep.
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

/// A GitOps repository (bare, on disk) with dev, staging and production
/// overlays, a local registry file, a signing key, a config, the fake
/// GitHub serving the repository's branches and the fake Argo CD.
struct Harness {
    dir: tempfile::TempDir,
    signer: Signer,
    /// Registry lines of every image that arrived, oldest first.
    registry: Vec<String>,
    github: FakeGitHub,
    argo: FakeArgo,
    // Last: the fakes run on it.
    _rt: tokio::runtime::Runtime,
}

impl Harness {
    /// Every environment runs `initial`, and Argo CD shows each of them
    /// running it at the initial commit.
    fn new(initial: &Image) -> Harness {
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
        github.add_token(GITHUB_TOKEN, "ferry-bot");
        github.back_with_git(REPO, &dir.path().join("gitops.git"));

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
    labels: [ferry, \"env:staging\"]
    reviewers: [alice, \"team:platform\"]
  - name: production
    mode: pull_request
    after: staging
    argocd_app: \"{{app}}-prod\"
    labels: [ferry, \"env:production\"]
    reviewers: [bob, \"team:sre\"]
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
            _rt: rt,
        };
        h.push_image(initial);
        let root = h.tip("main").unwrap();
        for (name, _, _) in ENVS {
            h.argo_reports(name, root, initial);
        }
        h
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn bare(&self) -> PathBuf {
        self.path().join("gitops.git")
    }

    // ---- the registry -----------------------------------------------------

    /// CI pushes `image`: scanned (one HIGH finding, within budget) and
    /// signed by the trusted key.
    fn push_image(&mut self, image: &Image) {
        self.push_as(image, Pushed::Good);
    }

    /// CI pushes `image` with the scan and signature `how` says.
    fn push_as(&mut self, image: &Image, how: Pushed) {
        let digest = ferry::image::Digest::parse(&image.digest).unwrap();
        let reference = format!("{IMAGE_NAME}:{}", image.tag);
        let evidence = match how {
            Pushed::Good | Pushed::Critical | Pushed::Pending => {
                Some(self.signer.sign_simple(&reference, &digest).unwrap())
            }
            Pushed::Untrusted => Some(
                Signer::generate()
                    .unwrap()
                    .sign_simple(&reference, &digest)
                    .unwrap(),
            ),
            Pushed::Attestation => Some(
                self.signer
                    .sign_attestation(
                        &reference,
                        &digest,
                        "https://spdx.dev/Document",
                        json!({"spdxVersion": "SPDX-2.3"}),
                    )
                    .unwrap(),
            ),
            Pushed::Unsigned => None,
        };
        let signature = match evidence {
            None => String::new(),
            Some(SignatureEvidence::SimpleSigning {
                payload,
                signature_b64,
            }) => {
                std::fs::write(self.path().join(format!("sigs/{}", digest.hex())), payload)
                    .unwrap();
                format!(
                    "{{payload: sigs/{}, signature: \"{signature_b64}\"}}",
                    digest.hex()
                )
            }
            Some(SignatureEvidence::Bundle { json }) => {
                std::fs::write(self.path().join(format!("sigs/{}", digest.hex())), json).unwrap();
                format!("{{bundle: sigs/{}}}", digest.hex())
            }
            Some(other) => unreachable!("the signer signs: {other:?}"),
        };
        let scan = match how {
            Pushed::Critical => "{status: COMPLETE, findings: {CRITICAL: 7, HIGH: 1}}",
            Pushed::Pending => "{status: IN_PROGRESS}",
            _ => "{status: COMPLETE, findings: {HIGH: 1}}",
        };
        let n = self.registry.len();
        self.registry.push(format!(
            "      - {{digest: {}, tags: [{}], pushed_at: \"2026-11-26T10:00:{n:02}Z\", scan: {scan}, signatures: [{signature}]}}\n",
            image.digest, image.tag,
        ));
        self.write_registry();
    }

    /// Rewrites the registry file from every image that arrived.
    fn write_registry(&self) {
        let text = format!(
            "repositories:\n  llmplatform/gateway:\n    images:\n{}",
            self.registry.concat()
        );
        ferry::atomic::write(&self.path().join("registry.yaml"), text.as_bytes()).unwrap();
    }

    // ---- Argo CD ----------------------------------------------------------

    /// Argo CD shows `env` synced to `revision`, the sync succeeded,
    /// healthy, running `image` (corpus file 06 with these fields set).
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
        *at(&mut app, "status.summary.images") = json!([image.reference(), ENVOY]);
        self.argo.put(env(name).2, app);
    }

    /// Argo CD has synced `env` to the tip of main and runs `image` there.
    fn prove(&self, name: &str, image: &Image) {
        let tip = self.tip("main").unwrap();
        assert_eq!(
            self.file_at(tip, &overlay_file(name)),
            overlay(name, image),
            "{name} must run {} on main before Argo CD can show it",
            image.tag
        );
        self.argo_reports(name, tip, image);
    }

    // ---- ferry ------------------------------------------------------------

    fn ferry(&self, cache: &str, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ferry"));
        c.args(args)
            .arg("--config")
            .arg(self.path().join("ferry.yaml"))
            .env(
                "FERRY_CACHE_DIR",
                self.path().join(format!("cache-{cache}")),
            )
            .env("FERRY_TEST_GITHUB_TOKEN", GITHUB_TOKEN)
            .env("FERRY_TEST_ARGOCD_TOKEN", ARGO_TOKEN)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .env_remove("FERRY_FAILPOINT")
            .env_remove("FERRY_LOG_FORMAT");
        c
    }

    /// One pass in a new process (`ferry run --once`) with the checkout
    /// cache `cache`; it must succeed.
    fn pass(&self, cache: &str) -> Output {
        let o = self.ferry(cache, &["run", "--once"]).output().unwrap();
        ok(&o);
        o
    }

    /// A pass started in the background.
    fn spawn_pass(&self, cache: &str) -> Child {
        self.ferry(cache, &["run", "--once"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `ferry plan --output json`.
    fn plan(&self) -> Value {
        let o = self
            .ferry("plan", &["plan", "--output", "json"])
            .output()
            .unwrap();
        ok(&o);
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// The plan entry of the app in `name`.
    fn planned(&self, name: &str) -> Value {
        let plan = self.plan();
        plan["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["app"] == "gateway" && e["env"] == name)
            .unwrap_or_else(|| panic!("no entry for {name}: {plan:#}"))
            .clone()
    }

    // ---- git --------------------------------------------------------------

    fn git(&self) -> Repository {
        Repository::open_bare(self.bare()).unwrap()
    }

    fn tip(&self, branch: &str) -> Option<Oid> {
        let repo = self.git();
        let r = repo.find_reference(&format!("refs/heads/{branch}")).ok()?;
        Some(r.peel_to_commit().unwrap().id())
    }

    fn file_at(&self, commit: Oid, path: &str) -> String {
        let repo = self.git();
        let tree = repo.find_commit(commit).unwrap().tree().unwrap();
        let entry = tree.get_path(Path::new(path)).unwrap();
        let blob = repo.find_blob(entry.id()).unwrap();
        String::from_utf8(blob.content().to_vec()).unwrap()
    }

    fn parents(&self, commit: Oid) -> Vec<Oid> {
        self.git()
            .find_commit(commit)
            .unwrap()
            .parent_ids()
            .collect()
    }

    fn message(&self, commit: Oid) -> String {
        let repo = self.git();
        let c = repo.find_commit(commit).unwrap();
        c.message().unwrap().to_string()
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

    /// The promotion branch of `name` carries exactly one commit on top of
    /// `base`, and it changes exactly the overlay of `name` to `image`.
    fn assert_proposal(&self, name: &str, base: Oid, image: &Image) -> Oid {
        let branch = format!("ferry/{name}/gateway");
        let head = self
            .tip(&branch)
            .unwrap_or_else(|| panic!("{branch} pushed"));
        assert_eq!(self.parents(head), [base], "{branch} sits on main's tip");
        assert_eq!(self.changed_files(head), [overlay_file(name)]);
        let proposed = self.file_at(head, &overlay_file(name));
        assert_eq!(
            proposed,
            overlay(name, image),
            "only newTag and digest move"
        );
        assert_eq!(
            common::rendered_images(&proposed, DEPLOYMENT),
            [image.reference(), ENVOY.to_string()],
            "kubectl kustomize renders the promoted reference"
        );
        head
    }

    /// What a reviewer's click on "Merge pull request" does: a merge
    /// commit of the branch into main (GitHub's default), and GitHub marks
    /// the pull request merged. Returns the merge commit.
    fn merge(&self, number: u64) -> Oid {
        let pull = self.github.pull(REPO, number);
        let repo = self.git();
        let head = repo.find_commit(self.tip(&pull.head).unwrap()).unwrap();
        let main = repo.find_commit(self.tip("main").unwrap()).unwrap();
        let mut index = repo.merge_commits(&main, &head, None).unwrap();
        assert!(!index.has_conflicts(), "#{number} merges cleanly");
        let tree = repo.find_tree(index.write_tree_to(&repo).unwrap()).unwrap();
        let sig = git2::Signature::now("Alice Reviewer", "alice@acme.test").unwrap();
        let message = format!(
            "Merge pull request #{number} from {}\n\n{}\n",
            pull.head, pull.title
        );
        let merge = repo
            .commit(
                Some("refs/heads/main"),
                &sig,
                &sig,
                &message,
                &tree,
                &[&main, &head],
            )
            .unwrap();
        self.github.merge(REPO, number);
        merge
    }

    /// Someone commits `image` into the overlay of `name` on main by hand.
    fn edit_by_hand(&self, name: &str, image: &Image) -> Oid {
        let repo = self.git();
        let parent = repo.find_commit(self.tip("main").unwrap()).unwrap();
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
            &format!("{name}: gateway {} by hand (hotfix)\n", image.tag),
            &tree,
            &[&parent],
        )
        .unwrap()
    }

    // ---- GitHub -----------------------------------------------------------

    fn pulls(&self) -> Vec<Pull> {
        self.github.pulls(REPO)
    }

    fn open_pulls(&self) -> Vec<Pull> {
        self.pulls().into_iter().filter(|p| p.open).collect()
    }

    /// Requests to the fake GitHub after the first `mark` ones.
    fn requests_since(&self, mark: usize) -> Vec<String> {
        self.github.requests()[mark..].to_vec()
    }

    fn mark(&self) -> usize {
        self.github.requests().len()
    }
}

/// How CI left an image in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pushed {
    /// Scanned within budget, signed by the trusted key.
    Good,
    /// Seven CRITICAL findings.
    Critical,
    /// No signature at all.
    Unsigned,
    /// Signed by a key the config does not trust.
    Untrusted,
    /// The scan has not finished.
    Pending,
    /// An SBOM attestation by the trusted key, and no signature.
    Attestation,
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "ferry failed: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Requests that change something (anything but GET).
fn writes(requests: &[String]) -> Vec<&String> {
    requests.iter().filter(|r| !r.starts_with("GET ")).collect()
}

/// How many times exactly `request` was made.
fn count(requests: &[String], request: &str) -> usize {
    requests.iter().filter(|r| *r == request).count()
}

/// The `key` trailer of the dev commit that moved to `image` (ferry's
/// record of the gates' evidence).
fn trailer(h: &Harness, commit: Oid, image: &Image, key: &str) -> String {
    let message = h.message(commit);
    assert!(
        message.contains(&format!("Ferry-Digest: {}", image.digest)),
        "{message}"
    );
    message
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key} in {message}"))
        .to_string()
}

#[test]
fn promotion_story_against_github_and_argocd() {
    let v0 = Image::new("sha-1111111");
    let v1 = Image::new("sha-aaaaaaa");
    let v2 = Image::new("sha-bbbbbbb");
    let v3 = Image::new("sha-ccccccc");
    let mut h = Harness::new(&v0);
    let pr_url = |n: u64| format!("https://github.com/{REPO}/pull/{n}");

    // ── 1. dev commit → dev proven → one staging PR ─────────────────────
    h.push_image(&v1);
    let before = h.tip("main").unwrap();
    let mark = h.mark();
    h.pass("a");
    let dev1 = h.tip("main").unwrap();
    assert_eq!(h.parents(dev1), [before], "one dev commit");
    assert_eq!(h.changed_files(dev1), [overlay_file("dev")]);
    assert_eq!(h.file_at(dev1, &overlay_file("dev")), overlay("dev", &v1));
    assert!(
        h.message(dev1)
            .starts_with("dev: gateway sha-1111111→sha-aaaaaaa"),
        "{}",
        h.message(dev1)
    );
    // Argo CD still shows dev at the initial commit: nothing is proposed.
    assert_eq!(h.tip("ferry/staging/gateway"), None);
    assert_eq!(count(&h.requests_since(mark), &format!("POST {PULLS}")), 0);
    let staging = h.planned("staging");
    assert_eq!(staging["action"], "none");
    assert_eq!(staging["reason"]["code"], "health", "{staging:#}");
    assert!(
        staging["reason"]["message"]
            .as_str()
            .unwrap()
            .contains("dev has not proven sha-aaaaaaa"),
        "{staging:#}"
    );

    h.prove("dev", &v1);
    let mark = h.mark();
    let out = h.pass("a");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains(r#"pull request opened env="staging" apps="gateway" number=1"#),
        "the daemon logs what it did to PRs: {log}"
    );
    assert_eq!(h.tip("main").unwrap(), dev1, "the pass commits nothing");
    let pulls = h.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    let pr = &pulls[0];
    assert_eq!(pr.number, 1);
    assert!(pr.open);
    assert_eq!(
        (pr.head.as_str(), pr.base.as_str(), pr.head_repo.as_str()),
        ("ferry/staging/gateway", "main", REPO)
    );
    assert_eq!(pr.title, "staging: gateway sha-1111111 → sha-aaaaaaa");
    assert_eq!(pr.labels, ["ferry", "env:staging"]);
    assert_eq!(pr.reviewers, ["alice"]);
    assert_eq!(pr.teams, ["platform"]);
    assert_eq!(pr.author, "ferry-bot");
    let branch1 = h.assert_proposal("staging", dev1, &v1);
    assert_eq!(
        pr.head_sha,
        branch1.to_string(),
        "GitHub sees the pushed head"
    );
    let body = pr.body.clone().unwrap();
    // The evidence: from and to, the gates' scan counts and signing key
    // (as the dev commit recorded them), Argo CD's revision and a link.
    let scan = trailer(&h, dev1, &v1, "Ferry-Scan");
    assert!(scan.contains("HIGH=1"), "{scan}");
    for want in [
        format!("sha-1111111 `{}`", v0.digest),
        format!("sha-aaaaaaa `{}`", v1.digest),
        format!("Ferry-Digest: {}", v1.digest),
        format!("Ferry-Image: {}", v1.reference()),
        format!("Argo CD revision {dev1}"),
        format!("[gateway-dev]({}/applications/gateway-dev)", h.argo.url),
        format!("`{}`", trailer(&h, dev1, &v1, "Ferry-Signature")),
        scan,
    ] {
        assert!(body.contains(&want), "{want:?} not in the body:\n{body}");
    }
    let requests = h.requests_since(mark);
    assert_eq!(
        count(&requests, &format!("POST {PULLS}")),
        1,
        "{requests:#?}"
    );
    let staging = h.planned("staging");
    assert_eq!(staging["action"], "none");
    assert_eq!(staging["reason"]["code"], "pr_open", "{staging:#}");
    assert!(
        staging["reason"]["message"]
            .as_str()
            .unwrap()
            .contains(&pr_url(1)),
        "{staging:#}"
    );

    // ── 2. a newer image proven in dev updates the same PR ──────────────
    h.push_image(&v2);
    let mark = h.mark();
    h.pass("a");
    let dev2 = h.tip("main").unwrap();
    assert_eq!(h.file_at(dev2, &overlay_file("dev")), overlay("dev", &v2));
    // Not proven yet: the PR keeps proposing v1, untouched.
    assert_eq!(writes(&h.requests_since(mark)), Vec::<&String>::new());
    assert_eq!(h.tip("ferry/staging/gateway"), Some(branch1));
    assert_eq!(h.planned("staging")["reason"]["code"], "health");

    h.prove("dev", &v2);
    let mark = h.mark();
    h.pass("a");
    let pulls = h.pulls();
    assert_eq!(pulls.len(), 1, "updated, never a second PR: {pulls:#?}");
    let pr = &pulls[0];
    assert!(pr.open);
    assert_eq!(pr.title, "staging: gateway sha-1111111 → sha-bbbbbbb");
    let body = pr.body.clone().unwrap();
    assert!(
        body.contains(&format!("Ferry-Digest: {}", v2.digest))
            && body.contains(&format!("Argo CD revision {dev2}"))
            && !body.contains(&v1.digest),
        "{body}"
    );
    let branch2 = h.assert_proposal("staging", dev2, &v2);
    assert_ne!(branch2, branch1);
    assert!(
        !h.git().graph_descendant_of(branch2, branch1).unwrap(),
        "the branch was replaced (force-pushed), not stacked"
    );
    assert_eq!(pr.head_sha, branch2.to_string());
    let requests = h.requests_since(mark);
    assert_eq!(
        writes(&requests),
        [
            &format!("PATCH {PULLS}/1"),
            &format!("POST /repos/{REPO}/issues/1/comments")
        ],
        "the rewrite, then a comment for the reviewers: {requests:#?}"
    );
    let note = &h.github.pull(REPO, 1).comments[0].body;
    assert!(
        note.contains(&format!(
            "- gateway: now sha-bbbbbbb (`{}`), was `{}`",
            &v2.digest[..19],
            &v1.digest[..19]
        )),
        "{note}"
    );

    // ── 3. a restarted process (and a fresh replica) change nothing ─────
    // (4, two processes racing, is the next test.)
    let mark = h.mark();
    h.pass("a");
    h.pass("replica");
    let requests = h.requests_since(mark);
    assert!(!requests.is_empty(), "the passes asked GitHub");
    assert_eq!(writes(&requests), Vec::<&String>::new(), "{requests:#?}");
    assert_eq!(h.tip("ferry/staging/gateway"), Some(branch2));
    assert_eq!(h.tip("main"), Some(dev2));
    assert_eq!(h.pulls().len(), 1);
    assert_eq!(h.planned("staging")["reason"]["code"], "pr_open");

    // GitHub cannot be asked (rate limit spent for an hour): ferry holds
    // rather than guess that no PR is open, and rewrites no branch.
    h.github.set_rate_limit(0, 3600);
    let mark = h.mark();
    h.pass("a");
    assert_eq!(
        writes(&h.requests_since(mark)),
        Vec::<&String>::new(),
        "no write is even attempted"
    );
    assert_eq!(h.tip("ferry/staging/gateway"), Some(branch2));
    let staging = h.planned("staging");
    assert_eq!(
        staging["reason"]["code"], "forge_unavailable",
        "{staging:#}"
    );
    h.github.set_rate_limit(5000, 3600);

    // ── 5. the reviewer merges; staging proven → production PR ──────────
    let merged = h.merge(1);
    assert_eq!(h.parents(merged), [dev2, branch2]);
    assert_eq!(
        h.file_at(merged, &overlay_file("staging")),
        overlay("staging", &v2)
    );
    let mark = h.mark();
    h.pass("a");
    assert_eq!(h.tip("main"), Some(merged), "nothing to commit");
    let staging = h.planned("staging");
    assert_eq!(staging["reason"]["code"], "up_to_date", "{staging:#}");
    assert_eq!(staging["from"]["digest"], v2.digest.as_str());
    let production = h.planned("production");
    assert_eq!(production["reason"]["code"], "health", "{production:#}");
    assert!(
        production["reason"]["message"]
            .as_str()
            .unwrap()
            .contains("staging has not proven sha-bbbbbbb"),
        "{production:#}"
    );
    assert_eq!(writes(&h.requests_since(mark)), Vec::<&String>::new());
    assert_eq!(h.open_pulls().len(), 0);

    h.prove("staging", &v2);
    h.pass("a");
    let open = h.open_pulls();
    assert_eq!(open.len(), 1, "{open:#?}");
    let prod = &open[0];
    assert_eq!(prod.number, 2);
    assert_eq!(
        (prod.head.as_str(), prod.base.as_str()),
        ("ferry/production/gateway", "main")
    );
    assert_eq!(prod.title, "production: gateway sha-1111111 → sha-bbbbbbb");
    assert_eq!(prod.labels, ["ferry", "env:production"]);
    assert_eq!(prod.reviewers, ["bob"]);
    assert_eq!(prod.teams, ["sre"]);
    let body = prod.body.clone().unwrap();
    assert!(
        body.contains(&format!("Ferry-Digest: {}", v2.digest))
            && body.contains(&format!("Argo CD revision {merged}"))
            && body.contains("/applications/gateway-staging)"),
        "{body}"
    );
    let prod_branch = h.assert_proposal("production", merged, &v2);
    assert_eq!(prod.head_sha, prod_branch.to_string());

    // ── 6. a hand edit makes an open PR stale: ferry closes it ──────────
    h.push_image(&v3);
    h.pass("a");
    let dev3 = h.tip("main").unwrap();
    assert_eq!(h.file_at(dev3, &overlay_file("dev")), overlay("dev", &v3));
    h.prove("dev", &v3);
    h.pass("a");
    let open = h.open_pulls();
    assert_eq!(
        open.iter().map(|p| p.number).collect::<Vec<_>>(),
        [2, 3],
        "a new staging PR next to the production one"
    );
    let stale = h.github.pull(REPO, 3);
    assert_eq!(stale.head, "ferry/staging/gateway");
    assert!(
        stale
            .body
            .as_deref()
            .unwrap()
            .contains(&format!("Ferry-Digest: {}", v3.digest))
    );

    h.edit_by_hand("staging", &v3);
    let mark = h.mark();
    h.pass("a");
    let stale = h.github.pull(REPO, 3);
    assert!(!stale.open, "ferry closes the stale PR");
    assert_eq!(stale.merged_at, None);
    assert_eq!(stale.comments.len(), 1, "{:#?}", stale.comments);
    assert_eq!(stale.comments[0].author, "ferry-bot");
    assert!(
        stale.comments[0]
            .body
            .contains("staging already runs this app's promoted image"),
        "{}",
        stale.comments[0].body
    );
    let requests = h.requests_since(mark);
    assert_eq!(
        writes(&requests),
        [
            &format!("PATCH {PULLS}/3"),
            &format!("POST /repos/{REPO}/issues/3/comments"),
            &format!("PATCH {PULLS}/3"),
        ],
        "the closed-by-ferry mark, the reason, then the close; the production PR is left alone: {requests:#?}"
    );
    assert!(
        stale
            .body
            .as_deref()
            .unwrap()
            .contains("Ferry-Closed: staging already runs"),
        "{:?}",
        stale.body
    );
    assert!(h.github.pull(REPO, 2).open);
    assert_eq!(h.planned("staging")["reason"]["code"], "up_to_date");
    // Closing is done once: the next pass finds nothing to close.
    let mark = h.mark();
    h.pass("a");
    assert_eq!(writes(&h.requests_since(mark)), Vec::<&String>::new());
    assert_eq!(h.pulls().len(), 3);

    // ── 7. a reviewer rejects a PR: ferry does not open it again ────────
    let v4 = Image::new("sha-ddddddd");
    let v5 = Image::new("sha-eeeeeee");
    h.push_image(&v4);
    h.pass("a");
    h.prove("dev", &v4);
    h.pass("a");
    let rejected = h
        .open_pulls()
        .into_iter()
        .find(|p| p.head == "ferry/staging/gateway")
        .expect("a staging PR for sha-ddddddd");
    h.github.close_by_hand(REPO, rejected.number);
    let mark = h.mark();
    h.pass("a");
    h.pass("b");
    assert_eq!(
        writes(&h.requests_since(mark)),
        Vec::<&String>::new(),
        "neither process reopens or re-proposes the rejected image"
    );
    let staging = h.planned("staging");
    assert_eq!(staging["reason"]["code"], "pr_closed", "{staging:#}");
    assert!(
        staging["reason"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("#{} proposing sha-ddddddd", rejected.number)),
        "{staging:#}"
    );
    // The next proven image is proposed in a new PR.
    h.push_image(&v5);
    h.pass("a");
    h.prove("dev", &v5);
    h.pass("a");
    let next = h
        .open_pulls()
        .into_iter()
        .find(|p| p.head == "ferry/staging/gateway")
        .expect("a staging PR for sha-eeeeeee");
    assert!(next.number > rejected.number);
    assert!(
        next.body
            .as_deref()
            .unwrap()
            .contains(&format!("Ferry-Digest: {}", v5.digest))
    );
    assert!(!h.github.pull(REPO, rejected.number).open);
}

/// Seconds of soak left in staging's plan entry ("Ns of soak left").
fn soak_left(h: &Harness, cache: &str) -> u64 {
    let o = h
        .ferry(cache, &["plan", "--output", "json"])
        .output()
        .unwrap();
    ok(&o);
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let staging = plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["app"] == "gateway" && e["env"] == "staging")
        .unwrap()
        .clone();
    assert_eq!(staging["reason"]["code"], "soak", "{staging:#}");
    let message = staging["reason"]["message"].as_str().unwrap();
    let (_, tail) = message.rsplit_once(": ").unwrap();
    tail.strip_suffix("s of soak left")
        .unwrap_or_else(|| panic!("{message}"))
        .parse()
        .unwrap()
}

/// A restarted process keeps its soak clocks (a file beside its checkout
/// in the cache directory); a process with a fresh cache starts them again.
#[test]
fn soak_clocks_survive_a_restart() {
    let v0 = Image::new("sha-1111111");
    let v1 = Image::new("sha-aaaaaaa");
    let mut h = Harness::new(&v0);
    let config = std::fs::read_to_string(h.path().join("ferry.yaml")).unwrap();
    std::fs::write(
        h.path().join("ferry.yaml"),
        config.replacen("soak: 0s", "soak: 1h", 1),
    )
    .unwrap();
    h.push_image(&v1);
    h.pass("a");
    h.prove("dev", &v1);
    // A pass starts the clock and saves it; `ferry plan` only reads it.
    h.pass("a");

    let first = soak_left(&h, "a");
    assert!(first <= 3600, "{first}");
    std::thread::sleep(Duration::from_millis(1200));
    let restarted = soak_left(&h, "a");
    assert!(
        restarted < first,
        "the clock kept running across the restart: {first}s, then {restarted}s"
    );
    let files: Vec<String> = std::fs::read_dir(h.path().join("cache-a"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".soak.json"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(soak_left(&h, "b"), 3600, "a fresh cache starts the clock");
    assert_eq!(h.pulls().len(), 0, "nothing is proposed while soaking");
}

/// Two ferry processes pass at once on a fresh promotion: both get as far
/// as asking GitHub to open the pull request (the fake holds the first
/// `POST /pulls` until the second arrives), GitHub answers the loser 422
/// "A pull request already exists", and the loser adopts the open one.
#[test]
fn two_processes_racing_leave_one_pull_request() {
    let v0 = Image::new("sha-1111111");
    let v1 = Image::new("sha-aaaaaaa");
    let mut h = Harness::new(&v0);
    h.push_image(&v1);
    h.pass("setup");
    let dev1 = h.tip("main").unwrap();
    h.prove("dev", &v1);

    h.github.rendezvous_pull_creates(2, Duration::from_secs(30));
    let mark = h.mark();
    let a = h.spawn_pass("one");
    let b = h.spawn_pass("two");
    for child in [a, b] {
        ok(&child.wait_with_output().unwrap());
    }

    let requests = h.requests_since(mark);
    assert_eq!(
        count(&requests, &format!("POST {PULLS}")),
        2,
        "both processes tried to open it: {requests:#?}"
    );
    let pulls = h.pulls();
    assert_eq!(pulls.len(), 1, "exactly one pull request: {pulls:#?}");
    let pr = &pulls[0];
    assert!(pr.open);
    assert_eq!(pr.head, "ferry/staging/gateway");
    assert_eq!(pr.labels, ["ferry", "env:staging"], "no label twice");
    assert_eq!(pr.reviewers, ["alice"]);
    assert_eq!(pr.teams, ["platform"]);
    let head = h.assert_proposal("staging", dev1, &v1);
    assert_eq!(pr.head_sha, head.to_string());
    assert_eq!(h.tip("main"), Some(dev1));

    // Both processes see the same PR afterwards.
    let staging = h.planned("staging");
    assert_eq!(staging["reason"]["code"], "pr_open", "{staging:#}");
    assert!(
        staging["reason"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("https://github.com/{REPO}/pull/1"))
    );
}

/// A person commits dev by hand to an image ferry never checked, and Argo
/// CD reports dev Synced and Healthy running it. For each gate reason the
/// staging promotion is held with that reason (in the plan and the pass),
/// no branch is pushed and no PR opened; an image that passes, committed
/// the same way, gets its PR with the gates' evidence.
#[test]
fn an_image_put_upstream_by_hand_passes_the_gates_before_promotion() {
    let v0 = Image::new("sha-1111111");
    let cases = [
        (Some(Pushed::Critical), "held", "scan_budget"),
        (Some(Pushed::Unsigned), "held", "unsigned"),
        (Some(Pushed::Untrusted), "held", "signature_untrusted"),
        (Some(Pushed::Pending), "held", "scan_pending"),
        (Some(Pushed::Attestation), "held", "signature_untrusted"),
        (None, "not_in_registry", ""),
    ];
    for (pushed, code, gate) in cases {
        let bad = Image::new("sha-5d5d5d5");
        let mut h = Harness::new(&v0);
        if let Some(how) = pushed {
            h.push_as(&bad, how);
        }
        h.edit_by_hand("dev", &bad);
        h.prove("dev", &bad);
        let staging = h.planned("staging");
        assert_eq!(staging["action"], "none", "{pushed:?}: {staging:#}");
        assert_eq!(staging["reason"]["code"], code, "{pushed:?}: {staging:#}");
        if !gate.is_empty() {
            let held = &staging["reason"]["held"][0];
            assert_eq!(held["digest"], bad.digest.as_str(), "{staging:#}");
            let codes: Vec<&str> = held["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["code"].as_str().unwrap())
                .collect();
            assert!(codes.contains(&gate), "{pushed:?}: {codes:?}");
        }
        let mark = h.mark();
        h.pass("a");
        assert!(h.pulls().is_empty(), "{pushed:?}: {:#?}", h.pulls());
        assert_eq!(h.tip("ferry/staging/gateway"), None, "{pushed:?}");
        assert_eq!(
            count(&h.requests_since(mark), &format!("POST {PULLS}")),
            0,
            "{pushed:?}"
        );
    }

    // The control: a good image, put there the same way, is promoted.
    let good = Image::new("sha-6e6e6e6");
    let mut h = Harness::new(&v0);
    h.push_image(&good);
    let by_hand = h.edit_by_hand("dev", &good);
    h.prove("dev", &good);
    h.pass("a");
    let pulls = h.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    assert_eq!(pulls[0].title, "staging: gateway sha-1111111 → sha-6e6e6e6");
    h.assert_proposal("staging", by_hand, &good);
    let body = pulls[0].body.clone().unwrap();
    // The evidence is the gates' verdict: no ferry commit (and so no
    // trailer) ever recorded this image.
    assert!(body.contains("| HIGH=1 |"), "{body}");
    assert!(!body.contains("(not checked)"), "{body}");
    assert!(!body.contains("(not recorded)"), "{body}");
}

/// An open promotion PR whose image later fails a gate (a finding
/// published after the scan) is closed with a comment naming the reason.
#[test]
fn an_open_pull_request_whose_image_fails_a_gate_now_is_closed() {
    let v0 = Image::new("sha-1111111");
    let v1 = Image::new("sha-aaaaaaa");
    let mut h = Harness::new(&v0);
    h.push_image(&v1);
    h.pass("a");
    h.prove("dev", &v1);
    h.pass("a");
    assert_eq!(h.open_pulls().len(), 1);
    // Inspector rescans: seven CRITICAL findings on the same digest.
    let line = h.registry.pop().unwrap();
    h.registry
        .push(line.replace("findings: {HIGH: 1}", "findings: {CRITICAL: 7, HIGH: 1}"));
    h.write_registry();
    let staging = h.planned("staging");
    assert_eq!(staging["reason"]["code"], "held", "{staging:#}");
    h.pass("a");
    assert!(h.open_pulls().is_empty(), "{:#?}", h.pulls());
    let comments = h.github.pull(REPO, 1).comments;
    let last = &comments.last().expect("a closing comment").body;
    assert!(
        last.contains("no longer passes the gates") && last.contains("scan_budget"),
        "{last}"
    );
}

/// What a PR carries is read from the commit on its branch, never from its
/// text: a collaborator who edits the body to name another digest changes
/// nothing, one who pushes onto ferry's branch gets the branch replaced by
/// the commit ferry would produce, and a collaborator's own PR on a
/// `ferry/` branch is never adopted.
#[test]
fn a_pull_request_is_what_its_branch_holds_and_only_ferrys_are_adopted() {
    use ferry::forge::github::{GitHubAuth, GitHubForge, GitHubSettings};
    use ferry::forge::{Forge, PrSpec};

    let v0 = Image::new("sha-1111111");
    let v1 = Image::new("sha-aaaaaaa");
    let evil = Image::new("sha-eeeeeee");
    let mut h = Harness::new(&v0);
    h.github.add_token("ghp_carol", "carol");
    let carol = h._rt.block_on(async {
        GitHubForge::connect(GitHubSettings {
            api_url: h.github.url.clone(),
            owner: "acme".into(),
            repo: "platform-gitops".into(),
            auth: GitHubAuth::Token("ghp_carol".to_string().into()),
            max_rate_limit_wait: Duration::from_secs(5),
        })
        .await
        .unwrap()
    });

    // 1. A collaborator's PR on ferry's branch is in the way: not adopted,
    //    not pushed over; the plan says so.
    h.push_image(&v1);
    h.pass("a");
    h.prove("dev", &v1);
    let dev1 = h.tip("main").unwrap();
    h.git()
        .reference("refs/heads/ferry/staging/gateway", dev1, true, "carol")
        .unwrap();
    let theirs = h._rt.block_on(async {
        carol
            .open(&PrSpec {
                head: "ferry/staging/gateway".into(),
                base: "main".into(),
                title: "carol's experiment".into(),
                body: String::new(),
                ..PrSpec::default()
            })
            .await
            .unwrap()
    });
    let staging = h.planned("staging");
    assert_eq!(staging["reason"]["code"], "pr_foreign", "{staging:#}");
    h.pass("a");
    assert_eq!(
        h.tip("ferry/staging/gateway"),
        Some(dev1),
        "not pushed over"
    );
    assert_eq!(h.open_pulls().len(), 1, "nothing opened");
    h.github.close_by_hand(REPO, theirs.number);

    // 2. Once it is gone, ferry opens its own.
    h.pass("a");
    let ours = h.open_pulls();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].author, "ferry-bot");
    let number = ours[0].number;
    let branch = h.assert_proposal("staging", dev1, &v1);

    // 3. The body edited to name another digest: nothing changes, and the
    //    plan still reads what the branch holds.
    let body = ours[0]
        .body
        .clone()
        .unwrap()
        .replace(&v1.digest, &evil.digest);
    h._rt
        .block_on(async { carol.update(number, "staging: evil", &body).await.unwrap() });
    let staging = h.planned("staging");
    assert_eq!(staging["reason"]["code"], "pr_open", "{staging:#}");
    h.pass("a");
    assert_eq!(h.tip("ferry/staging/gateway"), Some(branch));

    // 4. A commit pushed onto ferry's branch that sets another digest: the
    //    branch is rebuilt as ferry's one commit on main.
    let repo = h.git();
    let parent = repo.find_commit(branch).unwrap();
    let blob = repo.blob(overlay("staging", &evil).as_bytes()).unwrap();
    let mut update = git2::build::TreeUpdateBuilder::new();
    update.upsert(overlay_file("staging"), blob, git2::FileMode::Blob);
    let tree = update
        .create_updated(&repo, &parent.tree().unwrap())
        .unwrap();
    let sig = git2::Signature::now("Carol", "carol@acme.test").unwrap();
    let message = format!(
        "staging: gateway sha-aaaaaaa\n\nFerry-App: gateway\nFerry-Digest: {}\n",
        v1.digest
    );
    repo.commit(
        Some("refs/heads/ferry/staging/gateway"),
        &sig,
        &sig,
        &message,
        &repo.find_tree(tree).unwrap(),
        &[&parent],
    )
    .unwrap();
    let staging = h.planned("staging");
    assert_eq!(staging["action"], "pull_request", "{staging:#}");
    h.pass("a");
    let rebuilt = h.assert_proposal("staging", dev1, &v1);
    assert_ne!(rebuilt, branch);
    let pr = h.github.pull(REPO, number);
    assert!(pr.open);
    assert!(
        pr.comments
            .iter()
            .any(|c| c.body.contains("not the commit ferry pushed")),
        "{:#?}",
        pr.comments
    );
    assert!(
        !pr.body.unwrap().contains(&evil.digest),
        "the body is rewritten"
    );
    // The evil digest never reached an overlay on main.
    let main = h.tip("main").unwrap();
    for (name, _, _) in ENVS {
        assert!(!h.file_at(main, &overlay_file(name)).contains(&evil.digest));
    }
}
