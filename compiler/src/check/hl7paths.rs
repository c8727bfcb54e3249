//! HL7 v2 paths against the dictionary: in a profile, a mapping, a key or a route rule,
//! each path must exist in the declared version and message structure (or be a field of
//! a Z-segment the profile declares), down to the component and subcomponent.

use super::Checker;
use crate::diagnostics as diag;
use crate::model::Kind;
use accord_dsl::ast::{self, IfaceClauseKind, ProfileItem, SchemaKind};
use accord_hl7::dict::{self, PathProblem};
use accord_hl7::{Path, Repetition};
use std::rc::Rc;

/// What an HL7 path is checked against.
#[derive(Debug, Clone)]
pub struct Hl7Ctx {
    pub version: String,
    /// Message structures (e.g. `ADT_A01`); empty means any segment of the version.
    pub structures: Vec<&'static str>,
    /// Z-segments declared by the profile, with their field positions.
    pub local: Vec<(String, Vec<u32>)>,
    /// How the schema is named in messages: `hl7v2 2.4 ADT^A01`, `profile trakcare_adt`.
    pub label: String,
}

pub fn runtime_path(p: &ast::Hl7Path) -> Path {
    Path {
        segment: p.segment.clone(),
        occurrence: p.occurrence.map(|o| o as usize),
        field: p.field as usize,
        repetition: p.repetition.as_ref().map(|r| match r {
            ast::Repetition::Index(i) => Repetition::Index(*i as usize),
            ast::Repetition::All => Repetition::All,
            ast::Repetition::Where {
                component,
                subcomponent,
                value,
            } => Repetition::Where {
                component: *component as usize,
                subcomponent: subcomponent.map(|s| s as usize),
                value: value.value.clone(),
            },
        }),
        component: p.component.map(|c| c as usize),
        subcomponent: p.subcomponent.map(|s| s as usize),
    }
}

impl Checker<'_, '_> {
    fn ctx_for(
        &self,
        version: &str,
        messages: &[&str],
        local: Vec<(String, Vec<u32>)>,
        label: String,
    ) -> Option<Rc<Hl7Ctx>> {
        let d = dict::dictionary(version)?;
        let structures = messages.iter().filter_map(|m| d.structure_for(m)).collect();
        Some(Rc::new(Hl7Ctx {
            version: version.to_string(),
            structures,
            local,
            label,
        }))
    }

    /// The context of a profile: its version, its message types and its Z-segments.
    pub fn hl7_ctx_for_profile(&self, id: usize) -> Option<Rc<Hl7Ctx>> {
        let d = self.m.profiles.get(id);
        let p = d.node;
        let local = p
            .items
            .iter()
            .filter_map(|i| match i {
                ProfileItem::Segment(s) => Some((
                    s.id.text.clone(),
                    s.fields.iter().map(|z| z.position).collect(),
                )),
                ProfileItem::Rule(_) => None,
            })
            .collect();
        let messages: Vec<&str> = p.messages.iter().map(|m| m.text.as_str()).collect();
        self.ctx_for(
            &p.version.text,
            &messages,
            local,
            format!("profile `{}` (HL7 v{})", d.name.name, p.version.text),
        )
    }

    pub fn hl7_ctx_for_schema(&self, s: &SchemaKind) -> Option<Rc<Hl7Ctx>> {
        match s {
            SchemaKind::Hl7 { version, message } => self.ctx_for(
                &version.text,
                &[message.text.as_str()],
                vec![],
                format!("hl7v2 {} {}", version.text, message.text),
            ),
            SchemaKind::Hl7Profile(p) => {
                self.hl7_ctx_for_profile(self.m.id(Kind::Profile, &p.name)?)
            }
            _ => None,
        }
    }

    /// The context of the messages an interface receives: its profile, or the HL7 schema
    /// its first transform reads.
    pub fn hl7_ctx_for_interface(&self, id: usize) -> Option<Rc<Hl7Ctx>> {
        let i = self.m.interfaces.get(id).node;
        for c in &i.clauses {
            if let IfaceClauseKind::Prop(p) = &c.kind {
                if p.key.name == "profile" {
                    if let ast::LitKind::Ident(name) = &p.value.kind {
                        return self.hl7_ctx_for_profile(self.m.id(Kind::Profile, name)?);
                    }
                }
            }
        }
        let first = i.clauses.iter().find_map(|c| match &c.kind {
            IfaceClauseKind::Transform(ms) => ms.first(),
            _ => None,
        })?;
        let mapping = self
            .m
            .mappings
            .get(self.m.id(Kind::Mapping, &first.name)?)
            .node;
        self.hl7_ctx_for_schema(&mapping.source.kind)
    }

    /// Reports a path that does not exist; returns its description when it does.
    pub fn check_hl7_path(&mut self, ctx: &Hl7Ctx, p: &ast::Hl7Path) -> Option<String> {
        if let Some((_, positions)) = ctx.local.iter().find(|(id, _)| *id == p.segment) {
            if !positions.contains(&p.field) {
                self.push(diag::hl7_path_missing(
                    p,
                    &format!(
                        "the profile declares no field {} in local segment {}",
                        p.field, p.segment
                    ),
                    "declare the field in the profile's `segment` block".into(),
                    &ctx.label,
                ));
                return None;
            }
            return Some(format!(
                "{}-{} is a field of the local segment {}",
                p.segment, p.field, p.segment
            ));
        }
        let d = dict::dictionary(&ctx.version)?;
        match d.check_path(&runtime_path(p), &ctx.structures) {
            Ok(desc) => Some(desc),
            Err(problem) => {
                let (why, help) = describe(&problem, p, &ctx.version);
                self.push(diag::hl7_path_missing(p, &why, help, &ctx.label));
                None
            }
        }
    }

    /// A `for each GROUP` names a group of the message structure.
    pub fn check_hl7_group(&mut self, ctx: &Hl7Ctx, group: &ast::Token) {
        let Some(d) = dict::dictionary(&ctx.version) else {
            return;
        };
        if ctx.structures.is_empty() {
            return;
        }
        let mut groups = vec![];
        for s in &ctx.structures {
            groups.extend(d.members(s).1);
        }
        if !groups.contains(&group.text.as_str()) {
            let hint = dict::closest(&group.text, groups.iter().copied());
            self.push(diag::hl7_group_missing(
                group,
                &ctx.structures.join(", "),
                hint,
                &groups,
            ));
        }
    }
}

fn describe(problem: &PathProblem, p: &ast::Hl7Path, version: &str) -> (String, String) {
    let did_you_mean = |s: &Option<String>, otherwise: String| match s {
        Some(s) => format!("did you mean `{s}`?"),
        None => otherwise,
    };
    match problem {
        PathProblem::UnknownSegment { suggestion } => (
            format!("`{}` is not a segment of HL7 v{version}", p.segment),
            did_you_mean(suggestion, "local segments start with Z and are declared in a profile with `segment Zxx { ... }`".into()),
        ),
        PathProblem::SegmentNotInStructure { structures, suggestion } => (
            format!("segment `{}` is not part of {}", p.segment, structures.join(" or ")),
            did_you_mean(suggestion, "check the message type, or read the segment in a mapping of a message that carries it".into()),
        ),
        PathProblem::NoSuchField {
            segment,
            fields,
            withdrawn: true,
        } => (
            format!("{segment}-{} is not defined in HL7 v{version}: the field was withdrawn", p.field),
            format!("fields of {segment} in v{version} run from 1 to {fields}, without {segment}-{}", p.field),
        ),
        PathProblem::NoSuchField { segment, fields, .. } => {
            (format!("{segment} has {fields} fields in HL7 v{version}; there is no {segment}-{}", p.field), format!("fields of {segment} are numbered 1 to {fields}"))
        }
        PathProblem::NoSuchComponent { field, datatype, components } => (
            format!("{field} is {datatype} with {components} component{}; there is no component {}", if *components == 1 { "" } else { "s" }, p.component.unwrap_or(0)),
            format!("components of {datatype} are numbered 1 to {components}"),
        ),
        PathProblem::NoSuchSubcomponent { component, datatype, subcomponents } => (
            format!("\"{component}\" is {datatype} with {subcomponents} subcomponent{}; there is no subcomponent {}", if *subcomponents == 1 { "" } else { "s" }, p.subcomponent.unwrap_or(0)),
            format!("subcomponents of {datatype} are numbered 1 to {subcomponents}"),
        ),
    }
}
