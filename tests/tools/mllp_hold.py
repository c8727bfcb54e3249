#!/usr/bin/env python3
"""Holds a production's MLLP listener the way a broken or hostile sender would, over
loopback only and bounded in count and time, and measures the production from /proc.

Usage: mllp_hold.py PORT PID CONNECTIONS FRAME_BYTES TRICKLE_S ADT_FILE

- unfinished: CONNECTIONS connections each send the start of a frame and FRAME_BYTES of
  message, never the end, and stay open. The production's resident memory before and
  while they are held.
- trickle: three connections send 0x1C bytes (the first half of an end marker, never the
  second) one at a time for TRICKLE_S seconds while a fourth sends a real ADT every 0.2 s:
  the production's CPU seconds over the period and the ADTs' ACK times.

Prints one JSON object. Run by compiler/tests/resilience.rs (`security_*`) and by hand
for the performance page.
"""

import json
import socket
import sys
import threading
import time

port, pid, connections, frame_bytes = (int(a) for a in sys.argv[1:5])
trickle_s = float(sys.argv[5])
adt = open(sys.argv[6], "rb").read().replace(b"\r\n", b"\r").replace(b"\n", b"\r")
TICKS = 100  # clock ticks a second on Linux


def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s():
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def send_adt(control):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    msg = adt.replace(b"|P|", b"|P|", 1)
    lines = msg.split(b"\r")
    head = lines[0].split(b"|")
    head[9] = control.encode()
    lines[0] = b"|".join(head)
    t = time.perf_counter()
    s.sendall(b"\x0b" + b"\r".join(lines) + b"\x1c\r")
    ack = b""
    while b"\x1c\r" not in ack:
        chunk = s.recv(4096)
        if not chunk:
            break
        ack += chunk
    took = time.perf_counter() - t
    s.close()
    return took, b"MSA|AA" in ack or b"MSA|CA" in ack


report = {}
before = rss_kib()
held = []
for i in range(connections):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"\x0bMSH|^~\\&|HOLD|HOLD|HUB|HUB|20261205000000||ADT^A01|H" + str(i).encode() + b"|P|2.4\r" + b"X" * frame_bytes)
    held.append(s)
time.sleep(2)
during = rss_kib()
alive = 0
for s in held:
    s.setblocking(False)
    try:
        alive += s.recv(1) != b""
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
report["unfinished"] = {
    "connections": connections,
    "still_open": alive,
    "rss_before_kib": before,
    "rss_during_kib": during,
    "per_connection_kib": round((during - before) / max(connections, 1), 1),
}
for s in held:
    s.close()
time.sleep(1)

stop = time.time() + trickle_s
trickled = [0, 0, 0]


def trickle(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"\x0bMSH|^~\\&|T|T|HUB|HUB|20261205000000||ADT^A01|T|P|2.4\r")
    try:
        while time.time() < stop:
            s.sendall(b"\x1c")
            trickled[n] += 1
            if trickled[n] % 64 == 0:
                time.sleep(0.001)
    except OSError:
        pass
    s.close()


cpu_before, t0 = cpu_s(), time.time()
threads = [threading.Thread(target=trickle, args=(n,)) for n in range(3)]
for t in threads:
    t.start()
acks, ok = [], 0
n = 0
while time.time() < stop:
    took, good = send_adt(f"TRICKLE{n}")
    acks.append(took)
    ok += good
    n += 1
    time.sleep(0.2)
for t in threads:
    t.join()
elapsed = time.time() - t0
acks.sort()
report["trickle"] = {
    "seconds": round(elapsed, 1),
    "bytes_trickled": sum(trickled),
    "cpu_s": round(cpu_s() - cpu_before, 2),
    "cpu_share": round((cpu_s() - cpu_before) / elapsed, 3),
    "adts": len(acks),
    "adts_acked": ok,
    "ack_ms_median": round(acks[len(acks) // 2] * 1000, 2) if acks else None,
    "ack_ms_max": round(acks[-1] * 1000, 2) if acks else None,
    "rss_after_kib": rss_kib(),
}
print(json.dumps(report, indent=1, sort_keys=True))
