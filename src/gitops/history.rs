//! Reading history back: commits and their trailers, which is where ferry's
//! audit log (`Ferry-App:`, `Ferry-Digest:`, ...) lives, and the changes a
//! first-parent walk finds in a set of files.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use git2::{ObjectType, Oid, Repository, Sort, Tree, TreeEntry};

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

/// First-parent commits in a row older than the time bound after which a
/// walk stops (git's own date-ordered walks allow a similar slop).
pub const OLD_RUN: usize = 16;

/// How a [`Workspace::walk_changes`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkEnd {
    /// First-parent commits read.
    pub commits: usize,
    /// True when the walk stopped at `max_commits` rather than at the
    /// time bound or the first commit.
    pub capped: bool,
    /// The first commit walked (HEAD), when there was one.
    pub head: Option<String>,
    /// True when the walk stopped at the `known` commit given to
    /// [`Workspace::walk_changes_to`].
    pub reached_known: bool,
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
    /// Bounded and streamed: the walk stops once [`OLD_RUN`] commits in a
    /// row have a committer time before `stop_before` (seconds since the
    /// epoch; the old commits before that are read too), or after
    /// `max_commits` commits.
    pub fn walk_changes(
        &self,
        paths: &[PathBuf],
        stop_before: i64,
        max_commits: usize,
        visit: impl FnMut(CommitChanges),
    ) -> Result<WalkEnd, GitError> {
        self.walk_changes_to(paths, None, stop_before, max_commits, visit)
    }

    /// [`walk_changes`](Self::walk_changes) that also stops (before it) at
    /// the commit `known`, a HEAD an earlier walk started from: what a
    /// caller that keeps the earlier result still has to read.
    pub fn walk_changes_to(
        &self,
        paths: &[PathBuf],
        known: Option<&str>,
        stop_before: i64,
        max_commits: usize,
        mut visit: impl FnMut(CommitChanges),
    ) -> Result<WalkEnd, GitError> {
        let watched = Watched::of(paths);
        let known = known.and_then(|k| Oid::from_str(k).ok());
        let mut end = WalkEnd {
            commits: 0,
            capped: false,
            head: None,
            reached_known: false,
        };
        if watched.children.is_empty() {
            return Ok(end);
        }
        let repo = self.repository();
        let head = repo.head().ctx("log")?.peel_to_commit().ctx("log")?;
        let mut walk = repo.revwalk().ctx("log")?;
        // Unsorted and first-parent only, libgit2 streams the walk.
        walk.set_sorting(Sort::NONE).ctx("log")?;
        walk.simplify_first_parent().ctx("log")?;
        walk.push(head.id()).ctx("log")?;
        let blob = |id: Option<Oid>| -> Result<Option<Blob>, GitError> {
            let Some(id) = id else { return Ok(None) };
            let b = repo.find_blob(id).ctx("log")?;
            Ok(Some(Blob {
                id: id.to_string(),
                content: b.content().to_vec(),
            }))
        };
        let mut trees = Trees {
            repo,
            prev: HashMap::new(),
            cur: HashMap::new(),
        };
        let mut old_run = 0;
        for id in walk {
            let id = id.ctx("log")?;
            if end.head.is_none() {
                end.head = Some(id.to_string());
            }
            if Some(id) == known {
                end.reached_known = true;
                break;
            }
            if end.commits >= max_commits {
                end.capped = true;
                break;
            }
            let commit = repo.find_commit(id).ctx("log")?;
            let time = commit.time().seconds();
            // Committer dates are what a client wrote: one commit with a
            // skewed clock must not cut the history short, so the walk
            // stops only after a run of commits older than the bound (and
            // reads the few old ones before that).
            if time < stop_before {
                old_run += 1;
                if old_run >= OLD_RUN {
                    break;
                }
            } else {
                old_run = 0;
            }
            end.commits += 1;
            trees.next_commit();
            let tree = trees.new_side(commit.tree_id())?;
            let parent = match commit.parents().next() {
                Some(p) => Some(trees.old_side(p.tree_id())?),
                None => None,
            };
            let mut found = Vec::new();
            changed(
                &mut trees,
                parent.as_ref(),
                Some(&tree),
                &watched,
                Path::new(""),
                &mut found,
            )?;
            let mut files = Vec::with_capacity(found.len());
            for (path, before, after) in found {
                files.push(FileChange {
                    path,
                    before: blob(before)?,
                    after: blob(after)?,
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

/// The watched files as a tree of names: a walk compares only the entries
/// on the way to one of them, and skips a subtree whose id is unchanged.
#[derive(Debug, Default)]
struct Watched {
    children: BTreeMap<String, Watched>,
    file: bool,
}

impl Watched {
    /// Paths that are not plain relative paths (or not UTF-8) name no file
    /// of a tree, and are left out.
    fn of(paths: &[PathBuf]) -> Watched {
        let mut root = Watched::default();
        'paths: for p in paths {
            let mut names = Vec::new();
            for c in p.components() {
                match c {
                    Component::Normal(n) => match n.to_str() {
                        Some(n) => names.push(n),
                        None => continue 'paths,
                    },
                    _ => continue 'paths,
                }
            }
            if names.is_empty() {
                continue;
            }
            let mut node = &mut root;
            for n in names {
                node = node.children.entry(n.to_string()).or_default();
            }
            node.file = true;
        }
        root
    }
}

/// The trees read for a commit's first parent are the next (older)
/// commit's own: kept for one step, so each version of a large directory
/// is read once, not twice.
struct Trees<'r> {
    repo: &'r Repository,
    prev: HashMap<Oid, Tree<'r>>,
    cur: HashMap<Oid, Tree<'r>>,
}

impl<'r> Trees<'r> {
    /// Moves on to the next commit: what its parent's side read is now
    /// the commit's side.
    fn next_commit(&mut self) {
        self.prev = std::mem::take(&mut self.cur);
    }

    /// A tree of the commit itself.
    fn new_side(&mut self, id: Oid) -> Result<Tree<'r>, GitError> {
        match self.prev.remove(&id) {
            Some(t) => Ok(t),
            None => self.repo.find_tree(id).ctx("log"),
        }
    }

    /// A tree of the commit's first parent, kept for the next commit.
    fn old_side(&mut self, id: Oid) -> Result<Tree<'r>, GitError> {
        if let Some(t) = self.cur.get(&id) {
            return Ok(t.clone());
        }
        let t = self.repo.find_tree(id).ctx("log")?;
        self.cur.insert(id, t.clone());
        Ok(t)
    }
}

/// A tree entry's id, and whether it is a tree or a regular file.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Item {
    id: Oid,
    tree: bool,
    file: bool,
}

impl Item {
    fn of(e: &TreeEntry<'_>) -> Item {
        Item {
            id: e.id(),
            tree: e.kind() == Some(ObjectType::Tree),
            // Regular files only: a link or a submodule is no version.
            file: e.kind() == Some(ObjectType::Blob) && matches!(e.filemode(), 0o100644 | 0o100755),
        }
    }
}

/// Git's order of tree entries: by name, a tree's name compared as if it
/// ended in `/`.
fn git_order(a: &[u8], a_tree: bool, b: &[u8], b_tree: bool) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.cmp(y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    let next = |s: &[u8], tree: bool| {
        s.get(a.len().min(b.len()))
            .copied()
            .unwrap_or(if tree { b'/' } else { 0 })
    };
    next(a, a_tree).cmp(&next(b, b_tree))
}

/// Appends `(path, blob before, blob after)` for every watched file under
/// `node` that differs between the trees `old` and `new` (at `prefix`).
/// Both trees' entries are walked side by side in git's order, so a level
/// with many watched names costs one pass, not a lookup per name.
fn changed<'r>(
    trees: &mut Trees<'r>,
    old: Option<&Tree<'r>>,
    new: Option<&Tree<'r>>,
    node: &Watched,
    prefix: &Path,
    out: &mut Vec<(PathBuf, Option<Oid>, Option<Oid>)>,
) -> Result<(), GitError> {
    let mut pairs: Vec<(&str, &Watched, Option<Item>, Option<Item>)> = Vec::new();
    match (old, new) {
        (Some(o), Some(n)) => {
            let (mut i, mut j) = (0, 0);
            loop {
                let (a, b) = (o.get(i), n.get(j));
                let (a, b) = match (a, b) {
                    (None, None) => break,
                    (Some(a), None) => {
                        i += 1;
                        (Some(a), None)
                    }
                    (None, Some(b)) => {
                        j += 1;
                        (None, Some(b))
                    }
                    // Most entries of a level are the same in both trees,
                    // at the same place: checked first, without kinds.
                    (Some(a), Some(b))
                        if a.id() == b.id()
                            && a.filemode() == b.filemode()
                            && a.name_bytes() == b.name_bytes() =>
                    {
                        i += 1;
                        j += 1;
                        continue;
                    }
                    (Some(a), Some(b)) => {
                        let (ia, ib) = (Item::of(&a), Item::of(&b));
                        match git_order(a.name_bytes(), ia.tree, b.name_bytes(), ib.tree) {
                            Ordering::Equal => {
                                i += 1;
                                j += 1;
                                if ia == ib {
                                    continue;
                                }
                                (Some(a), Some(b))
                            }
                            Ordering::Less => {
                                i += 1;
                                (Some(a), None)
                            }
                            Ordering::Greater => {
                                j += 1;
                                (None, Some(b))
                            }
                        }
                    }
                };
                let entry = a.as_ref().or(b.as_ref());
                let Some(name) = entry.and_then(|e| std::str::from_utf8(e.name_bytes()).ok())
                else {
                    continue;
                };
                if let Some((key, child)) = node.children.get_key_value(name) {
                    pairs.push((
                        key,
                        child,
                        a.as_ref().map(Item::of),
                        b.as_ref().map(Item::of),
                    ));
                }
            }
        }
        _ => {
            for (name, child) in &node.children {
                let item =
                    |t: Option<&Tree<'_>>| t.and_then(|t| t.get_name(name)).map(|e| Item::of(&e));
                let (a, b) = (item(old), item(new));
                if a.is_some() || b.is_some() {
                    pairs.push((name, child, a, b));
                }
            }
        }
    }
    for (name, child, a, b) in pairs {
        let path = prefix.join(name);
        if child.file {
            let blob = |x: Option<Item>| x.filter(|x| x.file).map(|x| x.id);
            let (before, after) = (blob(a), blob(b));
            if before != after {
                out.push((path.clone(), before, after));
            }
        }
        if !child.children.is_empty() {
            let sa = match a.filter(|x| x.tree) {
                Some(x) => Some(trees.old_side(x.id)?),
                None => None,
            };
            let sb = match b.filter(|x| x.tree) {
                Some(x) => Some(trees.new_side(x.id)?),
                None => None,
            };
            if sa.is_some() || sb.is_some() {
                changed(trees, sa.as_ref(), sb.as_ref(), child, &path, out)?;
            }
        }
    }
    Ok(())
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
