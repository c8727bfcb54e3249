#!/usr/bin/env python3
"""Abuses a production's HTTP listener the way a careless or hostile client would, over
loopback only, bounded in count and time, and says what the listener did.

Usage: http_abuse.py API_PORT MLLP_PORT HEADER_TIMEOUT_S PER_ADDRESS ADT_FILE

- half_sent: 40 connections from 127.0.0.1 each send half a request and stop. How many
  the listener refused at once, how many it held, and whether it closed every held one
  within the header timeout (plus slack).
- other_address: while 127.0.0.1 holds its connections, a request from 127.0.0.2.
- mllp_during_flood: an ADT over MLLP while the flood holds, and its MSA code.
- rate: 40 requests in a row on one keep-alive connection: how many were 429, and the
  Retry-After of the first.
- idle_keep_alive: a keep-alive connection idle after its answer: closed by the server?

Prints one JSON object. Run by compiler/tests/fhir_api.rs (`security_*`).
"""

import json
import socket
import sys
import time

api_port, mllp_port, header_timeout, per_address = (int(a) for a in sys.argv[1:5])
adt = open(sys.argv[5], "rb").read().replace(b"\n", b"\r")
report = {}
HALF = b"GET /metadata HTTP/1.1\r\nHost: probe\r\nX-Slow: "


def closed_by_server(s, within):
    """Whether the server closes `s` within `within` seconds (EOF or reset)."""
    s.settimeout(within)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def connect(source="127.0.0.1"):
    return socket.create_connection(("127.0.0.1", api_port), timeout=5, source_address=(source, 0))


def request(s, path="/metadata"):
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            return None, {}
        head += chunk
    lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
    length = int(headers.get("content-length", "0"))
    body = head.split(b"\r\n\r\n", 1)[1]
    while len(body) < length:
        body += s.recv(4096)
    return status, headers


# 1. The half-sent flood.
held, refused = [], 0
for _ in range(40):
    try:
        s = connect()
        s.sendall(HALF)
        held.append(s)
    except OSError:
        refused += 1
time.sleep(0.5)
still = []
for s in held:
    s.settimeout(0.05)
    try:
        if s.recv(1) == b"":
            refused += 1
            continue
    except socket.timeout:
        pass
    except OSError:
        refused += 1
        continue
    still.append(s)
report["half_sent"] = {"sent": 40, "held": len(still), "refused_at_once": refused}

# 2 and 3. Another address, and MLLP, while the flood holds.
try:
    s = connect("127.0.0.2")
    status, _ = request(s)
    report["other_address"] = {"status": status}
    s.close()
except OSError as e:
    report["other_address"] = {"error": str(e)}
m = socket.create_connection(("127.0.0.1", mllp_port), timeout=10)
m.sendall(b"\x0b" + adt + b"\x1c\r")
ack = b""
while b"\x1c\r" not in ack:
    chunk = m.recv(4096)
    if not chunk:
        break
    ack += chunk
m.close()
msa = [seg for seg in ack.strip(b"\x0b\x1c\r").split(b"\r") if seg.startswith(b"MSA")]
report["mllp_during_flood"] = {"msa": msa[0].split(b"|")[1].decode() if msa else None}

# The held half-requests are closed by the server within the header timeout.
t = time.time()
report["half_sent"]["closed_by_server"] = sum(closed_by_server(s, header_timeout + 3) for s in still)
report["half_sent"]["closed_within_s"] = round(time.time() - t, 1)
for s in still:
    s.close()

# 4. The rate limit, on one keep-alive connection (after the flood's slots are free).
time.sleep(0.5)
s = connect()
statuses, retry_after = [], None
for _ in range(40):
    status, headers = request(s)
    statuses.append(status)
    if status == 429 and retry_after is None:
        retry_after = headers.get("retry-after")
report["rate"] = {"ok": statuses.count(200), "too_many": statuses.count(429), "retry_after": retry_after}
s.close()

# 5. A keep-alive connection left idle after its answer.
time.sleep(1.5)
s = connect()
status, _ = request(s)
report["idle_keep_alive"] = {"status": status, "closed_by_server": closed_by_server(s, header_timeout + 3)}
s.close()

print(json.dumps(report, indent=1, sort_keys=True))
