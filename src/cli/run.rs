//! `ferry run --config FILE [--once]`: the daemon. Passes are triggered by
//! SQS events, the cron poll and a periodic resync; a failing pass logs,
//! backs off and is retried, and never ends the process; SIGTERM lets the
//! pass in flight finish, then exits.

use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::Exit;
use super::context::{Context, load};
use crate::gitops::Outcome;
use crate::promotion::pass::PassReport;
use crate::registry::intake::{PollSchedule, SqsIntake};

/// Arguments of `ferry run`.
#[derive(clap::Args)]
pub struct Args {
    /// The ferry.yaml.
    #[arg(long)]
    config: PathBuf,
    /// Run one pass and exit (0 when it succeeded, also with nothing to do).
    #[arg(long)]
    once: bool,
    /// Seconds between resync passes when nothing else triggers one.
    #[arg(long, default_value_t = 300)]
    resync: u64,
}

/// Why a pass runs; SQS triggers carry an acknowledgement so the message is
/// deleted only after a pass that saw it succeeded.
enum Trigger {
    Event(oneshot::Sender<bool>),
    Poll,
    Resync,
}

/// Sets up `tracing`: text, or JSON with `FERRY_LOG_FORMAT=json`; the
/// level from `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("FERRY_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

fn log_report(r: &PassReport) {
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

/// Runs the command.
pub fn run(args: Args) -> Exit {
    init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferry: {e}");
            return Exit::Failure;
        }
    };
    rt.block_on(async move {
        let mut ctx = match load(&args.config, None).await {
            Ok(c) => c,
            Err((msg, input)) => {
                eprintln!("{msg}");
                return if input { Exit::BadInput } else { Exit::Failure };
            }
        };
        if args.once {
            return match pass(&mut ctx).await {
                Ok(()) => Exit::Ok,
                Err(()) => Exit::Failure,
            };
        }
        daemon(ctx, Duration::from_secs(args.resync.max(1))).await
    })
}

async fn pass(ctx: &mut Context) -> Result<(), ()> {
    match ctx.run_pass().await {
        Ok(r) => {
            log_report(&r);
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, "pass failed");
            Err(())
        }
    }
}

async fn daemon(mut ctx: Context, resync: Duration) -> Exit {
    let (tx, mut rx) = mpsc::channel::<Trigger>(64);
    spawn_sources(&ctx, tx.clone()).await;
    let ticker = tx.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(resync).await;
            if ticker.send(Trigger::Resync).await.is_err() {
                return;
            }
        }
    });
    let _ = tx.send(Trigger::Resync).await; // a first pass at start
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return Exit::Failure;
        }
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        let first = tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            t = rx.recv() => match t { Some(t) => t, None => break },
        };
        // Coalesce what queued up: one pass answers them all.
        let mut acks = Vec::new();
        let mut reasons = Vec::new();
        for t in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
            match t {
                Trigger::Event(ack) => {
                    acks.push(ack);
                    reasons.push("event");
                }
                Trigger::Poll => reasons.push("poll"),
                Trigger::Resync => reasons.push("resync"),
            }
        }
        tracing::info!(triggers = ?reasons, "pass starting");
        let ok = pass(&mut ctx).await.is_ok();
        for a in acks {
            let _ = a.send(ok);
        }
        if ok {
            backoff = Duration::from_secs(1);
        } else {
            tracing::warn!(retry_in = ?backoff, "backing off");
            let _ = tx.try_send(Trigger::Resync);
            tokio::select! {
                _ = term.recv() => break,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(300));
        }
    }
    tracing::info!("stopping after the pass in flight");
    Exit::Ok
}

/// Starts the SQS consumer and the cron poll when the config has them.
async fn spawn_sources(ctx: &Context, tx: mpsc::Sender<Trigger>) {
    let Some(reg) = ctx.config.registry.clone() else {
        return;
    };
    if let (Some(url), Some(region)) = (reg.sqs_queue_url.clone(), reg.region.clone()) {
        let intake = SqsIntake::connect(&region, reg.endpoint.as_deref(), &url).await;
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                // One batch, one pass: the triggers of every message in it
                // go into a single event, and the batch is deleted once the
                // pass that saw it succeeded.
                let res = intake
                    .receive_once(|triggers| {
                        let tx = tx.clone();
                        async move {
                            tracing::info!(count = triggers.len(), "events received");
                            let (ack, done) = oneshot::channel();
                            tx.send(Trigger::Event(ack))
                                .await
                                .map_err(|e| e.to_string())?;
                            match done.await {
                                Ok(true) => Ok(()),
                                _ => Err("the pass failed".to_string()),
                            }
                        }
                    })
                    .await;
                if let Err(e) = res {
                    tracing::warn!(error = %e, "SQS receive failed");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        });
    }
    if let Some(expr) = reg.poll.clone() {
        match expr.parse::<PollSchedule>() {
            Ok(schedule) => {
                tokio::spawn(async move {
                    loop {
                        let now = OffsetDateTime::now_utc();
                        let Some(next) = schedule.next_after(now) else {
                            return;
                        };
                        let wait = (next - now).try_into().unwrap_or(Duration::from_secs(60));
                        tokio::time::sleep(wait).await;
                        if tx.send(Trigger::Poll).await.is_err() {
                            return;
                        }
                    }
                });
            }
            Err(e) => tracing::error!(error = %e, "registry.poll"),
        }
    }
}
