//! A value inside a message: a field (all its repetitions), one repetition, a component
//! or a subcomponent. It borrows the message's bytes and splits them on demand; `text()`
//! unescapes and decodes, borrowing when it can. The HL7 null `""` is told apart from an
//! empty value.

use super::charset::Charset;
use super::delims::Delimiters;
use super::error::ParseError;
use super::escape::unescape;
use std::borrow::Cow;

#[derive(Debug, Clone, Copy)]
pub struct Value<'a> {
    raw: &'a [u8],
    delims: Delimiters,
    charset: Charset,
    /// MSH-1 and MSH-2 hold delimiters: never split or unescaped.
    verbatim: bool,
}

impl<'a> Value<'a> {
    #[inline]
    pub(crate) fn new(raw: &'a [u8], delims: Delimiters, charset: Charset) -> Value<'a> {
        Value {
            raw,
            delims,
            charset,
            verbatim: false,
        }
    }

    #[inline]
    pub(crate) fn verbatim(mut self) -> Value<'a> {
        self.verbatim = true;
        self
    }

    #[inline]
    pub(crate) fn delimiters(&self) -> Delimiters {
        self.delims
    }

    /// The bytes as they stand in the message (escaped).
    #[inline]
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The HL7 null `""`: "delete this value", not "no value".
    #[inline]
    pub fn is_null(&self) -> bool {
        self.raw == b"\"\""
    }

    /// Unescaped, decoded text. `origin` offsets errors (pass the value's offset in the
    /// message, or 0).
    #[inline]
    pub fn text_at(&self, origin: usize) -> Result<Cow<'a, str>, ParseError> {
        if self.verbatim {
            return self.charset.decode(self.raw, origin);
        }
        unescape(self.raw, &self.delims, self.charset, origin)
    }

    #[inline]
    pub fn text(&self) -> Result<Cow<'a, str>, ParseError> {
        self.text_at(0)
    }

    fn split(&self, on: u8) -> impl Iterator<Item = Value<'a>> + 'a {
        let (delims, charset, verbatim) = (self.delims, self.charset, self.verbatim);
        // A verbatim value never splits: the predicate is never true, one part comes out.
        self.raw
            .split(move |&b| !verbatim && b == on)
            .map(move |raw| Value {
                raw,
                delims,
                charset,
                verbatim,
            })
    }

    #[inline]
    fn nth(&self, on: u8, n: usize) -> Option<Value<'a>> {
        if n == 0 {
            return None;
        }
        if self.verbatim {
            return (n == 1).then_some(*self);
        }
        // Fields and components are short: a plain scan beats memchr's set-up here.
        let mut start = 0;
        let mut index = 1;
        for (pos, &b) in self.raw.iter().enumerate() {
            if b != on {
                continue;
            }
            if index == n {
                return Some(Value {
                    raw: &self.raw[start..pos],
                    ..*self
                });
            }
            start = pos + 1;
            index += 1;
        }
        (index == n).then(|| Value {
            raw: &self.raw[start..],
            ..*self
        })
    }

    pub fn repetitions(&self) -> impl Iterator<Item = Value<'a>> + 'a {
        self.split(self.delims.repetition)
    }

    pub fn components(&self) -> impl Iterator<Item = Value<'a>> + 'a {
        self.split(self.delims.component)
    }

    pub fn subcomponents(&self) -> impl Iterator<Item = Value<'a>> + 'a {
        self.split(self.delims.subcomponent)
    }

    /// Repetition `n` (1-based), `None` when there are fewer.
    #[inline]
    pub fn repetition(&self, n: usize) -> Option<Value<'a>> {
        self.nth(self.delims.repetition, n)
    }

    #[inline]
    pub fn component(&self, n: usize) -> Option<Value<'a>> {
        self.nth(self.delims.component, n)
    }

    #[inline]
    pub fn subcomponent(&self, n: usize) -> Option<Value<'a>> {
        self.nth(self.delims.subcomponent, n)
    }

    /// Byte offset of this value inside `within` (a value it was split from), for errors.
    #[inline]
    pub fn offset_in(&self, within: &[u8]) -> usize {
        (self.raw.as_ptr() as usize).saturating_sub(within.as_ptr() as usize)
    }
}
