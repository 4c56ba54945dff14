//! Soak: how long an environment has shown an image proven without a
//! break.
//!
//! The tracker keeps, per app and environment, the digest it saw proven
//! and since when. It may be backed by a file in ferry's cache directory
//! ([`SoakTracker::with_file`]), so that a restarted process keeps the
//! clocks it had; without the file (a new machine, another replica) the
//! clock starts again at the first observation. Either way a restart can
//! delay a promotion, never let one through early, and the file is a cache:
//! nothing is lost with it that watching Argo CD again does not rebuild.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::warn;

use super::analysis::AnalysisTracker;

/// Which image in which environment is soaking.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SoakKey {
    /// ferry's app name.
    pub app: String,
    /// The environment.
    pub env: String,
    /// The promoted digest (or the tag when the overlay pins no digest).
    pub digest: String,
}

/// The soak clock of one observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Soak {
    /// Since when the image has been proven without a break; `None` when
    /// it is not proven now.
    #[serde(with = "time::serde::rfc3339::option")]
    pub proven_since: Option<OffsetDateTime>,
}

impl Soak {
    /// Time still to wait at `now` for a soak of `soak`: `None` when the
    /// image is not proven (the clock is not running), `Some(ZERO)` when
    /// the soak is done. A start in the future (clock skew) counts as no
    /// time elapsed.
    pub fn remaining(&self, soak: Duration, now: OffsetDateTime) -> Option<Duration> {
        let since = self.proven_since?;
        let elapsed = Duration::try_from(now - since).unwrap_or(Duration::ZERO);
        Some(soak.saturating_sub(elapsed))
    }
}

/// One clock as the file stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    #[serde(flatten)]
    key: SoakKey,
    #[serde(with = "time::serde::rfc3339")]
    since: OffsetDateTime,
}

#[derive(Debug, Default)]
struct Clocks {
    /// (app, env) → (digest, first time seen proven). An environment runs
    /// one image per app, so a new digest replaces the old one.
    first_proven: HashMap<(String, String), (String, OffsetDateTime)>,
    /// Changed since the last save.
    dirty: bool,
}

/// The first time ferry saw each image proven, per app and environment;
/// and the analyses' failure streaks, kept and saved alongside.
#[derive(Debug, Default)]
pub struct SoakTracker {
    clocks: Mutex<Clocks>,
    file: Option<PathBuf>,
    analysis: AnalysisTracker,
}

impl SoakTracker {
    /// An empty tracker, in memory only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracker backed by `file`: the clocks saved there are loaded now,
    /// and [`save`](Self::save) writes them back. A missing file starts
    /// empty; an unreadable one is reported and starts empty too (every
    /// clock restarts, which is safe).
    pub fn with_file(file: impl Into<PathBuf>) -> Self {
        let file = file.into();
        let mut clocks = Clocks::default();
        match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<Vec<Saved>>(&bytes) {
                Ok(saved) => {
                    for s in saved {
                        clocks
                            .first_proven
                            .insert((s.key.app, s.key.env), (s.key.digest, s.since));
                    }
                }
                Err(e) => {
                    warn!(file = %file.display(), error = %e, "soak clocks unreadable; starting afresh")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(file = %file.display(), error = %e, "soak clocks unreadable; starting afresh")
            }
        }
        SoakTracker {
            clocks: Mutex::new(clocks),
            analysis: AnalysisTracker::with_file(analysis_file(&file)),
            file: Some(file),
        }
    }

    /// The analyses' failure streaks; with a file, kept in
    /// `<file stem>.analysis.json` beside it (`x.soak.json` →
    /// `x.soak.analysis.json`).
    pub fn analysis(&self) -> &AnalysisTracker {
        &self.analysis
    }

    /// The backing file, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Writes the clocks to the backing file (atomically) if they changed
    /// since the last save, and the analysis streaks to theirs. Does
    /// nothing without a file.
    pub fn save(&self) -> std::io::Result<()> {
        self.analysis.save()?;
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut clocks = self.lock();
        if !clocks.dirty {
            return Ok(());
        }
        let mut saved: Vec<Saved> = clocks
            .first_proven
            .iter()
            .map(|((app, env), (digest, since))| Saved {
                key: SoakKey {
                    app: app.clone(),
                    env: env.clone(),
                    digest: digest.clone(),
                },
                since: *since,
            })
            .collect();
        saved.sort_by(|a, b| a.key.cmp(&b.key));
        let json = serde_json::to_vec_pretty(&saved).map_err(std::io::Error::other)?;
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::atomic::write(file, &json)?;
        clocks.dirty = false;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Clocks> {
        self.clocks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one observation at `now`. When `proven`, the clock runs
    /// from the later of `health_since` (Argo CD's
    /// `status.health.lastTransitionTime`) and the first time this tracker
    /// saw the key proven; the later one wins because a flap between two
    /// observations shows up only as a newer transition time. When not
    /// proven, the clock stops and the next proven observation starts it
    /// afresh.
    pub fn observe(
        &self,
        key: &SoakKey,
        proven: bool,
        health_since: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Soak {
        let mut clocks = self.lock();
        let slot = (key.app.clone(), key.env.clone());
        if !proven {
            if clocks.first_proven.remove(&slot).is_some() {
                clocks.dirty = true;
            }
            return Soak { proven_since: None };
        }
        let first = match clocks.first_proven.get(&slot) {
            Some((digest, since)) if *digest == key.digest => *since,
            _ => {
                clocks.first_proven.insert(slot, (key.digest.clone(), now));
                clocks.dirty = true;
                now
            }
        };
        let since = match health_since {
            Some(h) if h > first => h,
            _ => first,
        };
        Soak {
            proven_since: Some(since),
        }
    }

    /// Forgets every key, as a restart without the file would (the
    /// analysis streaks too).
    pub fn clear(&self) {
        self.analysis.clear();
        let mut clocks = self.lock();
        clocks.first_proven.clear();
        clocks.dirty = true;
    }
}

/// `x.soak.json` → `x.soak.analysis.json`.
fn analysis_file(soak: &Path) -> PathBuf {
    soak.with_extension("analysis.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const MIN: Duration = Duration::from_secs(60);

    fn key(digest: &str) -> SoakKey {
        SoakKey {
            app: "api".into(),
            env: "dev".into(),
            digest: digest.into(),
        }
    }

    #[test]
    fn the_clock_runs_from_the_first_proven_observation() {
        let t = SoakTracker::new();
        let t0 = datetime!(2026-01-01 10:00 UTC);
        let s = t.observe(&key("a"), true, Some(datetime!(2026-01-01 9:00 UTC)), t0);
        assert_eq!(s.proven_since, Some(t0));
        let s = t.observe(&key("a"), true, None, t0 + 3 * MIN);
        assert_eq!(s.remaining(5 * MIN, t0 + 3 * MIN), Some(2 * MIN));
        assert_eq!(s.remaining(5 * MIN, t0 + 6 * MIN), Some(Duration::ZERO));
    }

    #[test]
    fn a_later_health_transition_restarts_the_clock() {
        let t = SoakTracker::new();
        let t0 = datetime!(2026-01-01 10:00 UTC);
        t.observe(&key("a"), true, None, t0);
        let flapped = t0 + 2 * MIN;
        let s = t.observe(&key("a"), true, Some(flapped), t0 + 4 * MIN);
        assert_eq!(s.proven_since, Some(flapped));
        assert_eq!(s.remaining(5 * MIN, t0 + 4 * MIN), Some(3 * MIN));
    }

    #[test]
    fn not_proven_stops_the_clock_and_resets_it() {
        let t = SoakTracker::new();
        let t0 = datetime!(2026-01-01 10:00 UTC);
        t.observe(&key("a"), true, None, t0);
        let s = t.observe(&key("a"), false, None, t0 + MIN);
        assert_eq!(s.proven_since, None);
        assert_eq!(s.remaining(Duration::ZERO, t0 + MIN), None);
        let s = t.observe(&key("a"), true, None, t0 + 2 * MIN);
        assert_eq!(s.proven_since, Some(t0 + 2 * MIN));
    }

    #[test]
    fn a_new_digest_replaces_the_old_one_of_the_same_app_and_env() {
        let t = SoakTracker::new();
        let t0 = datetime!(2026-01-01 10:00 UTC);
        t.observe(&key("a"), true, None, t0);
        t.observe(&key("b"), true, None, t0 + MIN);
        // "a" was forgotten: seen again, it starts afresh.
        let s = t.observe(&key("a"), true, None, t0 + 2 * MIN);
        assert_eq!(s.proven_since, Some(t0 + 2 * MIN));
        let other_env = SoakKey {
            env: "staging".into(),
            ..key("a")
        };
        t.observe(&other_env, true, None, t0 + 3 * MIN);
        let s = t.observe(&key("a"), true, None, t0 + 4 * MIN);
        assert_eq!(s.proven_since, Some(t0 + 2 * MIN));
    }

    #[test]
    fn clocks_survive_a_restart_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache/soak.json");
        let t0 = datetime!(2026-01-01 10:00 UTC);
        let t = SoakTracker::with_file(&file);
        t.observe(&key("a"), true, None, t0);
        let other = SoakKey {
            env: "staging".into(),
            ..key("b")
        };
        t.observe(&other, true, None, t0 + MIN);
        t.save().unwrap();
        // Nothing changed: no write (an atomic write makes a new inode).
        use std::os::unix::fs::MetadataExt;
        let inode = std::fs::metadata(&file).unwrap().ino();
        t.observe(&key("a"), true, None, t0 + 2 * MIN);
        t.save().unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().ino(), inode);
        let web = SoakKey {
            app: "web".into(),
            ..key("c")
        };
        t.observe(&web, true, None, t0 + 2 * MIN);
        t.save().unwrap();
        assert_ne!(
            std::fs::metadata(&file).unwrap().ino(),
            inode,
            "a change is written"
        );

        let restarted = SoakTracker::with_file(&file);
        let s = restarted.observe(&key("a"), true, None, t0 + 3 * MIN);
        assert_eq!(s.proven_since, Some(t0), "the clock kept running");
        let s = restarted.observe(&other, true, None, t0 + 3 * MIN);
        assert_eq!(s.proven_since, Some(t0 + MIN));
        // A flap seen after the restart still resets it, and is saved.
        restarted.observe(&key("a"), false, None, t0 + 4 * MIN);
        restarted.save().unwrap();
        let again = SoakTracker::with_file(&file);
        let s = again.observe(&key("a"), true, None, t0 + 5 * MIN);
        assert_eq!(s.proven_since, Some(t0 + 5 * MIN));
    }

    #[test]
    fn an_unreadable_file_starts_every_clock_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("soak.json");
        std::fs::write(&file, "{not json").unwrap();
        let t0 = datetime!(2026-01-01 10:00 UTC);
        let t = SoakTracker::with_file(&file);
        assert_eq!(t.observe(&key("a"), true, None, t0).proven_since, Some(t0));
        t.save().unwrap();
        assert!(
            std::fs::read_to_string(&file)
                .unwrap()
                .contains("\"digest\": \"a\"")
        );
    }

    #[test]
    fn a_start_in_the_future_counts_as_no_time() {
        let t0 = datetime!(2026-01-01 10:00 UTC);
        let s = Soak {
            proven_since: Some(t0 + MIN),
        };
        assert_eq!(s.remaining(5 * MIN, t0), Some(5 * MIN));
    }

    #[test]
    fn analysis_streaks_are_saved_beside_the_clocks() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache/x.soak.json");
        let t = SoakTracker::with_file(&file);
        let fail = crate::health::Outcome::Fail { value: 1.0 };
        assert_eq!(t.analysis().record(&key("a"), "rate", &fail), 1);
        t.save().unwrap();
        let beside = dir.path().join("cache/x.soak.analysis.json");
        assert_eq!(t.analysis().file(), Some(beside.as_path()));
        let restarted = SoakTracker::with_file(&file);
        assert_eq!(restarted.analysis().streak(&key("a"), "rate"), 1);
        restarted.clear();
        assert_eq!(restarted.analysis().streak(&key("a"), "rate"), 0);
    }
}
