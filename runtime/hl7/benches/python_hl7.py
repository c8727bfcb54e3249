"""python-hl7 on the same messages as `cargo bench -p accord-hl7 --bench hl7`, for
comparison: msg/s for hl7.parse and for parse + ten fields, median of 7 samples.

    python3 runtime/hl7/benches/python_hl7.py
"""
import os
import statistics
import time

import hl7

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "corpus")
ADT_FIELDS = ["MSH.F9.R1.C1", "MSH.F10", "PID.F3.R1.C1", "PID.F5.R1.C1", "PID.F5.R1.C2", "PID.F7", "PID.F8", "PV1.F2", "PV1.F3.R1.C1", "PID.F11.R1.C5"]


def load(path):
    raw = open(path, "rb").read()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    return raw.decode("latin-1").replace("\r\n", "\r").replace("\n", "\r").strip("\r")


def rate(messages, fn):
    samples = []
    for _ in range(7):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < 0.25:
            for m in messages:
                fn(m)
            n += len(messages)
        samples.append(n / (time.perf_counter() - start))
    return statistics.median(samples)


def read_ten(text):
    msg = hl7.parse(text)
    for f in ADT_FIELDS:
        try:
            msg[f]
        except (KeyError, IndexError):
            pass


if __name__ == "__main__":
    adt = [load(os.path.join(ROOT, "bench", "adt_a01_1764b.hl7"))]
    corpus_dir = os.path.join(ROOT, "hl7v2", "fhir-converter")
    corpus = [load(os.path.join(corpus_dir, f)) for f in sorted(os.listdir(corpus_dir)) if f.endswith(".hl7")]
    print("python-hl7", getattr(hl7, "__version__", ""), "one core, median of 7 samples")
    for name, msgs in [("ADT^A01 1764 B", adt), ("whole corpus", corpus)]:
        print(f"{name:<16} parse {rate(msgs, hl7.parse):>10.0f} msg/s   parse + ten fields {rate(msgs, read_ten):>10.0f} msg/s")
