//! The HTTP server: GitHub webhook intake (ChatOps comments, merges and
//! pushes that call for a pass), the status page (`GET /`), `/healthz`,
//! `/readyz` and `/metrics` (the [metrics](crate::metrics) the runner and
//! the webhook handler record).
//!
//! - [`signature`] checks `X-Hub-Signature-256` in constant time, before
//!   anything is parsed;
//! - [`webhook`] turns a verified delivery into an [`Intake`] (pure);
//! - [`dedup`] remembers recent delivery ids, so a redelivery is handled
//!   once;
//! - [`ready`] decides `/readyz` from the runner's status (pure);
//! - [`page`] renders the status page, and its JSON, from that status
//!   (pure);
//! - [`http`] is the axum listener tying them together: it answers at
//!   once and queues the work for the loop that owns the checkout;
//!   [`forward`] hands that queue to the [runner](crate::runner).

pub mod dedup;
pub mod http;
pub mod page;
pub mod ready;
pub mod signature;
pub mod webhook;

pub use http::{ServerState, StateError, router, serve};
pub use webhook::{Intake, Scope, classify};

use tokio::sync::mpsc;

use crate::runner::Trigger;

/// Hands what the server queued to the runner: a push or a closed pull
/// request runs a pass, a comment its commands. Ends when either side
/// closes.
pub async fn forward(mut intake: mpsc::Receiver<Intake>, runner: mpsc::Sender<Trigger>) {
    while let Some(i) = intake.recv().await {
        let t = match i {
            Intake::Pass { reason } => Trigger::Webhook(reason),
            Intake::Comment(c) => Trigger::Comment(Box::new(c), None),
            Intake::Ping | Intake::Ignored(_) => continue,
        };
        if runner.send(t).await.is_err() {
            return;
        }
    }
}
