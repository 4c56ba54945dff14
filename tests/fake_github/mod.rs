//! A small stateful fake of GitHub's REST API (axum on loopback), enough
//! for ferry's forge: repositories and their refs, pull requests (numbers,
//! state, head, base, title, body, labels, requested reviewers and teams),
//! issues and issue comments on both with their reactions, who opened and who closed each pull request (`user`,
//! and the issue's `closed_by`), the caller's identity (`GET /user` for a
//! token, `GET /app` for an App's JWT), GitHub App installations and
//! installation tokens, and rate limiting with GitHub's headers on every
//! response. Every token is a user (see [`FakeGitHub::add_token`]), so a
//! test plays a collaborator with a second token.
//!
//! Answers are shaped after the real webhook payloads in
//! `../shared/corpus/github-webhooks` (the `pull_request`, `comment`,
//! repository and user objects are those payloads with fields replaced), so
//! octocrab's strict models decode them as they decode GitHub's.
//!
//! The API is served at the root and under `/api/v3` (GitHub Enterprise
//! Server's prefix). Tests drive and inspect it through [`FakeGitHub`].
//!
//! A repository's refs are a map the test sets, or, after
//! [`FakeGitHub::back_with_git`], the branches of a bare git repository on
//! disk, so what a process pushes there is what the API sees (as on
//! GitHub, where the git remote and the API are one repository).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{Value, json};

const DOCS: &str = "https://docs.github.com/rest";

/// A pull request as the fake stores it.
#[derive(Debug, Clone)]
pub struct Pull {
    pub number: u64,
    pub id: u64,
    /// `owner/name` of the repository the head branch lives in (a fork, or
    /// the repository itself).
    pub head_repo: String,
    pub head: String,
    pub head_sha: String,
    pub base: String,
    pub base_sha: String,
    pub title: String,
    pub body: Option<String>,
    pub open: bool,
    pub merged_at: Option<String>,
    pub closed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub draft: bool,
    pub author: String,
    /// Who closed or merged it (the issue's `closed_by`).
    pub closed_by: Option<String>,
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
    pub teams: Vec<String>,
    pub comments: Vec<Comment>,
}

/// An issue comment (on an issue or a pull request).
#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub body: String,
    pub author: String,
    pub created_at: String,
    /// Reactions in the order they came.
    pub reactions: Vec<Reaction>,
}

/// A reaction on a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub id: u64,
    /// Who reacted.
    pub user: String,
    /// `+1`, `eyes`, `confused`, ...
    pub content: String,
    pub created_at: String,
}

/// A plain issue (not a pull request); numbered with the pull requests.
#[derive(Debug, Clone)]
pub struct Issue {
    pub number: u64,
    pub id: u64,
    pub title: String,
    pub author: String,
    pub created_at: String,
    pub comments: Vec<Comment>,
}

/// The `content` values GitHub accepts for a reaction.
const REACTIONS: [&str; 8] = [
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];

#[derive(Debug, Default)]
struct Repo {
    id: u64,
    refs: BTreeMap<String, String>,
    /// A bare git repository whose branches replace `refs`.
    git: Option<PathBuf>,
    pulls: Vec<Pull>,
    issues: Vec<Issue>,
    /// Repository roles by login (`role_name`).
    roles: BTreeMap<String, String>,
    /// Logins whose permission lookup fails, with the status it fails with.
    permission_errors: BTreeMap<String, u16>,
}

impl Repo {
    /// The comments of issue or pull request `n`, and whether it is a pull
    /// request.
    fn comments_mut(&mut self, n: u64) -> Option<(&mut Vec<Comment>, bool)> {
        if let Some(p) = self.pulls.iter_mut().find(|p| p.number == n) {
            return Some((&mut p.comments, true));
        }
        self.issues
            .iter_mut()
            .find(|i| i.number == n)
            .map(|i| (&mut i.comments, false))
    }

    /// The comment with id `id`, with the number it is on and whether that
    /// is a pull request.
    fn comment_mut(&mut self, id: u64) -> Option<(&mut Comment, u64, bool)> {
        let on_pulls = self.pulls.iter_mut().flat_map(|p| {
            let n = p.number;
            p.comments.iter_mut().map(move |c| (c, n, true))
        });
        let on_issues = self.issues.iter_mut().flat_map(|i| {
            let n = i.number;
            i.comments.iter_mut().map(move |c| (c, n, false))
        });
        on_pulls.chain(on_issues).find(|(c, _, _)| c.id == id)
    }

    /// The commit `branch` points at.
    fn branch(&self, branch: &str) -> Option<String> {
        let Some(path) = &self.git else {
            return self.refs.get(branch).cloned();
        };
        let repo = git2::Repository::open_bare(path).ok()?;
        let r = repo.find_reference(&format!("refs/heads/{branch}")).ok()?;
        Some(r.peel_to_commit().ok()?.id().to_string())
    }

    /// The head commit of a pull request: the branch's tip while it is open
    /// (pushes move it), what it was when it closed afterwards.
    fn head_of(&self, full_name: &str, p: &Pull) -> String {
        if self.git.is_some() && p.open && p.head_repo == full_name {
            self.branch(&p.head).unwrap_or_else(|| p.head_sha.clone())
        } else {
            p.head_sha.clone()
        }
    }
}

/// Holds `POST /pulls` requests until `want` of them have arrived (or the
/// timeout passed), so processes racing to open a pull request really race.
struct Rendezvous {
    want: usize,
    arrived: tokio::sync::watch::Sender<usize>,
    timeout: Duration,
}

/// Who may call: a token, or an App's JWT.
#[derive(Debug, Clone)]
enum Caller {
    /// A personal token, or an installation token scoped to repositories
    /// (names) of one owner.
    Token {
        login: String,
        scope: Option<(String, Vec<String>)>,
    },
    App(u64),
}

struct App {
    public_key_der: Vec<u8>,
    installation: u64,
    /// `owner/name` of the repositories it is installed on.
    repos: Vec<String>,
}

struct Inner {
    repos: BTreeMap<String, Repo>,
    tokens: HashMap<String, Caller>,
    apps: HashMap<u64, App>,
    /// (installation id, repositories the token was scoped to).
    issued_tokens: Vec<(u64, Vec<String>)>,
    next_id: u64,
    limit: u64,
    remaining: u64,
    reset: i64,
    secondary_once: Option<u64>,
    requests: Vec<String>,
    rate_limited: usize,
    pull_rendezvous: Option<Arc<Rendezvous>>,
    pr_template: Value,
    comment_template: Value,
    /// `issue_comment` webhook payloads: on an issue, on a pull request.
    issue_comment_event: Value,
    pr_comment_event: Value,
    issue_template: Value,
    user_template: Value,
}

/// A running fake; dropped at the end of the test runtime.
#[derive(Clone)]
pub struct FakeGitHub {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

fn corpus(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/github-webhooks")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("corpus missing at {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn timestamp() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn sha(seed: &str) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(seed.as_bytes());
    d.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

impl FakeGitHub {
    /// Starts the fake on a loopback port.
    pub async fn start() -> Self {
        let event = corpus("10_X-GitHub-Event=pull_request_action=opened_octokit.json");
        let comment =
            corpus("01_X-GitHub-Event=issue_comment_action=created_on-issue_octokit.json");
        let inner = Inner {
            repos: BTreeMap::new(),
            tokens: HashMap::new(),
            apps: HashMap::new(),
            issued_tokens: Vec::new(),
            next_id: 1000,
            limit: 5000,
            remaining: 5000,
            reset: now() + 3600,
            secondary_once: None,
            requests: Vec::new(),
            rate_limited: 0,
            pull_rendezvous: None,
            pr_template: event["pull_request"].clone(),
            comment_template: comment["comment"].clone(),
            issue_comment_event: comment.clone(),
            pr_comment_event: corpus(
                "03_X-GitHub-Event=issue_comment_action=created_on-PR_atlantis.json",
            ),
            issue_template: comment["issue"].clone(),
            user_template: event["pull_request"]["user"].clone(),
        };
        let inner = Arc::new(Mutex::new(inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(handle).with_state(inner.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeGitHub { url, inner }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Creates `owner/name` with a `main` branch.
    pub fn add_repo(&self, full_name: &str) {
        let mut s = self.lock();
        let id = s.next_id;
        s.next_id += 1;
        let mut repo = Repo {
            id,
            ..Repo::default()
        };
        repo.refs
            .insert("main".into(), sha(&format!("{full_name}:main")));
        s.repos.insert(full_name.to_string(), repo);
    }

    /// Gives `login` the role `role` on `full_name` (as GitHub reports it in
    /// `role_name`: read, triage, write, maintain, admin, or a custom one).
    pub fn set_role(&self, full_name: &str, login: &str, role: &str) {
        let mut s = self.lock();
        let repo = s.repos.get_mut(full_name).expect("add_repo first");
        repo.roles.insert(login.to_string(), role.to_string());
    }

    /// Makes `GET /collaborators/{login}/permission` on `full_name` fail
    /// with `status` from now on (GitHub down, or the user unknown).
    pub fn fail_permission(&self, full_name: &str, login: &str, status: u16) {
        let mut s = self.lock();
        let repo = s.repos.get_mut(full_name).expect("add_repo first");
        repo.permission_errors.insert(login.to_string(), status);
    }

    /// Opens a plain issue on `full_name` as `login`; its number comes after
    /// every pull request's and issue's, as on GitHub.
    pub fn add_issue(&self, full_name: &str, title: &str, login: &str) -> u64 {
        let mut s = self.lock();
        let id = s.next_id;
        s.next_id += 1;
        let repo = s.repos.get_mut(full_name).expect("add_repo first");
        let number = next_number(repo);
        repo.issues.push(Issue {
            number,
            id,
            title: title.to_string(),
            author: login.to_string(),
            created_at: timestamp(),
            comments: vec![],
        });
        number
    }

    /// `login` comments `body` on issue or pull request `number`: the
    /// comment is recorded, and the `issue_comment` webhook payload GitHub
    /// would deliver for it is returned (the corpus payload of a comment on
    /// an issue or on a pull request, with this repository, issue, comment
    /// and sender filled in).
    pub fn post_comment(&self, full_name: &str, number: u64, login: &str, body: &str) -> Value {
        let mut s = self.lock();
        let id = s.next_id;
        s.next_id += 1;
        let (owner, name) = full_name.split_once('/').expect("owner/name");
        let c = Comment {
            id,
            body: body.to_string(),
            author: login.to_string(),
            created_at: timestamp(),
            reactions: vec![],
        };
        let repo = s.repos.get_mut(full_name).expect("add_repo first");
        let repo_id = repo.id;
        let (comments, is_pull) = repo.comments_mut(number).expect("no such issue or pull");
        comments.push(c.clone());
        let count = comments.len();
        let base = "https://api.github.com";
        let mut event = if is_pull {
            s.pr_comment_event.clone()
        } else {
            s.issue_comment_event.clone()
        };
        let api = format!("{base}/repos/{full_name}");
        let kind = if is_pull { "pull" } else { "issues" };
        let html = format!("https://github.com/{full_name}/{kind}/{number}");
        event["action"] = json!("created");
        let mut repository = repo_json(&s, full_name, repo_id, false);
        repository["name"] = json!(name);
        repository["full_name"] = json!(full_name);
        repository["owner"] = user_json(&s, owner);
        event["repository"] = repository;
        let issue = &mut event["issue"];
        issue["url"] = json!(format!("{api}/issues/{number}"));
        issue["repository_url"] = json!(api);
        issue["comments_url"] = json!(format!("{api}/issues/{number}/comments"));
        issue["html_url"] = json!(html);
        issue["number"] = json!(number);
        issue["comments"] = json!(count);
        if is_pull {
            issue["pull_request"] = json!({
                "url": format!("{api}/pulls/{number}"),
                "html_url": html,
                "diff_url": format!("{html}.diff"),
                "patch_url": format!("{html}.patch"),
            });
        } else if let Some(obj) = issue.as_object_mut() {
            obj.remove("pull_request");
        }
        event["comment"] = comment_json(&s, base, full_name, number, is_pull, &c);
        let mut sender = user_json(&s, login);
        sender["type"] = json!(if login.ends_with("[bot]") {
            "Bot"
        } else {
            "User"
        });
        event["sender"] = sender;
        event
    }

    /// The comments of issue or pull request `number`, oldest first.
    pub fn comments(&self, full_name: &str, number: u64) -> Vec<Comment> {
        let mut s = self.lock();
        let repo = s.repos.get_mut(full_name).expect("repo");
        repo.comments_mut(number)
            .map(|(c, _)| c.clone())
            .expect("no such issue or pull")
    }

    /// Serves the branches of the bare git repository at `bare` as the
    /// refs of `full_name` from now on: a branch exists (for `POST /pulls`,
    /// `GET /git/ref/heads/…`) when it was pushed there, and an open pull
    /// request's head is its branch's tip.
    pub fn back_with_git(&self, full_name: &str, bare: &Path) {
        let mut s = self.lock();
        let repo = s.repos.get_mut(full_name).expect("repo");
        repo.git = Some(bare.to_path_buf());
    }

    /// Holds every `POST /pulls` from now on until `want` of them have
    /// arrived (or `timeout` passed); then they are answered one by one in
    /// arrival order.
    pub fn rendezvous_pull_creates(&self, want: usize, timeout: Duration) {
        self.lock().pull_rendezvous = Some(Arc::new(Rendezvous {
            want,
            arrived: tokio::sync::watch::channel(0).0,
            timeout,
        }));
    }

    /// Points `branch` at a commit, as a push would.
    pub fn set_ref(&self, full_name: &str, branch: &str, commit: &str) {
        let mut s = self.lock();
        let repo = s.repos.get_mut(full_name).expect("repo");
        repo.refs.insert(branch.to_string(), commit.to_string());
        for p in repo.pulls.iter_mut().filter(|p| p.open && p.head == branch) {
            p.head_sha = commit.to_string();
        }
    }

    /// Accepts `token` as user `login`. A second one plays a collaborator:
    /// what it opens has that `user`, what it closes that `closed_by`.
    pub fn add_token(&self, token: &str, login: &str) {
        self.lock().tokens.insert(
            token.to_string(),
            Caller::Token {
                login: login.to_string(),
                scope: None,
            },
        );
    }

    /// Accepts `token` as an installation token acting as `login` (a bot)
    /// on `full_name` only, as GitHub Actions' `GITHUB_TOKEN` is: it is no
    /// user, so `GET /user` refuses it.
    pub fn add_scoped_token(&self, token: &str, login: &str, full_name: &str) {
        let (owner, name) = full_name.split_once('/').expect("owner/name");
        self.lock().tokens.insert(
            token.to_string(),
            Caller::Token {
                login: login.to_string(),
                scope: Some((owner.to_string(), vec![name.to_string()])),
            },
        );
    }

    /// Registers a GitHub App (its public key, PKCS#1 DER) installed on
    /// `repos` as installation `installation`.
    pub fn add_app(&self, app_id: u64, public_key_der: &[u8], installation: u64, repos: &[&str]) {
        self.lock().apps.insert(
            app_id,
            App {
                public_key_der: public_key_der.to_vec(),
                installation,
                repos: repos.iter().map(|r| r.to_string()).collect(),
            },
        );
    }

    /// A pull request from a fork's branch, opened by someone else.
    pub fn add_fork_pull(&self, full_name: &str, fork: &str, branch: &str, title: &str) -> u64 {
        let mut s = self.lock();
        let id = s.next_id;
        s.next_id += 1;
        let repo = s.repos.get_mut(full_name).expect("repo");
        let number = next_number(repo);
        let now = timestamp();
        repo.pulls.push(Pull {
            number,
            id,
            head_repo: fork.to_string(),
            head: branch.to_string(),
            head_sha: sha(&format!("{fork}:{branch}")),
            base: "main".into(),
            base_sha: repo.branch("main").unwrap_or_default(),
            title: title.to_string(),
            body: None,
            open: true,
            merged_at: None,
            closed_at: None,
            created_at: now.clone(),
            updated_at: now,
            draft: false,
            author: fork.split('/').next().unwrap_or("someone").to_string(),
            closed_by: None,
            labels: vec![],
            reviewers: vec![],
            teams: vec![],
            comments: vec![],
        });
        number
    }

    /// Closes an open pull request without merging it (a reviewer's
    /// "Close pull request"), as the repository's owner.
    pub fn close_by_hand(&self, full_name: &str, number: u64) {
        let owner = full_name.split_once('/').expect("owner/name").0.to_string();
        self.close_as(full_name, number, &owner);
    }

    /// Closes an open pull request without merging it, as `login`.
    pub fn close_as(&self, full_name: &str, number: u64, login: &str) {
        let mut s = self.lock();
        let repo = s.repos.get_mut(full_name).expect("repo");
        let pull = repo
            .pulls
            .iter_mut()
            .find(|p| p.number == number)
            .expect("pull");
        assert!(pull.open, "only an open pull request closes");
        let now = timestamp();
        pull.open = false;
        pull.closed_at = Some(now.clone());
        pull.closed_by = Some(login.to_string());
        pull.updated_at = now;
    }

    /// Merges an open pull request (what a reviewer's click does).
    pub fn merge(&self, full_name: &str, number: u64) {
        let mut s = self.lock();
        let repo = s.repos.get_mut(full_name).expect("repo");
        let base = pull_base(repo, number);
        let pull = repo
            .pulls
            .iter_mut()
            .find(|p| p.number == number)
            .expect("pull");
        assert!(pull.open, "only an open pull request merges");
        let now = timestamp();
        pull.open = false;
        // GitHub names the one who merged as the closer; the fake's merger
        // is the owner, as `merged_by` says.
        pull.closed_by = full_name.split_once('/').map(|(o, _)| o.to_string());
        pull.merged_at = Some(now.clone());
        pull.closed_at = Some(now.clone());
        pull.updated_at = now;
        if repo.git.is_none() {
            repo.refs.insert(base, sha(&format!("merge {number}")));
        } else {
            // The test moved the base branch in git; the head is what merged.
            let head = pull.head.clone();
            if let Some(tip) = repo.branch(&head)
                && let Some(p) = repo.pulls.iter_mut().find(|p| p.number == number)
            {
                p.head_sha = tip;
            }
        }
    }

    /// The stored pull requests of a repository (an open one's `head_sha`
    /// is its branch's tip, as the API shows it).
    pub fn pulls(&self, full_name: &str) -> Vec<Pull> {
        let s = self.lock();
        let repo = &s.repos[full_name];
        repo.pulls
            .iter()
            .map(|p| Pull {
                head_sha: repo.head_of(full_name, p),
                ..p.clone()
            })
            .collect()
    }

    /// One stored pull request.
    pub fn pull(&self, full_name: &str, number: u64) -> Pull {
        self.pulls(full_name)
            .into_iter()
            .find(|p| p.number == number)
            .expect("pull")
    }

    /// Sets the rate-limit window: `remaining` requests until `reset_in`
    /// seconds from now. With 0, every request gets GitHub's 403 until then.
    pub fn set_rate_limit(&self, remaining: u64, reset_in: i64) {
        let mut s = self.lock();
        s.remaining = remaining;
        s.reset = now() + reset_in;
    }

    /// The next request gets a secondary rate limit (403, `retry-after`).
    pub fn secondary_limit_once(&self, retry_after: u64) {
        self.lock().secondary_once = Some(retry_after);
    }

    /// Every request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    /// How many requests were refused for the rate limit.
    pub fn rate_limited(&self) -> usize {
        self.lock().rate_limited
    }

    /// Installation tokens issued: (installation, repositories scoped to).
    pub fn issued_tokens(&self) -> Vec<(u64, Vec<String>)> {
        self.lock().issued_tokens.clone()
    }
}

fn next_number(repo: &Repo) -> u64 {
    repo.pulls
        .iter()
        .map(|p| p.number)
        .chain(repo.issues.iter().map(|i| i.number))
        .max()
        .unwrap_or(0)
        + 1
}

fn pull_base(repo: &Repo, number: u64) -> String {
    repo.pulls
        .iter()
        .find(|p| p.number == number)
        .map(|p| p.base.clone())
        .unwrap_or_default()
}

// ---- JSON shapes -----------------------------------------------------------

fn user_json(s: &Inner, login: &str) -> Value {
    let text = serde_json::to_string(&s.user_template)
        .unwrap()
        .replace("Codertocat", login);
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["id"] = json!(u64::from_str_radix(&sha(login)[..8], 16).unwrap());
    if login.ends_with("[bot]") {
        v["type"] = json!("Bot");
    }
    v
}

/// `GET /user`: the simple user plus the profile fields GitHub adds.
fn full_user_json(s: &Inner, login: &str) -> Value {
    let mut v = user_json(s, login);
    for (k, val) in [
        ("name", json!(login)),
        ("company", Value::Null),
        ("blog", json!("")),
        ("location", Value::Null),
        ("email", Value::Null),
        ("hireable", Value::Null),
        ("bio", Value::Null),
        ("twitter_username", Value::Null),
        ("public_repos", json!(1)),
        ("public_gists", json!(0)),
        ("followers", json!(0)),
        ("following", json!(0)),
        ("created_at", json!("2020-01-01T00:00:00Z")),
        ("updated_at", json!("2020-01-01T00:00:00Z")),
    ] {
        v[k] = val;
    }
    v
}

/// `GET /app`: the App the JWT is for. Its installations act as
/// `ferry-app[bot]`, so its slug is `ferry-app`.
fn app_json(s: &Inner, app_id: u64) -> Value {
    let owner = s.apps[&app_id]
        .repos
        .first()
        .and_then(|r| r.split_once('/'))
        .map_or("acme", |(o, _)| o)
        .to_string();
    json!({
        "id": app_id,
        "slug": "ferry-app",
        "node_id": format!("A_{app_id}"),
        "client_id": format!("Iv1.{app_id}"),
        "owner": user_json(s, &owner),
        "name": "ferry app",
        "description": "GitOps image promotion",
        "external_url": "https://ferry.example",
        "html_url": "https://github.com/apps/ferry-app",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "permissions": {"contents": "write", "pull_requests": "write", "issues": "write", "metadata": "read"},
        "events": ["issue_comment", "pull_request"],
        "installations_count": 1,
    })
}

/// `GET /repos/{o}/{r}/issues/{n}` for a pull request: the issue side of
/// it, which alone says who closed it (`closed_by`).
fn issue_json(s: &Inner, base: &str, full_name: &str, p: &Pull) -> Value {
    let api = format!("{base}/repos/{full_name}");
    let html = format!("https://github.com/{full_name}/pull/{}", p.number);
    let n = p.number;
    let mut v = s.issue_template.clone();
    v["url"] = json!(format!("{api}/issues/{n}"));
    v["repository_url"] = json!(api);
    v["labels_url"] = json!(format!("{api}/issues/{n}/labels{{/name}}"));
    v["comments_url"] = json!(format!("{api}/issues/{n}/comments"));
    v["events_url"] = json!(format!("{api}/issues/{n}/events"));
    v["html_url"] = json!(html);
    v["id"] = json!(p.id);
    v["node_id"] = json!(format!("PR_{}", p.id));
    v["number"] = json!(n);
    v["title"] = json!(p.title);
    v["user"] = user_json(s, &p.author);
    v["labels"] = Value::Array(
        p.labels
            .iter()
            .map(|l| label_json(base, full_name, l))
            .collect(),
    );
    v["state"] = json!(if p.open { "open" } else { "closed" });
    v["state_reason"] = if p.open {
        Value::Null
    } else if p.merged_at.is_some() {
        json!("completed")
    } else {
        json!("not_planned")
    };
    v["assignee"] = Value::Null;
    v["assignees"] = json!([]);
    v["comments"] = json!(p.comments.len());
    v["created_at"] = json!(p.created_at);
    v["updated_at"] = json!(p.updated_at);
    v["closed_at"] = json!(p.closed_at);
    v["body"] = json!(p.body);
    v["draft"] = json!(p.draft);
    v["pull_request"] = json!({
        "url": format!("{api}/pulls/{n}"),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "merged_at": p.merged_at,
    });
    v["closed_by"] = match &p.closed_by {
        Some(login) => user_json(s, login),
        None => Value::Null,
    };
    v
}

fn repo_json(s: &Inner, full_name: &str, id: u64, fork: bool) -> Value {
    let (owner, name) = full_name.split_once('/').unwrap();
    let template = &s.pr_template["head"]["repo"];
    let text = serde_json::to_string(template)
        .unwrap()
        .replace("Codertocat/Hello-World", full_name)
        .replace("Hello-World", name)
        .replace("Codertocat", owner);
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["id"] = json!(id);
    v["fork"] = json!(fork);
    v["default_branch"] = json!("main");
    v["owner"] = user_json(s, owner);
    v
}

fn label_json(base: &str, full_name: &str, name: &str) -> Value {
    json!({
        "id": 1_000_000 + name.len() as u64,
        "node_id": format!("LA_{name}"),
        "url": format!("{base}/repos/{full_name}/labels/{name}"),
        "name": name,
        "color": "ededed",
        "default": false,
        "description": null,
    })
}

fn team_json(base: &str, owner: &str, slug: &str) -> Value {
    json!({
        "id": 2_000_000 + slug.len() as u64,
        "node_id": format!("T_{slug}"),
        "url": format!("{base}/organizations/1/team/{}", slug.len()),
        "html_url": format!("https://github.com/orgs/{owner}/teams/{slug}"),
        "name": slug,
        "slug": slug,
        "description": "",
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": format!("{base}/organizations/1/team/{}/members{{/member}}", slug.len()),
        "repositories_url": format!("{base}/organizations/1/team/{}/repos", slug.len()),
        "parent": null,
    })
}

fn pull_json(s: &Inner, base: &str, full_name: &str, p: &Pull, full: bool) -> Value {
    let (owner, _) = full_name.split_once('/').unwrap();
    let repo_id = s.repos[full_name].id;
    let head_sha = s.repos[full_name].head_of(full_name, p);
    let api = format!("{base}/repos/{full_name}");
    let html = format!("https://github.com/{full_name}/pull/{}", p.number);
    let mut v = s.pr_template.clone();
    let n = p.number;
    v["url"] = json!(format!("{api}/pulls/{n}"));
    v["id"] = json!(p.id);
    v["node_id"] = json!(format!("PR_{}", p.id));
    v["html_url"] = json!(html);
    v["diff_url"] = json!(format!("{html}.diff"));
    v["patch_url"] = json!(format!("{html}.patch"));
    v["issue_url"] = json!(format!("{api}/issues/{n}"));
    v["number"] = json!(n);
    v["state"] = json!(if p.open { "open" } else { "closed" });
    v["title"] = json!(p.title);
    v["user"] = user_json(s, &p.author);
    v["body"] = json!(p.body);
    v["created_at"] = json!(p.created_at);
    v["updated_at"] = json!(p.updated_at);
    v["closed_at"] = json!(p.closed_at);
    v["merged_at"] = json!(p.merged_at);
    v["merge_commit_sha"] = json!(sha(&format!("merge {n}")));
    v["assignee"] = Value::Null;
    v["assignees"] = json!([]);
    v["requested_reviewers"] = Value::Array(p.reviewers.iter().map(|r| user_json(s, r)).collect());
    v["requested_teams"] =
        Value::Array(p.teams.iter().map(|t| team_json(base, owner, t)).collect());
    v["labels"] = Value::Array(
        p.labels
            .iter()
            .map(|l| label_json(base, full_name, l))
            .collect(),
    );
    v["draft"] = json!(p.draft);
    v["commits_url"] = json!(format!("{api}/pulls/{n}/commits"));
    v["review_comments_url"] = json!(format!("{api}/pulls/{n}/comments"));
    v["review_comment_url"] = json!(format!("{api}/pulls/comments{{/number}}"));
    v["comments_url"] = json!(format!("{api}/issues/{n}/comments"));
    v["statuses_url"] = json!(format!("{api}/statuses/{head_sha}"));
    let head_repo_id = if p.head_repo == full_name {
        repo_id
    } else {
        repo_id + 1
    };
    let head_owner = p.head_repo.split_once('/').unwrap().0;
    v["head"] = json!({
        "label": format!("{head_owner}:{}", p.head),
        "ref": p.head,
        "sha": head_sha,
        "user": user_json(s, head_owner),
        "repo": repo_json(s, &p.head_repo, head_repo_id, p.head_repo != full_name),
    });
    v["base"] = json!({
        "label": format!("{owner}:{}", p.base),
        "ref": p.base,
        "sha": p.base_sha,
        "user": user_json(s, owner),
        "repo": repo_json(s, full_name, repo_id, false),
    });
    v["_links"] = json!({
        "self": {"href": format!("{api}/pulls/{n}")},
        "html": {"href": html},
        "issue": {"href": format!("{api}/issues/{n}")},
        "comments": {"href": format!("{api}/issues/{n}/comments")},
        "review_comments": {"href": format!("{api}/pulls/{n}/comments")},
        "review_comment": {"href": format!("{api}/pulls/comments{{/number}}")},
        "commits": {"href": format!("{api}/pulls/{n}/commits")},
        "statuses": {"href": format!("{api}/statuses/{head_sha}")},
    });
    v["author_association"] = json!("OWNER");
    v["auto_merge"] = Value::Null;
    v["active_lock_reason"] = Value::Null;
    if full {
        v["merged"] = json!(p.merged_at.is_some());
        v["merged_by"] = if p.merged_at.is_some() {
            user_json(s, owner)
        } else {
            Value::Null
        };
        v["mergeable"] = if p.open { json!(true) } else { Value::Null };
        v["mergeable_state"] = json!(if p.open { "clean" } else { "unknown" });
        v["comments"] = json!(p.comments.len());
    } else if let Some(obj) = v.as_object_mut() {
        // The list endpoint returns GitHub's "pull-request-simple".
        for k in [
            "merged",
            "mergeable",
            "rebaseable",
            "mergeable_state",
            "merged_by",
            "comments",
            "review_comments",
            "maintainer_can_modify",
            "commits",
            "additions",
            "deletions",
            "changed_files",
        ] {
            obj.remove(k);
        }
    }
    v
}

fn comment_json(
    s: &Inner,
    base: &str,
    full_name: &str,
    number: u64,
    is_pull: bool,
    c: &Comment,
) -> Value {
    let mut v = s.comment_template.clone();
    let api = format!("{base}/repos/{full_name}");
    let kind = if is_pull { "pull" } else { "issues" };
    v["url"] = json!(format!("{api}/issues/comments/{}", c.id));
    v["html_url"] = json!(format!(
        "https://github.com/{full_name}/{kind}/{number}#issuecomment-{}",
        c.id
    ));
    v["issue_url"] = json!(format!("{api}/issues/{number}"));
    v["id"] = json!(c.id);
    v["node_id"] = json!(format!("IC_{}", c.id));
    v["user"] = user_json(s, &c.author);
    v["created_at"] = json!(c.created_at);
    v["updated_at"] = json!(c.created_at);
    v["body"] = json!(c.body);
    v["reactions"]["url"] = json!(format!("{api}/issues/comments/{}/reactions", c.id));
    v["reactions"]["total_count"] = json!(c.reactions.len());
    for content in REACTIONS {
        let n = c.reactions.iter().filter(|r| r.content == content).count();
        v["reactions"][content] = json!(n);
    }
    v
}

/// A reaction as GitHub's reactions API returns it.
fn reaction_json(s: &Inner, r: &Reaction) -> Value {
    json!({
        "id": r.id,
        "node_id": format!("REA_{}", r.id),
        "user": user_json(s, &r.user),
        "content": r.content,
        "created_at": r.created_at,
    })
}

// ---- HTTP ------------------------------------------------------------------

struct Reply {
    status: StatusCode,
    body: Value,
    headers: Vec<(&'static str, String)>,
}

fn reply(status: StatusCode, body: Value) -> Reply {
    Reply {
        status,
        body,
        headers: vec![],
    }
}

fn error(status: StatusCode, message: &str) -> Reply {
    reply(
        status,
        json!({"message": message, "documentation_url": DOCS, "status": status.as_u16().to_string()}),
    )
}

fn validation(message: &str) -> Reply {
    reply(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({
            "message": "Validation Failed",
            "errors": [{"resource": "PullRequest", "code": "custom", "message": message}],
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
            "status": "422",
        }),
    )
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rendezvous = inner.lock().unwrap().pull_rendezvous.clone();
    if let Some(r) = rendezvous
        && method == Method::POST
        && uri.path().trim_end_matches('/').ends_with("/pulls")
    {
        r.arrived.send_modify(|n| *n += 1);
        let mut rx = r.arrived.subscribe();
        let _ = tokio::time::timeout(r.timeout, rx.wait_for(|n| *n >= r.want)).await;
    }
    let mut s = inner.lock().unwrap();
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let raw_path = uri.path();
    let (prefix, path) = match raw_path.strip_prefix("/api/v3") {
        Some(rest) => ("/api/v3", rest.to_string()),
        None => ("", raw_path.to_string()),
    };
    let base = format!("http://{host}{prefix}");
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), percent_decode(v)))
                .collect()
        })
        .unwrap_or_default();
    s.requests.push(format!(
        "{method} {raw_path}{}",
        uri.query().map(|q| format!("?{q}")).unwrap_or_default()
    ));

    // The rate limit comes first: GitHub refuses before it looks further.
    if now() >= s.reset {
        s.remaining = s.limit;
        s.reset = now() + 3600;
    }
    let reply = if let Some(secs) = s.secondary_once.take() {
        s.rate_limited += 1;
        let mut r = error(
            StatusCode::FORBIDDEN,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        );
        r.headers.push(("retry-after", secs.to_string()));
        r
    } else if s.remaining == 0 {
        s.rate_limited += 1;
        error(
            StatusCode::FORBIDDEN,
            "API rate limit exceeded for installation. If you reach out to GitHub Support for help, please include the request ID.",
        )
    } else {
        s.remaining -= 1;
        let body: Value = if body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(_) => {
                    return finish(&s, error(StatusCode::BAD_REQUEST, "Problems parsing JSON"));
                }
            }
        };
        route(&mut s, &base, &method, &path, &query, &headers, &body)
    };
    finish(&s, reply)
}

fn finish(s: &Inner, r: Reply) -> Response {
    let mut b = Response::builder()
        .status(r.status)
        .header("content-type", "application/json; charset=utf-8")
        .header("x-github-api-version-selected", "2022-11-28")
        .header("x-ratelimit-limit", s.limit.to_string())
        .header("x-ratelimit-remaining", s.remaining.to_string())
        .header("x-ratelimit-reset", s.reset.to_string())
        .header("x-ratelimit-used", (s.limit - s.remaining).to_string())
        .header("x-ratelimit-resource", "core");
    for (k, v) in r.headers {
        b = b.header(k, v);
    }
    let body = if r.body.is_null() {
        String::new()
    } else {
        r.body.to_string()
    };
    b.body(Body::from(body)).unwrap()
}

fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(&bytes[i..i + 3]),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("token "))
        .map(str::to_string)
}

/// Checks an App JWT (RS256, `iss` = app id, not expired) against the
/// registered public keys.
fn verify_jwt(s: &Inner, jwt: &str) -> Option<u64> {
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = jwt.split('.');
    let (h, p, sig) = (parts.next()?, parts.next()?, parts.next()?);
    let header: Value = serde_json::from_slice(&b64.decode(h).ok()?).ok()?;
    if header["alg"] != "RS256" {
        return None;
    }
    let claims: Value = serde_json::from_slice(&b64.decode(p).ok()?).ok()?;
    let app_id = claims["iss"]
        .as_u64()
        .or_else(|| claims["iss"].as_str()?.parse().ok())?;
    if claims["exp"].as_i64()? < now() {
        return None;
    }
    let app = s.apps.get(&app_id)?;
    let signature = b64.decode(sig).ok()?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &app.public_key_der)
        .verify(format!("{h}.{p}").as_bytes(), &signature)
        .ok()?;
    Some(app_id)
}

fn caller(s: &Inner, headers: &HeaderMap) -> Option<Caller> {
    let token = bearer(headers)?;
    if token.matches('.').count() == 2 {
        return verify_jwt(s, &token).map(Caller::App);
    }
    s.tokens.get(&token).cloned()
}

fn route(
    s: &mut Inner,
    base: &str,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Value,
) -> Reply {
    let Some(who) = caller(s, headers) else {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    };
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();

    // GitHub App endpoints, with the App's JWT.
    if let ["app", "installations", id, "access_tokens"] = seg.as_slice() {
        let Caller::App(app_id) = who else {
            return error(
                StatusCode::UNAUTHORIZED,
                "A JSON web token could not be decoded",
            );
        };
        let app = &s.apps[&app_id];
        if id.parse::<u64>().ok() != Some(app.installation) || *method != Method::POST {
            return error(StatusCode::NOT_FOUND, "Not Found");
        }
        let owner = app.repos[0].split_once('/').unwrap().0.to_string();
        let scope: Vec<String> = match body["repositories"].as_array() {
            Some(names) => names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect(),
            None => app
                .repos
                .iter()
                .map(|r| r.split_once('/').unwrap().1.to_string())
                .collect(),
        };
        let installation = app.installation;
        let token = format!("ghs_fake{}", s.next_id);
        s.next_id += 1;
        s.tokens.insert(
            token.clone(),
            Caller::Token {
                login: "ferry-app[bot]".into(),
                scope: Some((owner, scope.clone())),
            },
        );
        s.issued_tokens.push((installation, scope));
        let expires = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
            .replace_nanosecond(0)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        return reply(
            StatusCode::CREATED,
            json!({
                "token": token,
                "expires_at": expires,
                "permissions": {"contents": "write", "pull_requests": "write", "issues": "write", "metadata": "read"},
                "repository_selection": "selected",
            }),
        );
    }

    // Who the caller is: a user for a token, the App itself for a JWT.
    if seg.as_slice() == ["user"] && *method == Method::GET {
        return match &who {
            Caller::Token { scope: Some(_), .. } => error(
                StatusCode::FORBIDDEN,
                "Resource not accessible by integration",
            ),
            Caller::Token { login, .. } => reply(StatusCode::OK, full_user_json(s, login)),
            Caller::App(_) => error(
                StatusCode::UNAUTHORIZED,
                "A JSON web token could not be decoded",
            ),
        };
    }
    if seg.as_slice() == ["app"] && *method == Method::GET {
        let Caller::App(app_id) = who else {
            return error(
                StatusCode::UNAUTHORIZED,
                "A JSON web token could not be decoded",
            );
        };
        return reply(StatusCode::OK, app_json(s, app_id));
    }

    let ["repos", owner, name, rest @ ..] = seg.as_slice() else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let full_name = format!("{owner}/{name}");
    if !s.repos.contains_key(&full_name) {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    let login = match &who {
        Caller::App(app_id) => {
            let app = &s.apps[app_id];
            return if rest == ["installation"] && app.repos.contains(&full_name) {
                let installation = app.installation;
                let account = user_json(s, owner);
                reply(
                    StatusCode::OK,
                    json!({
                        "id": installation,
                        "account": account,
                        "app_id": app_id,
                        "target_type": "Organization",
                        "permissions": {"contents": "write", "pull_requests": "write"},
                        "events": ["issue_comment", "pull_request"],
                        "repository_selection": "selected",
                    }),
                )
            } else {
                error(StatusCode::NOT_FOUND, "Not Found")
            };
        }
        Caller::Token { login, scope } => {
            if let Some((scope_owner, names)) = scope
                && (scope_owner != owner || !names.iter().any(|n| n == name))
            {
                return error(StatusCode::NOT_FOUND, "Not Found");
            }
            login.clone()
        }
    };

    let now_ts = timestamp();
    let id = s.next_id;
    s.next_id += 1;
    let reply_for = |s: &Inner, status, n: u64| {
        let repo = &s.repos[&full_name];
        match repo.pulls.iter().find(|p| p.number == n) {
            Some(p) => reply(status, pull_json(s, base, &full_name, p, true)),
            None => error(StatusCode::NOT_FOUND, "Not Found"),
        }
    };

    match (method.as_str(), rest) {
        ("GET", ["git", "ref", "heads", branch @ ..]) => {
            let branch = branch.join("/");
            match s.repos[&full_name].branch(&branch) {
                Some(commit) => reply(
                    StatusCode::OK,
                    json!({
                        "ref": format!("refs/heads/{branch}"),
                        "node_id": format!("REF_{branch}"),
                        "url": format!("{base}/repos/{full_name}/git/refs/heads/{branch}"),
                        "object": {"sha": commit, "type": "commit",
                                   "url": format!("{base}/repos/{full_name}/git/commits/{commit}")},
                    }),
                ),
                None => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        ("GET", ["collaborators", user, "permission"]) => {
            if let Some(status) = s.repos[&full_name].permission_errors.get(*user) {
                let status = StatusCode::from_u16(*status).unwrap();
                return error(status, status.canonical_reason().unwrap_or("error"));
            }
            // Without access GitHub still answers, with the role `none`.
            let role = s.repos[&full_name]
                .roles
                .get(*user)
                .cloned()
                .unwrap_or_else(|| "none".into());
            let permission = match role.as_str() {
                "admin" => "admin",
                "maintain" | "write" => "write",
                "triage" | "read" => "read",
                "none" => "none",
                // A custom role reports its base role; the fake says read.
                _ => "read",
            };
            reply(
                StatusCode::OK,
                json!({"permission": permission, "role_name": role, "user": user_json(s, user)}),
            )
        }
        ("GET", ["pulls"]) => {
            let state = query.get("state").map(String::as_str).unwrap_or("open");
            let per_page: usize = query
                .get("per_page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(30)
                .min(100);
            let page: usize = query
                .get("page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1)
                .max(1);
            let head = query.get("head").map(|h| match h.split_once(':') {
                Some((o, b)) => (o.to_string(), b.to_string()),
                None => (owner.to_string(), h.clone()),
            });
            let repo = &s.repos[&full_name];
            let mut pulls: Vec<&Pull> = repo
                .pulls
                .iter()
                .filter(|p| match state {
                    "open" => p.open,
                    "closed" => !p.open,
                    _ => true,
                })
                .filter(|p| match &head {
                    Some((o, b)) => {
                        p.head_repo.split('/').next() == Some(o.as_str()) && &p.head == b
                    }
                    None => true,
                })
                .filter(|p| query.get("base").is_none_or(|b| &p.base == b))
                .collect();
            if query.get("direction").map(String::as_str) == Some("asc") {
                pulls.sort_by_key(|p| p.number);
            } else {
                pulls.sort_by_key(|p| std::cmp::Reverse(p.number));
            }
            let items: Vec<Value> = pulls
                .into_iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|p| pull_json(s, base, &full_name, p, false))
                .collect();
            reply(StatusCode::OK, Value::Array(items))
        }
        ("POST", ["pulls"]) => {
            let title = body["title"].as_str().unwrap_or("");
            let head_arg = body["head"].as_str().unwrap_or("");
            let base_ref = body["base"].as_str().unwrap_or("");
            let head_ref = head_arg
                .split_once(':')
                .map_or(head_arg, |(_, b)| b)
                .to_string();
            if title.is_empty() {
                return reply(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "field": "title", "code": "missing_field"}], "documentation_url": DOCS, "status": "422"}),
                );
            }
            let repo = s.repos.get_mut(&full_name).unwrap();
            let (Some(head_sha), Some(base_sha)) = (repo.branch(&head_ref), repo.branch(base_ref))
            else {
                return reply(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}], "documentation_url": DOCS, "status": "422"}),
                );
            };
            if repo.pulls.iter().any(|p| {
                p.open && p.head_repo == full_name && p.head == head_ref && p.base == base_ref
            }) {
                return validation(&format!(
                    "A pull request already exists for {owner}:{head_ref}."
                ));
            }
            let number = next_number(repo);
            repo.pulls.push(Pull {
                number,
                id,
                head_repo: full_name.clone(),
                head: head_ref,
                head_sha,
                base: base_ref.to_string(),
                base_sha,
                title: title.to_string(),
                body: body["body"].as_str().map(str::to_string),
                open: true,
                merged_at: None,
                closed_at: None,
                created_at: now_ts.clone(),
                updated_at: now_ts,
                draft: body["draft"].as_bool().unwrap_or(false),
                author: login,
                closed_by: None,
                labels: vec![],
                reviewers: vec![],
                teams: vec![],
                comments: vec![],
            });
            reply_for(s, StatusCode::CREATED, number)
        }
        (m @ ("GET" | "PATCH"), ["pulls", n]) => {
            let Ok(n) = n.parse::<u64>() else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            if m == "PATCH" {
                let repo = s.repos.get_mut(&full_name).unwrap();
                let head_now = repo
                    .pulls
                    .iter()
                    .find(|p| p.number == n)
                    .map(|p| repo.head_of(&full_name, p));
                let Some(p) = repo.pulls.iter_mut().find(|p| p.number == n) else {
                    return error(StatusCode::NOT_FOUND, "Not Found");
                };
                if let Some(t) = body["title"].as_str() {
                    p.title = t.to_string();
                }
                if let Some(b) = body["body"].as_str() {
                    p.body = Some(b.to_string());
                }
                if let Some(state) = body["state"].as_str() {
                    if p.merged_at.is_some() {
                        return validation("state cannot be changed. The pull request is merged.");
                    }
                    p.open = state == "open";
                    // A closed pull request keeps the head it had.
                    p.head_sha = head_now.unwrap_or_default();
                    p.closed_at = if p.open { None } else { Some(now_ts.clone()) };
                    p.closed_by = if p.open { None } else { Some(login.clone()) };
                }
                p.updated_at = now_ts;
            }
            reply_for(s, StatusCode::OK, n)
        }
        ("GET", ["issues", n]) => {
            let Ok(n) = n.parse::<u64>() else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            match s.repos[&full_name].pulls.iter().find(|p| p.number == n) {
                Some(p) => reply(StatusCode::OK, issue_json(s, base, &full_name, p)),
                None => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        (m @ ("GET" | "POST"), ["issues", n, "comments"]) => {
            let Ok(n) = n.parse::<u64>() else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            let repo = s.repos.get_mut(&full_name).unwrap();
            let Some((comments, is_pull)) = repo.comments_mut(n) else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            if m == "POST" {
                let Some(text) = body["body"].as_str() else {
                    return error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Invalid request.\n\n\"body\" wasn't supplied.",
                    );
                };
                let c = Comment {
                    id,
                    body: text.to_string(),
                    author: login,
                    created_at: now_ts,
                    reactions: vec![],
                };
                comments.push(c.clone());
                reply(
                    StatusCode::CREATED,
                    comment_json(s, base, &full_name, n, is_pull, &c),
                )
            } else {
                let comments = comments.clone();
                let items = comments
                    .iter()
                    .map(|c| comment_json(s, base, &full_name, n, is_pull, c))
                    .collect();
                reply(StatusCode::OK, Value::Array(items))
            }
        }
        (m @ ("GET" | "POST"), ["issues", "comments", c, "reactions"]) => {
            let Ok(c) = c.parse::<u64>() else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            let repo = s.repos.get_mut(&full_name).unwrap();
            let Some((comment, _, _)) = repo.comment_mut(c) else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            if m == "GET" {
                let reactions = comment.reactions.clone();
                return reply(
                    StatusCode::OK,
                    Value::Array(reactions.iter().map(|r| reaction_json(s, r)).collect()),
                );
            }
            let content = body["content"].as_str().unwrap_or("");
            if !REACTIONS.contains(&content) {
                return reply(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "Validation Failed", "errors": [{"resource": "Reaction", "field": "content", "code": "invalid", "value": content}], "documentation_url": DOCS, "status": "422"}),
                );
            }
            // The same user reacting the same way again gets the existing
            // reaction, with 200 instead of 201.
            if let Some(r) = comment
                .reactions
                .iter()
                .find(|r| r.user == login && r.content == content)
                .cloned()
            {
                return reply(StatusCode::OK, reaction_json(s, &r));
            }
            let r = Reaction {
                id,
                user: login,
                content: content.to_string(),
                created_at: now_ts,
            };
            comment.reactions.push(r.clone());
            reply(StatusCode::CREATED, reaction_json(s, &r))
        }
        ("POST", ["issues", n, "labels"]) => {
            let Ok(n) = n.parse::<u64>() else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            let repo = s.repos.get_mut(&full_name).unwrap();
            let Some(p) = repo.pulls.iter_mut().find(|p| p.number == n) else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            for l in body["labels"].as_array().into_iter().flatten() {
                if let Some(l) = l.as_str()
                    && !p.labels.iter().any(|x| x == l)
                {
                    p.labels.push(l.to_string());
                }
            }
            let labels = p.labels.clone();
            reply(
                StatusCode::OK,
                Value::Array(
                    labels
                        .iter()
                        .map(|l| label_json(base, &full_name, l))
                        .collect(),
                ),
            )
        }
        ("POST", ["pulls", n, "requested_reviewers"]) => {
            let Ok(n) = n.parse::<u64>() else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            let repo = s.repos.get_mut(&full_name).unwrap();
            let Some(p) = repo.pulls.iter_mut().find(|p| p.number == n) else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            let users: Vec<String> = body["reviewers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            if users.contains(&p.author) {
                return reply(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "Review cannot be requested from pull request author.", "documentation_url": DOCS, "status": "422"}),
                );
            }
            for u in users {
                if !p.reviewers.contains(&u) {
                    p.reviewers.push(u);
                }
            }
            for t in body["team_reviewers"].as_array().into_iter().flatten() {
                if let Some(t) = t.as_str()
                    && !p.teams.iter().any(|x| x == t)
                {
                    p.teams.push(t.to_string());
                }
            }
            reply_for(s, StatusCode::CREATED, n)
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}
