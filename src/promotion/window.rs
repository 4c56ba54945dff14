//! Promotion windows: cron expressions (minute hour day-of-month month
//! day-of-week) of the minutes in which a promotion PR may be opened, in a
//! fixed UTC offset.

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, Utc};
use time::OffsetDateTime;

use super::snapshot::Window;

/// The windows of one environment.
#[derive(Debug, Clone)]
pub struct Windows {
    schedules: Vec<cron::Schedule>,
    offset: FixedOffset,
}

impl Windows {
    /// Parses `windows:` and `timezone:` (`+02:00`, `-05:00`, `UTC`).
    pub fn parse(exprs: &[String], timezone: Option<&str>) -> Result<Self, String> {
        let offset = match timezone {
            None | Some("UTC") | Some("Z") => FixedOffset::east_opt(0),
            Some(tz) => parse_offset(tz),
        }
        .ok_or_else(|| {
            format!(
                "timezone {:?}: use a UTC offset like +02:00",
                timezone.unwrap_or_default()
            )
        })?;
        let schedules = exprs
            .iter()
            .map(|e| {
                // Five fields as people write them; the cron crate wants seconds.
                if e.split_whitespace().count() != 5 {
                    return Err(format!(
                        "window {e:?}: expected 5 fields (minute hour day month weekday)"
                    ));
                }
                cron::Schedule::from_str(&format!("0 {e}")).map_err(|err| {
                    format!(
                        "window {e:?}: {}",
                        err.to_string().lines().last().unwrap_or_default()
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Windows { schedules, offset })
    }

    /// Open at `now`, or closed with the next opening.
    pub fn at(&self, now: OffsetDateTime) -> Window {
        if self.schedules.is_empty() {
            return Window::Open;
        }
        let Some(utc) = DateTime::<Utc>::from_timestamp(now.unix_timestamp(), 0) else {
            return Window::Closed { next: None };
        };
        let local = utc.with_timezone(&self.offset);
        // The minute `now` falls in.
        let minute = local - chrono::Duration::seconds(i64::from(chrono::Timelike::second(&local)));
        if self.schedules.iter().any(|s| s.includes(minute)) {
            return Window::Open;
        }
        let next = self
            .schedules
            .iter()
            .filter_map(|s| s.after(&local).next())
            .min();
        Window::Closed {
            next: next.map(|n| n.to_rfc3339()),
        }
    }
}

fn parse_offset(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let secs = h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60;
    FixedOffset::east_opt(sign * secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn weekday_business_hours() {
        let w = Windows::parse(&["* 9-16 * * Mon-Thu".into()], Some("+02:00")).unwrap();
        // Thursday 2026-11-26 10:30 UTC is 12:30 at +02:00: open.
        assert_eq!(w.at(datetime!(2026-11-26 10:30:45 UTC)), Window::Open);
        // 15:30 UTC is 17:30 local: closed until Monday 09:00 local.
        assert_eq!(
            w.at(datetime!(2026-11-26 15:30 UTC)),
            Window::Closed {
                next: Some("2026-11-30T09:00:00+02:00".into())
            }
        );
        assert_eq!(
            Windows::parse(&[], None)
                .unwrap()
                .at(datetime!(2026-11-26 03:00 UTC)),
            Window::Open
        );
    }

    #[test]
    fn bad_windows_are_refused() {
        assert!(
            Windows::parse(&["0 9 * *".into()], None)
                .unwrap_err()
                .contains("expected 5 fields")
        );
        assert!(Windows::parse(&["* 25 * * *".into()], None).is_err());
        assert!(
            Windows::parse(&["* 9 * * *".into()], Some("Europe/Paris"))
                .unwrap_err()
                .contains("UTC offset")
        );
    }
}
