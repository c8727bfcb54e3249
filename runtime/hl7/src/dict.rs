//! The HL7 v2 dictionary: segments and their fields (name, data type, table, cardinality),
//! data types and their components, message structures with their segment groups, and
//! the trigger-event-to-structure map, for versions 2.3 to 2.8.2. The data is extracted
//! from hl7apy (MIT) by `runtime/hl7/tools/extract_hl7_dictionary.py` into `runtime/hl7/data/hl7v2`
//! and parsed on first use of each version.

use super::path::Path;
use std::collections::HashMap;
use std::sync::OnceLock;

const SOURCES: &[(&str, &str)] = &[
    ("2.3", include_str!("../data/hl7v2/v2.3.txt")),
    ("2.3.1", include_str!("../data/hl7v2/v2.3.1.txt")),
    ("2.4", include_str!("../data/hl7v2/v2.4.txt")),
    ("2.5", include_str!("../data/hl7v2/v2.5.txt")),
    ("2.5.1", include_str!("../data/hl7v2/v2.5.1.txt")),
    ("2.6", include_str!("../data/hl7v2/v2.6.txt")),
    ("2.7", include_str!("../data/hl7v2/v2.7.txt")),
    ("2.8", include_str!("../data/hl7v2/v2.8.txt")),
    ("2.8.1", include_str!("../data/hl7v2/v2.8.1.txt")),
    ("2.8.2", include_str!("../data/hl7v2/v2.8.2.txt")),
];

/// The versions the dictionary covers.
pub fn versions() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(|(v, _)| *v)
}

#[derive(Debug, Clone)]
pub struct FieldDef {
    pub position: usize,
    pub datatype: &'static str,
    pub name: &'static str,
    pub table: Option<&'static str>,
    pub min: u32,
    /// `None` is unbounded.
    pub max: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct ComponentDef {
    pub position: usize,
    pub datatype: &'static str,
    pub name: &'static str,
    pub table: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub enum Element {
    Segment {
        id: &'static str,
        min: u32,
        max: Option<u32>,
    },
    Group {
        name: &'static str,
        min: u32,
        max: Option<u32>,
        children: Vec<Element>,
    },
}

#[derive(Debug, Default)]
pub struct Dictionary {
    pub version: &'static str,
    datatypes: HashMap<&'static str, Vec<ComponentDef>>,
    segments: HashMap<&'static str, Vec<FieldDef>>,
    structures: HashMap<&'static str, Vec<Element>>,
    triggers: HashMap<&'static str, &'static str>,
}

/// The segment ids of a message type's structure in the order the structure lists them
/// (an id appears once per place it may stand): what `MessageBuilder::ordered` follows.
/// Empty when the version or the message type is unknown.
pub fn segment_order(version: &str, message_type: &str) -> Vec<&'static str> {
    dictionary(version)
        .and_then(|d| {
            let s = d.structure_for(message_type)?;
            Some(d.members(s).0)
        })
        .unwrap_or_default()
}

/// The dictionary of a version, parsed once. `None` for a version it does not cover.
pub fn dictionary(version: &str) -> Option<&'static Dictionary> {
    static PARSED: OnceLock<Vec<OnceLock<Dictionary>>> = OnceLock::new();
    let cells = PARSED.get_or_init(|| SOURCES.iter().map(|_| OnceLock::new()).collect());
    let index = SOURCES.iter().position(|(v, _)| *v == version)?;
    Some(cells[index].get_or_init(|| parse(SOURCES[index].0, SOURCES[index].1)))
}

fn card(mark: &str) -> (u32, Option<u32>) {
    match mark {
        "?" => (0, Some(1)),
        "*" => (0, None),
        "+" => (1, None),
        _ => (1, Some(1)),
    }
}

fn parse(version: &'static str, text: &'static str) -> Dictionary {
    let mut d = Dictionary {
        version,
        ..Dictionary::default()
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut cols = line.splitn(3, '\t');
        let (Some(kind), Some(name), Some(rest)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        match kind {
            "D" => {
                let comps = rest
                    .split(';')
                    .filter_map(|c| {
                        let f: Vec<&'static str> = c.split('|').collect();
                        Some(ComponentDef {
                            position: f.first()?.parse().ok()?,
                            datatype: f.get(1)?,
                            name: f.get(2)?,
                            table: f.get(3).filter(|t| !t.is_empty()).copied(),
                        })
                    })
                    .collect();
                d.datatypes.insert(name, comps);
            }
            "S" => {
                let fields = rest
                    .split(';')
                    .filter_map(|c| {
                        let f: Vec<&'static str> = c.split('|').collect();
                        Some(FieldDef {
                            position: f.first()?.parse().ok()?,
                            datatype: f.get(1)?,
                            name: f.get(2)?,
                            table: f.get(3).filter(|t| !t.is_empty()).copied(),
                            min: f.get(4)?.parse().unwrap_or(0),
                            max: f.get(5).and_then(|m| m.parse().ok()),
                        })
                    })
                    .collect();
                d.segments.insert(name, fields);
            }
            "M" => {
                let mut tokens = Tokens { s: rest, pos: 0 };
                d.structures.insert(name, tokens.elements());
            }
            "E" => {
                d.triggers.insert(name, rest);
            }
            _ => {}
        }
    }
    d
}

struct Tokens {
    s: &'static str,
    pos: usize,
}

impl Tokens {
    /// `NAME[mark]` or `NAME[mark](elements)`, separated by spaces, until `)` or the end.
    fn elements(&mut self) -> Vec<Element> {
        let mut out = vec![];
        loop {
            while self.s[self.pos..].starts_with(' ') {
                self.pos += 1;
            }
            if self.pos >= self.s.len() || self.s[self.pos..].starts_with(')') {
                self.pos = (self.pos + 1).min(self.s.len());
                return out;
            }
            let len = self.s[self.pos..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(self.s.len() - self.pos);
            let name = &self.s[self.pos..self.pos + len];
            self.pos += len;
            let mark = match self.s[self.pos..].chars().next() {
                Some(c @ ('?' | '*' | '+')) => {
                    self.pos += 1;
                    c.to_string()
                }
                _ => String::new(),
            };
            let (min, max) = card(&mark);
            if self.s[self.pos..].starts_with('(') {
                self.pos += 1;
                let children = self.elements();
                out.push(Element::Group {
                    name,
                    min,
                    max,
                    children,
                });
            } else if len == 0 {
                self.pos += 1; // skip an unexpected character
            } else {
                out.push(Element::Segment { id: name, min, max });
            }
        }
    }
}

/// Why a path does not exist in a version and message structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathProblem {
    UnknownSegment {
        suggestion: Option<String>,
    },
    SegmentNotInStructure {
        structures: Vec<String>,
        suggestion: Option<String>,
    },
    NoSuchField {
        segment: String,
        /// The segment's last field.
        fields: usize,
        /// The field would be inside the segment but the version does not define it (it
        /// was withdrawn, as PV1-52 in v2.8).
        withdrawn: bool,
    },
    NoSuchComponent {
        field: String,
        datatype: String,
        components: usize,
    },
    NoSuchSubcomponent {
        component: String,
        datatype: String,
        subcomponents: usize,
    },
}

impl Dictionary {
    pub fn segment(&self, id: &str) -> Option<&[FieldDef]> {
        self.segments.get(id).map(Vec::as_slice)
    }

    pub fn field(&self, segment: &str, position: usize) -> Option<&FieldDef> {
        self.segment(segment)?
            .iter()
            .find(|f| f.position == position)
    }

    pub fn components(&self, datatype: &str) -> Option<&[ComponentDef]> {
        self.datatypes.get(datatype).map(Vec::as_slice)
    }

    pub fn structure(&self, name: &str) -> Option<&[Element]> {
        self.structures.get(name).map(Vec::as_slice)
    }

    pub fn segment_ids(&self) -> impl Iterator<Item = &&'static str> {
        self.segments.keys()
    }

    /// The structure of a message type: `ADT^A08` -> `ADT_A01`; `ADT^A08^ADT_A01` and
    /// `ADT_A01` name it directly (an unknown third component falls back to the
    /// trigger event); `ACK` is `ACK`.
    pub fn structure_for(&self, message_type: &str) -> Option<&'static str> {
        let parts: Vec<&str> = message_type.split('^').collect();
        if let Some(explicit) = parts.get(2).filter(|s| !s.is_empty()) {
            if let Some((k, _)) = self.structures.get_key_value(*explicit) {
                return Some(k);
            }
            // A structure this version does not define: fall back to the trigger event.
        }
        if let Some((k, _)) = self.structures.get_key_value(message_type) {
            return Some(k);
        }
        let trigger = parts.iter().take(2).copied().collect::<Vec<_>>().join("^");
        if let Some(s) = self.triggers.get(trigger.as_str()) {
            return Some(s);
        }
        self.structures.get_key_value(parts[0]).map(|(k, _)| *k)
    }

    /// Every segment id and group name in a structure.
    pub fn members(&self, structure: &str) -> (Vec<&'static str>, Vec<&'static str>) {
        fn walk(els: &[Element], segs: &mut Vec<&'static str>, groups: &mut Vec<&'static str>) {
            for e in els {
                match e {
                    Element::Segment { id, .. } => segs.push(id),
                    Element::Group { name, children, .. } => {
                        groups.push(name);
                        walk(children, segs, groups);
                    }
                }
            }
        }
        let (mut segs, mut groups) = (vec![], vec![]);
        if let Some(els) = self.structures.get(structure) {
            walk(els, &mut segs, &mut groups);
        }
        (segs, groups)
    }

    /// Checks that `path` exists: the segment is in one of `structures` (any segment when
    /// the list is empty), and the field, component and subcomponent exist for their data
    /// types. Returns a description such as `PID-5.1 is "Family Name" (FN)`.
    pub fn check_path(&self, path: &Path, structures: &[&str]) -> Result<String, PathProblem> {
        let Some(fields) = self.segment(&path.segment) else {
            let suggestion = closest(&path.segment, self.segments.keys().copied());
            return Err(PathProblem::UnknownSegment { suggestion });
        };
        if !structures.is_empty() {
            let mut allowed = vec![];
            for s in structures {
                allowed.extend(self.members(s).0);
            }
            if !allowed.is_empty() && !allowed.contains(&path.segment.as_str()) {
                let suggestion = closest(&path.segment, allowed.iter().copied());
                return Err(PathProblem::SegmentNotInStructure {
                    structures: structures.iter().map(|s| s.to_string()).collect(),
                    suggestion,
                });
            }
        }
        let Some(field) = fields.iter().find(|f| f.position == path.field) else {
            let last = fields.iter().map(|f| f.position).max().unwrap_or(0);
            return Err(PathProblem::NoSuchField {
                segment: path.segment.clone(),
                fields: last,
                withdrawn: path.field < last,
            });
        };
        let mut desc = format!(
            "{}-{} is \"{}\" ({})",
            path.segment, path.field, field.name, field.datatype
        );
        let Some(c) = path.component else {
            return Ok(desc);
        };
        let comps = self.components(field.datatype);
        let comp = match comps {
            Some(list) => match list.iter().find(|x| x.position == c) {
                Some(x) => Some(x),
                None => {
                    return Err(PathProblem::NoSuchComponent {
                        field: format!("{}-{} ({})", path.segment, path.field, field.name),
                        datatype: field.datatype.into(),
                        components: list.len(),
                    })
                }
            },
            // A primitive (or `varies`) type: component 1 is the value itself.
            None if c == 1 || field.datatype == "varies" => None,
            None => {
                return Err(PathProblem::NoSuchComponent {
                    field: format!("{}-{} ({})", path.segment, path.field, field.name),
                    datatype: field.datatype.into(),
                    components: 1,
                })
            }
        };
        if let Some(comp) = comp {
            desc = format!(
                "{}-{}.{c} is \"{}\" ({})",
                path.segment, path.field, comp.name, comp.datatype
            );
            if let Some(s) = path.subcomponent {
                match self.components(comp.datatype) {
                    Some(subs) => match subs.iter().find(|x| x.position == s) {
                        Some(sub) => {
                            desc = format!(
                                "{}-{}.{c}.{s} is \"{}\" ({})",
                                path.segment, path.field, sub.name, sub.datatype
                            )
                        }
                        None => {
                            return Err(PathProblem::NoSuchSubcomponent {
                                component: comp.name.into(),
                                datatype: comp.datatype.into(),
                                subcomponents: subs.len(),
                            })
                        }
                    },
                    None if s == 1 => {}
                    None => {
                        return Err(PathProblem::NoSuchSubcomponent {
                            component: comp.name.into(),
                            datatype: comp.datatype.into(),
                            subcomponents: 1,
                        })
                    }
                }
            }
        }
        Ok(desc)
    }
}

/// The closest name by edit distance (at most 2 edits), for "did you mean".
pub fn closest<'n>(name: &str, candidates: impl Iterator<Item = &'n str>) -> Option<String> {
    candidates
        .filter(|c| *c != name)
        .map(|c| (strsim::levenshtein(name, c), c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Path {
        Path::parse(s).unwrap()
    }

    #[test]
    fn every_version_loads() {
        for v in versions() {
            let d = dictionary(v).unwrap();
            assert!(d.segment("PID").is_some_and(|f| f.len() > 25), "{v}");
            assert_eq!(d.structure_for("ADT^A08"), Some("ADT_A01"), "{v}");
            assert!(d.structure("ORU_R01").is_some(), "{v}");
        }
        assert!(dictionary("9.9").is_none());
    }

    #[test]
    fn paths_are_described_and_problems_named() {
        let d = dictionary("2.5.1").unwrap();
        let adt = d.structure_for("ADT^A01").unwrap();
        assert_eq!(
            d.check_path(&p("PID-5.1"), &[adt]).unwrap(),
            "PID-5.1 is \"Family Name\" (FN)"
        );
        assert_eq!(
            d.check_path(&p("PID-5.1.1"), &[adt]).unwrap(),
            "PID-5.1.1 is \"Surname\" (ST)"
        );
        assert_eq!(
            d.check_path(&p("PID-8"), &[adt]).unwrap(),
            "PID-8 is \"Administrative Sex\" (IS)"
        );
        assert!(
            matches!(d.check_path(&p("PXD-5"), &[adt]), Err(PathProblem::UnknownSegment { suggestion: Some(s) }) if s == "PID" || s == "PD1" || s.len() == 3)
        );
        assert!(matches!(
            d.check_path(&p("OBR-4"), &[adt]),
            Err(PathProblem::SegmentNotInStructure { .. })
        ));
        assert!(matches!(
            d.check_path(&p("PID-99"), &[adt]),
            Err(PathProblem::NoSuchField { .. })
        ));
        assert!(matches!(
            d.check_path(&p("PID-5.40"), &[adt]),
            Err(PathProblem::NoSuchComponent { .. })
        ));
        assert!(matches!(
            d.check_path(&p("PID-8.2"), &[adt]),
            Err(PathProblem::NoSuchComponent { .. })
        ));
        assert!(d.check_path(&p("OBX-5.3"), &[]).is_ok(), "OBX-5 varies");
        let oru = d.structure_for("ORU^R01").unwrap();
        let (_, groups) = d.members(oru);
        assert!(groups.contains(&"ORDER_OBSERVATION") && groups.contains(&"OBSERVATION"));
    }
}
