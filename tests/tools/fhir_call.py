#!/usr/bin/env python3
"""One FHIR API request through Python `requests`, with an HS256 bearer token made by
`PyJWT`. Usage: fhir_call.py METHOD URL SECRET SCOPE PATIENT|- [BODY.json]

The token names the issuer and audience of the tests' configurations (`[auth]`).

Prints {"status": N, "location": ..., "body": ...}. Used by compiler/tests/patient_portal.rs."""

import json
import sys
import time

import jwt
import requests

method, url, secret, scope, patient = sys.argv[1:6]
claims = {"sub": "portal-web", "scope": scope, "exp": int(time.time()) + 300,
          "iss": "https://auth.accord.test", "aud": "accord-fhir-test"}
if patient != "-":
    claims["patient"] = patient
headers = {
    "Authorization": "Bearer " + jwt.encode(claims, secret, algorithm="HS256"),
    "Accept": "application/fhir+json",
}
data = None
if len(sys.argv) > 6:
    with open(sys.argv[6], encoding="utf-8") as f:
        data = f.read()
    headers["Content-Type"] = "application/fhir+json"
r = requests.request(method, url, headers=headers, data=data, timeout=10)
try:
    body = r.json()
except ValueError:
    body = r.text
print(json.dumps({"status": r.status_code, "location": r.headers.get("Location"), "body": body}))
