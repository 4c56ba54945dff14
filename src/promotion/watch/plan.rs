//! Pure: what the watch of each environment says, and the reverts that
//! are due, from the snapshot alone.

use serde::Serialize;
use time::OffsetDateTime;

use super::{Via, Watched};
use crate::promotion::plan::ImageRef;
use crate::promotion::snapshot::Snapshot;

/// One watched app in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchEntry {
    /// The app.
    pub app: String,
    /// The environment.
    pub env: String,
    /// The commit that brought what runs.
    pub commit: String,
    /// How ferry knows it: its own commit, or its PR's merge.
    pub via: Via,
    /// What the watch says.
    #[serde(flatten)]
    pub state: WatchState,
    /// The revert to make now, when one is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revert: Option<RevertStep>,
}

/// What a watch says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WatchState {
    /// No failure lasts: ferry keeps watching for `left_secs`.
    Watching {
        /// Seconds of the watch left.
        left_secs: u64,
        /// What this look saw, when it was not plainly healthy (settling,
        /// a check that could not be asked, a pin).
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A check fails: ferry reverts once it has failed for `after_secs`.
    Reverting {
        /// `argocd`, `smoke` or `analysis`.
        check: String,
        /// What it saw.
        seen: String,
        /// How long it has failed without a break.
        failing_secs: u64,
        /// `auto_revert.after`.
        after_secs: u64,
        /// Seconds of the watch left.
        left_secs: u64,
        /// Why a due revert cannot be made (nothing to go back to, an
        /// image the gates refuse).
        #[serde(skip_serializing_if = "Option::is_none")]
        blocked: Option<String>,
    },
    /// ferry reverted it by this commit.
    Reverted {
        /// The revert commit.
        by: String,
    },
}

/// A revert to commit now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevertStep {
    /// The app.
    pub app: String,
    /// The environment.
    pub env: String,
    /// The deployment it reverts.
    pub reverts: String,
    /// How that deployment landed.
    pub via: Via,
    /// What runs now; the revert applies only while it still does.
    pub from: ImageRef,
    /// The image before it.
    pub to: ImageRef,
    /// The commit that last set `to`.
    pub to_commit: String,
    /// The failing check.
    pub check: String,
    /// What it saw.
    pub seen: String,
    /// How long it failed.
    pub failing_secs: u64,
    /// The key that verified `to`'s signature.
    #[serde(skip)]
    pub signature_key: Option<String>,
}

impl WatchEntry {
    /// One line for a person: `watching (41m left)`, `reverting: smoke: …`.
    pub fn describe(&self) -> String {
        match &self.state {
            WatchState::Watching { left_secs, note } => {
                let note = note
                    .as_deref()
                    .map(|n| format!("; {n}"))
                    .unwrap_or_default();
                format!("watching ({} left{note})", span(*left_secs))
            }
            WatchState::Reverting {
                check,
                seen,
                failing_secs,
                after_secs,
                blocked,
                ..
            } => {
                let when = match (blocked, &self.revert) {
                    (Some(b), _) => format!("; cannot revert: {b}"),
                    (None, Some(r)) => format!("; reverting now to {}", show(&r.to)),
                    (None, None) => String::new(),
                };
                format!(
                    "reverting: {check}: {seen} (failing for {} of {}{when})",
                    span(*failing_secs),
                    span(*after_secs)
                )
            }
            WatchState::Reverted { by } => {
                format!("reverted by {}", by.get(..12).unwrap_or(by))
            }
        }
    }
}

fn show(i: &ImageRef) -> String {
    match (&i.tag, &i.digest) {
        (Some(t), _) => t.clone(),
        (None, Some(d)) => d.get(..19).unwrap_or(d).to_string(),
        (None, None) => "(no image)".into(),
    }
}

/// `1h2m`, `5m`, `40s`.
pub fn span(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

fn secs(d: time::Duration) -> u64 {
    u64::try_from(d.whole_seconds()).unwrap_or(0)
}

/// How long until a failure being watched would last `after`: when a pass
/// should look again, rather than at the next resync (a second after, so
/// the look finds it due). `None` when no failure is being timed.
pub fn next_look(watch: &[WatchEntry]) -> Option<std::time::Duration> {
    watch
        .iter()
        .filter_map(|w| match &w.state {
            WatchState::Reverting {
                failing_secs,
                after_secs,
                blocked: None,
                ..
            } if w.revert.is_none() => Some(after_secs.saturating_sub(*failing_secs) + 1),
            _ => None,
        })
        .min()
        .map(std::time::Duration::from_secs)
}

/// Every watch of the snapshot, in config order.
pub fn plan_watch(snapshot: &Snapshot) -> Vec<WatchEntry> {
    let now = snapshot.taken_at;
    let mut out = Vec::new();
    for app in &snapshot.apps {
        for env in &app.envs {
            let Some(w) = &env.watch else { continue };
            let from = match &env.running {
                Ok(Some(r)) => ImageRef {
                    tag: r.tag.clone(),
                    digest: r.digest.clone(),
                },
                _ => continue,
            };
            let (state, revert) = judge(w, &app.app, &env.env, from, now);
            out.push(WatchEntry {
                app: app.app.clone(),
                env: env.env.clone(),
                commit: w.commit.clone(),
                via: w.via.clone(),
                state,
                revert,
            });
        }
    }
    out
}

fn judge(
    w: &Watched,
    app: &str,
    env: &str,
    from: ImageRef,
    now: OffsetDateTime,
) -> (WatchState, Option<RevertStep>) {
    if let Some(by) = &w.reverted_by {
        return (WatchState::Reverted { by: by.clone() }, None);
    }
    // Subtracted, not added: a landing time read from the book cannot
    // overflow the calendar.
    let within = time::Duration::try_from(w.within).unwrap_or(time::Duration::MAX);
    let left = secs(within - (now - w.landed_at));
    let Some(f) = w.failing.as_ref().filter(|_| !w.pinned) else {
        let note = if w.pinned {
            Some("pinned: never reverted".to_string())
        } else if w.live == super::Live::Healthy {
            None
        } else {
            Some(w.live.describe())
        };
        return (
            WatchState::Watching {
                left_secs: left,
                note,
            },
            None,
        );
    };
    let failing = now - f.since;
    let failing_secs = secs(failing);
    let due = failing >= w.after && now - w.landed_at <= w.within;
    let mut blocked = None;
    let mut revert = None;
    if due {
        match &w.back_to {
            Err(e) => blocked = Some(e.clone()),
            Ok(b) => match &b.checked {
                Some(Ok(key)) if !b.digest.is_empty() => {
                    revert = Some(RevertStep {
                        app: app.to_string(),
                        env: env.to_string(),
                        reverts: w.commit.clone(),
                        via: w.via.clone(),
                        from,
                        to: ImageRef {
                            tag: b.tag.clone(),
                            digest: Some(b.digest.clone()),
                        },
                        to_commit: b.commit.clone(),
                        check: f.check.clone(),
                        seen: f.seen.clone(),
                        failing_secs,
                        signature_key: key.clone(),
                    });
                }
                Some(Ok(_)) => blocked = Some("the image before has no digest".into()),
                Some(Err(e)) => blocked = Some(e.clone()),
                None => blocked = Some("the image before was not checked".into()),
            },
        }
    }
    (
        WatchState::Reverting {
            check: f.check.clone(),
            seen: f.seen.clone(),
            failing_secs,
            after_secs: w.after.as_secs(),
            left_secs: left,
            blocked,
        },
        revert,
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use time::macros::datetime;

    use super::*;
    use crate::promotion::watch::{BackTo, Failing, Live};

    const NOW: OffsetDateTime = datetime!(2026-12-02 10:30 UTC);

    fn watched(failing_for: Option<i64>) -> Watched {
        Watched {
            commit: "c2".into(),
            digest: Some("sha256:2".into()),
            via: Via::Merge {
                number: 6,
                url: "u#6".into(),
            },
            landed_at: datetime!(2026-12-02 10:00 UTC),
            within: Duration::from_secs(3600),
            after: Duration::from_secs(300),
            live: Live::Healthy,
            failing: failing_for.map(|s| Failing {
                since: NOW - time::Duration::seconds(s),
                check: "smoke".into(),
                seen: "got 500".into(),
                last_seen: None,
            }),
            back_to: Ok(BackTo {
                tag: Some("sha-1".into()),
                digest: "sha256:1".into(),
                commit: "c1".into(),
                checked: Some(Ok(Some("key".into()))),
            }),
            pinned: false,
            reverted_by: None,
        }
    }

    fn from() -> ImageRef {
        ImageRef {
            tag: Some("sha-2".into()),
            digest: Some("sha256:2".into()),
        }
    }

    #[test]
    fn healthy_is_watching_with_the_time_left() {
        let (state, revert) = judge(&watched(None), "api", "staging", from(), NOW);
        assert_eq!(
            state,
            WatchState::Watching {
                left_secs: 1800,
                note: None
            }
        );
        assert!(revert.is_none());
    }

    #[test]
    fn a_failure_reverts_only_once_it_lasted_after() {
        let (state, revert) = judge(&watched(Some(299)), "api", "staging", from(), NOW);
        assert!(matches!(
            state,
            WatchState::Reverting {
                failing_secs: 299,
                ..
            }
        ));
        assert!(revert.is_none(), "not yet");
        let (_, revert) = judge(&watched(Some(300)), "api", "staging", from(), NOW);
        let r = revert.expect("due");
        assert_eq!((r.reverts.as_str(), r.to_commit.as_str()), ("c2", "c1"));
        assert_eq!(r.from, from());
        assert_eq!(r.to.digest.as_deref(), Some("sha256:1"));
        assert_eq!(r.signature_key.as_deref(), Some("key"));
    }

    #[test]
    fn no_revert_after_the_watch_a_pin_or_a_refused_image() {
        // The watch ended at 11:00.
        let late = datetime!(2026-12-02 11:00:01 UTC);
        let mut w = watched(Some(400));
        if let Some(f) = &mut w.failing {
            f.since = late - time::Duration::seconds(400);
        }
        assert!(judge(&w, "api", "staging", from(), late).1.is_none());
        let mut pinned = watched(Some(400));
        pinned.pinned = true;
        let (state, revert) = judge(&pinned, "api", "staging", from(), NOW);
        assert!(revert.is_none());
        assert!(
            matches!(state, WatchState::Watching { note: Some(n), .. } if n.contains("pinned"))
        );
        let mut refused = watched(Some(400));
        if let Ok(b) = &mut refused.back_to {
            b.checked = Some(Err("the signature of sha-1 does not pass".into()));
        }
        let (state, revert) = judge(&refused, "api", "staging", from(), NOW);
        assert!(revert.is_none());
        assert!(
            matches!(state, WatchState::Reverting { blocked: Some(b), .. } if b.contains("signature"))
        );
        let mut nothing = watched(Some(400));
        nothing.back_to = Err("no earlier image".into());
        assert!(judge(&nothing, "api", "staging", from(), NOW).1.is_none());
        let mut done = watched(Some(400));
        done.reverted_by = Some("c3".into());
        assert_eq!(
            judge(&done, "api", "staging", from(), NOW),
            (WatchState::Reverted { by: "c3".into() }, None)
        );
    }

    #[test]
    fn the_next_look_is_when_the_soonest_failure_would_be_due() {
        let entry = |failing_secs, blocked: Option<&str>| WatchEntry {
            app: "api".into(),
            env: "staging".into(),
            commit: "c".into(),
            via: Via::Commit,
            state: WatchState::Reverting {
                check: "smoke".into(),
                seen: "500".into(),
                failing_secs,
                after_secs: 300,
                left_secs: 3000,
                blocked: blocked.map(Into::into),
            },
            revert: None,
        };
        assert_eq!(next_look(&[]), None);
        assert_eq!(
            next_look(&[
                entry(100, None),
                entry(250, None),
                entry(299, Some("no image"))
            ]),
            Some(Duration::from_secs(51))
        );
        let watching = WatchEntry {
            state: WatchState::Watching {
                left_secs: 10,
                note: None,
            },
            ..entry(0, None)
        };
        assert_eq!(next_look(&[watching]), None, "nothing to time");
    }

    /// A landing time at the end of the calendar (a damaged book) gives a
    /// watch, not a panic.
    #[test]
    fn a_landing_at_the_end_of_time_does_not_panic() {
        let mut w = watched(None);
        w.landed_at = time::PrimitiveDateTime::MAX.assume_utc();
        let (state, revert) = judge(&w, "api", "staging", from(), NOW);
        assert!(matches!(state, WatchState::Watching { .. }));
        assert!(revert.is_none());
    }

    #[test]
    fn spans_read_short() {
        assert_eq!(
            [
                span(0),
                span(45),
                span(300),
                span(305),
                span(3600),
                span(3720)
            ],
            ["0s", "45s", "5m", "5m5s", "1h", "1h2m"]
        );
    }
}
