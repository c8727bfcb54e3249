//! A code map as a FHIR R4 ConceptMap (JSON), for `accord export conceptmap` and the
//! site's code map pages. Codes of a codeset with a `system` keep that system; local codes
//! (text, or codesets without a system) get a `urn:accord:` URI that names the estate.

use crate::ir::{Codemap, CodemapDefault, Estate, Type};
use crate::words::{pascal, slug};
use serde_json::{json, Map, Value};

fn system(estate: &Estate, map: &Codemap, ty: &Type, side: &str) -> String {
    if let Type::Code { codeset } = ty {
        if let Some(cs) = estate.codesets.iter().find(|c| &c.name == codeset) {
            return cs.system.clone().unwrap_or_else(|| {
                format!("urn:accord:{}:codeset:{}", slug(&estate.name), cs.name)
            });
        }
    }
    format!(
        "urn:accord:{}:codemap:{}:{side}",
        slug(&estate.name),
        map.name
    )
}

fn display(estate: &Estate, ty: &Type, code: &str) -> Option<String> {
    let Type::Code { codeset } = ty else {
        return None;
    };
    estate
        .codesets
        .iter()
        .find(|c| &c.name == codeset)?
        .codes
        .iter()
        .find(|c| c.code == code)?
        .display
        .clone()
}

fn coded(estate: &Estate, ty: &Type, code: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("code".into(), json!(code));
    if let Some(d) = display(estate, ty, code) {
        m.insert("display".into(), json!(d));
    }
    m
}

/// The ConceptMap resource of `map`.
pub fn concept_map(estate: &Estate, map: &Codemap) -> Value {
    let mut elements = vec![];
    for entry in &map.entries {
        for from in &entry.from {
            let mut el = coded(estate, &map.from, from);
            let mut target = coded(estate, &map.to, &entry.to);
            target.insert("equivalence".into(), json!("equivalent"));
            el.insert("target".into(), Value::Array(vec![Value::Object(target)]));
            elements.push(Value::Object(el));
        }
    }
    let mut group = Map::new();
    group.insert(
        "source".into(),
        json!(system(estate, map, &map.from, "source")),
    );
    group.insert(
        "target".into(),
        json!(system(estate, map, &map.to, "target")),
    );
    group.insert("element".into(), Value::Array(elements));
    let mut description = map.docs.clone();
    match &map.default {
        CodemapDefault::Value { code } => {
            let mut unmapped = coded(estate, &map.to, code);
            unmapped.insert("mode".into(), json!("fixed"));
            group.insert("unmapped".into(), Value::Object(unmapped));
        }
        CodemapDefault::Pass => {
            group.insert("unmapped".into(), json!({ "mode": "provided" }));
        }
        CodemapDefault::Absent => {
            if !description.is_empty() {
                description.push(' ');
            }
            description.push_str("Codes not listed map to nothing: the element is left out.");
        }
        CodemapDefault::Reject { message } => {
            if !description.is_empty() {
                description.push(' ');
            }
            description.push_str("Codes not listed are rejected");
            match message {
                Some(m) => description.push_str(&format!(": {m}.")),
                None => description.push('.'),
            }
        }
    }
    let mut cm = Map::new();
    cm.insert("resourceType".into(), json!("ConceptMap"));
    cm.insert("id".into(), json!(slug(&map.name)));
    cm.insert(
        "url".into(),
        json!(format!(
            "urn:accord:{}:conceptmap:{}",
            slug(&estate.name),
            map.name
        )),
    );
    cm.insert("version".into(), json!(estate.version));
    cm.insert("name".into(), json!(pascal(&map.name)));
    cm.insert("title".into(), json!(map.name));
    cm.insert("status".into(), json!("active"));
    if !description.is_empty() {
        cm.insert("description".into(), json!(description));
    }
    cm.insert("group".into(), Value::Array(vec![Value::Object(group)]));
    Value::Object(cm)
}
