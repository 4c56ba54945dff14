//! The runner's loop: take what queued up, run its comment commands in
//! order, then one pass for every pass trigger among it; back off after a
//! failed pass without holding up commands.

use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot, watch};

use super::{Context, PassStatus, Status, Trigger};
use crate::chatops::{CommandOutcome, CommentEvent};
use crate::gitops::Outcome;
use crate::promotion::pass::PassReport;

/// The longest wait between retries of a failing pass.
const BACKOFF_CAP: Duration = Duration::from_secs(300);

/// A comment to handle, and who waits for what came of it.
type CommentJob = (
    Box<CommentEvent>,
    Option<oneshot::Sender<Vec<CommandOutcome>>>,
);

/// What one turn of the loop collected.
#[derive(Default)]
struct Batch {
    acks: Vec<oneshot::Sender<bool>>,
    reasons: Vec<String>,
    comments: Vec<CommentJob>,
}

impl Batch {
    fn add(&mut self, t: Trigger) {
        let reason = match t {
            Trigger::Event(ack) => {
                self.acks.push(ack);
                "event".to_string()
            }
            Trigger::Poll => "poll".into(),
            Trigger::Resync => "resync".into(),
            Trigger::Webhook(what) => format!("webhook: {what}"),
            Trigger::Comment(event, reply) => {
                self.comments.push((event, reply));
                return;
            }
        };
        if !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
    }
}

pub(super) async fn run(
    mut ctx: Context,
    mut rx: mpsc::Receiver<Trigger>,
    status: watch::Sender<Status>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_secs(1);
    // After a failed pass: when to try again. Pass triggers that arrive
    // before then wait for it; commands do not.
    let mut retry_at: Option<Instant> = None;
    // A failure the automatic revert is timing: look again when it would
    // be due, not only at the next resync. Other triggers do not wait.
    let mut look_at: Option<Instant> = None;
    let mut waiting = Batch::default();
    loop {
        let mut woke_to_look = false;
        let first = tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            t = rx.recv() => match t { Some(t) => Some(t), None => break },
            _ = sleep_until(retry_at), if retry_at.is_some() => None,
            _ = sleep_until(look_at), if look_at.is_some() => {
                woke_to_look = true;
                None
            }
        };
        let mut batch = std::mem::take(&mut waiting);
        match first {
            Some(t) => batch.add(t),
            None if woke_to_look => {
                look_at = None;
                batch.reasons.push("watch".into());
            }
            None => {
                retry_at = None;
                batch.reasons.push("retry".into());
            }
        }
        while let Ok(t) = rx.try_recv() {
            batch.add(t);
        }
        for (event, reply) in std::mem::take(&mut batch.comments) {
            let outcomes = ctx.handle_comment(&event).await;
            status.send_modify(|s| s.commands += outcomes.len() as u64);
            if let Some(reply) = reply {
                let _ = reply.send(outcomes);
            }
        }
        if batch.reasons.is_empty() {
            continue;
        }
        if retry_at.is_some() {
            waiting = batch;
            continue;
        }
        tracing::info!(triggers = ?batch.reasons, "pass starting");
        let started = Instant::now();
        let result = ctx.run_pass().await;
        let ok = result.is_ok();
        if let Ok(r) = &result {
            look_at = crate::promotion::watch::next_look(&r.plan.watch).map(|d| Instant::now() + d);
        }
        let board = result.as_ref().ok().map(|r| Arc::new(r.board.clone()));
        let error = match &result {
            Ok(r) => {
                log_report(r);
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "pass failed");
                Some(e.to_string())
            }
        };
        let finished_at = OffsetDateTime::now_utc();
        status.send_modify(|s| {
            s.passes += 1;
            if ok {
                s.consecutive_failures = 0;
                s.last_success = Some(finished_at);
                s.plan = ctx.last_plan.clone().map(Arc::new);
                s.board = board;
            } else {
                s.failures += 1;
                s.consecutive_failures += 1;
            }
            s.last_pass = Some(PassStatus {
                finished_at,
                duration: started.elapsed(),
                triggers: batch.reasons.clone(),
                error,
            });
        });
        for a in batch.acks {
            let _ = a.send(ok);
        }
        // After the pass's status is out: the first report at start reads
        // the whole period (seconds at 1,000 apps), later ones only what
        // is new.
        if ok && let Some(d) = ctx.refresh_dora() {
            status.send_modify(|s| s.dora = Some(d));
        }
        if ok {
            backoff = Duration::from_secs(1);
        } else {
            tracing::warn!(retry_in = ?backoff, "backing off");
            retry_at = Some(Instant::now() + backoff);
            backoff = (backoff * 2).min(BACKOFF_CAP);
        }
    }
    // Comments already acknowledged to GitHub are handled before stopping
    // (GitHub does not send them again); whoever waits for a pass learns
    // that none comes.
    for a in waiting.acks {
        let _ = a.send(false);
    }
    for (event, reply) in waiting.comments {
        let outcomes = ctx.handle_comment(&event).await;
        if let Some(reply) = reply {
            let _ = reply.send(outcomes);
        }
    }
    while let Ok(t) = rx.try_recv() {
        match t {
            Trigger::Comment(event, reply) => {
                let outcomes = ctx.handle_comment(&event).await;
                if let Some(reply) = reply {
                    let _ = reply.send(outcomes);
                }
            }
            Trigger::Event(ack) => {
                let _ = ack.send(false);
            }
            Trigger::Poll | Trigger::Resync | Trigger::Webhook(_) => {}
        }
    }
    tracing::info!("runner stopped");
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Logs what a pass did: each push, each pull request, and a summary.
pub fn log_report(r: &PassReport) {
    let moving = r
        .plan
        .entries
        .iter()
        .filter(|e| e.action != crate::promotion::Action::None)
        .count();
    for (env, outcome) in &r.commits {
        match outcome {
            Outcome::Pushed { commit, attempts } => {
                tracing::info!(env, %commit, attempts, "pushed")
            }
            Outcome::NothingToDo => tracing::info!(env, "already done by another writer"),
        }
    }
    for pr in &r.prs {
        tracing::info!(
            env = pr.env,
            apps = pr.apps.join(","),
            number = pr.number,
            url = pr.url,
            "pull request {}",
            pr.what
        );
    }
    tracing::info!(entries = r.plan.entries.len(), moving, "pass complete");
}
