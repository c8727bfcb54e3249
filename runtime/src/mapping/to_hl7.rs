//! Values written into HL7 v2 fields ([`ToHl7`]): text as is, dates as DT/DTM,
//! booleans `Y`/`N`, numbers as written.

use super::values::{Date, DateTime, Decimal};

/// A value written into an HL7 v2 field: text as is, dates as DT/DTM, booleans Y/N.
/// The owned text of values that must be formatted.
pub(super) trait PrivateHl7 {
    fn to_hl7_string(&self) -> String;
}

pub trait ToHl7 {
    /// Borrowed when the value already is its text (no copy on the hot path).
    fn to_hl7(&self) -> std::borrow::Cow<'_, str>;
}

impl ToHl7 for str {
    fn to_hl7(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(self)
    }
}

impl ToHl7 for String {
    fn to_hl7(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(self)
    }
}

impl ToHl7 for i64 {
    fn to_hl7(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Owned(self.to_hl7_string())
    }
}

impl PrivateHl7 for i64 {
    fn to_hl7_string(&self) -> String {
        self.to_string()
    }
}

impl ToHl7 for bool {
    fn to_hl7(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Owned(self.to_hl7_string())
    }
}

impl PrivateHl7 for bool {
    fn to_hl7_string(&self) -> String {
        String::from(if *self { "Y" } else { "N" })
    }
}

impl ToHl7 for Decimal {
    fn to_hl7(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(&self.0)
    }
}

impl ToHl7 for Date {
    fn to_hl7(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Owned(self.to_hl7_string())
    }
}

impl PrivateHl7 for Date {
    fn to_hl7_string(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

impl ToHl7 for DateTime {
    fn to_hl7(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Owned(self.to_hl7_string())
    }
}

impl PrivateHl7 for DateTime {
    fn to_hl7_string(&self) -> String {
        if !self.has_time {
            return self.date.to_hl7_string();
        }
        let mut s = format!(
            "{}{:02}{:02}{:02}",
            self.date.to_hl7_string(),
            self.hour,
            self.minute,
            self.second
        );
        if let Some(o) = self.offset_minutes {
            s.push_str(&format!(
                "{}{:02}{:02}",
                if o < 0 { '-' } else { '+' },
                o.abs() / 60,
                o.abs() % 60
            ));
        }
        s
    }
}
