//! Statements of a mapping into FHIR: each line places its value in the output tree
//! `fhir_out` builds (fixed indexes, `for each` entries).

use super::*;

impl Gen<'_> {
    /// The statements of a mapping into FHIR, writing below object `obj` of `tree`
    /// (whose Rust place is `base`, and FHIR element path `prefix`).
    pub(super) fn stmts_fhir(
        &self,
        body: &[Stmt],
        ctx: &SourceCtx,
        tree: &mut Tree,
        obj: usize,
        base: &TokenStream,
        prefix: &[String],
    ) -> Vec<TokenStream> {
        body.iter()
            .map(|s| self.stmt_fhir(s, ctx, tree, obj, base, prefix))
            .collect()
    }

    pub(super) fn stmt_fhir(
        &self,
        s: &Stmt,
        ctx: &SourceCtx,
        tree: &mut Tree,
        obj: usize,
        base: &TokenStream,
        prefix: &[String],
    ) -> TokenStream {
        match s {
            Stmt::Assign {
                target: Target::Field { path },
                values,
                loc: l,
                ..
            } => {
                let at = loc(l);
                let vals: Vec<(TokenStream, Shape)> =
                    values.iter().map(|v| self.expr(v, ctx, &at)).collect();
                let list =
                    vals.len() > 1 || matches!(vals[0].1, Shape::List(_) | Shape::ResList(_));
                let ty = self.leaf_ty(&vals[0].1);
                let place = tree.place(obj, base, prefix, path, Final::Value { ty, list });
                match place {
                    Place::Opt { place, ty } => {
                        let (v, shape) = &vals[0];
                        // A literal into text is borrowed, not copied, and so is a text
                        // field of the source record.
                        if let (true, Expr::Text { value }) = (ty.is_text(), &values[0]) {
                            return quote! { #place = Some(rt::fhir::Str::Borrowed(#value)); };
                        }
                        // So is a choice between literals (`if c then "IMP" else "AMB"`).
                        if let (
                            true,
                            Expr::If {
                                cond,
                                then,
                                otherwise,
                            },
                        ) = (ty.is_text(), &values[0])
                        {
                            let lit = |e: &Expr| match e {
                                Expr::Text { value } => {
                                    Some(quote!(Some(rt::fhir::Str::Borrowed(#value))))
                                }
                                Expr::Absent => Some(quote!(None)),
                                _ => None,
                            };
                            if let (Some(a), Some(b)) = (lit(then), lit(otherwise)) {
                                let (c, _) = self.expr(cond, ctx, &at);
                                return quote! {
                                    if let Some(x) = if #c { #a } else { #b } { #place = Some(x); }
                                };
                            }
                        }
                        if let (true, Expr::Field { path }) = (ty.is_text(), &values[0]) {
                            if let Some((cur, Type::Text | Type::Identifier)) =
                                self.field_place(path, ctx)
                            {
                                return quote! {
                                    if let Some(x) = #cur { #place = Some(rt::fhir::Str::Borrowed(x.as_str())); }
                                };
                            }
                        }
                        let wrap = |x: TokenStream| {
                            if ty.any {
                                quote!(rt::ToJson::to_json(&#x))
                            } else if ty.is_text() {
                                quote!(rt::fhir::Str::from(#x))
                            } else {
                                x
                            }
                        };
                        match shape {
                            Shape::Bool => {
                                let x = wrap(quote!(#v));
                                quote! { #place = Some(#x); }
                            }
                            Shape::List(_) | Shape::ResList(_) => {
                                let x = wrap(quote!(x));
                                quote! { if let Some(x) = #v.into_iter().next() { #place = Some(#x); } }
                            }
                            _ => {
                                let x = wrap(quote!(x));
                                quote! { if let Some(x) = #v { #place = Some(#x); } }
                            }
                        }
                    }
                    Place::List { place, ty } => {
                        let parts = vals.iter().map(|(v, shape)| {
                            let items = match shape {
                                Shape::Bool => quote!(Some(#v)),
                                _ => quote!(#v),
                            };
                            if ty.any {
                                quote! { l.extend(#items.into_iter().map(|x| rt::ToJson::to_json(&x))); }
                            } else {
                                quote! { l.extend(#items); }
                            }
                        });
                        quote! { #place = { let mut l = Vec::new(); #(#parts)* l }; }
                    }
                    Place::Each { .. } => quote!(),
                }
            }
            Stmt::For {
                target: Target::Field { path },
                source,
                body,
                ..
            } => {
                let stmt = s as *const Stmt as usize;
                let Place::Each { place, obj: child } =
                    tree.place(obj, base, prefix, path, Final::Each { stmt })
                else {
                    return quote!();
                };
                let (pat, iter, inner_ctx) = self.iteration(source, body, None, ctx);
                let mut inner_prefix = prefix.to_vec();
                inner_prefix.extend(path.iter().map(|p| p.name.clone()));
                let el = format_ident!("el{}", child);
                let inner =
                    self.stmts_fhir(body, &inner_ctx, tree, child, &quote!(#el), &inner_prefix);
                let t = tree.obj_name(child);
                quote! {
                    for #pat in #iter {
                        let mut #el = #t::default();
                        #(#inner)*
                        #place.push(#el);
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
                let t = self.stmts_fhir(then, ctx, tree, obj, base, prefix);
                let o = self.stmts_fhir(otherwise, ctx, tree, obj, base, prefix);
                if_else(&c, &t, &o)
            }
            _ => quote!(),
        }
    }

    /// The Rust type a FHIR leaf holds for values of `shape`.
    pub(super) fn leaf_ty(&self, shape: &Shape) -> LeafTy {
        match shape {
            Shape::Bool => LeafTy::value(quote!(bool)),
            Shape::Opt(Type::Text | Type::Identifier | Type::Unknown) => LeafTy::text(),
            Shape::Opt(t) | Shape::List(t) => LeafTy::value(types::rust(types::base(t))),
            Shape::Res(m) | Shape::ResList(m) => {
                let s = fhir_out::resource_struct(m);
                LeafTy {
                    rust: quote!(#s<'a>),
                    resource: Some(s),
                    any: false,
                }
            }
        }
    }
}
