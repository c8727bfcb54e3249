//! Every diagnostic the compiler emits is built here, by a named factory, so each emission
//! site is easy to find and each code has one meaning. Codes: E01xx names and structure,
//! E02xx types, E03xx the ownership matrix, E04xx code maps and mappings, E05xx
//! interfaces, endpoints, routes and tests; W.... are warnings. `codes.rs` explains each.

use crate::model::Kind;
use accord_dsl::ast::{CodeName, Constraint, Ident, PathRef, SegFilter, Setting, StrLit, Token};
use accord_dsl::{Diagnostic, Span};

fn hint_or(hint: Option<String>, otherwise: impl Into<String>) -> String {
    match hint {
        Some(h) => format!("did you mean `{h}`?"),
        None => otherwise.into(),
    }
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- E01xx: names and structure -------------------------------------------------------------

pub fn unknown_name(
    name: &Ident,
    wanted: Kind,
    found: Option<Kind>,
    hint: Option<String>,
) -> Diagnostic {
    let noun = wanted.noun();
    // "an endpoint", "an interface", "a route".
    let a = |n: &str| {
        let article = if n.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {n}")
    };
    match found {
        Some(k) => Diagnostic::error(
            "E0101",
            format!("`{}` is {}, not {}", name.name, a(k.noun()), a(noun)),
            name.span,
            format!("expected {}", a(noun)),
        )
        .with_help(hint_or(hint, format!("name {} here", a(noun)))),
        None => Diagnostic::error(
            "E0101",
            format!("unknown {noun} `{}`", name.name),
            name.span,
            format!("no {noun} has this name"),
        )
        .with_help(hint_or(
            hint,
            format!(
                "declare it with `{} {} {{ ... }}` or fix the name",
                keyword(wanted),
                name.name
            ),
        )),
    }
}

fn keyword(k: Kind) -> &'static str {
    match k {
        Kind::Codemap => "codemap",
        other => other.noun(),
    }
}

pub fn duplicate_definition(name: &Ident, prev: Span) -> Diagnostic {
    Diagnostic::error(
        "E0102",
        format!("`{}` is defined more than once", name.name),
        name.span,
        "defined again here",
    )
    .with_label(prev, "first defined here")
    .with_help("every item of an estate shares one namespace: rename one of them")
}

pub fn duplicate_field(name: &Ident, prev: Span, record: &str) -> Diagnostic {
    Diagnostic::error(
        "E0102",
        format!(
            "field `{}` is defined more than once in record `{record}`",
            name.name
        ),
        name.span,
        "defined again here",
    )
    .with_label(prev, "first defined here")
    .with_help("remove or rename one of the fields")
}

pub fn duplicate_code(code: &CodeName, prev: Span, set: &str) -> Diagnostic {
    Diagnostic::error(
        "E0102",
        format!(
            "code `{}` appears more than once in codeset `{set}`",
            code.value
        ),
        code.span,
        "listed again here",
    )
    .with_label(prev, "first listed here")
    .with_help("each code of a codeset is listed once")
}

pub fn import_not_found(path: &StrLit, resolved: &str) -> Diagnostic {
    Diagnostic::error("E0103", format!("imported file `{}` was not found", path.value), path.span, format!("looked for `{resolved}`"))
        .with_help("import paths are relative to the importing file; check the name, or pass the estate folder to `accord`")
}

pub fn unknown_std_library(path: &StrLit, name: &str) -> Diagnostic {
    let all: Vec<&str> = crate::stdlib::LIBRARIES.iter().map(|l| l.name).collect();
    let mut d = Diagnostic::error(
        "E0103",
        format!("accord has no standard library `{name}`"),
        path.span,
        "not a library shipped with accord",
    )
    .with_help(format!(
        "the standard libraries are: {}",
        all.iter()
            .map(|l| format!("`std:{l}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if let Some(s) = crate::suggest::did_you_mean(name, all.iter().copied()) {
        d = d.with_note(format!("did you mean `std:{s}`?"));
    }
    d
}

pub fn missing_estate(span: Span) -> Diagnostic {
    Diagnostic::error(
        "E0104",
        "the estate has no `estate` declaration",
        span,
        "expected `estate \"Name\" version 1.0.0` in one file",
    )
    .with_help("add `estate \"My estate\" version 1.0.0` at the top of the estate's main file")
}

pub fn duplicate_estate(span: Span, prev: Span) -> Diagnostic {
    Diagnostic::error(
        "E0104",
        "the estate is declared more than once",
        span,
        "declared again here",
    )
    .with_label(prev, "first declared here")
    .with_help("keep one `estate` declaration; other files are brought in with `import`")
}

pub fn unknown_property(
    key: &Ident,
    item: &str,
    known: &[&str],
    hint: Option<String>,
) -> Diagnostic {
    Diagnostic::error(
        "E0105",
        format!("unknown {item} property `{}`", key.name),
        key.span,
        "not a property of this item",
    )
    .with_help(hint_or(
        hint,
        format!("{} {item} accepts {}", article(item), list(known)),
    ))
}

/// `an endpoint`, `a system`.
fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

pub fn unknown_field(name: &Ident, record: &str, hint: Option<String>) -> Diagnostic {
    Diagnostic::error(
        "E0106",
        format!("record `{record}` has no field `{}`", name.name),
        name.span,
        "no such field",
    )
    .with_help(hint_or(
        hint,
        format!("add the field to `record {record}` or fix the name"),
    ))
}

pub fn path_outside_scope(p: &PathRef, hl7: bool) -> Diagnostic {
    let help = if hl7 {
        "this mapping reads an HL7 v2 message: use an HL7 path such as `PID-5.1`"
    } else {
        "read a field of the source record, or a `Record.field` path where records are named"
    };
    Diagnostic::error(
        "E0107",
        format!("`{p}` cannot be read here"),
        p.span,
        "nothing in scope has this name",
    )
    .with_help(help)
}

pub fn duplicate_clause(span: Span, prev: Span, what: &str) -> Diagnostic {
    Diagnostic::error(
        "E0108",
        format!("`{what}` is given more than once"),
        span,
        "given again here",
    )
    .with_label(prev, "first given here")
    .with_help("keep one of them; two values would leave the meaning ambiguous")
}

pub fn invalid_value(
    span: Span,
    what: &str,
    value: &str,
    allowed: &[&str],
    hint: Option<String>,
) -> Diagnostic {
    Diagnostic::error(
        "E0109",
        format!("`{value}` is not a valid {what}"),
        span,
        format!("unknown {what}"),
    )
    .with_help(hint_or(hint, format!("use one of {}", list(allowed))))
}

pub fn unknown_hl7_version(v: &Token, hint: Option<String>) -> Diagnostic {
    Diagnostic::error(
        "E0110",
        format!("unknown HL7 v2 version `{}`", v.text),
        v.span,
        "not an HL7 v2 version",
    )
    .with_help(hint_or(
        hint,
        format!("use one of {}", list(crate::builtins::HL7_VERSIONS)),
    ))
}

pub fn local_segment_not_z(id: &Token) -> Diagnostic {
    Diagnostic::error(
        "E0111",
        format!("local segment `{}` does not start with Z", id.text),
        id.span,
        "local segments are Z-segments",
    )
    .with_help(format!(
        "rename it `Z{}`; standard segments are constrained with rules such as `{}-1 R`",
        &id.text[1..],
        id.text
    ))
}

pub fn missing_clause(span: Span, item: &str, clause: &str, example: &str) -> Diagnostic {
    Diagnostic::error(
        "E0112",
        format!("this {item} has no `{clause}`"),
        span,
        format!("`{clause}` is required"),
    )
    .with_help(format!("add, for example: `{example}`"))
}

pub fn unknown_code(name: &Ident, set: &str, hint: Option<String>) -> Diagnostic {
    Diagnostic::error(
        "E0113",
        format!("`{}` is not a code of `{set}`", name.name),
        name.span,
        "unknown code",
    )
    .with_help(hint_or(
        hint,
        format!("use one of the codes listed in `codeset {set}`"),
    ))
}

// ---- E02xx: types ---------------------------------------------------------------------------

pub fn unknown_type(name: &Ident, hint: Option<String>) -> Diagnostic {
    Diagnostic::error("E0201", format!("unknown type `{}`", name.name), name.span, "not a type")
        .with_help(hint_or(hint, "use a built-in type (Text, Integer, Decimal, Boolean, Date, DateTime, Identifier), a record or a codeset"))
}

pub fn assign_mismatch(
    value: Span,
    target: Span,
    found: &str,
    wanted: &str,
    help: &str,
) -> Diagnostic {
    let mut d = Diagnostic::error(
        "E0202",
        format!("type mismatch: cannot write {found} to {wanted}"),
        value,
        format!("this is {found}"),
    );
    if target != value {
        d = d.with_label(target, format!("this expects {wanted}"));
    }
    d.with_help(help)
}

pub fn several_values_single_target(span: Span, n: usize, ty: &str) -> Diagnostic {
    Diagnostic::error(
        "E0202",
        format!("{n} values are written to a single {ty}"),
        span,
        "holds one value",
    )
    .with_help("make the field a list (`[Text]`), or combine the values with `concat(...)`")
}

pub fn condition_not_boolean(span: Span, found: &str) -> Diagnostic {
    Diagnostic::error(
        "E0203",
        format!("a condition must be Boolean, but this is {found}"),
        span,
        "not a condition",
    )
    .with_help("compare the value, e.g. `PV1-2 == \"I\"`, or test presence with `exists(...)`")
}

pub fn comparison_mismatch(l: Span, r: Span, op: &str, tl: &str, tr: &str) -> Diagnostic {
    Diagnostic::error("E0204", format!("`{op}` cannot compare {tl} with {tr}"), l.to(r), "incompatible operands")
        .with_label(l, tl.to_string())
        .with_label(r, tr.to_string())
        .with_help("convert one side (`integer(...)`, `date(...)`, `via <codemap>`) so both have the same type; `<` and `>` need numbers, dates or text")
}

pub fn branch_mismatch(a: Span, b: Span, ta: &str, tb: &str) -> Diagnostic {
    Diagnostic::error(
        "E0205",
        format!("the branches of `if` differ: {ta} and {tb}"),
        a,
        format!("this is {ta}"),
    )
    .with_label(b, format!("this is {tb}"))
    .with_help("both branches must produce the same type")
}

pub fn unknown_function(f: &Ident, hint: Option<String>) -> Diagnostic {
    let all: Vec<&str> = crate::builtins::FUNCTIONS.iter().map(|f| f.0).collect();
    Diagnostic::error(
        "E0206",
        format!("unknown function `{}`", f.name),
        f.span,
        "not a built-in function",
    )
    .with_help(hint_or(hint, format!("the functions are {}", list(&all))))
}

/// `index()` where there is no `for each` element to count.
pub fn index_outside_for_each(f: &Ident) -> Diagnostic {
    Diagnostic::error(
        "E0425",
        "`index()` outside a `for each`",
        f.span,
        "no element to count here",
    )
    .with_help("`index()` is the place of the current element inside `target <- for each SOURCE { ... }`, from 1 (`OBX-1 <- index()`)")
}

pub fn call_arity(f: &Ident, span: Span, expected: &str, signature: &str) -> Diagnostic {
    Diagnostic::error(
        "E0207",
        format!("`{}` takes {expected}", f.name),
        span,
        "wrong number of arguments",
    )
    .with_help(format!("the signature is {signature}"))
}

pub fn call_argument(
    f: &Ident,
    span: Span,
    expected: &str,
    found: &str,
    signature: &str,
) -> Diagnostic {
    Diagnostic::error(
        "E0207",
        format!("`{}` expects {expected} here, found {found}", f.name),
        span,
        format!("this is {found}"),
    )
    .with_help(format!("the signature is {signature}"))
}

pub fn not_a_record(seg: &Ident, found: &str) -> Diagnostic {
    Diagnostic::error(
        "E0208",
        format!("`{}` reads into {found}, which has no fields", seg.name),
        seg.span,
        "not a record",
    )
    .with_help("only record-typed fields have fields of their own")
}

pub fn index_on_non_list(seg: &Ident, found: &str) -> Diagnostic {
    Diagnostic::error(
        "E0208",
        format!(
            "`{}` is {found}, not a list: it cannot be indexed",
            seg.name
        ),
        seg.span,
        "not a list",
    )
    .with_help("remove the `[n]`, or make the field a list")
}

pub fn constraint_type_mismatch(
    c: &Constraint,
    field: &str,
    ty: &str,
    ty_span: Span,
) -> Diagnostic {
    Diagnostic::error("E0209", format!("this constraint does not apply to field `{field}` of type {ty}"), c.span, "does not fit the type")
        .with_label(ty_span, format!("the field is {ty}"))
        .with_help("`length` fits text and lists, `range` numbers and dates, `pattern` and `check` text; `key` a required scalar")
}

pub fn unknown_validator(v: &Ident, hint: Option<String>) -> Diagnostic {
    let all: Vec<&str> = crate::builtins::VALIDATORS.iter().map(|v| v.0).collect();
    Diagnostic::error(
        "E0210",
        format!("unknown check `{}`", v.name),
        v.span,
        "not a built-in check",
    )
    .with_help(hint_or(hint, format!("the checks are {}", list(&all))))
}

pub fn empty_range(span: Span, lo: &str, hi: &str) -> Diagnostic {
    Diagnostic::error(
        "E0211",
        format!("the range {lo}..{hi} is empty"),
        span,
        "no value fits",
    )
    .with_help("write the lower bound first, e.g. `1..80`")
}

pub fn invalid_pattern(span: Span, why: &str) -> Diagnostic {
    let first = why
        .lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("not a regular expression")
        .trim_start_matches("error:")
        .trim();
    Diagnostic::error(
        "E0215",
        "this pattern is not a valid regular expression",
        span,
        first.to_string(),
    )
    .with_help("patterns use the Rust `regex` syntax (like Perl's, without look-around or backreferences); escape a literal `\\` as `\\\\`")
}

pub fn invalid_date(span: Span, text: &str) -> Diagnostic {
    Diagnostic::error(
        "E0212",
        format!("`{text}` is not a valid date"),
        span,
        "not a calendar date",
    )
    .with_help("write dates as YYYY-MM-DD, e.g. `2027-03-01`")
}

pub fn via_type_mismatch(span: Span, map: &Ident, found: &str, wanted: &str) -> Diagnostic {
    Diagnostic::error(
        "E0213",
        format!(
            "code map `{}` reads {wanted}, but this is {found}",
            map.name
        ),
        span,
        format!("this is {found}"),
    )
    .with_label(map.span, format!("expects {wanted}"))
    .with_help("use a code map whose source type matches the value")
}

pub fn apply_mapping(map: &Ident, value: Span, why: &str, wanted: Option<&str>) -> Diagnostic {
    Diagnostic::error(
        "E0418",
        format!("mapping `{}` cannot be applied here: {why}", map.name),
        value,
        "the value given to the mapping",
    )
    .with_label(map.span, "the mapping")
    .with_help(match wanted {
        Some(w) => format!("apply it to a {w}: a field of that record type, or `{w}` itself inside a mapping or `for each` over {w} records"),
        None => "`value via mapping` applies a mapping from a canonical record to a FHIR resource or record".to_string(),
    })
}

pub fn api_without_serves(name: Span) -> Diagnostic {
    Diagnostic::error("E0420", "an API interface serves nothing", name, "`pattern: api` without `serves:`")
        .with_help("name the resources it answers with: `serves: patient_to_fhir`, mappings from stored records to FHIR")
}

pub fn serves_not_api(span: Span, pattern: Option<Span>) -> Diagnostic {
    let mut d = Diagnostic::error(
        "E0420",
        "only an API interface serves resources",
        span,
        "`serves:` here",
    );
    if let Some(p) = pattern {
        d = d.with_label(p, "this interface's pattern");
    }
    d.with_help("serve FHIR from an interface with `pattern: api`, or remove `serves:`")
}

pub fn served_not_record_to_fhir(m: &Ident) -> Diagnostic {
    Diagnostic::error(
        "E0420",
        format!("`{}` does not map a record to FHIR, so it cannot serve a resource", m.name),
        m.span,
        "not a mapping from a record to a FHIR resource",
    )
    .with_help("an API serves the records the production stores: name a mapping `Record -> fhir r4 Resource`")
}

pub fn served_record_not_stored(m: &Ident, record: &str) -> Diagnostic {
    Diagnostic::error(
        "E0420",
        format!("`{}` serves {record}, which the production never stores", m.name),
        m.span,
        format!("{record} has no ownership matrix"),
    )
    .with_help(format!("the production keeps a copy of each record the matrix governs: declare `ownership {record} {{ ... }}`"))
}

pub fn accepted_not_fhir_to_record(m: &Ident) -> Diagnostic {
    Diagnostic::error(
        "E0420",
        format!("`{}` does not map a FHIR resource to a record, so it cannot accept updates", m.name),
        m.span,
        "not a mapping from a FHIR resource to a record",
    )
    .with_help("an API's write-back reads the client's resource into a stored record: name a mapping `fhir r4 Resource -> Record`")
}

pub fn accepted_neither_stored_nor_routed(m: &Ident, resource: &str, record: &str) -> Diagnostic {
    Diagnostic::error(
        "E0420",
        format!("`{}` accepts {resource} into {record}, which the production neither stores nor routes", m.name),
        m.span,
        "accepted, then nowhere to go",
    )
    .with_help(format!("a create is routed on: add `route NAME from THIS_API {{ {resource} -> INTERFACE }}`; an update needs a stored record: `ownership {record} {{ ... }}` and `serves:`"))
}

pub fn api_route_condition(when: Span, from: Span) -> Diagnostic {
    Diagnostic::error(
        "E0421",
        "a route from an API interface cannot have a condition",
        when,
        "a condition over the client's resource",
    )
    .with_label(from, "an API interface")
    .with_help("route what clients create by resource type (`ServiceRequest -> orders_to_lims`); decide inside the mapping instead")
}

pub fn api_route_target(t: &Ident, kind: crate::model::Kind, from: Span) -> Diagnostic {
    Diagnostic::error(
        "E0421",
        format!("a route from an API interface sends `{}`, a {}", t.name, kind.noun()),
        t.span,
        format!("a {}, not an interface", kind.noun()),
    )
    .with_label(from, "an API interface")
    .with_help("send a created resource to the interfaces that deliver it, whose transforms start from that resource")
}

pub fn accepted_not_served(m: &Ident, resource: &str, record: &str) -> Diagnostic {
    Diagnostic::error(
        "E0420",
        format!("`{}` accepts {resource} into {record}, which the interface does not serve", m.name),
        m.span,
        "accepted but not served",
    )
    .with_help(format!("serve {resource} from {record} too (`serves:`): an update is answered with the resource as stored"))
}

pub fn served_twice(m: &Ident, resource: &str) -> Diagnostic {
    Diagnostic::error(
        "E0420",
        format!("the interface serves {resource} twice"),
        m.span,
        format!("a second mapping to {resource}"),
    )
    .with_help("an API answers each resource type from one mapping: keep one")
}

pub fn bad_reference(span: Span, why: String, help: String) -> Diagnostic {
    Diagnostic::error(
        "E0419",
        "this `reference(...)` cannot name a resource",
        span,
        why,
    )
    .with_help(help)
}

pub fn usage_contradicts_cardinality(usage: &Token, card: Span, help: &str) -> Diagnostic {
    Diagnostic::error(
        "E0214",
        format!("usage `{}` contradicts the cardinality", usage.text),
        card,
        "contradicts the usage",
    )
    .with_label(usage.span, "usage")
    .with_help(help)
}

// ---- E03xx: the ownership matrix ------------------------------------------------------------

pub fn two_owners(field: &str, a: &Ident, b: &Ident) -> Diagnostic {
    Diagnostic::error(
        "E0301",
        format!("field `{field}` has two owners"),
        b.span,
        format!("`{}` is named owner here", b.name),
    )
    .with_label(a.span, format!("`{}` is named owner here", a.name))
    .with_help(format!(
        "a field has one source of truth: keep one owner and let the other write with `accept {}`",
        b.name
    ))
}

#[allow(clippy::too_many_arguments)]
pub fn write_not_allowed(
    span: Span,
    field: &str,
    from: &str,
    iface: &str,
    from_span: Span,
    row: Span,
    owner: &str,
    accepted: &[String],
) -> Diagnostic {
    let who = if accepted.is_empty() {
        format!("only `{owner}`")
    } else {
        format!(
            "`{owner}` and {}",
            accepted
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Diagnostic::error("E0302", format!("interface `{iface}` writes `{field}`, which `{from}` may not write"), span, format!("writes `{field}` with data from `{from}`"))
        .with_label(from_span, format!("the data comes from `{from}`"))
        .with_label(row, format!("the matrix lets {who} write it"))
        .with_help(format!("stop writing the field in this mapping, or add `accept {from}` (with a condition) to the matrix"))
}

pub fn field_without_owner(span: Span, field: &str) -> Diagnostic {
    Diagnostic::error(
        "E0303",
        format!("field `{field}` is in the matrix without an owner"),
        span,
        "no `owner` clause",
    )
    .with_help("name its source of truth: `owner <system>`")
}

pub fn unknown_stage(st: &Ident, stages: &[&str], hint: Option<String>) -> Diagnostic {
    let help = if stages.is_empty() {
        "declare the workflow stages on the block: `ownership Patient stages [registered admitted discharged] { ... }`".to_string()
    } else {
        hint_or(hint, format!("the stages are {}", list(stages)))
    };
    Diagnostic::error(
        "E0304",
        format!("unknown workflow stage `{}`", st.name),
        st.span,
        "not a declared stage",
    )
    .with_help(help)
}

pub fn stage_field_type(field: &Ident, found: &str, missing: &[&str]) -> Diagnostic {
    let (label, help) = if missing.is_empty() {
        (
            format!("this field is {found}"),
            "the stage field holds the stage's name: make it `Text` or a `Code<...>` whose codeset lists the stages".to_string(),
        )
    } else {
        (
            format!("its codeset has no code {}", list(missing)),
            format!(
                "add {} to the field's codeset, or rename the stages to its codes",
                list(missing)
            ),
        )
    };
    Diagnostic::error(
        "E0305",
        format!("`{}` cannot hold the record's workflow stage", field.name),
        field.span,
        label,
    )
    .with_help(help)
}

/// `conflict ... by FIELD` that cannot order writes.
pub fn event_time(at: Span, what: &str, help: &str) -> Diagnostic {
    Diagnostic::error("E0306", what.to_string(), at, "cannot order writes by this")
        .with_help(help.to_string())
}

/// `lookup(Record.field, key, ...)` that cannot find a stored value.
pub fn bad_lookup(at: Span, what: String, help: String) -> Diagnostic {
    Diagnostic::error("E0424", what, at, "cannot look this up").with_help(help)
}

/// `merge: Record from ... into ...` that the production could not apply.
pub fn bad_merge(at: Span, what: String, help: String) -> Diagnostic {
    Diagnostic::error("E0522", what, at, "cannot merge this").with_help(help)
}

/// `unique` on a field the production does not store, or cannot compare.
pub fn bad_unique(at: Span, what: String, help: String) -> Diagnostic {
    Diagnostic::error("E0308", what, at, "cannot keep this unique").with_help(help)
}

/// `link:` that the production could not apply.
pub fn bad_link(at: Span, what: String, help: String) -> Diagnostic {
    Diagnostic::error("E0522", what, at, "cannot link this").with_help(help)
}

/// `split: per SEGMENT` on an interface that cannot split what it sends.
pub fn bad_split(at: Span, what: String, help: String) -> Diagnostic {
    Diagnostic::error("E0426", what, at, "cannot split here").with_help(help)
}

/// `clear` on a statement where no HL7 null is read or written.
pub fn bad_clear(at: Span, what: String, help: String) -> Diagnostic {
    Diagnostic::error("E0309", what, at, "nothing to clear here").with_help(help)
}

/// `-> partial Record` that the production could not complete.
pub fn partial_update(at: Span, what: &str, label: &str, help: &str) -> Diagnostic {
    Diagnostic::error("E0307", what.to_string(), at, label.to_string()).with_help(help.to_string())
}

pub fn stages_without_source(record: &Ident, used: Span) -> Diagnostic {
    Diagnostic::warning(
        "W0301",
        format!("the run time cannot know the stage of a `{}`", record.name),
        used,
        "this rule depends on the stage",
    )
    .with_label(record.span, "no `from <field>` names where the stage is kept")
    .with_help(format!(
        "name the field that holds the stage: `ownership {} stages [...] from <field> {{`; until then, stage rules are only documentation",
        record.name
    ))
}

pub fn matrix_without_key(record: &Ident, record_name: &str) -> Diagnostic {
    Diagnostic::warning(
        "W0302",
        format!("record `{record_name}` has no key, so its matrix cannot be enforced at run time"),
        record.span,
        "the production cannot find the stored record to compare with",
    )
    .with_help(format!(
        "mark the fields that identify each `{record_name}` with `key`, as in `mrn: Identifier key`"
    ))
}

// ---- E04xx: code maps and mappings ----------------------------------------------------------

pub fn codemap_without_default(name: &Ident, item: Span) -> Diagnostic {
    Diagnostic::error("E0401", format!("code map `{}` has no default", name.name), name.span, "no `_ =>` line")
        .with_label(Span { start: item.end.saturating_sub(1), ..item }, "add the default before this brace")
        .with_help("say what happens to unlisted codes: `_ => reject \"reason\"`, `_ => <code>` or `_ => pass`")
}

pub fn code_not_in_codeset(
    code: &CodeName,
    set: &str,
    side: &str,
    hint: Option<String>,
    set_span: Span,
) -> Diagnostic {
    Diagnostic::error(
        "E0402",
        format!("`{}` is not a code of `{set}`", code.value),
        code.span,
        format!("not in the {side} codeset"),
    )
    .with_label(set_span, format!("`{set}` is declared here"))
    .with_help(hint_or(
        hint,
        format!("add the code to `codeset {set}` or map to one of its codes"),
    ))
}

pub fn codemap_pass_not_total(span: Span, from: &str, to: &str) -> Diagnostic {
    Diagnostic::error(
        "E0403",
        format!("`_ => pass` cannot pass {from} through as {to}"),
        span,
        "the value may not be a target code",
    )
    .with_help("reject unlisted codes (`_ => reject \"...\"`) or map them to a fixed target code")
}

pub fn sends_outside_minimum(span: Span, record: &str, field: &str, clause: Span) -> Diagnostic {
    Diagnostic::error("E0404", format!("the outbound payload carries `{record}.{field}`, which is outside `sends only`"), span, "read into the outbound message")
        .with_label(clause, "the contract allows only these fields")
        .with_help(format!("remove the line from the mapping, or add `{field}` to `sends only` if the receiver needs it"))
}

pub fn target_not_in_schema(span: Span, schema: &str, expected: &str) -> Diagnostic {
    Diagnostic::error(
        "E0405",
        format!("this target is not part of the mapping's target, {schema}"),
        span,
        "not a place in the target",
    )
    .with_help(format!("write to {expected}"))
}

pub fn hl7_path_without_message(span: Span) -> Diagnostic {
    Diagnostic::error("E0406", "an HL7 v2 path is read where there is no HL7 v2 message", span, "no message in scope")
        .with_help("HL7 paths are read in mappings from `hl7v2 ...`, route rules and keys; here read a record field")
}

pub fn codemap_duplicate_source(code: &CodeName, prev: Span) -> Diagnostic {
    Diagnostic::error(
        "E0407",
        format!("code `{}` is mapped more than once", code.value),
        code.span,
        "mapped again here",
    )
    .with_label(prev, "first mapped here")
    .with_help("a source code maps to one target: remove one of the lines")
}

pub fn codemap_entry_after_default(span: Span, default: Span) -> Diagnostic {
    Diagnostic::error(
        "E0408",
        "this entry comes after the default and is never used",
        span,
        "never reached",
    )
    .with_label(default, "the default takes every code")
    .with_help("move the `_ =>` line to the end of the code map")
}

pub fn codemap_bad_type(span: Span, side: &str, ty: &str) -> Diagnostic {
    Diagnostic::error(
        "E0409",
        format!("a code map's {side} must be Text or a codeset, not {ty}"),
        span,
        "not a code type",
    )
    .with_help("code maps translate codes: use `Text` or a codeset name on each side")
}

pub fn for_each_not_record_list(span: Span, ty: &str) -> Diagnostic {
    Diagnostic::error("E0410", format!("`for each` needs a list of records, but this is {ty}"), span, "not a list of records")
        .with_help("iterate from a repeating segment or group (`for each OBX`) into a field of type `[Record]`; for a list of values, give one value per element: `identifiers <- for each PID-3: PID-3.1`")
}

pub fn for_each_value_not_value_list(span: Span, ty: &str) -> Diagnostic {
    Diagnostic::error(
        "E0410",
        format!("`for each ...: value` fills a record's list of values, but this is {ty}"),
        span,
        "not a list of values",
    )
    .with_help("write one value per element into a record field of type `[Text]` (or another list of values); build records, segments or FHIR elements with a `{ ... }` body")
}

pub fn for_each_field_part(p: &accord_dsl::ast::Hl7Path) -> Diagnostic {
    Diagnostic::error(
        "E0410",
        format!("`for each {p}` iterates over part of a field; it takes a whole field"),
        p.span,
        "a component or a chosen repetition",
    )
    .with_help(format!(
        "iterate the field's repetitions with `for each {}-{}` and read `{}-{}.1` inside",
        p.segment, p.field, p.segment, p.field
    ))
}

pub fn hl7_path_missing(
    p: &accord_dsl::ast::Hl7Path,
    why: &str,
    help: String,
    schema: &str,
) -> Diagnostic {
    Diagnostic::error(
        "E0412",
        format!("HL7 path `{p}` does not exist in {schema}"),
        p.span,
        why.to_string(),
    )
    .with_help(help)
}

pub fn hl7_group_missing(
    group: &Token,
    structures: &str,
    hint: Option<String>,
    groups: &[&str],
) -> Diagnostic {
    let known = if groups.is_empty() {
        "it has no groups".to_string()
    } else {
        format!("its groups are {}", list(groups))
    };
    Diagnostic::error(
        "E0413",
        format!("`{}` is not a segment group of {structures}", group.text),
        group.span,
        "no such group",
    )
    .with_help(hint_or(
        hint,
        format!("iterate over a group of the message structure: {known}"),
    ))
}

pub fn fhir_unknown_resource(name: &Ident, hint: Option<String>) -> Diagnostic {
    Diagnostic::error(
        "E0414",
        format!("`{}` is not a FHIR R4 resource", name.name),
        name.span,
        "not in FHIR R4",
    )
    .with_help(hint_or(
        hint,
        "name a resource of FHIR R4 (4.0.1), such as `Patient` or `Observation`",
    ))
}

/// `hint` is a whole sentence ("did you mean `family`?").
pub fn fhir_unknown_element(name: &Ident, parent: &str, hint: Option<String>) -> Diagnostic {
    Diagnostic::error(
        "E0414",
        format!("FHIR R4 `{parent}` has no element `{}`", name.name),
        name.span,
        "no such element",
    )
    .with_help(hint.unwrap_or_else(|| {
        format!("name an element of `{parent}` as FHIR R4 defines it; a choice element takes its type in the name (`deceasedBoolean`)")
    }))
}

pub fn fhir_below_primitive(name: &Ident, ty: &str) -> Diagnostic {
    Diagnostic::error(
        "E0414",
        format!(
            "`{}` goes below a FHIR `{ty}`, which is a primitive value",
            name.name
        ),
        name.span,
        "a primitive has no elements",
    )
    .with_help("end the path at the primitive element")
}

pub fn fhir_list_needs_index(name: &Ident, path: &str, card: &str) -> Diagnostic {
    Diagnostic::error(
        "E0415",
        format!("FHIR `{path}` repeats ({card}): the path must pick one element"),
        name.span,
        "a list",
    )
    .with_help(format!(
        "pick one with `{}[0]` (0-based), or go through all of them with `for each`",
        name.name
    ))
}

pub fn fhir_single_has_index(name: &Ident, path: &str, card: &str) -> Diagnostic {
    Diagnostic::error(
        "E0415",
        format!("FHIR `{path}` does not repeat ({card}): it takes no index"),
        name.span,
        "a single element",
    )
    .with_help(format!("write `{}` without `[...]`", name.name))
}

/// Where a `[where element = "value"]` filter cannot pick: `why` says what the path is.
pub fn filter_misplaced(w: &SegFilter, why: &str, help: &str) -> Diagnostic {
    Diagnostic::error(
        "E0422",
        format!("a `where` filter {why}"),
        w.span,
        "cannot pick here",
    )
    .with_help(help.to_string())
}

/// A literal `format_date` pattern with letters that are no token (they would be copied
/// into every date written). `at` is the span of the letters, or of the whole literal.
pub fn date_pattern(at: Span, why: &str) -> Diagnostic {
    Diagnostic::error(
        "E0423",
        format!("this date pattern would write letters as they are: {why}"),
        at,
        "not a pattern token",
    )
    .with_help(
        "write the date with YYYY, MM and DD (and hh, mm, ss for a DateTime), anything else but letters between them: `\"YYYYMMDD\"`, `\"DD/MM/YYYY\"`, `\"YYYY-MM-DDThh:mm:ss\"`",
    )
}

/// The filter names an element the list's entries do not have, or one that is not text.
pub fn filter_element(
    w: &SegFilter,
    list: &str,
    problem: &str,
    hint: Option<String>,
) -> Diagnostic {
    Diagnostic::error(
        "E0422",
        format!("the entries of FHIR `{list}` {problem}"),
        w.element.span,
        "cannot filter on this",
    )
    .with_help(hint.unwrap_or_else(|| {
        format!(
            "filter on a text element of `{list}`'s entries, such as `system` of a ContactPoint"
        )
    }))
}

pub fn fhir_for_each_single(name: &Ident, path: &str, card: &str) -> Diagnostic {
    Diagnostic::error(
        "E0415",
        format!("`for each` builds a list, and FHIR `{path}` does not repeat ({card})"),
        name.span,
        "a single element",
    )
    .with_help(format!(
        "write the element's parts one by one (`{}.x <- ...`), or iterate into a repeating element",
        name.name
    ))
}

pub fn fhir_value_mismatch(
    value: Span,
    target: Span,
    found: &str,
    place: &crate::check::fhirpaths::Place,
    help: String,
) -> Diagnostic {
    let wanted = format!("FHIR `{}` ({})", place.path, place.ty);
    let mut d = Diagnostic::error(
        "E0416",
        format!("type mismatch: cannot write {found} to {wanted}"),
        value,
        format!("this is {found}"),
    );
    if target != value {
        d = d.with_label(target, format!("this is {}", place.ty));
    }
    d.with_help(help)
}

pub fn fhir_binding_not_met(
    value: Span,
    place: &crate::check::fhirpaths::Place,
    value_set: &str,
    systems: &[&str],
    problem: &str,
) -> Diagnostic {
    Diagnostic::error(
        "E0417",
        format!(
            "FHIR `{}` has a required binding to {value_set}, and this value may be outside it",
            place.path
        ),
        value,
        problem.to_string(),
    )
    .with_help(format!(
        "map the value with a code map into a codeset with `system: \"{}\"` whose codes are all in the value set",
        systems.first().copied().unwrap_or("?")
    ))
}

pub fn transform_chain_mismatch(span: Span, prev: Option<Span>, why: &str) -> Diagnostic {
    let mut d = Diagnostic::error(
        "E0411",
        "the transforms of this interface do not fit together",
        span,
        why.to_string(),
    );
    if let Some(p) = prev {
        d = d.with_label(p, "the previous transform");
    }
    d.with_help("each transform must read what the previous one produces, starting from the inbound message")
}

// ---- E05xx: endpoints, interfaces, routes, flows, tests -------------------------------------

pub fn literal_secret(span: Span, key: &str) -> Diagnostic {
    Diagnostic::error(
        "E0501",
        format!("`{key}` is a credential written as a literal"),
        span,
        "a secret in the source",
    )
    .with_help(format!(
        "reference it instead: `{key}: secret(\"NAME\")`, supplied per environment at run time"
    ))
}

pub fn setting_not_honoured(
    span: Span,
    key: &str,
    transport: &str,
    why: &str,
    help: &str,
) -> Diagnostic {
    Diagnostic::error(
        "E0514",
        format!("a `{transport}` endpoint cannot honour `{key}`"),
        span,
        why.to_string(),
    )
    .with_help(help.to_string())
}

pub fn route_to_retired(span: Span, name: &str, status: Span) -> Diagnostic {
    Diagnostic::error(
        "E0516",
        format!("route to `{name}`, a retired interface"),
        span,
        "retired",
    )
    .with_label(status, "retired here")
    .with_help("a retired interface sends nothing: route these messages to the interface that replaced it, or take the target out")
}

pub fn transport_not_available(span: Span, transport: &str) -> Diagnostic {
    Diagnostic::error(
        "E0515",
        format!("the production cannot use `{transport}` endpoints yet"),
        span,
        "not available yet",
    )
    .with_help(
        "use `mllp`, `http`, `https`, `fhir`, or a `file` folder that a transfer agent syncs",
    )
}

pub fn literal_production_address(span: Span, key: &str, env: &str) -> Diagnostic {
    Diagnostic::error(
        "E0502",
        format!("`{key}` is a literal in the production environment `{env}`"),
        span,
        "a production address in the source",
    )
    .with_help(format!(
        "supply production addresses from configuration: `env(\"NAME\") in {env}`"
    ))
}

pub fn missing_governance(span: Span, key: &str, example: &str) -> Diagnostic {
    Diagnostic::error(
        "E0503",
        format!("this interface has no `{key}`"),
        span,
        format!("`{key}` is required for governance"),
    )
    .with_help(format!(
        "every interface names its owner, purpose and next review: add `{example}`"
    ))
}

pub fn deprecated_without_sunset(span: Span) -> Diagnostic {
    Diagnostic::error(
        "E0504",
        "a deprecated interface has no sunset date",
        span,
        "deprecated without a sunset",
    )
    .with_help("say when it goes: `status: deprecated sunset 2027-06-30`")
}

pub fn unbounded_retry(span: Span) -> Diagnostic {
    Diagnostic::error("E0505", "this retry never ends", span, "no count")
        .with_help("give a count (`retry 5 times backoff 2s..5m then dead_letter`), or say `retry forever` if that is really meant")
}

pub fn application_ack_impossible(
    span: Span,
    because: Option<(Span, String)>,
    message: &str,
    help: &str,
) -> Diagnostic {
    let mut d = Diagnostic::error("E0506", message.to_string(), span, "application ACK");
    if let Some((s, why)) = because {
        d = d.with_label(s, why);
    }
    d.with_help(help)
}

pub fn retries_outlast_application_ack(
    retry: Span,
    budget: Option<String>,
    operation: &str,
    service: &str,
    within: &str,
    ack: Span,
) -> Diagnostic {
    let label = match &budget {
        Some(b) => format!("up to {b} of attempts and waits"),
        None => "retries without end".to_string(),
    };
    Diagnostic::error(
        "E0513",
        format!("`{operation}` may still be retrying when `{service}` must answer its sender"),
        retry,
        label,
    )
    .with_label(ack, format!("`{service}` answers its sender within {within}"))
    .with_help(format!(
        "retry fewer times or wait less between attempts so the outcome is known within {within}, let the sender wait longer (`ack: application within ...`), or answer at commit (`ack: commit`)"
    ))
}

pub fn reply_handler_never_used(class: &Token, ack: Span) -> Diagnostic {
    Diagnostic::error(
        "E0507",
        format!(
            "`on {}` can never happen: this interface waits for no reply",
            class.text
        ),
        class.span,
        "never received",
    )
    .with_label(ack, "`ack: never` means no reply is read")
    .with_help(
        "remove the handler, or choose an ACK mode that reads replies (`commit` or `application`)",
    )
}

pub fn setting_missing_environment(s: &Setting, missing: &[&str]) -> Diagnostic {
    Diagnostic::error(
        "E0508",
        format!("`{}` has no value for the production environment {}", s.key.name, list(missing)),
        s.span,
        "not set where the board reviews it",
    )
    .with_help(format!(
        "give production its value in the contract (`... in {}`: a literal, `env(...)` or `secret(...)`), or one without `in` for all; other environments may leave it to their configuration file",
        missing[0]
    ))
}

pub fn unreachable_rule(span: Span, because: Span, why: &str) -> Diagnostic {
    Diagnostic::error("E0509", "this route rule can never match", span, "unreachable")
        .with_label(because, why.to_string())
        .with_help("remove the rule, move it before the rule that takes its messages, or give the earlier rule a `when` condition")
}

pub fn route_type_not_carried(
    target: &Ident,
    types: &[String],
    messages: Span,
    carried: &[String],
) -> Diagnostic {
    Diagnostic::error(
        "E0521",
        format!(
            "`{}` would be sent {}, which its contract does not carry",
            target.name,
            types.join(" and ")
        ),
        target.span,
        "sent here",
    )
    .with_label(messages, format!("carries only {}", carried.join(" ")))
    .with_help(format!(
        "add {} to `{}`'s `messages:` if the receiver takes it, or route it to an interface that carries it",
        types.join(" "),
        target.name
    ))
}

pub fn route_cycle(span: Span, first: Span, names: &[String]) -> Diagnostic {
    let mut path = names.to_vec();
    path.push(names[0].clone());
    Diagnostic::error("E0510", format!("routes form a cycle: {}", path.join(" -> ")), span, "closes the cycle")
        .with_label(first, "the cycle starts here")
        .with_help("a message would be routed forever: send it to an interface or flow instead of back to a route")
}

pub fn test_unknown_reference(name: &Ident, nouns: &[&str], hint: Option<String>) -> Diagnostic {
    Diagnostic::error(
        "E0511",
        format!(
            "the test names `{}`, which is not a {}",
            name.name,
            nouns.join(" or ")
        ),
        name.span,
        "unknown in this estate",
    )
    .with_help(hint_or(
        hint,
        format!("name an existing {}", nouns.join(" or ")),
    ))
}

/// A scenario names something that does not exist (E0511, as in tests).
pub fn scenario_unknown(name: &Ident, hint: Option<String>) -> Diagnostic {
    Diagnostic::error(
        "E0511",
        format!(
            "the scenario names `{}`, which is not an interface",
            name.name
        ),
        name.span,
        "unknown in this estate",
    )
    .with_help(hint_or(hint, "name an existing interface"))
}

/// A scenario step the production cannot run as written.
pub fn scenario_step(at: Span, what: String, help: String) -> Diagnostic {
    Diagnostic::error("E0524", what, at, "cannot run this step").with_help(help)
}

pub fn test_file_missing(path: &StrLit) -> Diagnostic {
    Diagnostic::error("E0512", format!("test message file `{}` does not exist", path.value), path.span, "file not found")
        .with_help("paths are relative to the `.accord` file; put sample messages beside the estate (synthetic patients only)")
}

// ---- warnings --------------------------------------------------------------------------------

pub fn required_fields_not_set(span: Span, record: &str, missing: &[String]) -> Diagnostic {
    Diagnostic::warning(
        "W0401",
        format!(
            "required field{} of `{record}` never set: {}",
            if missing.len() > 1 { "s" } else { "" },
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        span,
        "this mapping",
    )
    .with_help(
        "set the fields, or make them optional in the record (`Text?`) if the source may lack them",
    )
}

pub fn review_overdue(span: Span, date: &str, today: &str) -> Diagnostic {
    Diagnostic::warning(
        "W0501",
        format!("the review date {date} has passed (today is {today})"),
        span,
        "review overdue",
    )
    .with_help("review the interface with its owner and set the next review date")
}

pub fn sunset_passed(span: Span, date: &str, today: &str) -> Diagnostic {
    Diagnostic::warning(
        "W0503",
        format!("the sunset date {date} has passed (today is {today}) and the interface still runs"),
        span,
        "past its sunset",
    )
    .with_help("retire it (`status: retired`: the production then refuses its messages and starts nothing for it), or agree a later sunset with its owner")
}

pub fn route_without_otherwise(name: &Ident, item: Span) -> Diagnostic {
    Diagnostic::warning("W0502", format!("route `{}` has no `otherwise`", name.name), name.span, "unmatched messages are dropped")
        .with_label(Span { start: item.end.saturating_sub(1), ..item }, "add `otherwise -> ...` before this brace")
        .with_help("say where unmatched messages go, e.g. `otherwise -> archive` (or `otherwise -> discard` to drop them on purpose)")
}

pub fn sla_percentile(span: Span, text: &str) -> Diagnostic {
    Diagnostic::error(
        "E0517",
        format!("`{text}` is not a percentile the production can measure"),
        span,
        "not between p1 and p100",
    )
    .with_help("write the share of messages the promise covers, for example `delivered p95 < 5s`")
}

pub fn pattern_not_available(span: Span, pattern: &str) -> Diagnostic {
    Diagnostic::error(
        "E0518",
        format!("the production cannot answer `{pattern}` interfaces yet"),
        span,
        "not available yet",
    )
    .with_help("use `pattern: event` when the reply is an acknowledgement; a relayed answer (QBP^Q22 to RSP^K22) is not built yet")
}

/// `cancel when ...` the production cannot evaluate, or `on cancel` without it.
pub fn bad_cancel(at: Span, what: &str, help: &str) -> Diagnostic {
    Diagnostic::error("E0523", what.to_string(), at, "cannot cancel by this")
        .with_help(help.to_string())
}

pub fn flow_action_without_effect(span: Span, action: &str, event: &str) -> Diagnostic {
    Diagnostic::error(
        "E0519",
        format!("`{action}` has no effect on a flow's `{event}`"),
        span,
        "nothing to do here",
    )
    .with_help(if event == "timeout" {
        "on timeout a flow can `alert`, `warn`, `dead_letter`, `send` the start message on, or `complete`"
    } else if event == "cancel" {
        "on cancel a flow can `alert`, `warn`, `send` the cancellation on, or `complete`"
    } else {
        "on reply a flow can `alert`, `warn`, `send` the reply on, or `complete`"
    })
}

pub fn invalid_handling(span: Span, what: &str) -> Diagnostic {
    let (message, label) = if what == "invalid" {
        (
            "`on invalid` on an interface that sends no HL7 v2".to_string(),
            "its output is FHIR or a record",
        )
    } else {
        (
            format!("`{what}` cannot apply to an invalid message"),
            "mapping it again gives the same message",
        )
    };
    Diagnostic::error("E0520", message, span, label).with_help(
        "`on invalid` takes `warn` (send it and note why), `dead_letter` (hold it for an operator) and `alert \"target\"`",
    )
}

pub fn outbound_incomplete(
    span: Span,
    mapping: &str,
    receiver: &str,
    missing: &[String],
    unsupported: &[String],
) -> Diagnostic {
    let mut parts = vec![];
    if !missing.is_empty() {
        parts.push(format!("never writes {}", missing.join(", ")));
    }
    if !unsupported.is_empty() {
        parts.push(format!(
            "writes {}, which the profile does not support",
            unsupported.join(", ")
        ));
    }
    Diagnostic::warning(
        "W0402",
        format!(
            "the message `{mapping}` builds for {receiver} {}",
            parts.join(" and ")
        ),
        span,
        "this mapping",
    )
    .with_help("write what is required (`EVN-2 <- now()`, `PV1-2 <- patient_class`); the production checks each message before it is queued and applies the interface's `on invalid` (warn, or dead_letter)")
}

pub fn carried_type_lost(
    span: Span,
    mapping: &str,
    lost: &[String],
    produced: &[String],
    carries: bool,
) -> Diagnostic {
    let (message, label) = if carries {
        (
            format!(
                "`{mapping}`'s profile does not name {}: such messages are dead-lettered",
                lost.join(", ")
            ),
            format!("the profile names {}", produced.join(", ")),
        )
    } else {
        (
            format!(
                "`{mapping}` sends {} as {}",
                lost.join(", "),
                produced.join(", ")
            ),
            "the trigger is not carried through".to_string(),
        )
    };
    Diagnostic::warning("W0403", message, span, label).with_help(
        "target a profile that names every type the interface carries (`-> hl7v2 winpath_adt`): its mapping then keeps the inbound trigger",
    )
}
