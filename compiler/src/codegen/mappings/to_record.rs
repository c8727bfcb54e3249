//! Statements of a mapping into a record: drafts filled field by field, lists by `for
//! each`, finished (required fields checked) at the end.

use super::*;

impl Gen<'_> {
    pub(super) fn stmts_record(
        &self,
        body: &[Stmt],
        record: &str,
        out: &TokenStream,
        ctx: &SourceCtx,
    ) -> Vec<TokenStream> {
        body.iter()
            .map(|s| self.stmt_record(s, record, out, ctx))
            .collect()
    }

    pub(super) fn stmt_record(
        &self,
        s: &Stmt,
        record: &str,
        out: &TokenStream,
        ctx: &SourceCtx,
    ) -> TokenStream {
        match s {
            Stmt::Assign {
                target: Target::Field { path },
                values,
                clear,
                loc: l,
                ..
            } => {
                let at = loc(l);
                let write = self.assign_record(out, record, path, values, ctx, &at);
                // `clear` (a partial mapping, checked): the sender's `""` at the path the
                // value reads clears the field instead.
                let null_at = values.first().and_then(|v| {
                    let mut reads = vec![];
                    crate::ir_text::reads(v, &mut reads);
                    reads.into_iter().find_map(|r| match r {
                        crate::ir_text::Read::Hl7(p) => Some(p),
                        crate::ir_text::Read::Field(_) => None,
                    })
                });
                match null_at {
                    Some(p) if *clear => {
                        let p = self.path_ref(&p);
                        let field = &path[0].name;
                        quote! {
                            if scope.is_null(&#p, #at)? {
                                cleared.push(#field);
                            } else {
                                #write
                            }
                        }
                    }
                    _ => write,
                }
            }
            Stmt::For {
                target: Target::Field { path },
                source,
                body,
                value,
                loc: l,
                ..
            } => {
                let at = loc(l);
                let (place, ty) = self.draft_place(out, record, path);
                let Type::List { of } = types::base(&ty).clone() else {
                    return quote!();
                };
                // `for each SOURCE: value`: one value per element that has one.
                if let Some(v) = value {
                    let (pat, iter, inner_ctx) = self.iteration(source, body, Some(v), ctx);
                    let (t, shape) = self.expr(v, &inner_ctx, &at);
                    let v = convert(&t, &shape, &of);
                    return quote! {
                        for #pat in #iter {
                            #place.extend(#v);
                        }
                    };
                }
                let Type::Record { record: elem } = types::base(&of).clone() else {
                    return quote!();
                };
                let d = names::suffixed(&elem, "Draft");
                let (pat, iter, inner_ctx) = self.iteration(source, body, None, ctx);
                // One name per nesting depth, so an inner element never hides an outer one.
                let el = format_ident!("el{}", inner_ctx.depth());
                let inner = self.stmts_record(body, &elem, &quote!(#el), &inner_ctx);
                quote! {
                    for #pat in #iter {
                        let mut #el = #d::default();
                        #(#inner)*
                        #place.push(#el.finish(#at)?);
                    }
                }
            }
            Stmt::When {
                cond,
                then,
                otherwise,
                loc: l,
                ..
            } => {
                let (c, _) = self.expr(cond, ctx, &loc(l));
                let t = self.stmts_record(then, record, out, ctx);
                let o = self.stmts_record(otherwise, record, out, ctx);
                if_else(&c, &t, &o)
            }
            _ => quote!(),
        }
    }

    /// `field <- values` into a draft: a list's values extend it, a single value sets it
    /// when there is one.
    fn assign_record(
        &self,
        out: &TokenStream,
        record: &str,
        path: &[PathStep],
        values: &[Expr],
        ctx: &SourceCtx,
        at: &str,
    ) -> TokenStream {
        let (place, ty) = self.draft_place(out, record, path);
        let is_list = matches!(types::base(&ty), Type::List { .. });
        let vals: Vec<(TokenStream, Shape)> =
            values.iter().map(|v| self.expr(v, ctx, at)).collect();
        if is_list {
            let elem = match types::base(&ty) {
                Type::List { of } => (**of).clone(),
                _ => Type::Unknown,
            };
            if vals.len() == 1 && matches!(vals[0].1, Shape::List(_)) {
                let v = &vals[0].0;
                return quote! { #place = #v; };
            }
            let pushes = vals.iter().map(|(v, shape)| {
                let v = convert(v, shape, &elem);
                quote! { #place.extend(#v); }
            });
            quote! { #(#pushes)* }
        } else {
            let (v, shape) = &vals[0];
            let v = convert(v, shape, types::base(&ty));
            quote! { if let Some(v) = #v { #place = Some(v); } }
        }
    }

    /// `out.a.b` as a place in drafts (nested records are drafts created on first write),
    /// and the field's type.
    pub(super) fn draft_place(
        &self,
        out: &TokenStream,
        record: &str,
        path: &[PathStep],
    ) -> (TokenStream, Type) {
        let mut place = out.clone();
        let mut rec = record.to_string();
        let mut ty = Type::Unknown;
        for (i, step) in path.iter().enumerate() {
            let f = names::snake(&step.name);
            ty = self.field_type(&rec, &step.name);
            place = quote!(#place.#f);
            if i + 1 < path.len() {
                if let Type::Record { record: next } = types::base(&ty) {
                    rec = next.clone();
                    place = quote!(#place.get_or_insert_with(Default::default));
                }
            }
        }
        (place, ty)
    }
}
