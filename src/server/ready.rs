//! `GET /readyz`: whether ferry is doing its job, from the runner's
//! status. Ready when the runner is alive and its last successful pass is
//! recent (within `max_age`, 3 × the resync interval in `ferry run`); not
//! ready, with the reason, otherwise. `/healthz` stays a liveness check.

use std::time::Duration;

use time::OffsetDateTime;

use crate::runner::Status;

/// The answer of `/readyz`: `Ok` (200) or `Err` (503), each with the text
/// a person reads.
pub fn readiness(
    status: &Status,
    runner_alive: bool,
    now: OffsetDateTime,
    max_age: Duration,
) -> Result<String, String> {
    if !runner_alive {
        return Err("not ready: the runner stopped; passes and commands no longer run".into());
    }
    let last_error = status
        .last_pass
        .as_ref()
        .and_then(|p| p.error.as_deref())
        .map(|e| format!("; the last pass failed: {e}"))
        .unwrap_or_default();
    let Some(at) = status.last_success else {
        return Err(format!("not ready: no pass has succeeded yet{last_error}"));
    };
    let age = now - at;
    let age_s = age.whole_seconds().max(0);
    if age > max_age {
        return Err(format!(
            "not ready: the last successful pass was {age_s}s ago (limit {}s), {} failed since{last_error}",
            max_age.as_secs(),
            status.consecutive_failures
        ));
    }
    Ok(format!("ready: the last successful pass was {age_s}s ago"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::PassStatus;
    use time::macros::datetime;

    fn failed(at: OffsetDateTime) -> PassStatus {
        PassStatus {
            finished_at: at,
            duration: Duration::from_secs(1),
            triggers: vec!["resync".into()],
            error: Some("git: the remote is unreachable".into()),
        }
    }

    #[test]
    fn ready_only_with_a_recent_success_and_a_live_runner() {
        let now = datetime!(2026-12-02 02:00 UTC);
        let max = Duration::from_secs(900);
        let fresh = Status {
            last_success: Some(now - Duration::from_secs(30)),
            ..Status::default()
        };
        assert_eq!(
            readiness(&fresh, true, now, max),
            Ok("ready: the last successful pass was 30s ago".into())
        );
        let e = readiness(&fresh, false, now, max).unwrap_err();
        assert!(e.contains("the runner stopped"), "{e}");
        let none = Status {
            last_pass: Some(failed(now)),
            ..Status::default()
        };
        let e = readiness(&none, true, now, max).unwrap_err();
        assert_eq!(
            e,
            "not ready: no pass has succeeded yet; the last pass failed: git: the remote is unreachable"
        );
        let stale = Status {
            last_success: Some(now - Duration::from_secs(1000)),
            last_pass: Some(failed(now)),
            consecutive_failures: 4,
            ..Status::default()
        };
        let e = readiness(&stale, true, now, max).unwrap_err();
        assert!(
            e.starts_with("not ready: the last successful pass was 1000s ago (limit 900s), 4 failed since; the last pass failed: git:"),
            "{e}"
        );
    }
}
