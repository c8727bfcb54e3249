//! The FHIR R4 dictionary: every base resource, complex and primitive data type of FHIR
//! 4.0.1 with its elements (cardinality, types, choice types, reference targets, required
//! and extensible bindings) and the codes of required bindings' value sets. The data is
//! extracted from the official CC0 StructureDefinitions by
//! `runtime/fhir/tools/extract_fhir_dictionary.py` into `runtime/fhir/data/fhir/r4.txt` and parsed
//! on first use. [`Dictionary::resolve`] walks a path such as `name[0].family` or
//! `deceasedBoolean` through resources, backbone elements and data types.

// Nothing panics on user input: no unwrap or expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::HashMap;
use std::sync::OnceLock;

const SOURCE: &str = include_str!("../data/fhir/r4.txt");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Resource,
    Complex,
    Primitive,
}

#[derive(Debug, Clone)]
pub struct Definition {
    pub name: &'static str,
    pub kind: Kind,
    pub is_abstract: bool,
    pub base: &'static str,
}

#[derive(Debug, Clone)]
pub struct Binding {
    /// `required` or `extensible`.
    pub strength: &'static str,
    pub value_set: &'static str,
}

#[derive(Debug, Clone)]
pub struct ElementDef {
    /// The definition path, `Patient.contact.name`, `Patient.deceased[x]`.
    pub path: &'static str,
    pub min: u32,
    /// `None` is `*`.
    pub max: Option<u32>,
    /// Type codes (`HumanName`, `code`, `Reference(Patient|Group)`), or `@Path` for an
    /// element defined at another path (contentReference).
    pub types: Vec<&'static str>,
    pub binding: Option<Binding>,
}

impl ElementDef {
    pub fn is_list(&self) -> bool {
        self.max != Some(1) && self.max != Some(0)
    }

    /// The element's own name: the last step of its path (`deceased[x]`).
    pub fn name(&self) -> &'static str {
        self.path.rsplit('.').next().unwrap_or(self.path)
    }
}

/// One step of a resolved path.
#[derive(Debug, Clone)]
pub struct Step<'d> {
    pub element: &'d ElementDef,
    /// The type this step has: for a choice element the one its JSON name picks
    /// (`deceasedBoolean` -> `boolean`); `Reference(...)` keeps its targets.
    pub ty: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PathProblem {
    /// The root is not a FHIR R4 resource or data type.
    UnknownType { suggestion: Option<String> },
    /// Step `at` is not an element of `parent` (a definition path).
    UnknownElement {
        at: usize,
        parent: String,
        suggestion: Option<String>,
    },
    /// Step `at` goes below a primitive value.
    BelowPrimitive { at: usize, ty: String },
}

#[derive(Debug, Default)]
pub struct Dictionary {
    definitions: HashMap<&'static str, Definition>,
    elements: HashMap<&'static str, ElementDef>,
    /// Definition path -> the names of its child elements, in order.
    children: HashMap<&'static str, Vec<&'static str>>,
    /// Value set URL -> (code system, codes) it includes.
    value_sets: HashMap<&'static str, Vec<(&'static str, Vec<&'static str>)>>,
}

/// The R4 dictionary, parsed once.
pub fn r4() -> &'static Dictionary {
    static PARSED: OnceLock<Dictionary> = OnceLock::new();
    PARSED.get_or_init(|| parse(SOURCE))
}

fn parse(text: &'static str) -> Dictionary {
    let mut d = Dictionary::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&'static str> = line.split('\t').collect();
        match cols.as_slice() {
            ["T", name, kind, base] => {
                let is_abstract = kind.ends_with('*');
                let kind = match kind.trim_end_matches('*') {
                    "resource" => Kind::Resource,
                    "primitive" => Kind::Primitive,
                    _ => Kind::Complex,
                };
                d.definitions.insert(
                    name,
                    Definition {
                        name,
                        kind,
                        is_abstract,
                        base,
                    },
                );
            }
            ["E", path, min, max, types, rest @ ..] => {
                let binding = match rest {
                    [strength, value_set] => Some(Binding {
                        strength,
                        value_set,
                    }),
                    _ => None,
                };
                let element = ElementDef {
                    path,
                    min: min.parse().unwrap_or(0),
                    max: max.parse().ok(),
                    types: types.split(' ').filter(|t| !t.is_empty()).collect(),
                    binding,
                };
                if let Some((parent, name)) = path.rsplit_once('.') {
                    d.children.entry(parent).or_default().push(name);
                }
                d.elements.insert(path, element);
            }
            ["V", value_set, system, codes] => {
                d.value_sets
                    .entry(value_set)
                    .or_default()
                    .push((system, codes.split('|').collect()));
            }
            _ => {}
        }
    }
    d
}

/// `boolean` -> `Boolean`, for choice element names (`deceasedBoolean`).
fn capitalised(ty: &str) -> String {
    let base = ty.split('(').next().unwrap_or(ty);
    let mut c = base.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

impl Dictionary {
    pub fn definition(&self, name: &str) -> Option<&Definition> {
        self.definitions.get(name)
    }

    pub fn element(&self, path: &str) -> Option<&ElementDef> {
        self.elements.get(path)
    }

    /// The names of the resources (not data types), for "did you mean".
    pub fn resource_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.definitions
            .values()
            .filter(|d| d.kind == Kind::Resource && !d.is_abstract)
            .map(|d| d.name)
    }

    /// The code systems and codes of a value set, when the dictionary lists them.
    pub fn value_set(&self, url: &str) -> Option<&[(&'static str, Vec<&'static str>)]> {
        self.value_sets.get(url).map(Vec::as_slice)
    }

    /// The JSON names the children of `parent` can have: choice elements expanded to one
    /// name per type (`deceasedBoolean`, `deceasedDateTime`).
    pub fn child_names(&self, parent: &str) -> Vec<String> {
        let mut out = vec![];
        for name in self.children.get(parent).into_iter().flatten() {
            match name.strip_suffix("[x]") {
                Some(stem) => {
                    let path = format!("{parent}.{name}");
                    for t in self
                        .elements
                        .get(path.as_str())
                        .map(|e| e.types.clone())
                        .unwrap_or_default()
                    {
                        out.push(format!("{stem}{}", capitalised(t)));
                    }
                }
                None => out.push(name.to_string()),
            }
        }
        out
    }

    /// The JSON names of the choice element of `parent` whose stem `name` starts with
    /// (`deceasedString` -> `deceasedBoolean`, `deceasedDateTime`).
    pub fn choices_for(&self, parent: &str, name: &str) -> Vec<String> {
        let stems: Vec<&str> = self
            .children
            .get(parent)
            .into_iter()
            .flatten()
            .filter_map(|c| c.strip_suffix("[x]"))
            .filter(|stem| name.starts_with(stem))
            .collect();
        self.child_names(parent)
            .into_iter()
            .filter(|n| stems.iter().any(|s| n.starts_with(s)))
            .collect()
    }

    /// The child of definition path `parent` that JSON name `name` selects, and its type.
    fn child(&self, parent: &str, name: &str) -> Option<Step<'_>> {
        if let Some(e) = self.elements.get(format!("{parent}.{name}").as_str()) {
            return Some(Step {
                element: e,
                ty: e.types.first().copied().unwrap_or("BackboneElement"),
            });
        }
        for child in self.children.get(parent)? {
            let Some(stem) = child.strip_suffix("[x]") else {
                continue;
            };
            let Some(rest) = name.strip_prefix(stem) else {
                continue;
            };
            let e = self.elements.get(format!("{parent}.{child}").as_str())?;
            if let Some(ty) = e.types.iter().find(|t| capitalised(t) == rest) {
                return Some(Step { element: e, ty });
            }
        }
        None
    }

    /// Where the children of a step are defined: inline (backbone elements), at another
    /// path (contentReference), or in the step's data type.
    fn children_of(&self, step: &Step<'_>) -> Option<String> {
        if let Some(target) = step.ty.strip_prefix('@') {
            return Some(target.to_string());
        }
        if self.children.contains_key(step.element.path)
            && matches!(step.ty, "BackboneElement" | "Element")
        {
            return Some(step.element.path.to_string());
        }
        let base = step.ty.split('(').next().unwrap_or(step.ty);
        match self.definitions.get(base) {
            Some(d) if d.kind == Kind::Primitive => None,
            Some(d) => Some(d.name.to_string()),
            None => None,
        }
    }

    /// Walks `names` (JSON element names, without indexes) from the resource or data type
    /// `root`: one [`Step`] per name.
    pub fn resolve(&self, root: &str, names: &[&str]) -> Result<Vec<Step<'_>>, PathProblem> {
        if !self.definitions.contains_key(root) {
            return Err(PathProblem::UnknownType {
                suggestion: closest(root, self.definitions.keys().copied()),
            });
        }
        let mut parent = root.to_string();
        let mut out: Vec<Step<'_>> = vec![];
        for (at, name) in names.iter().enumerate() {
            if let Some(prev) = out.last() {
                match self.children_of(prev) {
                    Some(p) => parent = p,
                    None => {
                        return Err(PathProblem::BelowPrimitive {
                            at,
                            ty: prev.ty.to_string(),
                        })
                    }
                }
            }
            match self.child(&parent, name) {
                Some(step) => out.push(step),
                None => {
                    let names = self.child_names(&parent);
                    return Err(PathProblem::UnknownElement {
                        at,
                        parent: parent.clone(),
                        suggestion: closest(name, names.iter().map(String::as_str)),
                    });
                }
            }
        }
        Ok(out)
    }
}

impl Dictionary {
    /// The elements of `value`, a resource of type `root` as JSON, that FHIR R4 does not
    /// define there, as dotted paths (`Patient.nickname`, `Patient.name.nick`); each with
    /// the closest name it does define, if any. `resourceType` is the type's own;
    /// `_name` (a primitive's id and extensions) stands for `name`; a nested resource
    /// (`contained`, a Bundle entry) is walked as its own type.
    pub fn unknown_elements(
        &self,
        root: &str,
        value: &serde_json::Value,
    ) -> Vec<(String, Option<String>)> {
        let mut out = vec![];
        self.walk(root, &mut vec![], value, &mut out);
        out
    }

    fn walk<'v>(
        &self,
        root: &str,
        names: &mut Vec<&'v str>,
        value: &'v serde_json::Value,
        out: &mut Vec<(String, Option<String>)>,
    ) {
        match value {
            serde_json::Value::Array(items) => {
                for item in items {
                    self.walk(root, names, item, out);
                }
            }
            serde_json::Value::Object(fields) => {
                for (key, v) in fields {
                    if key == "resourceType" && names.is_empty() {
                        continue;
                    }
                    let name = key.strip_prefix('_').unwrap_or(key);
                    names.push(name);
                    match self.resolve(root, names) {
                        // A nested resource is a resource of its own type.
                        Ok(steps) if steps.last().is_some_and(|s| s.ty == "Resource") => {
                            let each = match v {
                                serde_json::Value::Array(items) => items.iter().collect(),
                                one => vec![one],
                            };
                            for r in each {
                                if let Some(kind) = r["resourceType"]
                                    .as_str()
                                    .filter(|k| self.definitions.contains_key(k))
                                {
                                    self.walk(kind, &mut vec![], r, out);
                                }
                            }
                        }
                        Ok(_) if key.starts_with('_') => {}
                        Ok(_) => self.walk(root, names, v, out),
                        Err(PathProblem::UnknownElement { suggestion, .. }) => {
                            out.push((format!("{root}.{}", names.join(".")), suggestion))
                        }
                        // Below a primitive (the value is not one): said by the mapping.
                        Err(_) => {}
                    }
                    names.pop();
                }
            }
            _ => {}
        }
    }
}

/// The candidate within two edits of `name`, for a "did you mean" (the nearest first).
fn closest<'n>(name: &str, candidates: impl Iterator<Item = &'n str>) -> Option<String> {
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

    #[test]
    fn security_elements_r4_does_not_define_are_found() {
        let d = r4();
        let patient = serde_json::json!({
            "resourceType": "Patient",
            "id": "p1",
            "meta": { "versionId": "3" },
            "name": [{ "family": "X", "given": ["A"], "nick": "Al" }],
            "_birthDate": { "extension": [] },
            "birthDate": "1980-01-01",
            "deceasedBoolean": false,
            "telecom": [{ "system": "phone", "value": "1" }],
            "nickname": "Al",
            "contained": [{ "resourceType": "Organization", "name": "O", "colour": "red" }]
        });
        let found: Vec<String> = d
            .unknown_elements("Patient", &patient)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            found,
            [
                "Organization.colour",
                "Patient.name.nick",
                "Patient.nickname"
            ]
        );
        let clean = serde_json::json!({ "resourceType": "ServiceRequest", "status": "active",
            "intent": "order", "subject": { "reference": "Patient/p1", "identifier": { "value": "1" } } });
        assert!(d.unknown_elements("ServiceRequest", &clean).is_empty());
    }

    #[test]
    fn the_dictionary_knows_r4() {
        let d = r4();
        assert_eq!(
            d.definition("Patient").map(|x| x.kind),
            Some(Kind::Resource)
        );
        assert_eq!(
            d.definition("HumanName").map(|x| x.kind),
            Some(Kind::Complex)
        );
        assert_eq!(d.definition("date").map(|x| x.kind), Some(Kind::Primitive));
        assert!(d.resource_names().count() >= 140);
        let gender = d.element("Patient.gender").unwrap();
        assert_eq!(
            gender.binding.as_ref().map(|b| b.strength),
            Some("required")
        );
        let codes = d
            .value_set("http://hl7.org/fhir/ValueSet/administrative-gender")
            .unwrap();
        assert_eq!(codes[0].0, "http://hl7.org/fhir/administrative-gender");
        assert!(codes[0].1.contains(&"unknown"));
        let gp = d.element("Patient.generalPractitioner").unwrap();
        assert_eq!(
            gp.types,
            ["Reference(Organization|Practitioner|PractitionerRole)"]
        );
    }

    #[test]
    fn paths_walk_through_types_backbones_and_choices() {
        let d = r4();
        let s = d.resolve("Patient", &["name", "family"]).unwrap();
        assert!(s[0].element.is_list());
        assert_eq!(s[1].element.path, "HumanName.family");
        assert_eq!(s[1].ty, "string");
        let s = d.resolve("Patient", &["contact", "name", "given"]).unwrap();
        assert_eq!(s[1].element.path, "Patient.contact.name");
        assert!(s[2].element.is_list());
        let s = d.resolve("Patient", &["deceasedDateTime"]).unwrap();
        assert_eq!(
            (s[0].element.path, s[0].ty),
            ("Patient.deceased[x]", "dateTime")
        );
        let s = d
            .resolve("Observation", &["valueQuantity", "value"])
            .unwrap();
        assert_eq!(s[1].ty, "decimal");
        let s = d
            .resolve("Questionnaire", &["item", "item", "linkId"])
            .unwrap();
        assert_eq!(s[2].element.path, "Questionnaire.item.linkId");
    }

    #[test]
    fn problems_say_where_and_suggest() {
        let d = r4();
        assert_eq!(
            d.resolve("Patient", &["name", "famly"]).err(),
            Some(PathProblem::UnknownElement {
                at: 1,
                parent: "HumanName".into(),
                suggestion: Some("family".into())
            })
        );
        assert!(matches!(
            d.resolve("Patient", &["deceasedString"]),
            Err(PathProblem::UnknownElement { at: 0, .. })
        ));
        assert_eq!(
            d.choices_for("Patient", "deceasedString"),
            ["deceasedBoolean", "deceasedDateTime"]
        );
        assert!(matches!(
            d.resolve("Patient", &["gender", "code"]),
            Err(PathProblem::BelowPrimitive { at: 1, .. })
        ));
        assert!(matches!(
            d.resolve("Patiant", &["id"]),
            Err(PathProblem::UnknownType { suggestion: Some(s) }) if s == "Patient"
        ));
    }
}
