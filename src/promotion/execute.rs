//! Executing a plan's commits: edit the overlays of one environment in a
//! checkout, re-checking each move against what the files say now, and
//! build the commit message with its evidence trailers.

use std::path::Path;

use tracing::warn;

use super::observe::read_overlay;
use super::plan::Entry;
use crate::config::Config;
use crate::image::{Digest, ImageUpdate, Tag};
use crate::kustomize;

/// One image that moved in a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// App.
    pub app: String,
    /// From tag (or digest) to tag.
    pub from: String,
    /// New tag.
    pub tag: String,
    /// New digest.
    pub digest: String,
    /// Full reference as rendered: `newName:tag@digest`.
    pub image: String,
    /// `CRITICAL=0 HIGH=1`.
    pub scan: Option<String>,
    /// Key fingerprint.
    pub signature: Option<String>,
    /// When the image was pushed to the registry.
    pub pushed_at: Option<time::OffsetDateTime>,
}

/// Applies the moves of `env` to the checkout at `root`. Each move is
/// checked again against the overlay as it is now (another writer may have
/// done it, or pinned the app): only what is still wanted is written. A
/// move that cannot be made (its overlay became unreadable or invalid) is
/// left out with a warning; the others still go ahead. Returns the commit
/// message, or `None` when nothing is left to do.
pub fn apply_moves(
    root: &Path,
    config: &Config,
    env: &str,
    moves: &[&Entry],
) -> Result<Option<String>, String> {
    let mut moved = Vec::new();
    for m in moves {
        match apply_one(root, config, env, m) {
            Ok(Some(one)) => moved.push(one),
            Ok(None) => {}
            Err(error) => warn!(app = %m.app, env, %error, "move left out"),
        }
    }
    Ok((!moved.is_empty()).then(|| commit_message(env, &moved)))
}

fn apply_one(root: &Path, config: &Config, env: &str, m: &Entry) -> Result<Option<Moved>, String> {
    let Some(app) = config.apps.iter().find(|a| a.name == m.app) else {
        return Ok(None);
    };
    let Some(dir) = app.overlays.get(env) else {
        return Ok(None);
    };
    let Some(to) = &m.to else { return Ok(None) };
    let (Some(tag), Some(digest)) = (&to.tag, &to.digest) else {
        return Err("a move needs both a tag and a digest".into());
    };
    // Only values of the image grammar reach the editor and the message.
    let tag = Tag::parse(tag).map_err(|e| e.to_string())?;
    let digest = Digest::parse(digest).map_err(|e| e.to_string())?;
    let (running, pin) = read_overlay(root, dir, &app.image)?;
    // Compare-and-swap on the overlay: move only from what the plan saw.
    // If another writer moved or pinned it meanwhile, this move is stale
    // (it could even go backwards); the next pass plans afresh.
    let now = running
        .as_ref()
        .map(|r| (r.tag.as_deref(), r.digest.as_deref()));
    let seen = m
        .from
        .as_ref()
        .map(|f| (f.tag.as_deref(), f.digest.as_deref()));
    if pin.is_some() || now != seen {
        return Ok(None);
    }
    let update = ImageUpdate::parse(&format!("{}=*:{tag}@{digest}", app.image))
        .map_err(|e| e.to_string())?;
    // The real file inside the checkout, no link left to write through.
    let file = kustomize::resolve_in(root, dir).map_err(|e| e.to_string())?;
    let edit = kustomize::edit_file(&file, &[update], false).map_err(|e| e.to_string())?;
    if !edit.changed() {
        // The message names only what was written.
        return Ok(None);
    }
    let entry = kustomize::read_images(&edit.after)
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|e| e.name == app.image);
    let name = entry
        .and_then(|e| e.new_name)
        .unwrap_or_else(|| app.image.clone());
    let from = running
        .as_ref()
        .and_then(|r| r.tag.clone().or_else(|| r.digest.clone()))
        .unwrap_or_else(|| "(none)".into());
    Ok(Some(Moved {
        app: app.name.clone(),
        from,
        tag: tag.to_string(),
        digest: digest.to_string(),
        image: format!("{name}:{tag}@{digest}"),
        scan: m.scan.clone(),
        signature: m.signature_key.clone(),
        pushed_at: m.pushed_at,
    }))
}

/// `dev: api sha-1→sha-3, cron v1.1.0→v1.2.0` and a trailer block per
/// image.
pub fn commit_message(env: &str, moved: &[Moved]) -> String {
    let summary: Vec<String> = moved
        .iter()
        .map(|m| format!("{} {}→{}", m.app, m.from, m.tag))
        .collect();
    let mut s = format!("{env}: {}\n\n", summary.join(", "));
    s.push_str(&format!(
        "Promoted by ferry after the gates passed for {} image(s).\n\n",
        moved.len()
    ));
    let mut trailers = Vec::new();
    for m in moved {
        trailers.push(format!("Ferry-App: {}", m.app));
        trailers.push(format!("Ferry-Env: {env}"));
        trailers.push(format!("Ferry-Image: {}", m.image));
        trailers.push(format!("Ferry-Digest: {}", m.digest));
        if let Some(scan) = &m.scan {
            trailers.push(format!("Ferry-Scan: {scan}"));
        }
        if let Some(sig) = &m.signature {
            trailers.push(format!("Ferry-Signature: {sig}"));
        }
        // For the DORA lead time (`ferry report`): a record, not evidence.
        if let Some(at) = m.pushed_at.and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        }) {
            trailers.push(format!("Ferry-Pushed-At: {at}"));
        }
    }
    s.push_str(&trailers.join("\n"));
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_every_move_and_its_evidence() {
        let m = |app: &str, from: &str, tag: &str| Moved {
            app: app.into(),
            from: from.into(),
            tag: tag.into(),
            digest: "sha256:ab".into(),
            image: format!("reg/{app}:{tag}@sha256:ab"),
            scan: Some("CRITICAL=0 HIGH=1".into()),
            signature: Some("sha256:key".into()),
            pushed_at: (app == "cron").then_some(time::macros::datetime!(2026-11-20 10:00 UTC)),
        };
        let msg = commit_message(
            "dev",
            &[m("api", "sha-1", "sha-3"), m("cron", "v1.1.0", "v1.2.0")],
        );
        assert!(
            msg.starts_with("dev: api sha-1→sha-3, cron v1.1.0→v1.2.0\n\n"),
            "{msg}"
        );
        assert_eq!(msg.matches("Ferry-App: ").count(), 2);
        assert!(msg.contains("Ferry-Image: reg/cron:v1.2.0@sha256:ab\nFerry-Digest: sha256:ab\nFerry-Scan: CRITICAL=0 HIGH=1\nFerry-Signature: sha256:key\nFerry-Pushed-At: 2026-11-20T10:00:00Z\n"));
        // Only in the block of the image that has a push time.
        assert_eq!(msg.matches("Ferry-Pushed-At: ").count(), 1);
    }
}
