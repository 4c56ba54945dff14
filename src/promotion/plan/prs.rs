//! The pull-request side of the plan: which promotion PRs to open, update
//! or close, and why. Pure, like the rest of the planner: it reads the
//! entries and what the snapshot says of each open PR (read from its
//! branch in git, never from its text), and execution only carries it out.

use std::collections::HashMap;

use serde::Serialize;

use super::{Action, Entry, ImageRef};
use crate::config::{Group, Mode};
use crate::promotion::promote::{branch, group_branch};
use crate::promotion::snapshot::{AppState, EnvState, Gated, OpenPr, Proposal, Snapshot};

/// What to do with one promotion PR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrOp {
    /// Push the branch and open a PR.
    Open,
    /// Push the branch again and rewrite the open PR.
    Update,
    /// Comment and close the open PR.
    Close,
}

/// Why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrWhy {
    /// Upstream has proven an image the environment does not run.
    Proven,
    /// Upstream has proven a newer image than the PR proposes.
    Newer,
    /// The branch head is not the commit ferry would produce.
    Rebuilt,
    /// An app the PR carried no longer qualifies and is dropped from it.
    Dropped,
    /// The environment runs everything the PR proposes.
    Promoted,
    /// The image the PR proposes fails the gates now, or left the registry.
    GateFailed,
    /// The upstream environment ran the image the PR proposes and ferry
    /// reverted it there automatically: it failed its health.
    Reverted,
    /// The branch is not ferry's commit, and nothing is to be proposed now.
    NotFerrys,
    /// The config no longer produces the branch.
    Stray,
}

/// One step on one promotion PR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrStep {
    /// Environment.
    pub env: String,
    /// The branch.
    pub head: String,
    /// The open PR (update and close).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    /// What to do.
    pub op: PrOp,
    /// Why.
    pub why: PrWhy,
    /// What a person reads (the close comment, for a close).
    pub message: String,
    /// Apps it concerns.
    pub apps: Vec<String>,
    /// What the branch carries after an open or update, in config order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub carries: Vec<Entry>,
    /// A person asked for this proposal (`/ferry promote`): who, where, and
    /// what was not proven yet, in markdown; it opens the PR's body. The
    /// planner never sets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

fn code(e: &Entry) -> Option<&'static str> {
    e.reason.as_ref().map(|r| r.code)
}

/// Whether the environment runs what the row's open PR proposes.
fn runs_pr(r: &Row) -> bool {
    let Some(pr) = r.env.open_pr.as_ref() else {
        return false;
    };
    matches!(&r.env.running, Ok(Some(run)) if run.digest.is_some() && run.digest == pr.digest)
}

/// Whether the row's PR is done: the environment runs what upstream runs,
/// and either that is what the PR proposes, or ferry proposed it because
/// upstream ran it then. A PR a person asked for (`/ferry promote`, an
/// image upstream did not run) stays until the environment runs it.
fn done(r: &Row) -> bool {
    code(r.entry) == Some("up_to_date")
        && (runs_pr(r) || !r.env.open_pr.as_ref().is_some_and(|p| p.asked))
}

/// One app × environment of a pull-request environment.
struct Row<'a> {
    app: &'a AppState,
    env: &'a EnvState,
    entry: &'a Entry,
}

/// Plans every promotion PR step from the entries.
pub fn plan_prs(snapshot: &Snapshot, entries: &[Entry]) -> Vec<PrStep> {
    // One lookup per app × environment, not a scan of every entry.
    let by_key: HashMap<(&str, &str), &Entry> = entries
        .iter()
        .map(|e| ((e.app.as_str(), e.env.as_str()), e))
        .collect();
    let mut envs: Vec<(&str, Group)> = Vec::new();
    for e in snapshot.apps.iter().flat_map(|a| &a.envs) {
        if e.after.is_some()
            && e.mode == Mode::PullRequest
            && !envs.iter().any(|(n, _)| *n == e.env)
        {
            envs.push((&e.env, e.group));
        }
    }
    let mut steps = Vec::new();
    for (env, group) in envs {
        let rows: Vec<Row> = snapshot
            .apps
            .iter()
            .filter_map(|app| {
                let es = app.envs.iter().find(|e| e.env == env)?;
                let entry = *by_key.get(&(app.app.as_str(), env))?;
                Some(Row {
                    app,
                    env: es,
                    entry,
                })
            })
            .collect();
        match group {
            Group::App => {
                for r in &rows {
                    let head = branch(env, &r.app.app);
                    steps.extend(app_step(env, &head, r, snapshot.proposal(&head)));
                }
            }
            Group::Environment => {
                let head = group_branch(env);
                steps.extend(grouped_step(env, &head, &rows, snapshot.proposal(&head)));
            }
        }
    }
    for p in snapshot.proposals.iter().filter(|p| p.stray) {
        let env = p
            .head
            .strip_prefix(crate::promotion::promote::BRANCH_PREFIX)
            .and_then(|r| r.split_once('/'))
            .map_or("", |(e, _)| e)
            .to_string();
        steps.push(PrStep {
            message: format!(
                "ferry no longer proposes changes on `{}`: its app was removed from {env}, \
                 or {env} changed its `group:` setting; closing.",
                p.head
            ),
            env,
            head: p.head.clone(),
            number: Some(p.number),
            op: PrOp::Close,
            why: PrWhy::Stray,
            apps: Vec::new(),
            carries: Vec::new(),
            request: None,
        });
    }
    steps
}

/// Why the image an open PR proposes may not be promoted any more (the
/// gates, the registry, or an automatic revert upstream), if so.
fn refusal(r: &Row) -> Option<(PrWhy, String)> {
    let pr = r.env.open_pr.as_ref()?;
    if let Some(why) = gate_failure(pr) {
        return Some((PrWhy::GateFailed, why));
    }
    reverted_upstream(r, pr).map(|why| (PrWhy::Reverted, why))
}

/// The upstream environment ran the PR's image and ferry reverted it there.
fn reverted_upstream(r: &Row, pr: &OpenPr) -> Option<String> {
    let upstream = r.env.after.as_ref()?;
    let up = r.app.envs.iter().find(|e| &e.env == upstream)?;
    let watch = up.watch.as_ref()?;
    let by = watch.reverted_by.as_ref()?;
    // Upstream running it again (a person put it back) is not a refusal.
    let runs_it = up
        .running
        .as_ref()
        .ok()
        .and_then(|r| r.as_ref()?.digest.as_ref())
        .is_some_and(|d| Some(d) == pr.digest.as_ref());
    (!runs_it && watch.digest.is_some() && watch.digest == pr.digest).then(|| {
        format!(
            "{} failed its health in {upstream}, and ferry reverted it there (commit {})",
            pr.tag.as_deref().unwrap_or("its image"),
            by.get(..12).unwrap_or(by)
        )
    })
}

/// Why the image an open PR proposes fails the gates now, if so.
fn gate_failure(pr: &OpenPr) -> Option<String> {
    let tag = pr.tag.as_deref().unwrap_or("its image");
    match pr.gate.as_ref()? {
        Gated::Checked(v) if !v.passes() => {
            let why: Vec<String> = v
                .reasons
                .iter()
                .map(|r| format!("{} ({})", r.code.as_str(), r.message))
                .collect();
            Some(format!(
                "{tag} no longer passes the gates: {}",
                why.join("; ")
            ))
        }
        Gated::NotInRegistry => Some(format!("{tag} is no longer in the registry")),
        // Undecided is not failed: the PR stays, and nothing moves.
        Gated::Checked(_) | Gated::Unavailable(_) => None,
    }
}

fn step(env: &str, head: &str, number: Option<u64>, op: PrOp, why: PrWhy) -> PrStep {
    PrStep {
        env: env.to_string(),
        head: head.to_string(),
        number,
        op,
        why,
        message: String::new(),
        apps: Vec::new(),
        carries: Vec::new(),
        request: None,
    }
}

fn app_step(env: &str, head: &str, r: &Row, open: Option<&Proposal>) -> Option<PrStep> {
    let e = r.entry;
    let app = vec![e.app.clone()];
    if e.action == Action::PullRequest {
        return Some(propose(env, head, open, vec![e.clone()], String::new()));
    }
    let open = open?;
    let close = |why: PrWhy, message: String| {
        let mut s = step(env, head, Some(open.number), PrOp::Close, why);
        s.message = message;
        s.apps = app.clone();
        Some(s)
    };
    if done(r) {
        let msg = e.reason.as_ref().map(|r| r.message.as_str()).unwrap_or("");
        return close(
            PrWhy::Promoted,
            format!("{env} already runs this app's promoted image ({msg}); closing."),
        );
    }
    if let Some((code, why)) = refusal(r) {
        return close(
            code,
            format!(
                "The image this pull request proposes for {}: {why}. Closing.",
                e.app
            ),
        );
    }
    if let Some(t) = &open.tampered {
        return close(PrWhy::NotFerrys, not_ferrys(env, t));
    }
    None
}

/// Opens the PR, or updates the open one: rebuilt when its branch is not
/// ferry's commit, superseded otherwise. `note` goes into the update's
/// comment (apps dropped from a grouped PR).
fn propose(
    env: &str,
    head: &str,
    open: Option<&Proposal>,
    carries: Vec<Entry>,
    note: String,
) -> PrStep {
    let (number, op, why) = match open {
        None => (None, PrOp::Open, PrWhy::Proven),
        Some(p) if p.tampered.is_some() => (Some(p.number), PrOp::Update, PrWhy::Rebuilt),
        Some(p) => (Some(p.number), PrOp::Update, PrWhy::Newer),
    };
    let mut s = step(env, head, number, op, why);
    s.message = match open.and_then(|p| p.tampered.as_deref()) {
        Some(t) => format!("the branch is not the commit ferry pushed ({t}); rebuilt"),
        None => note,
    };
    s.apps = carries.iter().map(|e| e.app.clone()).collect();
    s.carries = carries;
    s
}

/// The comment closing a PR whose branch is not ferry's commit.
fn not_ferrys(env: &str, why: &str) -> String {
    format!(
        "This branch is not the commit ferry pushed ({why}), and nothing is to be \
         promoted to {env} now; closing. ferry opens a new pull request when {env} \
         can be promoted."
    )
}

/// A carried app kept in a grouped PR: at the image its branch sets, with
/// the verdict on that image as the evidence.
fn kept(r: &Row) -> Option<Entry> {
    let pr = r.env.open_pr.as_ref()?;
    if reverted_upstream(r, pr).is_some() {
        return None;
    }
    let digest = pr.digest.clone()?;
    let Some(Gated::Checked(v)) = &pr.gate else {
        return None;
    };
    if !v.passes() {
        return None;
    }
    Some(Entry {
        action: Action::PullRequest,
        to: Some(ImageRef {
            tag: pr.tag.clone(),
            digest: Some(digest),
        }),
        reason: None,
        scan: v.scan_counts.as_ref().map(crate::gates::format_counts),
        signature_key: v.signature_key.clone(),
        pushed_at: None,
        ..r.entry.clone()
    })
}

/// One PR for the environment. When anything moves, the branch is rebuilt
/// with every app that moves plus every app the PR carries (read from its
/// branch) that the environment does not run yet and that still passes the
/// gates, each at the image the branch sets: an update never drops an app
/// that still qualifies. When nothing moves, the PR is closed once the
/// environment runs all it carries, updated without an app that fails the
/// gates now, or closed when none is left.
fn grouped_step(env: &str, head: &str, rows: &[Row], open: Option<&Proposal>) -> Option<PrStep> {
    let intact = open.is_some_and(|p| p.tampered.is_none());
    let carried = |r: &&Row| r.env.open_pr.as_ref().is_some_and(|p| p.digest.is_some());
    let waiting = |r: &&Row| {
        r.entry.action != Action::PullRequest && code(r.entry) != Some("pinned") && !done(r)
    };
    let mut dropped = Vec::new();
    let mut carries = Vec::new();
    for r in rows {
        if r.entry.action == Action::PullRequest {
            carries.push(r.entry.clone());
        } else if intact && carried(&r) && waiting(&r) {
            match kept(r) {
                Some(k) => carries.push(k),
                None => {
                    if let Some((_, why)) = refusal(r) {
                        dropped.push(format!("{}: {why}", r.app.app));
                    }
                }
            }
        }
    }
    let moving = rows.iter().any(|r| r.entry.action == Action::PullRequest);
    let apps = |c: &[Entry]| c.iter().map(|e| e.app.clone()).collect::<Vec<_>>();
    if moving {
        return Some(propose(env, head, open, carries, dropped.join("\n")));
    }
    let open = open?;
    let close = |why: PrWhy, message: String, apps: Vec<String>| {
        let mut s = step(env, head, Some(open.number), PrOp::Close, why);
        s.message = message;
        s.apps = apps;
        Some(s)
    };
    if let Some(t) = &open.tampered {
        return close(PrWhy::NotFerrys, not_ferrys(env, t), Vec::new());
    }
    let in_pr: Vec<&Row> = rows.iter().filter(carried).collect();
    if !in_pr.is_empty() && in_pr.iter().all(|r| done(r)) {
        return close(
            PrWhy::Promoted,
            format!("{env} already runs every image this pull request proposes; closing."),
            in_pr.iter().map(|r| r.app.app.clone()).collect(),
        );
    }
    if dropped.is_empty() {
        return None;
    }
    if carries.is_empty() {
        return close(
            PrWhy::GateFailed,
            format!(
                "No image this pull request proposes may be promoted now:\n{}\nClosing.",
                dropped.join("\n")
            ),
            in_pr.iter().map(|r| r.app.app.clone()).collect(),
        );
    }
    let mut s = step(env, head, Some(open.number), PrOp::Update, PrWhy::Dropped);
    s.message = dropped.join("\n");
    s.apps = apps(&carries);
    s.carries = carries;
    Some(s)
}
