#!/usr/bin/env python3
"""Validates FHIR R4 JSON resources with the Python `fhir.resources` package (R4 models,
version 6.1.x = FHIR 4.0.1), an implementation no one here wrote. Each argument is a JSON
file holding one resource (or a Bundle). Prints one line per file; exits 1 if any is invalid.
Installed by .ci/run into target/fhir-venv."""

import importlib
import json
import sys

import fhir.resources

if fhir.resources.__fhir_version__ != "4.0.1":
    sys.exit(f"fhir.resources models FHIR {fhir.resources.__fhir_version__}, not R4 (4.0.1)")


def model(resource_type):
    module = importlib.import_module(f"fhir.resources.{resource_type.lower()}")
    return getattr(module, resource_type)


failed = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    kind = data.get("resourceType", "?")
    try:
        model(kind).parse_obj(data)
        print(f"ok {kind} {path}")
    except Exception as e:  # the validator's own report is the message
        failed += 1
        print(f"INVALID {kind} {path}\n{e}")
sys.exit(1 if failed else 0)
