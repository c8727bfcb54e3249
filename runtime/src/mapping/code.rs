//! Codesets in generated code: each is an enum that implements [`Code`], and through it
//! is written and read as JSON, written into FHIR and named in resource ids, so a
//! generated crate holds one small impl per codeset instead of one per trait.

/// A codeset's enum: its code system, its codes in order, and each code's text and
/// display.
pub trait Code: Copy + std::fmt::Display + 'static {
    /// The code system URI, when the codeset names one.
    const SYSTEM: Option<&'static str>;
    /// Every code, in the order of the codeset.
    const ALL: &'static [Self];

    /// The code as the contract writes it (`F`).
    fn code(self) -> &'static str;

    /// Its display text (`Female`), or the code when the contract gives none.
    fn display(self) -> &'static str;

    /// The value whose code is `code`, if the codeset has it.
    fn from_code(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.code() == code)
    }
}
