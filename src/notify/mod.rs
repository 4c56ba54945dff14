//! Notifications: what a pass or a command did (a commit, a pull request,
//! a hold, a pin, a revert, failing passes), sent to Slack and signed
//! webhooks, each event once.
//!
//! - [`events`] (pure) derives [`Event`]s from a pass's report and the
//!   board of the pass before, from a comment's command outcomes, and from
//!   a streak of failed passes; each has a stable dedup key.
//! - [`slack`] and [`webhook`] (pure) build the payloads: a Block Kit
//!   message, or signed JSON.
//! - [`sinks`] reads the sinks' URLs and secrets from the environment
//!   variables `notify:` names; [`links`] makes the commit, Argo CD and
//!   ECR links; [`enrich`] reads what the checkout adds (`newName`, the
//!   commit of a merge).
//! - [`dispatch`]: the [`Notifier`] the runner calls after each pass and
//!   each comment: dedup ([`dedup`], a bounded window kept beside the
//!   checkout), bounded queues and one delivery task per sink, retried
//!   with backoff, never in the runner's way.

pub mod dedup;
pub mod dispatch;
pub mod enrich;
pub mod events;
pub mod links;
pub mod sinks;
pub mod slack;
pub mod webhook;

pub use dispatch::{Notifier, Options, state_file};
pub use events::{Event, EventKind};
pub use sinks::{Endpoint, Secret, SinkError, Target, targets};
