//! Prometheus metrics: what passes, commits, pull requests, gates, webhooks
//! and commands did, and what each environment runs, for `GET /metrics`.
//!
//! One [`Metrics`] per process, shared by the runner (which records each
//! pass and command) and the server (each webhook delivery, and the page
//! a scrape reads). Every label takes its values from a closed set (the
//! config's apps and environments, ferry's own codes) or is mapped into
//! one ([`delivery_event`]): nothing a remote sends becomes a new series.
//! The exposition is the `prometheus` crate's text format, checked by
//! `promtool check metrics` in the tests.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use time::OffsetDateTime;

use crate::chatops::{CommandOutcome, parse_comment};
use crate::dora;
use crate::gitops::Outcome;
use crate::promotion::board::Board;
use crate::promotion::pass::PassReport;
use crate::promotion::{Action, Plan};

/// The `Content-Type` of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Pass durations, in seconds: a pass takes from tens of milliseconds
/// (nothing changed) to minutes (a slow forge at 1,000 apps).
const PASS_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Verdicts remembered so that each is counted once per digest.
const MAX_VERDICTS_SEEN: usize = 100_000;

/// The GitHub events ferry knows; any other `X-GitHub-Event` is counted
/// as `other`.
const EVENTS: &[&str] = &["ping", "push", "pull_request", "issue_comment"];

/// Every metric ferry exports.
pub struct Metrics {
    registry: Registry,
    passes: IntCounterVec,
    pass_duration: Histogram,
    last_success: Gauge,
    commits: IntCounterVec,
    reverts: IntCounterVec,
    watched: IntGaugeVec,
    pull_requests: IntCounterVec,
    gate_verdicts: IntCounterVec,
    held_images: IntGaugeVec,
    deliveries: IntCounterVec,
    commands: IntCounterVec,
    image_info: IntGaugeVec,
    rate_limit: IntGaugeVec,
    dora_deployments: IntGaugeVec,
    dora_per_day: GaugeVec,
    dora_band: IntGaugeVec,
    dora_lead_p50: GaugeVec,
    dora_lead_p90: GaugeVec,
    dora_failure_rate: GaugeVec,
    dora_restore: GaugeVec,
    dora_window: Gauge,
    /// (digest, gate, code) already counted in `gate_verdicts`.
    verdicts_seen: Mutex<HashSet<(String, &'static str, &'static str)>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let m = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric definition");
    r.register(Box::new(m.clone()))
        .expect("each metric is registered once");
    m
}

fn int_gauges(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let m = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid metric definition");
    r.register(Box::new(m.clone()))
        .expect("each metric is registered once");
    m
}

fn gauges(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let m = GaugeVec::new(Opts::new(name, help), labels).expect("a valid metric definition");
    r.register(Box::new(m.clone()))
        .expect("each metric is registered once");
    m
}

fn gauge(r: &Registry, name: &str, help: &str) -> Gauge {
    let m = Gauge::new(name, help).expect("a valid metric definition");
    r.register(Box::new(m.clone()))
        .expect("each metric is registered once");
    m
}

impl Metrics {
    /// Every metric, at zero; `ferry_build_info` set.
    pub fn new() -> Metrics {
        // The definitions below are constants: building them cannot fail
        // on input, so a failure is a bug caught by the first test.
        let r = Registry::new();
        let build = int_gauges(
            &r,
            "ferry_build_info",
            "The running ferry's version; always 1.",
            &["version"],
        );
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let pass_duration = Histogram::with_opts(
            HistogramOpts::new(
                "ferry_pass_duration_seconds",
                "How long a reconciliation pass took, failed or not.",
            )
            .buckets(PASS_BUCKETS.to_vec()),
        )
        .expect("a valid metric definition");
        r.register(Box::new(pass_duration.clone()))
            .expect("each metric is registered once");
        // No labels, but a vector: the series appears only once GitHub
        // has said, so a fresh process or another forge is not "0 left".
        let rate_limit = int_gauges(
            &r,
            "ferry_github_rate_limit_remaining",
            "Requests left in GitHub's current rate-limit window, as its last response said.",
            &[],
        );
        let m = Metrics {
            passes: counter(
                &r,
                "ferry_passes_total",
                "Reconciliation passes run, by result (ok, failed).",
                &["result"],
            ),
            pass_duration,
            last_success: gauge(
                &r,
                "ferry_last_successful_pass_timestamp_seconds",
                "When the last successful pass finished, in seconds since the Unix epoch.",
            ),
            commits: counter(
                &r,
                "ferry_commits_total",
                "Commits ferry pushed to the GitOps repository, by environment (passes and commands).",
                &["env"],
            ),
            reverts: counter(
                &r,
                "ferry_auto_reverts_total",
                "Automatic reverts ferry committed, by environment and the check that failed (argocd, smoke, analysis).",
                &["env", "check"],
            ),
            watched: int_gauges(
                &r,
                "ferry_watched_deployments",
                "Deployments ferry watches for an automatic revert, by environment and state (watching, reverting, reverted), at the last pass.",
                &["env", "state"],
            ),
            pull_requests: counter(
                &r,
                "ferry_pull_requests_total",
                "Promotion pull requests acted on, by environment and action (opened, updated, closed).",
                &["env", "action"],
            ),
            gate_verdicts: counter(
                &r,
                "ferry_gate_verdicts_total",
                "Gate verdicts on distinct digests, by gate and code: each reason a candidate is held, and gate=\"all\" code=\"passed\" for each image a plan moves; a verdict is counted once per digest, not once per pass.",
                &["gate", "code"],
            ),
            held_images: int_gauges(
                &r,
                "ferry_held_images",
                "Candidates newer than what runs that the gates hold, per app and environment, at the last pass.",
                &["app", "env"],
            ),
            deliveries: counter(
                &r,
                "ferry_webhook_deliveries_total",
                "Webhook deliveries answered, by event and result.",
                &["event", "result"],
            ),
            commands: counter(
                &r,
                "ferry_commands_total",
                "ChatOps commands handled, by command and result (ok, failed).",
                &["command", "result"],
            ),
            image_info: int_gauges(
                &r,
                "ferry_environment_image_info",
                "What each environment's overlay runs, at the last pass; always 1.",
                &["app", "env", "tag", "pinned"],
            ),
            rate_limit,
            dora_deployments: int_gauges(
                &r,
                "ferry_dora_deployments",
                "Deployments in the DORA window, per environment.",
                &["env"],
            ),
            dora_per_day: gauges(
                &r,
                "ferry_dora_deployments_per_day",
                "Deployments per day over the DORA window, per environment.",
                &["env"],
            ),
            dora_band: int_gauges(
                &r,
                "ferry_dora_deployment_frequency_band",
                "The deployment-frequency band (daily, weekly, monthly, yearly) per environment; 1 for the current band.",
                &["env", "band"],
            ),
            // Two gauges, not a `quantile` label: Prometheus keeps that
            // label for summaries.
            dora_lead_p50: gauges(
                &r,
                "ferry_dora_lead_time_p50_seconds",
                "Median lead time for changes over the DORA window, per environment.",
                &["env"],
            ),
            dora_lead_p90: gauges(
                &r,
                "ferry_dora_lead_time_p90_seconds",
                "90th percentile lead time for changes over the DORA window, per environment.",
                &["env"],
            ),
            dora_failure_rate: gauges(
                &r,
                "ferry_dora_change_failure_ratio",
                "Deployments later reverted, as a fraction of deployments, per environment.",
                &["env"],
            ),
            dora_restore: gauges(
                &r,
                "ferry_dora_time_to_restore_seconds",
                "Median time from a failed deployment to its revert, per environment.",
                &["env"],
            ),
            dora_window: gauge(
                &r,
                "ferry_dora_window_seconds",
                "The period the DORA figures cover.",
            ),
            verdicts_seen: Mutex::new(HashSet::new()),
            registry: r,
        };
        for result in ["ok", "failed"] {
            m.passes.with_label_values(&[result]);
        }
        m
    }

    /// Records a pass: its result, how long it took, and from its report
    /// the commits, pull requests, verdicts and what each environment runs.
    pub fn observe_pass(
        &self,
        report: Option<&PassReport>,
        duration: Duration,
        finished_at: OffsetDateTime,
    ) {
        self.pass_duration.observe(duration.as_secs_f64());
        let Some(report) = report else {
            self.passes.with_label_values(&["failed"]).inc();
            return;
        };
        self.passes.with_label_values(&["ok"]).inc();
        self.last_success
            .set(finished_at.unix_timestamp_nanos() as f64 / 1e9);
        self.observe_commits(report);
        for pr in &report.prs {
            self.pull_requests
                .with_label_values(&[pr.env.as_str(), pr.what])
                .inc();
        }
        {
            let mut seen = self
                .verdicts_seen
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if seen.len() > MAX_VERDICTS_SEEN {
                // Bounded memory; forgetting only means a verdict on an
                // old digest may be counted again.
                seen.clear();
            }
            for (digest, gate, code) in verdicts(&report.plan) {
                if seen.insert((digest.to_string(), gate, code)) {
                    self.gate_verdicts.with_label_values(&[gate, code]).inc();
                }
            }
        }
        self.held_images.reset();
        for e in &report.plan.entries {
            self.held_images
                .with_label_values(&[e.app.as_str(), e.env.as_str()])
                .set(held_of(e).len() as i64);
        }
        self.set_images(&report.board);
        self.set_watched(&report.plan);
    }

    /// Counts the commits a pass pushed (also of a pass that failed after
    /// pushing them).
    pub fn observe_commits(&self, report: &PassReport) {
        for (env, outcome) in &report.commits {
            if matches!(outcome, Outcome::Pushed { .. }) {
                self.commits.with_label_values(&[env]).inc();
            }
        }
        for r in &report.reverts {
            self.commits.with_label_values(&[r.env.as_str()]).inc();
            // The check is one of three names ferry sets, never free text.
            let check = match r.check.as_str() {
                c @ ("argocd" | "smoke" | "analysis") => c,
                _ => "other",
            };
            self.reverts
                .with_label_values(&[r.env.as_str(), check])
                .inc();
        }
    }

    fn set_watched(&self, plan: &crate::promotion::Plan) {
        use crate::promotion::watch::WatchState;
        self.watched.reset();
        for w in &plan.watch {
            let state = match w.state {
                WatchState::Watching { .. } => "watching",
                WatchState::Reverting { .. } => "reverting",
                WatchState::Reverted { .. } => "reverted",
            };
            self.watched
                .with_label_values(&[w.env.as_str(), state])
                .inc();
        }
    }

    fn set_images(&self, board: &Board) {
        // A cell's tag changes between passes: the old series goes.
        self.image_info.reset();
        for row in &board.rows {
            for (env, cell) in board.envs.iter().zip(&row.cells) {
                let Some(cell) = cell else { continue };
                let tag = cell.running.as_ref().and_then(|r| {
                    r.tag
                        .as_deref()
                        .or(r.digest.as_deref().map(|d| d.get(..19).unwrap_or(d)))
                });
                let pinned = if cell.pin.is_some() { "true" } else { "false" };
                self.image_info
                    .with_label_values(&[row.app.as_str(), env, tag.unwrap_or(""), pinned])
                    .set(1);
            }
        }
    }

    /// Records the commands of one comment: per command its verb and
    /// result, and a commit it pushed under its environment.
    pub fn observe_commands(&self, outcomes: &[CommandOutcome]) {
        for o in outcomes {
            let parsed = parse_comment(&o.text).into_iter().next();
            let command = parsed.as_ref().and_then(|p| p.result.as_ref().ok());
            let verb = command.map_or("invalid", |c| c.verb().as_str());
            let result = if o.ok { "ok" } else { "failed" };
            self.commands.with_label_values(&[verb, result]).inc();
            if o.commit.is_some()
                && let Some(env) = command.and_then(|c| c.environment())
            {
                self.commits.with_label_values(&[env]).inc();
            }
        }
    }

    /// Records one webhook delivery: its `X-GitHub-Event` (mapped into a
    /// closed set) and how it was answered.
    pub fn observe_delivery(&self, event: Option<&str>, result: &'static str) {
        self.deliveries
            .with_label_values(&[delivery_event(event), result])
            .inc();
    }

    /// Records the rate-limit window of the forge's last response.
    pub fn set_rate_limit_remaining(&self, remaining: u64) {
        self.rate_limit
            .with_label_values::<&str>(&[])
            .set(i64::try_from(remaining).unwrap_or(i64::MAX));
    }

    /// Replaces the DORA gauges with `report`'s figures.
    pub fn set_dora(&self, report: &dora::Report) {
        for m in [
            &self.dora_per_day,
            &self.dora_lead_p50,
            &self.dora_lead_p90,
            &self.dora_failure_rate,
            &self.dora_restore,
        ] {
            m.reset();
        }
        self.dora_deployments.reset();
        self.dora_band.reset();
        self.dora_window
            .set((report.until - report.since).as_seconds_f64().max(0.0));
        for e in &report.envs {
            let env = e.env.as_str();
            self.dora_deployments
                .with_label_values(&[env])
                .set(i64::try_from(e.deployments).unwrap_or(i64::MAX));
            self.dora_per_day.with_label_values(&[env]).set(e.per_day);
            for band in [
                dora::Band::Daily,
                dora::Band::Weekly,
                dora::Band::Monthly,
                dora::Band::Yearly,
            ] {
                self.dora_band
                    .with_label_values(&[env, band.as_str()])
                    .set(i64::from(band == e.band));
            }
            for (m, v) in [
                (&self.dora_lead_p50, e.lead_time_median),
                (&self.dora_lead_p90, e.lead_time_p90),
            ] {
                if let Some(v) = v {
                    m.with_label_values(&[env]).set(v.as_secs_f64());
                }
            }
            if let Some(r) = e.change_failure_rate {
                self.dora_failure_rate.with_label_values(&[env]).set(r);
            }
            if let Some(t) = e.time_to_restore_median {
                self.dora_restore
                    .with_label_values(&[env])
                    .set(t.as_secs_f64());
            }
        }
    }

    /// Passes run so far: (succeeded, failed).
    pub fn passes(&self) -> (u64, u64) {
        (
            self.passes.with_label_values(&["ok"]).get(),
            self.passes.with_label_values(&["failed"]).get(),
        )
    }

    /// The exposition, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding text into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The `event` label of a delivery: one of the events ferry knows,
/// `other`, or `none` without the header.
pub fn delivery_event(event: Option<&str>) -> &'static str {
    match event {
        None => "none",
        Some(e) => EVENTS.iter().find(|k| **k == e).copied().unwrap_or("other"),
    }
}

/// Every verdict the plan holds, as (digest, gate, code): a reason for
/// each held candidate, and `("all", "passed")` for each image it moves.
fn verdicts(plan: &Plan) -> Vec<(&str, &'static str, &'static str)> {
    let mut out = Vec::new();
    for e in &plan.entries {
        if e.action != Action::None
            && let Some(digest) = e.to.as_ref().and_then(|t| t.digest.as_deref())
        {
            out.push((digest, "all", "passed"));
        }
        for h in held_of(e) {
            for r in &h.reasons {
                let gate = match r.gate {
                    crate::gates::Gate::Scan => "scan",
                    crate::gates::Gate::Signature => "signature",
                };
                out.push((h.digest.as_str(), gate, r.code.as_str()));
            }
        }
    }
    out
}

/// The candidates an entry says are held: a held entry lists them in its
/// reason, a moving one beside its target (as `promotion::holds` reads
/// them).
fn held_of(e: &crate::promotion::Entry) -> &[crate::promotion::plan::Held] {
    match &e.reason {
        Some(why) if !why.held.is_empty() => &why.held,
        _ => &e.held,
    }
}

#[cfg(test)]
mod tests;
