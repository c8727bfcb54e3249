//! The canonical scalar types of records: [`Date`], [`DateTime`] (with its precision
//! and UTC offset) and [`Decimal`] (kept as its text, never rounded), read from HL7 v2
//! DT/DTM and NM.

use std::fmt;

/// A calendar date (HL7 DT, or the date part of DTM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

/// A date and time to the second, with the UTC offset in minutes when the message gave one.
/// A DTM that gives only a date (`20260115`) keeps that precision: `has_time` is false,
/// and it is written as a date again, without a time or an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub offset_minutes: Option<i16>,
    pub has_time: bool,
}

fn digits(s: &str, from: usize, len: usize) -> Option<u32> {
    let part = s.get(from..from + len)?;
    part.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| part.parse().ok())
        .flatten()
}

fn days_in(year: i32, month: u8) -> u8 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    /// From HL7 `YYYYMMDD` (or the first eight digits of a DTM), or ISO `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Date> {
        let t = text.trim();
        // `YYYYMMDD` or `YYYY-MM-DD`, read in place.
        let (m, d) = if t.len() >= 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-' {
            (5, 8)
        } else {
            (4, 6)
        };
        let (year, month, day) = (
            digits(t, 0, 4)? as i32,
            digits(t, m, 2)? as u8,
            digits(t, d, 2)? as u8,
        );
        ((1..=12).contains(&month) && day >= 1 && day <= days_in(year, month)).then_some(Date {
            year,
            month,
            day,
        })
    }

    /// `YYYY-MM-DD` as bytes, for a year of four digits.
    pub fn iso_bytes(&self) -> Option<[u8; 10]> {
        if !(0..=9999).contains(&self.year) || self.month > 99 || self.day > 99 {
            return None;
        }
        let d = |n: u32| b'0' + (n % 10) as u8;
        let (y, m, day) = (self.year as u32, u32::from(self.month), u32::from(self.day));
        Some([
            d(y / 1000),
            d(y / 100),
            d(y / 10),
            d(y),
            b'-',
            d(m / 10),
            d(m),
            b'-',
            d(day / 10),
            d(day),
        ])
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl DateTime {
    /// From HL7 DTM: `YYYYMMDD[HH[MM[SS[.S+]]]][+/-ZZZZ]`.
    pub fn parse(text: &str) -> Option<DateTime> {
        let t = text.trim();
        let (body, offset) = match t.rfind(['+', '-']) {
            Some(i) if i >= 8 => {
                let sign: i16 = if t.as_bytes()[i] == b'-' { -1 } else { 1 };
                let z = &t[i + 1..];
                let (h, m) = (digits(z, 0, 2)? as i16, digits(z, 2, 2)? as i16);
                (&t[..i], Some(sign * (h * 60 + m)))
            }
            _ => (t, None),
        };
        let date = Date::parse(body.get(..8)?)?;
        let part = |from: usize| {
            if body.len() > from {
                digits(body, from, 2)
            } else {
                Some(0)
            }
        };
        let (hour, minute, second) = (part(8)? as u8, part(10)? as u8, part(12)? as u8);
        (hour < 24 && minute < 60 && second < 61).then_some(DateTime {
            date,
            hour,
            minute,
            second,
            offset_minutes: offset,
            has_time: body.len() > 8,
        })
    }
}

impl DateTime {
    /// From the ISO form [`Display`](fmt::Display) writes: `YYYY-MM-DDTHH:MM:SS[+HH:MM]`.
    pub fn parse_iso(text: &str) -> Option<DateTime> {
        let t = text.trim();
        let (date, time) = t.split_once('T').unwrap_or((t, ""));
        let hl7: String = date
            .chars()
            .filter(|c| *c != '-')
            .chain(time.chars().filter(|c| *c != ':'))
            .collect();
        DateTime::parse(&hl7)
    }
}

impl DateTime {
    /// Seconds since 1970-01-01T00:00:00Z, for ordering event times: a time with an offset
    /// is moved to UTC by it, one without is taken as it stands (as the estate's times
    /// usually are), and a date alone is its midnight.
    pub fn epoch_seconds(&self) -> i64 {
        let days = days_from_civil(self.date.year, self.date.month, self.date.day);
        let local = days * 86_400
            + i64::from(self.hour) * 3_600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        local - i64::from(self.offset_minutes.unwrap_or(0)) * 60
    }
}

/// Days since 1970-01-01 of a Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.has_time {
            return write!(f, "{}", self.date);
        }
        write!(
            f,
            "{}T{:02}:{:02}:{:02}",
            self.date, self.hour, self.minute, self.second
        )?;
        if let Some(o) = self.offset_minutes {
            write!(
                f,
                "{}{:02}:{:02}",
                if o < 0 { '-' } else { '+' },
                o.abs() / 60,
                o.abs() % 60
            )?;
        }
        Ok(())
    }
}

/// A decimal number kept as its canonical text, so values are never rounded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal(pub(super) String);

impl Decimal {
    pub fn parse(text: &str) -> Option<Decimal> {
        let t = text.trim();
        let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let ok = !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| Decimal(t.trim_start_matches('+').to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::to_hl7::PrivateHl7;

    #[test]
    fn dates_and_times_from_hl7() {
        assert_eq!(
            Date::parse("19800314"),
            Some(Date {
                year: 1980,
                month: 3,
                day: 14
            })
        );
        assert_eq!(
            Date::parse("198003141230"),
            Some(Date {
                year: 1980,
                month: 3,
                day: 14
            })
        );
        assert_eq!(
            Date::parse("2024-02-29"),
            Some(Date {
                year: 2024,
                month: 2,
                day: 29
            })
        );
        assert_eq!(Date::parse("20230229"), None);
        assert_eq!(Date::parse("tomorrow"), None);
        let t = DateTime::parse("20261102135900+0100").unwrap();
        assert_eq!(t.to_string(), "2026-11-02T13:59:00+01:00");
        // A date alone keeps its precision, both ways.
        let day = DateTime::parse("20261102").unwrap();
        assert_eq!(day.to_string(), "2026-11-02");
        assert_eq!(day.to_hl7_string(), "20261102");
        assert_eq!(DateTime::parse_iso("2026-11-02"), Some(day));
        assert_eq!(
            DateTime::parse("202611021359").unwrap().to_string(),
            "2026-11-02T13:59:00"
        );
        assert_eq!(DateTime::parse("2026110225"), None);
    }

    #[test]
    fn decimals_keep_their_text() {
        assert_eq!(
            Decimal::parse("6.10").map(|d| d.to_string()).as_deref(),
            Some("6.10")
        );
        assert_eq!(Decimal::parse("-1"), Some(Decimal("-1".into())));
        assert_eq!(Decimal::parse("1e3"), None);
    }
}
