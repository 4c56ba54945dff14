//! Carries out the reverts a plan says are due: one commit per app and
//! environment on the base branch, a compare-and-swap on the overlay (it
//! applies only while the overlay runs the deployment it reverts, unpinned),
//! and a comment on the promotion PR that brought the deployment.

use std::path::Path;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::{info, warn};

use super::plan::{RevertStep, span};
use super::{Via, WatchBook};
use crate::config::Config;
use crate::forge::{AnyForge, Forge};
use crate::gitops::{Author, Outcome, Workspace};
use crate::image::ImageUpdate;
use crate::kustomize::{self, PinSpec};
use crate::promotion::observe::read_overlay;
use crate::promotion::pass::PUSH_ATTEMPTS;
use crate::promotion::plan::ImageRef;
use crate::promotion::snapshot::Running;

/// The longest `seen` a pin's reason carries; the commit message and the
/// comment carry all of it.
const PIN_SEEN: usize = 160;

/// The login a revert's pin names.
pub const PINNED_BY: &str = "ferry";

/// A revert ferry committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reverted {
    /// The app.
    pub app: String,
    /// The environment.
    pub env: String,
    /// The revert commit.
    pub commit: String,
    /// The deployment it reverted.
    pub reverts: String,
    /// What ran.
    pub from: ImageRef,
    /// What runs now.
    pub to: ImageRef,
    /// The check that failed.
    pub check: String,
    /// What it saw.
    pub seen: String,
    /// The promotion PR that brought the deployment, if it came by one.
    pub pull_request: Option<(u64, String)>,
}

/// `tag`, else the short digest.
fn short(i: &ImageRef) -> String {
    match (&i.tag, &i.digest) {
        (Some(t), _) => t.clone(),
        (None, Some(d)) => d.get(..19).unwrap_or(d).to_string(),
        (None, None) => "(no image)".into(),
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// The revert commit's message.
pub fn message(step: &RevertStep, name: &str, failed_for: &str) -> String {
    let mut s = format!(
        "{}: auto-revert {} {}→{}\n\n",
        step.env,
        step.app,
        short(&step.from),
        short(&step.to)
    );
    s.push_str(&format!(
        "{} failed its health in {} for {failed_for} after it landed with {}:\n{}: {}\n\n",
        short(&step.from),
        step.env,
        step.reverts.get(..12).unwrap_or(&step.reverts),
        step.check,
        step.seen
    ));
    s.push_str(
        "ferry reverted it and pinned the app; `/ferry unpin` lets automation move it again.\n\n",
    );
    let digest = step.to.digest.clone().unwrap_or_default();
    let mut t = vec![
        "Ferry-Command: auto-revert".to_string(),
        format!("Ferry-App: {}", step.app),
        format!("Ferry-Env: {}", step.env),
        match &step.to.tag {
            Some(tag) => format!("Ferry-Image: {name}:{tag}@{digest}"),
            None => format!("Ferry-Image: {name}@{digest}"),
        },
        format!("Ferry-Digest: {digest}"),
    ];
    if let Some(key) = &step.signature_key {
        t.push(format!("Ferry-Signature: {key}"));
    }
    t.push(format!("Ferry-Reverts: {}", step.reverts));
    s.push_str(&t.join("\n"));
    s.push('\n');
    s
}

/// The comment on the promotion PR.
fn comment(step: &RevertStep, commit: &str, failed_for: &str) -> String {
    format!(
        "**ferry reverted {env}**: `{app}` failed its health for {failed_for} after this pull \
         request landed, so {env} went back from `{from}` to `{to}` (commit {commit}) and is \
         pinned there.\n\n**{check}**: {seen}\n\nOnce it is fixed, `/ferry unpin {app} {env}` \
         lets automation move it again.",
        env = step.env,
        app = step.app,
        from = short(&step.from),
        to = short(&step.to),
        commit = commit.get(..12).unwrap_or(commit),
        check = step.check,
        seen = step.seen.replace('`', "'"),
    )
}

/// Commits every due revert; a revert that cannot be made is logged and
/// left for the next pass, and does not stop the others.
pub async fn revert_all(
    config: &Config,
    steps: &[&RevertStep],
    ws: &mut Workspace,
    author: &Author,
    forge: Option<&AnyForge>,
    book: &WatchBook,
    now: OffsetDateTime,
) -> Vec<Reverted> {
    let mut out = Vec::new();
    for step in steps {
        match revert_one(config, step, ws, author, now) {
            Ok(Some(commit)) => {
                info!(app = %step.app, env = %step.env, %commit, reverts = %step.reverts,
                    check = %step.check, "auto-reverted");
                book.reverted(&step.app, &step.env, &step.reverts, &commit);
                let failed_for = span(step.failing_secs);
                let pull_request = match &step.via {
                    Via::Merge { number, url } => Some((*number, url.clone())),
                    Via::Commit => None,
                };
                if let (Some((number, _)), Some(forge)) = (&pull_request, forge)
                    && let Err(e) = forge
                        .comment(*number, &comment(step, &commit, &failed_for))
                        .await
                {
                    warn!(number, error = %e, "cannot comment on the promotion PR about the revert");
                }
                out.push(Reverted {
                    app: step.app.clone(),
                    env: step.env.clone(),
                    commit,
                    reverts: step.reverts.clone(),
                    from: step.from.clone(),
                    to: step.to.clone(),
                    check: step.check.clone(),
                    seen: step.seen.clone(),
                    pull_request,
                });
            }
            Ok(None) => {
                info!(app = %step.app, env = %step.env, reverts = %step.reverts,
                    "not reverted: the overlay moved or was pinned meanwhile (another replica, a person)");
            }
            Err(e) => {
                warn!(app = %step.app, env = %step.env, error = %e, "cannot revert; trying again next pass");
            }
        }
    }
    if let Err(e) = book.save() {
        warn!(error = %e, "cannot save the watch book");
    }
    out
}

fn revert_one(
    config: &Config,
    step: &RevertStep,
    ws: &mut Workspace,
    author: &Author,
    now: OffsetDateTime,
) -> Result<Option<String>, String> {
    let app = config
        .apps
        .iter()
        .find(|a| a.name == step.app)
        .ok_or_else(|| format!("no app {:?}", step.app))?;
    let dir = app
        .overlays
        .get(&step.env)
        .ok_or_else(|| format!("{} has no overlay in {}", step.app, step.env))?;
    let digest = step.to.digest.as_deref().unwrap_or_default();
    let arg = match &step.to.tag {
        Some(t) => format!("{}=*:{t}@{digest}", app.image),
        None => format!("{}=*@{digest}", app.image),
    };
    let update = ImageUpdate::parse(&arg).map_err(|e| e.to_string())?;
    let failed_for = span(step.failing_secs);
    let spec = PinSpec {
        by: PINNED_BY.into(),
        at: now
            .replace_nanosecond(0)
            .unwrap_or(now)
            .format(&Rfc3339)
            .unwrap_or_default(),
        reason: format!("auto-revert: {}: {}", step.check, cut(&step.seen, PIN_SEEN)),
    };
    let expect = Running {
        tag: step.from.tag.clone(),
        digest: step.from.digest.clone(),
    };
    let image = app.image.clone();
    let outcome = ws
        .apply(author, PUSH_ATTEMPTS, |root: &Path| {
            let (running, pin) = read_overlay(root, dir, &image)?;
            // The compare-and-swap: another replica's revert, a person's
            // pin or a newer deployment since the look leaves it alone.
            if pin.is_some() || running.as_ref() != Some(&expect) {
                return Ok(None);
            }
            let file = kustomize::resolve_in(root, dir).map_err(|e| e.to_string())?;
            kustomize::edit_file(&file, std::slice::from_ref(&update), false)
                .map_err(|e| e.to_string())?;
            kustomize::pin_file(&file, &image, Some(&spec)).map_err(|e| e.to_string())?;
            let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
            let name = kustomize::rendered_name(&text, &image);
            Ok::<_, String>(Some(message(step, &name, &failed_for)))
        })
        .map_err(|e| e.to_string())?;
    Ok(match outcome {
        Outcome::Pushed { commit, .. } => Some(commit.to_string()),
        Outcome::NothingToDo => None,
    })
}
