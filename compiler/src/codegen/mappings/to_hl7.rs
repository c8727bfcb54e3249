//! Statements of a mapping into HL7 v2: values written through the message builder at
//! their paths, a segment per `for each` element.

use super::*;

impl Gen<'_> {
    pub(super) fn stmts_hl7(
        &self,
        body: &[Stmt],
        ctx: &SourceCtx,
        occurrence: &TokenStream,
    ) -> Vec<TokenStream> {
        body.iter()
            .map(|s| self.stmt_hl7(s, ctx, occurrence))
            .collect()
    }

    pub(super) fn stmt_hl7(
        &self,
        s: &Stmt,
        ctx: &SourceCtx,
        occurrence: &TokenStream,
    ) -> TokenStream {
        match s {
            Stmt::Assign {
                target: Target::Hl7 { path },
                values,
                clear,
                loc: l,
                ..
            } => {
                let at = loc(l);
                let p = self.path_ref(path);
                let place = if occurrence.to_string() == "None" {
                    quote!(#p)
                } else {
                    quote!(rt::hl7::path::at_occurrence(&#p, #occurrence))
                };
                let vals: Vec<(TokenStream, Shape)> =
                    values.iter().map(|v| self.expr(v, ctx, &at)).collect();
                let writes = vals.iter().enumerate().map(|(k, (v, shape))| match shape {
                    // The checker lets no FHIR resource into an HL7 field.
                    Shape::Res(_) | Shape::ResList(_) => quote!(),
                    // `clear`: no value is sent as the HL7 null, "delete your copy".
                    Shape::List(_) if *clear => quote! {
                        let list = #v;
                        if list.is_empty() {
                            rt::write(&mut b, &#place, rt::HL7_NULL, #at)?;
                        }
                        for (rep, v) in list.iter().enumerate() {
                            rt::write(&mut b, &rt::hl7::path::at_repetition(&#place, rep + 1), &rt::ToHl7::to_hl7(v), #at)?;
                        }
                    },
                    Shape::List(_) => quote! {
                        for (rep, v) in #v.iter().enumerate() {
                            rt::write(&mut b, &rt::hl7::path::at_repetition(&#place, rep + 1), &rt::ToHl7::to_hl7(v), #at)?;
                        }
                    },
                    Shape::Bool => quote! {
                        rt::write(&mut b, &#place, if #v { "Y" } else { "N" }, #at)?;
                    },
                    Shape::Opt(_) => {
                        let target = if vals.len() > 1 { quote!(rt::hl7::path::at_repetition(&#place, #k + 1)) } else { place.clone() };
                        // Literals, message text and record fields are written from where
                        // they are, without a copy.
                        if let Expr::Text { value } = &values[k] {
                            return quote! { rt::write(&mut b, &#target, #value, #at)?; };
                        }
                        let borrowed = match &values[k] {
                            Expr::Field { path } => self.field_place(path, ctx).map(|(cur, _)| cur),
                            Expr::Lookup { codemap, value } => self.lookup_static(codemap, value, ctx, &at),
                            other => self.text_ref(other, ctx, &at),
                        };
                        let absent = if *clear {
                            quote!(else { rt::write(&mut b, &#target, rt::HL7_NULL, #at)?; })
                        } else {
                            quote!()
                        };
                        if let Some(r) = borrowed {
                            return quote! {
                                if let Some(v) = #r {
                                    rt::write(&mut b, &#target, &rt::ToHl7::to_hl7(v), #at)?;
                                } #absent
                            };
                        }
                        quote! {
                            if let Some(v) = #v {
                                rt::write(&mut b, &#target, &rt::ToHl7::to_hl7(&v), #at)?;
                            } #absent
                        }
                    }
                });
                quote! { #(#writes)* }
            }
            Stmt::For {
                target: Target::Segment { .. },
                source,
                body,
                ..
            } => {
                let (pat, iter, inner_ctx) = self.iteration(source, body, None, ctx);
                let inner = self.stmts_hl7(body, &inner_ctx, &quote!(Some(k + 1)));
                quote! {
                    for (k, #pat) in #iter.enumerate() {
                        #(#inner)*
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
                let t = self.stmts_hl7(then, ctx, occurrence);
                let o = self.stmts_hl7(otherwise, ctx, occurrence);
                if_else(&c, &t, &o)
            }
            _ => quote!(),
        }
    }
}
