#!/usr/bin/env python3
"""Makes an authorisation server's RS256 key for the tests: the private key as PEM (the
test clients sign with it) and its public half as a JWKS (the production checks with it),
both before the production starts. Usage: make_jwks.py PRIVATE.pem JWKS.json [KID]"""

import json
import sys

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

pem_path, jwks_path = sys.argv[1:3]
kid = sys.argv[3] if len(sys.argv) > 3 else "as-1"
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
with open(pem_path, "wb") as f:
    f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
with open(jwks_path, "w", encoding="utf-8") as f:
    json.dump({"keys": [jwk]}, f)
