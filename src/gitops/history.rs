//! Reading history back: commits and their trailers, which is where ferry's
//! audit log (`Ferry-App:`, `Ferry-Digest:`, ...) lives, and the changes a
//! first-parent walk finds in a set of files.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use git2::{DiffFile, DiffOptions, FileMode, Sort};

use super::{GitContext, GitError, Workspace};

/// One version of a file: its blob id and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// The blob's hex object id: equal ids, equal bytes.
    pub id: String,
    /// The bytes.
    pub content: Vec<u8>,
}

/// A watched file that a commit changed against its first parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The file, relative to the repository root.
    pub path: PathBuf,
    /// Its version in the first parent; `None` when it did not exist there
    /// (or the commit has no parent).
    pub before: Option<Blob>,
    /// Its version in the commit; `None` when the commit deleted it.
    pub after: Option<Blob>,
}

/// A commit of the first-parent line that changed watched files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitChanges {
    /// The commit, its message and trailers.
    pub info: CommitInfo,
    /// Committer time, seconds since the epoch.
    pub time: i64,
    /// True for a commit without parents (the repository's first).
    pub root: bool,
    /// The watched files it changed, in path order.
    pub files: Vec<FileChange>,
}

/// How a [`Workspace::walk_changes`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkEnd {
    /// First-parent commits read.
    pub commits: usize,
    /// True when the walk stopped at `max_commits` rather than at the
    /// time bound or the first commit.
    pub capped: bool,
}

impl Workspace {
    /// Walks the branch's first-parent line from the local HEAD, newest
    /// first, and calls `visit` for each commit that changed one of `paths`
    /// (files relative to the repository root) against its first parent,
    /// with both versions of each: a merged pull request is its merge
    /// commit, the merged branch's own commits never ran. One walk serves
    /// every file, and each commit costs one tree diff (unchanged subtrees
    /// are skipped), not one lookup per file.
    ///
    /// Bounded and streamed: the walk stops at the first commit whose
    /// committer time is before `stop_before` (seconds since the epoch), or
    /// after `max_commits` commits.
    pub fn walk_changes(
        &self,
        paths: &[PathBuf],
        stop_before: i64,
        max_commits: usize,
        mut visit: impl FnMut(CommitChanges),
    ) -> Result<WalkEnd, GitError> {
        let watched: HashSet<&Path> = paths.iter().map(PathBuf::as_path).collect();
        let mut end = WalkEnd {
            commits: 0,
            capped: false,
        };
        if watched.is_empty() {
            return Ok(end);
        }
        let repo = self.repository();
        let head = repo.head().ctx("log")?.peel_to_commit().ctx("log")?;
        let mut walk = repo.revwalk().ctx("log")?;
        // Unsorted and first-parent only, libgit2 streams the walk.
        walk.set_sorting(Sort::NONE).ctx("log")?;
        walk.simplify_first_parent().ctx("log")?;
        walk.push(head.id()).ctx("log")?;
        let blob = |f: DiffFile<'_>| -> Result<Option<Blob>, GitError> {
            if f.id().is_zero() || !matches!(f.mode(), FileMode::Blob | FileMode::BlobExecutable) {
                return Ok(None);
            }
            let b = repo.find_blob(f.id()).ctx("log")?;
            Ok(Some(Blob {
                id: f.id().to_string(),
                content: b.content().to_vec(),
            }))
        };
        for id in walk {
            if end.commits >= max_commits {
                end.capped = true;
                break;
            }
            let commit = repo.find_commit(id.ctx("log")?).ctx("log")?;
            let time = commit.time().seconds();
            if time < stop_before {
                break;
            }
            end.commits += 1;
            let tree = commit.tree().ctx("log")?;
            let parent = match commit.parents().next() {
                Some(p) => Some(p.tree().ctx("log")?),
                None => None,
            };
            let mut opts = DiffOptions::new();
            opts.skip_binary_check(true).ignore_submodules(true);
            let diff = repo
                .diff_tree_to_tree(parent.as_ref(), Some(&tree), Some(&mut opts))
                .ctx("log")?;
            let mut files = Vec::new();
            for delta in diff.deltas() {
                let Some(path) = delta.new_file().path().or_else(|| delta.old_file().path()) else {
                    continue;
                };
                if !watched.contains(path) {
                    continue;
                }
                files.push(FileChange {
                    path: path.to_path_buf(),
                    before: blob(delta.old_file())?,
                    after: blob(delta.new_file())?,
                });
            }
            if !files.is_empty() {
                visit(CommitChanges {
                    info: CommitInfo::from_commit(&commit),
                    time,
                    root: parent.is_none(),
                    files,
                });
            }
        }
        Ok(end)
    }
}

/// One commit, as read by [`Workspace::log`](super::Workspace::log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// The full hex object id.
    pub id: String,
    /// The first line of the message.
    pub summary: String,
    /// The whole message.
    pub message: String,
    /// `Name <email>` of the author.
    pub author: String,
    /// `Key: value` trailers from the message's last paragraph, in order.
    pub trailers: Vec<(String, String)>,
}

impl CommitInfo {
    pub(crate) fn from_commit(commit: &git2::Commit<'_>) -> CommitInfo {
        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        let author = commit.author();
        CommitInfo {
            id: commit.id().to_string(),
            summary: message.lines().next().unwrap_or_default().to_string(),
            trailers: parse_trailers(&message),
            author: format!(
                "{} <{}>",
                String::from_utf8_lossy(author.name_bytes()),
                String::from_utf8_lossy(author.email_bytes())
            ),
            message,
        }
    }

    /// The values of every trailer named `key` (compared case-insensitively,
    /// as git does), in order.
    pub fn trailer_values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.trailers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the trailers of a commit message with git's own rules (libgit2's
/// port of `git interpret-trailers`): the last paragraph, never the subject,
/// made of `Key: value` lines (continuation lines are folded in).
pub fn parse_trailers(message: &str) -> Vec<(String, String)> {
    // A NUL cannot be in a commit message git wrote; such a message has no
    // trailers rather than an error.
    match git2::message_trailers_strs(message) {
        Ok(trailers) => trailers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_the_last_paragraph() {
        let msg = "dev: api sha-1→sha-3\n\nBody text: not a trailer block\nbecause this line is prose.\n\nFerry-App: api\nFerry-Env: dev\nFerry-Digest: sha256:abc\n";
        assert_eq!(
            parse_trailers(msg),
            pairs(&[
                ("Ferry-App", "api"),
                ("Ferry-Env", "dev"),
                ("Ferry-Digest", "sha256:abc")
            ])
        );
    }

    #[test]
    fn subject_alone_has_no_trailers() {
        assert!(parse_trailers("fix: something\n").is_empty());
        assert!(parse_trailers("dev: api\n\nJust a body.\n").is_empty());
        assert!(parse_trailers("").is_empty());
        assert!(parse_trailers("a\0b\n\nK: v\n").is_empty());
    }

    #[test]
    fn trailer_values_match_keys_case_insensitively() {
        let info = CommitInfo {
            id: String::new(),
            summary: String::new(),
            message: String::new(),
            author: String::new(),
            trailers: pairs(&[("Ferry-App", "a"), ("ferry-app", "b"), ("Other", "c")]),
        };
        assert_eq!(
            info.trailer_values("FERRY-APP").collect::<Vec<_>>(),
            ["a", "b"]
        );
    }
}
