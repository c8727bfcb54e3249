"""Extract the FHIR R4 dictionary Accord uses from the official StructureDefinitions.

    npm pack hl7.fhir.r4.examples@4.0.1        # CC0-1.0: the R4 StructureDefinitions,
    tar xzf hl7.fhir.r4.examples-4.0.1.tgz     # ValueSets and CodeSystems of FHIR 4.0.1
    python3 runtime/fhir/tools/extract_fhir_dictionary.py package runtime/fhir/data/fhir/r4.txt

The npm registry has no `hl7.fhir.r4.core`; the examples package carries the same 655
StructureDefinitions. Only the base definitions are kept (derivation `specialization`, or
none for the roots): resources, complex data types and primitive types, not profiles.

One record per line, tab-separated:

    T  name  kind  base                        kind: resource, complex, primitive; abstract marked `*`
    E  path  min  max  types  [strength  valueset]
    V  valueset  system  code|code|...         the codes of a required binding's value set

`types` is space-separated: a data type or resource name, `Reference(Patient|Group)` with
the allowed targets, or `@Questionnaire.item` for an element defined elsewhere
(contentReference). A choice element keeps its `[x]` (`Patient.deceased[x]  boolean dateTime`). Bindings are
kept for the strengths `required` and `extensible`; value set codes only for `required`
bindings whose codes can be listed (enumerated concepts, or whole code systems of the
package). Elements `extension` and `modifierExtension` below the root are left out: every
element has them.
"""
import glob
import json
import os
import sys

SRC, OUT = sys.argv[1], sys.argv[2]


def load(pattern):
    out = {}
    for f in sorted(glob.glob(os.path.join(SRC, pattern))):
        with open(f, encoding="utf-8") as fh:
            d = json.load(fh)
        out[d.get("url")] = d
    return out


structures = load("StructureDefinition-*.json")
valuesets = load("ValueSet-*.json")
codesystems = load("CodeSystem-*.json")

KIND = {"resource": "resource", "complex-type": "complex", "primitive-type": "primitive"}


def short(url):
    return url.rsplit("/", 1)[-1] if url else ""


def type_text(t):
    code = t["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        # The value of a primitive (`boolean.value`): FHIRPath's system type.
        return "System." + code.rsplit(".", 1)[-1]
    targets = t.get("targetProfile") or []
    if code in ("Reference", "canonical") and targets:
        return f"{code}({'|'.join(short(p) for p in targets)})"
    return code


def codes_of_system(url):
    cs = codesystems.get(url)
    if not cs or cs.get("content") != "complete":
        return None
    out = []

    def walk(concepts):
        for c in concepts or []:
            out.append(c["code"])
            walk(c.get("concept"))

    walk(cs.get("concept"))
    return out


def value_set_codes(url):
    vs = valuesets.get(url.split("|")[0])
    if not vs:
        return []
    rows = []
    for inc in (vs.get("compose") or {}).get("include", []):
        system = inc.get("system")
        if not system or inc.get("filter") or inc.get("valueSet"):
            continue
        if inc.get("concept"):
            codes = [c["code"] for c in inc["concept"]]
        else:
            codes = codes_of_system(system)
        if codes:
            rows.append((system, codes))
    return rows


lines = [
    "# Accord FHIR R4 dictionary, FHIR 4.0.1",
    "# Extracted by runtime/fhir/tools/extract_fhir_dictionary.py from the npm package",
    "# hl7.fhir.r4.examples@4.0.1 (HL7 FHIR R4 StructureDefinitions, ValueSets and CodeSystems, CC0-1.0).",
]
required = set()
kept = 0
for url, sd in sorted(structures.items(), key=lambda kv: kv[1]["name"]):
    kind = KIND.get(sd.get("kind"))
    if not kind or sd.get("derivation") not in ("specialization", None):
        continue
    if sd.get("type") != sd.get("name") and kind != "primitive":
        continue
    kept += 1
    name = sd["type"]
    lines.append("\t".join(["T", name, kind + ("*" if sd.get("abstract") else ""), short(sd.get("baseDefinition"))]))
    for e in sd["snapshot"]["element"]:
        path = e["path"]
        if path == name:
            continue
        last = path.rsplit(".", 1)[-1]
        if last in ("extension", "modifierExtension") and path.count(".") > 1:
            continue
        if "contentReference" in e:
            types = "@" + e["contentReference"].lstrip("#")
        else:
            types = " ".join(type_text(t) for t in e.get("type", []))
        row = ["E", path, str(e.get("min", 0)), e.get("max", "1"), types]
        b = e.get("binding") or {}
        if b.get("strength") in ("required", "extensible") and b.get("valueSet"):
            vs = b["valueSet"].split("|")[0]
            row += [b["strength"], vs]
            if b["strength"] == "required":
                required.add(vs)
        lines.append("\t".join(row))
for vs in sorted(required):
    for system, codes in value_set_codes(vs):
        lines.append("\t".join(["V", vs, system, "|".join(codes)]))
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w", encoding="utf-8") as fh:
    fh.write("\n".join(lines) + "\n")
print(f"{kept} definitions, {len(required)} required value sets, {len(lines)} lines -> {OUT}")
