//! The GitOps repository workspace.
//!
//! A [`Workspace`] is a working clone of the GitOps repository in a cache
//! directory. Every write goes through [`Workspace::apply`]: sync to the
//! remote tip, run the edit (which also decides whether the change is still
//! wanted), commit, and push without force. git's push is the compare-and-swap
//! that makes several ferry replicas safe without a lock service: a rejected
//! push means someone else wrote first, so ferry syncs again, re-applies the
//! edit on the new tip (where it may no longer be wanted) and retries.
//!
//! ## Failpoints
//!
//! This module marks `after_commit_before_push` and `after_push` for crash
//! tests; the mechanism ([`FAILPOINT_ENV`]) lives in [`crate::failpoint`].

mod branches;
mod creds;
mod history;
mod lock;
mod url;
mod workspace;

use std::path::{Component, Path, PathBuf};

use git2::{FileMode, Repository, RepositoryInitOptions, Signature};

pub use branches::BranchFile;
pub use creds::{Credentials, TokenSource};
pub use history::{Blob, CommitChanges, CommitInfo, FileChange, OLD_RUN, WalkEnd, parse_trailers};
pub use lock::{CacheLock, DEFAULT_WAIT, LOCK_WAIT_ENV, wait_from_env};
pub use workspace::{FileVersion, Workspace};

pub use crate::failpoint::FAILPOINT_ENV;
// Kept under its old name: `workspace.rs` marks its points with it.
pub(crate) use crate::failpoint::hit as failpoint;

/// Errors of the gitops module. None of them carries a secret: URLs are
/// shown without user-info and query, and libgit2's text (which may quote
/// a remote URL, a proxy URL or a server's answer) goes through
/// [`crate::redact::text`] when shown.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// A libgit2 operation failed.
    #[error("git {op}: {}", crate::redact::text(source.message()))]
    Git {
        /// What ferry was doing.
        op: &'static str,
        /// The libgit2 error; through [`GitContext`] its message is
        /// already redacted, so the error chain shows no secret either.
        #[source]
        source: git2::Error,
    },
    /// A file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The repository URL cannot be used.
    #[error("invalid repository URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, redacted.
        url: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The branch name is not a valid git branch name.
    #[error("invalid branch name {0:?}")]
    InvalidBranch(String),
    /// A path given for a repository file is not a plain relative path.
    #[error(
        "invalid path {0:?} in the repository: it must be relative, without `.`, `..` or `.git`"
    )]
    InvalidPath(String),
    /// The cached workspace belongs to another remote.
    #[error("workspace {} has origin {found}, expected {expected}", dir.display())]
    OriginMismatch {
        /// The workspace directory.
        dir: PathBuf,
        /// The configured URL, redacted.
        expected: String,
        /// The URL found in the workspace, redacted.
        found: String,
    },
    /// The remote has no such branch: an empty repository (no commit yet),
    /// or a branch that was never pushed.
    #[error(
        "remote {url} has no branch {branch:?}: the repository is empty or the branch was never pushed"
    )]
    NoSuchBranch {
        /// The remote URL, redacted.
        url: String,
        /// The branch.
        branch: String,
    },
    /// Another process holds the checkout's lock and did not release it in
    /// time.
    #[error(
        "the cache {} is in use by {holder}; gave up after waiting {}s \
         (wait longer with FERRY_LOCK_WAIT=SECONDS, or use another cache with FERRY_CACHE_DIR)",
        checkout.display(),
        waited.as_secs()
    )]
    Busy {
        /// The checkout.
        checkout: PathBuf,
        /// What the lock file says about its holder.
        holder: String,
        /// How long this process waited.
        waited: std::time::Duration,
    },
    /// `FERRY_LOCK_WAIT` is not a number of seconds.
    #[error("{0}")]
    LockWait(String),
    /// History was asked for before the first sync.
    #[error("the workspace has not been synced yet")]
    NotSynced,
    /// The remote refused the push for a reason that retrying cannot fix.
    #[error("the remote refused the push: {0}")]
    Refused(String),
    /// The edit failed; nothing was pushed.
    #[error("edit failed: {0}")]
    Edit(String),
    /// Every attempt's push was rejected because others kept writing first.
    #[error("push to {branch:?} was rejected {attempts} times (last: {reason}); giving up")]
    Conflict {
        /// The branch.
        branch: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last rejection, as the remote worded it.
        reason: String,
    },
}

/// Attaches what ferry was doing to a libgit2 error.
pub(crate) trait GitContext<T> {
    fn ctx(self, op: &'static str) -> Result<T, GitError>;
}

impl<T> GitContext<T> for Result<T, git2::Error> {
    fn ctx(self, op: &'static str) -> Result<T, GitError> {
        self.map_err(|source| GitError::Git {
            op,
            source: redacted(&source),
        })
    }
}

/// The same libgit2 error (code and class kept, so callers can still
/// match on them) with its message redacted.
pub(crate) fn redacted(e: &git2::Error) -> git2::Error {
    git2::Error::new(e.code(), e.class(), crate::redact::text(e.message()))
}

/// Author and committer of ferry's commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// The name, e.g. `ferry`.
    pub name: String,
    /// The e-mail address, e.g. `ferry@acme.io`.
    pub email: String,
}

impl Author {
    /// A signature stamped now. Fails on names git cannot store (`<`, `>`,
    /// newlines).
    pub(crate) fn signature(&self) -> Result<Signature<'static>, GitError> {
        Signature::now(&self.name, &self.email).ctx("author")
    }
}

/// What [`Workspace::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The edit was no longer wanted (it returned `None`) or changed nothing.
    NothingToDo,
    /// A commit was pushed.
    Pushed {
        /// The pushed commit, now the remote branch's tip.
        commit: git2::Oid,
        /// Attempts it took: 1 unless someone else pushed first.
        attempts: u32,
    },
}

pub(crate) fn validate_branch(branch: &str) -> Result<(), GitError> {
    // A leading `-` is valid in a ref but git's command line reads it as an
    // option, and `git check-ref-format --branch` refuses it.
    if branch.starts_with('-') || !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        return Err(GitError::InvalidBranch(branch.to_string()));
    }
    Ok(())
}

fn validate_repo_path(path: &str) -> Result<(), GitError> {
    let invalid = || GitError::InvalidPath(path.to_string());
    if path.is_empty() || path.contains(['\0', '\\']) || path.ends_with('/') {
        return Err(invalid());
    }
    for component in Path::new(path).components() {
        match component {
            Component::Normal(c) if c != ".git" => {}
            _ => return Err(invalid()),
        }
    }
    Ok(())
}

/// Creates a bare repository at `path` whose `branch` has one commit holding
/// `files` (paths relative to the repository root, `/`-separated). Used by
/// `ferry demo` and tests to make a GitOps repository; refuses a directory
/// that already holds a repository.
pub fn init_bare_with(
    path: &Path,
    files: &[(&str, &[u8])],
    branch: &str,
    author: &Author,
) -> Result<(), GitError> {
    validate_branch(branch)?;
    for (file, _) in files {
        validate_repo_path(file)?;
    }
    let sig = author.signature()?;
    let mut opts = RepositoryInitOptions::new();
    opts.bare(true).no_reinit(true).initial_head(branch);
    let repo = Repository::init_opts(path, &opts).ctx("init")?;
    let empty = repo
        .treebuilder(None)
        .and_then(|b| b.write())
        .and_then(|id| repo.find_tree(id))
        .ctx("write tree")?;
    let mut update = git2::build::TreeUpdateBuilder::new();
    for (file, bytes) in files {
        let blob = repo.blob(bytes).ctx("write blob")?;
        update.upsert(*file, blob, FileMode::Blob);
    }
    let tree = update
        .create_updated(&repo, &empty)
        .and_then(|id| repo.find_tree(id))
        .ctx("write tree")?;
    repo.commit(
        Some(&format!("refs/heads/{branch}")),
        &sig,
        &sig,
        "Initial commit\n",
        &tree,
        &[],
    )
    .ctx("commit")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libgit2_errors_never_show_credentials() {
        let raw = git2::Error::new(
            git2::ErrorCode::Auth,
            git2::ErrorClass::Http,
            "remote error: denied for https://x-access-token:ghs_s3cret@github.com/acme/g.git?t=q_s3cret",
        );
        // Built directly, as a few call sites do: Display redacts.
        let direct = GitError::Git {
            op: "fetch",
            source: raw,
        };
        assert_eq!(
            direct.to_string(),
            "git fetch: remote error: denied for https://***@github.com/acme/g.git?<redacted>"
        );
        // Through `ctx`: the source itself is redacted, code and class kept.
        let err = Err::<(), _>(git2::Error::new(
            git2::ErrorCode::Auth,
            git2::ErrorClass::Http,
            "proxy http://u:pw_s3cret@proxy:3128 said Proxy-Authorization: Basic dXNlcjpwdw==",
        ))
        .ctx("push")
        .unwrap_err();
        let chain = format!(
            "{err} / {:?} / {}",
            err,
            std::error::Error::source(&err).unwrap()
        );
        assert!(!chain.contains("s3cret"), "{chain}");
        assert!(!chain.contains("dXNlcjpwdw"), "{chain}");
        let GitError::Git { source, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(source.code(), git2::ErrorCode::Auth);
        assert_eq!(source.class(), git2::ErrorClass::Http);
    }

    #[test]
    fn branch_names_are_checked() {
        for ok in ["main", "release/v1", "ferry-dev"] {
            assert!(validate_branch(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a..b", "x y", "-", "a/", "@{u}", "x.lock"] {
            assert!(validate_branch(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn repo_paths_are_checked() {
        for ok in ["a", "k8s/overlays/dev/kustomization.yaml", ".gitignore"] {
            assert!(validate_repo_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/abs",
            "../x",
            "a/../b",
            "./a",
            ".git/config",
            "a/",
            "a\\b",
        ] {
            assert!(validate_repo_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn init_bare_with_writes_nested_files_and_refuses_reinit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.git");
        let author = Author {
            name: "ferry".into(),
            email: "ferry@example.com".into(),
        };
        let files: &[(&str, &[u8])] = &[("a/b/c.yaml", b"x: 1\n"), ("top.txt", b"t\n")];
        init_bare_with(&path, files, "trunk", &author).unwrap();
        let repo = Repository::open_bare(&path).unwrap();
        let commit = repo
            .find_reference("refs/heads/trunk")
            .unwrap()
            .peel_to_commit()
            .unwrap();
        let tree = commit.tree().unwrap();
        let blob = tree.get_path(Path::new("a/b/c.yaml")).unwrap();
        assert_eq!(repo.find_blob(blob.id()).unwrap().content(), b"x: 1\n");
        assert_eq!(commit.author().name(), Some("ferry"));
        assert_eq!(repo.head().unwrap().name(), Some("refs/heads/trunk"));
        assert!(init_bare_with(&path, files, "trunk", &author).is_err());
        let bad: &[(&str, &[u8])] = &[("../evil", b"")];
        let err = init_bare_with(&dir.path().join("s.git"), bad, "main", &author).unwrap_err();
        assert!(matches!(err, GitError::InvalidPath(_)), "{err}");
        assert!(!dir.path().join("s.git").exists());
    }
}
