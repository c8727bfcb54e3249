//! An application that embeds an Accord estate: `build.rs` generates the code, this crate
//! includes it and calls its mappings like any Rust function.

include!(concat!(env!("OUT_DIR"), "/estate.rs"));

/// The family name of the patient in an ADT message, through the estate's mapping.
pub fn family_name(message: &[u8]) -> Result<String, String> {
    let msg = accord_runtime::hl7::Message::parse(message).map_err(|e| e.to_string())?;
    estate::adt_to_patient(&msg)
        .map(|p| p.family_name)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::estate;

    const ADT: &[u8] = b"MSH|^~\\&|PAS|H|APP|H|20260101||ADT^A01|1|P|2.5.1\rPID|1||4711^^^H^MR||DOE^JANE||19700101|F\r";

    #[test]
    fn the_generated_mapping_runs_inside_the_application() {
        assert_eq!(super::family_name(ADT).as_deref(), Ok("DOE"));
        let msg = accord_runtime::hl7::Message::parse(ADT).unwrap();
        let p = estate::adt_to_patient(&msg).unwrap();
        assert_eq!(p.mrn, "4711");
        assert_eq!(p.sex, estate::Sex::Female);
    }

    #[test]
    fn a_rejection_names_the_estate_line() {
        let bad = String::from_utf8_lossy(ADT).replace("|F\r", "|Q\r");
        let e = super::family_name(bad.as_bytes()).unwrap_err();
        assert!(
            e.contains("estate.accord:") && e.contains("unknown sex code"),
            "{e}"
        );
    }
}
