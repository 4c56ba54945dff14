//! `ferry run --config FILE [--once]`: the daemon. It loads the context,
//! hands it to the library's runner (which owns the checkout and runs
//! passes and comment commands one at a time), starts the trigger sources
//! and, with `server:` in the config, the webhook server. SIGTERM stops
//! the server and lets the pass or command in flight finish.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::Exit;
use crate::forge::Forge;
use crate::runner::context::load;
use crate::runner::{Context, QUEUE, Runner, log_report, sources};
use crate::server::http::{ServerState, serve};
use crate::server::webhook::{Intake, Scope};

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
            Err(e) => {
                eprintln!("{e}");
                return if e.input {
                    Exit::BadInput
                } else {
                    Exit::Failure
                };
            }
        };
        // A Prometheus token that is not there would hold every promotion
        // behind an inconclusive analysis: a deployment mistake, said now.
        let missing = crate::health::analysis::missing_tokens(&ctx.config, |name| {
            std::env::var_os(name).is_some_and(|v| !v.is_empty())
        });
        if !missing.is_empty() {
            for (field, var) in missing {
                eprintln!("ferry: {field}: environment variable {var} is not set");
            }
            return Exit::BadInput;
        }
        if let Err(e) = start_notifier(&mut ctx) {
            eprintln!("ferry: {e}");
            return Exit::BadInput;
        }
        let notifier = ctx.notifier.clone();
        let exit = if args.once {
            match pass(&mut ctx).await {
                Ok(()) => Exit::Ok,
                Err(()) => Exit::Failure,
            }
        } else {
            daemon(ctx, Duration::from_secs(args.resync.max(1))).await
        };
        notifier.shutdown(NOTIFY_GRACE).await;
        exit
    })
}

/// How long queued notifications may take to go out when ferry stops.
const NOTIFY_GRACE: Duration = Duration::from_secs(5);

/// Starts the `notify:` sinks, their URLs and secrets read from the
/// environment now: a variable unset is an error naming it (never a
/// value), before any pass runs.
fn start_notifier(ctx: &mut Context) -> Result<(), crate::notify::SinkError> {
    if ctx.config.notify.is_empty() {
        return Ok(());
    }
    let targets = crate::notify::targets(&ctx.config.notify, |name| std::env::var_os(name))?;
    let file = crate::notify::state_file(ctx.workspace.root());
    ctx.notifier = crate::notify::Notifier::start(targets, Some(file), Default::default());
    Ok(())
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

/// The webhook server, bound before the runner starts so that a bad
/// address or a missing secret stops `ferry run` at once.
struct Listening {
    listener: tokio::net::TcpListener,
    state: ServerState,
    intake: mpsc::Receiver<Intake>,
}

/// Binds the server `server:` asks for, if any. An error says whether it
/// was the input's fault (the secret is not set).
async fn bind(ctx: &Context) -> Result<Option<Listening>, (String, Exit)> {
    let Some(server) = &ctx.config.server else {
        return Ok(None);
    };
    let secret = server
        .webhook_secret()
        .map_err(|e| (e.to_string(), Exit::BadInput))?;
    let scope = Scope {
        repository: ctx
            .config
            .forge
            .as_ref()
            .and_then(|f| f.repository.clone())
            .unwrap_or_default(),
        base_branch: ctx.workspace.branch().to_string(),
        identity: ctx
            .forge
            .as_ref()
            .map(|f| f.identity().to_string())
            .unwrap_or_default(),
    };
    let max_body = usize::try_from(server.max_body_bytes()).unwrap_or(usize::MAX);
    let (tx, intake) = mpsc::channel(QUEUE);
    let state = ServerState::new(secret, max_body, scope, tx)
        .map_err(|e| (format!("server: {e}"), Exit::BadInput))?;
    let listener = tokio::net::TcpListener::bind(&server.listen)
        .await
        .map_err(|e| {
            (
                format!("server.listen: cannot listen on {}: {e}", server.listen),
                Exit::Failure,
            )
        })?;
    Ok(Some(Listening {
        listener,
        state,
        intake,
    }))
}

async fn daemon(ctx: Context, resync: Duration) -> Exit {
    let listening = match bind(&ctx).await {
        Ok(l) => l,
        Err((e, exit)) => {
            eprintln!("ferry: {e}");
            return exit;
        }
    };
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return Exit::Failure;
        }
    };
    let config = ctx.config.clone();
    let metrics = ctx.metrics.clone();
    let (stop, stopped) = watch::channel(false);
    let runner = Runner::spawn(ctx, resync, stopped.clone());
    sources::spawn(&config, runner.sender()).await;
    let server = listening.map(|mut l| {
        l.state = l
            .state
            .with_readiness(runner.status(), resync.saturating_mul(3))
            .with_metrics(metrics);
        if let Ok(addr) = l.listener.local_addr() {
            tracing::info!(%addr, "serving /webhooks/github, /healthz, /readyz and /metrics");
        }
        tokio::spawn(crate::server::forward(l.intake, runner.sender()));
        let mut stopped = stopped.clone();
        tokio::spawn(serve(l.listener, l.state, async move {
            let _ = stopped.wait_for(|s| *s).await;
        }))
    });
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("stopping after the pass in flight");
    let _ = stop.send(true);
    if let Some(server) = server
        && let Ok(Err(e)) = server.await
    {
        tracing::warn!(error = %e, "server");
    }
    runner.join().await;
    Exit::Ok
}
