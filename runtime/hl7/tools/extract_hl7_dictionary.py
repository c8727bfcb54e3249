"""Extract the HL7 v2 dictionary Accord uses from hl7apy (PyPI, MIT licence).

    pip install hl7apy==1.3.5
    python3 runtime/hl7/tools/extract_hl7_dictionary.py runtime/hl7/data/hl7v2

Writes one file per version, `v<version>.txt`, tab-separated, one record per line:

    D  datatype  component;component;...      components: position|datatype|name|table
    S  segment   field;field;...              fields: position|datatype|name|table|min|max|length
    M  structure element element ...         MSH SFT* PATIENT_RESULT+(PID PD1? ...) DSC?
    E  trigger   structure                   ADT^A04 -> ADT_A01

Cardinality marks: none = 1..1, `?` = 0..1, `*` = 0..*, `+` = 1..*; groups are
NAME<mark>(elements), named without their structure prefix. Names are title case.
The trigger -> structure map is not in hl7apy: it is written below from HL7 table 0354
(message structures and the trigger events that use them); for each trigger the first
candidate structure that exists in the version is used.
"""
import importlib
import os
import sys

VERSIONS = ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8", "2.8.1", "2.8.2"]

# Trigger -> candidate structures (HL7 table 0354), first existing one wins.
ALIASES = {
    "ADT": {
        "A04": ["ADT_A01"], "A08": ["ADT_A01"], "A13": ["ADT_A01"],
        "A05": ["ADT_A05", "ADT_A01"], "A14": ["ADT_A05", "ADT_A01"], "A28": ["ADT_A05", "ADT_A01"],
        "A31": ["ADT_A05", "ADT_A01"], "A07": ["ADT_A06"], "A10": ["ADT_A09"], "A11": ["ADT_A09"],
        "A12": ["ADT_A12", "ADT_A09"], "A15": ["ADT_A15", "ADT_A09"],
        "A22": ["ADT_A21", "ADT_A09"], "A23": ["ADT_A21", "ADT_A09"], "A25": ["ADT_A21", "ADT_A09"],
        "A26": ["ADT_A21", "ADT_A09"], "A27": ["ADT_A21", "ADT_A09"], "A29": ["ADT_A21", "ADT_A09"],
        "A32": ["ADT_A21", "ADT_A09"], "A33": ["ADT_A21", "ADT_A09"], "A21": ["ADT_A21", "ADT_A09"],
        "A34": ["ADT_A30"], "A35": ["ADT_A30"], "A36": ["ADT_A30"], "A46": ["ADT_A30"],
        "A47": ["ADT_A30"], "A48": ["ADT_A30"], "A49": ["ADT_A30"],
        "A37": ["ADT_A37", "ADT_A24"], "A40": ["ADT_A39"], "A41": ["ADT_A39"], "A42": ["ADT_A39"],
        "A44": ["ADT_A43"], "A51": ["ADT_A50"], "A53": ["ADT_A52"], "A55": ["ADT_A54"], "A62": ["ADT_A61"],
    },
    "BAR": {"P05": ["BAR_P05", "BAR_P01"], "P06": ["BAR_P06", "BAR_P02"], "P10": ["BAR_P10"], "P12": ["BAR_P12"]},
    "MDM": {"T03": ["MDM_T01"], "T05": ["MDM_T01"], "T07": ["MDM_T01"], "T09": ["MDM_T01"], "T11": ["MDM_T01"],
            "T04": ["MDM_T02"], "T06": ["MDM_T02"], "T08": ["MDM_T02"], "T10": ["MDM_T02"]},
    "SIU": {t: ["SIU_S12"] for t in ["S13", "S14", "S15", "S16", "S17", "S18", "S19", "S20", "S21", "S22", "S23", "S24", "S26"]},
    "REF": {"I13": ["REF_I12"], "I14": ["REF_I12"], "I15": ["REF_I12"]},
    "PPR": {"PC2": ["PPR_PC1"], "PC3": ["PPR_PC1"]},
    "RDE": {"O25": ["RDE_O25", "RDE_O11"]},
    "OUL": {},
    "VXU": {},
}


UPPER = {"ID", "PID", "MSH", "EVN", "PV1", "OBR", "OBX", "ORC", "NK1", "HL7", "UCUM", "URI", "ISO", "SSN", "DOB"}


def title(name):
    if not name:
        return ""
    words = name.replace("_S_", "'S_").split("_")
    return " ".join(w.upper() if w.upper() in UPPER else w.capitalize().replace("'S", "'s") for w in words if w)


def mark(card):
    lo, hi = card
    if lo == 1 and hi == 1:
        return ""
    if lo == 0 and hi == 1:
        return "?"
    if lo == 0:
        return "*"
    return "+"


def structure(children, prefix, groups):
    out = []
    for child in children:
        name, ref, card, kind = child[0], child[1], child[2], child[3]
        if kind == "GRP":
            short = name[len(prefix) + 1:] if name.startswith(prefix + "_") else name
            inner = groups[name][1]
            out.append(f"{short}{mark(card)}(" + " ".join(structure(inner, prefix, groups)) + ")")
        else:
            out.append(f"{name}{mark(card)}")
    return out


def extract(version, out_dir):
    mod = importlib.import_module("hl7apy.v" + version.replace(".", "_"))
    lines = [
        f"# Accord HL7 v2 dictionary, version {version}",
        "# Extracted by runtime/hl7/tools/extract_hl7_dictionary.py from hl7apy 1.3.5 (MIT licence,",
        "# Copyright (c) 2012-2018 CRS4); trigger aliases from HL7 table 0354.",
    ]
    structs = mod.DATATYPES_STRUCTS
    for dt in sorted(structs):
        comps = []
        for i, comp in enumerate(structs[dt], 1):
            info = mod.DATATYPES.get(comp[0]) or [None, None, "ST", comp[0], None]
            comps.append(f"{i}|{info[2]}|{title(info[3])}|{info[4] or ''}")
        lines.append(f"D\t{dt}\t" + ";".join(comps))
    for seg in sorted(mod.SEGMENTS):
        if len(seg) != 3:
            continue  # hl7apy's pseudo-segments such as ANYHL7SEGMENT
        entry = mod.SEGMENTS[seg]
        children = entry[1] if len(entry) > 1 else ()
        fields = []
        for child in children:
            name, ref, card = child[0], child[1], child[2]
            pos = name.rsplit("_", 1)[1]
            dt = ref[2] if ref else "ST"
            length = ref[5] if ref and len(ref) > 5 and ref[5] not in (None, -1) else ""
            hi = "*" if card[1] == -1 else str(card[1])
            fields.append(f"{pos}|{dt}|{title(ref[3] if ref else '')}|{(ref[4] if ref else '') or ''}|{card[0]}|{hi}|{length}")
        lines.append(f"S\t{seg}\t" + ";".join(fields))
    for msg in sorted(mod.MESSAGES):
        children = mod.MESSAGES[msg][1]
        lines.append(f"M\t{msg}\t" + " ".join(structure(children, msg, mod.GROUPS)))
    for msg in sorted(mod.MESSAGES):
        if "_" in msg:
            code, trig = msg.split("_", 1)
            lines.append(f"E\t{code}^{trig}\t{msg}")
    for code, table in sorted(ALIASES.items()):
        for trig, candidates in sorted(table.items()):
            if f"{code}_{trig}" in mod.MESSAGES:
                continue
            found = next((c for c in candidates if c in mod.MESSAGES), None)
            if found:
                lines.append(f"E\t{code}^{trig}\t{found}")
    path = os.path.join(out_dir, f"v{version}.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, len(lines)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "runtime/hl7/data/hl7v2"
    for v in VERSIONS:
        print(*extract(v, out))
