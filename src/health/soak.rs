//! Soak: how long an environment has shown an image proven without a
//! break.
//!
//! The tracker lives in memory only. A restarted ferry (or another
//! replica) has not seen the image proven yet, so its soak clock starts
//! again at its first observation: a restart can delay a promotion, never
//! let one through early. That keeps the "no state outside git" rule: the
//! soak is rebuilt from Argo CD by watching again.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

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

/// The first time ferry saw each image proven, per app and environment.
#[derive(Debug, Default)]
pub struct SoakTracker {
    first_proven: Mutex<HashMap<SoakKey, OffsetDateTime>>,
}

impl SoakTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
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
        let mut map = self
            .first_proven
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !proven {
            map.remove(key);
            return Soak { proven_since: None };
        }
        // An environment runs one image per app: forget other digests of
        // the same app and environment, which bounds the map.
        map.retain(|k, _| k == key || k.app != key.app || k.env != key.env);
        let first = *map.entry(key.clone()).or_insert(now);
        let since = match health_since {
            Some(h) if h > first => h,
            _ => first,
        };
        Soak {
            proven_since: Some(since),
        }
    }

    /// Forgets every key, as a restart would.
    pub fn clear(&self) {
        self.first_proven
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
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
    fn a_start_in_the_future_counts_as_no_time() {
        let t0 = datetime!(2026-01-01 10:00 UTC);
        let s = Soak {
            proven_since: Some(t0 + MIN),
        };
        assert_eq!(s.remaining(5 * MIN, t0), Some(5 * MIN));
    }
}
