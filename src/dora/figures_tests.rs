//! The figures on constructed histories.

use std::sync::Arc;

use time::macros::datetime;

use super::*;

const H: i64 = 3600;
const DAY: i64 = 24 * H;

/// 2026-11-01 00:00 UTC, a Sunday.
fn t0() -> OffsetDateTime {
    datetime!(2026-11-01 00:00 UTC)
}

fn at(secs: i64) -> i64 {
    t0().unix_timestamp() + secs
}

fn envs() -> Vec<EnvSpec> {
    ["dev", "staging", "production"]
        .iter()
        .map(|e| EnvSpec {
            name: e.to_string(),
            root: "dev".into(),
        })
        .collect()
}

fn img(tag: &str) -> Image {
    Image {
        tag: Some(tag.into()),
        digest: Some(format!("sha256:{tag}")),
    }
}

/// A history under construction: changes oldest first, each with its
/// commit id `c<N>`.
#[derive(Default)]
struct Hist {
    changes: Vec<Change>,
}

impl Hist {
    /// `app` in `env` moves from `from` to `to` at `t`, with `trailers`.
    fn mv(
        &mut self,
        env: &str,
        app: &str,
        from: Option<&str>,
        to: &str,
        t: i64,
        trailers: &[(&str, &str)],
    ) -> String {
        let commit = format!("{:040x}", self.changes.len() + 1);
        self.changes.push(Change {
            app: app.into(),
            env: env.into(),
            commit: commit.clone(),
            time: at(t),
            from: from.map(img),
            to: img(to),
            initial: false,
            trailers: Arc::from(
                trailers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<Vec<_>>(),
            ),
        });
        commit
    }

    /// The repository's first commit sets `to` in `env`.
    fn initial(&mut self, env: &str, app: &str, to: &str, t: i64) {
        self.mv(env, app, None, to, t, &[]);
        if let Some(last) = self.changes.last_mut() {
            last.initial = true;
        }
    }

    /// The figures of `env` over `[since, until)` (seconds after t0).
    fn figures(&self, env: &str, since: i64, until: i64) -> EnvFigures {
        let r = compute(
            &envs(),
            &self.changes,
            t0() + time::Duration::seconds(since),
            t0() + time::Duration::seconds(until),
        );
        r.envs.into_iter().find(|e| e.env == env).unwrap()
    }
}

fn pushed(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(at(t))
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn mins(m: u64) -> Option<Duration> {
    Some(Duration::from_secs(m * 60))
}

#[test]
fn ferry_commits_in_dev_take_their_lead_time_from_the_push_trailer() {
    let mut h = Hist::default();
    h.initial("dev", "api", "v0", -10 * DAY);
    let p1 = pushed(DAY - 600);
    let p2 = pushed(2 * DAY - 1200);
    // One commit moving two apps: two deployments, each its own block.
    h.mv(
        "dev",
        "api",
        Some("v0"),
        "v1",
        DAY,
        &[
            ("Ferry-App", "api"),
            ("Ferry-Pushed-At", &p1),
            ("Ferry-App", "web"),
            ("Ferry-Pushed-At", &p2),
        ],
    );
    h.mv(
        "dev",
        "api",
        Some("v1"),
        "v2",
        2 * DAY,
        &[("Ferry-App", "api"), ("Ferry-Pushed-At", &p2)],
    );
    let f = h.figures("dev", 0, 10 * DAY);
    assert_eq!(f.deployments, 2, "the initial commit is not a deployment");
    assert_eq!(f.failures, 0);
    assert_eq!(f.change_failure_rate, Some(0.0));
    // 10 and 20 minutes: the median interpolates.
    assert_eq!(f.lead_time_median, mins(15));
    assert_eq!(f.time_to_restore_median, None);
    assert!((f.per_day - 0.2).abs() < 1e-9, "{}", f.per_day);
}

#[test]
fn the_first_environment_without_a_push_time_has_no_lead_time() {
    let mut h = Hist::default();
    h.mv("dev", "api", Some("v0"), "v1", DAY, &[("Ferry-App", "api")]);
    let f = h.figures("dev", 0, 10 * DAY);
    assert_eq!(f.deployments, 1);
    assert_eq!(f.lead_time_median, None, "not invented as 0");
    assert_eq!(f.lead_time_p90, None);
}

#[test]
fn a_push_time_after_the_commit_or_unreadable_is_ignored() {
    let mut h = Hist::default();
    let later = pushed(DAY + 60);
    let future = pushed(400 * DAY);
    h.mv(
        "dev",
        "api",
        Some("v0"),
        "v1",
        DAY,
        &[("Ferry-Pushed-At", &later)],
    );
    h.mv(
        "dev",
        "api",
        Some("v1"),
        "v2",
        2 * DAY,
        &[("Ferry-Pushed-At", &future)],
    );
    h.mv(
        "dev",
        "api",
        Some("v2"),
        "v3",
        3 * DAY,
        &[("Ferry-Pushed-At", "yesterday")],
    );
    let f = h.figures("dev", 0, 10 * DAY);
    assert_eq!(f.deployments, 3);
    assert_eq!(f.lead_time_median, None, "never a negative lead time");
    // Downstream, such an image starts from its first appearance in dev.
    h.mv("staging", "api", Some("v0"), "v1", DAY + 30 * 60, &[]);
    let f = h.figures("staging", 0, 10 * DAY);
    assert_eq!(f.lead_time_median, mins(30));
}

#[test]
fn a_push_time_older_than_the_lookback_is_ignored() {
    let mut h = Hist::default();
    let ancient = pushed(40 * DAY - 31 * DAY - 60);
    let recent = pushed(41 * DAY - 2 * 3600);
    h.mv(
        "dev",
        "api",
        Some("v0"),
        "v1",
        40 * DAY,
        &[("Ferry-Pushed-At", &ancient)],
    );
    let f = h.figures("dev", 0, 50 * DAY);
    assert_eq!(f.lead_time_median, None, "a forged epoch-old push time");
    h.mv(
        "dev",
        "api",
        Some("v1"),
        "v2",
        41 * DAY,
        &[("Ferry-Pushed-At", &recent)],
    );
    let f = h.figures("dev", 0, 50 * DAY);
    assert_eq!(f.lead_time_median, Some(Duration::from_secs(2 * 3600)));
}

#[test]
fn a_merged_pr_downstream_takes_its_lead_time_from_dev() {
    let mut h = Hist::default();
    h.initial("dev", "api", "v0", -10 * DAY);
    h.initial("staging", "api", "v0", -10 * DAY);
    h.initial("production", "api", "v0", -10 * DAY);
    let p = pushed(DAY - 3600);
    h.mv(
        "dev",
        "api",
        Some("v0"),
        "v1",
        DAY,
        &[("Ferry-App", "api"), ("Ferry-Pushed-At", &p)],
    );
    h.mv("dev", "api", Some("v1"), "v2", DAY + 600, &[]);
    // A merge commit (no ferry trailers on the first-parent line).
    h.mv("staging", "api", Some("v0"), "v1", DAY + 2 * H, &[]);
    // v2 without a push time: from its first appearance in dev.
    h.mv("staging", "api", Some("v1"), "v2", DAY + 600 + 3 * H, &[]);
    let f = h.figures("staging", 0, 10 * DAY);
    assert_eq!(f.deployments, 2);
    // 3 h (from the push) and 3 h (from dev).
    assert_eq!(f.lead_time_median, Some(Duration::from_secs(3 * 3600)));
    // An image production ran before (the initial v0) brought back by a
    // commit has no lead time: it is no new change.
    h.mv("production", "api", Some("v0"), "v1", 2 * DAY, &[]);
    h.mv("production", "api", Some("v1"), "v0", 5 * DAY, &[]);
    let f = h.figures("production", 0, 10 * DAY);
    assert_eq!(f.deployments, 2);
    assert_eq!(
        f.lead_time_median,
        Some(Duration::from_secs(DAY as u64 + 3600))
    );
    assert_eq!(f.lead_time_median, f.lead_time_p90, "one value");
}

#[test]
fn an_image_that_never_reached_dev_has_no_lead_time() {
    let mut h = Hist::default();
    h.mv("production", "api", Some("v0"), "hotfix", DAY, &[]);
    // Dev got it only later: the gap would be negative.
    h.mv("production", "api", Some("hotfix"), "v9", 2 * DAY, &[]);
    h.mv("dev", "api", Some("v0"), "v9", 3 * DAY, &[]);
    let f = h.figures("production", 0, 10 * DAY);
    assert_eq!(f.deployments, 2);
    assert_eq!(f.lead_time_median, None);
}

#[test]
fn a_hand_edit_is_a_deployment() {
    let mut h = Hist::default();
    h.mv("dev", "api", Some("v1"), "v2", DAY, &[]);
    let f = h.figures("dev", 0, 7 * DAY);
    assert_eq!(f.deployments, 1);
    assert_eq!(f.failures, 0);
}

#[test]
fn a_ferry_revert_with_trailers_fails_the_deployment_it_names() {
    let mut h = Hist::default();
    h.mv("production", "api", Some("v1"), "v2", DAY, &[]);
    let bad = h.mv("production", "api", Some("v2"), "v3", 2 * DAY, &[]);
    // Two days later (past the hand-revert window): only the trailer says.
    h.mv(
        "production",
        "api",
        Some("v3"),
        "v2",
        4 * DAY,
        &[
            ("Ferry-Command", "revert"),
            ("Ferry-App", "api"),
            ("Ferry-Env", "production"),
            ("Ferry-Reverts", &bad),
        ],
    );
    let f = h.figures("production", 0, 10 * DAY);
    assert_eq!(f.deployments, 3, "the revert is a deployment");
    assert_eq!(f.failures, 1);
    assert_eq!(f.change_failure_rate, Some(1.0 / 3.0));
    assert_eq!(
        f.time_to_restore_median,
        Some(Duration::from_secs(2 * DAY as u64))
    );
    // An abbreviated id names it too; auto-revert counts the same way.
    let mut h2 = Hist::default();
    let bad = h2.mv("production", "api", Some("v1"), "v2", DAY, &[]);
    h2.mv(
        "production",
        "api",
        Some("v2"),
        "v1",
        3 * DAY,
        &[
            ("Ferry-Command", "auto-revert"),
            ("Ferry-Reverts", &bad[..12]),
        ],
    );
    assert_eq!(h2.figures("production", 0, 10 * DAY).failures, 1);
}

#[test]
fn a_forged_reverts_trailer_is_not_believed() {
    let mut h = Hist::default();
    // `web` deployed in production, `api` deployed in staging.
    let web = h.mv("production", "web", Some("w1"), "w2", DAY, &[]);
    let staging = h.mv("staging", "api", Some("v1"), "v2", DAY, &[]);
    h.mv("production", "api", Some("v0"), "v1", 2 * DAY, &[]);
    let forged = |named: &str| {
        vec![
            ("Ferry-Command".to_string(), "revert".to_string()),
            ("Ferry-Reverts".to_string(), named.to_string()),
        ]
    };
    for (named, why) in [
        (web.as_str(), "deployed another app"),
        (staging.as_str(), "deployed in another environment"),
        ("0123456789abcdef0123456789abcdef01234567", "never deployed"),
        ("0000", "too short to name anything"),
    ] {
        let mut h = Hist {
            changes: h.changes.clone(),
        };
        let c = h.mv("production", "api", Some("v1"), "v5", 5 * DAY, &[]);
        h.changes.last_mut().unwrap().trailers = Arc::from(forged(named));
        let _ = c;
        let f = h.figures("production", 0, 10 * DAY);
        assert_eq!(f.failures, 0, "{why}");
        assert_eq!(f.deployments, 3, "{why}");
    }
    // The trailer's own app and environment must match too.
    let mut h2 = Hist::default();
    let bad = h2.mv("production", "api", Some("v1"), "v2", DAY, &[]);
    h2.mv(
        "production",
        "api",
        Some("v2"),
        "v3",
        5 * DAY,
        &[
            ("Ferry-Command", "revert"),
            ("Ferry-App", "web"),
            ("Ferry-Reverts", &bad),
        ],
    );
    assert_eq!(h2.figures("production", 0, 10 * DAY).failures, 0);
    // And only a revert command's trailer counts.
    let mut h3 = Hist::default();
    let bad = h3.mv("production", "api", Some("v1"), "v2", DAY, &[]);
    h3.mv(
        "production",
        "api",
        Some("v2"),
        "v3",
        5 * DAY,
        &[("Ferry-Command", "pin"), ("Ferry-Reverts", &bad)],
    );
    assert_eq!(h3.figures("production", 0, 10 * DAY).failures, 0);
}

#[test]
fn a_hand_revert_counts_within_24_hours_only() {
    // Table: hours between the deployment and the commit going back.
    for (hours, failed) in [(1, true), (24, true), (25, false), (72, false)] {
        let mut h = Hist::default();
        h.mv("production", "api", Some("v1"), "v2", DAY, &[]);
        h.mv("production", "api", Some("v2"), "v1", DAY + hours * H, &[]);
        let f = h.figures("production", 0, 10 * DAY);
        assert_eq!(f.deployments, 2, "{hours} h");
        assert_eq!(f.failures, u64::from(failed), "{hours} h");
        assert_eq!(
            f.time_to_restore_median,
            failed.then(|| Duration::from_secs((hours * H) as u64)),
            "{hours} h"
        );
    }
    // Going to a third image is no revert.
    let mut h = Hist::default();
    h.mv("production", "api", Some("v1"), "v2", DAY, &[]);
    h.mv("production", "api", Some("v2"), "v3", DAY + H, &[]);
    assert_eq!(h.figures("production", 0, 10 * DAY).failures, 0);
}

#[test]
fn rolling_forward_after_a_revert_does_not_fail_the_revert() {
    // The demo's story: promoted, reverted by /ferry revert, promoted again
    // minutes later once unpinned.
    let mut h = Hist::default();
    let bad = h.mv("production", "api", Some("v1"), "v5", DAY, &[]);
    h.mv(
        "production",
        "api",
        Some("v5"),
        "v1",
        DAY + 600,
        &[("Ferry-Command", "revert"), ("Ferry-Reverts", &bad)],
    );
    h.mv("production", "api", Some("v1"), "v5", DAY + 1200, &[]);
    let f = h.figures("production", 0, 10 * DAY);
    assert_eq!(f.deployments, 3);
    assert_eq!(f.failures, 1, "only the first v5");
    assert_eq!(f.time_to_restore_median, mins(10));
}

#[test]
fn an_empty_period_has_no_figures() {
    let h = Hist::default();
    let f = h.figures("dev", 0, 30 * DAY);
    assert_eq!(f.deployments, 0);
    assert_eq!(f.per_day, 0.0);
    assert_eq!(f.band, Band::Yearly);
    assert_eq!(f.change_failure_rate, None);
    assert_eq!(f.lead_time_median, None);
    assert_eq!(f.time_to_restore_median, None);
    // Deployments only outside the period: the same.
    let mut h = Hist::default();
    h.mv("dev", "api", Some("v1"), "v2", -DAY, &[]);
    h.mv("dev", "api", Some("v2"), "v3", 31 * DAY, &[]);
    assert_eq!(h.figures("dev", 0, 30 * DAY).deployments, 0);
    // An unknown environment in the changes is ignored; every configured
    // one is reported, in order.
    let r = compute(&envs(), &h.changes, t0(), t0() + time::Duration::days(1));
    let names: Vec<&str> = r.envs.iter().map(|e| e.env.as_str()).collect();
    assert_eq!(names, ["dev", "staging", "production"]);
}

#[test]
fn one_deployment() {
    let mut h = Hist::default();
    h.mv("staging", "api", Some("v1"), "v2", 3 * H, &[]);
    let f = h.figures("staging", 0, DAY);
    assert_eq!(f.deployments, 1);
    assert_eq!(f.per_day, 1.0);
    assert_eq!(f.change_failure_rate, Some(0.0));
    assert_eq!(f.band, Band::Weekly, "one week, and it had a deployment");
}

#[test]
fn p90_of_ten_lead_times_interpolates() {
    let mut h = Hist::default();
    for i in 1..=10i64 {
        let tag = format!("v{i}");
        // Each image reaches dev at i days, staging i minutes later.
        h.mv("dev", "api", None, &tag, i * DAY, &[]);
        h.mv("staging", "api", None, &tag, i * DAY + i * 60, &[]);
    }
    let f = h.figures("staging", 0, 30 * DAY);
    assert_eq!(f.deployments, 10);
    // PERCENTILE_CONT: median between 5 and 6 min, p90 at 9 + 0.1 min.
    assert_eq!(f.lead_time_median, Some(Duration::from_secs(330)));
    assert_eq!(f.lead_time_p90, Some(Duration::from_secs(546)));
}

#[test]
fn the_period_includes_its_start_and_excludes_its_end() {
    let mut h = Hist::default();
    h.mv("dev", "api", Some("v0"), "v1", -1, &[]);
    h.mv("dev", "api", Some("v1"), "v2", 0, &[]);
    h.mv("dev", "api", Some("v2"), "v3", DAY - 1, &[]);
    h.mv("dev", "api", Some("v3"), "v4", DAY, &[]);
    assert_eq!(h.figures("dev", 0, DAY).deployments, 2);
    // A commit in the same second as a fractional end is before it.
    let r = compute(
        &envs(),
        &h.changes,
        t0(),
        t0() + time::Duration::seconds(DAY) + time::Duration::milliseconds(300),
    );
    assert_eq!(r.envs[0].deployments, 3);
    // A failure is the period's when its deployment is; the revert may
    // come after the period.
    let mut h = Hist::default();
    h.mv("dev", "api", Some("v1"), "v2", DAY - 60, &[]);
    h.mv("dev", "api", Some("v2"), "v1", DAY + 60, &[]);
    let f = h.figures("dev", 0, DAY);
    assert_eq!((f.deployments, f.failures), (1, 1));
    let f = h.figures("dev", DAY, 2 * DAY);
    assert_eq!((f.deployments, f.failures), (1, 0));
}

#[test]
fn bands_follow_the_four_keys_rule() {
    use time::Date;
    let day = |n: i64| t0().date() + time::Duration::days(n);
    let days = |v: &[i64]| v.iter().map(|n| day(*n)).collect::<BTreeSet<Date>>();
    // Four whole weeks from Sunday 2026-11-01 to Saturday 2026-11-28.
    let since = t0();
    let until = t0() + time::Duration::days(28);
    let table: &[(&[i64], Band, &str)] = &[
        (
            &[1, 2, 3, 8, 9, 10, 15, 16, 17, 22, 23, 24],
            Band::Daily,
            "3 days a week",
        ),
        (&[1, 2, 8, 9, 15, 16, 22, 23], Band::Weekly, "2 days a week"),
        (&[1, 8, 15], Band::Weekly, "3 weeks of 4"),
        (&[1, 8], Band::Monthly, "2 weeks of 4: median 0.5"),
        (&[1], Band::Monthly, "one week in the month"),
        (&[], Band::Yearly, "none"),
    ];
    for (d, band_, why) in table {
        assert_eq!(band(&days(d), since, until), *band_, "{why}");
    }
    // Eight weeks, Nov 1 to Dec 26; the week of Nov 29 counts in November
    // (`TIMESTAMP_TRUNC(week, MONTH)`), so November holds five of them and
    // one deployment there puts most weeks in a month with a deployment.
    let until = t0() + time::Duration::days(56);
    assert_eq!(band(&days(&[1]), since, until), Band::Monthly);
    assert_eq!(band(&days(&[]), since, until), Band::Yearly);
    let dec = t0() + time::Duration::days(30);
    assert_eq!(band(&days(&[]), dec, until), Band::Yearly);
    assert_eq!(band(&days(&[40]), dec, until), Band::Monthly);
    assert_eq!(band(&days(&[1]), until, since), Band::Yearly, "reversed");
}

#[test]
fn chains_find_their_first_environment() {
    let config = crate::config::parse(
        "environments:\n\
         - {name: dev, mode: commit}\n\
         - {name: staging, mode: pull_request, after: dev}\n\
         - {name: production, mode: pull_request, after: staging}\n\
         - {name: sandbox, mode: commit}\n\
         apps: []\n",
    )
    .unwrap();
    let roots: Vec<(String, String)> = EnvSpec::from_config(&config)
        .into_iter()
        .map(|e| (e.name, e.root))
        .collect();
    assert_eq!(
        roots,
        [
            ("dev".to_string(), "dev".to_string()),
            ("staging".into(), "dev".into()),
            ("production".into(), "dev".into()),
            ("sandbox".into(), "sandbox".into()),
        ]
    );
}
