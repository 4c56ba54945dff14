//! Deployments read from the GitOps repository: every change of an app's
//! image in an environment's overlay along the branch's first-parent line.
//! One walk of the history serves every overlay file, however many apps
//! share it; each version of a file is parsed once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::gitops::{Blob, CommitChanges, GitError, WalkEnd, Workspace};
use crate::kustomize::{self, ImageEntry};

/// What an overlay sets for an app's image.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Image {
    /// `newTag`.
    pub tag: Option<String>,
    /// `digest`.
    pub digest: Option<String>,
}

impl Image {
    /// The same image as `other`: equal digests when both have one, else
    /// equal tags (a hand edit may write the tag alone).
    pub fn same(&self, other: &Image) -> bool {
        match (&self.digest, &other.digest) {
            (Some(a), Some(b)) => a == b,
            _ => self.tag.is_some() && self.tag == other.tag,
        }
    }

    /// The tag, else the digest, for people.
    pub fn short(&self) -> &str {
        self.tag
            .as_deref()
            .or(self.digest.as_deref())
            .unwrap_or("(none)")
    }
}

/// One change of an app's image in one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// App name.
    pub app: Arc<str>,
    /// Environment name.
    pub env: Arc<str>,
    /// The commit (a merge commit for a merged pull request).
    pub commit: String,
    /// Its committer time, seconds since the epoch.
    pub time: i64,
    /// The image before; `None` when the overlay had none for the app.
    pub from: Option<Image>,
    /// The image the commit set.
    pub to: Image,
    /// The repository's first commit: what ran before anything was
    /// recorded, so not a deployment (but an image's first appearance).
    pub initial: bool,
    /// The commit's trailers, shared by every change the commit made.
    pub trailers: Arc<[(String, String)]>,
}

/// What [`read`] found.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Every change, oldest first along the first-parent line.
    pub changes: Vec<Change>,
    /// First-parent commits read.
    pub commits: usize,
    /// True when the walk stopped at its commit cap, before its time bound.
    pub capped: bool,
    /// Overlays that could not be located in the checkout, with why.
    pub skipped: Vec<String>,
}

/// An app watched in one overlay file.
struct Watch {
    app: Arc<str>,
    image: String,
    env: Arc<str>,
}

/// A parsed version of a file: its entries, or `None` when it does not
/// parse (a hand edit that broke the YAML).
type Parsed = Option<Arc<Vec<ImageEntry>>>;

/// Reads the image changes of every app × environment of `config` from the
/// checkout's history (sync it first), newest commit back to the first one
/// older than `stop_before` (seconds since the epoch), at most
/// `max_commits` commits.
pub fn read(
    config: &Config,
    ws: &Workspace,
    stop_before: i64,
    max_commits: usize,
) -> Result<History, GitError> {
    let w = watches(config, ws);
    let (newest_first, unknown, end) = walk(ws, &w, None, stop_before, max_commits)?;
    Ok(History {
        changes: settle(newest_first, unknown, HashMap::new()),
        commits: end.commits,
        capped: end.capped,
        skipped: w.skipped,
    })
}

/// [`read`] for a caller that reads again and again (every few minutes, for
/// `/metrics`): it keeps the changes it read and, the next time, walks only
/// from the new HEAD back to the HEAD it read last. A history rewritten
/// under it (a force push), another config or a longer period reads it all
/// again.
#[derive(Debug, Default)]
pub struct Reader {
    cached: Cached,
    /// False until a first read, and after a failed one.
    valid: bool,
}

#[derive(Debug, Default)]
struct Cached {
    key: Vec<String>,
    head: String,
    stop_before: i64,
    history: History,
}

impl Reader {
    /// What [`read`] would return, reading only what is new since the last
    /// call.
    pub fn read(
        &mut self,
        config: &Config,
        ws: &Workspace,
        stop_before: i64,
        max_commits: usize,
    ) -> Result<&History, GitError> {
        let w = watches(config, ws);
        let c = &mut self.cached;
        let reuse = self.valid
            && c.key == w.key
            && c.stop_before <= stop_before
            && !c.history.capped
            && !c.head.is_empty();
        self.valid = false;
        let known = reuse.then_some(c.head.as_str());
        let (newest_first, unknown, end) = walk(ws, &w, known, stop_before, max_commits)?;
        if end.reached_known {
            let mut seed = HashMap::new();
            for ch in &c.history.changes {
                seed.insert((ch.app.clone(), ch.env.clone()), ch.to.clone());
            }
            let new = settle(newest_first, unknown, seed);
            c.history.changes.extend(new);
            // What the period no longer needs goes.
            c.history.changes.retain(|ch| ch.time >= stop_before);
            c.history.commits += end.commits;
            c.history.capped = end.capped;
        } else {
            // From scratch: the walk went back to `stop_before` already.
            c.history.changes = settle(newest_first, unknown, HashMap::new());
            c.history.commits = end.commits;
            c.history.capped = end.capped;
            c.key = w.key;
        }
        c.history.skipped = w.skipped;
        c.stop_before = stop_before;
        if let Some(h) = end.head {
            c.head = h;
        }
        self.valid = true;
        Ok(&c.history)
    }
}

/// The overlay files of the config and the apps each holds.
struct Watches {
    files: HashMap<PathBuf, Vec<Watch>>,
    skipped: Vec<String>,
    /// What the files and apps are, to tell when the config changed.
    key: Vec<String>,
}

fn watches(config: &Config, ws: &Workspace) -> Watches {
    let root = ws.root();
    let mut files: HashMap<PathBuf, Vec<Watch>> = HashMap::new();
    let mut skipped = Vec::new();
    let mut key = Vec::new();
    let env_names: HashMap<&str, Arc<str>> = config
        .environments
        .iter()
        .map(|e| (e.name.as_str(), Arc::from(e.name.as_str())))
        .collect();
    for app in &config.apps {
        let name: Arc<str> = Arc::from(app.name.as_str());
        for (env, dir) in &app.overlays {
            let Some(env) = env_names.get(env.as_str()) else {
                continue;
            };
            let file = match kustomize::resolve_in(root, dir) {
                Ok(f) => f,
                Err(e) => {
                    skipped.push(format!("{}/{env}: {e}", app.name));
                    continue;
                }
            };
            let Ok(rel) = file.strip_prefix(root) else {
                skipped.push(format!(
                    "{}/{env}: the overlay is outside the checkout",
                    app.name
                ));
                continue;
            };
            key.push(format!(
                "{}\0{}\0{env}\0{}",
                app.name,
                app.image,
                rel.display()
            ));
            files.entry(rel.to_path_buf()).or_default().push(Watch {
                app: name.clone(),
                image: app.image.clone(),
                env: env.clone(),
            });
        }
    }
    key.sort();
    Watches {
        files,
        skipped,
        key,
    }
}

/// The changes of the walk, newest first, each with whether its previous
/// version could not be parsed.
type Walked = (Vec<Change>, Vec<bool>, WalkEnd);

fn walk(
    ws: &Workspace,
    w: &Watches,
    known: Option<&str>,
    stop_before: i64,
    max_commits: usize,
) -> Result<Walked, GitError> {
    let paths: Vec<PathBuf> = w.files.keys().cloned().collect();
    // Walking newest first, a change's `before` is the `after` of the next
    // (older) change of the same file: one parse serves both.
    let mut cache: HashMap<PathBuf, (String, Parsed)> = HashMap::new();
    let mut newest_first: Vec<Change> = Vec::new();
    let mut unknown_from: Vec<bool> = Vec::new();
    let end = ws.walk_changes_to(
        &paths,
        known,
        stop_before,
        max_commits,
        |c: CommitChanges| {
            let trailers: Arc<[(String, String)]> = Arc::from(c.info.trailers);
            for f in c.files {
                let Some(watched) = w.files.get(&f.path) else {
                    continue;
                };
                let after = parse_cached(&mut cache, &f.path, f.after.as_ref());
                let before = parse(f.before.as_ref());
                if let Some(b) = &f.before {
                    cache.insert(f.path.clone(), (b.id.clone(), before.clone()));
                }
                // A version that does not parse tells nothing: no deployment.
                let Some(after) = after else { continue };
                for w in watched {
                    let Some(to) = image_of(&after, &w.image) else {
                        continue;
                    };
                    let (from, unknown) = match &before {
                        Some(b) => (image_of(b, &w.image), false),
                        None if f.before.is_some() => (None, true),
                        None => (None, false),
                    };
                    if from.as_ref() == Some(&to) {
                        continue;
                    }
                    newest_first.push(Change {
                        app: w.app.clone(),
                        env: w.env.clone(),
                        commit: c.info.id.clone(),
                        time: c.time,
                        from,
                        to,
                        initial: c.root,
                        trailers: trailers.clone(),
                    });
                    unknown_from.push(unknown);
                }
            }
        },
    )?;
    Ok((newest_first, unknown_from, end))
}

/// Oldest first; a change whose previous version did not parse takes the
/// image of the app's change before it (or in `last`, what was read
/// before), and is dropped when that is the same image (the file was
/// repaired, nothing was deployed).
fn settle(
    mut newest_first: Vec<Change>,
    mut unknown: Vec<bool>,
    mut last: HashMap<(Arc<str>, Arc<str>), Image>,
) -> Vec<Change> {
    newest_first.reverse();
    unknown.reverse();
    let mut out = Vec::with_capacity(newest_first.len());
    for (mut c, unknown) in newest_first.into_iter().zip(unknown) {
        let key = (c.app.clone(), c.env.clone());
        if unknown {
            c.from = last.get(&key).cloned();
            if c.from.as_ref() == Some(&c.to) {
                continue;
            }
        }
        last.insert(key, c.to.clone());
        out.push(c);
    }
    out
}

fn parse(blob: Option<&Blob>) -> Parsed {
    let text = std::str::from_utf8(&blob?.content).ok()?;
    kustomize::read_images(text).ok().map(Arc::new)
}

/// `blob` parsed, reusing the last `before` parsed for `path` when it is
/// the same blob.
fn parse_cached(
    cache: &mut HashMap<PathBuf, (String, Parsed)>,
    path: &PathBuf,
    blob: Option<&Blob>,
) -> Parsed {
    let b = blob?;
    match cache.get(path) {
        Some((id, parsed)) if *id == b.id => parsed.clone(),
        _ => parse(Some(b)),
    }
}

/// The image an overlay version sets for `image`; `None` without an entry
/// or with neither a tag nor a digest.
fn image_of(entries: &[ImageEntry], image: &str) -> Option<Image> {
    let e = entries.iter().find(|e| e.name == image)?;
    if e.new_tag.is_none() && e.digest.is_none() {
        return None;
    }
    Some(Image {
        tag: e.new_tag.clone(),
        digest: e.digest.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(tag: &str) -> Image {
        Image {
            tag: Some(tag.into()),
            digest: None,
        }
    }

    fn change(commit: &str, from: Option<&str>, to: &str) -> Change {
        Change {
            app: "api".into(),
            env: "dev".into(),
            commit: commit.into(),
            time: 0,
            from: from.map(img),
            to: img(to),
            initial: false,
            trailers: Arc::from(Vec::new()),
        }
    }

    #[test]
    fn a_repaired_file_that_restores_the_image_is_no_change() {
        // c1 sets v1; c2 breaks the YAML (no change read); c3 repairs it
        // with v1 again: nothing was deployed. c4 moves to v2.
        let newest_first = vec![
            change("c4", Some("v1"), "v2"),
            change("c3", None, "v1"),
            change("c1", Some("v0"), "v1"),
        ];
        let out = settle(newest_first, vec![false, true, false], HashMap::new());
        let seen: Vec<&str> = out.iter().map(|c| c.commit.as_str()).collect();
        assert_eq!(seen, ["c1", "c4"]);
    }

    #[test]
    fn images_match_by_digest_else_tag() {
        let d = |t: Option<&str>, d: Option<&str>| Image {
            tag: t.map(Into::into),
            digest: d.map(Into::into),
        };
        assert!(d(Some("v1"), Some("sha256:a")).same(&d(Some("v2"), Some("sha256:a"))));
        assert!(!d(Some("v1"), Some("sha256:a")).same(&d(Some("v1"), Some("sha256:b"))));
        assert!(d(Some("v1"), None).same(&d(Some("v1"), Some("sha256:b"))));
        assert!(!d(None, None).same(&d(None, None)));
        assert_eq!(d(None, Some("sha256:a")).short(), "sha256:a");
    }
}
