//! Promotion windows: cron expressions (minute hour day-of-month month
//! day-of-week) of the minutes in which a promotion PR may be opened, read
//! in a time zone: an IANA name (`Europe/Paris`, daylight saving time
//! included) or a fixed UTC offset (`+02:00`).

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use time::OffsetDateTime;

/// The promotion window of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Window {
    /// No windows configured, or one is open now.
    #[default]
    Open,
    /// Closed; opens next at this time (RFC 3339), if ever.
    Closed {
        /// The next opening, as text.
        next: Option<String>,
    },
}

/// The zone windows are written in.
#[derive(Debug, Clone, Copy)]
enum Zone {
    Fixed(FixedOffset),
    Named(Tz),
}

/// The windows of one environment.
#[derive(Debug, Clone)]
pub struct Windows {
    schedules: Vec<cron::Schedule>,
    zone: Zone,
}

impl Windows {
    /// Parses `windows:` and `timezone:` (`Europe/Paris`, `+02:00`,
    /// `-05:00`, `UTC`; default UTC).
    pub fn parse(exprs: &[String], timezone: Option<&str>) -> Result<Self, String> {
        let zone = match timezone {
            None | Some("UTC") | Some("Z") => Zone::Fixed(FixedOffset::east_opt(0).ok_or("UTC")?),
            Some(tz) if tz.starts_with(['+', '-']) => {
                Zone::Fixed(parse_offset(tz).ok_or_else(|| {
                    format!("timezone {tz:?}: a UTC offset is written like +02:00 or -05:30")
                })?)
            }
            Some(tz) => Zone::Named(tz.parse::<Tz>().map_err(|_| {
                format!(
                    "timezone {tz:?}: not an IANA time zone name (like Europe/Paris) or a UTC offset (like +02:00)"
                )
            })?),
        };
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
        Ok(Windows { schedules, zone })
    }

    /// Open at `now`, or closed with the next opening.
    pub fn at(&self, now: OffsetDateTime) -> Window {
        if self.schedules.is_empty() {
            return Window::Open;
        }
        let Some(utc) = DateTime::<Utc>::from_timestamp(now.unix_timestamp(), 0) else {
            return Window::Closed { next: None };
        };
        match self.zone {
            Zone::Fixed(z) => self.at_in(utc.with_timezone(&z)),
            Zone::Named(z) => self.at_in(utc.with_timezone(&z)),
        }
    }

    fn at_in<Z: TimeZone>(&self, local: DateTime<Z>) -> Window
    where
        Z::Offset: Copy,
    {
        // The minute `now` falls in.
        let minute = local - chrono::Duration::seconds(i64::from(local.second()));
        if self.schedules.iter().any(|s| s.includes(minute)) {
            return Window::Open;
        }
        let next = self
            .schedules
            .iter()
            .filter_map(|s| s.after(&local).next())
            .min();
        Window::Closed {
            next: next.map(|n| n.fixed_offset().to_rfc3339()),
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
    let (h, m) = (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?);
    if !(0..=23).contains(&h) || !(0..=59).contains(&m) {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
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
    fn named_zones_follow_daylight_saving_time() {
        let w = Windows::parse(&["* 9-16 * * Mon-Fri".into()], Some("Europe/Paris")).unwrap();
        // Winter (CET, +01:00): 08:30 UTC is 09:30 in Paris.
        assert_eq!(w.at(datetime!(2026-11-26 08:30 UTC)), Window::Open);
        assert_eq!(
            w.at(datetime!(2026-11-26 07:30 UTC)),
            Window::Closed {
                next: Some("2026-11-26T09:00:00+01:00".into())
            }
        );
        // Summer (CEST, +02:00): 07:30 UTC is already 09:30 in Paris.
        assert_eq!(w.at(datetime!(2026-07-02 07:30 UTC)), Window::Open);
        assert!(matches!(
            w.at(datetime!(2026-07-02 15:30 UTC)),
            Window::Closed { .. }
        ));
        // Friday evening in New York: next is Monday 09:00 EST.
        let ny = Windows::parse(&["* 9-16 * * Mon-Fri".into()], Some("America/New_York")).unwrap();
        assert_eq!(
            ny.at(datetime!(2026-11-27 23:00 UTC)),
            Window::Closed {
                next: Some("2026-11-30T09:00:00-05:00".into())
            }
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
            Windows::parse(&["* 9 * * *".into()], Some("Europe/Pariss"))
                .unwrap_err()
                .contains("not an IANA time zone name")
        );
        assert!(
            Windows::parse(&["* 9 * * *".into()], Some("+25:00"))
                .unwrap_err()
                .contains("UTC offset is written like")
        );
        assert!(Windows::parse(&[], Some("-05:30")).is_ok());
    }
}
