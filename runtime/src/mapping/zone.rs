//! Time zones for local times. An HL7 DTM without a UTC offset is local time where the
//! systems of the estate run, and FHIR wants an offset on every time of day; an estate's
//! `timezone "Europe/London"` names that zone (IANA, from the tz database bundled with the
//! runtime, so a production needs no tzdata on its machine). A local time takes the
//! zone's offset at that moment: winter and summer time each get theirs. A time that
//! occurs twice (the hour when clocks go back) is read as the first; a time that never
//! occurs (the hour when clocks go forward) is moved forward by the gap, as RFC 5545 and
//! most engines do.

use super::values::{Date, DateTime};
use jiff::tz::TimeZone;
use std::cell::RefCell;

thread_local! {
    /// Zones already looked up on this thread (an estate names one or two).
    static ZONES: RefCell<Vec<(String, TimeZone)>> = const { RefCell::new(Vec::new()) };
}

fn with_zone<T>(name: &str, f: impl FnOnce(&TimeZone) -> T) -> Option<T> {
    ZONES.with(|zones| {
        let mut zones = zones.borrow_mut();
        if let Some((_, tz)) = zones.iter().find(|(n, _)| n == name) {
            return Some(f(tz));
        }
        let tz = jiff::tz::db().get(name).ok()?;
        let out = f(&tz);
        zones.push((name.to_string(), tz));
        Some(out)
    })
}

/// Whether `name` is a zone of the tz database (`Europe/London`, `UTC`).
pub fn known(name: &str) -> bool {
    jiff::tz::db().get(name).is_ok()
}

/// Every zone name the tz database knows.
pub fn names() -> Vec<String> {
    jiff::tz::db().available().map(|n| n.to_string()).collect()
}

/// `t` with the offset of zone `zone` when it has none (kept as it is when it has one,
/// or when the zone is not known).
pub fn localise(t: DateTime, zone: &str) -> DateTime {
    // A date alone has no time to place in a zone.
    if t.offset_minutes.is_some() || !t.has_time {
        return t;
    }
    let civil = jiff::civil::DateTime::new(
        t.date.year as i16,
        t.date.month as i8,
        t.date.day as i8,
        t.hour as i8,
        t.minute as i8,
        // A leap second is read as the second before it.
        t.second.min(59) as i8,
        0,
    );
    let Ok(civil) = civil else {
        return t;
    };
    with_zone(zone, |tz| {
        let zoned = tz.to_ambiguous_zoned(civil).compatible().ok()?;
        let local = zoned.datetime();
        Some(DateTime {
            date: Date {
                year: local.year() as i32,
                month: local.month() as u8,
                day: local.day() as u8,
            },
            hour: local.hour() as u8,
            minute: local.minute() as u8,
            second: local.second() as u8,
            offset_minutes: Some((zoned.offset().seconds() / 60) as i16),
            has_time: true,
        })
    })
    .flatten()
    .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> String {
        localise(DateTime::parse(text).unwrap(), "Europe/London").to_string()
    }

    #[test]
    fn winter_and_summer_time_each_get_their_offset() {
        assert_eq!(at("20260115093000"), "2026-01-15T09:30:00+00:00");
        assert_eq!(at("20260715093000"), "2026-07-15T09:30:00+01:00");
        // An offset the message gave is kept.
        assert_eq!(at("20260715093000-0500"), "2026-07-15T09:30:00-05:00");
        // A date alone stays a date.
        assert_eq!(at("20260715"), "2026-07-15");
    }

    #[test]
    fn the_hours_clocks_change_are_read_as_rfc_5545_says() {
        // 29 March 2026, 01:00 GMT -> 02:00 BST: 01:30 never happens.
        assert_eq!(at("20260329013000"), "2026-03-29T02:30:00+01:00");
        // 25 October 2026, 02:00 BST -> 01:00 GMT: 01:30 happens twice; the first.
        assert_eq!(at("20261025013000"), "2026-10-25T01:30:00+01:00");
    }

    #[test]
    fn zone_names_come_from_the_bundled_database() {
        assert!(known("Europe/London") && known("UTC") && known("America/New_York"));
        assert!(!known("Europe/Londn"));
        assert!(names().iter().any(|n| n == "Australia/Sydney"));
        // An unknown zone leaves the time as it was.
        let t = DateTime::parse("20260715093000").unwrap();
        assert_eq!(localise(t, "Mars/Olympus"), t);
    }
}
