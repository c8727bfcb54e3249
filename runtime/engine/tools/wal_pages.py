#!/usr/bin/env python3
"""Which B-trees each journal transaction writes (book: Performance, "Where the
writer's pages go").

Copy a running production's journal and its WAL while the load benchmark runs:

    cp var/journal.sqlite var/journal.sqlite-wal /tmp/snap/

then run `python3 runtime/engine/tools/wal_pages.py /tmp/snap/journal.sqlite`. The WAL's
frames say which page each transaction wrote (a frame with a database size ends a
transaction); SQLite's `dbstat` says which table or index each page belongs to. The
script prints, per table and index, the pages an average transaction wrote. It reads a
copy: the copy is opened, and so checkpointed, in a scratch folder.
"""

import collections
import os
import shutil
import sqlite3
import struct
import sys
import tempfile

WAL_HEADER = 32
FRAME_HEADER = 24


def transactions(wal: bytes):
    """The pages of each committed transaction in the WAL, in order."""
    _magic, _version, page_size, _seq, salt1, salt2, _c1, _c2 = struct.unpack(
        ">IIIIIIII", wal[:WAL_HEADER]
    )
    out, current, offset = [], [], WAL_HEADER
    while offset + FRAME_HEADER + page_size <= len(wal):
        page, size_after, s1, s2, _k1, _k2 = struct.unpack(
            ">IIIIII", wal[offset : offset + FRAME_HEADER]
        )
        if (s1, s2) != (salt1, salt2):
            break  # frames of an earlier generation of the WAL
        current.append(page)
        if size_after:
            out.append(current)
            current = []
        offset += FRAME_HEADER + page_size
    return out


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    db = sys.argv[1]
    with open(db + "-wal", "rb") as f:
        txns = transactions(f.read())
    if not txns:
        print("no committed transaction in the WAL", file=sys.stderr)
        return 1
    scratch = tempfile.mkdtemp()
    try:
        copy = os.path.join(scratch, "journal.sqlite")
        shutil.copy(db, copy)
        shutil.copy(db + "-wal", copy + "-wal")
        owner = dict(sqlite3.connect(copy).execute("SELECT pageno, name FROM dbstat"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    pages = collections.Counter()
    for t in txns:
        for p in set(t):
            pages[owner.get(p, "(not in the database yet)")] += 1
    frames = sum(map(len, txns))
    print(f"{len(txns)} transactions, {frames / len(txns):.1f} pages each")
    for name, n in pages.most_common():
        print(f"{name:32} {n / len(txns):6.2f} pages per transaction")
    return 0


if __name__ == "__main__":
    sys.exit(main())
