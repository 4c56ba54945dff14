//! DORA figures from the GitOps repository alone: deployments, lead time,
//! change failure rate and time to restore, per environment.
//!
//! The definitions are in the README ("DORA report"). This module holds the
//! figures' types; reading the history and computing them come with
//! `ferry report`.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

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
