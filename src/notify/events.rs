//! What is worth telling people, derived (pure) from what a pass reported,
//! what a comment's commands did, and how many passes failed in a row.
//!
//! Every [`Event`] has a [`key`](Event::key) that names it for good: a
//! commit's id, a pull request's number and the digests it proposes, an
//! app and a held digest. The dispatcher drops a key it has sent already,
//! so deriving the same event again (a hold seen on every pass) sends
//! nothing new.

use std::collections::BTreeSet;

use serde::Serialize;
use time::OffsetDateTime;

use crate::chatops::grammar::{Command, parse_line};
use crate::chatops::{CommandOutcome, CommentEvent};
use crate::config::{Config, Mode};
use crate::gitops::{CommitInfo, Outcome};
use crate::promotion::Plan;
use crate::promotion::board::Board;
use crate::promotion::pass::PassReport;
use crate::promotion::plan::{Action, Entry, Held, ImageRef};

pub use crate::config::EventKind;

/// Failed passes in a row that make a `pass_failing` event.
pub const FAILING_AFTER: u32 = 3;

/// Longest reason or error text an event carries, in characters.
pub const MAX_REASON_CHARS: usize = 1000;

/// One app's image change (or, for a hold, the image refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The app.
    pub app: String,
    /// What ran before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<ImageRef>,
    /// What runs (or is proposed, or held) now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<ImageRef>,
    /// The image's repository as the overlay renders it (`newName`, else
    /// the image name): an ECR repository URI gets a console link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// A pull request an event concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRequest {
    /// Its number, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    /// Its web page.
    pub url: String,
}

/// Something that happened, as every sink is told it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// What kind of thing.
    #[serde(rename = "event")]
    pub kind: EventKind,
    /// The environment, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The apps and images.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// The commit, if one was pushed (full hex id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The pull request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequest>,
    /// Why: the gates' reasons, a pin's reason, a pass's error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who asked (a comment's author).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
    /// The comment that asked, or the command as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The comment's web page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment_url: Option<String>,
    /// Failed passes in a row (`pass_failing`, `pass_recovered`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
    /// When ferry saw it.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What makes two streak events one: when the streak began.
    #[serde(skip)]
    streak: Option<i128>,
}

impl Event {
    fn new(kind: EventKind, at: OffsetDateTime) -> Event {
        Event {
            kind,
            env: None,
            changes: Vec::new(),
            commit: None,
            pull_request: None,
            reason: None,
            who: None,
            command: None,
            comment_url: None,
            failures: None,
            at,
            streak: None,
        }
    }

    /// The event's identity: deriving it again gives the same key, so a
    /// sink is told once.
    pub fn key(&self) -> String {
        let env = self.env.as_deref().unwrap_or("");
        let first = self.changes.first();
        let app = first.map_or("", |c| c.app.as_str());
        let to = first.and_then(|c| c.to.as_ref()).map_or("", ident);
        let commit = self.commit.as_deref().unwrap_or("");
        let number = self
            .pull_request
            .as_ref()
            .and_then(|p| p.number)
            .unwrap_or(0);
        match self.kind {
            EventKind::Committed
            | EventKind::Pinned
            | EventKind::Unpinned
            | EventKind::Reverted => format!("{}:{commit}", self.kind),
            EventKind::PrOpened => format!("pr_opened:{number}"),
            EventKind::PrUpdated => {
                let digests: BTreeSet<&str> = self
                    .changes
                    .iter()
                    .filter_map(|c| c.to.as_ref())
                    .map(ident)
                    .collect();
                let digests: Vec<&str> = digests.into_iter().collect();
                // Hashed: a grouped PR of 1,000 apps would make a key (and
                // an `X-Ferry-Delivery` header) of tens of kilobytes.
                let hash = crate::oci::sha256(digests.join(",").as_bytes()).to_string();
                let short = hash.strip_prefix("sha256:").unwrap_or(&hash);
                format!("pr_updated:{number}:{}", short.get(..16).unwrap_or(short))
            }
            EventKind::Promoted if commit.is_empty() => format!("promoted:{env}:{app}:{to}"),
            EventKind::Promoted => format!("promoted:{env}:{app}:{to}:{commit}"),
            EventKind::Held => format!("held:{app}:{to}"),
            EventKind::PassFailing | EventKind::PassRecovered => {
                format!("{}:{}", self.kind, self.streak.unwrap_or(0))
            }
        }
    }

    /// One line for a person: `committed dev: api sha-1111111 → sha-5d5d5d5`.
    pub fn summary(&self) -> String {
        let mut s = self.kind.as_str().to_string();
        if let Some(env) = &self.env {
            s.push(' ');
            s.push_str(env);
            s.push(':');
        }
        let changes: Vec<String> = self
            .changes
            .iter()
            .map(|c| match self.kind {
                EventKind::Held => format!("{} {}", c.app, shown(c.to.as_ref())),
                EventKind::Unpinned | EventKind::Pinned if c.from.is_none() => match &c.to {
                    None => c.app.clone(),
                    Some(to) => format!("{} at {}", c.app, shown(Some(to))),
                },
                _ => format!(
                    "{} {} → {}",
                    c.app,
                    shown(c.from.as_ref()),
                    shown(c.to.as_ref())
                ),
            })
            .collect();
        if !changes.is_empty() {
            s.push(' ');
            s.push_str(&changes.join(", "));
        }
        if let Some(pr) = &self.pull_request
            && let Some(n) = pr.number
        {
            s.push_str(&format!(" (#{n})"));
        }
        if let Some(who) = &self.who {
            s.push_str(&format!(" by {who}"));
        }
        if let Some(n) = self.failures {
            s.push_str(&format!(" after {n} failed pass(es)"));
        }
        s
    }
}

/// What identifies an image in a key: its digest, else its tag.
fn ident(r: &ImageRef) -> &str {
    r.digest.as_deref().or(r.tag.as_deref()).unwrap_or("")
}

/// An image as a person reads it: its tag, else a short digest.
pub fn shown(r: Option<&ImageRef>) -> String {
    let Some(r) = r else { return "-".into() };
    match (&r.tag, &r.digest) {
        (Some(t), _) => t.clone(),
        (None, Some(d)) => short_digest(d),
        (None, None) => "-".into(),
    }
}

/// `sha256:0123456789ab` from a digest, by characters.
pub fn short_digest(d: &str) -> String {
    let hex = d.split_once(':').map_or(d, |(_, h)| h);
    let head: String = hex.chars().take(12).collect();
    match d.split_once(':') {
        Some((algo, _)) => format!("{algo}:{head}"),
        None => head,
    }
}

/// `text` cut to [`MAX_REASON_CHARS`] characters.
fn bounded(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_REASON_CHARS).collect();
    if text.chars().nth(MAX_REASON_CHARS).is_some() {
        out.push('…');
    }
    out
}

fn change(e: &Entry) -> Change {
    Change {
        app: e.app.clone(),
        from: e.from.clone(),
        to: e.to.clone(),
        image: None,
    }
}

/// The events of one pass that succeeded. `previous` is the board of the
/// pass before it in this process; without one (the first pass after a
/// start) nothing is `promoted`, since what runs cannot be told from what
/// ran.
pub fn from_pass(
    config: &Config,
    report: &PassReport,
    previous: Option<&Board>,
    at: OffsetDateTime,
) -> Vec<Event> {
    let mut out = Vec::new();
    let plan = &report.plan;
    for (env, outcome) in &report.commits {
        let Outcome::Pushed { commit, .. } = outcome else {
            continue;
        };
        let mut e = Event::new(EventKind::Committed, at);
        e.env = Some(env.clone());
        e.commit = Some(commit.to_string());
        e.changes = plan
            .moves_in(env)
            .filter(|m| m.action == Action::Commit)
            .map(change)
            .collect();
        out.push(e);
    }
    for pr in &report.prs {
        let kind = match pr.what {
            "opened" => EventKind::PrOpened,
            "updated" => EventKind::PrUpdated,
            _ => continue,
        };
        let mut e = Event::new(kind, at);
        e.env = Some(pr.env.clone());
        e.pull_request = Some(PullRequest {
            number: Some(pr.number),
            url: pr.url.clone(),
        });
        e.changes = plan
            .moves_in(&pr.env)
            .filter(|m| m.action == Action::PullRequest && pr.apps.contains(&m.app))
            .map(change)
            .collect();
        out.push(e);
    }
    for r in &report.reverts {
        let mut e = Event::new(EventKind::Reverted, at);
        e.env = Some(r.env.clone());
        e.commit = Some(r.commit.clone());
        e.who = Some(crate::promotion::watch::execute::PINNED_BY.to_string());
        e.command = Some("auto-revert".into());
        e.reason = Some(bounded(&format!(
            "auto-revert: {}: {} (reverts {})",
            r.check, r.seen, r.reverts
        )));
        e.pull_request = r.pull_request.as_ref().map(|(number, url)| PullRequest {
            number: Some(*number),
            url: url.clone(),
        });
        e.changes = vec![Change {
            app: r.app.clone(),
            from: Some(r.from.clone()),
            to: Some(r.to.clone()),
            image: None,
        }];
        out.push(e);
    }
    if let Some(previous) = previous {
        out.extend(promoted(config, &report.board, previous, at));
    }
    out.extend(held(plan, at));
    out
}

/// Each app of a pull-request environment that runs another image than it
/// did in `previous`: a merged promotion (or a hand edit). A pinned cell is
/// left out: a pin or a revert put it there, and says so itself.
fn promoted(config: &Config, board: &Board, previous: &Board, at: OffsetDateTime) -> Vec<Event> {
    let mut out = Vec::new();
    for env in config
        .environments
        .iter()
        .filter(|e| e.mode == Mode::PullRequest)
    {
        for row in &board.rows {
            let Some(now) = board.cell(&row.app, &env.name) else {
                continue;
            };
            let Some(before) = previous.cell(&row.app, &env.name) else {
                continue;
            };
            let (Some(to), Some(from)) = (&now.running, &before.running) else {
                continue;
            };
            if ident(to) == ident(from) || now.pin.is_some() {
                continue;
            }
            let mut e = Event::new(EventKind::Promoted, at);
            e.env = Some(env.name.clone());
            e.changes = vec![Change {
                app: row.app.clone(),
                from: Some(from.clone()),
                to: Some(to.clone()),
                image: None,
            }];
            // The pull request that was open is the one merged, most likely.
            e.pull_request = before.pull_request.as_ref().map(|p| PullRequest {
                number: Some(p.number),
                url: p.url.clone(),
            });
            out.push(e);
        }
    }
    out
}

/// Every image the gates refuse, once per app and digest: those that hold
/// an entry (`held`) and those newer than what a moving entry moves to.
fn held(plan: &Plan, at: OffsetDateTime) -> Vec<Event> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for e in &plan.entries {
        let list: &[Held] = match &e.reason {
            Some(why) if why.code == "held" => &why.held,
            Some(_) => &[],
            None => &e.held,
        };
        for h in list {
            if !seen.insert((e.app.clone(), h.digest.clone())) {
                continue;
            }
            let mut ev = Event::new(EventKind::Held, at);
            ev.env = Some(e.env.clone());
            ev.changes = vec![Change {
                app: e.app.clone(),
                from: e.from.clone(),
                to: Some(ImageRef {
                    tag: Some(h.tag.clone()),
                    digest: Some(h.digest.clone()),
                }),
                image: None,
            }];
            let reasons: Vec<String> = h
                .reasons
                .iter()
                .map(|r| format!("{}: {}", r.code.as_str(), r.message))
                .collect();
            ev.reason = Some(bounded(&reasons.join("; ")));
            out.push(ev);
        }
    }
    out
}

/// The events of a comment's commands: each `pin`, `unpin` and `revert`
/// that pushed a commit (and a `promote` that committed). `commits` are
/// recent commits of the branch (their `Ferry-Image` trailer says what
/// was set); `previous` is the last pass's plan (what ran before).
pub fn from_commands(
    comment: &CommentEvent,
    outcomes: &[CommandOutcome],
    commits: &[CommitInfo],
    previous: Option<&Plan>,
    at: OffsetDateTime,
) -> Vec<Event> {
    let mut out = Vec::new();
    for o in outcomes {
        let (true, Some(commit)) = (o.ok, &o.commit) else {
            continue;
        };
        let Some(Ok(command)) = parse_line(&o.text) else {
            continue;
        };
        let (kind, reason) = match &command {
            Command::Pin { reason, .. } => (EventKind::Pinned, reason.clone()),
            Command::Unpin { .. } => (EventKind::Unpinned, None),
            Command::Revert { .. } => (EventKind::Reverted, None),
            Command::Promote { .. } => (EventKind::Committed, None),
            Command::Status { .. } | Command::Help => continue,
        };
        let (Some(app), Some(env)) = (command.app(), command.environment()) else {
            continue;
        };
        let was = previous
            .and_then(|p| p.entries.iter().find(|e| e.app == app && e.env == env))
            .and_then(|e| e.from.clone());
        let set = commits
            .iter()
            .find(|c| &c.id == commit)
            .and_then(|c| c.trailer_values("Ferry-Image").next())
            .and_then(|v| crate::image::ImageRef::parse(v).ok());
        let (to, image) = match set {
            Some(r) => (
                Some(ImageRef {
                    tag: r.tag.map(|t| t.to_string()),
                    digest: r.digest.map(|d| d.to_string()),
                }),
                Some(r.name.to_string()),
            ),
            None => (None, None),
        };
        let mut e = Event::new(kind, at);
        e.env = Some(env.to_string());
        e.commit = Some(commit.clone());
        e.who = Some(comment.login.clone());
        e.command = Some(bounded(&o.text));
        e.comment_url = Some(comment.comment_url.clone()).filter(|u| !u.is_empty());
        e.reason = reason.map(|r| bounded(&r));
        let (from, to) = match (kind, to) {
            // A pin without a tag freezes what runs.
            (EventKind::Pinned, None) => (None, was),
            (EventKind::Unpinned, _) => (None, was),
            (_, to) => (was, to),
        };
        e.changes = vec![Change {
            app: app.to_string(),
            from,
            to,
            image,
        }];
        out.push(e);
    }
    out
}

/// Failed passes in a row, and whether this streak was announced.
#[derive(Debug, Clone, Default)]
pub struct Streak {
    failures: u32,
    since: Option<OffsetDateTime>,
    announced: bool,
}

impl Streak {
    /// Failed passes since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A pass failed with `error`: `pass_failing` when this makes
    /// [`FAILING_AFTER`] in a row (once per streak).
    pub fn failed(&mut self, error: &str, at: OffsetDateTime) -> Option<Event> {
        self.failures = self.failures.saturating_add(1);
        let since = *self.since.get_or_insert(at);
        if self.announced || self.failures < FAILING_AFTER {
            return None;
        }
        self.announced = true;
        let mut e = Event::new(EventKind::PassFailing, at);
        e.failures = Some(self.failures);
        e.reason = Some(bounded(error));
        e.streak = Some(since.unix_timestamp_nanos());
        Some(e)
    }

    /// A pass succeeded: `pass_recovered` when it ends an announced streak.
    pub fn succeeded(&mut self, at: OffsetDateTime) -> Option<Event> {
        let streak = std::mem::take(self);
        if !streak.announced {
            return None;
        }
        let mut e = Event::new(EventKind::PassRecovered, at);
        e.failures = Some(streak.failures);
        e.streak = streak.since.map(|s| s.unix_timestamp_nanos());
        Some(e)
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
