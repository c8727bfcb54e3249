#!/usr/bin/env python3
"""The console benchmark's page client (book: Performance, "The console on a large
journal"): logs in to a running production's console, then for DURATION seconds asks for
message searches (newest, by interface, by control id, by patient, by state) and message
viewer pages of random messages, PAGES_PER_S a second (default 20, a room of operators;
0: one after another), and prints each kind's count and its p50, p95 and longest time in
milliseconds, as JSON. Control ids, patients and ids are sampled from the SQLite journal
at the start.

    [PAGES_PER_S=20] console_pages.py BASE_URL OPERATOR PASSWORD JOURNAL DURATION_S
"""
import os
import http.client
import json
import random
import sqlite3
import sys
import time
import urllib.parse

base, operator, password, journal, duration = sys.argv[1:6]
duration = float(duration)
url = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)


def ask(method, path, body=None, cookie=None):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie:
        headers["Cookie"] = cookie
    started = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, r.getheader("Set-Cookie"), data, (time.perf_counter() - started) * 1000


status, set_cookie, _, _ = ask(
    "POST", "/console/login",
    urllib.parse.urlencode({"name": operator, "password": password}))
assert status == 303, f"login: {status}"
cookie = set_cookie.split(";")[0]

db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
rows = db.execute(
    "SELECT control_id, patient_id FROM messages WHERE direction = 'in' "
    "AND id IN (SELECT abs(random()) % (SELECT MAX(id) FROM messages) FROM messages LIMIT 400)"
).fetchall()
top = db.execute("SELECT MAX(id) FROM messages").fetchone()[0]
total = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
interfaces = [r[0] for r in db.execute("SELECT DISTINCT interface FROM messages LIMIT 20")]
db.close()
controls = [r[0] for r in rows if r[0]] or ["none"]
patients = [r[1] for r in rows if r[1]] or ["none"]

kinds = {
    "search newest": lambda: "/console/messages",
    "search interface": lambda: "/console/messages?interface=" + random.choice(interfaces),
    "search control id": lambda: "/console/messages?control=" + urllib.parse.quote(random.choice(controls)),
    "search patient": lambda: "/console/messages?patient=" + urllib.parse.quote(random.choice(patients)),
    "search dead": lambda: "/console/messages?state=dead",
    "viewer": lambda: f"/console/messages/{random.randint(1, top)}",
    # Not in the target: it counts every message of every interface.
    "dashboard": lambda: "/console/",
}
times = {k: [] for k in kinds}
failed = {}
end = time.time() + duration
rate = float(os.environ.get("PAGES_PER_S") or 20)
every_s = 1 / rate if rate > 0 else 0
next_at = time.time()
while time.time() < end:
    if every_s:
        time.sleep(max(0.0, next_at - time.time()))
        next_at += every_s
    kind = random.choice(list(kinds))
    path = kinds[kind]()
    status, _, body, took = ask("GET", path, cookie=cookie)
    if status not in (200, 404):
        failed.setdefault(f"{kind}: {status}", body[:200].decode("utf-8", "replace"))
        continue
    times[kind].append(took)


def pct(values, p):
    values = sorted(values)
    return values[max(0, -(-len(values) * p // 100) - 1)] if values else None


# The target is the search and the viewer's: the dashboard is reported on its own.
every = [t for k, v in times.items() if k != "dashboard" for t in v]
print(json.dumps({
    "journal_rows": total,
    "pages": len(every),
    "pages_per_s": rate,
    "failed": failed,
    "p50_ms": pct(every, 50), "p95_ms": pct(every, 95), "max_ms": max(every) if every else None,
    "by_kind": {k: {"n": len(v), "p50_ms": pct(v, 50), "p95_ms": pct(v, 95),
                    "max_ms": max(v) if v else None} for k, v in times.items()},
}, indent=1))
