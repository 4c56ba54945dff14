//! The DORA figures of a period, computed from the image changes read from
//! the history ([`super::history`]). Pure: no git, no clock.
//!
//! The definitions (also in the README, "`ferry report`"):
//!
//! - A **deployment** is a change of an app's image (tag or digest) in an
//!   environment's overlay on the branch's first-parent line: ferry's
//!   commit, a merged promotion pull request (its merge commit), a hand
//!   edit, a revert. One commit that moves two apps is two deployments.
//!   The repository's first commit is not one (nothing ran before it).
//! - **Lead time** of a deployment that brings an image the environment has
//!   not run before: from the image's push time (the `Ferry-Pushed-At`
//!   trailer of the commit that brought it into the chain's first
//!   environment), else from its first appearance in that first
//!   environment, to the deployment. The first environment itself has a
//!   lead time only with a push time. A push time after its commit is
//!   ignored, and a gap that would be negative gives no lead time.
//! - A **failure** is a deployment later reverted: named by the
//!   `Ferry-Reverts` trailer of a `Ferry-Command: revert` (or
//!   `auto-revert`) commit that itself changes that app in that
//!   environment, when the named commit did deploy that app there; or
//!   followed, within [`RESTORE_WINDOW_SECS`], by the app's next deployment
//!   going back to the image it replaced (a hand revert). A revert is a
//!   deployment; rolling forward again after a revert does not make the
//!   revert a failure (only a `Ferry-Reverts` naming it does).
//! - **Time to restore**: from a failed deployment to its first revert.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use time::{Date, OffsetDateTime};

use super::history::{Change, Image};
use super::{Band, EnvFigures, Report};
use crate::config::Config;

/// How soon after a deployment a commit going back to the image before it
/// counts as its (hand) revert: 24 hours.
pub const RESTORE_WINDOW_SECS: i64 = 24 * 3600;

/// The trailer ferry's commits may carry with the image's push time in the
/// registry (RFC 3339), in the app's block of trailers.
pub const PUSHED_AT: &str = "Ferry-Pushed-At";

/// The commands whose `Ferry-Reverts` trailer names a failed deployment.
const REVERT_COMMANDS: [&str; 2] = ["revert", "auto-revert"];

/// An environment, and the first environment of its promotion chain
/// (itself when it has no `after`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSpec {
    /// Environment name.
    pub name: String,
    /// The first environment of its chain: where images first appear.
    pub root: String,
}

impl EnvSpec {
    /// Every environment of `config`, in config order.
    pub fn from_config(config: &Config) -> Vec<EnvSpec> {
        let after: HashMap<&str, &str> = config
            .environments
            .iter()
            .filter_map(|e| e.after.as_deref().map(|a| (e.name.as_str(), a)))
            .collect();
        config
            .environments
            .iter()
            .map(|e| {
                let mut root = e.name.as_str();
                // Bounded: a cycle (which config validation refuses) ends it.
                for _ in 0..config.environments.len() {
                    match after.get(root) {
                        Some(up) => root = up,
                        None => break,
                    }
                }
                EnvSpec {
                    name: e.name.clone(),
                    root: root.to_string(),
                }
            })
            .collect()
    }
}

/// Computes the figures of every environment of `envs` over
/// `[since, until)` from `changes` (oldest first, as
/// [`history::read`](super::history::read) gives them). Changes outside
/// the period still count as what ran before (lead time, hand reverts)
/// and as later reverts.
pub fn compute(
    envs: &[EnvSpec],
    changes: &[Change],
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> Report {
    let mut by_env: HashMap<&str, BTreeMap<&str, Vec<&Change>>> = HashMap::new();
    for c in changes {
        by_env
            .entry(&*c.env)
            .or_default()
            .entry(&*c.app)
            .or_default()
            .push(c);
    }
    let empty = BTreeMap::new();
    let figures = envs
        .iter()
        .map(|spec| {
            let apps = by_env.get(spec.name.as_str()).unwrap_or(&empty);
            let root = by_env.get(spec.root.as_str()).unwrap_or(&empty);
            env_figures(spec, apps, root, since, until)
        })
        .collect();
    Report {
        since,
        until,
        envs: figures,
    }
}

/// What one deployment turned out to be.
#[derive(Debug, Default, Clone, Copy)]
struct Fate {
    /// Another deployment undid it: when.
    reverted_at: Option<i64>,
    /// It undid another deployment.
    restores: bool,
}

fn env_figures(
    spec: &EnvSpec,
    apps: &BTreeMap<&str, Vec<&Change>>,
    root: &BTreeMap<&str, Vec<&Change>>,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> EnvFigures {
    // Commit times are whole seconds; the bounds may not be: a commit at
    // 12:00:05 is before an `until` of 12:00:05.7.
    let (lo, hi) = (since.unix_timestamp_nanos(), until.unix_timestamp_nanos());
    let in_period = |t: i64| {
        let t = i128::from(t) * 1_000_000_000;
        t >= lo && t < hi
    };
    let mut deployments = 0u64;
    let mut failures = 0u64;
    let mut leads = Vec::new();
    let mut restores = Vec::new();
    let mut days = BTreeSet::new();
    for (app, seq) in apps {
        let deps: Vec<&Change> = seq.iter().copied().filter(|c| !c.initial).collect();
        let fates = fates(app, &spec.name, &deps);
        let origins = (spec.root != spec.name).then(|| Origins::read(app, root.get(app)));
        let mut seen = Seen::default();
        let mut next = 0;
        for c in seq {
            let i = next;
            if !c.initial {
                next += 1;
            }
            let new_here = !seen.has(&c.to);
            seen.add(&c.to);
            if c.initial || !in_period(c.time) {
                continue;
            }
            deployments += 1;
            if let Ok(day) = OffsetDateTime::from_unix_timestamp(c.time) {
                days.insert(day.date());
            }
            if let Some(at) = fates.get(i).and_then(|f| f.reverted_at) {
                failures += 1;
                restores.push(secs(at.saturating_sub(c.time).max(0)));
            }
            if !new_here {
                continue;
            }
            let origin = match &origins {
                None => pushed_at(c, app),
                Some(o) => o.of(&c.to),
            };
            if let Some(o) = origin.filter(|o| *o <= c.time) {
                leads.push(secs(c.time - o));
            }
        }
    }
    leads.sort_unstable();
    restores.sort_unstable();
    let period_days = (hi - lo).max(0) as f64 / 86_400e9;
    EnvFigures {
        env: spec.name.clone(),
        deployments,
        per_day: if period_days > 0.0 {
            deployments as f64 / period_days
        } else {
            0.0
        },
        band: band(&days, since, until),
        lead_time_median: percentile(&leads, 0.5),
        lead_time_p90: percentile(&leads, 0.9),
        failures,
        change_failure_rate: (deployments > 0).then(|| failures as f64 / deployments as f64),
        time_to_restore_median: percentile(&restores, 0.5),
    }
}

fn secs(s: i64) -> u64 {
    u64::try_from(s).unwrap_or(0)
}

/// Which deployments of one app in one environment (oldest first) were
/// reverted, and when; and which were reverts.
fn fates(app: &str, env: &str, deps: &[&Change]) -> Vec<Fate> {
    let mut fates = vec![Fate::default(); deps.len()];
    let revert = |fates: &mut [Fate], failed: usize, by: usize, at: i64| {
        let f = &mut fates[failed];
        f.reverted_at = Some(f.reverted_at.map_or(at, |t| t.min(at)));
        fates[by].restores = true;
    };
    // Explicit reverts first: a trailer is believed only when the commit it
    // names deployed this app here before the revert.
    for (i, c) in deps.iter().enumerate() {
        for named in reverted_by_trailer(c, app, env) {
            if let Some(d) = deps[..i].iter().rposition(|d| names(named, &d.commit)) {
                revert(&mut fates, d, i, c.time);
            }
        }
    }
    // Hand reverts: the next deployment goes back to the image the previous
    // one replaced, within the window; a revert rolled forward is not one.
    for i in 1..deps.len() {
        let (d, c) = (deps[i - 1], deps[i]);
        let back = d.from.as_ref().is_some_and(|prev| c.to.same(prev));
        if back && c.time - d.time <= RESTORE_WINDOW_SECS && !fates[i - 1].restores {
            revert(&mut fates, i - 1, i, c.time);
        }
    }
    fates
}

/// The commits a revert commit's trailers name as reverted for `app` in
/// `env`: only from a revert command whose `Ferry-App`/`Ferry-Env`, when
/// given, include them.
fn reverted_by_trailer<'a>(c: &'a Change, app: &str, env: &str) -> Vec<&'a str> {
    let values = |key: &'a str| {
        c.trailers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.trim())
    };
    if !values("Ferry-Command").any(|v| REVERT_COMMANDS.contains(&v)) {
        return Vec::new();
    }
    let mut apps = values("Ferry-App").peekable();
    if apps.peek().is_some() && !apps.any(|a| a == app) {
        return Vec::new();
    }
    let mut envs = values("Ferry-Env").peekable();
    if envs.peek().is_some() && !envs.any(|e| e == env) {
        return Vec::new();
    }
    values("Ferry-Reverts").collect()
}

/// `named` (a full or abbreviated hex commit id, at least 7 digits) names
/// `commit`.
fn names(named: &str, commit: &str) -> bool {
    named.len() >= 7
        && named.bytes().all(|b| b.is_ascii_hexdigit())
        && commit
            .get(..named.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(named))
}

/// The push time a change's trailers give for `app`: the
/// [`PUSHED_AT`] in the block that follows `Ferry-App: app` (or the only
/// one, in a commit without `Ferry-App`). Ignored when unparsable, later
/// than the commit, or older than the commit by more than the lead-time
/// lookback: a trailer is text anyone can write, and an epoch-old push
/// time would stretch every lead time downstream of it.
fn pushed_at(c: &Change, app: &str) -> Option<i64> {
    let mut current: Option<&str> = None;
    let mut found = None;
    for (k, v) in c.trailers.iter() {
        if k.eq_ignore_ascii_case("Ferry-App") {
            current = Some(v.trim());
        } else if k.eq_ignore_ascii_case(PUSHED_AT) && current.is_none_or(|a| a == app) {
            found = Some(v.trim());
        }
    }
    let t = OffsetDateTime::parse(found?, &time::format_description::well_known::Rfc3339).ok()?;
    let oldest = c.time - super::LEAD_LOOKBACK.as_secs() as i64;
    Some(t.unix_timestamp()).filter(|t| (oldest..=c.time).contains(t))
}

/// Where each image of one app first appeared in the first environment of
/// the chain, and its push time when that commit recorded one.
#[derive(Default)]
struct Origins<'a> {
    by_digest: HashMap<&'a str, i64>,
    by_tag: HashMap<&'a str, (i64, Option<&'a str>)>,
}

impl<'a> Origins<'a> {
    fn read(app: &str, root: Option<&'a Vec<&'a Change>>) -> Origins<'a> {
        let mut o = Origins::default();
        for c in root.into_iter().flatten() {
            let t = pushed_at(c, app).unwrap_or(c.time);
            if let Some(d) = &c.to.digest {
                o.by_digest.entry(d).or_insert(t);
            }
            if let Some(tag) = &c.to.tag {
                o.by_tag.entry(tag).or_insert((t, c.to.digest.as_deref()));
            }
        }
        o
    }

    /// When `image` started its way: by digest, else by a tag whose digest
    /// does not contradict it.
    fn of(&self, image: &Image) -> Option<i64> {
        if let Some(t) = image.digest.as_deref().and_then(|d| self.by_digest.get(d)) {
            return Some(*t);
        }
        let (t, digest) = self.by_tag.get(image.tag.as_deref()?)?;
        match (digest, &image.digest) {
            (Some(a), Some(b)) if a != b => None,
            _ => Some(*t),
        }
    }
}

/// The images an environment ran, as far as read.
#[derive(Default)]
struct Seen<'a> {
    digests: HashSet<&'a str>,
    tags: HashSet<&'a str>,
}

impl<'a> Seen<'a> {
    fn has(&self, i: &Image) -> bool {
        match (&i.digest, &i.tag) {
            (Some(d), _) => self.digests.contains(d.as_str()),
            (None, Some(t)) => self.tags.contains(t.as_str()),
            (None, None) => false,
        }
    }

    fn add(&mut self, i: &'a Image) {
        if let Some(d) = &i.digest {
            self.digests.insert(d);
        }
        if let Some(t) = &i.tag {
            self.tags.insert(t);
        }
    }
}

/// The `p` percentile of sorted seconds, interpolated linearly between the
/// two nearest values (`PERCENTILE_CONT`, as Four Keys computes its
/// medians); `None` for no values.
fn percentile(sorted: &[u64], p: f64) -> Option<Duration> {
    let last = sorted.len().checked_sub(1)?;
    let pos = p.clamp(0.0, 1.0) * last as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (*sorted.get(lo)? as f64, *sorted.get(hi)? as f64);
    Some(Duration::from_secs_f64(a + (b - a) * (pos - lo as f64)))
}

/// The deployment-frequency band of the days (UTC) with deployments over
/// `[since, until)`, by the rule of Four Keys (dora-team/fourkeys,
/// `METRICS.md`, "Deployment Frequency — Calculating the bucket"): the
/// period's days are grouped by week (weeks start on Sunday, BigQuery's
/// `TIMESTAMP_TRUNC(day, WEEK)`), and
///
/// - **daily** when the median number of days with deployments per week
///   is at least 3;
/// - else **weekly** when the median week has a deployment (the median of
///   "this week had one", 0 or 1, is at least 1);
/// - else **monthly** when the median, over the weeks, of the number of
///   weeks with a deployment in that week's month is at least 1;
/// - else **yearly**.
///
/// Medians are `PERCENTILE_CONT(…, 0.5)`, interpolated. Four Keys applies
/// it to the last three months; here it is the report's period.
pub fn band(days: &BTreeSet<Date>, since: OffsetDateTime, until: OffsetDateTime) -> Band {
    if until <= since {
        return Band::Yearly;
    }
    let first = since.date();
    let last = (until - time::Duration::nanoseconds(1)).date();
    // Week start → days with deployments that week.
    let mut weeks: BTreeMap<Date, u64> = BTreeMap::new();
    let mut day = first;
    while day <= last {
        let start = day - time::Duration::days(i64::from(day.weekday().number_days_from_sunday()));
        *weeks.entry(start).or_default() += u64::from(days.contains(&day));
        match day.next_day() {
            Some(d) => day = d,
            None => break,
        }
    }
    let mut per_week: Vec<u64> = weeks.values().copied().collect();
    let mut deployed: Vec<u64> = per_week.iter().map(|n| u64::from(*n > 0)).collect();
    let mut month_weeks: HashMap<(i32, u8), u64> = HashMap::new();
    for (start, n) in &weeks {
        *month_weeks
            .entry((start.year(), start.month() as u8))
            .or_default() += u64::from(*n > 0);
    }
    let mut monthly: Vec<u64> = weeks
        .keys()
        .map(|s| {
            month_weeks
                .get(&(s.year(), s.month() as u8))
                .copied()
                .unwrap_or(0)
        })
        .collect();
    per_week.sort_unstable();
    deployed.sort_unstable();
    monthly.sort_unstable();
    let median = |v: &[u64]| median_f(v).unwrap_or(0.0);
    if median(&per_week) >= 3.0 {
        Band::Daily
    } else if median(&deployed) >= 1.0 {
        Band::Weekly
    } else if median(&monthly) >= 1.0 {
        Band::Monthly
    } else {
        Band::Yearly
    }
}

fn median_f(sorted: &[u64]) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let pos = 0.5 * last as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let (a, b) = (*sorted.get(lo)? as f64, *sorted.get(hi)? as f64);
    Some(a + (b - a) * (pos - lo as f64))
}

#[cfg(test)]
#[path = "figures_tests.rs"]
mod tests;
