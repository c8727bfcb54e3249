//! The crate's HL7 paths: each parsed once into a static named after it (`PID_3_1`), and
//! the whole-message reads a mapping makes once per message (`reads[k]`).

use super::*;

impl Gen<'_> {
    pub(super) fn path_ref(&self, p: &Hl7Path) -> TokenStream {
        let name = self.path_static(self.path_index(p));
        quote!(#name)
    }

    pub(super) fn path_index(&self, p: &Hl7Path) -> usize {
        let mut paths = self.paths.borrow_mut();
        // One static per path as written: the dictionary's name for it (which differs
        // between versions) does not change the runtime path.
        match paths.iter().position(|(q, _)| q.text == p.text) {
            Some(i) => i,
            None => {
                let mut name = path_name(&p.text);
                if paths.iter().any(|(_, n)| *n == name) {
                    name = format_ident!("{}_{}", name, paths.len());
                }
                paths.push((p.clone(), name));
                paths.len() - 1
            }
        }
    }

    /// The static that holds path `i`.
    pub(super) fn path_static(&self, i: usize) -> proc_macro2::Ident {
        self.paths.borrow()[i].1.clone()
    }

    /// The statics of every path the crate's code read or wrote, each parsed once.
    pub fn path_statics(&self) -> TokenStream {
        let statics = self.paths.borrow().iter().map(|(p, name)| {
            let (doc, value) = (format!(" `{}`", p.text), crate::codegen::path_literal(p));
            quote! {
                #[doc = #doc]
                static #name: std::sync::LazyLock<rt::Path> = std::sync::LazyLock::new(|| #value);
            }
        }).collect::<Vec<_>>();
        quote!(#(#statics)*)
    }

    /// A single HL7 value read in scope `sc`, as `Option<&str>`-like text borrowed from
    /// the message, and whether it goes through the function's `reads` cache: a
    /// whole-message value several statements read (the patient's MRN, read for the
    /// patient, the visit and each allergy) is found and unescaped once per message.
    pub(super) fn read_str(
        &self,
        p: &Hl7Path,
        sc: &proc_macro2::Ident,
        at: &str,
    ) -> (TokenStream, bool) {
        let i = self.path_index(p);
        if sc != "scope" {
            let name = self.path_static(i);
            return (quote!(#sc.str(&#name, #at)?), false);
        }
        let cached = match &*self.cache.borrow() {
            Some(set) => set.contains(&i),
            None => {
                self.seen
                    .borrow_mut()
                    .entry(i)
                    .or_default()
                    .insert(at.to_string());
                false
            }
        };
        let name = self.path_static(i);
        if !cached {
            return (quote!(scope.str(&#name, #at)?), false);
        }
        let mut once = self.once.borrow_mut();
        let k = match once.iter().position(|&j| j == i) {
            Some(k) => k,
            None => {
                once.push(i);
                once.len() - 1
            }
        };
        (
            quote!(rt::once(&reads[#k], || scope.str(&#name, #at))?),
            true,
        )
    }
}

/// The name of the static holding an HL7 path: its letters and digits in upper case,
/// each run joined by `_` (`PID-3[where 5 = "NH"].1` -> `PID_3_WHERE_5_NH_1`).
pub(super) fn path_name(text: &str) -> proc_macro2::Ident {
    let words: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    format_ident!("{}", words.join("_"))
}
