//! The planner: a pure function from a [`Snapshot`] to a [`Plan`]. For every
//! app × environment it says what to do, or why nothing moves.

use serde::Serialize;

use super::snapshot::{AppState, EnvState, Incoming, Judged, Proof, Running, Snapshot, Window};
use crate::config::Mode;
use crate::gates::Reason;
use crate::promotion::watch::{WatchEntry, plan_watch};

mod prs;

pub use prs::{PrOp, PrStep, PrWhy, plan_prs};

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Commit the new image straight to the branch.
    Commit,
    /// Open or update a promotion pull request.
    PullRequest,
    /// Nothing; see the reason.
    None,
}

/// An image reference in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRef {
    /// Tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A newer candidate that the gates hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Held {
    /// Its tag.
    pub tag: String,
    /// Its digest.
    pub digest: String,
    /// Every gate reason.
    pub reasons: Vec<Reason>,
}

/// Why an entry does not move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Why {
    /// `up_to_date`, `held`, `pinned`, `registry_unavailable`,
    /// `overlay_unreadable`, `overlay_invalid`, `not_in_registry`,
    /// `awaiting_upstream`, `health`, `smoke`, `soak`, `window`, `pr_open`,
    /// `pr_closed`, `pr_foreign`, `forge_unavailable`, `reverting` (an
    /// automatic revert is due).
    pub code: &'static str,
    /// What a person reads.
    pub message: String,
    /// Newer candidates the gates hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<Held>,
}

/// One app in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// App name.
    pub app: String,
    /// Environment name.
    pub env: String,
    /// What to do.
    pub action: Action,
    /// What runs now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<ImageRef>,
    /// What it moves to (moving entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<ImageRef>,
    /// Why not (entries that do not move).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Why>,
    /// Candidates newer than the target that the gates hold (moving
    /// entries).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<Held>,
    /// Evidence for moving entries: `CRITICAL=0 HIGH=1`.
    #[serde(skip)]
    pub scan: Option<String>,
    /// Evidence for moving entries: the verifying key's fingerprint.
    #[serde(skip)]
    pub signature_key: Option<String>,
    /// For a dev commit: when the image was pushed to the registry, for
    /// the commit's `Ferry-Pushed-At` trailer (the DORA lead time). A
    /// record, never evidence.
    #[serde(skip)]
    pub pushed_at: Option<time::OffsetDateTime>,
}

/// The plan of one pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Every app × environment, in config order.
    pub entries: Vec<Entry>,
    /// Every promotion pull request to open, update or close, and why.
    pub pull_requests: Vec<PrStep>,
    /// Every watched deployment (environments with `auto_revert`): how
    /// long the watch lasts, what fails, and the reverts that are due.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<WatchEntry>,
}

impl Plan {
    /// Entries that move, for one environment.
    pub fn moves_in<'a>(&'a self, env: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.env == env && e.action != Action::None)
    }
}

/// Plans a snapshot.
pub fn plan(snapshot: &Snapshot) -> Plan {
    let watch = plan_watch(snapshot);
    let mut entries = Vec::new();
    for app in &snapshot.apps {
        for env in &app.envs {
            let reverting = watch
                .iter()
                .find(|w| w.app == app.app && w.env == env.env)
                .and_then(|w| w.revert.as_ref());
            entries.push(match reverting {
                // The revert is the only move this pass makes here.
                Some(r) => none(
                    app,
                    env,
                    from_running(env.running.as_ref().ok().unwrap_or(&None)),
                    "reverting",
                    format!(
                        "{}: {}; ferry reverts to {}",
                        r.check,
                        r.seen,
                        r.to.tag
                            .as_deref()
                            .or(r.to.digest.as_deref())
                            .unwrap_or("the image before")
                    ),
                    Vec::new(),
                ),
                None => plan_one(app, env, snapshot.forge_error.as_deref()),
            });
        }
    }
    let pull_requests = plan_prs(snapshot, &entries);
    Plan {
        entries,
        pull_requests,
        watch,
    }
}

fn from_running(r: &Option<Running>) -> Option<ImageRef> {
    r.as_ref().map(|r| ImageRef {
        tag: r.tag.clone(),
        digest: r.digest.clone(),
    })
}

fn none(
    app: &AppState,
    env: &EnvState,
    from: Option<ImageRef>,
    code: &'static str,
    message: String,
    held: Vec<Held>,
) -> Entry {
    Entry {
        app: app.app.clone(),
        env: env.env.clone(),
        action: Action::None,
        from,
        to: None,
        reason: Some(Why {
            code,
            message,
            held,
        }),
        held: Vec::new(),
        scan: None,
        signature_key: None,
        pushed_at: None,
    }
}

fn held(j: &Judged) -> Option<Held> {
    let v = j.verdict.as_ref()?;
    (!v.passes()).then(|| Held {
        tag: j.candidate.tag.to_string(),
        digest: j.candidate.digest.to_string(),
        reasons: v.reasons.clone(),
    })
}

fn plan_one(app: &AppState, env: &EnvState, forge_error: Option<&str>) -> Entry {
    let running = match &env.running {
        Ok(r) => r.clone(),
        Err(e) => return none(app, env, None, "overlay_unreadable", e.clone(), Vec::new()),
    };
    let from = from_running(&running);
    if let Some(pin) = &env.pin {
        let who = pin
            .by
            .as_deref()
            .map(|b| format!(" by {b}"))
            .unwrap_or_default();
        let why = pin
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        return none(
            app,
            env,
            from,
            "pinned",
            format!("pinned{who} (overlay line {}){why}", pin.line),
            Vec::new(),
        );
    }
    if let Some(upstream) = &env.after {
        return plan_promotion(app, env, upstream, running, from, forge_error);
    }
    let candidates = match &app.candidates {
        Ok(c) => c,
        Err(e) => {
            return none(
                app,
                env,
                from,
                "registry_unavailable",
                e.clone(),
                Vec::new(),
            );
        }
    };
    // Candidates are newest first. What runs, if the registry knows it:
    let running_at = running.as_ref().and_then(|r| {
        candidates.iter().position(|j| {
            r.digest.as_deref() == Some(j.candidate.digest.as_str())
                || (r.digest.is_none() && r.tag.as_deref() == Some(j.candidate.tag.as_str()))
        })
    });
    let newer = &candidates[..running_at.unwrap_or(candidates.len())];
    let target = newer
        .iter()
        .position(|j| j.verdict.as_ref().is_some_and(|v| v.passes()));
    let Some(t) = target else {
        let held: Vec<Held> = newer.iter().filter_map(held).collect();
        if held.is_empty() {
            let message = match &running {
                Some(_) if running_at.is_none() && !candidates.is_empty() => {
                    "what runs is not in the registry and no candidate passes the gates".to_string()
                }
                _ => "no candidate newer than what runs".to_string(),
            };
            return none(app, env, from, "up_to_date", message, Vec::new());
        }
        let n = held.len();
        return none(
            app,
            env,
            from,
            "held",
            format!("{n} newer image(s) held by the gates"),
            held,
        );
    };
    let j = &newer[t];
    let v = j.verdict.as_ref();
    Entry {
        app: app.app.clone(),
        env: env.env.clone(),
        action: Action::Commit,
        from,
        to: Some(ImageRef {
            tag: Some(j.candidate.tag.to_string()),
            digest: Some(j.candidate.digest.to_string()),
        }),
        reason: None,
        held: newer[..t].iter().filter_map(held).collect(),
        scan: v
            .and_then(|v| v.scan_counts.as_ref())
            .map(crate::gates::format_counts),
        signature_key: v.and_then(|v| v.signature_key.clone()),
        pushed_at: Some(j.candidate.pushed_at),
    }
}

/// Position of an image in the candidate list (newest first), by digest.
fn position(app: &AppState, digest: &str) -> Option<usize> {
    app.candidates
        .as_ref()
        .ok()?
        .iter()
        .position(|j| j.candidate.digest.as_str() == digest)
}

/// An environment fed by `upstream`: promote what upstream has proven,
/// once the gates pass on exactly that digest.
fn plan_promotion(
    app: &AppState,
    env: &EnvState,
    upstream: &str,
    running: Option<Running>,
    from: Option<ImageRef>,
    forge_error: Option<&str>,
) -> Entry {
    let hold = |code: &'static str, message: String| {
        none(app, env, from.clone(), code, message, Vec::new())
    };
    let up = app.envs.iter().find(|e| e.env == upstream);
    match up.map(|u| &u.running) {
        Some(Ok(Some(_))) => {}
        Some(Err(e)) => {
            return hold(
                "awaiting_upstream",
                format!("{upstream}'s overlay cannot be read: {e}"),
            );
        }
        _ => {
            return hold(
                "awaiting_upstream",
                format!("{upstream} runs nothing for this app yet"),
            );
        }
    }
    let (up_tag, up_digest, verdict) = match &env.incoming {
        Some(Incoming::Image {
            tag,
            digest,
            verdict,
        }) => (tag, digest, verdict),
        Some(Incoming::Refused { code, message }) => return hold(code, message.clone()),
        // Not judged is not passed.
        None => {
            return hold(
                "held",
                format!("the gates have not judged what {upstream} runs"),
            );
        }
    };
    let here = running.as_ref().and_then(|r| r.digest.clone());
    if here.as_deref() == Some(up_digest.as_str()) {
        return hold("up_to_date", format!("runs what {upstream} runs"));
    }
    // Never backwards: what runs here may be newer (a hotfix, a revert).
    if let (Some(h), Some(u)) = (
        here.as_deref().and_then(|h| position(app, h)),
        position(app, up_digest),
    ) && h < u
    {
        return hold(
            "up_to_date",
            format!("runs an image newer than {upstream}'s {up_tag}"),
        );
    }
    if !verdict.passes() {
        let codes: Vec<&str> = verdict.reasons.iter().map(|r| r.code.as_str()).collect();
        return none(
            app,
            env,
            from,
            "held",
            format!(
                "{upstream} runs {up_tag}, which the gates hold ({})",
                codes.join(", ")
            ),
            vec![Held {
                tag: up_tag.clone(),
                digest: up_digest.clone(),
                reasons: verdict.reasons.clone(),
            }],
        );
    }
    match up.and_then(|u| u.proof.clone()) {
        Some(Proof::Proven { .. }) => {}
        Some(Proof::NotYet { code, message }) => {
            return hold(
                code,
                format!("{upstream} has not proven {up_tag}: {message}"),
            );
        }
        None => {
            return hold(
                "health",
                format!("{upstream} has no health check configured (argocd_app)"),
            );
        }
    }
    let by_pr = env.mode == Mode::PullRequest;
    if by_pr {
        if let Some(pr) = &env.foreign_pr {
            return hold(
                "pr_foreign",
                format!(
                    "pull request #{} on ferry's branch was not opened by ferry ({}); \
                     ferry neither adopts it nor pushes over it: close it, or rename its branch",
                    pr.number, pr.url
                ),
            );
        }
        if let Some(pr) = &env.open_pr
            && pr.intact
            && pr.digest.as_deref() == Some(up_digest.as_str())
        {
            return hold(
                "pr_open",
                format!("pull request #{} waits for review: {}", pr.number, pr.url),
            );
        }
        if let Some(pr) = &env.rejected
            && pr.digest.as_deref() == Some(up_digest.as_str())
        {
            return hold(
                "pr_closed",
                format!(
                    "pull request #{} proposing {up_tag} was closed without merging ({}); \
                     ferry proposes the next image {upstream} proves, or reopen it",
                    pr.number, pr.url
                ),
            );
        }
    }
    if let Window::Closed { next } = &env.window {
        let when = next
            .as_deref()
            .map(|n| format!("; next window opens {n}"))
            .unwrap_or_default();
        return hold("window", format!("outside the promotion windows{when}"));
    }
    // Without the list of open PRs, opening one could duplicate it.
    if by_pr && let Some(e) = forge_error {
        return hold(
            "forge_unavailable",
            format!("the forge cannot be asked for open pull requests: {e}"),
        );
    }
    Entry {
        app: app.app.clone(),
        env: env.env.clone(),
        action: if by_pr {
            Action::PullRequest
        } else {
            Action::Commit
        },
        from,
        to: Some(ImageRef {
            tag: Some(up_tag.clone()),
            digest: Some(up_digest.clone()),
        }),
        reason: None,
        held: Vec::new(),
        scan: verdict
            .scan_counts
            .as_ref()
            .map(crate::gates::format_counts),
        signature_key: verdict.signature_key.clone(),
        pushed_at: None,
    }
}

#[cfg(test)]
mod tests;
