//! The HTTP listener (axum): `POST /webhooks/github`, the status page
//! `GET /` (HTML, or JSON with `?output=json`; see [`page`](super::page)),
//! `GET /healthz`, `GET /readyz` and `GET /metrics`.
//!
//! A delivery is answered at once and handled later: the handler checks
//! it, classifies it and hands the [`Intake`] to a bounded queue whose
//! consumer does the work, so GitHub's 10-second timeout never depends on
//! git, the registry or the forge. In order, each step refusing with its
//! own status:
//!
//! 1. size: a declared `Content-Length` over the limit is refused before a
//!    byte of the body is read, a chunked body as soon as it passes the
//!    limit (413);
//! 2. `X-Hub-Signature-256` over the raw bytes, before anything is parsed
//!    (401, with the same short text whatever was wrong);
//! 3. `X-GitHub-Event`, `X-GitHub-Delivery` and a JSON body (400);
//! 4. a delivery id seen recently is answered `duplicate` (200) and not
//!    handled again;
//! 5. classified: ping and ignored deliveries are answered 200, the rest
//!    queued and answered 202, or 503 when the queue is full (or its
//!    consumer has stopped, as at shutdown), so GitHub can redeliver later.
//!    A body sent slower than [`BODY_TIMEOUT`] gets 408.
//!
//! Neither the body nor the secret is ever logged. The status page and
//! `/readyz` read the runner's last published status and never wait for it.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Value, json};
use tokio::sync::mpsc::{Sender, error::TrySendError};

use super::dedup::Deliveries;
use super::page::{self, Output, Query, View};
use super::signature::{self, SIGNATURE_HEADER};
use super::webhook::{Intake, Scope, classify};
use crate::metrics::Metrics;

/// The path GitHub delivers to.
pub const WEBHOOK_PATH: &str = "/webhooks/github";

/// Longest time a client may take to send a body; GitHub sends at once.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest `X-GitHub-Delivery` id kept (GitHub's are 36-character GUIDs):
/// bounds what the duplicate set can hold.
const MAX_DELIVERY_ID: usize = 128;

/// Why a [`ServerState`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The webhook secret is empty: every delivery would verify under it.
    #[error("the webhook secret is empty: ferry does not serve webhooks unsigned")]
    EmptySecret,
    /// The body limit is zero.
    #[error("the body limit must be at least one byte")]
    ZeroLimit,
}

/// What every request reads: the secret, the limits, what ferry listens
/// to, the queue intakes go to, and the recent delivery ids.
pub struct ServerState {
    secret: Vec<u8>,
    max_body: usize,
    scope: Scope,
    sink: Sender<Intake>,
    deliveries: Mutex<Deliveries>,
    runner: Option<RunnerFeed>,
    metrics: Option<Arc<Metrics>>,
}

/// What `/readyz` and the status page read: the runner's status, and how
/// old its last successful pass may be.
struct RunnerFeed {
    status: tokio::sync::watch::Receiver<crate::runner::Status>,
    max_age: Duration,
}

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState")
            .field("secret", &"<redacted>")
            .field("max_body", &self.max_body)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl ServerState {
    /// State for a server verifying deliveries under `secret`, refusing
    /// bodies over `max_body` bytes, and queueing intakes into `sink`.
    pub fn new(
        secret: Vec<u8>,
        max_body: usize,
        scope: Scope,
        sink: Sender<Intake>,
    ) -> Result<Self, StateError> {
        if secret.is_empty() {
            return Err(StateError::EmptySecret);
        }
        if max_body == 0 {
            return Err(StateError::ZeroLimit);
        }
        Ok(ServerState {
            secret,
            max_body,
            scope,
            sink,
            deliveries: Mutex::new(Deliveries::default()),
            runner: None,
            metrics: None,
        })
    }
}

impl ServerState {
    /// `/readyz` and the status page answer from the runner's `status`:
    /// ready while the runner runs and its last successful pass is at most
    /// `max_age` old. Without it, `/readyz` is ready once the server serves
    /// and the page says no pass has run.
    pub fn with_readiness(
        mut self,
        status: tokio::sync::watch::Receiver<crate::runner::Status>,
        max_age: Duration,
    ) -> Self {
        self.runner = Some(RunnerFeed { status, max_age });
        self
    }

    /// `GET /metrics` serves `metrics`, and every delivery is counted in
    /// it. Without it, `/metrics` is 404.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }
}

async fn metrics(State(state): State<Arc<ServerState>>) -> Response {
    let Some(m) = &state.metrics else {
        return text(StatusCode::NOT_FOUND, "metrics are not enabled\n");
    };
    let mut r = (StatusCode::OK, m.render()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    r
}

async fn readyz(State(state): State<Arc<ServerState>>) -> Response {
    let Some(r) = &state.runner else {
        return text(StatusCode::OK, "ready\n");
    };
    // The runner owns the sender: closed means the runner is gone.
    let alive = r.status.has_changed().is_ok();
    let status = r.status.borrow().clone();
    match super::ready::readiness(&status, alive, time::OffsetDateTime::now_utc(), r.max_age) {
        Ok(msg) => (StatusCode::OK, format!("{msg}\n")).into_response(),
        Err(msg) => (StatusCode::SERVICE_UNAVAILABLE, format!("{msg}\n")).into_response(),
    }
}

/// `GET /`: the status page, or its JSON with `?output=json`; 400 for
/// another `output`. Never cached: it is the state of the last pass.
async fn status_page(State(state): State<Arc<ServerState>>, uri: Uri) -> Response {
    let query = match Query::parse(uri.query()) {
        Ok(q) => q,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    // A clone of the Arcs, so the runner never waits on a page being made.
    let (status, alive) = match &state.runner {
        Some(r) => (r.status.borrow().clone(), r.status.has_changed().is_ok()),
        None => (crate::runner::Status::default(), true),
    };
    let view = View::new(
        &status,
        alive,
        query.app.as_deref(),
        time::OffsetDateTime::now_utc(),
    );
    let (body, content_type) = match query.output {
        Output::Html => (page::render_html(&view), "text/html; charset=utf-8"),
        Output::Json => match view.to_json() {
            Ok(json) => (json, "application/json"),
            Err(e) => {
                tracing::warn!(error = %e, "status page: JSON not made");
                return text(StatusCode::INTERNAL_SERVER_ERROR, "status not available\n");
            }
        },
    };
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // PR links go to GitHub: they need not learn ferry's address.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if query.output == Output::Html
        && let Ok(csp) = HeaderValue::from_str(&page::CONTENT_SECURITY_POLICY)
    {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    r
}

/// The routes: `GET /` (the status page), `POST /webhooks/github`,
/// `GET /healthz`, `GET /readyz`, `GET /metrics`; 404 elsewhere and 405
/// for another method.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route(WEBHOOK_PATH, post(webhook))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Arc::new(state))
}

/// Serves [`router`] on `listener` until `shutdown` completes, then lets
/// requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (status, body).into_response()
}

fn answer(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// 413; the connection is closed, as the rest of the body is not read.
fn too_large() -> Response {
    let mut r = text(StatusCode::PAYLOAD_TOO_LARGE, "payload too large\n");
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// A header's value as text, when present, non-empty and visible ASCII.
fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The body, up to `max` bytes, or the response refusing it.
async fn read_body(body: Body, max: usize) -> Result<axum::body::Bytes, Response> {
    // hyper knows a declared Content-Length: refuse before reading.
    if body.size_hint().lower() > max as u64 {
        return Err(too_large());
    }
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, max).collect()).await {
        Err(_) => Err(text(
            StatusCode::REQUEST_TIMEOUT,
            "body not received in time\n",
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(_)) => Err(text(StatusCode::BAD_REQUEST, "body could not be read\n")),
    }
}

/// The result a delivery is counted under, when its status alone does not
/// say (the 200s: pong, ignored, duplicate).
#[derive(Clone, Copy)]
struct Counted(&'static str);

fn counted(mut r: Response, result: &'static str) -> Response {
    r.extensions_mut().insert(Counted(result));
    r
}

async fn webhook(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    let event = header_text(request.headers(), "x-github-event").map(str::to_string);
    let r = handle_delivery(&state, request).await;
    if let Some(m) = &state.metrics {
        let result = r.extensions().get::<Counted>().map_or_else(
            || match r.status() {
                StatusCode::ACCEPTED => "accepted",
                StatusCode::UNAUTHORIZED => "unauthorized",
                StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                StatusCode::REQUEST_TIMEOUT => "timeout",
                StatusCode::BAD_REQUEST => "bad_request",
                StatusCode::SERVICE_UNAVAILABLE => "busy",
                _ => "other",
            },
            |c| c.0,
        );
        m.observe_delivery(event.as_deref(), result);
    }
    r
}

async fn handle_delivery(state: &ServerState, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let event = header_text(headers, "x-github-event");
    let delivery = header_text(headers, "x-github-delivery");
    let body = match read_body(body, state.max_body).await {
        Ok(b) => b,
        Err(refusal) => {
            tracing::info!(
                event,
                delivery,
                status = refusal.status().as_u16(),
                "webhook body refused"
            );
            return refusal;
        }
    };
    let signature = headers
        .get(SIGNATURE_HEADER)
        .map(|v| v.to_str().unwrap_or_default());
    if let Err(e) = signature::verify(&state.secret, &body, signature) {
        // The kind goes to the log for the operator, not to the caller.
        tracing::warn!(event, delivery, reason = %e, "webhook signature refused");
        return text(StatusCode::UNAUTHORIZED, "unauthorized\n");
    }
    let (Some(event), Some(delivery)) = (event, delivery) else {
        tracing::info!(event, delivery, "webhook without event or delivery header");
        return text(
            StatusCode::BAD_REQUEST,
            "X-GitHub-Event and X-GitHub-Delivery are required\n",
        );
    };
    if delivery.len() > MAX_DELIVERY_ID {
        tracing::info!(event, "webhook delivery id too long");
        return text(StatusCode::BAD_REQUEST, "X-GitHub-Delivery is too long\n");
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        tracing::info!(event, delivery, "webhook body is not JSON");
        return text(StatusCode::BAD_REQUEST, "body is not JSON\n");
    };
    let intake = classify(event, &payload, &state.scope);
    // One lock around check, send and record: two copies of a delivery
    // arriving together are handled once, and one refused with 503 is not
    // recorded, so its redelivery is handled.
    let mut seen = state
        .deliveries
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if seen.contains(delivery) {
        tracing::debug!(event, delivery, "webhook redelivered: already handled");
        return counted(
            answer(StatusCode::OK, json!({"status": "duplicate"})),
            "duplicate",
        );
    }
    let reply = match intake {
        Intake::Ping => {
            tracing::info!(event, delivery, "webhook ping");
            counted(answer(StatusCode::OK, json!({"status": "pong"})), "ping")
        }
        Intake::Ignored(reason) => {
            tracing::debug!(event, delivery, %reason, "webhook ignored");
            counted(
                answer(
                    StatusCode::OK,
                    json!({"status": "ignored", "reason": reason}),
                ),
                "ignored",
            )
        }
        work => {
            let what = match &work {
                Intake::Comment(c) => format!("comment {} on #{}", c.comment_id, c.number),
                Intake::Pass { reason } => reason.clone(),
                Intake::Ping | Intake::Ignored(_) => String::new(),
            };
            match state.sink.try_send(work) {
                Ok(()) => {
                    tracing::info!(event, delivery, %what, "webhook accepted");
                    answer(StatusCode::ACCEPTED, json!({"status": "accepted"}))
                }
                Err(e) => {
                    let why = match e {
                        TrySendError::Full(_) => "queue full",
                        TrySendError::Closed(_) => "not handling deliveries",
                    };
                    tracing::warn!(event, delivery, %what, why, "webhook refused for now");
                    return answer(
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!({"status": "busy", "reason": why}),
                    );
                }
            }
        }
    };
    seen.first_time(delivery);
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            repository: "a/b".into(),
            base_branch: "main".into(),
            identity: "ferry".into(),
        }
    }

    #[test]
    fn no_state_without_a_secret_or_a_limit() {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        assert_eq!(
            ServerState::new(Vec::new(), 10, scope(), tx.clone()).unwrap_err(),
            StateError::EmptySecret
        );
        assert_eq!(
            ServerState::new(b"s".to_vec(), 0, scope(), tx.clone()).unwrap_err(),
            StateError::ZeroLimit
        );
        let state = ServerState::new(b"hunter2".to_vec(), 10, scope(), tx).unwrap();
        assert!(!format!("{state:?}").contains("hunter2"));
    }
}
