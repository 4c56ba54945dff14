//! The [`Notifier`]: the runner hands it what a pass or a comment did, on
//! its own thread and without waiting. It derives the events, drops those
//! already sent, builds each sink's payload and queues it on that sink's
//! bounded channel (`try_send`: a full queue drops the message with a
//! warning, it never blocks the runner). One task per sink POSTs what is
//! queued, with a timeout, and retries with exponential backoff (honouring
//! a 429's `Retry-After`). A sink that fails, refuses or hangs costs the
//! runner nothing; its failures are logged by sink name, never by URL.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::dedup::Seen;
use super::events::{self, Event, EventKind, Streak};
use super::sinks::{Endpoint, Secret, Target};
use super::{enrich, slack, webhook};
use crate::chatops::{CommandOutcome, CommentEvent};
use crate::config::Config;
use crate::gitops::Workspace;
use crate::promotion::Plan;
use crate::promotion::board::Board;
use crate::promotion::pass::PassReport;

/// How the sinks deliver.
#[derive(Debug, Clone)]
pub struct Options {
    /// Messages one sink may have waiting; more are dropped.
    pub queue: usize,
    /// Per request.
    pub timeout: Duration,
    /// Attempts per message, the first included.
    pub attempts: u32,
    /// The wait after the first failed attempt; it doubles after each.
    pub backoff: Duration,
    /// The longest a 429's `Retry-After` is honoured.
    pub max_retry_after: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            queue: 256,
            timeout: Duration::from_secs(10),
            attempts: 5,
            backoff: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// The dedup file of the checkout at `checkout`: beside it, like the soak
/// clocks (`<checkout>.notify.json`).
pub fn state_file(checkout: &Path) -> PathBuf {
    let mut name = checkout.file_name().unwrap_or_default().to_os_string();
    name.push(".notify.json");
    checkout.with_file_name(name)
}

/// One message for one sink.
struct Delivery {
    key: String,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

struct Sink {
    target: Target,
    tx: Mutex<Option<mpsc::Sender<Delivery>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// What the notifier remembers between passes.
struct State {
    seen: Seen,
    previous: Option<Board>,
    streak: Streak,
}

struct Inner {
    sinks: Vec<Sink>,
    state: Mutex<State>,
    /// Messages queued or being delivered, over every sink.
    pending: Arc<AtomicUsize>,
}

/// Sends notifications; cheap to clone (the clones share sinks and
/// state). [`Notifier::default`] sends nothing.
#[derive(Clone, Default)]
pub struct Notifier {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sinks: Vec<&str> = self
            .inner
            .iter()
            .flat_map(|i| i.sinks.iter().map(|s| s.target.name.as_str()))
            .collect();
        f.debug_struct("Notifier").field("sinks", &sinks).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Notifier {
    /// Starts one delivery task per target on the current Tokio runtime;
    /// sent keys are kept in `state_file` when given. No targets: a
    /// notifier that sends nothing.
    pub fn start(targets: Vec<Target>, state_file: Option<PathBuf>, options: Options) -> Notifier {
        if targets.is_empty() {
            return Notifier::default();
        }
        let client = match reqwest::Client::builder()
            .timeout(options.timeout)
            // A redirect would carry a signed body somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e.without_url(), "notifications disabled: no HTTP client");
                return Notifier::default();
            }
        };
        let pending = Arc::new(AtomicUsize::new(0));
        let sinks = targets
            .into_iter()
            .map(|target| {
                let (tx, rx) = mpsc::channel(options.queue.max(1));
                let task = tokio::spawn(run_sink(
                    target.name.clone(),
                    target.endpoint.clone(),
                    client.clone(),
                    rx,
                    options.clone(),
                    pending.clone(),
                ));
                Sink {
                    target,
                    tx: Mutex::new(Some(tx)),
                    task: Mutex::new(Some(task)),
                }
            })
            .collect();
        let seen = match state_file {
            Some(f) => Seen::with_file(f),
            None => Seen::in_memory(),
        };
        Notifier {
            inner: Some(Arc::new(Inner {
                sinks,
                state: Mutex::new(State {
                    seen,
                    previous: None,
                    streak: Streak::default(),
                }),
                pending,
            })),
        }
    }

    /// Whether any sink is configured.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// After a pass: what it did if it succeeded (`Ok`), or its error.
    pub fn after_pass(&self, config: &Config, ws: &Workspace, result: Result<&PassReport, String>) {
        match result {
            Ok(report) => self.record(config, ws, Some(report), None),
            Err(error) => self.record(config, ws, None, Some(error)),
        }
    }

    /// After a pass that failed once it had pushed commits: those are
    /// announced (the next pass finds nothing left to commit), and the
    /// failure counts towards the failing streak.
    pub fn after_partial_pass(
        &self,
        config: &Config,
        ws: &Workspace,
        done: &PassReport,
        error: String,
    ) {
        self.record(config, ws, Some(done), Some(error));
    }

    fn record(
        &self,
        config: &Config,
        ws: &Workspace,
        done: Option<&PassReport>,
        error: Option<String>,
    ) {
        let Some(inner) = &self.inner else { return };
        let now = OffsetDateTime::now_utc();
        let mut state = lock(&inner.state);
        let mut found = Vec::new();
        if let Some(report) = done {
            found = events::from_pass(config, report, state.previous.as_ref(), now);
            state.previous = Some(report.board.clone());
        }
        match error {
            None => found.extend(state.streak.succeeded(now)),
            Some(error) => found.extend(state.streak.failed(&error, now)),
        }
        // Keys that do not depend on the checkout are checked first, so a
        // hold seen on every pass costs no file read.
        found.retain(|e| e.kind == EventKind::Promoted || state.seen.insert(e.key()));
        enrich::promoted_commits(config, ws, &mut found);
        found.retain(|e| e.kind != EventKind::Promoted || state.seen.insert(e.key()));
        enrich::image_names(config, ws.root(), &mut found);
        inner.queue(config, &mut state, found);
    }

    /// After a comment's commands ran.
    pub fn after_commands(
        &self,
        config: &Config,
        ws: &Workspace,
        comment: &CommentEvent,
        outcomes: &[CommandOutcome],
        last_plan: Option<&Plan>,
    ) {
        let Some(inner) = &self.inner else { return };
        if !outcomes.iter().any(|o| o.ok && o.commit.is_some()) {
            return;
        }
        let commits = enrich::recent_commits(ws);
        let mut found = events::from_commands(
            comment,
            outcomes,
            &commits,
            last_plan,
            OffsetDateTime::now_utc(),
        );
        let mut state = lock(&inner.state);
        found.retain(|e| state.seen.insert(e.key()));
        enrich::image_names(config, ws.root(), &mut found);
        inner.queue(config, &mut state, found);
    }

    /// Messages queued or in delivery, over every sink.
    pub fn pending(&self) -> usize {
        self.inner
            .as_ref()
            .map_or(0, |i| i.pending.load(Ordering::SeqCst))
    }

    /// Waits until nothing is queued or in delivery, at most `limit`;
    /// true when everything went out (or was given up).
    pub async fn idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.pending() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Stops taking events and gives the sinks at most `grace` to deliver
    /// what is queued; what is left then is dropped with a warning.
    pub async fn shutdown(&self, grace: Duration) {
        let Some(inner) = &self.inner else { return };
        for s in &inner.sinks {
            lock(&s.tx).take();
        }
        let deadline = tokio::time::Instant::now() + grace;
        for s in &inner.sinks {
            let Some(task) = lock(&s.task).take() else {
                continue;
            };
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                abort.abort();
                tracing::warn!(sink = %s.target.name, "notifications still queued at shutdown were dropped");
            }
        }
    }
}

impl Inner {
    /// Builds each wanting sink's message for every event and queues it.
    fn queue(&self, config: &Config, state: &mut State, found: Vec<Event>) {
        if found.is_empty() {
            return;
        }
        state.seen.save();
        for e in &found {
            let key = e.key();
            tracing::info!(event = %e.kind, id = %key, "notification: {}", e.summary());
            for s in self.sinks.iter().filter(|s| s.target.wants(e.kind)) {
                let (body, headers) = match &s.target.endpoint {
                    Endpoint::Slack { .. } => (
                        serde_json::to_vec(&slack::message(config, e)).unwrap_or_default(),
                        Vec::new(),
                    ),
                    Endpoint::Webhook { secret, .. } => {
                        webhook::delivery(config, e, secret.expose().as_bytes())
                    }
                };
                let tx = lock(&s.tx).clone();
                let Some(tx) = tx else { continue };
                self.pending.fetch_add(1, Ordering::SeqCst);
                let delivery = Delivery {
                    key: key.clone(),
                    body,
                    headers,
                };
                if let Err(err) = tx.try_send(delivery) {
                    self.pending.fetch_sub(1, Ordering::SeqCst);
                    let why = match err {
                        mpsc::error::TrySendError::Full(_) => "its queue is full",
                        mpsc::error::TrySendError::Closed(_) => "it has stopped",
                    };
                    tracing::warn!(sink = %s.target.name, id = %key, "notification dropped: {why}");
                }
            }
        }
    }
}

/// One sink's task: deliver what is queued, in order, until the channel
/// closes.
async fn run_sink(
    name: String,
    endpoint: Endpoint,
    client: reqwest::Client,
    mut rx: mpsc::Receiver<Delivery>,
    options: Options,
    pending: Arc<AtomicUsize>,
) {
    let url: Secret = match &endpoint {
        Endpoint::Slack { url } | Endpoint::Webhook { url, .. } => url.clone(),
    };
    while let Some(d) = rx.recv().await {
        deliver(&client, &name, &url, &d, &options).await;
        pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `Retry-After` in seconds (Slack sends seconds; an HTTP date is not
/// honoured), bounded by `max`.
fn retry_after(resp: &reqwest::Response, max: Duration) -> Option<Duration> {
    let secs: u64 = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(max))
}

/// Posts one message, retrying a network error, a timeout, a 408, a 429
/// or a 5xx; any other answer is final.
async fn deliver(
    client: &reqwest::Client,
    name: &str,
    url: &Secret,
    d: &Delivery,
    options: &Options,
) {
    let mut wait = options.backoff;
    let attempts = options.attempts.max(1);
    for attempt in 1..=attempts {
        let mut req = client
            .post(url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(d.body.clone());
        for (k, v) in &d.headers {
            req = req.header(*k, v.as_str());
        }
        let pause = match req.send().await {
            Ok(resp) if resp.status().is_success() => {
                tracing::debug!(sink = name, id = %d.key, attempt, "notification sent");
                return;
            }
            Ok(resp) => {
                let status = resp.status();
                let again = status.is_server_error()
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT;
                tracing::warn!(sink = name, id = %d.key, attempt, status = status.as_u16(), "notification refused");
                if !again {
                    return;
                }
                if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                    retry_after(&resp, options.max_retry_after)
                } else {
                    None
                }
            }
            Err(e) => {
                tracing::warn!(sink = name, id = %d.key, attempt, error = %e.without_url(), "notification failed");
                None
            }
        };
        if attempt == attempts {
            break;
        }
        tokio::time::sleep(pause.unwrap_or(wait)).await;
        wait = wait.saturating_mul(2);
    }
    tracing::warn!(sink = name, id = %d.key, attempts, "notification given up");
}
