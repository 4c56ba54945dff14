//! The planner: a pure function from a [`Snapshot`] to a [`Plan`]. For every
//! app × environment it says what to do, or why nothing moves.

use serde::Serialize;

use super::snapshot::{AppState, EnvState, Judged, Proof, Running, Snapshot, Window};
use crate::gates::Reason;

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
    /// `overlay_unreadable`, `awaiting_upstream`, `health`, `smoke`, `soak`,
    /// `window`, `pr_open`, `pr_closed`, `forge_unavailable`.
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
}

/// The plan of one pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Every app × environment, in config order.
    pub entries: Vec<Entry>,
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
    let mut entries = Vec::new();
    for app in &snapshot.apps {
        for env in &app.envs {
            entries.push(plan_one(app, env, snapshot.forge_error.as_deref()));
        }
    }
    Plan { entries }
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

/// An environment fed by `upstream`: promote what upstream has proven.
fn plan_promotion(
    app: &AppState,
    env: &EnvState,
    upstream: &str,
    running: Option<Running>,
    from: Option<ImageRef>,
    forge_error: Option<&str>,
) -> Entry {
    let up = app.envs.iter().find(|e| e.env == upstream);
    let Some(up_running) = up.and_then(|u| u.running.as_ref().ok().cloned().flatten()) else {
        return none(
            app,
            env,
            from,
            "awaiting_upstream",
            format!("{upstream} runs nothing for this app yet"),
            Vec::new(),
        );
    };
    let Some(up_digest) = up_running.digest.clone() else {
        return none(
            app,
            env,
            from,
            "awaiting_upstream",
            format!("{upstream} runs an image without a digest"),
            Vec::new(),
        );
    };
    let up_tag = up_running.tag.clone().unwrap_or_default();
    let here = running.as_ref().and_then(|r| r.digest.clone());
    if here.as_deref() == Some(up_digest.as_str()) {
        return none(
            app,
            env,
            from,
            "up_to_date",
            format!("runs what {upstream} runs"),
            Vec::new(),
        );
    }
    // Never backwards: what runs here may be newer (a hotfix, a revert).
    if let (Some(h), Some(u)) = (
        here.as_deref().and_then(|h| position(app, h)),
        position(app, &up_digest),
    ) {
        if h < u {
            return none(
                app,
                env,
                from,
                "up_to_date",
                format!("runs an image newer than {upstream}'s {up_tag}"),
                Vec::new(),
            );
        }
    }
    match up.and_then(|u| u.proof.clone()) {
        Some(Proof::Proven { .. }) => {}
        Some(Proof::NotYet { code, message }) => {
            return none(
                app,
                env,
                from,
                code,
                format!("{upstream} has not proven {up_tag}: {message}"),
                Vec::new(),
            );
        }
        None => {
            return none(
                app,
                env,
                from,
                "health",
                format!("{upstream} has no health check configured (argocd_app)"),
                Vec::new(),
            );
        }
    }
    if let Some(pr) = &env.open_pr {
        if pr.digest.as_deref() == Some(up_digest.as_str()) {
            return none(
                app,
                env,
                from,
                "pr_open",
                format!("pull request #{} waits for review: {}", pr.number, pr.url),
                Vec::new(),
            );
        }
    }
    if let Some(pr) = &env.rejected {
        if pr.digest.as_deref() == Some(up_digest.as_str()) {
            return none(
                app,
                env,
                from,
                "pr_closed",
                format!(
                    "pull request #{} proposing {up_tag} was closed without merging ({}); \
                     ferry proposes the next image {upstream} proves, or reopen it",
                    pr.number, pr.url
                ),
                Vec::new(),
            );
        }
    }
    if let Window::Closed { next } = &env.window {
        let when = next
            .as_deref()
            .map(|n| format!("; next window opens {n}"))
            .unwrap_or_default();
        return none(
            app,
            env,
            from,
            "window",
            format!("outside the promotion windows{when}"),
            Vec::new(),
        );
    }
    // Without the list of open PRs, opening one could duplicate it.
    if let Some(e) = forge_error {
        return none(
            app,
            env,
            from,
            "forge_unavailable",
            format!("the forge cannot be asked for open pull requests: {e}"),
            Vec::new(),
        );
    }
    Entry {
        app: app.app.clone(),
        env: env.env.clone(),
        action: Action::PullRequest,
        from,
        to: Some(ImageRef {
            tag: up_running.tag.clone(),
            digest: Some(up_digest),
        }),
        reason: None,
        held: Vec::new(),
        scan: None,
        signature_key: None,
    }
}

#[cfg(test)]
mod tests;
