//! Pure: what one look at an environment says about the health of the
//! image it runs, for the automatic revert. Only what was *seen* failing
//! is a failure: an Argo CD that cannot be asked, a smoke check that got
//! no answer, or an analysis without a value is [`Live::Unknown`].

use serde::Serialize;

use crate::health::analysis::{AnalysisResult, Outcome};
use crate::health::{Application, Check, Failure, SmokeResult};

/// What one look saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "live", rename_all = "snake_case")]
pub enum Live {
    /// Argo CD shows ferry's revision synced and healthy, and every check
    /// passes.
    Healthy,
    /// Not settled: Argo CD has not synced ferry's revision yet, or is
    /// still progressing. Neither healthy nor failing.
    Settling {
        /// What Argo CD shows.
        why: String,
    },
    /// A check fails.
    Failing {
        /// `argocd`, `smoke` or `analysis`.
        check: String,
        /// What it saw.
        seen: String,
    },
    /// A check could not be asked.
    Unknown {
        /// Why.
        why: String,
    },
}

impl Live {
    /// One line for a person.
    pub fn describe(&self) -> String {
        match self {
            Live::Healthy => "healthy".into(),
            Live::Settling { why } => format!("settling: {why}"),
            Live::Failing { check, seen } => format!("{check}: {seen}"),
            Live::Unknown { why } => format!("cannot tell: {why}"),
        }
    }
}

/// Argo CD's health states that are a failure of the image: the workload
/// is broken, or its resources are gone.
const FAILED_HEALTH: &[&str] = &["Degraded", "Missing"];

/// Classifies one look: `app` as Argo CD reported it, `failures` from
/// [`crate::health::assess`] against ferry's commit and image, `smoke` the
/// environment's smoke checks (run only when `failures` is empty).
///
/// Argo CD Degraded or Missing counts only once it compares with ferry's
/// revision (or later): a failure at an older revision is the old image's.
/// A smoke check fails the image only when the server answered; no answer
/// (refused, timed out) could be the network between ferry and the app.
pub fn classify(app: &Application, failures: &[Failure], smoke: &[SmokeResult]) -> Live {
    if !failures.is_empty() {
        if let Some(f) = failures.iter().find(|f| f.check == Check::Revision) {
            return Live::Settling {
                why: f.message.clone(),
            };
        }
        let health = app.status.health.status.as_deref().unwrap_or("");
        if FAILED_HEALTH.contains(&health) {
            let detail = failures
                .iter()
                .find(|f| f.check == Check::Health)
                .map(|f| f.message.clone())
                .unwrap_or_else(|| format!("health {health}"));
            return Live::Failing {
                check: "argocd".into(),
                seen: detail,
            };
        }
        let why: Vec<String> = failures.iter().map(ToString::to_string).collect();
        return Live::Settling {
            why: why.join("; "),
        };
    }
    if let Some(s) = smoke.iter().find(|s| !s.ok && s.answered) {
        return Live::Failing {
            check: "smoke".into(),
            seen: format!("{}: {}", s.url, s.message),
        };
    }
    if let Some(s) = smoke.iter().find(|s| !s.ok) {
        return Live::Unknown {
            why: format!("smoke check {} got no answer: {}", s.url, s.message),
        };
    }
    Live::Healthy
}

/// `live` with the analyses of the same look folded in: one failed past
/// its `failure_limit` is a failure (a single failed evaluation below it is
/// not yet); one without a value (no data, NaN, Prometheus down) cannot
/// tell.
pub fn with_analysis(live: Live, analysis: &[AnalysisResult]) -> Live {
    let mut out = live;
    for a in analysis {
        if a.past_limit() {
            out = worse(
                out,
                Live::Failing {
                    check: "analysis".into(),
                    seen: a.hold_message(),
                },
            );
        } else if matches!(a.outcome, Outcome::Inconclusive { .. }) {
            out = worse(
                out,
                Live::Unknown {
                    why: format!("analysis {}", a.hold_message()),
                },
            );
        }
    }
    out
}

/// The worse of two looks at the same environment (an analysis after
/// Argo CD and smoke): a failure wins, then what cannot be told, then
/// settling.
pub fn worse(a: Live, b: Live) -> Live {
    fn rank(l: &Live) -> u8 {
        match l {
            Live::Failing { .. } => 3,
            Live::Unknown { .. } => 2,
            Live::Settling { .. } => 1,
            Live::Healthy => 0,
        }
    }
    if rank(&b) > rank(&a) { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(health: &str) -> Application {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "platform-staging"},
            "status": {"health": {"status": health}, "sync": {"status": "Synced", "revision": "abc"}}
        }))
        .unwrap()
    }

    fn fail(check: Check, message: &str) -> Failure {
        Failure {
            check,
            message: message.into(),
        }
    }

    fn smoke(ok: bool, answered: bool) -> SmokeResult {
        SmokeResult {
            url: "http://app/healthz".into(),
            ok,
            attempts: 1,
            message: if answered {
                "expected HTTP 200, got 500".into()
            } else {
                "connection refused".into()
            },
            answered,
        }
    }

    #[test]
    fn degraded_at_ferrys_revision_fails_and_before_it_settles() {
        let degraded = app("Degraded");
        let f = [fail(Check::Health, "health is Degraded, not Healthy")];
        assert_eq!(
            classify(&degraded, &f, &[]),
            Live::Failing {
                check: "argocd".into(),
                seen: "health is Degraded, not Healthy".into()
            }
        );
        // The same Degraded at an older revision is the old image's.
        let f = [
            fail(Check::Revision, "revision old is not abc"),
            fail(Check::Health, "health is Degraded, not Healthy"),
        ];
        assert!(matches!(
            classify(&degraded, &f, &[]),
            Live::Settling { .. }
        ));
        assert!(matches!(
            classify(&app("Missing"), &[fail(Check::Health, "Missing")], &[]),
            Live::Failing { .. }
        ));
        // Progressing is not a failure yet.
        let f = [fail(Check::Health, "health is Progressing, not Healthy")];
        assert!(matches!(
            classify(&app("Progressing"), &f, &[]),
            Live::Settling { .. }
        ));
    }

    #[test]
    fn a_smoke_check_fails_the_image_only_when_the_server_answered() {
        let healthy = app("Healthy");
        assert_eq!(classify(&healthy, &[], &[smoke(true, true)]), Live::Healthy);
        assert!(matches!(
            classify(&healthy, &[], &[smoke(false, true)]),
            Live::Failing { ref check, .. } if check == "smoke"
        ));
        assert!(matches!(
            classify(&healthy, &[], &[smoke(false, false)]),
            Live::Unknown { .. }
        ));
        // One answered failure is enough, whatever the others did.
        assert!(matches!(
            classify(&healthy, &[], &[smoke(false, false), smoke(false, true)]),
            Live::Failing { .. }
        ));
    }

    fn analysis(outcome: Outcome, streak: u32) -> AnalysisResult {
        AnalysisResult {
            name: "success-rate".into(),
            outcome,
            success: ">= 0.95".into(),
            streak,
            limit: 3,
        }
    }

    #[test]
    fn an_analysis_fails_the_image_only_past_its_limit() {
        let fail = |streak| analysis(Outcome::Fail { value: 0.5 }, streak);
        assert_eq!(with_analysis(Live::Healthy, &[fail(2)]), Live::Healthy);
        let past = with_analysis(Live::Healthy, &[fail(3)]);
        assert!(
            matches!(&past, Live::Failing { check, seen } if check == "analysis" && seen.contains("0.5")),
            "{past:?}"
        );
        let no_data = analysis(
            Outcome::Inconclusive {
                why: "no data".into(),
            },
            0,
        );
        assert!(matches!(
            with_analysis(Live::Healthy, std::slice::from_ref(&no_data)),
            Live::Unknown { .. }
        ));
        // A failure seen elsewhere is not hidden by an analysis without data.
        assert!(matches!(
            with_analysis(past.clone(), &[no_data]),
            Live::Failing { .. }
        ));
        let pass = analysis(Outcome::Pass { value: 0.99 }, 0);
        assert_eq!(with_analysis(Live::Healthy, &[pass]), Live::Healthy);
    }

    #[test]
    fn the_worse_look_wins() {
        let failing = Live::Failing {
            check: "analysis".into(),
            seen: "x".into(),
        };
        let unknown = Live::Unknown { why: "y".into() };
        assert_eq!(worse(Live::Healthy, failing.clone()), failing);
        assert_eq!(worse(failing.clone(), unknown.clone()), failing);
        assert_eq!(worse(Live::Healthy, unknown.clone()), unknown);
        assert_eq!(worse(Live::Healthy, Live::Healthy), Live::Healthy);
    }
}
