#!/usr/bin/env python3
"""A FHIR API client no one here wrote the parts of: Python `requests` for HTTP, `PyJWT`
for the OAuth2 bearer tokens (HS256 with a shared secret, RS256 with a key whose JWKS it
writes for the server), and `fhir.resources` (R4) to validate what comes back.

Usage: fhir_api_client.py BASE HS256_SECRET JWKS_PATH PATIENT_A PATIENT_B MRN_A

Runs a fixed list of requests and prints one JSON object: for each request, its status,
its resource type and what the test needs to check. Run by compiler/tests/fhir_api.rs.
"""

import json
import sys
import time

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from fhir.resources.bundle import Bundle
from fhir.resources.capabilitystatement import CapabilityStatement
from fhir.resources.operationoutcome import OperationOutcome
from fhir.resources.patient import Patient

base, secret, jwks_path, patient_a, patient_b, mrn_a = sys.argv[1:7]

# The authorisation server's RS256 key, published as a JWKS the production reads.
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
jwk.update({"kid": "as-1", "use": "sig", "alg": "RS256"})
with open(jwks_path, "w", encoding="utf-8") as f:
    json.dump({"keys": [jwk]}, f)


def token(scope, patient=None, expires_in=300, alg="HS256", signer=None, kid=None):
    claims = {"sub": "portal-app", "scope": scope, "exp": int(time.time()) + expires_in}
    if patient:
        claims["patient"] = patient
    if alg == "HS256":
        return jwt.encode(claims, secret, algorithm="HS256")
    return jwt.encode(claims, signer or key, algorithm="RS256", headers={"kid": kid or "as-1"})


MODELS = {
    "Patient": Patient,
    "Bundle": Bundle,
    "CapabilityStatement": CapabilityStatement,
    "OperationOutcome": OperationOutcome,
}

report = {}


def call(name, path, bearer=None):
    headers = {"Accept": "application/fhir+json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    r = requests.get(f"{base}{path}", headers=headers, timeout=10)
    out = {"status": r.status_code, "type": r.headers.get("Content-Type", "")}
    try:
        body = r.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        kind = body.get("resourceType")
        out["resourceType"] = kind
        try:
            MODELS[kind].parse_obj(body)
            out["valid"] = True
        except Exception as e:  # the validator's own words are the report
            out["valid"] = False
            out["invalid"] = str(e)
        if kind == "Bundle":
            out["total"] = body.get("total")
            out["ids"] = [e["resource"]["id"] for e in body.get("entry", [])]
        elif kind == "OperationOutcome":
            out["why"] = body["issue"][0].get("diagnostics", "")
        elif kind == "Patient":
            out["id"] = body.get("id")
            out["family"] = body.get("name", [{}])[0].get("family")
        elif kind == "CapabilityStatement":
            rest = body["rest"][0]
            out["resources"] = [r["type"] for r in rest["resource"]]
            out["security"] = rest["security"]["service"][0]["coding"][0]["code"]
    out["www_authenticate"] = r.headers.get("WWW-Authenticate", "")
    report[name] = out


system = token("system/Patient.rs")
call("metadata", "/metadata")
call("no_token", f"/Patient/{patient_a}")
call("not_a_jwt", f"/Patient/{patient_a}", "not-a-token")
call("expired", f"/Patient/{patient_a}", token("system/Patient.rs", expires_in=-600))
call("wrong_scope", f"/Patient/{patient_a}", token("patient/Observation.rs", patient=patient_a))
call("read_only_scope_search", "/Patient", token("system/Patient.r"))
call("system_read", f"/Patient/{patient_a}", system)
call("system_search_all", "/Patient", system)
call("system_search_identifier", f"/Patient?identifier=urn:oid:2.16.840.1.113883.2.1.3.2.4.18.48|{mrn_a}", system)
call("system_search_unknown_param", "/Patient?name=x", system)
call("unknown_id", "/Patient/patient-nobody", system)
call("unserved_type", "/Observation", token("system/*.rs"))
mine = token("patient/Patient.rs", patient=patient_a)
call("patient_read_own", f"/Patient/{patient_a}", mine)
call("patient_read_other", f"/Patient/{patient_b}", mine)
call("patient_search", "/Patient", mine)
call("patient_scope_without_claim", f"/Patient/{patient_a}", token("patient/Patient.rs"))
call("rs256_read", f"/Patient/{patient_a}", token("user/Patient.read", alg="RS256"))
call("rs256_stranger", f"/Patient/{patient_a}", token("user/Patient.read", alg="RS256", signer=stranger))
call("rs256_unknown_kid", f"/Patient/{patient_a}", token("user/Patient.read", alg="RS256", kid="as-9"))
print(json.dumps(report, indent=1, sort_keys=True))
