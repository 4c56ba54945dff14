//! Reading proposal branches: what the commit ferry pushed on a branch
//! holds, straight from git objects. A PR's title and body can be edited
//! by any collaborator; the branch's commit is what a merge would bring.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use git2::{ErrorCode, ObjectType, Oid};

use super::{GitContext, GitError, Workspace};

/// Where fetched proposal branches are kept in the clone.
const PROPOSALS_NS: &str = "refs/remotes/origin/";

/// A file as a commit holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchFile {
    /// No such path in the commit.
    Missing,
    /// A regular file with these bytes.
    Blob(Vec<u8>),
    /// Something a kustomization cannot be: a symlink, a directory, a
    /// submodule. Never followed.
    Other,
}

impl Workspace {
    /// Fetches every remote branch under `prefix` (e.g. `ferry/`) and
    /// returns branch name → head commit. Branches the remote deleted are
    /// forgotten first, so a stale head is never read.
    pub fn fetch_branches(&self, prefix: &str) -> Result<HashMap<String, Oid>, GitError> {
        let repo = self.repository();
        let ns = format!("{PROPOSALS_NS}{prefix}");
        let stale: Vec<String> = repo
            .references_glob(&format!("{ns}*"))
            .ctx("fetch")?
            .filter_map(|r| r.ok()?.name().map(str::to_string))
            .collect();
        for name in stale {
            if let Ok(mut r) = repo.find_reference(&name) {
                r.delete().ctx("fetch")?;
            }
        }
        let mut remote = repo.find_remote("origin").ctx("fetch")?;
        let refspec = format!("+refs/heads/{prefix}*:{ns}*");
        let mut opts = self.fetch_options();
        remote
            .fetch(
                &[refspec.as_str()],
                Some(&mut opts),
                Some("ferry: fetch proposals"),
            )
            .ctx("fetch")?;
        let mut out = HashMap::new();
        for r in repo.references_glob(&format!("{ns}*")).ctx("fetch")? {
            let r = r.ctx("fetch")?;
            let (Some(name), Some(oid)) = (r.name(), r.target()) else {
                continue;
            };
            if let Some(branch) = name.strip_prefix(PROPOSALS_NS) {
                out.insert(branch.to_string(), oid);
            }
        }
        Ok(out)
    }

    /// The parents of `commit`.
    pub fn parents(&self, commit: Oid) -> Result<Vec<Oid>, GitError> {
        let c = self.repository().find_commit(commit).ctx("read")?;
        Ok(c.parent_ids().collect())
    }

    /// The paths (relative to the root) whose entries differ between the
    /// trees of `from` and `to`, mode changes included.
    pub fn changed_paths(&self, from: Oid, to: Oid) -> Result<Vec<PathBuf>, GitError> {
        let repo = self.repository();
        let a = repo.find_commit(from).ctx("diff")?.tree().ctx("diff")?;
        let b = repo.find_commit(to).ctx("diff")?.tree().ctx("diff")?;
        let diff = repo
            .diff_tree_to_tree(Some(&a), Some(&b), None)
            .ctx("diff")?;
        let mut out = Vec::new();
        for d in diff.deltas() {
            for f in [d.old_file(), d.new_file()] {
                if let Some(p) = f.path()
                    && !out.iter().any(|o: &PathBuf| o == p)
                {
                    out.push(p.to_path_buf());
                }
            }
        }
        Ok(out)
    }

    /// `path` as `commit` holds it. Symlinks are reported, never followed.
    pub fn file_at(&self, commit: Oid, path: &Path) -> Result<BranchFile, GitError> {
        let repo = self.repository();
        let tree = repo.find_commit(commit).ctx("read")?.tree().ctx("read")?;
        let entry = match tree.get_path(path) {
            Ok(e) => e,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(BranchFile::Missing),
            Err(e) => {
                return Err(GitError::Git {
                    op: "read",
                    source: e,
                });
            }
        };
        // 0o100644 and 0o100755 are files; 0o120000 is a link.
        let regular = matches!(entry.filemode(), 0o100644 | 0o100755);
        if entry.kind() != Some(ObjectType::Blob) || !regular {
            return Ok(BranchFile::Other);
        }
        let blob = repo.find_blob(entry.id()).ctx("read")?;
        Ok(BranchFile::Blob(blob.content().to_vec()))
    }

    /// True when `ancestor` is the tip of the tracked branch or one of its
    /// ancestors.
    pub fn on_branch(&self, ancestor: Oid) -> bool {
        let repo = self.repository();
        let Ok(tip) = repo.refname_to_id(&format!("refs/heads/{}", self.branch())) else {
            return false;
        };
        tip == ancestor || repo.graph_descendant_of(tip, ancestor).unwrap_or(false)
    }
}
