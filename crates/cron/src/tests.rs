//! Prediction vectors, computed by hand from the calendar (and, for daylight saving time, from
//! the zones' published transitions), for the Vixie rules, leap days and DST.

use super::*;

fn at(text: &str) -> u64 {
    parse_time(text).unwrap()
}

/// The next `count` fire times after `after`, in the schedule's zone.
fn next(expression: &str, zone: &str, after: &str, count: usize) -> Vec<String> {
    let schedule = Schedule::parse(expression, zone).unwrap();
    schedule.upcoming(at(after), count).into_iter().map(|t| schedule.format(t)).collect()
}

#[test]
fn both_day_fields_restricted_means_either_day() {
    // Vixie's crontab(5) example: the 1st, the 15th and every Friday.
    assert_eq!(
        next("30 4 1,15 * 5", "UTC", "2026-01-01T00:00:00Z", 5),
        [
            "2026-01-01T04:30:00Z", // Thursday the 1st
            "2026-01-02T04:30:00Z", // Friday
            "2026-01-09T04:30:00Z",
            "2026-01-15T04:30:00Z",
            "2026-01-16T04:30:00Z",
        ]
    );
}

#[test]
fn a_day_field_starting_with_a_star_requires_both() {
    // Vixie cron: `*/2` carries the star, so this is odd days that are Mondays.
    assert_eq!(
        next("0 0 */2 * 1", "UTC", "2026-01-01T00:00:00Z", 4),
        ["2026-01-05T00:00:00Z", "2026-01-19T00:00:00Z", "2026-02-09T00:00:00Z", "2026-02-23T00:00:00Z"]
    );
    // A plain star leaves the other field alone deciding.
    assert_eq!(next("0 0 * * 1", "UTC", "2026-01-01T00:00:00Z", 2), ["2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z"]);
    assert_eq!(next("0 0 13 * *", "UTC", "2026-01-01T00:00:00Z", 2), ["2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"]);
}

#[test]
fn sunday_is_zero_or_seven_and_names_ranges_steps_and_lists_work() {
    let sundays = next("0 12 * * 0", "UTC", "2026-01-01T00:00:00Z", 3);
    assert_eq!(sundays, ["2026-01-04T12:00:00Z", "2026-01-11T12:00:00Z", "2026-01-18T12:00:00Z"]);
    assert_eq!(next("0 12 * * 7", "UTC", "2026-01-01T00:00:00Z", 3), sundays);
    assert_eq!(next("0 12 * * sun", "UTC", "2026-01-01T00:00:00Z", 3), sundays);
    assert_eq!(
        next("0 9-17/4 * * *", "UTC", "2026-01-01T00:00:00Z", 4),
        ["2026-01-01T09:00:00Z", "2026-01-01T13:00:00Z", "2026-01-01T17:00:00Z", "2026-01-02T09:00:00Z"]
    );
    // Weekdays of the first quarter: Friday 2 January, then Monday 5 January; then April
    // is skipped to the next year.
    assert_eq!(
        next("15 6 * JAN-MAR mon-fri", "UTC", "2026-03-31T07:00:00Z", 2),
        ["2027-01-01T06:15:00Z", "2027-01-04T06:15:00Z"]
    );
    assert_eq!(
        next("0 0 1,15,28-29 2 *", "UTC", "2027-01-01T00:00:00Z", 4),
        ["2027-02-01T00:00:00Z", "2027-02-15T00:00:00Z", "2027-02-28T00:00:00Z", "2028-02-01T00:00:00Z"]
    );
    assert_eq!(next("@hourly", "UTC", "2026-01-01T00:10:00Z", 2), ["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"]);
}

#[test]
fn equal_schedules_fire_alike() {
    // Aurora's CrontabEntryTest equalities, as fire times.
    let same = |a: &str, b: &str| {
        assert_eq!(
            next(a, "UTC", "2026-01-01T00:00:00Z", 300),
            next(b, "UTC", "2026-01-01T00:00:00Z", 300),
            "{a} vs {b}"
        )
    };
    same("* * * * *", "0-59 * * * *");
    same("* * * * *", "0-57,58,59 * * * *");
    same("* * * * *", "1-50,0,51-59 * * * sun-sat");
    same("*/15 * * * *", "0,15,30,45 * * * *");
    same("1,2,3 * * * *", "1-3 * * * *");
    same("0 0 1 * *", "0 0 1 jan,feb-dec *");
}

#[test]
fn leap_days_fire_only_in_leap_years() {
    assert_eq!(next("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", 2), ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]);
    let never = Schedule::parse("0 0 31 2 *", "UTC").unwrap_err();
    assert_eq!(never.to_string(), "Invalid cron schedule '0 0 31 2 *': no time ever matches it");
}

#[test]
fn a_fixed_time_in_the_skipped_hour_fires_once_right_after_it() {
    // New York springs forward at 02:00 on 8 March 2026 (to 03:00 EDT).
    assert_eq!(
        next("30 2 * * *", "America/New_York", "2026-03-08T00:00:00-05:00", 2),
        ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]
    );
    // Paris springs forward at 02:00 on 29 March 2026.
    assert_eq!(
        next("30 2 * * *", "Europe/Paris", "2026-03-29T00:00:00+01:00", 2),
        ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]
    );
    // Nomad's vector: Nomad skips the day; Atoll runs once just after the gap.
    assert_eq!(
        next("0 2 11-13 3 *", "America/Los_Angeles", "2017-03-12T01:00:00-08:00", 2),
        ["2017-03-12T03:00:00-07:00", "2017-03-13T02:00:00-07:00"]
    );
}

#[test]
fn a_wildcard_schedule_skips_the_gap() {
    assert_eq!(
        next("0 * * * *", "America/New_York", "2026-03-08T00:30:00-05:00", 3),
        ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]
    );
}

#[test]
fn the_repeated_hour_fires_a_fixed_time_once_and_a_wildcard_twice() {
    // New York falls back at 02:00 EDT on 1 November 2026 (to 01:00 EST).
    assert_eq!(
        next("30 1 * * *", "America/New_York", "2026-11-01T00:00:00-04:00", 2),
        ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]
    );
    assert_eq!(
        next("*/30 * * * *", "America/New_York", "2026-11-01T00:45:00-04:00", 5),
        [
            "2026-11-01T01:00:00-04:00",
            "2026-11-01T01:30:00-04:00",
            "2026-11-01T01:00:00-05:00",
            "2026-11-01T01:30:00-05:00",
            "2026-11-01T02:00:00-05:00",
        ]
    );
    // Paris falls back at 03:00 CEST on 25 October 2026.
    assert_eq!(
        next("30 2 * * *", "Europe/Paris", "2026-10-25T00:00:00+02:00", 2),
        ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
    );
}

#[test]
fn bad_schedules_name_the_field_that_is_wrong() {
    let error = |expression: &str| Schedule::parse(expression, "UTC").unwrap_err();
    assert!(
        matches!(error("99 99 99 99 99"), ScheduleError::Field { field: "minute", .. }),
        "{}",
        error("99 99 99 99 99")
    );
    assert!(matches!(error("0 24 * * *"), ScheduleError::Field { field: "hour", .. }));
    assert!(matches!(error("0 0 32 * *"), ScheduleError::Field { field: "day-of-month", .. }));
    assert!(matches!(error("0 0 * 13 *"), ScheduleError::Field { field: "month", .. }));
    assert!(matches!(error("0 0 * * 8"), ScheduleError::Field { field: "day-of-week", .. }));
    assert!(matches!(error("*/0 * * * *"), ScheduleError::Field { field: "minute", .. }));
    assert!(matches!(error("0 0 * * frunday"), ScheduleError::Field { field: "day-of-week", .. }));
    assert_eq!(
        error("* * *").to_string(),
        "Invalid cron schedule '* * *': expected 5 fields (minute hour day-of-month month day-of-week), found 3"
    );
    assert!(matches!(error("0 * * * * *"), ScheduleError::FieldCount { found: 6, .. }), "seconds are refused");
    assert!(matches!(error("0 0 0 1 1 * 2030"), ScheduleError::FieldCount { found: 7, .. }), "years are refused");
    let message = error("5 99 * * *").to_string();
    assert!(message.starts_with("Invalid cron schedule '5 99 * * *': the hour field '99' is wrong ("), "{message}");
}

#[test]
fn an_unknown_zone_is_refused_with_the_nearest_name() {
    let wrong = Schedule::parse("* * * * *", "Europe/Pari").unwrap_err();
    assert_eq!(
        wrong,
        ScheduleError::UnknownZone { zone: "Europe/Pari".into(), suggestion: Some("Europe/Paris".into()) }
    );
    assert!(wrong.to_string().contains("did you mean 'Europe/Paris'?"), "{wrong}");
    assert!(matches!(Schedule::parse("* * * * *", "Mars/Olympus"), Err(ScheduleError::UnknownZone { .. })));
    assert_eq!(Schedule::parse("* * * * *", "europe/paris").unwrap().zone(), "Europe/Paris");
}

#[test]
fn only_the_latest_missed_fire_time_runs_and_only_within_its_deadline() {
    let minutely: Schedule = "* * * * *".parse().unwrap();
    let handled = at("2026-01-01T10:00:00Z");
    let minute = 60_000;
    assert_eq!(minutely.due(handled, handled + 59_000, minute), Due::Nothing);
    assert_eq!(
        minutely.due(handled, handled + minute, minute),
        Due::Fire { at_ms: handled + minute, missed_before: 0 }
    );
    // Down for three and a half minutes: one run, for 10:03, two missed before it.
    assert_eq!(
        minutely.due(handled, handled + 3 * minute + 30_000, minute),
        Due::Fire { at_ms: handled + 3 * minute, missed_before: 2 }
    );
    // A daily job whose time came two hours ago, with a deadline of one.
    let daily: Schedule = "0 8 * * *".parse().unwrap();
    assert_eq!(
        daily.due(at("2026-01-01T00:00:00Z"), at("2026-01-01T10:00:00Z"), 3_600_000),
        Due::TooLate { at_ms: at("2026-01-01T08:00:00Z"), missed_before: 0 }
    );
    // A deadline of zero runs only what is due this very instant.
    assert_eq!(
        daily.due(at("2026-01-01T00:00:00Z"), at("2026-01-01T08:00:00Z"), 0),
        Due::Fire { at_ms: at("2026-01-01T08:00:00Z"), missed_before: 0 }
    );
    // A week down counts its misses up to the limit.
    let week = minutely.due(handled, handled + 7 * 24 * 60 * minute, minute);
    assert_eq!(week, Due::Fire { at_ms: handled + 7 * 24 * 60 * minute, missed_before: MISSED_COUNT_LIMIT });
}

#[test]
fn times_are_read_and_written_as_rfc_3339() {
    assert_eq!(at("2026-03-08T00:00:00-05:00"), at("2026-03-08T05:00:00Z"));
    assert!(parse_time("tomorrow").unwrap_err().contains("not an RFC 3339 time"));
    assert_eq!(format_in(at("2026-07-01T12:00:00Z"), parse_zone("Europe/Paris").unwrap()), "2026-07-01T14:00:00+02:00");
    assert_eq!(format_utc(at("2026-07-01T12:00:00Z")), "2026-07-01T12:00:00Z");
}
