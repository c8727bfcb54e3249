//! Wall-clock helpers: milliseconds since the Unix epoch, and their ISO 8601 and HL7 forms.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The virtual clock's time, when a scenario runs the production (0: the wall clock).
static VIRTUAL: AtomicI64 = AtomicI64::new(0);

/// Now: the wall clock's time, or the virtual clock's while a scenario runs.
pub fn now_ms() -> i64 {
    match VIRTUAL.load(Ordering::Acquire) {
        0 => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
        v => v,
    }
}

/// Sets the virtual clock (`scenario`): every journal time, deadline and retry is read
/// from it until it is set to 0 again.
pub(crate) fn set_virtual(ms: i64) {
    VIRTUAL.store(ms, Ordering::Release);
}

/// (year, month, day, hour, minute, second, millisecond) in UTC.
fn civil(ms: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000) as u32;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60, milli)
}

/// `2026-11-22T10:15:00.123Z`
pub fn iso(ms: i64) -> String {
    let (y, mo, d, h, mi, s, milli) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// `20261122101500`, for MSH-7 of the ACKs the production writes.
pub fn hl7(ms: i64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(ms);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

/// `90s`, `15m`, `2h`, `7d` as milliseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = n.parse().ok()?;
    Some(
        n * match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        },
    )
}

/// An instant given on the command line, in UTC: `2026-11-22`, `2026-11-22T10:15` or
/// `2026-11-22T10:15:30` (a trailing `Z` is accepted).
pub fn parse_instant(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches('Z');
    let (date, clock) = s.split_once(['T', ' ']).unwrap_or((s, "00:00"));
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut c = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi) = (c.next()??, c.next()??);
    let sec = c.next().map_or(Some(0), |v| v)?;
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Howard Hinnant's civil-to-days.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400) + h * 3600 + mi * 60 + sec) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_795_345_200_123), "2026-11-22T11:00:00.123Z");
        assert_eq!(hl7(1_795_345_200_123), "20261122110000");
        assert_eq!(parse_duration("15m"), Some(900_000));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_instant("2026-11-22T11:00"), Some(1_795_345_200_000));
        assert_eq!(
            parse_instant("2026-11-22T11:00:00Z"),
            Some(1_795_345_200_000)
        );
        assert_eq!(parse_instant("1970-01-01"), Some(0));
        assert_eq!(parse_instant("2026-13-01"), None);
        assert_eq!(parse_instant("yesterday"), None);
    }
}
