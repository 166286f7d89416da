//! Cron schedules: parsing a 5-field crontab expression in an IANA time zone, predicting its
//! fire times, and deciding what a scheduler that looks at the clock now owes a schedule
//! (the missed-run rule).
//!
//! Pure: times come in and go out as milliseconds since the Unix epoch; nothing here reads a
//! clock. The calendar arithmetic is croner's; this crate fixes the dialect:
//! - Five fields (minute hour day-of-month month day-of-week); seconds and years are refused.
//!   croner's nicknames (`@hourly` … `@yearly`) and extensions (`L`, `W`, `#`) are accepted.
//! - Vixie cron's day rule: when both day fields are restricted a day matching either fires;
//!   a day field that starts with `*` (`*` or `*/2`) leaves the other alone deciding, with
//!   both then required (so `0 0 */2 * 1` is the odd days that are Mondays, as in Vixie cron).
//! - Daylight saving time, as Vixie cron and croner do: a time in the skipped hour fires once
//!   at the first valid time after the gap (fixed-time jobs) or not at all (jobs with `*` or a
//!   step in the minute or hour); in the repeated hour a fixed-time job fires once, on the
//!   first pass, and a wildcard job fires on both passes.

use std::str::FromStr;

use chrono::{DateTime, LocalResult, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// The time zone schedules use when neither the job nor the scheduler names one.
pub const DEFAULT_ZONE: &str = "UTC";

/// The five fields of a crontab line, in order.
const FIELDS: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];

/// How many missed fire times are counted one by one before a count says "at least".
pub const MISSED_COUNT_LIMIT: u32 = 1000;

/// A schedule that cannot be used, with what is wrong in words a crontab user knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "Invalid cron schedule '{expression}': expected 5 fields (minute hour day-of-month month day-of-week), found {found}"
    )]
    FieldCount { expression: String, found: usize },
    #[error("Invalid cron schedule '{expression}': the {field} field '{value}' is wrong ({why})")]
    Field { expression: String, field: &'static str, value: String, why: String },
    #[error("Invalid cron schedule '{expression}': {why}")]
    Expression { expression: String, why: String },
    #[error("Invalid cron schedule '{expression}': no time ever matches it")]
    NeverFires { expression: String },
    #[error("unknown time zone '{zone}'{}; time zones are IANA names such as UTC, Europe/Paris or America/New_York", suggestion.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default())]
    UnknownZone { zone: String, suggestion: Option<String> },
}

/// A parsed schedule in its time zone.
#[derive(Clone, Debug)]
pub struct Schedule {
    expression: String,
    zone: Tz,
    cron: Cron,
}

/// Parses an IANA time zone name (case-insensitive), suggesting the nearest name for a typo.
pub fn parse_zone(name: &str) -> Result<Tz, ScheduleError> {
    let names = || chrono_tz::TZ_VARIANTS.iter();
    names().find(|zone| zone.name().eq_ignore_ascii_case(name)).copied().ok_or_else(|| ScheduleError::UnknownZone {
        zone: name.to_owned(),
        suggestion: atoll_model::suggest::nearest(name, names().map(|z| z.name())).map(str::to_owned),
    })
}

impl Schedule {
    /// Parses `expression` for the time zone named `zone`.
    pub fn parse(expression: &str, zone: &str) -> Result<Schedule, ScheduleError> {
        let zone = parse_zone(zone)?;
        let expression = expression.trim().to_owned();
        let cron = parse_expression(&expression)?;
        let schedule = Schedule { expression, zone, cron };
        // A schedule that matches nothing (`0 0 31 2 *`) would sit silently for ever.
        if schedule.next_after(0).is_none() {
            return Err(ScheduleError::NeverFires { expression: schedule.expression });
        }
        Ok(schedule)
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn zone(&self) -> &str {
        self.zone.name()
    }

    /// The first fire time strictly after `after_ms`, or None when no time ever matches again.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        let start = self.zone.from_utc_datetime(&utc(after_ms)?.naive_utc());
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        to_ms(next.with_timezone(&Utc))
    }

    /// The last fire time at or before `at_ms`, if any.
    pub fn latest_at_or_before(&self, at_ms: u64) -> Option<u64> {
        let start = self.zone.from_utc_datetime(&utc(at_ms)?.naive_utc());
        let previous = self.cron.find_previous_occurrence(&start, true).ok()?;
        to_ms(previous.with_timezone(&Utc))
    }

    /// The next `count` fire times after `after_ms`.
    pub fn upcoming(&self, after_ms: u64, count: usize) -> Vec<u64> {
        let mut times = Vec::with_capacity(count);
        let mut from = after_ms;
        while times.len() < count {
            let Some(next) = self.next_after(from) else { break };
            times.push(next);
            from = next;
        }
        times
    }

    /// `at_ms` as an RFC 3339 time with this schedule's UTC offset at that instant.
    pub fn format(&self, at_ms: u64) -> String {
        format_in(at_ms, self.zone)
    }

    /// What a scheduler looking at the clock at `now_ms` owes this schedule, whose fire times
    /// up to `handled_ms` have been dealt with. The rule for missed runs:
    /// - only the most recent fire time due is considered: a scheduler that was down never
    ///   fires a burst of runs;
    /// - it runs if it is at most `starting_deadline_ms` old, and is recorded as missed if not;
    /// - the fire times before it are recorded as missed.
    pub fn due(&self, handled_ms: u64, now_ms: u64, starting_deadline_ms: u64) -> Due {
        let Some(latest) = self.latest_at_or_before(now_ms).filter(|t| *t > handled_ms) else {
            return Due::Nothing;
        };
        let missed_before = self.count_between(handled_ms, latest);
        if now_ms - latest <= starting_deadline_ms {
            Due::Fire { at_ms: latest, missed_before }
        } else {
            Due::TooLate { at_ms: latest, missed_before }
        }
    }

    /// How many fire times lie strictly between `after_ms` and `before_ms`, counted up to
    /// [`MISSED_COUNT_LIMIT`].
    fn count_between(&self, after_ms: u64, before_ms: u64) -> u32 {
        let mut count = 0;
        let mut from = after_ms;
        while count < MISSED_COUNT_LIMIT {
            match self.next_after(from) {
                Some(next) if next < before_ms => {
                    count += 1;
                    from = next;
                }
                _ => break,
            }
        }
        count
    }
}

/// What a schedule is owed now ([`Schedule::due`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// No fire time has come since the last one handled.
    Nothing,
    /// Run now for the fire time `at_ms`; `missed_before` earlier fire times went by unrun.
    Fire { at_ms: u64, missed_before: u32 },
    /// The most recent fire time, `at_ms`, is past its starting deadline: record it missed,
    /// with the `missed_before` earlier ones.
    TooLate { at_ms: u64, missed_before: u32 },
}

/// `at_ms` as an RFC 3339 time in `zone`, to the second.
pub fn format_in(at_ms: u64, zone: Tz) -> String {
    match utc(at_ms) {
        Some(t) => t.with_timezone(&zone).to_rfc3339_opts(SecondsFormat::Secs, true),
        None => format!("{at_ms} ms after the epoch"),
    }
}

/// `at_ms` as an RFC 3339 time in UTC, to the second.
pub fn format_utc(at_ms: u64) -> String {
    format_in(at_ms, chrono_tz::UTC)
}

/// Parses an RFC 3339 time ("2026-03-08T00:00:00-05:00", "2026-03-08T05:00:00Z") to
/// milliseconds since the epoch.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let time = DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("'{text}' is not an RFC 3339 time such as 2026-03-08T02:30:00Z ({e})"))?;
    u64::try_from(time.timestamp_millis()).map_err(|_| format!("'{text}' is before 1970"))
}

fn parse_expression(expression: &str) -> Result<Cron, ScheduleError> {
    let parser =
        |and| CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).dom_and_dow(and).build();
    if expression.starts_with('@') {
        return parser(false)
            .parse(expression)
            .map_err(|e| ScheduleError::Expression { expression: expression.to_owned(), why: e.to_string() });
    }
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.len() != FIELDS.len() {
        return Err(ScheduleError::FieldCount { expression: expression.to_owned(), found: fields.len() });
    }
    // croner's errors do not say which field is wrong: try each field alone among stars.
    for (index, value) in fields.iter().enumerate() {
        let alone: Vec<&str> = (0..FIELDS.len()).map(|i| if i == index { *value } else { "*" }).collect();
        if let Err(e) = parser(false).parse(&alone.join(" ")) {
            return Err(ScheduleError::Field {
                expression: expression.to_owned(),
                field: FIELDS[index],
                value: (*value).to_owned(),
                why: explain(e),
            });
        }
    }
    // Vixie cron: a day field starting with `*` means "both must match"; otherwise either.
    let and = fields[2].starts_with('*') || fields[4].starts_with('*');
    parser(and)
        .parse(expression)
        .map_err(|e| ScheduleError::Expression { expression: expression.to_owned(), why: explain(e) })
}

/// croner's message without its prefixes.
fn explain(error: croner::errors::CronError) -> String {
    use croner::errors::CronError as E;
    match error {
        E::InvalidPattern(why) | E::IllegalCharacters(why) | E::ComponentError(why) => {
            why.trim_end_matches('.').to_owned()
        }
        other => other.to_string(),
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    /// A schedule in UTC.
    fn from_str(expression: &str) -> Result<Schedule, ScheduleError> {
        Schedule::parse(expression, DEFAULT_ZONE)
    }
}

fn utc(ms: u64) -> Option<DateTime<Utc>> {
    match Utc.timestamp_millis_opt(i64::try_from(ms).ok()?) {
        LocalResult::Single(t) => Some(t),
        _ => None,
    }
}

fn to_ms(time: DateTime<Utc>) -> Option<u64> {
    u64::try_from(time.timestamp_millis()).ok()
}

#[cfg(test)]
mod tests;
