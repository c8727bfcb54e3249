//! Expressions: each generated with its shape (an optional value, a list, a condition, a
//! resource), reading HL7 paths, record fields and FHIR elements, through functions,
//! code maps, other mappings and references.

use super::*;

impl Gen<'_> {
    /// A route rule's condition over the whole message.
    pub fn condition(&self, e: &Expr, at: &str) -> TokenStream {
        let ctx = SourceCtx {
            source: None,
            rscope: None,
            fscope: None,
            hl7: vec![],
            nesting: 0,
            index: None,
        };
        let (t, shape) = self.expr(e, &ctx, at);
        match shape {
            Shape::Bool => t,
            Shape::Opt(_) | Shape::Res(_) => quote!((#t).is_some()),
            Shape::List(_) | Shape::ResList(_) => quote!(!(#t).is_empty()),
        }
    }

    /// An expected value in a test, as JSON (codes by their code text).
    pub fn test_value(&self, e: &Expr, at: &str) -> TokenStream {
        let ctx = SourceCtx {
            source: None,
            rscope: None,
            fscope: None,
            hl7: vec![],
            nesting: 0,
            index: None,
        };
        let (t, _) = self.expr(e, &ctx, at);
        quote!(rt::ToJson::to_json(&(#t)))
    }

    /// An HL7 value of the test message, as JSON.
    pub fn test_hl7(&self, p: &Hl7Path, at: &str) -> TokenStream {
        let r = self.path_ref(p);
        quote!(rt::ToJson::to_json(&scope.text(&#r, #at).map_err(|e| e.to_string())?))
    }

    pub(super) fn expr(&self, e: &Expr, ctx: &SourceCtx, at: &str) -> (TokenStream, Shape) {
        match e {
            Expr::Text { value } => (quote!(Some(String::from(#value))), Shape::Opt(Type::Text)),
            Expr::Integer { value } => (quote!(Some(#value as i64)), Shape::Opt(Type::Integer)),
            Expr::Decimal { value } => (
                quote!(rt::Decimal::parse(#value)),
                Shape::Opt(Type::Decimal),
            ),
            Expr::Boolean { value } => (quote!(#value), Shape::Bool),
            Expr::Date { value } => (quote!(rt::Date::parse(#value)), Shape::Opt(Type::Date)),
            Expr::Code { codeset, code } => {
                let t = names::ty(codeset);
                let codes: Vec<&str> = self
                    .ir
                    .codesets
                    .iter()
                    .find(|c| &c.name == codeset)
                    .map(|c| c.codes.iter().map(|x| x.code.as_str()).collect())
                    .unwrap_or_default();
                let v = names::variants(&codes);
                let i = codes
                    .iter()
                    .position(|c| c == code)
                    .unwrap_or(0)
                    .min(v.len().saturating_sub(1));
                let var = &v[i];
                (
                    quote!(Some(#t::#var)),
                    Shape::Opt(Type::Code {
                        codeset: codeset.clone(),
                    }),
                )
            }
            Expr::Hl7 { path } => {
                let p = self.path_ref(path);
                let sc = hl7_scope(ctx, &path.segment);
                if matches!(path.repetition, Some(Repetition::All)) {
                    (quote!(#sc.texts(&#p, #at)?), Shape::List(Type::Text))
                } else {
                    let (r, once) = self.read_str(path, &sc, at);
                    if once {
                        (quote!(#r.map(String::from)), Shape::Opt(Type::Text))
                    } else {
                        // Read by this statement alone: the unescaped copy is kept.
                        (quote!(#sc.text(&#p, #at)?), Shape::Opt(Type::Text))
                    }
                }
            }
            Expr::Field { path } => self.field_expr(path, ctx),
            Expr::Apply { mapping, value } => self.apply(mapping, value, ctx, at),
            Expr::Reference { mapping, keys } => self.reference(mapping, keys, ctx, at),
            Expr::Stored {
                record,
                field,
                keys,
            } => self.stored(record, field, keys, ctx, at),
            Expr::Lookup { codemap, value } => {
                let (v, shape) = self.expr(value, ctx, at);
                let cm = self.ir.codemaps.iter().find(|c| &c.name == codemap);
                let to = cm.map(|c| types::base(&c.to).clone()).unwrap_or(Type::Text);
                let textual =
                    cm.is_some_and(|c| !matches!(types::base(&c.from), Type::Code { .. }));
                let f = names::snake(codemap);
                let arg = if textual { quote!(&x) } else { quote!(x) };
                // A code map with `_ => absent` gives an `Option` itself.
                let absent =
                    cm.is_some_and(|c| matches!(c.default, crate::ir::CodemapDefault::Absent));
                let one = |x: TokenStream| {
                    if absent {
                        quote!(#f(#x, #at)?)
                    } else {
                        quote!(Some(#f(#x, #at)?))
                    }
                };
                if let (true, Some(r)) = (textual, self.text_ref(value, ctx, at)) {
                    let call = one(quote!(x));
                    return (
                        quote!(match #r { Some(x) => #call, None => None }),
                        Shape::Opt(to),
                    );
                }
                match shape {
                    Shape::List(_) if absent => (
                        quote!(#v.into_iter().filter_map(|x| #f(#arg, #at).transpose()).collect::<Result<Vec<_>, _>>()?),
                        Shape::List(to),
                    ),
                    Shape::List(_) => (
                        quote!(#v.into_iter().map(|x| #f(#arg, #at)).collect::<Result<Vec<_>, _>>()?),
                        Shape::List(to),
                    ),
                    _ => {
                        let call = one(arg.clone());
                        (
                            quote!(match #v { Some(x) => #call, None => None }),
                            Shape::Opt(to),
                        )
                    }
                }
            }
            Expr::If {
                cond,
                then,
                otherwise,
            } if matches!(**otherwise, Expr::Absent) => {
                // `else absent`: the value when the condition holds, else none.
                let (c, _) = self.expr(cond, ctx, at);
                let (a, sa) = self.expr(then, ctx, at);
                match sa {
                    Shape::Bool => (
                        quote!(if #c { Some(#a) } else { None }),
                        Shape::Opt(Type::Boolean),
                    ),
                    Shape::List(_) | Shape::ResList(_) => {
                        (quote!(if #c { #a } else { Vec::new() }), sa)
                    }
                    _ => (quote!(if #c { #a } else { None }), sa),
                }
            }
            Expr::Absent => (quote!(None::<String>), Shape::Opt(Type::Text)),
            Expr::If {
                cond,
                then,
                otherwise,
            } => {
                let (c, _) = self.expr(cond, ctx, at);
                let (a, sa) = self.expr(then, ctx, at);
                let (b, sb) = self.expr(otherwise, ctx, at);
                let b = if sa != sb {
                    convert(&b, &sb, shape_type(&sa))
                } else {
                    b
                };
                (quote!(if #c { #a } else { #b }), sa)
            }
            Expr::Not { value } => {
                let (v, _) = self.expr(value, ctx, at);
                (quote!(!(#v)), Shape::Bool)
            }
            Expr::Binary { op, lhs, rhs }
                if matches!(op, BinOp::Eq | BinOp::Ne)
                    && self.borrowed_text_pair(lhs, rhs, ctx, at).is_some() =>
            {
                // Text against a literal compares in place, without copying either side.
                let Some((a, b)) = self.borrowed_text_pair(lhs, rhs, ctx, at) else {
                    return (quote!(false), Shape::Bool);
                };
                let t = if *op == BinOp::Eq {
                    quote!((#a) == #b)
                } else {
                    quote!((#a) != #b)
                };
                (t, Shape::Bool)
            }
            Expr::Binary { op, lhs, rhs } => {
                let (a, sa) = self.expr(lhs, ctx, at);
                let (b, sb) = self.expr(rhs, ctx, at);
                let b = if sa != sb && sb != Shape::Bool {
                    convert(&b, &sb, shape_type(&sa))
                } else {
                    b
                };
                let t = match op {
                    BinOp::And => quote!((#a) && (#b)),
                    BinOp::Or => quote!((#a) || (#b)),
                    BinOp::Eq => quote!((#a) == (#b)),
                    BinOp::Ne => quote!((#a) != (#b)),
                    BinOp::Lt => quote!(matches!((&(#a), &(#b)), (Some(x), Some(y)) if x < y)),
                    BinOp::Le => quote!(matches!((&(#a), &(#b)), (Some(x), Some(y)) if x <= y)),
                    BinOp::Gt => quote!(matches!((&(#a), &(#b)), (Some(x), Some(y)) if x > y)),
                    BinOp::Ge => quote!(matches!((&(#a), &(#b)), (Some(x), Some(y)) if x >= y)),
                };
                (t, Shape::Bool)
            }
            Expr::Call { function, args } => self.call(function, args, ctx, at),
        }
    }

    /// A text value read in place (see `text_ref`) and a text literal, on either side of
    /// a comparison: (`Option<...>` of the value, `Some("literal")`).
    pub(super) fn borrowed_text_pair(
        &self,
        lhs: &Expr,
        rhs: &Expr,
        ctx: &SourceCtx,
        at: &str,
    ) -> Option<(TokenStream, TokenStream)> {
        let (value, lit) = match (lhs, rhs) {
            (v, Expr::Text { value }) | (Expr::Text { value }, v)
                if !matches!(v, Expr::Text { .. }) =>
            {
                (v, value)
            }
            _ => return None,
        };
        let r = self.text_ref(value, ctx, at)?;
        Some((r, quote!(Some(#lit))))
    }

    /// `e` as an `Option<&str>`-like value read without copying (`Option<Cow<str>>`,
    /// `Option<&str>` or `Option<&String>`; callers use `.as_deref()` / deref coercion),
    /// when `e` is text that can be borrowed: an HL7 value, a text literal, or a text
    /// field of the source record. `None` when it must be computed.
    pub(super) fn text_ref(&self, e: &Expr, ctx: &SourceCtx, at: &str) -> Option<TokenStream> {
        match e {
            Expr::Text { value } => Some(quote!(Some(#value))),
            Expr::Hl7 { path } if !matches!(path.repetition, Some(Repetition::All)) => {
                let sc = hl7_scope(ctx, &path.segment);
                let (r, _) = self.read_str(path, &sc, at);
                Some(quote!(#r.as_deref()))
            }
            Expr::Field { path } => {
                let (cur, ty) = self.field_place(path, ctx)?;
                matches!(ty, Type::Text | Type::Identifier)
                    .then(|| quote!(#cur.map(|s| s.as_str())))
            }
            _ => None,
        }
    }

    /// A code map lookup as `Option<&'static str>`, when the code map only gives literal
    /// text (its `_str` variant) and its input is a single value.
    pub(super) fn lookup_static(
        &self,
        codemap: &str,
        value: &Expr,
        ctx: &SourceCtx,
        at: &str,
    ) -> Option<TokenStream> {
        let cm = self.ir.codemaps.iter().find(|c| c.name == codemap)?;
        let f = format_ident!("{}", codes::static_text_variant(cm)?);
        let textual = !matches!(types::base(&cm.from), Type::Code { .. });
        let arg = match (textual, self.text_ref(value, ctx, at)) {
            (true, Some(r)) => r,
            _ => {
                let (v, shape) = self.expr(value, ctx, at);
                if !matches!(shape, Shape::Opt(_)) {
                    return None;
                }
                if textual {
                    quote!(#v.as_deref())
                } else {
                    v
                }
            }
        };
        Some(quote!(match #arg { Some(x) => Some(#f(x, #at)?), None => None }))
    }

    /// A field of the source record as `Option<&T>` (no clone), with its type; `None`
    /// outside a record scope or for lists.
    pub(super) fn field_place(
        &self,
        path: &[PathStep],
        ctx: &SourceCtx,
    ) -> Option<(TokenStream, Type)> {
        ctx.rscope.as_ref()?;
        let (cur, ty) = self.field_walk(path, ctx);
        match ty {
            Type::List { .. } | Type::Boolean => None,
            other => Some((cur, other)),
        }
    }

    /// A FHIR element read: its JSON value converted to the canonical type the checker
    /// gave it (from the R4 dictionary), a list when the path ends at a repeating element.
    pub(super) fn fhir_field_expr(
        &self,
        path: &[PathStep],
        fs: &FhirScope,
    ) -> (TokenStream, Shape) {
        let (ty, list) = match path.last().and_then(|p| p.fhir.as_ref().map(|e| (p, e))) {
            Some((last, e)) => (
                match &e.reads_as {
                    // A complex element reads as its JSON text.
                    Type::Unknown => Type::Text,
                    t => t.clone(),
                },
                e.is_list() && !last.picks_one(),
            ),
            // The checker reported the path; the crate is never built from it.
            None => (Type::Text, false),
        };
        let (var, steps) = (&fs.var, json_steps(path));
        let get = quote!(rt::json_get(#var, &[#(#steps),*]));
        let rust = types::rust(&ty);
        match (list, &ty) {
            (true, _) => (
                quote!(#get.and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|x| <#rust as rt::FromJson>::from_json(x)).collect::<Vec<_>>()).unwrap_or_default()),
                Shape::List(ty),
            ),
            (false, Type::Boolean) => (
                quote!(#get.and_then(|v| v.as_bool()).unwrap_or(false)),
                Shape::Bool,
            ),
            (false, _) => (
                quote!(#get.and_then(|v| <#rust as rt::FromJson>::from_json(v))),
                Shape::Opt(ty),
            ),
        }
    }

    /// `value via mapping`: the mapping's function on the record (or on each).
    pub(super) fn apply(
        &self,
        mapping: &str,
        value: &Expr,
        ctx: &SourceCtx,
        at: &str,
    ) -> (TokenStream, Shape) {
        // A field of the record in scope is borrowed (`Option<&T>`, or an iterator of
        // `&T`), not copied.
        let (v, shape) = match value {
            Expr::Field { path } if ctx.rscope.is_some() && !is_whole_record(path, ctx) => {
                match self.field_walk(path, ctx) {
                    (cur, Type::List { of }) => (
                        quote!(#cur.into_iter().flatten()),
                        Shape::List(types::base(&of).clone()),
                    ),
                    (cur, ty) => (cur, Shape::Opt(ty)),
                }
            }
            _ => self.expr(value, ctx, at),
        };
        let f = names::snake(mapping);
        let target = self
            .ir
            .mappings
            .iter()
            .find(|m| m.name == mapping)
            .map(|m| &m.target);
        let (one, many) = match target {
            Some(Schema::Record { record }) => {
                let t = Type::Record {
                    record: record.clone(),
                };
                (Shape::Opt(t.clone()), Shape::List(t))
            }
            _ => (
                Shape::Res(mapping.to_string()),
                Shape::ResList(mapping.to_string()),
            ),
        };
        // A mapping that looks stored records up is given the store it was given.
        let records = self.uses_records(mapping).then(|| quote!(, &mut *records));
        match shape {
            Shape::List(_) => (
                quote!(#v.into_iter().map(|r| #f(&r #records)).collect::<Result<Vec<_>, _>>()?),
                many,
            ),
            _ => (
                quote!(match #v { Some(r) => Some(#f(&r #records)?), None => None }),
                one,
            ),
        }
    }

    /// A key value given to `reference` or `lookup`: one optional value (the first of a
    /// list).
    fn key_value(&self, k: &Expr, ctx: &SourceCtx, at: &str) -> TokenStream {
        let (v, shape) = self.expr(k, ctx, at);
        match shape {
            Shape::Bool => quote!(Some(#v)),
            Shape::List(_) | Shape::ResList(_) => quote!(#v.into_iter().next()),
            _ => v,
        }
    }

    /// `lookup(Record.field, keys...)`: the field of the stored record with these keys,
    /// read through the store the mapping was given; no value when a key is missing or
    /// nothing is stored.
    pub(super) fn stored(
        &self,
        record: &str,
        field: &[String],
        keys: &[Expr],
        ctx: &SourceCtx,
        at: &str,
    ) -> (TokenStream, Shape) {
        let mut ty = Type::Record {
            record: record.to_string(),
        };
        for step in field {
            ty = match types::base(&ty) {
                Type::Record { record } => self.field_type(record, step),
                _ => Type::Unknown,
            };
        }
        let ks = keys.iter().map(|k| self.key_value(k, ctx, at));
        let vars: Vec<_> = (0..keys.len()).map(|i| format_ident!("k{}", i)).collect();
        let path = field.join(".");
        let (t, shape, none) = match types::base(&ty) {
            Type::List { of } => (
                types::rust(&ty),
                Shape::List(types::base(of).clone()),
                quote!(Vec::new()),
            ),
            base => (types::rust(base), Shape::Opt(base.clone()), quote!(None)),
        };
        let found = match &shape {
            Shape::List(_) => quote!(.unwrap_or_default()),
            _ => quote!(),
        };
        (
            quote! {
                match (#(#ks,)*) {
                    (#(Some(#vars),)*) => rt::stored::<#t>(&mut *records, #record, #path, &[#(rt::ToJson::to_json(&#vars)),*], #at)? #found,
                    #[allow(unreachable_patterns)]
                    _ => #none,
                }
            },
            shape,
        )
    }

    /// `reference(mapping, keys...)`: `Type/id` with the id the mapping gives the record
    /// with these keys (`fhir_id` of its record's name and keys), when every key is there.
    pub(super) fn reference(
        &self,
        mapping: &str,
        keys: &[Expr],
        ctx: &SourceCtx,
        at: &str,
    ) -> (TokenStream, Shape) {
        let m = self.ir.mappings.iter().find(|m| m.name == mapping);
        let (Some(Schema::Record { record }), Some(Schema::Fhir { resource })) =
            (m.map(|m| &m.source), m.map(|m| &m.target))
        else {
            return (quote!(None::<String>), Shape::Opt(Type::Text));
        };
        let ks = keys.iter().map(|k| {
            if let Expr::Field { path } = k {
                if let Some((cur, _)) = self.field_place(path, ctx) {
                    return cur;
                }
            }
            self.key_value(k, ctx, at)
        });
        let vars: Vec<_> = (0..keys.len()).map(|i| format_ident!("k{}", i)).collect();
        (
            quote! {
                match (#(#ks,)*) {
                    (#(Some(#vars),)*) => Some(rt::fhir::reference_to(#resource, #record, &[#(&#vars),*])),
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            },
            Shape::Opt(Type::Text),
        )
    }

    pub(super) fn field_expr(&self, path: &[PathStep], ctx: &SourceCtx) -> (TokenStream, Shape) {
        if let (None, Some(fs)) = (&ctx.rscope, &ctx.fscope) {
            return self.fhir_field_expr(path, fs);
        }
        // The record in scope by its own name: the whole record (`Patient via m`).
        if let (Some(rs), [only]) = (&ctx.rscope, path) {
            let is_field = self
                .record(&rs.record)
                .is_some_and(|r| r.fields.iter().any(|f| f.name == only.name));
            if only.name == rs.record && only.index.is_none() && !is_field {
                let var = &rs.var;
                return (
                    quote!(Some(#var)),
                    Shape::Opt(Type::Record {
                        record: rs.record.clone(),
                    }),
                );
            }
        }
        if ctx.rscope.is_none() {
            return (quote!(None::<String>), Shape::Opt(Type::Text));
        }
        let (cur, ty) = self.field_walk(path, ctx);
        match ty {
            Type::List { of } => (
                quote!(#cur.cloned().unwrap_or_default()),
                Shape::List(types::base(&of).clone()),
            ),
            Type::Boolean => (quote!(#cur.copied().unwrap_or(false)), Shape::Bool),
            other => (quote!(#cur.cloned()), Shape::Opt(other)),
        }
    }

    /// A field path of the record in scope as an `Option<&T>` expression and the base type
    /// of `T`.
    pub(super) fn field_walk(&self, path: &[PathStep], ctx: &SourceCtx) -> (TokenStream, Type) {
        let Some(mut rs) = ctx.rscope.as_ref() else {
            return (quote!(None::<&String>), Type::Text);
        };
        let has = |record: &str, field: &str| {
            self.record(record)
                .is_some_and(|r| r.fields.iter().any(|f| f.name == field))
        };
        if let (Some(src), Some(first)) = (&ctx.source, path.first()) {
            let by_name = first.name == src.record && path.len() > 1;
            if !has(&rs.record, &first.name) && (has(&src.record, &first.name) || by_name) {
                rs = src;
            }
        }
        let mut steps = path.to_vec();
        if steps.len() > 1
            && steps[0].name == rs.record
            && self
                .record(&rs.record)
                .is_some_and(|r| !r.fields.iter().any(|f| f.name == steps[0].name))
        {
            steps.remove(0);
        }
        // Walk the path: `cur` is an expression of type Option<&T> once anything optional
        // was crossed, else a plain place.
        let mut rec = rs.record.clone();
        let var = &rs.var;
        let mut cur = quote!(Some(&#var));
        let mut ty = Type::Record {
            record: rec.clone(),
        };
        for s in &steps {
            let f = names::snake(&s.name);
            ty = self.field_type(&rec, &s.name);
            cur = match &ty {
                Type::Optional { .. } => quote!(#cur.and_then(|r| r.#f.as_ref())),
                _ => quote!(#cur.map(|r| &r.#f)),
            };
            if let Some(i) = s.index {
                let ix = (i as usize).saturating_sub(1);
                cur = quote!(#cur.and_then(|l| l.get(#ix)));
                if let Type::List { of } = types::base(&ty) {
                    ty = (**of).clone();
                }
            }
            if let Type::Record { record } = types::base(&ty) {
                rec = record.clone();
            }
        }
        (cur, types::base(&ty).clone())
    }

    pub(super) fn call(
        &self,
        function: &str,
        args: &[Expr],
        ctx: &SourceCtx,
        at: &str,
    ) -> (TokenStream, Shape) {
        let a: Vec<(TokenStream, Shape)> = args.iter().map(|x| self.expr(x, ctx, at)).collect();
        let v = |i: usize| a.get(i).map(|x| x.0.clone()).unwrap_or(quote!(None));
        let text = |i: usize| {
            a.get(i)
                .map(|(t, s)| convert(t, s, &Type::Text))
                .unwrap_or(quote!(None::<String>))
        };
        // Text arguments that functions only read are passed borrowed where possible.
        let borrowed = |i: usize| {
            args.get(i)
                .and_then(|e| self.text_ref(e, ctx, at))
                .unwrap_or_else(|| text(i))
        };
        let f = names::snake(function);
        match function {
            "date" | "datetime" | "integer" | "decimal" => {
                let ty = match function {
                    "date" => Type::Date,
                    "datetime" => Type::DateTime,
                    "integer" => Type::Integer,
                    _ => Type::Decimal,
                };
                let arg = borrowed(0);
                match (&self.ir.timezone, function) {
                    // Local times take the estate's zone.
                    (Some(zone), "datetime") => (
                        quote!(rt::f::datetime_in(#arg, #zone, #at)?),
                        Shape::Opt(ty),
                    ),
                    _ => (quote!(rt::f::#f(#arg, #at)?), Shape::Opt(ty)),
                }
            }
            "upper" | "lower" | "trim" => {
                let arg = text(0);
                (quote!(rt::f::#f(#arg)), Shape::Opt(Type::Text))
            }
            "identifier" => (text(0), Shape::Opt(Type::Identifier)),
            "display" => {
                let x = v(0);
                (
                    quote!(#x.map(|c| String::from(rt::Code::display(c)))),
                    Shape::Opt(Type::Text),
                )
            }
            "text" => match &a[0].1 {
                Shape::Bool => {
                    let x = v(0);
                    (
                        quote!(Some(String::from(if #x { "true" } else { "false" }))),
                        Shape::Opt(Type::Text),
                    )
                }
                _ => {
                    let x = v(0);
                    (quote!(#x.map(|x| x.to_string())), Shape::Opt(Type::Text))
                }
            },
            "index" => match &ctx.index {
                Some(n) => (quote!(Some(#n as i64 + 1)), Shape::Opt(Type::Integer)),
                // Refused outside a `for each` (E0425).
                None => (quote!(None::<i64>), Shape::Opt(Type::Integer)),
            },
            "concat" => {
                let parts = (0..a.len()).map(text);
                (
                    quote!(rt::f::concat(vec![#(#parts),*])),
                    Shape::Opt(Type::Text),
                )
            }
            "substring" => {
                let (s, b, c) = (text(0), v(1), v(2));
                (quote!(rt::f::substring(#s, #b, #c)), Shape::Opt(Type::Text))
            }
            "replace" => {
                let (s, b, c) = (text(0), text(1), text(2));
                (quote!(rt::f::replace(#s, #b, #c)), Shape::Opt(Type::Text))
            }
            "exists" => {
                let x = v(0);
                match &a[0].1 {
                    Shape::List(_) | Shape::ResList(_) => (quote!(!#x.is_empty()), Shape::Bool),
                    Shape::Bool => (x, Shape::Bool),
                    Shape::Opt(_) | Shape::Res(_) => (quote!(#x.is_some()), Shape::Bool),
                }
            }
            "first" | "last" => {
                let x = v(0);
                match &a[0].1 {
                    Shape::List(t) => {
                        let m = names::snake(function);
                        (quote!(#x.#m().cloned()), Shape::Opt(t.clone()))
                    }
                    other => (x, other.clone()),
                }
            }
            "count" => {
                let x = v(0);
                match &a[0].1 {
                    Shape::List(_) => (quote!(Some(#x.len() as i64)), Shape::Opt(Type::Integer)),
                    _ => (
                        quote!(Some(i64::from(#x.is_some()))),
                        Shape::Opt(Type::Integer),
                    ),
                }
            }
            "coalesce" => {
                let first = v(0);
                let rest = (1..a.len()).map(|i| {
                    let t = convert(&a[i].0, &a[i].1, shape_type(&a[0].1));
                    quote!(.or(#t))
                });
                (quote!(#first #(#rest)*), a[0].1.clone())
            }
            "format_date" => {
                let (d, p) = (v(0), borrowed(1));
                match &a[0].1 {
                    Shape::Opt(Type::DateTime) => (
                        quote!(rt::f::format_datetime(#d, #p)),
                        Shape::Opt(Type::Text),
                    ),
                    _ => (quote!(rt::f::format_date(#d, #p)), Shape::Opt(Type::Text)),
                }
            }
            "join" => {
                let (l, s) = (v(0), text(1));
                (quote!(rt::f::join(#l, #s)), Shape::Opt(Type::Text))
            }
            "require" => {
                let x = v(0);
                // The checker lets only a text literal through as the reason.
                let reason = match args.get(1) {
                    Some(Expr::Text { value }) => value.clone(),
                    _ => String::from("a required value is missing"),
                };
                match &a[0].1 {
                    Shape::List(_) | Shape::ResList(_) => (
                        quote!(rt::f::require_list(#x, #reason, #at)?),
                        a[0].1.clone(),
                    ),
                    Shape::Bool => (x, Shape::Bool),
                    other => (quote!(rt::f::require(#x, #reason, #at)?), other.clone()),
                }
            }
            "now" => (quote!(Some(rt::f::now())), Shape::Opt(Type::DateTime)),
            "today" => (quote!(Some(rt::f::today())), Shape::Opt(Type::Date)),
            other => {
                // The checker only lets built-in functions through.
                let msg = format!("unknown function `{other}`");
                (quote!(compile_error!(#msg)), Shape::Opt(Type::Text))
            }
        }
    }
}
