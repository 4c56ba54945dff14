//! The HTTP server: GitHub webhook intake (ChatOps comments, merges and
//! pushes that call for a pass), and `/healthz`; metrics and the status
//! page come later.
//!
//! - [`signature`] checks `X-Hub-Signature-256` in constant time, before
//!   anything is parsed;
//! - [`webhook`] turns a verified delivery into an [`Intake`] (pure);
//! - [`dedup`] remembers recent delivery ids, so a redelivery is handled
//!   once;
//! - [`http`] is the axum listener tying them together: it answers at
//!   once and queues the work for the loop that owns the checkout.

pub mod dedup;
pub mod http;
pub mod signature;
pub mod webhook;

pub use http::{ServerState, StateError, router, serve};
pub use webhook::{Intake, Scope, classify};
