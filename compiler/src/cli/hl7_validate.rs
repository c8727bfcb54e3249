//! `accord hl7 validate`: a message against the HL7 v2 dictionary (segment order and
//! cardinality in the message structure, required fields, repetitions) and, with
//! `--profile ESTATE:NAME`, against a conformance profile of an estate (usage, cardinality,
//! length, local Z-segments). Each problem is printed with its file position.

use super::hl7::{line_col, with_messages};
use accord_hl7::profile::Profile;
use accord_hl7::{dict, validate};
use std::process::ExitCode;

pub fn validate(file: &std::path::Path, version: Option<&str>, profile: Option<&str>) -> ExitCode {
    let profile = match profile.map(load_profile).transpose() {
        Ok(p) => p,
        Err(code) => return code,
    };
    with_messages(file, |bytes, msgs| {
        let mut problems = vec![];
        let base = bytes.as_ptr() as usize;
        for m in msgs {
            let origin = m.bytes().as_ptr() as usize - base;
            let v = version
                .map(str::to_string)
                .or_else(|| profile.as_ref().map(|p| p.version.clone()))
                .or_else(|| m.version().map(str::to_string))
                .unwrap_or_default();
            let Some(d) = dict::dictionary(&v) else {
                eprintln!(
                    "error: no HL7 v2 dictionary for version `{v}`; pass --version (one of {})",
                    dict::versions().collect::<Vec<_>>().join(", ")
                );
                return ExitCode::from(2);
            };
            let found = validate::validate(m, d, profile.as_ref());
            problems.extend(found.into_iter().map(|p| validate::Problem {
                offset: p.offset + origin,
                ..p
            }));
        }
        for p in &problems {
            let (line, col) = line_col(bytes, p.offset);
            let level = if p.warning { "warning" } else { "error" };
            println!("{}:{line}:{col}: {level}: {}", file.display(), p.what);
        }
        let errors = problems.iter().filter(|p| !p.warning).count();
        let warnings = problems.len() - errors;
        if errors == 0 {
            eprintln!("ok: {} message(s) valid, {warnings} warning(s)", msgs.len());
            ExitCode::SUCCESS
        } else {
            eprintln!(
                "{errors} error(s), {warnings} warning(s) in {} message(s)",
                msgs.len()
            );
            ExitCode::from(1)
        }
    })
}

/// `ESTATE:NAME`: the profile NAME of the estate at path ESTATE, which must compile.
fn load_profile(spec: &str) -> Result<Profile, ExitCode> {
    let Some((estate, name)) = spec.rsplit_once(':') else {
        eprintln!("error: --profile takes ESTATE:NAME, e.g. examples/trakcare-lab:trakcare_adt");
        return Err(ExitCode::from(2));
    };
    let (loaded, result) = super::compile_paths(&[std::path::PathBuf::from(estate)], None)?;
    let Some(ir) = result.ir else {
        super::print_human(&loaded, &result);
        return Err(ExitCode::from(2));
    };
    match ir.profiles.into_iter().find(|p| p.name == name) {
        Some(p) => Ok(crate::codegen::spec::profile(&p)),
        None => {
            eprintln!("error: the estate has no profile `{name}`");
            Err(ExitCode::from(2))
        }
    }
}
