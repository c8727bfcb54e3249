#!/usr/bin/env python3
"""Writes compiler/std/v2-to-fhir/codes.accord: the codesets and code maps of the HL7
v2-to-FHIR Implementation Guide's concept maps that the `std:v2-to-fhir` library uses,
from the IG's own CSV tables (CC0; `tests/corpus/v2-to-fhir/codesystems/`).

Run from the repository root: python3 compiler/std/tools/concept_maps.py tests/corpus/v2-to-fhir
`compiler/tests/stdlib.rs` checks the committed file against the same tables, row by row.
"""

import csv
import sys
from pathlib import Path

# (CSV table, code map name, HL7 table, target codeset or None for text, FHIR system of
#  the codeset, default for codes the IG leaves unmapped, what the map is for)
MAPS = [
    ("AdministrativeSex", "v2_0001_gender", "0001", "FhirAdministrativeGender",
     "http://hl7.org/fhir/administrative-gender", "absent", "PID-8, NK1-15 to `gender`"),
    ("PatientClass[EncounterClass]", "v2_0004_class", "0004", None, None, "absent",
     "PV1-2 to `Encounter.class.code`"),
    ("PatientClass[EncounterStatus]", "v2_0004_status", "0004", "FhirEncounterStatus",
     "http://hl7.org/fhir/encounter-status", "absent", "PV1-2 to `Encounter.status`"),
    ("AllergenType[AllergyIntoleranceCategory]", "v2_0127_category", "0127", "FhirAllergyCategory",
     "http://hl7.org/fhir/allergy-intolerance-category", "absent", "AL1-2 to `AllergyIntolerance.category`"),
    ("AllergyType", "v2_0127_type", "0127", "FhirAllergyType",
     "http://hl7.org/fhir/allergy-intolerance-type", "absent", "AL1-2 to `AllergyIntolerance.type`"),
    ("AllergySeverity[AllergyIntolerance.criticality]", "v2_0128_criticality", "0128",
     "FhirAllergyCriticality", "http://hl7.org/fhir/allergy-intolerance-criticality", "absent",
     "AL1-4 to `AllergyIntolerance.criticality`"),
    ("AllergySeverity[AllergyIntolerance.reaction.severity]", "v2_0128_severity", "0128",
     "FhirReactionSeverity", "http://hl7.org/fhir/reaction-event-severity", "absent",
     "AL1-4 to `AllergyIntolerance.reaction.severity`"),
    ("ObservationResultStatusCodesInterpretation", "v2_0085_status", "0085", "FhirObservationStatus",
     "http://hl7.org/fhir/observation-status", "unknown",
     "OBX-11 to `Observation.status` (required: codes the IG leaves unmapped become `unknown`)"),
    ("ResultStatus[Non-Queries]", "v2_0123_status", "0123", "FhirDiagnosticReportStatus",
     "http://hl7.org/fhir/diagnostic-report-status", "unknown",
     "OBR-25 to `DiagnosticReport.status` (required: codes the IG leaves unmapped become `unknown`)"),
    ("InterpretationCodes", "v2_0078_interpretation", "0078", None, None, "absent",
     "OBX-8 to `Observation.interpretation` (v3 ObservationInterpretation codes)"),
    ("NameType", "v2_0200_name_use", "0200", "FhirNameUse", "http://hl7.org/fhir/name-use", "absent",
     "XPN.7 to `HumanName.use`"),
    ("TelecommunicationUseCode", "v2_0201_telecom_use", "0201", "FhirContactPointUse",
     "http://hl7.org/fhir/contact-point-use", "absent", "XTN.2 to `ContactPoint.use`"),
    ("AddressType[Use]", "v2_0190_address_use", "0190", "FhirAddressUse",
     "http://hl7.org/fhir/address-use", "absent", "XAD.7 to `Address.use`"),
    ("MaritalStatus", "v2_0002_marital", "0002", None, None, "absent",
     "PID-16 to `Patient.maritalStatus` codes"),
    ("OrderStatus", "v2_0038_status", "0038", "FhirRequestStatus",
     "http://hl7.org/fhir/request-status", "absent", "ORC-5 to `ServiceRequest.status`"),
    ("OrderControlCode[ServiceRequest.status]", "v2_0119_status", "0119", "FhirRequestStatus",
     "http://hl7.org/fhir/request-status", "absent",
     "ORC-1 to `ServiceRequest.status`, when ORC-5 is empty"),
    ("ExtendedPriorityCodes", "v2_0485_priority", "0485", "FhirRequestPriority",
     "http://hl7.org/fhir/request-priority", "absent", "OBR-5 to `ServiceRequest.priority`"),
]


# Codes a codeset needs beyond its concept map's targets: set by other IG rows.
EXTRA = {
    "FhirEncounterStatus": {"finished": "Finished"},
    # A ServiceRequest needs a status: an order neither ORC-5 nor ORC-1 gives one for.
    "FhirRequestStatus": {"unknown": "Unknown"},
}


def rows(corpus, table):
    path = Path(corpus) / "codesystems" / f"HL7 Concept Map_ {table} - Sheet1.csv"
    with open(path, encoding="utf-8") as f:
        data = list(csv.reader(f))
    # The FHIR side's columns after its code: the tables differ in which come where.
    header = data[1]
    after = {name.strip(): i for i, name in enumerate(header) if i > 6}
    di, si = after.get("Display", 8), after.get("Code System", 9)
    out = []
    for r in data[2:]:
        if not r or not r[0].strip():
            continue
        code = r[0].strip()
        fhir = r[6].strip() if len(r) > 6 else ""
        display = r[di].strip() if len(r) > di else ""
        system = r[si].strip() if len(r) > si else ""
        out.append((code, fhir, display, system))
    return out


def lit(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main(corpus):
    out = [
        "// @generated by compiler/std/tools/concept_maps.py from the HL7 v2-to-FHIR IG's",
        "// concept maps (CC0). compiler/tests/stdlib.rs checks it against the tables.",
        "",
    ]
    codesets = {}
    for table, name, v2, codeset, system, default, purpose in MAPS:
        rs = rows(corpus, table)
        mapped = [(c, f, d, s) for c, f, d, s in rs if f]
        if codeset:
            cs = codesets.setdefault(codeset, (system, {}))
            for _, f, d, _ in mapped:
                cs[1].setdefault(f, d or f)
            if default != "absent":
                cs[1].setdefault(default, default.capitalize())
        out.append(f"/// HL7 table {v2} to FHIR, as the IG's concept map `{table}` has it: {purpose}.")
        target = codeset if codeset else "Text"
        out.append(f"codemap {name}: Text -> {target} {{")
        by_target = {}
        for c, f, _, _ in mapped:
            by_target.setdefault(f, []).append(c)
        for f, codes in by_target.items():
            rhs = lit(f) if not codeset or not f.isidentifier() else f
            out.append(f"  {' | '.join(lit(c) for c in codes)} => {rhs}")
        out.append(f"  _ => {default if default == 'absent' else lit(default)}")
        out.append("}")
        out.append("")
        # The code system each mapped code belongs to, where the IG's map has more than one.
        systems = {s for _, _, _, s in mapped}
        if not codeset and len(systems) > 1:
            out.append(f"/// The code system of each code `{name}` gives.")
            out.append(f"codemap {name}_system: Text -> Text {{")
            by_sys = {}
            for c, _, _, s in mapped:
                by_sys.setdefault(s, []).append(c)
            for s, codes in by_sys.items():
                out.append(f"  {' | '.join(lit(c) for c in codes)} => {lit(s)}")
            out.append("  _ => absent")
            out.append("}")
            out.append("")
    for codeset, (system, codes) in codesets.items():
        for c, d in EXTRA.get(codeset, {}).items():
            codes.setdefault(c, d)
        out.append(f"codeset {codeset} {{")
        out.append(f"  system: {lit(system)}")
        for c, d in codes.items():
            name = c if c.isidentifier() else lit(c)
            out.append(f"  {name} {lit(d)}")
        out.append("}")
        out.append("")
    Path("compiler/std/v2-to-fhir/codes.accord").write_text("\n".join(out).rstrip() + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/corpus/v2-to-fhir")
