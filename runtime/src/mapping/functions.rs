//! The built-in functions of the language, as generated code calls them (`rt::f::upper`,
//! `rt::f::date`, ...).

use super::{Date, DateTime, Decimal, MapError, MapErrorKind};

fn conversion(function: &'static str, value: &str, at: &'static str) -> MapError {
    MapError {
        at,
        kind: MapErrorKind::Conversion {
            function,
            value: value.to_string(),
        },
    }
}

#[inline]
pub fn date<S: AsRef<str>>(v: Option<S>, at: &'static str) -> Result<Option<Date>, MapError> {
    v.map(|s| Date::parse(s.as_ref()).ok_or_else(|| conversion("date", s.as_ref(), at)))
        .transpose()
}

/// [`datetime`] read in the estate's time zone when the value gives no offset.
pub fn datetime_in<S: AsRef<str>>(
    v: Option<S>,
    zone: &'static str,
    at: &'static str,
) -> Result<Option<DateTime>, MapError> {
    Ok(datetime(v, at)?.map(|t| super::zone::localise(t, zone)))
}

pub fn datetime<S: AsRef<str>>(
    v: Option<S>,
    at: &'static str,
) -> Result<Option<DateTime>, MapError> {
    v.map(|s| DateTime::parse(s.as_ref()).ok_or_else(|| conversion("datetime", s.as_ref(), at)))
        .transpose()
}

pub fn integer<S: AsRef<str>>(v: Option<S>, at: &'static str) -> Result<Option<i64>, MapError> {
    v.map(|s| {
        s.as_ref()
            .trim()
            .parse::<i64>()
            .map_err(|_| conversion("integer", s.as_ref(), at))
    })
    .transpose()
}

pub fn decimal<S: AsRef<str>>(v: Option<S>, at: &'static str) -> Result<Option<Decimal>, MapError> {
    v.map(|s| Decimal::parse(s.as_ref()).ok_or_else(|| conversion("decimal", s.as_ref(), at)))
        .transpose()
}

pub fn upper(v: Option<String>) -> Option<String> {
    v.map(|s| s.to_uppercase())
}

pub fn lower(v: Option<String>) -> Option<String> {
    v.map(|s| s.to_lowercase())
}

pub fn trim(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string())
}

pub fn concat(parts: Vec<Option<String>>) -> Option<String> {
    let present: Vec<String> = parts.into_iter().flatten().collect();
    (!present.is_empty()).then(|| present.concat())
}

/// `start` is 1-based; characters, not bytes.
pub fn substring(v: Option<String>, start: Option<i64>, len: Option<i64>) -> Option<String> {
    let (s, start, len) = (
        v?,
        start.unwrap_or(1).max(1) as usize,
        len.unwrap_or(i64::MAX).max(0) as usize,
    );
    Some(s.chars().skip(start - 1).take(len).collect())
}

pub fn replace(v: Option<String>, from: Option<String>, to: Option<String>) -> Option<String> {
    let s = v?;
    match from.filter(|f| !f.is_empty()) {
        Some(f) => Some(s.replace(&f, &to.unwrap_or_default())),
        None => Some(s),
    }
}

/// `YYYY`, `MM`, `DD`, `hh`, `mm` and `ss` in `pattern` replaced by the parts of the
/// date (and time); anything else is copied.
pub fn format_date<S: AsRef<str>>(d: Option<Date>, pattern: Option<S>) -> Option<String> {
    let d = d?;
    Some(format_parts(
        pattern.as_ref().map_or("YYYYMMDD", |p| p.as_ref()),
        &d,
        None,
    ))
}

pub fn format_datetime<S: AsRef<str>>(d: Option<DateTime>, pattern: Option<S>) -> Option<String> {
    let t = d?;
    Some(format_parts(
        pattern.as_ref().map_or("YYYYMMDDhhmmss", |p| p.as_ref()),
        &t.date,
        Some(&t),
    ))
}

/// What is wrong with a `format_date` pattern, if anything: the byte offset of the first
/// letters that are no token and why. The tokens are `YYYY`, `MM`, `DD` and, for a date and
/// time, `hh`, `mm`, `ss`; `T` and `Z` stand for themselves, as does anything that is not a
/// letter. The compiler refuses such a literal pattern (E0423); at run time the letters
/// would be copied into the output.
pub fn date_pattern_problem(pattern: &str, with_time: bool) -> Option<(usize, String)> {
    const DATE: [&str; 3] = ["YYYY", "MM", "DD"];
    const TIME: [&str; 3] = ["hh", "mm", "ss"];
    let mut at = 0;
    while at < pattern.len() {
        let rest = &pattern[at..];
        if let Some(t) = DATE.iter().find(|t| rest.starts_with(**t)) {
            at += t.len();
            continue;
        }
        if let Some(t) = TIME.iter().find(|t| rest.starts_with(**t)) {
            if !with_time {
                return Some((at, format!("`{t}` is a time, and a Date has none")));
            }
            at += t.len();
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c.is_alphabetic() && c != 'T' && c != 'Z' {
            let run: String = rest.chars().take_while(|c| c.is_alphabetic()).collect();
            let why = match run.as_str() {
                "YY" => "`YY`: the year is written `YYYY`".to_string(),
                _ => format!("`{run}` is not a date pattern token (YYYY, MM, DD, hh, mm, ss)"),
            };
            return Some((at, why));
        }
        at += c.len_utf8();
    }
    None
}

fn format_parts(pattern: &str, d: &Date, t: Option<&DateTime>) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(pattern.len() + 2);
    let mut rest = pattern;
    while !rest.is_empty() {
        let (n, taken) = if rest.starts_with("YYYY") {
            (d.year as u32, 4)
        } else if rest.starts_with("MM") {
            (u32::from(d.month), 2)
        } else if rest.starts_with("DD") {
            (u32::from(d.day), 2)
        } else if let (true, Some(t)) = (rest.starts_with("hh"), t) {
            (u32::from(t.hour), 2)
        } else if let (true, Some(t)) = (rest.starts_with("mm"), t) {
            (u32::from(t.minute), 2)
        } else if let (true, Some(t)) = (rest.starts_with("ss"), t) {
            (u32::from(t.second), 2)
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        let _ = write!(out, "{n:0width$}", width = taken);
        rest = &rest[taken..];
    }
    out
}

pub fn join(v: Vec<String>, sep: Option<String>) -> Option<String> {
    (!v.is_empty()).then(|| v.join(&sep.unwrap_or_default()))
}

/// Now, in UTC.
pub fn now() -> DateTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    DateTime {
        date: civil(days),
        hour: (rem / 3600) as u8,
        minute: (rem / 60 % 60) as u8,
        second: (rem % 60) as u8,
        offset_minutes: Some(0),
        has_time: true,
    }
}

/// Today, in UTC.
pub fn today() -> Date {
    now().date
}

/// Days since 1970-01-01 to a Gregorian date (Howard Hinnant's civil_from_days).
fn civil(z: i64) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    Date { year, month, day }
}

/// `require(value, "reason")`: the value, or the message refused with the contract's
/// reason when there is none.
pub fn require<T>(
    v: Option<T>,
    reason: &'static str,
    at: &'static str,
) -> Result<Option<T>, MapError> {
    match v {
        Some(v) => Ok(Some(v)),
        None => Err(MapError {
            at,
            kind: MapErrorKind::Refused { reason },
        }),
    }
}

/// `require(list, "reason")`: the list, or the message refused when it is empty.
pub fn require_list<T>(
    v: Vec<T>,
    reason: &'static str,
    at: &'static str,
) -> Result<Vec<T>, MapError> {
    if v.is_empty() {
        return Err(MapError {
            at,
            kind: MapErrorKind::Refused { reason },
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_patterns_name_their_first_unknown_letters() {
        assert_eq!(date_pattern_problem("YYYYMMDD", false), None);
        assert_eq!(date_pattern_problem("YYYY-MM-DDThh:mm:ssZ", true), None);
        assert_eq!(
            date_pattern_problem("DD/MM/YY", false).map(|p| p.0),
            Some(6)
        );
        assert!(date_pattern_problem("YYYYMMDDhhmm", false)
            .is_some_and(|(at, why)| at == 8 && why.contains("a Date has none")));
        assert!(date_pattern_problem("DD Mon YYYY", true)
            .is_some_and(|(at, why)| at == 3 && why.contains("`Mon`")));
    }
}
