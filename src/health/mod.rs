//! Whether an environment has *proven* an image: Argo CD shows it synced
//! to ferry's commit (or later) and healthy, running the promoted image;
//! the HTTP smoke checks pass; and all of that has held for the soak time.
//!
//! - [`ArgoClient`] reads an [`Application`] over Argo CD's REST API.
//! - [`assess`](assess()): pure checks of an `Application` against an
//!   [`Expectation`], each failure named by its [`Check`].
//! - [`smoke`](smoke()): configured HTTP requests, with retries and
//!   backoff.
//! - [`SoakTracker`]: how long the image has been proven without a break
//!   (kept in a file in the cache directory across restarts), and beside
//!   them the analyses' failure streaks.
//! - [`analysis`]: Prometheus checks (`environments[].analysis`), each
//!   evaluated to Pass, Fail or Inconclusive; only Pass proves.
//! - [`prove`]: all of it for one app in one environment.
//!
//! Nothing here passes by default: a missing field fails its check, and an
//! Argo CD that cannot be asked is a [`HealthError`] the caller turns into
//! a hold.

pub mod analysis;
mod argocd;
mod assess;
mod smoke;
mod soak;

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

pub use analysis::{AnalysisResult, AnalysisTracker, Outcome};
pub use argocd::{
    AppStatus, Application, ArgoClient, Condition, HealthStatus, Metadata, OperationState, Summary,
    SyncResult, SyncStatus,
};
pub use assess::{Check, Expectation, Failure, assess};
pub use smoke::{
    DEFAULT_RETRIES, DEFAULT_TIMEOUT, FIRST_BACKOFF, SmokeMode, SmokeResult, smoke, smoke_in,
};
pub use soak::{Soak, SoakKey, SoakTracker};

use crate::config::Smoke;

/// Argo CD could not be asked; the environment proves nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthError {
    /// Bad client configuration (URL, token variable).
    #[error("{message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// Transport failure: unreachable, refused, timed out, TLS.
    #[error("Argo CD {url}: {message}")]
    Http {
        /// The URL requested.
        url: String,
        /// What failed.
        message: String,
    },
    /// A status other than success (401 bad token, 403, 404 no such app).
    #[error("Argo CD {url}: HTTP {status}")]
    Status {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
    },
    /// A body that is not an Application.
    #[error("Argo CD {url}: not an Application: {message}")]
    Malformed {
        /// The URL requested.
        url: String,
        /// The parser's message.
        message: String,
    },
}

/// What to prove for one app in one environment.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The environment's `argocd_app`.
    pub argocd_app: &'a str,
    /// The commit and image expected.
    pub want: &'a Expectation,
    /// The environment's smoke checks.
    pub smoke: &'a [Smoke],
    /// The environment's soak time (zero when none).
    pub soak: Duration,
    /// The soak clock to advance.
    pub key: &'a SoakKey,
}

/// The evidence for one app in one environment at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proof {
    /// Argo CD checks that failed; empty when all passed.
    pub failures: Vec<Failure>,
    /// Smoke check results; empty when the Argo CD checks failed (the
    /// checks are then not run) or none are configured.
    pub smoke: Vec<SmokeResult>,
    /// Soak time left: `None` while not proven, `Some(ZERO)` when done.
    pub soak_remaining: Option<Duration>,
    /// Since when the image has been proven without a break.
    #[serde(with = "time::serde::rfc3339::option")]
    pub proven_since: Option<OffsetDateTime>,
    /// The revision Argo CD synced, for display (multi-source: every
    /// source's revision, comma-separated).
    pub revision: Option<String>,
    /// `status.health.status`.
    pub health: Option<String>,
    /// Analysis results; empty when the Argo CD checks failed (they are
    /// then not evaluated) or none are configured.
    pub analysis: Vec<AnalysisResult>,
}

impl Proof {
    /// Every check passed and the soak is done.
    pub fn proven(&self) -> bool {
        self.failures.is_empty()
            && self.smoke.iter().all(|s| s.ok)
            && self.analysis.iter().all(AnalysisResult::passed)
            && self.soak_remaining == Some(Duration::ZERO)
    }
}

/// Asks Argo CD about `target.argocd_app`, assesses it, runs the smoke
/// checks when Argo CD shows no failure (smoke against an environment that
/// does not run the image proves nothing), and advances the soak clock at
/// `now`. An Argo CD that cannot be asked is an error: hold, never pass.
pub async fn prove(
    client: &ArgoClient,
    tracker: &SoakTracker,
    target: Target<'_>,
    is_descendant: impl Fn(&str) -> bool,
    now: OffsetDateTime,
) -> Result<Proof, HealthError> {
    let app = client.application(target.argocd_app).await?;
    let failures = assess(&app, target.want, is_descendant);
    let smoke = if failures.is_empty() {
        smoke(target.smoke).await
    } else {
        Vec::new()
    };
    Ok(conclude(&app, failures, smoke, tracker, target, now))
}

/// The pure end of [`prove`], for callers that fetch the Application and
/// run the smoke checks once per environment and share them between apps:
/// advances the soak clock of `target.key` at `now` and assembles the
/// evidence. `smoke` should be empty when `failures` is not.
pub fn conclude(
    app: &Application,
    failures: Vec<Failure>,
    smoke: Vec<SmokeResult>,
    tracker: &SoakTracker,
    target: Target<'_>,
    now: OffsetDateTime,
) -> Proof {
    conclude_with(app, failures, smoke, Vec::new(), tracker, target, now)
}

/// [`conclude`] with the analyses evaluated for `target` (see
/// [`analysis::evaluate`]): any that did not pass stops the soak clock,
/// as a failed smoke check does. `analysis` should be empty when
/// `failures` is not.
pub fn conclude_with(
    app: &Application,
    failures: Vec<Failure>,
    smoke: Vec<SmokeResult>,
    analysis: Vec<AnalysisResult>,
    tracker: &SoakTracker,
    target: Target<'_>,
    now: OffsetDateTime,
) -> Proof {
    let proven = failures.is_empty()
        && smoke.iter().all(|s| s.ok)
        && analysis.iter().all(AnalysisResult::passed);
    let soak = tracker.observe(
        target.key,
        proven,
        app.status.health.last_transition_time,
        now,
    );
    let revisions = app.revisions();
    Proof {
        failures,
        smoke,
        soak_remaining: soak.remaining(target.soak, now),
        proven_since: soak.proven_since,
        revision: (!revisions.is_empty()).then(|| revisions.join(", ")),
        health: app.status.health.status.clone(),
        analysis,
    }
}
