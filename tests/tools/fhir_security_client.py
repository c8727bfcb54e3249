#!/usr/bin/env python3
"""The FHIR facade probed as an attacker and a careless client would, with tokens minted
by a JWT library no one here wrote (PyJWT) and raw HTTP where a library would tidy the
request up (a forged Host header, unsigned tokens).

Usage: fhir_security_client.py BASE HS256_SECRET KEY_PEM PATIENT_A PATIENT_B PATIENT_EMPTY

PATIENT_EMPTY is a stored patient whose date of birth its owner left empty. Prints one
JSON object: per case, the status and what the test checks. Run by
compiler/tests/fhir_api.rs (`security_*`).
"""

import base64
import http.client
import json
import sys
import time
import urllib.parse
import warnings

import jwt
import requests
from cryptography.hazmat.primitives import serialization

base, secret, key_pem, patient_a, patient_b, patient_empty = sys.argv[1:7]
ISSUER = "https://auth.accord.test"
AUDIENCE = "accord-fhir-test"

with open(key_pem, "rb") as f:
    key = serialization.load_pem_private_key(f.read(), password=None)
public_pem = key.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)

NOW = int(time.time())


def claims(scope, **extra):
    c = {"sub": "probe", "scope": scope, "exp": NOW + 300, "iss": ISSUER, "aud": AUDIENCE}
    for k, v in extra.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def hs256(c, key=None):
    with warnings.catch_warnings():
        # PyJWT warns of short keys; the short key is the point of the case.
        warnings.simplefilter("ignore")
        return jwt.encode(c, secret if key is None else key, algorithm="HS256")


def unsigned(c, alg):
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(c)}."


def hs256_with_public_key(c):
    # The RS256 public key used as an HMAC secret: the classic algorithm confusion. PyJWT
    # refuses to sign with a PEM key, so the token is signed by hand.
    import hashlib
    import hmac

    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=")
    head = part({"alg": "HS256", "typ": "JWT", "kid": "as-1"}) + b"." + part(c)
    sig = base64.urlsafe_b64encode(hmac.new(public_pem, head, hashlib.sha256).digest()).rstrip(b"=")
    return (head + b"." + sig).decode()


report = {}


def call(name, path, bearer=None, method="GET", body=None):
    headers = {"Accept": "application/fhir+json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    data = None
    if body is not None:
        headers["Content-Type"] = "application/fhir+json"
        data = json.dumps(body)
    r = requests.request(method, f"{base}{path}", headers=headers, data=data, timeout=10)
    out = {"status": r.status_code}
    try:
        b = r.json()
    except ValueError:
        b = None
    if isinstance(b, dict):
        out["resourceType"] = b.get("resourceType")
        if b.get("resourceType") == "Bundle":
            out["ids"] = [e["resource"]["id"] for e in b.get("entry", [])]
            out["total"] = b.get("total")
            out["links"] = {l["relation"]: l["url"] for l in b.get("link", [])}
        elif b.get("resourceType") == "OperationOutcome":
            out["why"] = b["issue"][0].get("diagnostics", "")
        else:
            out["body"] = b
    report[name] = out


# 0. First, as the first refused request from this address is the one audited: a request
# whose query string would print a line of its own in the audit log.
forged = "\n   99 2026-12-05T10:00:00.000Z dr.house portal_fhir: read Patient/" + patient_b + " [] 200 \x1b[2K"
call("forged_audit_line", "/Patient?x=" + urllib.parse.quote(forged))

read_a = f"/Patient/{patient_a}"
system = "system/Patient.rs"

# 1. Keys: an empty HS256 key, the RS256 public key as an HMAC secret, no signature.
call("hs256_empty_key", read_a, hs256(claims(system), key=""))
call("hs256_public_key_as_secret", read_a, hs256_with_public_key(claims(system)))
for alg in ["none", "None", "NONE", "nOnE"]:
    call(f"alg_{alg}", read_a, unsigned(claims(system), alg))

# 2. Claims: issuer and audience required and checked; nbf and iat not in the future.
call("no_iss", read_a, hs256(claims(system, iss=None)))
call("no_aud", read_a, hs256(claims(system, aud=None)))
call("neither_iss_nor_aud_search", "/Patient", hs256(claims("system/*.rs", iss=None, aud=None)))
call("iss_number", read_a, hs256(claims(system, iss=42)))
call("aud_number", read_a, hs256(claims(system, aud=7)))
call("wrong_iss", read_a, hs256(claims(system, iss="https://evil.example")))
call("wrong_aud", read_a, hs256(claims(system, aud="another-api")))
call("aud_list", read_a, hs256(claims(system, aud=["another-api", AUDIENCE])))
call("nbf_in_an_hour", read_a, hs256(claims(system, nbf=NOW + 3600)))
call("nbf_in_30_years", read_a, hs256(claims(system, nbf=NOW + 30 * 365 * 86400)))
call("iat_in_an_hour", read_a, hs256(claims(system, iat=NOW + 3600)))
call("nbf_now", read_a, hs256(claims(system, nbf=NOW - 5, iat=NOW - 5)))
call("rs256_good", read_a, jwt.encode(claims(system), key, algorithm="RS256", headers={"kid": "as-1"}))

# 3. user/ scopes: only a patient user's own compartment.
call("user_scope_without_fhiruser", read_a, hs256(claims("user/Patient.rs")))
call("user_scope_practitioner", read_a, hs256(claims("user/Patient.rs", fhirUser="Practitioner/dr-house")))
patient_user = hs256(claims("user/Patient.rs", fhirUser=f"Patient/{patient_a}"))
call("user_scope_patient_own", read_a, patient_user)
call("user_scope_patient_other", f"/Patient/{patient_b}", patient_user)
call("user_scope_patient_search", "/Patient", patient_user)

# 4. Updates: never a create, and an empty field is the owner's as a filled one is.
writer = hs256(claims("system/Patient.rsu"))
phantom = {
    "resourceType": "Patient",
    "id": "patient-PHANTOM1",
    "identifier": [{"system": "urn:oid:2.16.840.1.113883.2.1.3.2.4.18.48", "value": "PHANTOM1"}],
    "name": [{"family": "PHANTOM", "given": ["PAT"]}],
    "telecom": [{"system": "phone", "value": "07700900000"}],
}
call("put_unknown_id", "/Patient/patient-PHANTOM1", writer, method="PUT", body=phantom)
phantom_self = hs256(claims("patient/Patient.rsu", patient="patient-PHANTOM1"))
call("put_unknown_id_patient_token", "/Patient/patient-PHANTOM1", phantom_self, method="PUT", body=phantom)
call("read_phantom", "/Patient/patient-PHANTOM1", hs256(claims(system)))
empty = requests.get(f"{base}/Patient/{patient_empty}", headers={"Authorization": f"Bearer {hs256(claims(system))}"}, timeout=10).json()
report["empty_before"] = {"birthDate": empty.get("birthDate")}
filled = dict(empty)
filled.pop("meta", None)
filled["birthDate"] = "1999-01-01"
call("fill_empty_owned_field", f"/Patient/{patient_empty}", writer, method="PUT", body=filled)
call("read_after_fill", f"/Patient/{patient_empty}", hs256(claims(system)))
odd = dict(filled)
odd.pop("birthDate", None)
odd["nickname"] = "Al"
odd["name"] = [{**odd["name"][0], "nick": "Al"}]
call("put_unknown_elements", f"/Patient/{patient_empty}", writer, method="PUT", body=odd)

# 5. Paging: _count=0 is a count, a huge _offset an empty page, links never from Host.
call("count_zero", "/Patient?_count=0", hs256(claims(system)))
call("huge_offset", "/Patient?_offset=18446744073709551615", hs256(claims(system)))
call("negative_count", "/Patient?_count=-1", hs256(claims(system)))
u = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
conn.request("GET", "/Patient?_count=1", headers={
    "Host": "evil.example",
    "Authorization": f"Bearer {hs256(claims(system))}",
})
r = conn.getresponse()
links = {l["relation"]: l["url"] for l in json.loads(r.read()).get("link", [])}
report["forged_host"] = {"status": r.status, "links": links}
conn.close()


print(json.dumps(report, indent=1, sort_keys=True))
