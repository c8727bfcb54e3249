#!/usr/bin/env python3
"""A FHIR API client no one here wrote the parts of: Python `requests` for HTTP, `PyJWT`
for the OAuth2 bearer tokens (HS256 with a shared secret, RS256 with a key whose JWKS it
writes for the server), and `fhir.resources` (R4) to validate what comes back.

Usage: fhir_api_client.py BASE HS256_SECRET KEY_PEM PATIENT_A PATIENT_B MRN_A

KEY_PEM is the authorisation server's RS256 private key (tests/tools/make_jwks.py made it
and the JWKS the production reads, before the production started).

Runs a fixed list of requests and prints one JSON object: for each request, its status,
its resource type and what the test needs to check. Run by compiler/tests/fhir_api.rs.
"""

import json
import sys
import time

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fhir.resources.bundle import Bundle
from fhir.resources.capabilitystatement import CapabilityStatement
from fhir.resources.operationoutcome import OperationOutcome
from fhir.resources.patient import Patient

base, secret, key_pem, patient_a, patient_b, mrn_a = sys.argv[1:7]
# The issuer and audience the test's configuration names under [auth].
ISSUER = "https://auth.accord.test"
AUDIENCE = "accord-fhir-test"

# The authorisation server's RS256 key, whose JWKS the production reads; and another.
with open(key_pem, "rb") as f:
    key = serialization.load_pem_private_key(f.read(), password=None)
stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def token(scope, patient=None, expires_in=300, alg="HS256", signer=None, kid=None):
    claims = {"sub": "portal-app", "scope": scope, "exp": int(time.time()) + expires_in,
              "iss": ISSUER, "aud": AUDIENCE}
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


def call(name, path, bearer=None, put=None, if_match=None):
    headers = {"Accept": "application/fhir+json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    if if_match:
        headers["If-Match"] = if_match
    if put is None:
        r = requests.get(f"{base}{path}", headers=headers, timeout=10)
    else:
        headers["Content-Type"] = "application/fhir+json"
        r = requests.put(f"{base}{path}", headers=headers, data=json.dumps(put), timeout=10)
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
            out["next"] = next((l["url"] for l in body.get("link", []) if l["relation"] == "next"), None)
        elif kind == "OperationOutcome":
            out["why"] = body["issue"][0].get("diagnostics", "")
        elif kind == "Patient":
            out["id"] = body.get("id")
            out["family"] = body.get("name", [{}])[0].get("family")
            out["phone"] = (body.get("telecom") or [{}])[0].get("value")
        elif kind == "CapabilityStatement":
            rest = body["rest"][0]
            out["resources"] = [r["type"] for r in rest["resource"]]
            out["security"] = rest["security"]["service"][0]["coding"][0]["code"]
    out["www_authenticate"] = r.headers.get("WWW-Authenticate", "")
    out["etag"] = r.headers.get("ETag")
    if isinstance(body, dict):
        out["version"] = (body.get("meta") or {}).get("versionId")
        out["last_updated"] = (body.get("meta") or {}).get("lastUpdated")
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
# Paging: one patient a page, the next page through the link the server gives.
call("system_search_page_1", "/Patient?_count=1", system)
page_2 = report["system_search_page_1"].get("next") or ""
call("system_search_page_2", page_2[len(base):] if page_2.startswith(base) else "/no-next-link", system)
call("system_search_bad_count", "/Patient?_count=many", system)
call("unknown_id", "/Patient/patient-nobody", system)
call("unserved_type", "/Observation", token("system/*.rs"))
mine = token("patient/Patient.rs", patient=patient_a)
call("patient_read_own", f"/Patient/{patient_a}", mine)
call("patient_read_other", f"/Patient/{patient_b}", mine)
call("patient_search", "/Patient", mine)
call("patient_scope_without_claim", f"/Patient/{patient_a}", token("patient/Patient.rs"))
call("rs256_read", f"/Patient/{patient_a}", token("system/Patient.read", alg="RS256"))
call("rs256_stranger", f"/Patient/{patient_a}", token("system/Patient.read", alg="RS256", signer=stranger))
call("rs256_unknown_kid", f"/Patient/{patient_a}", token("system/Patient.read", alg="RS256", kid="as-9"))

# Write-back: the patient changes the phone number, which the matrix lets the portal
# write; a change of name is not the portal's to make.
first = requests.get(f"{base}/Patient/{patient_a}", headers={"Authorization": f"Bearer {system}"}, timeout=10)
me = first.json()
tag_before = first.headers.get("ETag")
writer = token("patient/Patient.rsu", patient=patient_a)
new_phone = json.loads(json.dumps(me))
new_phone["telecom"] = [{"system": "phone", "value": "07700900999"}]
call("update_phone", f"/Patient/{patient_a}", writer, put=new_phone)
call("read_after_update", f"/Patient/{patient_a}", system)
renamed = json.loads(json.dumps(new_phone))
renamed["name"][0]["family"] = "SOMEONE-ELSE"
call("update_name", f"/Patient/{patient_a}", writer, put=renamed)
call("update_without_u_scope", f"/Patient/{patient_a}", mine, put=new_phone)
call("update_other_patient", f"/Patient/{patient_b}", writer, put=new_phone)
call("update_wrong_identifier", f"/Patient/{patient_a}", token("system/Patient.u"), put={**new_phone, "id": patient_a, "identifier": [{"system": "urn:oid:2.16.840.1.113883.2.1.3.2.4.18.48", "value": "API002"}]})
call("read_after_refusals", f"/Patient/{patient_a}", system)

# Versioned updates: made from the version read before the phone changed, refused; made
# from the current one, stored, and answered with the next version.
new_phone_2 = json.loads(json.dumps(new_phone))
new_phone_2["telecom"] = [{"system": "phone", "value": "07700900555"}]
call("update_stale_version", f"/Patient/{patient_a}", writer, put=new_phone_2, if_match=tag_before)
call("update_bad_if_match", f"/Patient/{patient_a}", writer, put=new_phone_2, if_match="yesterday")
current = report["read_after_refusals"]["etag"]
call("update_current_version", f"/Patient/{patient_a}", writer, put=new_phone_2, if_match=current)
report["tag_before"] = tag_before
print(json.dumps(report, indent=1, sort_keys=True))
