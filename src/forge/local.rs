//! The local forge: pull requests recorded in a JSON file, for `ferry demo`
//! and tests. It behaves like GitHub where promotion can tell the
//! difference: numbers count up from 1, one open pull request per head and
//! base, a merged pull request cannot be closed, comments are kept. Issues
//! exist too, for ChatOps commands written on them: they share the
//! numbering with pull requests, and both take comments and reactions.
//!
//! It does not touch git. A branch is pushed by the gitops module before
//! [`LocalForge::open`]; [`LocalForge::merge`] only *marks* a pull request
//! merged, and whoever calls it (the demo, a test, a person) merges the
//! branch into the base in the GitOps repository as well. The next pass
//! reads the result from git.
//!
//! ```json
//! {
//!   "next_number": 3,
//!   "next_comment_id": 3,
//!   "pulls": [
//!     {"number": 1, "head": "ferry/staging/api", "base": "main",
//!      "title": "staging: api sha-1 → sha-3", "body": "…",
//!      "labels": ["promotion"], "reviewers": ["alice", "team:platform"],
//!      "draft": false, "state": "open", "author": "ferry", "closed_by": null,
//!      "created_at": "2026-11-20T10:00:00Z", "updated_at": "2026-11-20T10:00:00Z",
//!      "merged_at": null, "closed_at": null,
//!      "comments": [{"id": 1, "author": "ferry", "body": "…",
//!                    "at": "2026-11-20T10:00:00Z", "reactions": []}]}
//!   ],
//!   "issues": [
//!     {"number": 2, "title": "pins", "author": "alice",
//!      "created_at": "2026-11-20T11:00:00Z",
//!      "comments": [{"id": 2, "author": "alice", "body": "/ferry pin api production",
//!                    "at": "2026-11-20T11:00:00Z", "reactions": ["eyes", "+1"]}]}
//!   ]
//! }
//! ```
//!
//! Comment ids come from `next_comment_id`, one counter for the whole file
//! (GitHub's comment ids are global too). A file written before issues,
//! comment ids and reactions existed still reads: `issues` is empty, a
//! comment without `id` has id 0 (no reaction can name it), one without
//! `author` was written by ferry (as for pull requests, below) and has no
//! reactions.
//!
//! `author` is the login that opened a pull request: the forge's own
//! [`identity`](Forge::identity) (`forge.login`, default `ferry`) for what
//! ferry opens, another login for what a test or the demo opens "as" a
//! collaborator ([`LocalForge::open_as`]). A pull request without one was
//! written before the field existed, by ferry (the file is ferry's own
//! record), and reads as the forge's identity. `closed_by` is who closed it:
//! ferry's identity for [`Forge::close`], another login for
//! [`LocalForge::close_as`], unknown (`null`) for a merge.
//!
//! A missing file is an empty forge. Every change is read-modify-write
//! under a lock file beside the state (`<file>.lock`), and the state is
//! replaced atomically, so several processes may share one file; readers
//! never see a half-written file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Forge, ForgeError, PrSpec, PrState, PullRequest, Reaction, StateFilter};

/// A lock older than this was left by a crashed process; every critical
/// section is a read and a small write, far shorter.
const STALE_LOCK: Duration = Duration::from_secs(30);
/// How long to wait for another process's lock before giving up.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    #[serde(default = "one")]
    next_number: u64,
    #[serde(default)]
    pulls: Vec<StoredPr>,
    /// Ids for the next comment: one counter for every issue and pull
    /// request.
    #[serde(default = "one")]
    next_comment_id: u64,
    /// Issues, numbered with the pull requests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    issues: Vec<StoredIssue>,
    /// Repository roles by login (`role_name`, as GitHub reports it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    roles: BTreeMap<String, String>,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredPr {
    number: u64,
    head: String,
    base: String,
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    reviewers: Vec<String>,
    #[serde(default)]
    draft: bool,
    state: PrState,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    merged_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    closed_at: Option<OffsetDateTime>,
    #[serde(default)]
    comments: Vec<LocalComment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    closed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    merge_commit: Option<String>,
}

/// An issue: only what ChatOps needs, a place for commands and answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredIssue {
    number: u64,
    title: String,
    author: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(default)]
    comments: Vec<LocalComment>,
}

/// A comment on a local pull request or issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalComment {
    /// Its id, unique in the file; 0 for a comment written before ids
    /// were recorded.
    #[serde(default)]
    pub id: u64,
    /// Who wrote it; ferry's identity for what [`Forge::comment`] and
    /// [`Forge::close`] wrote. Empty in the file for a comment written
    /// before authors were recorded (by ferry); read as ferry's identity.
    #[serde(default)]
    pub author: String,
    /// Markdown text.
    pub body: String,
    /// When it was written.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Reactions on it, by content (`eyes`, `+1`, `confused`), each once.
    #[serde(default)]
    pub reactions: Vec<String>,
}

/// A comment [`LocalForge::post_comment`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedComment {
    /// The comment's id, for [`Forge::react`].
    pub id: u64,
    /// `local://issues/{number}#issuecomment-{id}`.
    pub url: String,
}

/// The login the local forge acts as unless `forge.login` says otherwise.
pub const DEFAULT_LOGIN: &str = "ferry";

/// Pull requests in a JSON file (see the module docs).
#[derive(Debug, Clone)]
pub struct LocalForge {
    path: PathBuf,
    login: String,
}

impl LocalForge {
    /// A forge whose state lives in `path` (created on the first write),
    /// acting as [`DEFAULT_LOGIN`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LocalForge {
            path: path.into(),
            login: DEFAULT_LOGIN.to_string(),
        }
    }

    /// The same forge acting as `login`: the author of what it opens and
    /// who closed what it closes.
    pub fn with_login(mut self, login: impl Into<String>) -> Self {
        self.login = login.into();
        self
    }

    /// Opens a pull request as `login` (a collaborator, in tests and the
    /// demo), with the same rules as [`Forge::open`] for that login: an
    /// open one from the same head into the same base is adopted only when
    /// `login` opened it.
    pub async fn open_as(&self, spec: &PrSpec, login: &str) -> Result<PullRequest, ForgeError> {
        if spec.head.is_empty() || spec.base.is_empty() {
            return Err(invalid("head and base are required"));
        }
        if spec.head == spec.base {
            return Err(invalid("head and base must differ"));
        }
        if spec.title.trim().is_empty() {
            return Err(invalid("title is required"));
        }
        let url = self.url_base();
        self.mutate(|state| {
            // Same rule as GitHub: one open pull request per head and base.
            if let Some(existing) = state
                .pulls
                .iter_mut()
                .filter(|p| p.state == PrState::Open && p.head == spec.head && p.base == spec.base)
                .min_by_key(|p| p.number)
            {
                let found = view(existing, &url, &self.login);
                if !found.opened_by(login) {
                    return Err(ForgeError::ForeignPr {
                        number: found.number,
                        author: found.author,
                    });
                }
                add_missing(&mut existing.labels, &spec.labels);
                add_missing(&mut existing.reviewers, &spec.reviewers);
                return Ok(view(existing, &url, &self.login));
            }
            let now = OffsetDateTime::now_utc();
            let number = state.next_number;
            state.next_number += 1;
            let mut pr = StoredPr {
                number,
                head: spec.head.clone(),
                base: spec.base.clone(),
                title: spec.title.clone(),
                body: spec.body.clone(),
                labels: Vec::new(),
                reviewers: Vec::new(),
                draft: spec.draft,
                state: PrState::Open,
                created_at: now,
                updated_at: now,
                merged_at: None,
                closed_at: None,
                comments: Vec::new(),
                author: Some(login.to_string()),
                closed_by: None,
                merge_commit: None,
            };
            add_missing(&mut pr.labels, &spec.labels);
            add_missing(&mut pr.reviewers, &spec.reviewers);
            let out = view(&pr, &url, &self.login);
            state.pulls.push(pr);
            Ok(out)
        })
        .await
    }

    /// Comments (unless `comment` is empty), then closes an open pull
    /// request as `login` (a reviewer rejecting it, in tests and the demo).
    /// Closing a closed one does nothing; a merged one is
    /// [`ForgeError::AlreadyMerged`].
    pub async fn close_as(
        &self,
        number: u64,
        login: &str,
        comment: &str,
    ) -> Result<PullRequest, ForgeError> {
        let url = self.url_base();
        self.mutate(|state| {
            let comment_id = state.next_comment_id;
            let pr = find_mut(state, number)?;
            match pr.state {
                PrState::Merged => return Err(ForgeError::AlreadyMerged(number)),
                PrState::Closed => return Ok(view(pr, &url, &self.login)),
                PrState::Open => {}
            }
            let now = OffsetDateTime::now_utc();
            if !comment.is_empty() {
                pr.comments.push(LocalComment {
                    id: comment_id,
                    author: login.to_string(),
                    body: comment.to_string(),
                    at: now,
                    reactions: Vec::new(),
                });
            }
            pr.state = PrState::Closed;
            pr.closed_at = Some(now);
            pr.closed_by = Some(login.to_string());
            pr.updated_at = now;
            let out = view(pr, &url, &self.login);
            if !comment.is_empty() {
                state.next_comment_id += 1;
            }
            Ok(out)
        })
        .await
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Marks an open pull request merged. This records the fact only: the
    /// caller merges `head` into `base` in the GitOps repository itself,
    /// before or after, as a reviewer would on GitHub.
    pub async fn merge(&self, number: u64) -> Result<PullRequest, ForgeError> {
        self.merge_as(number, None).await
    }

    /// [`merge`](Self::merge), recording `commit` as the commit the merge
    /// made on the base branch (GitHub's `merge_commit_sha`).
    pub async fn merge_as(
        &self,
        number: u64,
        commit: Option<&str>,
    ) -> Result<PullRequest, ForgeError> {
        let url = self.url_base();
        self.mutate(|state| {
            let pr = find_mut(state, number)?;
            match pr.state {
                PrState::Merged => return Err(ForgeError::AlreadyMerged(number)),
                PrState::Closed => return Err(ForgeError::NotOpen(number)),
                PrState::Open => {}
            }
            let now = OffsetDateTime::now_utc();
            pr.state = PrState::Merged;
            pr.merge_commit = commit.map(str::to_string);
            pr.merged_at = Some(now);
            pr.closed_at = Some(now);
            pr.updated_at = now;
            Ok(view(pr, &url, &self.login))
        })
        .await
    }

    /// Gives `login` the repository role `role` (GitHub's `role_name`), as
    /// an admin would in the repository's settings.
    pub async fn set_role(&self, login: &str, role: &str) -> Result<(), ForgeError> {
        self.mutate(|state| {
            state.roles.insert(login.to_string(), role.to_string());
            Ok(())
        })
        .await
    }

    /// The comments of a pull request, oldest first.
    pub async fn comments(&self, number: u64) -> Result<Vec<LocalComment>, ForgeError> {
        let state = self.read()?;
        let pr = state
            .pulls
            .iter()
            .find(|p| p.number == number)
            .ok_or(ForgeError::NotFound(number))?;
        Ok(self.shown(&pr.comments))
    }

    /// Opens an issue as `login` (a person, in tests and the demo); its
    /// number comes from the same counter as pull requests'.
    pub async fn open_issue(&self, title: &str, login: &str) -> Result<u64, ForgeError> {
        if title.trim().is_empty() {
            return Err(invalid("title is required"));
        }
        self.mutate(|state| {
            let number = state.next_number;
            state.next_number += 1;
            state.issues.push(StoredIssue {
                number,
                title: title.to_string(),
                author: login.to_string(),
                created_at: OffsetDateTime::now_utc(),
                comments: Vec::new(),
            });
            Ok(number)
        })
        .await
    }

    /// Comments on issue or pull request `number` as `login` (a person
    /// writing a command, in tests and the demo).
    pub async fn post_comment(
        &self,
        number: u64,
        login: &str,
        body: &str,
    ) -> Result<PostedComment, ForgeError> {
        let id = self.add_comment(number, login, body).await?;
        Ok(PostedComment {
            id,
            url: format!("local://issues/{number}#issuecomment-{id}"),
        })
    }

    /// The comments of issue or pull request `number`, oldest first.
    pub async fn issue_comments(&self, number: u64) -> Result<Vec<LocalComment>, ForgeError> {
        let mut state = self.read()?;
        let comments = comments_mut(&mut state, number)?;
        Ok(self.shown(comments))
    }

    /// Comments as the API shows them: an old comment's missing author is
    /// ferry's identity.
    fn shown(&self, comments: &[LocalComment]) -> Vec<LocalComment> {
        comments
            .iter()
            .map(|c| LocalComment {
                author: if c.author.is_empty() {
                    self.login.clone()
                } else {
                    c.author.clone()
                },
                ..c.clone()
            })
            .collect()
    }

    /// Appends a comment by `login` and returns its id.
    async fn add_comment(&self, number: u64, login: &str, body: &str) -> Result<u64, ForgeError> {
        self.mutate(|state| {
            let id = state.next_comment_id;
            let now = OffsetDateTime::now_utc();
            if let Some(pr) = state.pulls.iter_mut().find(|p| p.number == number) {
                pr.updated_at = now;
            }
            comments_mut(state, number)?.push(LocalComment {
                id,
                author: login.to_string(),
                body: body.to_string(),
                at: now,
                reactions: Vec::new(),
            });
            state.next_comment_id += 1;
            Ok(id)
        })
        .await
    }

    fn url_base(&self) -> String {
        format!("local:{}", self.path.display())
    }

    fn err(&self, message: impl std::fmt::Display) -> ForgeError {
        ForgeError::Local {
            path: self.path.display().to_string(),
            message: message.to_string(),
        }
    }

    fn read(&self) -> Result<State, ForgeError> {
        let mut state: State = match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| self.err(e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(self.err(e)),
        };
        // Numbers start at 1. A hand-edited file may lack the counter or
        // lower it; numbers and comment ids must never be reused.
        let max = state
            .pulls
            .iter()
            .map(|p| p.number)
            .chain(state.issues.iter().map(|i| i.number))
            .max()
            .unwrap_or(0);
        state.next_number = state.next_number.max(max + 1);
        let max_id = all_comments(&state).map(|c| c.id).max().unwrap_or(0);
        state.next_comment_id = state.next_comment_id.max(max_id + 1);
        Ok(state)
    }

    fn write(&self, state: &State) -> Result<(), ForgeError> {
        let mut bytes = serde_json::to_vec_pretty(state).map_err(|e| self.err(e))?;
        bytes.push(b'\n');
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
        }
        crate::atomic::write(&self.path, &bytes).map_err(|e| self.err(e))
    }

    /// Read, change, write, under the lock file. Nothing is written when
    /// `change` fails.
    async fn mutate<T>(
        &self,
        change: impl FnOnce(&mut State) -> Result<T, ForgeError>,
    ) -> Result<T, ForgeError> {
        let _lock = self.lock().await?;
        let mut state = self.read()?;
        let out = change(&mut state)?;
        self.write(&state)?;
        Ok(out)
    }

    async fn lock(&self) -> Result<LockFile, ForgeError> {
        let mut lock_path = self.path.clone().into_os_string();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
        }
        let started = SystemTime::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock_path)
            {
                Ok(_) => return Ok(LockFile(lock_path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(&lock_path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > STALE_LOCK);
                    if stale {
                        tracing::warn!(lock = %lock_path.display(), "removing a stale local forge lock");
                        let _ = std::fs::remove_file(&lock_path);
                        continue;
                    }
                    if started.elapsed().unwrap_or_default() > LOCK_TIMEOUT {
                        return Err(self.err(format!(
                            "lock {} held for over {}s",
                            lock_path.display(),
                            LOCK_TIMEOUT.as_secs()
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(e) => return Err(self.err(e)),
            }
        }
    }
}

/// Removes the lock file when the critical section ends, also on error.
struct LockFile(PathBuf);

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn find_mut(state: &mut State, number: u64) -> Result<&mut StoredPr, ForgeError> {
    state
        .pulls
        .iter_mut()
        .find(|p| p.number == number)
        .ok_or(ForgeError::NotFound(number))
}

/// The comments of issue or pull request `number`.
fn comments_mut(state: &mut State, number: u64) -> Result<&mut Vec<LocalComment>, ForgeError> {
    if let Some(pr) = state.pulls.iter_mut().find(|p| p.number == number) {
        return Ok(&mut pr.comments);
    }
    state
        .issues
        .iter_mut()
        .find(|i| i.number == number)
        .map(|i| &mut i.comments)
        .ok_or(ForgeError::NotFound(number))
}

/// Every comment of the file, on pull requests and issues.
fn all_comments(state: &State) -> impl Iterator<Item = &LocalComment> {
    state
        .pulls
        .iter()
        .flat_map(|p| &p.comments)
        .chain(state.issues.iter().flat_map(|i| &i.comments))
}

/// The pull request as the trait shows it; `own_login` is the author of
/// one stored before authors were recorded (see the module docs).
fn view(pr: &StoredPr, url_base: &str, own_login: &str) -> PullRequest {
    // A pull request marked merged by hand may lack the time; its last
    // change is the best guess.
    let merged_at = match pr.state {
        PrState::Merged => Some(pr.merged_at.unwrap_or(pr.updated_at)),
        _ => None,
    };
    PullRequest {
        number: pr.number,
        state: pr.state,
        merged_at,
        head: pr.head.clone(),
        base: pr.base.clone(),
        title: pr.title.clone(),
        body: pr.body.clone(),
        url: format!("{url_base}#{}", pr.number),
        labels: pr.labels.clone(),
        reviewers: pr.reviewers.clone(),
        author: pr.author.clone().unwrap_or_else(|| own_login.to_string()),
        closed_by: pr.closed_by.clone(),
        // The local forge records pull requests, not git.
        head_sha: None,
        merge_commit: pr
            .merge_commit
            .clone()
            .filter(|_| pr.state == PrState::Merged),
    }
}

fn add_missing(list: &mut Vec<String>, items: &[String]) {
    for item in items {
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
}

fn invalid(message: &str) -> ForgeError {
    ForgeError::Api {
        status: 422,
        message: message.to_string(),
    }
}

impl Forge for LocalForge {
    fn identity(&self) -> &str {
        &self.login
    }

    async fn permission(&self, login: &str) -> Result<String, ForgeError> {
        let state = self.read()?;
        Ok(state
            .roles
            .iter()
            .find(|(l, _)| super::same_login(l, login))
            .map_or_else(|| "none".to_string(), |(_, r)| r.clone()))
    }

    async fn find_open(&self, head: &str) -> Result<Option<PullRequest>, ForgeError> {
        let state = self.read()?;
        let url = self.url_base();
        Ok(state
            .pulls
            .iter()
            .filter(|p| p.state == PrState::Open && p.head == head)
            .min_by_key(|p| p.number)
            .map(|p| view(p, &url, &self.login)))
    }

    async fn last_closed(&self, head: &str) -> Result<Option<PullRequest>, ForgeError> {
        let state = self.read()?;
        let url = self.url_base();
        Ok(state
            .pulls
            .iter()
            .filter(|p| p.state != PrState::Open && p.head == head)
            .max_by_key(|p| p.number)
            .map(|p| view(p, &url, &self.login)))
    }

    async fn open(&self, spec: &PrSpec) -> Result<PullRequest, ForgeError> {
        self.open_as(spec, &self.login).await
    }

    async fn update(
        &self,
        number: u64,
        title: &str,
        body: &str,
    ) -> Result<PullRequest, ForgeError> {
        if title.trim().is_empty() {
            return Err(invalid("title is required"));
        }
        let url = self.url_base();
        self.mutate(|state| {
            let pr = find_mut(state, number)?;
            pr.title = title.to_string();
            pr.body = body.to_string();
            pr.updated_at = OffsetDateTime::now_utc();
            Ok(view(pr, &url, &self.login))
        })
        .await
    }

    async fn close(&self, number: u64, comment: &str) -> Result<PullRequest, ForgeError> {
        self.close_as(number, &self.login, comment).await
    }

    async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        self.add_comment(number, &self.login, body).await.map(drop)
    }

    async fn react(&self, comment_id: u64, reaction: Reaction) -> Result<(), ForgeError> {
        let content = reaction.as_str();
        self.mutate(|state| {
            let comment = comment_mut(state, comment_id)?;
            if !comment.reactions.iter().any(|r| r == content) {
                comment.reactions.push(content.to_string());
            }
            Ok(())
        })
        .await
    }

    async fn reactions(&self, comment_id: u64) -> Result<Vec<(String, String)>, ForgeError> {
        let mut state = self.read()?;
        let comment = comment_mut(&mut state, comment_id)?;
        // Only ferry reacts on the local forge.
        Ok(comment
            .reactions
            .iter()
            .map(|r| (self.identity().to_string(), r.clone()))
            .collect())
    }

    async fn get(&self, number: u64) -> Result<PullRequest, ForgeError> {
        let state = self.read()?;
        let url = self.url_base();
        state
            .pulls
            .iter()
            .find(|p| p.number == number)
            .map(|p| view(p, &url, &self.login))
            .ok_or(ForgeError::NotFound(number))
    }

    async fn list(
        &self,
        state: StateFilter,
        head_prefix: &str,
    ) -> Result<Vec<PullRequest>, ForgeError> {
        let file = self.read()?;
        let url = self.url_base();
        let mut out: Vec<PullRequest> = file
            .pulls
            .iter()
            .filter(|p| state.admits(p.state) && p.head.starts_with(head_prefix))
            .map(|p| view(p, &url, &self.login))
            .collect();
        out.sort_by_key(|p| p.number);
        Ok(out)
    }
}

/// The comment with id `comment_id` on any pull request or issue. Id 0 is
/// every comment written before ids existed: none of them can be told
/// apart, so none is found.
fn comment_mut(state: &mut State, comment_id: u64) -> Result<&mut LocalComment, ForgeError> {
    state
        .pulls
        .iter_mut()
        .flat_map(|p| p.comments.iter_mut())
        .chain(state.issues.iter_mut().flat_map(|i| i.comments.iter_mut()))
        .find(|c| c.id == comment_id && comment_id != 0)
        .ok_or_else(|| ForgeError::Api {
            status: 404,
            message: format!("comment {comment_id} not found"),
        })
}
