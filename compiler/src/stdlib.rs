//! The standard library shipped inside `accord`: estates of records, code maps and
//! mappings that an estate brings in with `import "std:NAME"`. They are embedded in the
//! compiler (`compiler/std/NAME/*.accord`), so they need no files beside the estate and
//! always match the compiler that checks them. Their files are named `std:NAME/FILE` in
//! diagnostics, the IR and the governance site.

use accord_dsl::ast::ItemKind;
use accord_dsl::{FileId, SourceMap};

/// One importable library.
pub struct Library {
    pub name: &'static str,
    pub about: &'static str,
    /// File name and text.
    pub files: &'static [(&'static str, &'static str)],
}

pub const LIBRARIES: &[Library] = &[Library {
    name: "v2-to-fhir",
    about: "the HL7 v2-to-FHIR Implementation Guide's segment, message and code maps",
    files: &[
        (
            "codes.accord",
            include_str!("../std/v2-to-fhir/codes.accord"),
        ),
        (
            "records.accord",
            include_str!("../std/v2-to-fhir/records.accord"),
        ),
        (
            "segments.accord",
            include_str!("../std/v2-to-fhir/segments.accord"),
        ),
        (
            "resources.accord",
            include_str!("../std/v2-to-fhir/resources.accord"),
        ),
        (
            "messages.accord",
            include_str!("../std/v2-to-fhir/messages.accord"),
        ),
    ],
}];

/// The prefix of an import that names a library: `import "std:v2-to-fhir"`.
pub const PREFIX: &str = "std:";

pub fn library(name: &str) -> Option<&'static Library> {
    LIBRARIES.iter().find(|l| l.name == name)
}

/// The name a library file has in the estate: `std:v2-to-fhir/codes.accord`.
pub fn file_name(library: &str, file: &str) -> String {
    format!("{PREFIX}{library}/{file}")
}

/// Adds to `sources` the files of every library that a file of it imports (libraries
/// may import libraries). Unknown libraries are left for the import check to report.
pub fn add_imported(sources: &mut SourceMap) {
    let mut i = 0;
    loop {
        let ids: Vec<FileId> = sources.files().map(|(id, _)| id).collect();
        let Some(&id) = ids.get(i) else {
            return;
        };
        i += 1;
        let (ast, _) = accord_dsl::parse_file(FileId(0), &sources.get(id).text);
        for item in &ast.items {
            let ItemKind::Import(imp) = &item.kind else {
                continue;
            };
            let Some(lib) = imp.path.value.strip_prefix(PREFIX).and_then(library) else {
                continue;
            };
            for (file, text) in lib.files {
                let name = file_name(lib.name, file);
                if sources.find(&name).is_none() {
                    sources.add(name, *text);
                }
            }
        }
    }
}
