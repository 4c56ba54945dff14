//! Failure streaks: how many evaluations in a row each analysis failed,
//! per app, environment and image.
//!
//! A Pass resets a streak and so does an Inconclusive one: a streak
//! counts failures actually seen in a row, and "no data" is not one. A
//! new digest starts from zero. Like the soak clocks, the streaks may be
//! kept in a file of ferry's cache directory so that a restart does not
//! forget them; without it they start again, which can only delay
//! counting an analysis as failed past its limit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::Outcome;
use crate::health::SoakKey;

/// One streak as the file stores it (only those above zero are kept).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Saved {
    app: String,
    env: String,
    analysis: String,
    digest: String,
    streak: u32,
}

/// (app, env, analysis) → (digest, failed evaluations in a row).
type Slot = (String, String, String);

#[derive(Debug, Default)]
struct Streaks {
    by_slot: HashMap<Slot, (String, u32)>,
    /// Changed since the last save.
    dirty: bool,
}

/// The failure streak of every analysis, per app, environment and digest.
#[derive(Debug, Default)]
pub struct AnalysisTracker {
    streaks: Mutex<Streaks>,
    file: Option<PathBuf>,
}

impl AnalysisTracker {
    /// An empty tracker, in memory only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracker backed by `file`: the streaks saved there are loaded now
    /// and [`save`](Self::save) writes them back. A missing file starts
    /// empty; an unreadable one is reported and starts empty too.
    pub fn with_file(file: impl Into<PathBuf>) -> Self {
        let file = file.into();
        let mut streaks = Streaks::default();
        match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<Vec<Saved>>(&bytes) {
                Ok(saved) => {
                    for s in saved {
                        streaks
                            .by_slot
                            .insert((s.app, s.env, s.analysis), (s.digest, s.streak));
                    }
                }
                Err(e) => {
                    warn!(file = %file.display(), error = %e, "analysis streaks unreadable; starting afresh")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(file = %file.display(), error = %e, "analysis streaks unreadable; starting afresh")
            }
        }
        AnalysisTracker {
            streaks: Mutex::new(streaks),
            file: Some(file),
        }
    }

    /// The backing file, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Streaks> {
        self.streaks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one evaluation of `analysis` for the image of `key` and
    /// returns its streak now: one more after a Fail, zero after anything
    /// else. A digest other than the one the streak was counted for
    /// starts from zero.
    pub fn record(&self, key: &SoakKey, analysis: &str, outcome: &Outcome) -> u32 {
        let mut streaks = self.lock();
        let slot = (key.app.clone(), key.env.clone(), analysis.to_string());
        if !matches!(outcome, Outcome::Fail { .. }) {
            if streaks.by_slot.remove(&slot).is_some() {
                streaks.dirty = true;
            }
            return 0;
        }
        let streak = match streaks.by_slot.get(&slot) {
            Some((digest, n)) if *digest == key.digest => n.saturating_add(1),
            _ => 1,
        };
        streaks.by_slot.insert(slot, (key.digest.clone(), streak));
        streaks.dirty = true;
        streak
    }

    /// The streak of `analysis` for the image of `key` (zero when none).
    pub fn streak(&self, key: &SoakKey, analysis: &str) -> u32 {
        let streaks = self.lock();
        let slot = (key.app.clone(), key.env.clone(), analysis.to_string());
        match streaks.by_slot.get(&slot) {
            Some((digest, n)) if *digest == key.digest => *n,
            _ => 0,
        }
    }

    /// Writes the streaks to the backing file (atomically) if they changed
    /// since the last save. Does nothing without a file.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut streaks = self.lock();
        if !streaks.dirty {
            return Ok(());
        }
        let mut saved: Vec<Saved> = streaks
            .by_slot
            .iter()
            .map(|((app, env, analysis), (digest, streak))| Saved {
                app: app.clone(),
                env: env.clone(),
                analysis: analysis.clone(),
                digest: digest.clone(),
                streak: *streak,
            })
            .collect();
        saved.sort();
        let json = serde_json::to_vec_pretty(&saved).map_err(std::io::Error::other)?;
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::atomic::write(file, &json)?;
        streaks.dirty = false;
        Ok(())
    }

    /// Forgets every streak, as a restart without the file would.
    pub fn clear(&self) {
        let mut streaks = self.lock();
        streaks.by_slot.clear();
        streaks.dirty = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(digest: &str) -> SoakKey {
        SoakKey {
            app: "api".into(),
            env: "staging".into(),
            digest: digest.into(),
        }
    }

    const FAIL: Outcome = Outcome::Fail { value: 0.5 };
    const PASS: Outcome = Outcome::Pass { value: 0.99 };

    #[test]
    fn fails_count_up_and_anything_else_resets() {
        let t = AnalysisTracker::new();
        assert_eq!(t.record(&key("a"), "rate", &FAIL), 1);
        assert_eq!(t.record(&key("a"), "rate", &FAIL), 2);
        // Another analysis, app or environment has its own streak.
        assert_eq!(t.record(&key("a"), "latency", &FAIL), 1);
        let other_env = SoakKey {
            env: "dev".into(),
            ..key("a")
        };
        assert_eq!(t.record(&other_env, "rate", &FAIL), 1);
        assert_eq!(t.streak(&key("a"), "rate"), 2);
        assert_eq!(t.record(&key("a"), "rate", &PASS), 0);
        assert_eq!(t.record(&key("a"), "rate", &FAIL), 1);
        let no_data = Outcome::Inconclusive {
            why: "no data".into(),
        };
        assert_eq!(t.record(&key("a"), "rate", &no_data), 0);
        assert_eq!(t.streak(&key("a"), "rate"), 0);
        assert_eq!(t.record(&key("a"), "rate", &FAIL), 1);
    }

    #[test]
    fn a_new_digest_starts_from_zero() {
        let t = AnalysisTracker::new();
        t.record(&key("a"), "rate", &FAIL);
        t.record(&key("a"), "rate", &FAIL);
        assert_eq!(t.streak(&key("b"), "rate"), 0);
        assert_eq!(t.record(&key("b"), "rate", &FAIL), 1);
        // Back to the old digest: its streak was replaced.
        assert_eq!(t.record(&key("a"), "rate", &FAIL), 1);
    }

    #[test]
    fn streaks_survive_a_restart_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache/x.analysis.json");
        let t = AnalysisTracker::with_file(&file);
        t.record(&key("a"), "rate", &FAIL);
        t.record(&key("a"), "rate", &FAIL);
        t.save().unwrap();
        let again = AnalysisTracker::with_file(&file);
        assert_eq!(again.file(), Some(file.as_path()));
        assert_eq!(again.record(&key("a"), "rate", &FAIL), 3);
        // A save with nothing changed does not touch the file.
        std::fs::write(&file, "garbage").unwrap();
        let unreadable = AnalysisTracker::with_file(&file);
        assert_eq!(unreadable.streak(&key("a"), "rate"), 0);
        unreadable.save().unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "garbage");
        // Without a file nothing is written.
        let memory = AnalysisTracker::new();
        memory.record(&key("a"), "rate", &FAIL);
        memory.save().unwrap();
        assert_eq!(memory.file(), None);
    }
}
