//! Names made from the estate's own words, wherever an output needs one: `PascalCase`
//! for Rust types and FHIR ConceptMap names (`trakcare_sex` -> `TrakcareSex`), and
//! lower-case slugs for crate names, ids and URIs (`Lothian TrakCare estate` ->
//! `lothian-trakcare-estate`).

/// Each run of letters and digits with its first letter upper-cased, joined:
/// `patient_to_fhir` -> `PatientToFhir`, `birthDate` -> `BirthDate`.
pub fn pascal(s: &str) -> String {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// Letters and digits in lower case, every other run of characters one `-`, none at
/// either end.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_make_types_and_slugs() {
        assert_eq!(pascal("patient_to_fhir"), "PatientToFhir");
        assert_eq!(pascal("birthDate"), "BirthDate");
        assert_eq!(pascal("trakcare-sex"), "TrakcareSex");
        assert_eq!(
            slug("Lothian TrakCare laboratory estate"),
            "lothian-trakcare-laboratory-estate"
        );
        assert_eq!(slug("  A -- b_c! "), "a-b-c");
        assert_eq!(slug("?!"), "");
    }
}
