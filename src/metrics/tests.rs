use std::time::Duration;

use time::macros::datetime;

use super::*;
use crate::gates::{Code, Gate, Reason};
use crate::promotion::board::{Cell, Next, PinView, Row};
use crate::promotion::plan::{Held, ImageRef, Why};
use crate::promotion::promote::PrAction;
use crate::promotion::{Action, Entry};

fn entry(app: &str, env: &str, action: Action, reason: Option<Why>, held: Vec<Held>) -> Entry {
    Entry {
        app: app.into(),
        env: env.into(),
        action,
        from: None,
        to: (action != Action::None).then(|| ImageRef {
            tag: Some("t".into()),
            digest: Some("sha256:a".into()),
        }),
        reason,
        held,
        scan: None,
        signature_key: None,
        pushed_at: None,
    }
}

fn held(digest: &str, codes: &[Code]) -> Held {
    Held {
        tag: "t".into(),
        digest: digest.into(),
        reasons: codes
            .iter()
            .map(|c| Reason {
                gate: if *c == Code::Unsigned {
                    Gate::Signature
                } else {
                    Gate::Scan
                },
                code: *c,
                message: String::new(),
            })
            .collect(),
    }
}

fn cell(tag: &str, pinned: bool) -> Option<Cell> {
    Some(Cell {
        running: Some(ImageRef {
            tag: Some(tag.into()),
            digest: None,
        }),
        error: None,
        pin: pinned.then(|| PinView {
            by: Some("oncall".into()),
            reason: None,
            since: None,
        }),
        pull_request: None,
        next: Next {
            action: Action::None,
            to: None,
            code: Some("up_to_date"),
            message: String::new(),
        },
    })
}

fn report(api_dev: &str) -> PassReport {
    let plan = Plan {
        entries: vec![
            entry(
                "api",
                "dev",
                Action::Commit,
                None,
                vec![held("sha256:b", &[Code::ScanBudget, Code::Unsigned])],
            ),
            entry(
                "web",
                "dev",
                Action::None,
                Some(Why {
                    code: "held",
                    message: String::new(),
                    held: vec![held("sha256:c", &[Code::ScanBudget])],
                }),
                Vec::new(),
            ),
            entry("api", "prod", Action::PullRequest, None, Vec::new()),
        ],
        pull_requests: Vec::new(),
        watch: Vec::new(),
    };
    PassReport {
        plan,
        commits: vec![
            (
                "dev".into(),
                Outcome::Pushed {
                    commit: git2::Oid::zero(),
                    attempts: 1,
                },
            ),
            ("qa".into(), Outcome::NothingToDo),
        ],
        prs: vec![PrAction {
            env: "prod".into(),
            apps: vec!["api".into()],
            number: 3,
            url: "https://example.invalid/pull/3".into(),
            what: "opened",
        }],
        board: Board {
            taken_at: datetime!(2026-12-02 00:00 UTC),
            envs: vec!["dev".into(), "prod".into()],
            rows: vec![
                Row {
                    app: "api".into(),
                    cells: vec![cell(api_dev, false), cell("v1", true)],
                },
                Row {
                    app: "web".into(),
                    cells: vec![cell("v2", false), None],
                },
            ],
        },
        reverts: Vec::new(),
    }
}

/// The value of the sample whose name and labels are exactly `series`
/// (`name{a="b",c="d"}`, as rendered).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn a_pass_moves_its_counters_and_replaces_the_image_series() {
    let m = Metrics::new();
    let before = m.render();
    assert_eq!(
        value(&before, r#"ferry_passes_total{result="ok"}"#),
        Some(0.0)
    );
    assert_eq!(
        value(
            &before,
            &format!(
                r#"ferry_build_info{{version="{}"}}"#,
                env!("CARGO_PKG_VERSION")
            )
        ),
        Some(1.0)
    );
    let at = datetime!(2026-12-02 01:00 UTC);
    m.observe_pass(Some(&report("sha-1")), Duration::from_millis(300), at);
    m.observe_pass(None, Duration::from_secs(2), at);
    m.observe_pass(Some(&report("sha-2")), Duration::from_millis(300), at);
    let t = m.render();
    assert_eq!(value(&t, r#"ferry_passes_total{result="ok"}"#), Some(2.0));
    assert_eq!(
        value(&t, r#"ferry_passes_total{result="failed"}"#),
        Some(1.0)
    );
    assert_eq!(value(&t, "ferry_pass_duration_seconds_count"), Some(3.0));
    assert_eq!(
        value(&t, r#"ferry_pass_duration_seconds_bucket{le="0.5"}"#),
        Some(2.0)
    );
    assert_eq!(
        value(&t, "ferry_last_successful_pass_timestamp_seconds"),
        Some(at.unix_timestamp() as f64)
    );
    // Only a pushed commit counts.
    assert_eq!(value(&t, r#"ferry_commits_total{env="dev"}"#), Some(2.0));
    assert_eq!(value(&t, r#"ferry_commits_total{env="qa"}"#), None);
    assert_eq!(
        value(
            &t,
            r#"ferry_pull_requests_total{action="opened",env="prod"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &t,
            r#"ferry_gate_verdicts_total{code="scan_budget",gate="scan"}"#
        ),
        Some(2.0),
        "two digests over budget, each counted once over two passes"
    );
    assert_eq!(
        value(
            &t,
            r#"ferry_gate_verdicts_total{code="unsigned",gate="signature"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&t, r#"ferry_gate_verdicts_total{code="passed",gate="all"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&t, r#"ferry_held_images{app="web",env="dev"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&t, r#"ferry_held_images{app="api",env="prod"}"#),
        Some(0.0)
    );
    // What runs now, and not what ran before.
    assert_eq!(
        value(
            &t,
            r#"ferry_environment_image_info{app="api",env="dev",pinned="false",tag="sha-2"}"#
        ),
        Some(1.0)
    );
    assert!(!t.contains(r#"tag="sha-1""#), "{t}");
    assert_eq!(
        value(
            &t,
            r#"ferry_environment_image_info{app="api",env="prod",pinned="true",tag="v1"}"#
        ),
        Some(1.0)
    );
    assert_eq!(t.matches("ferry_environment_image_info{").count(), 3);
}

#[test]
fn delivery_events_map_into_a_closed_set() {
    let m = Metrics::new();
    m.observe_delivery(Some("push"), "accepted");
    m.observe_delivery(Some("x\"}\nferry_evil 1"), "ignored");
    m.observe_delivery(Some("deployment_status"), "ignored");
    m.observe_delivery(None, "bad_request");
    let t = m.render();
    assert_eq!(
        value(
            &t,
            r#"ferry_webhook_deliveries_total{event="push",result="accepted"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &t,
            r#"ferry_webhook_deliveries_total{event="other",result="ignored"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &t,
            r#"ferry_webhook_deliveries_total{event="none",result="bad_request"}"#
        ),
        Some(1.0)
    );
    assert!(!t.contains("ferry_evil"), "{t}");
}

#[test]
fn commands_count_by_verb_and_their_commits_by_environment() {
    let m = Metrics::new();
    let o = |text: &str, ok: bool, commit: bool| CommandOutcome {
        line: 1,
        text: text.into(),
        ok,
        commit: commit.then(|| "abc".into()),
        pull_request: None,
        message: String::new(),
    };
    m.observe_commands(&[
        o("/ferry revert api prod", true, true),
        o("/ferry pin api prod", true, false),
        o("/ferry pin web staging -- freeze", false, false),
        o("/ferry bogus", false, false),
        o("/ferry status", true, false),
    ]);
    let t = m.render();
    for (series, v) in [
        (r#"ferry_commands_total{command="revert",result="ok"}"#, 1.0),
        (r#"ferry_commands_total{command="pin",result="ok"}"#, 1.0),
        (
            r#"ferry_commands_total{command="pin",result="failed"}"#,
            1.0,
        ),
        (
            r#"ferry_commands_total{command="invalid",result="failed"}"#,
            1.0,
        ),
        (r#"ferry_commands_total{command="status",result="ok"}"#, 1.0),
        (r#"ferry_commits_total{env="prod"}"#, 1.0),
    ] {
        assert_eq!(value(&t, series), Some(v), "{series}\n{t}");
    }
    assert_eq!(value(&t, r#"ferry_commits_total{env="staging"}"#), None);
}

#[test]
fn dora_gauges_follow_the_last_report() {
    let m = Metrics::new();
    let figures = |env: &str, band, failures| dora::EnvFigures {
        env: env.into(),
        deployments: 10,
        per_day: 10.0 / 30.0,
        band,
        lead_time_median: Some(Duration::from_secs(3600)),
        lead_time_p90: Some(Duration::from_secs(7200)),
        failures,
        change_failure_rate: Some(failures as f64 / 10.0),
        time_to_restore_median: (failures > 0).then(|| Duration::from_secs(600)),
    };
    let since = datetime!(2026-11-02 00:00 UTC);
    let until = datetime!(2026-12-02 00:00 UTC);
    m.set_dora(&dora::Report {
        since,
        until,
        envs: vec![
            figures("dev", dora::Band::Daily, 0),
            figures("prod", dora::Band::Weekly, 2),
        ],
    });
    m.set_dora(&dora::Report {
        since,
        until,
        envs: vec![figures("prod", dora::Band::Monthly, 1)],
    });
    let t = m.render();
    assert_eq!(
        value(&t, r#"ferry_dora_deployments{env="prod"}"#),
        Some(10.0)
    );
    assert_eq!(value(&t, r#"ferry_dora_deployments{env="dev"}"#), None);
    assert_eq!(
        value(
            &t,
            r#"ferry_dora_deployment_frequency_band{band="monthly",env="prod"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &t,
            r#"ferry_dora_deployment_frequency_band{band="weekly",env="prod"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&t, r#"ferry_dora_lead_time_p90_seconds{env="prod"}"#),
        Some(7200.0)
    );
    assert_eq!(
        value(&t, r#"ferry_dora_change_failure_ratio{env="prod"}"#),
        Some(0.1)
    );
    assert_eq!(
        value(&t, r#"ferry_dora_time_to_restore_seconds{env="prod"}"#),
        Some(600.0)
    );
    assert_eq!(value(&t, "ferry_dora_window_seconds"), Some(30.0 * 86400.0));
}

#[test]
fn the_rate_limit_gauge_appears_once_known_and_saturates() {
    let m = Metrics::new();
    assert!(
        !m.render().contains("ferry_github_rate_limit_remaining"),
        "no series before GitHub has answered"
    );
    m.set_rate_limit_remaining(4321);
    assert_eq!(
        value(&m.render(), "ferry_github_rate_limit_remaining"),
        Some(4321.0)
    );
    m.set_rate_limit_remaining(u64::MAX);
    assert_eq!(
        value(&m.render(), "ferry_github_rate_limit_remaining"),
        Some(i64::MAX as f64)
    );
}

#[test]
fn automatic_reverts_count_as_commits_and_by_check_and_watches_by_state() {
    use crate::promotion::watch::execute::Reverted;
    use crate::promotion::watch::{Via, WatchEntry, WatchState};
    let m = Metrics::new();
    let mut r = report("v1");
    let image = |t: &str| ImageRef {
        tag: Some(t.into()),
        digest: None,
    };
    r.reverts.push(Reverted {
        app: "api".into(),
        env: "prod".into(),
        commit: "b".repeat(40),
        reverts: "a".repeat(40),
        from: image("v2"),
        to: image("v1"),
        check: "smoke".into(),
        seen: "http://api: expected HTTP 200, got 500".into(),
        pull_request: None,
    });
    r.plan.watch = vec![WatchEntry {
        app: "api".into(),
        env: "prod".into(),
        commit: "a".repeat(40),
        via: Via::Commit,
        state: WatchState::Reverted { by: "b".repeat(40) },
        revert: None,
    }];
    let commits_before = value(&m.render(), r#"ferry_commits_total{env="prod"}"#).unwrap_or(0.0);
    m.observe_pass(
        Some(&r),
        Duration::from_secs(1),
        datetime!(2026-12-02 01:00 UTC),
    );
    let text = m.render();
    assert_eq!(
        value(
            &text,
            r#"ferry_auto_reverts_total{check="smoke",env="prod"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"ferry_commits_total{env="prod"}"#),
        Some(commits_before + 1.0),
        "the revert is a commit to prod"
    );
    assert_eq!(
        value(
            &text,
            r#"ferry_watched_deployments{env="prod",state="reverted"}"#
        ),
        Some(1.0)
    );
    // The next pass without the watch drops its series.
    r.plan.watch.clear();
    r.reverts.clear();
    m.observe_pass(
        Some(&r),
        Duration::from_secs(1),
        datetime!(2026-12-02 01:01 UTC),
    );
    assert_eq!(
        value(
            &m.render(),
            r#"ferry_watched_deployments{env="prod",state="reverted"}"#
        ),
        None
    );
}
