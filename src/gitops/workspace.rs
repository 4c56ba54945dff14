//! The working clone: open, sync, apply (edit, commit, push with retry), log.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use git2::build::CheckoutBuilder;
use git2::{
    AutotagOption, ErrorCode, FetchOptions, IndexAddOption, ObjectType, Oid, PushOptions,
    Repository, RepositoryInitOptions, ResetType, Sort,
};
use tracing::{debug, info, warn};

use super::lock::{CacheLock, wait_from_env};
use super::url::{RemoteUrl, redact, workspace_dir_name};
use super::{
    Author, CommitInfo, Credentials, GitContext, GitError, Outcome, failpoint, validate_branch,
};

/// How often a proposal waits for another process's lock on its branch
/// (5 ms, 10 ms, … : about 1 s in all).
const LOCK_ATTEMPTS: u32 = 20;

/// First back-off after a rejected push; doubled per attempt up to the cap.
const BACKOFF_START: Duration = Duration::from_millis(20);
const BACKOFF_CAP: Duration = Duration::from_secs(1);

/// One version of a file in the history: see [`Workspace::file_versions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersion {
    /// The commit that wrote this version.
    pub commit: String,
    /// Its committer time, seconds since the epoch.
    pub time: i64,
    /// The file's bytes; `None` when the commit deleted it.
    pub content: Option<Vec<u8>>,
}

/// A working clone of the GitOps repository, on one branch, in a cache dir.
///
/// The clone's directory is `<cache_dir>/<repo>-<hash of url and branch>`.
/// A workspace directory is used by one `Workspace` at a time: a second
/// `Workspace` for the same remote in the same process gets a sibling
/// directory (`...-1`), and a `Workspace` holds an exclusive lock on
/// `<dir>.lock` for its whole life, so a second process on the same cache
/// waits for it (see [`CacheLock`]). Everything in the directory is
/// disposable: [`Workspace::sync`] overwrites local changes, and deleting it
/// only costs a fresh fetch.
pub struct Workspace {
    repo: Repository,
    remote: RemoteUrl,
    branch: String,
    creds: Credentials,
    root: PathBuf,
    // Declared last so the repository is closed before the lock and the
    // claim are released.
    _lock: CacheLock,
    _claim: Claim,
}

impl fmt::Debug for Workspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workspace")
            .field("url", &redact(&self.remote.url))
            .field("branch", &self.branch)
            .field("root", &self.root)
            .field("creds", &self.creds)
            .finish()
    }
}

/// Directories of the workspaces open in this process.
static IN_USE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

struct Claim(PathBuf);

impl Claim {
    /// Claims `base`, or the first free `base-N` when another workspace of
    /// this process already uses it.
    fn take(base: PathBuf) -> Claim {
        let mut in_use = IN_USE.lock().unwrap_or_else(|e| e.into_inner());
        let mut candidate = base.clone();
        let mut n = 0u32;
        while in_use.contains(&candidate) {
            n += 1;
            let mut name = base.as_os_str().to_owned();
            name.push(format!("-{n}"));
            candidate = PathBuf::from(name);
        }
        in_use.push(candidate.clone());
        Claim(candidate)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut in_use = IN_USE.lock().unwrap_or_else(|e| e.into_inner());
        in_use.retain(|p| p != &self.0);
    }
}

/// What became of a push.
enum Push {
    Accepted,
    Rejected(String),
}

impl Workspace {
    /// Opens the workspace for `url` and `branch` under `cache_dir`, creating
    /// it when missing (an empty repository with `origin` set; the first
    /// [`sync`](Self::sync) fetches). An existing workspace must have the same
    /// origin. `url` is anything git2 handles (https, ssh, `user@host:path`),
    /// a `file://` URL or a plain local path. No network access happens here.
    ///
    /// Before anything else it takes the checkout's lock, waiting as long as
    /// `FERRY_LOCK_WAIT` says (default [`DEFAULT_WAIT`](super::DEFAULT_WAIT))
    /// for another process to release it, then fails with
    /// [`GitError::Busy`].
    pub fn open(
        url: &str,
        branch: &str,
        cache_dir: &Path,
        creds: Credentials,
    ) -> Result<Workspace, GitError> {
        validate_branch(branch)?;
        let remote = RemoteUrl::parse(url)?;
        let wait = wait_from_env().map_err(GitError::LockWait)?;
        std::fs::create_dir_all(cache_dir).map_err(|source| GitError::Io {
            path: cache_dir.to_path_buf(),
            source,
        })?;
        let claim = Claim::take(cache_dir.join(workspace_dir_name(&remote.url, branch)));
        let dir = claim.0.clone();
        let lock = CacheLock::acquire(&lock_path(&dir), &dir, wait)?;
        let repo = if dir.exists() {
            open_existing(&dir, &remote)?
        } else {
            create(&dir, cache_dir, &remote, branch)?
        };
        let root = repo
            .workdir()
            .ok_or_else(|| GitError::Refused(format!("{} is a bare repository", dir.display())))?
            .to_path_buf();
        debug!(url = %redact(&remote.url), branch, root = %root.display(), "workspace open");
        Ok(Workspace {
            repo,
            remote,
            branch: branch.to_string(),
            creds,
            root,
            _lock: lock,
            _claim: claim,
        })
    }

    /// The directory [`open`](Self::open) uses for `url` and `branch` under
    /// `cache_dir` (when no other workspace of this process uses it).
    pub fn dir_for(url: &str, branch: &str, cache_dir: &Path) -> Result<PathBuf, GitError> {
        validate_branch(branch)?;
        let remote = RemoteUrl::parse(url)?;
        Ok(cache_dir.join(workspace_dir_name(&remote.url, branch)))
    }

    /// Takes the lock of the checkout `dir` (see [`dir_for`](Self::dir_for))
    /// without opening it, waiting up to `wait`: for a reader that must not
    /// see a checkout halfway through another process's pass.
    pub fn lock_dir(dir: &Path, wait: Duration) -> Result<CacheLock, GitError> {
        CacheLock::acquire(&lock_path(dir), dir, wait)
    }

    /// Lets this workspace read the objects of the checkout `other`
    /// (another workspace of the same remote) instead of fetching them
    /// again, through git's alternates: `other` is only read, and new
    /// objects land here. Its branch tip, when it has one, becomes this
    /// workspace's starting point, so a fetch asks only for what is newer.
    pub fn borrow_objects(&mut self, other: &Path) -> Result<(), GitError> {
        let theirs = match Repository::open(other) {
            Ok(r) => r,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(()),
            Err(e) => {
                return Err(GitError::Git {
                    op: "open workspace",
                    source: e,
                });
            }
        };
        let objects = theirs.path().join("objects");
        let alternates = self.repo.path().join("objects/info/alternates");
        let io = |source| GitError::Io {
            path: alternates.clone(),
            source,
        };
        if let Some(dir) = alternates.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let line = objects
            .to_str()
            .ok_or_else(|| GitError::Refused(format!("{} is not UTF-8", objects.display())))?;
        std::fs::write(&alternates, format!("{line}\n")).map_err(io)?;
        // Reopened so that libgit2 reads the new alternates file.
        self.repo = Repository::open(&self.root).ctx("open workspace")?;
        let local = format!("refs/heads/{}", self.branch);
        if let Ok(tip) = theirs.refname_to_id(&local) {
            self.repo
                .reference(&local, tip, true, "ferry: borrow")
                .ctx("open workspace")?;
        }
        Ok(())
    }

    /// The root of the working tree, where edits happen.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The branch this workspace tracks.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The clone, for the read-only helpers of sibling modules.
    pub(super) fn repository(&self) -> &Repository {
        &self.repo
    }

    /// Fetch options carrying the workspace's credentials.
    pub(super) fn fetch_options(&self) -> FetchOptions<'_> {
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(self.creds.callbacks())
            .download_tags(AutotagOption::None);
        opts
    }

    /// Fetches the branch and hard-resets the working tree to the remote tip,
    /// deleting untracked and ignored files, so whatever an earlier (maybe
    /// crashed) pass left behind is gone. Returns the tip.
    pub fn sync(&mut self) -> Result<Oid, GitError> {
        let tracking = format!("refs/remotes/origin/{}", self.branch);
        let local = format!("refs/heads/{}", self.branch);
        self.clear_stale_locks(&[tracking.as_str(), local.as_str()]);

        // Forget the last fetched tip first, so that a branch deleted on the
        // remote shows up as missing rather than as the stale tip.
        match self.repo.find_reference(&tracking) {
            Ok(mut r) => r.delete().ctx("fetch")?,
            Err(e) if e.code() == ErrorCode::NotFound => {}
            Err(e) => {
                return Err(GitError::Git {
                    op: "fetch",
                    source: e,
                });
            }
        }
        {
            let mut remote = self.repo.find_remote("origin").ctx("fetch")?;
            let mut opts = FetchOptions::new();
            opts.remote_callbacks(self.creds.callbacks())
                .download_tags(AutotagOption::None);
            let refspec = format!("+{local}:{tracking}");
            remote
                .fetch(&[refspec.as_str()], Some(&mut opts), Some("ferry: fetch"))
                .ctx("fetch")?;
        }
        let tip = match self.repo.find_reference(&tracking) {
            Ok(r) => r.peel_to_commit().ctx("fetch")?,
            Err(e) if e.code() == ErrorCode::NotFound => {
                return Err(GitError::NoSuchBranch {
                    url: redact(&self.remote.url),
                    branch: self.branch.clone(),
                });
            }
            Err(e) => {
                return Err(GitError::Git {
                    op: "fetch",
                    source: e,
                });
            }
        };
        self.repo
            .reference(&local, tip.id(), true, "ferry: sync")
            .ctx("sync")?;
        self.repo.set_head(&local).ctx("sync")?;
        self.repo
            .reset(tip.as_object(), ResetType::Hard, None)
            .ctx("sync")?;
        // A hard reset forces its own checkout strategy (reset.c), which
        // leaves untracked files; a second checkout removes them.
        let mut checkout = CheckoutBuilder::new();
        checkout.force().remove_untracked(true).remove_ignored(true);
        self.repo.checkout_head(Some(&mut checkout)).ctx("sync")?;
        debug!(tip = %tip.id(), branch = %self.branch, "synced");
        Ok(tip.id())
    }

    /// Makes one change on the remote branch, safely against other writers.
    ///
    /// Each attempt syncs to the remote tip and calls `edit` with the working
    /// tree's root. `edit` changes files in place and returns the commit
    /// message, or `None` when the change is not wanted (any more): that is
    /// the "already done" check, and it runs again on every attempt. All
    /// changes (new, modified, deleted files) are committed on top of the tip
    /// with `author` as author and committer, then pushed without force. When
    /// the push is rejected because someone else pushed first, `apply` backs
    /// off (exponentially, with jitter) and starts over from the sync, up to
    /// `max_attempts` attempts (at least one), then fails with
    /// [`GitError::Conflict`].
    ///
    /// An `edit` error aborts with [`GitError::Edit`]; nothing is pushed and
    /// the next sync discards the half-made change. So does a change that
    /// adds, replaces or removes a symbolic link: edits change regular
    /// files only.
    pub fn apply<F, E>(
        &mut self,
        author: &Author,
        max_attempts: u32,
        mut edit: F,
    ) -> Result<Outcome, GitError>
    where
        F: FnMut(&Path) -> Result<Option<String>, E>,
        E: fmt::Display,
    {
        // Fail on a bad author before touching anything.
        author.signature()?;
        let max_attempts = max_attempts.max(1);
        let mut last_reason = String::new();
        for attempt in 1..=max_attempts {
            let tip = self.sync()?;
            let message = match edit(&self.root) {
                Ok(Some(message)) => message,
                Ok(None) => return Ok(Outcome::NothingToDo),
                Err(e) => return Err(GitError::Edit(e.to_string())),
            };
            let Some(commit) = self.commit_worktree(tip, author, &message, Some("HEAD"))? else {
                return Ok(Outcome::NothingToDo);
            };
            failpoint("after_commit_before_push");
            match self.push(tip, commit)? {
                Push::Accepted => {
                    failpoint("after_push");
                    info!(%commit, attempts = attempt, branch = %self.branch, "pushed");
                    return Ok(Outcome::Pushed {
                        commit,
                        attempts: attempt,
                    });
                }
                Push::Rejected(reason) => {
                    warn!(attempt, max_attempts, %reason, branch = %self.branch,
                        "push rejected (someone else pushed first); retrying on the new tip");
                    last_reason = reason;
                    if attempt < max_attempts {
                        std::thread::sleep(backoff(attempt));
                    }
                }
            }
        }
        Err(GitError::Conflict {
            branch: self.branch.clone(),
            attempts: max_attempts,
            reason: last_reason,
        })
    }

    /// Proposes a change on its own branch: syncs to the base tip, runs
    /// `edit`, commits the result on top of the tip (the base branch does
    /// not move) and force-pushes it to `refs/heads/<branch>`, replacing
    /// what a previous proposal left there. Returns the pushed commit, or
    /// `None` when `edit` wants nothing or changes nothing. The worktree is
    /// back at the base tip afterwards.
    pub fn propose<F, E>(
        &mut self,
        branch: &str,
        author: &Author,
        edit: F,
    ) -> Result<Option<Oid>, GitError>
    where
        F: FnOnce(&Path) -> Result<Option<String>, E>,
        E: fmt::Display,
    {
        validate_branch(branch)?;
        author.signature()?;
        let tip = self.sync()?;
        let message = match edit(&self.root) {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(None),
            Err(e) => return Err(GitError::Edit(e.to_string())),
        };
        let result = self
            .commit_worktree(tip, author, &message, None)
            .and_then(|commit| match commit {
                None => Ok(None),
                Some(commit) => self.force_push(branch, commit).map(|()| Some(commit)),
            });
        // Back to the base tip whatever happened.
        self.sync()?;
        if let Ok(Some(commit)) = &result {
            info!(%commit, branch, "proposed");
        }
        result
    }

    /// Moves `refs/heads/<branch>` on the remote to `commit`, whatever it
    /// pointed to: a proposal branch belongs to ferry alone.
    fn force_push(&self, branch: &str, commit: Oid) -> Result<(), GitError> {
        let refname = format!("refs/heads/{branch}");
        if let Some(path) = &self.remote.local {
            let remote = Repository::open(path).ctx("push")?;
            copy_objects(&self.repo, &remote, commit)?;
            // Another process may hold the ref's lock for an instant (two
            // replicas proposing at once); the branch is ours to overwrite,
            // so wait for the lock rather than fail the pass.
            let mut attempt = 0u32;
            loop {
                match remote.reference(&refname, commit, true, "ferry: propose") {
                    Ok(_) => return Ok(()),
                    Err(e) if e.code() == ErrorCode::Locked && attempt < LOCK_ATTEMPTS => {
                        attempt += 1;
                        std::thread::sleep(Duration::from_millis(5 * u64::from(attempt)));
                    }
                    Err(e) => {
                        return Err(GitError::Git {
                            op: "push",
                            source: e,
                        });
                    }
                }
            }
        }
        let local = format!("refs/ferry/propose/{branch}");
        self.repo
            .reference(&local, commit, true, "ferry: propose")
            .ctx("push")?;
        let mut remote = self.repo.find_remote("origin").ctx("push")?;
        let mut opts = PushOptions::new();
        opts.remote_callbacks(self.creds.callbacks());
        remote
            .push(&[format!("+{local}:{refname}").as_str()], Some(&mut opts))
            .ctx("push")
    }

    /// The newest commit (from the local HEAD) that changed `path`, a file
    /// relative to the repository root: the commit an environment must run
    /// to run what the file says.
    pub fn last_commit_touching(&self, path: &Path) -> Result<Option<String>, GitError> {
        let path = path.to_path_buf();
        Ok(self
            .last_commits_touching(std::slice::from_ref(&path))?
            .remove(&path))
    }

    /// [`last_commit_touching`](Self::last_commit_touching) for several
    /// files in one walk of the history, which stops once every file is
    /// found. Files no commit touched are absent from the map.
    pub fn last_commits_touching(
        &self,
        paths: &[PathBuf],
    ) -> Result<HashMap<PathBuf, String>, GitError> {
        let mut found = HashMap::new();
        let mut left: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        left.sort();
        left.dedup();
        if left.is_empty() {
            return Ok(found);
        }
        let head = self.repo.head().ctx("log")?.peel_to_commit().ctx("log")?;
        let mut walk = self.repo.revwalk().ctx("log")?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)
            .ctx("log")?;
        walk.push(head.id()).ctx("log")?;
        let blob_at = |tree: Option<&git2::Tree>, path: &Path| {
            tree.and_then(|t| t.get_path(path).ok()).map(|e| e.id())
        };
        for id in walk {
            let commit = self.repo.find_commit(id.ctx("log")?).ctx("log")?;
            let tree = commit.tree().ok();
            let parents: Vec<Option<git2::Tree>> =
                commit.parents().map(|p| p.tree().ok()).collect();
            left.retain(|path| {
                let here = blob_at(tree.as_ref(), path);
                // A merge changed the file only if it differs from every parent.
                let changed = match parents.len() {
                    0 => here.is_some(),
                    _ => parents.iter().all(|p| blob_at(p.as_ref(), path) != here),
                };
                if changed {
                    found.insert(path.to_path_buf(), commit.id().to_string());
                }
                !changed
            });
            if left.is_empty() {
                break;
            }
        }
        Ok(found)
    }

    /// The versions of `path` (relative to the repository root) on the
    /// branch's first-parent line from the local HEAD, newest first: each
    /// commit that changed the file against its first parent (a merged pull
    /// request is its merge commit; the commits of the merged branch never
    /// ran), with the file's bytes as that commit left them (`None` when it
    /// deleted the file). At most `max` versions, walking at most
    /// `max_commits` commits, streamed: a revert reads the recent past, not
    /// all of it.
    pub fn file_versions(
        &self,
        path: &Path,
        max: usize,
        max_commits: usize,
    ) -> Result<Vec<FileVersion>, GitError> {
        let head = self.repo.head().ctx("log")?.peel_to_commit().ctx("log")?;
        let mut walk = self.repo.revwalk().ctx("log")?;
        // Unsorted and first-parent only, libgit2 streams the walk instead
        // of loading the whole history first.
        walk.set_sorting(Sort::NONE).ctx("log")?;
        walk.simplify_first_parent().ctx("log")?;
        walk.push(head.id()).ctx("log")?;
        let blob_at = |tree: Option<&git2::Tree>| {
            tree.and_then(|t| t.get_path(path).ok())
                .filter(|e| e.kind() == Some(ObjectType::Blob))
                .map(|e| e.id())
        };
        let mut versions = Vec::new();
        for id in walk.take(max_commits) {
            if versions.len() >= max {
                break;
            }
            let commit = self.repo.find_commit(id.ctx("log")?).ctx("log")?;
            let here = blob_at(commit.tree().ok().as_ref());
            let changed = match commit.parents().next() {
                None => here.is_some(),
                Some(first) => blob_at(first.tree().ok().as_ref()) != here,
            };
            if !changed {
                continue;
            }
            let content = match here {
                Some(blob) => Some(self.repo.find_blob(blob).ctx("log")?.content().to_vec()),
                None => None,
            };
            versions.push(FileVersion {
                commit: commit.id().to_string(),
                time: commit.time().seconds(),
                content,
            });
        }
        Ok(versions)
    }

    /// True when commit `rev` is `ancestor` or a descendant of it, as far as
    /// the checkout knows (sync first). An unknown revision is not a
    /// descendant: a check that cannot decide does not pass.
    pub fn is_descendant_or_equal(&self, rev: &str, ancestor: &str) -> bool {
        let (Ok(r), Ok(a)) = (Oid::from_str(rev), Oid::from_str(ancestor)) else {
            return false;
        };
        if r == a {
            return self.repo.find_commit(r).is_ok();
        }
        self.repo.graph_descendant_of(r, a).unwrap_or(false)
    }

    /// Up to `max` commits reachable from the local HEAD, newest first. Call
    /// it after a sync (or an apply) to read the remote's history.
    pub fn log(&self, max: usize) -> Result<Vec<CommitInfo>, GitError> {
        let head = match self.repo.head() {
            Ok(head) => head,
            Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => {
                return Err(GitError::NotSynced);
            }
            Err(e) => {
                return Err(GitError::Git {
                    op: "log",
                    source: e,
                });
            }
        };
        let head = head.peel_to_commit().ctx("log")?;
        let mut walk = self.repo.revwalk().ctx("log")?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)
            .ctx("log")?;
        walk.push(head.id()).ctx("log")?;
        walk.take(max)
            .map(|id| {
                let commit = self.repo.find_commit(id.ctx("log")?).ctx("log")?;
                Ok(CommitInfo::from_commit(&commit))
            })
            .collect()
    }

    /// Stages everything in the working tree and commits it on `tip`;
    /// `None` when the tree is unchanged. The sync before the edit left the
    /// tree clean, so what is staged is what the edit wrote; each change
    /// must be a regular file inside the checkout ([`check_staged`]).
    /// `update_ref`: `Some("HEAD")` to move the branch, `None` for a
    /// detached commit (a proposal).
    fn commit_worktree(
        &self,
        tip: Oid,
        author: &Author,
        message: &str,
        update_ref: Option<&str>,
    ) -> Result<Option<Oid>, GitError> {
        let message = git2::message_prettify(message, None).ctx("commit")?;
        if message.trim().is_empty() {
            return Err(GitError::Edit(
                "the edit returned an empty commit message".into(),
            ));
        }
        let parent = self.repo.find_commit(tip).ctx("commit")?;
        let mut index = self.repo.index().ctx("stage")?;
        // Rebuilt from the tip's tree, entries carry no stat data, so every
        // file is compared by content: an edit in the same second as the
        // checkout that keeps the size (sha-1 -> sha-3) is still seen.
        index.read_tree(&parent.tree().ctx("stage")?).ctx("stage")?;
        index
            .add_all(["*"], IndexAddOption::DEFAULT, None)
            .ctx("stage")?;
        // add_all does not see deletions; update_all drops them.
        index.update_all(["*"], None).ctx("stage")?;
        check_staged(&self.repo, &self.root, &parent.tree().ctx("stage")?, &index)?;
        index.write().ctx("stage")?;
        let tree_id = index.write_tree().ctx("stage")?;
        if tree_id == parent.tree_id() {
            return Ok(None);
        }
        let tree = self.repo.find_tree(tree_id).ctx("commit")?;
        let sig = author.signature()?;
        let commit = self
            .repo
            .commit(update_ref, &sig, &sig, &message, &tree, &[&parent])
            .ctx("commit")?;
        debug!(%commit, parent = %tip, "committed");
        Ok(Some(commit))
    }

    fn push(&self, expected: Oid, commit: Oid) -> Result<Push, GitError> {
        match &self.remote.local {
            Some(path) => self.push_local(path, expected, commit),
            None => self.push_transport(),
        }
    }

    /// Pushes through git2's transport; the server compares and swaps.
    fn push_transport(&self) -> Result<Push, GitError> {
        let refspec = format!("refs/heads/{0}:refs/heads/{0}", self.branch);
        let mut remote = self.repo.find_remote("origin").ctx("push")?;
        let rejection: RefCell<Option<String>> = RefCell::new(None);
        let result = {
            let mut callbacks = self.creds.callbacks();
            // A rejected ref is not an error of push(): the server reports it
            // per ref, here, and it is the compare-and-swap failing.
            callbacks.push_update_reference(|refname, status| {
                if let Some(status) = status {
                    *rejection.borrow_mut() = Some(format!("{refname}: {status}"));
                }
                Ok(())
            });
            let mut opts = PushOptions::new();
            opts.remote_callbacks(callbacks);
            remote.push(&[refspec.as_str()], Some(&mut opts))
        };
        match result {
            // libgit2 checks before sending when it knows the remote tip, and
            // refuses when the remote has commits this clone has not fetched.
            Err(e) if e.code() == ErrorCode::NotFastForward => {
                Ok(Push::Rejected(e.message().to_string()))
            }
            Err(e) => Err(GitError::Git {
                op: "push",
                source: e,
            }),
            Ok(()) => Ok(match rejection.into_inner() {
                Some(reason) => Push::Rejected(reason),
                None => Push::Accepted,
            }),
        }
    }

    /// Pushes to a repository on this machine. libgit2's local transport
    /// force-writes the ref after a client-side check (transports/local.c),
    /// so a writer that moves the ref in between would be overwritten.
    /// Instead: copy the objects, then move the ref only if it still points
    /// to `expected`, under the ref's lock file (git's own protocol), which
    /// is a real compare-and-swap against other processes too.
    fn push_local(&self, path: &Path, expected: Oid, commit: Oid) -> Result<Push, GitError> {
        let refname = format!("refs/heads/{}", self.branch);
        let remote = Repository::open(path).ctx("push")?;
        if !remote.is_bare() {
            return Err(GitError::Refused(format!(
                "{} is not a bare repository",
                path.display()
            )));
        }
        match remote.refname_to_id(&refname) {
            Ok(current) if current == expected => {}
            Ok(current) => {
                return Ok(Push::Rejected(format!(
                    "{refname} moved to {current} (expected {expected})"
                )));
            }
            Err(e) if e.code() == ErrorCode::NotFound => {
                return Ok(Push::Rejected(format!("{refname} no longer exists")));
            }
            Err(e) => {
                return Err(GitError::Git {
                    op: "push",
                    source: e,
                });
            }
        }
        copy_objects(&self.repo, &remote, commit)?;
        match remote.reference_matching(&refname, commit, true, expected, "ferry: push") {
            Ok(_) => Ok(Push::Accepted),
            Err(e)
                if matches!(
                    e.code(),
                    ErrorCode::Modified | ErrorCode::Locked | ErrorCode::NotFound
                ) =>
            {
                Ok(Push::Rejected(format!("{refname}: {}", e.message())))
            }
            Err(e) => Err(GitError::Git {
                op: "push",
                source: e,
            }),
        }
    }

    /// Removes git lock files a killed process may have left in this
    /// checkout (never in the remote). None of them can be live: this
    /// workspace holds the checkout's [`CacheLock`], so no other ferry
    /// process is in it, and within this process no other workspace uses
    /// the directory.
    fn clear_stale_locks(&self, refs: &[&str]) {
        let git_dir = self.repo.path();
        let mut locks = vec![git_dir.join("index.lock"), git_dir.join("HEAD.lock")];
        locks.extend(refs.iter().map(|r| git_dir.join(format!("{r}.lock"))));
        for lock in locks {
            match std::fs::remove_file(&lock) {
                Ok(()) => warn!(lock = %lock.display(), "removed a stale lock file"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => warn!(lock = %lock.display(), error = %e, "cannot remove lock file"),
            }
        }
    }
}

/// The lock file beside the checkout `dir`: `<dir>.lock`.
fn lock_path(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open_existing(dir: &Path, remote: &RemoteUrl) -> Result<Repository, GitError> {
    let repo = Repository::open(dir).ctx("open workspace")?;
    let found = repo
        .find_remote("origin")
        .ctx("open workspace")?
        .url()
        .map(str::to_string);
    if found.as_deref() != Some(remote.url.as_str()) {
        return Err(GitError::OriginMismatch {
            dir: dir.to_path_buf(),
            expected: redact(&remote.url),
            found: found
                .as_deref()
                .map_or_else(|| "(not UTF-8)".into(), redact),
        });
    }
    Ok(repo)
}

/// Creates the workspace in a temporary directory and renames it into place,
/// so a crash never leaves a half-initialised workspace behind.
fn create(
    dir: &Path,
    cache_dir: &Path,
    remote: &RemoteUrl,
    branch: &str,
) -> Result<Repository, GitError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GitError::Io { path, source }
    };
    let tmp = tempfile::Builder::new()
        .prefix(".ferry-init-")
        .tempdir_in(cache_dir)
        .map_err(io(cache_dir))?;
    {
        let mut opts = RepositoryInitOptions::new();
        opts.no_reinit(true).initial_head(branch);
        let repo = Repository::init_opts(tmp.path(), &opts).ctx("init workspace")?;
        let refspec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
        repo.remote_with_fetch("origin", &remote.url, &refspec)
            .ctx("init workspace")?;
    }
    match std::fs::rename(tmp.path(), dir) {
        Ok(()) => {
            // The directory now lives at `dir`; nothing is left to clean up.
            let _ = tmp.keep();
        }
        // Another process created it first; use theirs.
        Err(_) if dir.exists() => return open_existing(dir, remote),
        Err(e) => return Err(io(dir)(e)),
    }
    Repository::open(dir).ctx("open workspace")
}

/// Refuses a commit whose changes (`tree` → `index`) are not all regular
/// files reached through real directories of the checkout at `root`.
///
/// ferry's edits change the contents of kustomization files in place; they
/// never add, change, replace or remove a symbolic link. A change that
/// does is a file written where it should not be (the classic one: an
/// atomic rename over a link, committing outside content as a regular
/// file), so nothing is committed. And no changed path may sit below a
/// link in the working tree, so nothing outside the checkout is staged.
fn check_staged(
    repo: &Repository,
    root: &Path,
    tree: &git2::Tree,
    index: &git2::Index,
) -> Result<(), GitError> {
    let mut opts = git2::DiffOptions::new();
    opts.include_typechange(true);
    let diff = repo
        .diff_tree_to_index(Some(tree), Some(index), Some(&mut opts))
        .ctx("stage")?;
    for delta in diff.deltas() {
        let file = delta.new_file().path().or_else(|| delta.old_file().path());
        let Some(path) = file else { continue };
        let refuse =
            |why: &str| GitError::Edit(format!("refusing to commit `{}`: {why}", path.display()));
        let link = |f: git2::DiffFile<'_>| f.mode() == git2::FileMode::Link;
        if link(delta.old_file()) || link(delta.new_file()) {
            return Err(refuse(&format!(
                "a symbolic link would be {}; ferry's edits change regular files only",
                match delta.status() {
                    git2::Delta::Added => "added",
                    git2::Delta::Deleted => "deleted",
                    git2::Delta::Typechange => "replaced (link and regular file swapped)",
                    _ => "changed",
                }
            )));
        }
        let mut at = root.to_path_buf();
        let mut parts = path.components().peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                break;
            }
            at.push(part);
            if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(refuse(&format!(
                    "it is reached through the symbolic link `{}`",
                    at.strip_prefix(root).unwrap_or(&at).display()
                )));
            }
        }
    }
    Ok(())
}

/// Copies `commit` and every object it needs that `dst` lacks. A tree that
/// `dst` has is complete there, so the walk stops at it.
fn copy_objects(src: &Repository, dst: &Repository, commit: Oid) -> Result<(), GitError> {
    let src_odb = src.odb().ctx("push")?;
    let dst_odb = dst.odb().ctx("push")?;
    let mut todo = vec![commit];
    while let Some(id) = todo.pop() {
        if dst_odb.exists(id) {
            continue;
        }
        let object = src_odb.read(id).ctx("push")?;
        match object.kind() {
            ObjectType::Commit => {
                let c = src.find_commit(id).ctx("push")?;
                todo.push(c.tree_id());
                todo.extend(c.parent_ids());
            }
            ObjectType::Tree => {
                let tree = src.find_tree(id).ctx("push")?;
                // Gitlinks (submodules) name commits of another repository.
                todo.extend(
                    tree.iter()
                        .filter(|e| e.kind() != Some(ObjectType::Commit))
                        .map(|e| e.id()),
                );
            }
            _ => {}
        }
        dst_odb.write(object.kind(), object.data()).ctx("push")?;
    }
    Ok(())
}

/// Exponential back-off with "equal jitter": half the step is fixed, half is
/// random, so replicas that collided do not collide again in lockstep.
fn backoff(attempt: u32) -> Duration {
    let step = BACKOFF_START
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(BACKOFF_CAP);
    let half = step / 2;
    let jitter_nanos = random_u64() % (half.as_nanos() as u64 + 1);
    half + Duration::from_nanos(jitter_nanos)
}

fn random_u64() -> u64 {
    // RandomState is seeded randomly per process and per instance: enough
    // for jitter without a dependency.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..40 {
            let step = BACKOFF_START
                .saturating_mul(2u32.saturating_pow(attempt - 1))
                .min(BACKOFF_CAP);
            let d = backoff(attempt);
            assert!(d >= step / 2 && d <= step, "attempt {attempt}: {d:?}");
        }
        assert!(backoff(1) <= Duration::from_millis(20));
        assert!(backoff(30) >= Duration::from_millis(500));
    }

    #[test]
    fn claims_give_distinct_dirs_and_are_released() {
        let base = PathBuf::from("/nonexistent/ferry-claim-test");
        let a = Claim::take(base.clone());
        let b = Claim::take(base.clone());
        assert_eq!(a.0, base);
        assert_eq!(b.0, PathBuf::from("/nonexistent/ferry-claim-test-1"));
        drop(a);
        let c = Claim::take(base.clone());
        assert_eq!(c.0, base);
    }
}
