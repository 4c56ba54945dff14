//! What events need from the checkout that a plan does not carry: the
//! image's repository as the overlay renders it (`newName`, for ECR links)
//! and the commit that put a promoted image in its overlay. Each lookup
//! that fails leaves the field empty: a link less, never an error.

use std::path::{Path, PathBuf};

use super::events::{Event, EventKind};
use crate::config::Config;
use crate::gitops::{CommitInfo, Workspace};

/// Commits read to find what a command pushed.
pub const RECENT_COMMITS: usize = 64;

/// The app's overlay file in `env`, relative to the checkout root.
fn overlay_file(config: &Config, root: &Path, app: &str, env: &str) -> Option<PathBuf> {
    let app = config.apps.iter().find(|a| a.name == app)?;
    let dir = app.overlays.get(env)?;
    let file = crate::kustomize::resolve_in(root, dir).ok()?;
    file.strip_prefix(root).ok().map(Path::to_path_buf)
}

/// Fills each change's `image` from the overlay's `newName` (else the
/// app's image name).
pub fn image_names(config: &Config, root: &Path, events: &mut [Event]) {
    for e in events.iter_mut() {
        let Some(env) = e.env.clone() else { continue };
        for c in e.changes.iter_mut().filter(|c| c.image.is_none()) {
            let Some(app) = config.apps.iter().find(|a| a.name == c.app) else {
                continue;
            };
            let entry = overlay_file(config, root, &c.app, &env)
                .and_then(|f| std::fs::read_to_string(root.join(f)).ok())
                .and_then(|text| crate::kustomize::read_images(&text).ok())
                .and_then(|entries| entries.into_iter().find(|x| x.name == app.image));
            c.image = Some(
                entry
                    .and_then(|x| x.new_name)
                    .unwrap_or_else(|| app.image.clone()),
            );
        }
    }
}

/// How many first-parent commits back a `promoted` event's commit is looked
/// for (it is the latest change to the overlay: near the tip).
const PROMOTED_LOOKBACK: usize = 1000;

/// Fills each `promoted` event's commit: the last one that changed the
/// overlay (a merged pull request's merge commit).
pub fn promoted_commits(config: &Config, ws: &Workspace, events: &mut [Event]) {
    for e in events
        .iter_mut()
        .filter(|e| e.kind == EventKind::Promoted && e.commit.is_none())
    {
        let (Some(env), Some(app)) = (e.env.as_deref(), e.changes.first()) else {
            continue;
        };
        let Some(file) = overlay_file(config, ws.root(), &app.app, env) else {
            continue;
        };
        // First-parent and bounded: the merge commit of a merged PR, never
        // its branch's commit, and never a walk of the whole history.
        e.commit = ws
            .file_versions(&file, 1, PROMOTED_LOOKBACK)
            .ok()
            .and_then(|v| v.into_iter().next())
            .map(|v| v.commit);
    }
}

/// The branch's recent commits, for what a command's commit set.
pub fn recent_commits(ws: &Workspace) -> Vec<CommitInfo> {
    ws.log(RECENT_COMMITS).unwrap_or_default()
}
