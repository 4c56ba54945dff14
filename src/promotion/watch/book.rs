//! The watch book: the deployments ferry made or saw land, each with its
//! failure clock, and the promotion PRs it saw open (to recognise their
//! merge). Kept in memory and, for `ferry run`, in a file beside the
//! checkout (`<checkout>.watch.json`), so a restart keeps watching.
//!
//! It is ferry's own record, never evidence read from the repository: a
//! commit's trailers or a PR's text cannot put a deployment here. Losing
//! the file loses only watches (nothing is reverted that was not seen
//! failing again), never lets a revert happen that would not have.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::warn;

use super::{Failing, Live, Via};

/// How long a deployment stays in the book at most, whatever `within`
/// says, so the file stays small.
pub const KEEP: time::Duration = time::Duration::days(7);

/// How many `/ferry promote` requests the book remembers.
pub const ASKED_KEPT: usize = 1_000;

/// The shortest gap that restarts a failure clock, whatever `after`:
/// longer than the default resync (300 s) and a slow pass.
pub const MIN_GAP: time::Duration = time::Duration::minutes(10);

/// The longest time between two looks that still counts as "failing
/// without a break": twice `after` and a minute, at least [`MIN_GAP`], so
/// slow passes or a resync longer than `after` do not restart it on every
/// look; a process down longer than that does.
pub fn gap(after: std::time::Duration) -> time::Duration {
    let twice = time::Duration::try_from(after.saturating_mul(2))
        .unwrap_or(time::Duration::days(30))
        .min(time::Duration::days(30));
    (twice + time::Duration::minutes(1)).max(MIN_GAP)
}

/// A deployment ferry made or saw land.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// The app.
    pub app: String,
    /// The environment.
    pub env: String,
    /// The commit that brought the image.
    pub commit: String,
    /// The tag it set.
    pub tag: Option<String>,
    /// The digest it set.
    pub digest: Option<String>,
    /// When it landed: ferry's push, or the forge's merge time.
    #[serde(with = "time::serde::rfc3339")]
    pub landed_at: OffsetDateTime,
    /// How ferry knows it.
    pub via: Via,
    /// Its failure clock.
    #[serde(default)]
    pub failing: Option<Failing>,
    /// The revert commit, once ferry reverted it.
    #[serde(default)]
    pub reverted_by: Option<String>,
}

/// A promotion PR ferry saw open, with what its branch carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenPr {
    /// Its number.
    pub number: u64,
    /// Its web page.
    pub url: String,
    /// Its environment.
    pub env: String,
    /// `(app, tag, digest)` for each image its branch sets.
    pub carried: Vec<(String, Option<String>, String)>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    deployments: Vec<Deployment>,
    #[serde(default)]
    open_prs: Vec<SeenPr>,
    /// `(PR number, app)` a person asked for (`/ferry promote`).
    #[serde(default)]
    asked: Vec<(u64, String)>,
    #[serde(skip)]
    dirty: bool,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct WatchBook {
    state: Mutex<State>,
    file: Option<PathBuf>,
}

impl WatchBook {
    /// An empty book, in memory only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A book backed by `file`, loaded now. A missing file is an empty
    /// book; an unreadable one is reported and starts empty (watches are
    /// lost, which only means no revert).
    pub fn with_file(file: impl Into<PathBuf>) -> Self {
        let file = file.into();
        let state = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                warn!(file = %file.display(), error = %e, "watch book unreadable; starting afresh");
                State::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => {
                warn!(file = %file.display(), error = %e, "watch book unreadable; starting afresh");
                State::default()
            }
        };
        WatchBook {
            state: Mutex::new(state),
            file: Some(file),
        }
    }

    /// The backing file, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the book to its file (atomically) if it changed.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut state = self.lock();
        if !state.dirty {
            return Ok(());
        }
        let json = serde_json::to_vec_pretty(&*state).map_err(std::io::Error::other)?;
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::atomic::write(file, &json)?;
        state.dirty = false;
        Ok(())
    }

    /// Records a deployment; a newer one of the same app and environment
    /// replaces the older (an environment runs one image per app), and
    /// recording the same commit again changes nothing.
    pub fn record(&self, d: Deployment) {
        let mut state = self.lock();
        if state
            .deployments
            .iter()
            .any(|x| x.app == d.app && x.env == d.env && x.commit == d.commit)
        {
            return;
        }
        state
            .deployments
            .retain(|x| !(x.app == d.app && x.env == d.env));
        state.deployments.push(d);
        state.dirty = true;
    }

    /// The deployment of `app` in `env` ferry knows last, if any.
    pub fn current(&self, app: &str, env: &str) -> Option<Deployment> {
        self.lock()
            .deployments
            .iter()
            .find(|d| d.app == app && d.env == env)
            .cloned()
    }

    /// Forgets the deployment of `app` in `env` made by `commit`: the
    /// overlay no longer runs it.
    pub fn forget(&self, app: &str, env: &str, commit: &str) {
        let mut state = self.lock();
        let before = state.deployments.len();
        state
            .deployments
            .retain(|d| !(d.app == app && d.env == env && d.commit == commit));
        if state.deployments.len() != before {
            state.dirty = true;
        }
    }

    /// Advances the failure clock of the deployment `commit` of `app` in
    /// `env` with one look at `now`: a failure starts it (or keeps it
    /// running), anything else stops it. A failure seen again after a gap
    /// without looks longer than [`gap`] (ferry was down, passes failed)
    /// starts it afresh: nothing saw it fail in between. Returns the clock
    /// after the look.
    pub fn look(
        &self,
        app: &str,
        env: &str,
        commit: &str,
        live: &Live,
        now: OffsetDateTime,
        after: std::time::Duration,
    ) -> Option<Failing> {
        let mut state = self.lock();
        let d = state
            .deployments
            .iter_mut()
            .find(|d| d.app == app && d.env == env && d.commit == commit)?;
        let next = match live {
            Live::Failing { check, seen } => {
                let kept = d.failing.as_ref().filter(|f| {
                    let last = f.last_seen.unwrap_or(f.since);
                    now - last <= gap(after)
                });
                Some(Failing {
                    since: kept.map_or(now, |f| f.since),
                    check: check.clone(),
                    seen: seen.clone(),
                    last_seen: Some(now),
                })
            }
            _ => None,
        };
        let changed = d.failing != next;
        d.failing = next.clone();
        if changed {
            state.dirty = true;
        }
        next
    }

    /// Marks the deployment reverted by `revert`.
    pub fn reverted(&self, app: &str, env: &str, commit: &str, revert: &str) {
        let mut state = self.lock();
        if let Some(d) = state
            .deployments
            .iter_mut()
            .find(|d| d.app == app && d.env == env && d.commit == commit)
        {
            d.reverted_by = Some(revert.to_string());
            d.failing = None;
            state.dirty = true;
        }
    }

    /// Notes the promotion PRs open now (`open`: every one ferry opened in
    /// an environment it watches), and returns those it saw open before
    /// that are open no more: merged or closed, for the caller to ask.
    pub fn saw_open(&self, open: Vec<SeenPr>) -> Vec<SeenPr> {
        let mut state = self.lock();
        let (gone, kept): (Vec<SeenPr>, Vec<SeenPr>) = std::mem::take(&mut state.open_prs)
            .into_iter()
            .partition(|p| !open.iter().any(|o| o.number == p.number));
        let mut now = kept;
        for o in open {
            match now.iter_mut().find(|p| p.number == o.number) {
                Some(p) if *p == o => {}
                Some(p) => {
                    *p = o;
                    state.dirty = true;
                }
                None => {
                    now.push(o);
                    state.dirty = true;
                }
            }
        }
        if !gone.is_empty() {
            state.dirty = true;
        }
        state.open_prs = now;
        gone
    }

    /// Notes a PR ferry just opened or updated, as if seen open: one a
    /// reviewer merges before the next pass is still recognised.
    pub fn opened(&self, pr: SeenPr) {
        let mut state = self.lock();
        state.open_prs.retain(|p| p.number != pr.number);
        state.open_prs.push(pr);
        state.dirty = true;
    }

    /// Notes that a person asked for `app` in PR `number` (`/ferry
    /// promote`): its merge is their deployment, never watched.
    pub fn asked(&self, number: u64, app: &str) {
        let mut state = self.lock();
        let key = (number, app.to_string());
        if !state.asked.contains(&key) {
            state.asked.push(key);
            // Bounded: the oldest requests go first.
            let excess = state.asked.len().saturating_sub(ASKED_KEPT);
            state.asked.drain(..excess);
            state.dirty = true;
        }
    }

    /// Whether a person asked for `app` in PR `number`.
    pub fn was_asked(&self, number: u64, app: &str) -> bool {
        self.lock()
            .asked
            .iter()
            .any(|(n, a)| *n == number && a == app)
    }

    /// Puts back a PR the forge could not be asked about, to ask again on
    /// the next pass.
    pub fn still_unknown(&self, pr: SeenPr) {
        let mut state = self.lock();
        if !state.open_prs.iter().any(|p| p.number == pr.number) {
            state.open_prs.push(pr);
            state.dirty = true;
        }
    }

    /// Drops deployments that landed more than [`KEEP`] before `now`.
    pub fn prune(&self, now: OffsetDateTime) {
        let mut state = self.lock();
        let before = state.deployments.len();
        state.deployments.retain(|d| now - d.landed_at <= KEEP);
        if state.deployments.len() != before {
            state.dirty = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const AFTER: std::time::Duration = std::time::Duration::from_secs(300);

    fn dep(app: &str, commit: &str) -> Deployment {
        Deployment {
            app: app.into(),
            env: "staging".into(),
            commit: commit.into(),
            tag: Some("sha-2".into()),
            digest: Some("sha256:2".into()),
            landed_at: datetime!(2026-12-02 10:00 UTC),
            via: Via::Commit,
            failing: None,
            reverted_by: None,
        }
    }

    fn failing(seen: &str) -> Live {
        Live::Failing {
            check: "smoke".into(),
            seen: seen.into(),
        }
    }

    #[test]
    fn the_failure_clock_runs_only_through_unbroken_failures() {
        let book = WatchBook::new();
        book.record(dep("api", "c1"));
        let t0 = datetime!(2026-12-02 10:01 UTC);
        let f = book
            .look("api", "staging", "c1", &failing("500"), t0, AFTER)
            .unwrap();
        assert_eq!(f.since, t0);
        let f = book
            .look(
                "api",
                "staging",
                "c1",
                &failing("502"),
                t0 + time::Duration::minutes(2),
                AFTER,
            )
            .unwrap();
        assert_eq!((f.since, f.seen.as_str()), (t0, "502"), "it keeps running");
        // A look that cannot tell breaks it: a failure must be seen throughout.
        let unknown = Live::Unknown {
            why: "Argo CD down".into(),
        };
        assert!(
            book.look(
                "api",
                "staging",
                "c1",
                &unknown,
                t0 + time::Duration::minutes(3),
                AFTER
            )
            .is_none()
        );
        let t4 = t0 + time::Duration::minutes(4);
        let f = book
            .look("api", "staging", "c1", &failing("500"), t4, AFTER)
            .unwrap();
        assert_eq!(f.since, t4, "it starts afresh");
        // A failure seen again after a gap without looks (ferry was down)
        // starts afresh: nothing saw it fail in between.
        let t20 = t4 + time::Duration::minutes(20);
        let f = book
            .look("api", "staging", "c1", &failing("500"), t20, AFTER)
            .unwrap();
        assert_eq!(f.since, t20);
        let f = book
            .look(
                "api",
                "staging",
                "c1",
                &failing("500"),
                t20 + time::Duration::minutes(11),
                AFTER,
            )
            .unwrap();
        assert_eq!(f.since, t20, "within twice after and a minute");
        // Never less than MIN_GAP, however short `after`.
        assert_eq!(gap(std::time::Duration::from_secs(10)), MIN_GAP);
        // Another deployment's clock is not this one's.
        assert!(
            book.look("api", "staging", "c0", &failing("500"), t4, AFTER)
                .is_none()
        );
    }

    #[test]
    fn a_newer_deployment_replaces_the_older_and_the_file_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.json");
        let book = WatchBook::with_file(&file);
        book.record(dep("api", "c1"));
        book.record(dep("api", "c2"));
        book.record(dep("web", "c2"));
        book.look(
            "api",
            "staging",
            "c2",
            &failing("500"),
            datetime!(2026-12-02 10:05 UTC),
            AFTER,
        );
        book.save().unwrap();
        let again = WatchBook::with_file(&file);
        let api = again.current("api", "staging").unwrap();
        assert_eq!(api.commit, "c2");
        assert_eq!(api.failing.unwrap().seen, "500");
        assert!(again.current("web", "staging").is_some());
        again.forget("api", "staging", "c2");
        assert!(again.current("api", "staging").is_none());
        again.prune(datetime!(2026-12-20 00:00 UTC));
        assert!(again.current("web", "staging").is_none(), "older than KEEP");
        // A damaged file starts an empty book.
        std::fs::write(&file, b"{not json").unwrap();
        assert!(
            WatchBook::with_file(&file)
                .current("web", "staging")
                .is_none()
        );
    }

    #[test]
    fn what_a_person_asked_for_is_remembered_per_pr_and_app() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.json");
        let book = WatchBook::with_file(&file);
        book.asked(7, "api");
        book.asked(7, "api");
        book.save().unwrap();
        let again = WatchBook::with_file(&file);
        assert!(again.was_asked(7, "api"));
        assert!(!again.was_asked(7, "web"), "another app of the PR");
        assert!(!again.was_asked(8, "api"), "another PR");
        for n in 0..ASKED_KEPT as u64 {
            again.asked(100 + n, "api");
        }
        assert!(!again.was_asked(7, "api"), "the oldest go first");
        assert!(again.was_asked(100 + ASKED_KEPT as u64 - 1, "api"));
    }

    #[test]
    fn prs_that_close_are_handed_back_once() {
        let book = WatchBook::new();
        let pr = |n| SeenPr {
            number: n,
            url: format!("u#{n}"),
            env: "staging".into(),
            carried: vec![("api".into(), Some("sha-2".into()), "sha256:2".into())],
        };
        assert!(book.saw_open(vec![pr(1), pr(2)]).is_empty());
        let gone = book.saw_open(vec![pr(2)]);
        assert_eq!(gone.iter().map(|p| p.number).collect::<Vec<_>>(), [1]);
        assert!(book.saw_open(vec![pr(2)]).is_empty(), "handed back once");
        book.still_unknown(gone[0].clone());
        assert_eq!(book.saw_open(vec![]).len(), 2);
    }
}
