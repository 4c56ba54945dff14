//! The runner: the one task that owns the GitOps checkout and runs every
//! pass and every comment command, one at a time.
//!
//! Everything that wants work done sends a [`Trigger`]: the SQS consumer
//! and the cron poll ([`sources`]), the periodic resync, a webhook (a push
//! or a closed pull request), a comment holding `/ferry` commands (with an
//! optional reply channel). The runner coalesces what queued up into one
//! pass, runs comment commands in the order they came, and publishes its
//! [`Status`] (the last pass, its outcome and plan) on a watch channel.
//!
//! git2 is blocking, so the runner lives on a blocking thread of its own
//! and never on the threads that serve HTTP: a slow fetch delays passes,
//! never a webhook's answer. Within a process nothing else touches the
//! checkout, so a command and a pass never race; across processes each
//! push stays a compare-and-swap.

pub mod context;
pub mod sources;
mod task;

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot, watch};

pub use context::{Context, LoadError};
pub use task::log_report;

use crate::chatops::{CommandOutcome, CommentEvent};
use crate::promotion::Plan;
use crate::promotion::board::Board;

/// How many triggers may wait for the runner; more are refused (the
/// server answers 503, the sources retry).
pub const QUEUE: usize = 1024;

/// Why the runner should do something.
#[derive(Debug)]
pub enum Trigger {
    /// An SQS batch: the sender learns whether the pass that saw it
    /// succeeded, and deletes the batch only then.
    Event(oneshot::Sender<bool>),
    /// The cron poll fired.
    Poll,
    /// The periodic resync, or the first pass at start.
    Resync,
    /// A webhook says the repository changed (a push to the base branch, a
    /// closed pull request); the text says which.
    Webhook(String),
    /// A comment that may hold `/ferry` commands; the runner handles them
    /// and sends what came of each on the channel, if there is one.
    Comment(
        Box<CommentEvent>,
        Option<oneshot::Sender<Vec<CommandOutcome>>>,
    ),
}

/// The outcome of the last pass.
#[derive(Debug, Clone)]
pub struct PassStatus {
    /// When it finished.
    pub finished_at: OffsetDateTime,
    /// How long it took.
    pub duration: Duration,
    /// Why it ran (`resync`, `event`, `webhook: push`, …), deduplicated.
    pub triggers: Vec<String>,
    /// `None` when it succeeded, else the error.
    pub error: Option<String>,
}

/// What the runner publishes after every pass and command.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// The last pass, if one ran.
    pub last_pass: Option<PassStatus>,
    /// When the last pass that succeeded finished.
    pub last_success: Option<OffsetDateTime>,
    /// The plan of the last pass that succeeded.
    pub plan: Option<Arc<Plan>>,
    /// What the last pass that succeeded saw and planned, per app ×
    /// environment (the status page).
    pub board: Option<Arc<Board>>,
    /// DORA figures per environment, recomputed from the repository's
    /// history now and then (the status page and `/metrics`).
    pub dora: Option<Arc<crate::dora::Report>>,
    /// Passes run, and how many failed.
    pub passes: u64,
    /// Failed passes.
    pub failures: u64,
    /// Failed passes since the last success.
    pub consecutive_failures: u32,
    /// Comment commands handled.
    pub commands: u64,
}

/// The handle on a running runner.
pub struct Runner {
    tx: mpsc::Sender<Trigger>,
    status: watch::Receiver<Status>,
    task: tokio::task::JoinHandle<()>,
}

impl Runner {
    /// Starts the runner on a blocking thread of the current Tokio runtime.
    /// It runs a first pass at once, then one per `resync` when nothing
    /// else triggers one, and stops when `shutdown` turns true, after the
    /// pass or command in flight.
    pub fn spawn(ctx: Context, resync: Duration, shutdown: watch::Receiver<bool>) -> Runner {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (status_tx, status) = watch::channel(Status::default());
        let handle = tokio::runtime::Handle::current();
        let ticker = tx.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            if ticker.send(Trigger::Resync).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(resync) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                if ticker.send(Trigger::Resync).await.is_err() {
                    return;
                }
            }
        });
        let task = tokio::task::spawn_blocking(move || {
            handle.block_on(task::run(ctx, rx, status_tx, shutdown));
        });
        Runner { tx, status, task }
    }

    /// Where triggers go.
    pub fn sender(&self) -> mpsc::Sender<Trigger> {
        self.tx.clone()
    }

    /// The runner's status, updated after every pass and command.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Waits until the runner has stopped.
    pub async fn join(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}
