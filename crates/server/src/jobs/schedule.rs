//! When scheduled jobs are due: a time of day every day, or a day of the week at a time, in a
//! fixed offset from UTC (`+09:00` for Japan, which keeps no daylight saving time).
//!
//! A job is due when the first scheduled instant after its last run has passed. So a server that
//! was down at 02:00 runs the missed backup when it comes back, once, not once per missed day.

use canopy_core::time::Timestamp;
use time::{Duration, OffsetDateTime, Time, UtcOffset, Weekday};

/// When a job runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Schedule {
    /// Every day at this local time.
    Daily(Time),
    /// Every week on this day at this local time.
    Weekly(Weekday, Time),
}

impl Schedule {
    /// Parses `02:00` (daily) or `sun 03:00` (weekly; `mon` … `sun`).
    pub fn parse(text: &str) -> Option<Schedule> {
        let mut words = text.split_whitespace();
        let (first, second) = (words.next()?, words.next());
        if words.next().is_some() {
            return None;
        }
        match second {
            None => Some(Schedule::Daily(parse_time(first)?)),
            Some(at) => Some(Schedule::Weekly(parse_weekday(first)?, parse_time(at)?)),
        }
    }

    /// The first scheduled instant strictly after `after`, in local time at `offset`.
    pub fn next_after(self, after: Timestamp, offset: UtcOffset) -> Timestamp {
        let local = to_local(after, offset);
        let (at, step_days) = match self {
            Schedule::Daily(at) => (at, 1),
            Schedule::Weekly(_, at) => (at, 7),
        };
        let mut candidate = local.replace_time(at);
        if let Schedule::Weekly(day, _) = self {
            let ahead = (7 + day.number_days_from_monday() as i64
                - local.weekday().number_days_from_monday() as i64)
                % 7;
            candidate += Duration::days(ahead);
        }
        if candidate <= local {
            candidate += Duration::days(step_days);
        }
        from_local(candidate)
    }

    /// Whether a job last run at `last` (never: `None`) is due at `now`. A job never run is due
    /// at once.
    pub fn is_due(self, last: Option<Timestamp>, now: Timestamp, offset: UtcOffset) -> bool {
        last.is_none_or(|last| self.next_after(last, offset) <= now)
    }
}

/// Parses a UTC offset written `+09:00`, `-05:30` or `Z`.
pub fn parse_offset(text: &str) -> Option<UtcOffset> {
    if text == "Z" {
        return Some(UtcOffset::UTC);
    }
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = text[1..].split_once(':')?;
    let (h, m) = (two_digits(h)?, two_digits(m)?);
    if h > 14 || m > 59 {
        return None;
    }
    UtcOffset::from_hms(sign * h as i8, sign * m as i8, 0).ok()
}

fn parse_time(text: &str) -> Option<Time> {
    let (h, m) = text.split_once(':')?;
    Time::from_hms(two_digits(h)?, two_digits(m)?, 0).ok()
}

fn two_digits(text: &str) -> Option<u8> {
    (text.len() == 2 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    Some(match text.to_ascii_lowercase().as_str() {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

fn to_local(t: Timestamp, offset: UtcOffset) -> OffsetDateTime {
    let utc = OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.millis()) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    utc.to_offset(offset)
}

fn from_local(t: OffsetDateTime) -> Timestamp {
    Timestamp::from_millis(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn jst() -> UtcOffset {
        parse_offset("+09:00").unwrap()
    }

    #[test]
    fn schedules_and_offsets_parse_and_bad_ones_do_not() {
        assert_eq!(
            Schedule::parse("02:00"),
            Some(Schedule::Daily(Time::from_hms(2, 0, 0).unwrap()))
        );
        assert_eq!(
            Schedule::parse("Sun 03:30"),
            Some(Schedule::Weekly(
                Weekday::Sunday,
                Time::from_hms(3, 30, 0).unwrap()
            ))
        );
        for bad in [
            "",
            "2:00",
            "24:00",
            "02:60",
            "sunday 03:00",
            "sun",
            "sun 03:00 x",
        ] {
            assert_eq!(Schedule::parse(bad), None, "{bad}");
        }
        assert_eq!(parse_offset("Z"), Some(UtcOffset::UTC));
        assert_eq!(
            parse_offset("-05:30"),
            Some(UtcOffset::from_hms(-5, -30, 0).unwrap())
        );
        for bad in ["+9:00", "09:00", "+15:00", "+09:60", "+09"] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
    }

    #[test]
    fn daily_runs_at_the_local_time_of_the_next_day_once_past() {
        let daily = Schedule::parse("02:00").unwrap();
        // 02:00 JST is 17:00 UTC the day before.
        assert_eq!(
            daily.next_after(at("2026-12-01T10:00:00Z"), jst()),
            at("2026-12-01T17:00:00Z")
        );
        assert_eq!(
            daily.next_after(at("2026-12-01T17:00:00Z"), jst()),
            at("2026-12-02T17:00:00Z"),
            "strictly after: the run at 02:00 does not make itself due again"
        );
        assert_eq!(
            daily.next_after(at("2026-12-01T16:59:59Z"), UtcOffset::UTC),
            at("2026-12-02T02:00:00Z")
        );
    }

    #[test]
    fn weekly_runs_on_its_day() {
        let weekly = Schedule::parse("sun 03:00").unwrap();
        // 2026-12-01 is a Tuesday.
        assert_eq!(
            weekly.next_after(at("2026-12-01T00:00:00Z"), UtcOffset::UTC),
            at("2026-12-06T03:00:00Z")
        );
        assert_eq!(
            weekly.next_after(at("2026-12-06T03:00:00Z"), UtcOffset::UTC),
            at("2026-12-13T03:00:00Z")
        );
        assert_eq!(
            weekly.next_after(at("2026-12-06T02:59:00Z"), UtcOffset::UTC),
            at("2026-12-06T03:00:00Z")
        );
        // Sunday 03:00 JST is Saturday 18:00 UTC.
        assert_eq!(
            weekly.next_after(at("2026-12-01T00:00:00Z"), jst()),
            at("2026-12-05T18:00:00Z")
        );
    }

    #[test]
    fn a_missed_run_is_due_once_and_a_first_run_at_once() {
        let daily = Schedule::parse("02:00").unwrap();
        let utc = UtcOffset::UTC;
        let last = at("2026-11-27T02:00:10Z");
        let now = at("2026-12-01T09:00:00Z");
        assert!(daily.is_due(Some(last), now, utc), "days missed: due now");
        assert!(
            !daily.is_due(Some(now), now, utc),
            "and not again after running"
        );
        assert!(daily.is_due(None, now, utc));
        assert!(!daily.is_due(Some(at("2026-12-01T02:00:01Z")), now, utc));
    }
}
