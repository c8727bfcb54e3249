"""Dump HL7 v2 files as python-hl7 (PyPI package `hl7`) reads them, for the differential
test: a JSON object {file: [[segment id, field, field, ...], ...]} where every field is
normalised to repetitions -> components -> subcomponents of raw (escaped) strings.
Bytes are read as Latin-1 so any byte compares exactly; a UTF-8 BOM is dropped."""
import json
import sys

import hl7


def norm(x, depth):
    if isinstance(x, str):
        for _ in range(depth):
            x = [x]
        return x
    return [norm(child, depth - 1) for child in x]


def dump(path):
    raw = open(path, "rb").read()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    text = raw.decode("latin-1").replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    msg = hl7.parse(text)
    out = []
    for seg in msg:
        fields = [str(seg[0])]
        for f in seg[1:]:
            fields.append(norm(f, 3))
        out.append(fields)
    return out


if __name__ == "__main__":
    print(json.dumps({p: dump(p) for p in sys.argv[1:]}))
