//! Time windows: parsing `--window 24h`, `--from/--to` (RFC 3339), and resolving them to the
//! whole buckets the summaries hold. Pure, no I/O (the caller passes the current time).
//!
//! Resolution: `from` rounds down and `to` rounds up to whole buckets (hours for rankings), so
//! a window is a set of whole buckets and its answer can be cached under its resolved bounds.
//! `--window D` alone is the D ending with the current bucket (which is included, partly
//! filled); with `--from` it starts there, with `--to` it ends there. No bounds: all time.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::summary::{DAY, HOUR};

/// Bounds in Unix seconds, whole buckets; `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Bounds {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// A window as asked for, before resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Request {
    /// Length in seconds.
    pub window: Option<i64>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// The pieces of a window the summaries serve: whole days in the middle, hours at the edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pieces {
    pub days: (Option<i64>, Option<i64>),
    pub head: (Option<i64>, Option<i64>),
    pub tail: (Option<i64>, Option<i64>),
}

impl Bounds {
    pub const ALL_TIME: Bounds = Bounds {
        from: None,
        to: None,
    };

    pub fn is_all_time(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }

    /// Whole days inside the window, and the hours before and after them.
    pub fn pieces(&self) -> Pieces {
        const EMPTY: (Option<i64>, Option<i64>) = (Some(0), Some(0));
        let d_from = self.from.map(|f| ceil(f, DAY));
        let d_to = self.to.map(|t| floor(t, DAY));
        match (d_from, d_to) {
            (Some(a), Some(b)) if a >= b => Pieces {
                days: EMPTY,
                head: (self.from, self.to),
                tail: EMPTY,
            },
            _ => Pieces {
                days: (d_from, d_to),
                head: match self.from {
                    Some(f) => (Some(f), d_from),
                    None => EMPTY,
                },
                tail: match self.to {
                    Some(t) => (d_to, Some(t)),
                    None => EMPTY,
                },
            },
        }
    }

    /// The JSON form: RFC 3339 or null for each end.
    pub fn to_json(&self) -> WindowJson {
        WindowJson {
            from: self.from.map(rfc3339),
            to: self.to.map(rfc3339),
        }
    }
}

/// `{"from": "...", "to": "..."}` in answers; null ends are unbounded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
pub struct WindowJson {
    pub from: Option<String>,
    pub to: Option<String>,
}

impl WindowJson {
    /// `all time`, or `FROM to TO` for table headers.
    pub fn describe(&self) -> String {
        match (&self.from, &self.to) {
            (None, None) => "all time".to_string(),
            (f, t) => format!(
                "{} to {}",
                f.as_deref().unwrap_or("the beginning"),
                t.as_deref().unwrap_or("now")
            ),
        }
    }
}

impl Request {
    pub fn is_empty(&self) -> bool {
        self.window.is_none() && self.from.is_none() && self.to.is_none()
    }

    /// Whole `bucket`-second buckets covering the request at time `now` (Unix seconds).
    pub fn resolve(&self, now: i64, bucket: i64) -> Result<Bounds, WindowError> {
        let end_of_now = floor(now, bucket) + bucket;
        let (from, to) = match (self.window, self.from, self.to) {
            (None, None, None) => return Ok(Bounds::ALL_TIME),
            (Some(_), Some(_), Some(_)) => {
                return Err(WindowError::Conflict(
                    "give at most two of window, from and to".into(),
                ))
            }
            (Some(w), None, None) => (Some(end_of_now - ceil(w, bucket)), Some(end_of_now)),
            (Some(w), Some(f), None) => (Some(f), Some(f.saturating_add(w))),
            (Some(w), None, Some(t)) => (Some(t.saturating_sub(w)), Some(t)),
            (None, Some(f), None) => (Some(f), Some(end_of_now.max(f + 1))),
            (None, f, t) => (f, t),
        };
        let b = Bounds {
            from: from.map(|f| floor(f, bucket)),
            to: to.map(|t| ceil(t, bucket)),
        };
        if let (Some(f), Some(t)) = (b.from, b.to) {
            if f >= t {
                return Err(WindowError::Empty(format!(
                    "the window is empty: from ({}) must be before to ({})",
                    rfc3339(f),
                    rfc3339(t)
                )));
            }
        }
        Ok(b)
    }
}

/// Why a window cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowError {
    /// The parameters contradict each other (window, from and to all given).
    Conflict(String),
    /// The window holds no time (from at or after to): no data can be in it.
    Empty(String),
}

impl std::fmt::Display for WindowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WindowError::Conflict(m) | WindowError::Empty(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for WindowError {}

impl From<WindowError> for String {
    fn from(e: WindowError) -> String {
        e.to_string()
    }
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn floor(t: i64, step: i64) -> i64 {
    t.div_euclid(step) * step
}

pub fn ceil(t: i64, step: i64) -> i64 {
    -floor(-t, step)
}

/// The longest duration: 100 years (longer ones are read as this: all of the past).
pub const MAX_DURATION: i64 = 100 * 366 * DAY;

/// A length such as `90m`, `24h`, `7d` or `2w`, in seconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || {
        format!("invalid duration {s:?}; expected a number and a unit m, h, d or w (e.g. 24h, 7d)")
    };
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    if num.is_empty() {
        return Err(bad());
    }
    // Saturating: a window longer than 100 years is all of the past, read as 100 years.
    let n = num.bytes().fold(0_i64, |acc, d| {
        acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    let unit_secs = match unit {
        "m" => 60,
        "h" => HOUR,
        "d" => DAY,
        "w" => 7 * DAY,
        _ => return Err(bad()),
    };
    match n.saturating_mul(unit_secs) {
        0 => Err(format!("duration {s:?} must be more than 0")),
        v => Ok(v.min(MAX_DURATION)),
    }
}

/// Parses an RFC 3339 time (`2026-11-29T10:00:00Z`, `...+02:00`, fractions allowed), to Unix
/// seconds (fractions dropped).
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid time {s:?}; expected RFC 3339 such as 2026-11-29T10:00:00Z");
    let b = s.trim().as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let part = &b[r];
        if part.iter().all(u8::is_ascii_digit) {
            Ok(part.iter().fold(0, |acc, d| acc * 10 + i64::from(d - b'0')))
        } else {
            Err(bad())
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
    }
    let offset = match b.get(i..) {
        Some([b'Z' | b'z']) => 0,
        Some([sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]) => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            let v = |a: u8, c: u8| i64::from(a - b'0') * 10 + i64::from(c - b'0');
            // RFC 3339's time-numoffset: hours 00-23, minutes 00-59.
            if v(*h1, *h2) > 23 || v(*m1, *m2) > 59 {
                return Err(bad());
            }
            let off = v(*h1, *h2) * HOUR + v(*m1, *m2) * 60;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return Err(bad()),
    };
    let days_in_month = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    // A leap second (:60) is refused too: Unix time has none, and a benchmark's clock writes
    // none.
    if d < 1 || d > days_in_month || h > 23 || mi > 59 || sec > 59 {
        return Err(bad());
    }
    Ok(days_from_civil(y, mo, d) * DAY + h * HOUR + mi * 60 + sec - offset)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-27T23:54:37Z`.
pub fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(DAY), secs.rem_euclid(DAY));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / HOUR,
        rem % HOUR / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_795_000_000; // 2026-11-18T...

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Ok(86_400));
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400));
        assert_eq!(parse_duration("90m"), Ok(5_400));
        assert_eq!(parse_duration("2w"), Ok(14 * 86_400));
        for bad in ["", "h", "24", "24x", "-1h", "0h", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        // Longer than 100 years: all of the past, read as 100 years (not an error).
        assert_eq!(parse_duration("99999999999999999999999d"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("5300w"), Ok(MAX_DURATION));
    }

    #[test]
    fn rfc3339_round_trips_and_rejects_nonsense() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_rfc3339("2026-11-29T10:00:00Z")
                .map(rfc3339)
                .as_deref(),
            Ok("2026-11-29T10:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("2026-11-29T12:00:00.250+02:00"),
            parse_rfc3339("2026-11-29T10:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00-01:30")
                .map(rfc3339)
                .as_deref(),
            Ok("2024-02-29T01:30:00Z")
        );
        assert!(parse_rfc3339("2026-11-29T10:00:00+23:59").is_ok());
        for bad in [
            "2026-11-29",
            "2026-11-29T10:00:00",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-11-29T25:00:00Z",
            "2026-11-29T10:00:00-99:00",
            "2026-11-29T10:00:00+05:60",
            "2026-12-31T23:59:60Z",
            "yesterday",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert_eq!(rfc3339(T), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn windows_resolve_to_whole_buckets() {
        let now = T; // 11:06:40
        let r = Request {
            window: Some(24 * HOUR),
            ..Default::default()
        };
        let b = r.resolve(now, HOUR).unwrap();
        assert_eq!(b.to, Some(floor(now, HOUR) + HOUR));
        assert_eq!(b.to.unwrap() - b.from.unwrap(), 24 * HOUR);
        // An hour later the window has moved on, with no new data.
        assert_ne!(r.resolve(now + HOUR, HOUR).unwrap(), b);
        let r = Request {
            from: Some(now - 100),
            to: Some(now),
            ..Default::default()
        };
        let b = r.resolve(now, HOUR).unwrap();
        assert_eq!(
            (b.from, b.to),
            (Some(floor(now, HOUR)), Some(floor(now, HOUR) + HOUR))
        );
        let r = Request {
            from: Some(now),
            to: Some(now - 7200),
            ..Default::default()
        };
        let e = r.resolve(now, HOUR).unwrap_err();
        assert!(
            matches!(&e, WindowError::Empty(m) if m.contains("must be before")),
            "{e}"
        );
        let all = Request {
            window: Some(1),
            from: Some(1),
            to: Some(2),
        };
        assert!(all.resolve(now, HOUR).is_err());
        assert_eq!(Request::default().resolve(now, HOUR), Ok(Bounds::ALL_TIME));
    }

    #[test]
    fn pieces_cover_the_window_once() {
        let d0 = 20_000 * DAY;
        // Two and a bit days: hours at both edges, whole days between.
        let b = Bounds {
            from: Some(d0 + 5 * HOUR),
            to: Some(d0 + 3 * DAY + 2 * HOUR),
        };
        let p = b.pieces();
        assert_eq!(p.days, (Some(d0 + DAY), Some(d0 + 3 * DAY)));
        assert_eq!(p.head, (Some(d0 + 5 * HOUR), Some(d0 + DAY)));
        assert_eq!(p.tail, (Some(d0 + 3 * DAY), Some(d0 + 3 * DAY + 2 * HOUR)));
        // Inside one day: hours only.
        let b = Bounds {
            from: Some(d0 + HOUR),
            to: Some(d0 + 3 * HOUR),
        };
        let p = b.pieces();
        assert_eq!(p.head, (b.from, b.to));
        assert_eq!(p.days.0, p.days.1);
        // Open start: days from the beginning, hours at the end only.
        let p = Bounds {
            from: None,
            to: Some(d0 + HOUR),
        }
        .pieces();
        assert_eq!(p.days, (None, Some(d0)));
        assert_eq!(p.tail, (Some(d0), Some(d0 + HOUR)));
        assert_eq!(p.head.0, p.head.1);
    }
}
