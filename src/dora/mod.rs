//! DORA figures from the GitOps repository alone: deployments, lead time,
//! change failure rate and time to restore, per environment.
//!
//! The definitions are in the README ("`ferry report`") and in
//! [`figures`]. [`history`] reads the image changes from the checkout's
//! first-parent history, [`figures`] computes the figures from them (pure),
//! and [`from_workspace`] does both, for `ferry report`, `/metrics` and the
//! status page.

pub mod figures;
pub mod history;

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::config::Config;
use crate::gitops::{GitError, Workspace};

/// How far before the period the history is read, beyond the
/// [`figures::RESTORE_WINDOW_SECS`]: an image deployed in the period may
/// have first appeared in the first environment this long before it
/// (30 days). An image older than that there gets no lead time.
pub const LEAD_LOOKBACK: Duration = Duration::from_secs(30 * 86_400);

/// The most first-parent commits one report reads: about three years of a
/// busy repository (100 commits an hour). The report says when it stopped
/// there.
pub const MAX_COMMITS: usize = 2_000_000;

/// Why no report could be made.
#[derive(Debug, thiserror::Error)]
pub enum DoraError {
    /// The period is empty or reversed.
    #[error("the period is empty: {since} is not before {until}")]
    EmptyPeriod {
        /// Start asked for.
        since: OffsetDateTime,
        /// End asked for.
        until: OffsetDateTime,
    },
    /// The history could not be read.
    #[error("cannot read the history: {0}")]
    Git(#[from] GitError),
}

/// A report and what reading it met.
#[derive(Debug, Clone)]
pub struct Reading {
    /// The figures.
    pub report: Report,
    /// First-parent commits read.
    pub commits: usize,
    /// True when the walk stopped at [`MAX_COMMITS`] before reaching the
    /// start of the period and its lookback: older deployments are missing.
    pub capped: bool,
    /// Overlays that could not be located in the checkout (app/env: why).
    pub skipped: Vec<String>,
}

/// The DORA figures of every environment of `config` over `[since,
/// until)`, read from the checkout `ws` (synced by the caller) alone:
/// no registry, no forge. Cost: one first-parent walk from HEAD back to
/// `since` minus [`LEAD_LOOKBACK`] and the restore window, one tree diff per
/// commit, one parse per version of an overlay file.
pub fn from_workspace(
    config: &Config,
    ws: &Workspace,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<Report, DoraError> {
    read(config, ws, since, until).map(|r| r.report)
}

/// [`from_workspace`], with what reading met (commits read, a cap reached,
/// overlays skipped).
pub fn read(
    config: &Config,
    ws: &Workspace,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<Reading, DoraError> {
    let stop = stop_before(since, until)?;
    let h = history::read(config, ws, stop, MAX_COMMITS)?;
    Ok(reading(config, &h, since, until))
}

/// [`from_workspace`] for a caller that reports again and again (the
/// runner, every few minutes): the first call reads the period's history,
/// the next ones only the commits since the HEAD the previous one read.
#[derive(Debug, Default)]
pub struct Reporter {
    reader: history::Reader,
}

impl Reporter {
    /// The figures of every environment over `[since, until)`, as
    /// [`from_workspace`] gives them.
    pub fn report(
        &mut self,
        config: &Config,
        ws: &Workspace,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Reading, DoraError> {
        let stop = stop_before(since, until)?;
        let h = self.reader.read(config, ws, stop, MAX_COMMITS)?;
        Ok(reading(config, h, since, until))
    }
}

/// Where the walk may stop for a period: its start, less the lead-time
/// lookback and the restore window.
fn stop_before(since: OffsetDateTime, until: OffsetDateTime) -> Result<i64, DoraError> {
    if until <= since {
        return Err(DoraError::EmptyPeriod { since, until });
    }
    let lookback = LEAD_LOOKBACK.as_secs() as i64 + figures::RESTORE_WINDOW_SECS;
    Ok(since.unix_timestamp().saturating_sub(lookback))
}

fn reading(
    config: &Config,
    h: &history::History,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> Reading {
    if h.capped {
        tracing::warn!(
            commits = h.commits,
            "DORA report: the history walk stopped at its cap; older deployments are left out"
        );
    }
    let envs = figures::EnvSpec::from_config(config);
    Reading {
        report: figures::compute(&envs, &h.changes, since, until),
        commits: h.commits,
        capped: h.capped,
        skipped: h.skipped.clone(),
    }
}

/// Deployment frequency, banded as Four Keys does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// On demand: deployments on most days.
    Daily,
    /// Between once a day and once a week.
    Weekly,
    /// Between once a week and once a month.
    Monthly,
    /// Less often than once a month.
    Yearly,
}

impl Band {
    /// The band's name as shown and exported (`daily`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Daily => "daily",
            Band::Weekly => "weekly",
            Band::Monthly => "monthly",
            Band::Yearly => "yearly",
        }
    }
}

/// The DORA figures of one environment over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvFigures {
    /// Environment name.
    pub env: String,
    /// Deployments in the period.
    pub deployments: u64,
    /// Deployments per day over the period.
    pub per_day: f64,
    /// Deployment frequency band.
    pub band: Band,
    /// Median lead time (push or first appearance → deployment).
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub lead_time_median: Option<Duration>,
    /// 90th percentile lead time.
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub lead_time_p90: Option<Duration>,
    /// Deployments later reverted.
    pub failures: u64,
    /// `failures / deployments`; `None` without deployments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_failure_rate: Option<f64>,
    /// Median time from a failed deployment to its revert.
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub time_to_restore_median: Option<Duration>,
}

/// The figures of every environment over one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Start of the period.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// End of the period.
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    /// Per environment, in config order.
    pub envs: Vec<EnvFigures>,
}

/// Durations as whole seconds in JSON.
mod opt_secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(d.as_secs()),
            None => s.serialize_none(),
        }
    }
}
