//! The schedule of the full poll: a cron expression with seconds, in UTC.

use std::str::FromStr;

use time::OffsetDateTime;

/// The schedule of the full poll, a cron expression with seconds
/// (`0 */5 * * * *`: every five minutes).
#[derive(Debug, Clone)]
pub struct PollSchedule(cron::Schedule);

impl FromStr for PollSchedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        cron::Schedule::from_str(s).map(PollSchedule).map_err(|e| {
            // The parser draws a caret under the input; keep its last line.
            let e = e.to_string();
            format!(
                "invalid cron expression {s:?}: {}",
                e.lines().last().unwrap_or_default()
            )
        })
    }
}

impl PollSchedule {
    /// The first poll strictly after `now`.
    pub fn next_after(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let now = chrono::DateTime::<chrono::Utc>::from_timestamp(now.unix_timestamp(), 0)?;
        let next = self.0.after(&now).next()?;
        OffsetDateTime::from_unix_timestamp(next.timestamp()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn poll_schedule() {
        let s: PollSchedule = "0 */5 * * * *".parse().unwrap();
        assert_eq!(
            s.next_after(datetime!(2026-11-26 10:02:30 UTC)),
            Some(datetime!(2026-11-26 10:05:00 UTC))
        );
        assert_eq!(
            s.next_after(datetime!(2026-11-26 10:05:00 UTC)),
            Some(datetime!(2026-11-26 10:10:00 UTC))
        );
        assert!(
            "every five minutes"
                .parse::<PollSchedule>()
                .unwrap_err()
                .contains("invalid cron expression")
        );
    }
}
