//! What a `for each` iterates over (segments, groups, repetitions, record or FHIR lists)
//! and the scopes its body reads: the innermost HL7 scope covering a segment, the record
//! element, the FHIR entry.

use super::*;

impl Gen<'_> {
    /// What a `for each` binds and iterates, and the context inside it.
    /// The loop of a `for each` over `source` whose statements are `body`: its pattern,
    /// iterator, and the context inside it. A body that asks for `index()` counts its
    /// elements (`enumerate`); an inner loop counts its own.
    pub(super) fn iteration(
        &self,
        source: &IterSource,
        body: &[Stmt],
        value: Option<&Expr>,
        ctx: &SourceCtx,
    ) -> (TokenStream, TokenStream, SourceCtx) {
        let (pat, iter, mut inner) = self.iteration_of(source, ctx);
        inner.nesting = ctx.nesting + 1;
        inner.index = None;
        if crate::uses::asks_index(body, value) {
            let n = format_ident!("index{}", inner.nesting);
            inner.index = Some(n.clone());
            return (quote!((#n, #pat)), quote!(#iter.enumerate()), inner);
        }
        (pat, iter, inner)
    }

    pub(super) fn iteration_of(
        &self,
        source: &IterSource,
        ctx: &SourceCtx,
    ) -> (TokenStream, TokenStream, SourceCtx) {
        match source {
            IterSource::Segment { segment } => {
                let outer = hl7_scope(ctx, segment);
                let var = format_ident!("scope{}", ctx.hl7.len() + 1);
                let mut inner = ctx.clone();
                inner.hl7.push((var.clone(), vec![segment.clone()]));
                (
                    quote!(#var),
                    quote!(#outer.each_segment(#segment).into_iter()),
                    inner,
                )
            }
            IterSource::Repetitions { path } => {
                let outer = hl7_scope(ctx, &path.segment);
                let var = format_ident!("scope{}", ctx.hl7.len() + 1);
                let mut inner = ctx.clone();
                inner.hl7.push((var.clone(), vec![path.segment.clone()]));
                let p = self.path_ref(path);
                (
                    quote!(#var),
                    quote!(#outer.each_repetition(&#p).into_iter()),
                    inner,
                )
            }
            IterSource::Group {
                segments, leaders, ..
            } => {
                let last = leaders.last().map(String::as_str).unwrap_or("MSH");
                let outer = hl7_scope(ctx, last);
                let var = format_ident!("scope{}", ctx.hl7.len() + 1);
                let mut inner = ctx.clone();
                inner.hl7.push((var.clone(), segments.clone()));
                (
                    quote!(#var),
                    quote!(#outer.each_group(&[#(#leaders),*]).into_iter()),
                    inner,
                )
            }
            IterSource::Field { path } if ctx.rscope.is_none() && ctx.fscope.is_some() => {
                let Some(fs) = ctx.fscope.clone() else {
                    return (quote!(item), quote!(std::iter::empty::<()>()), ctx.clone());
                };
                let (var, steps) = (&fs.var, json_steps(path));
                let inner = SourceCtx {
                    fscope: Some(FhirScope { var: quote!(item) }),
                    ..ctx.clone()
                };
                (
                    quote!(item),
                    quote!(rt::json_get(#var, &[#(#steps),*]).and_then(|v| v.as_array()).into_iter().flatten()),
                    inner,
                )
            }
            IterSource::Field { path } => {
                let rs = ctx.rscope.clone();
                let (access, elem) = match &rs {
                    Some(r) => {
                        // Every element at the end of the path: a list on the way is
                        // walked too (`reports.observations`: each observation of each
                        // report), an absent record gives none.
                        let var = &r.var;
                        let mut iter = quote!(std::iter::once(#var));
                        let mut rec = r.record.clone();
                        for s in path {
                            let f = names::snake(&s.name);
                            let ty = self.field_type(&rec, &s.name);
                            match types::base(&ty) {
                                Type::List { of } => {
                                    iter = quote!(#iter.flat_map(|r| r.#f.iter()));
                                    if let Type::Record { record } = types::base(of) {
                                        rec = record.clone();
                                    }
                                }
                                Type::Record { record } => {
                                    iter = if matches!(ty, Type::Optional { .. }) {
                                        quote!(#iter.filter_map(|r| r.#f.as_ref()))
                                    } else {
                                        quote!(#iter.map(|r| &r.#f))
                                    };
                                    rec = record.clone();
                                }
                                _ => {}
                            }
                        }
                        (iter, rec)
                    }
                    None => (quote!(std::iter::empty::<()>()), String::new()),
                };
                let inner = SourceCtx {
                    rscope: Some(RecordScope {
                        var: quote!(item),
                        record: elem,
                    }),
                    ..ctx.clone()
                };
                (quote!(item), quote!(#access), inner)
            }
        }
    }
}

/// Whether a one-step path names the record in scope itself (`Allergy`).
pub(super) fn is_whole_record(path: &[PathStep], ctx: &SourceCtx) -> bool {
    matches!((path, &ctx.rscope), ([only], Some(rs)) if only.name == rs.record && only.index.is_none())
}

/// The scope an HL7 path into `segment` reads: the innermost `for each` that covers
/// the segment, else the whole message.
pub(super) fn hl7_scope(ctx: &SourceCtx, segment: &str) -> proc_macro2::Ident {
    ctx.hl7
        .iter()
        .rev()
        .find(|(_, covers)| covers.iter().any(|s| s == segment))
        .map(|(v, _)| v.clone())
        .unwrap_or_else(|| format_ident!("scope"))
}
