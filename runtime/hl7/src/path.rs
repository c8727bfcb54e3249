//! The one HL7 v2 path syntax (shared with the language and error messages):
//! `SEG[occurrence]-field[repetition].component.subcomponent`, 1-based, occurrence and
//! repetition defaulting to 1; a repetition may be `*` (all) or `where C[.S] = "value"`.
//! MSH counts fields as the standard does: MSH-1 is the field separator.

use super::error::{ErrorKind, ParseError};
use super::message::{Message, Segment};
use super::value::Value;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repetition {
    Index(usize),
    All,
    Where {
        component: usize,
        subcomponent: Option<usize>,
        value: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub segment: String,
    pub occurrence: Option<usize>,
    pub field: usize,
    pub repetition: Option<Repetition>,
    pub component: Option<usize>,
    pub subcomponent: Option<usize>,
}

fn bad(why: impl Into<String>, at: usize) -> ParseError {
    ParseError::new(ErrorKind::BadPath(why.into()), at)
}

struct Cursor<'s> {
    s: &'s str,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn number(&mut self, what: &str) -> Result<usize, ParseError> {
        let digits: String = self.s[self.pos..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if digits.is_empty() {
            return Err(bad(
                format!("expected {what} at position {}", self.pos + 1),
                self.pos,
            ));
        }
        self.pos += digits.len();
        match digits.parse::<usize>() {
            Ok(0) => Err(bad(
                format!("{what} is 1-based; 0 is not a position"),
                self.pos - digits.len(),
            )),
            Ok(n) => Ok(n),
            Err(_) => Err(bad(format!("{what} is too large"), self.pos)),
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.pos += 1;
        }
    }
}

impl Path {
    pub fn parse(text: &str) -> Result<Path, ParseError> {
        let mut c = Cursor {
            s: text.trim(),
            pos: 0,
        };
        let seg: String = c.s.chars().take(3).collect();
        if seg.len() != 3
            || !seg
                .chars()
                .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit())
        {
            return Err(bad(
                "a path starts with a three-character segment id such as PID",
                0,
            ));
        }
        c.pos = 3;
        let occurrence = if c.eat('[') {
            let n = c.number("occurrence")?;
            if !c.eat(']') {
                return Err(bad("expected `]` after the occurrence", c.pos));
            }
            Some(n)
        } else {
            None
        };
        if !c.eat('-') {
            return Err(bad(
                "expected `-` and a field number after the segment",
                c.pos,
            ));
        }
        let field = c.number("field")?;
        let repetition = if c.eat('[') {
            c.skip_spaces();
            let r = if c.eat('*') {
                Repetition::All
            } else if c.s[c.pos..].starts_with("where") {
                c.pos += 5;
                c.skip_spaces();
                let component = c.number("component")?;
                let subcomponent = if c.eat('.') {
                    Some(c.number("subcomponent")?)
                } else {
                    None
                };
                c.skip_spaces();
                if !c.eat('=') {
                    return Err(bad("expected `=` in the filter", c.pos));
                }
                c.skip_spaces();
                if !c.eat('"') {
                    return Err(bad("expected a quoted value in the filter", c.pos));
                }
                let end = c.s[c.pos..]
                    .find('"')
                    .ok_or_else(|| bad("unterminated string in the filter", c.pos))?;
                let value = c.s[c.pos..c.pos + end].to_string();
                c.pos += end + 1;
                Repetition::Where {
                    component,
                    subcomponent,
                    value,
                }
            } else {
                Repetition::Index(c.number("repetition")?)
            };
            c.skip_spaces();
            if !c.eat(']') {
                return Err(bad("expected `]` after the repetition", c.pos));
            }
            Some(r)
        } else {
            None
        };
        let component = if c.eat('.') {
            Some(c.number("component")?)
        } else {
            None
        };
        let subcomponent = if component.is_some() && c.eat('.') {
            Some(c.number("subcomponent")?)
        } else {
            None
        };
        if c.pos != c.s.len() {
            return Err(bad(format!("unexpected `{}`", &c.s[c.pos..]), c.pos));
        }
        Ok(Path {
            segment: seg,
            occurrence,
            field,
            repetition,
            component,
            subcomponent,
        })
    }
}

/// `path` at another segment occurrence (generated code writing the k-th segment of a
/// `for each`); `None` keeps it as it is.
pub fn at_occurrence(path: &Path, occurrence: Option<usize>) -> Path {
    match occurrence {
        Some(o) => Path {
            occurrence: Some(o),
            ..path.clone()
        },
        None => path.clone(),
    }
}

/// `path` at repetition `n` (writing the n-th value of a list).
pub fn at_repetition(path: &Path, n: usize) -> Path {
    Path {
        repetition: Some(Repetition::Index(n)),
        ..path.clone()
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.segment)?;
        if let Some(o) = self.occurrence {
            write!(f, "[{o}]")?;
        }
        write!(f, "-{}", self.field)?;
        match &self.repetition {
            None => {}
            Some(Repetition::Index(i)) => write!(f, "[{i}]")?,
            Some(Repetition::All) => write!(f, "[*]")?,
            Some(Repetition::Where {
                component,
                subcomponent,
                value,
            }) => {
                write!(f, "[where {component}")?;
                if let Some(s) = subcomponent {
                    write!(f, ".{s}")?;
                }
                write!(f, " = \"{value}\"]")?;
            }
        }
        if let Some(c) = self.component {
            write!(f, ".{c}")?;
        }
        if let Some(s) = self.subcomponent {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

/// The first repetition of `field` whose component (and subcomponent) reads `value`.
#[inline]
fn where_match<'a>(
    field: &Value<'a>,
    component: usize,
    subcomponent: Option<usize>,
    value: &str,
) -> Result<Option<Value<'a>>, ParseError> {
    for rep in field.repetitions() {
        let probe = rep.component(component).and_then(|c| match subcomponent {
            Some(s) => c.subcomponent(s),
            None => Some(c),
        });
        if let Some(p) = probe {
            // Raw bytes decide unless the value has escapes or non-ASCII to decode.
            let raw = p.raw();
            let decoded = || raw.contains(&field.delimiters().escape) || !raw.is_ascii();
            let same =
                raw.len() == value.len() && raw.iter().zip(value.bytes()).all(|(a, b)| *a == b);
            if same || (decoded() && p.text()? == value) {
                return Ok(Some(rep));
            }
        }
    }
    Ok(None)
}

/// The value `path` names inside `seg`, a segment already found (its segment id and
/// occurrence are not looked at): the field, repetition (`[*]` is the first),
/// component and subcomponent.
#[inline]
pub fn get_in<'a>(seg: &Segment<'_, 'a>, path: &Path) -> Result<Option<Value<'a>>, ParseError> {
    let Some(field) = seg.field(path.field) else {
        return Ok(None);
    };
    let rep = match &path.repetition {
        None | Some(Repetition::All) => field.repetition(1),
        Some(Repetition::Index(i)) => field.repetition(*i),
        Some(Repetition::Where {
            component,
            subcomponent,
            value,
        }) => where_match(&field, *component, *subcomponent, value)?,
    };
    Ok(rep.and_then(|rep| narrow(rep, path)))
}

/// The component and subcomponent of a repetition that `path` names.
#[inline]
fn narrow<'a>(rep: Value<'a>, path: &Path) -> Option<Value<'a>> {
    match path.component {
        None => Some(rep),
        Some(c) => rep.component(c).and_then(|comp| match path.subcomponent {
            None => Some(comp),
            Some(s) => comp.subcomponent(s),
        }),
    }
}

impl<'a> Message<'a> {
    /// The value at `path`; `Ok(None)` when absent (the segment, field, repetition or
    /// component is not there). A present but empty value is `Some`. With `[*]` this is
    /// the first repetition; use [`Message::get_all`] for all.
    #[inline]
    pub fn get(&self, path: &Path) -> Result<Option<Value<'a>>, ParseError> {
        // At most one value unless `[*]`: found without collecting (the mapping hot path).
        let Some(seg) = self.segment(&path.segment, path.occurrence.unwrap_or(1)) else {
            return Ok(None);
        };
        get_in(&seg, path)
    }

    /// Every value at `path`: one per repetition for `[*]`, else at most one.
    pub fn get_all(&self, path: &Path) -> Result<Vec<Value<'a>>, ParseError> {
        if !matches!(path.repetition, Some(Repetition::All)) {
            return Ok(self.get(path)?.into_iter().collect());
        }
        let Some(seg) = self.segment(&path.segment, path.occurrence.unwrap_or(1)) else {
            return Ok(vec![]);
        };
        let Some(field) = seg.field(path.field) else {
            return Ok(vec![]);
        };
        Ok(field
            .repetitions()
            .filter_map(|rep| narrow(rep, path))
            .collect())
    }

    /// The unescaped text at a path written as text; `Ok(None)` when absent.
    pub fn get_text(&self, path: &str) -> Result<Option<String>, ParseError> {
        let p = Path::parse(path)?;
        match self.get(&p)? {
            None => Ok(None),
            Some(v) => {
                let origin = v.offset_in(self.bytes());
                Ok(Some(v.text_at(origin)?.into_owned()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for p in [
            "PID-3",
            "PID-3[2].1",
            "OBX[4]-5",
            "PID-5.3.2",
            "PID-3[where 5 = \"MR\"].1",
            "PID-3[where 4.1 = \"NHS\"].1",
            "PV1-19[*]",
            "MSH-9.2",
        ] {
            assert_eq!(Path::parse(p).unwrap().to_string(), p);
        }
    }

    #[test]
    fn bad_paths_say_why() {
        for (p, why) in [
            ("PI-3", "three-character"),
            ("PID3", "expected `-`"),
            ("PID-0", "1-based"),
            ("PID-3[", "repetition"),
            ("PID-3.x", "component"),
            ("PID-3 junk", "unexpected"),
        ] {
            let e = Path::parse(p).unwrap_err();
            assert!(e.to_string().contains(why), "{p}: {e}");
        }
    }
}
