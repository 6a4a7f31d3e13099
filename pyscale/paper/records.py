"""Result records of the comparison: one file per image, written atomically, keyed by a hash.

The key hashes everything that determines an image's result (models and their parameters, times,
image content and name, grey conversion, size, seed, dtype, feature extractor, package version),
so a rerun with the same arguments reuses finished images and changed arguments never do.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

__all__ = [
    "FORMAT",
    "record_key",
    "save_record",
    "load_record",
    "write_text",
    "write_csv",
    "write_json",
]

#: Version of the record layout; bump it when the layout or the computation changes.
FORMAT = 1


def _file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def record_key(settings_json, name, path):
    """The key of one image's record: a hash of the settings, the name and the file's bytes."""
    text = f"{settings_json}\0{name}\0{_file_digest(path)}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def write_bytes(path, data):
    """Write ``data`` to ``path`` atomically (a temporary file, synced, then renamed)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_text(path, text):
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_csv(path, rows, columns):
    """Write dict ``rows`` as CSV with the given ``columns`` (missing values empty)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: ("" if r.get(c) is None else r.get(c)) for c in columns})
    write_text(path, buf.getvalue())


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def write_json(path, obj):
    """Write ``obj`` as indented JSON (numpy scalars and arrays as numbers and lists)."""
    write_text(path, json.dumps(obj, indent=1, default=_json_default))


def save_record(path, res):
    """Store one image's result (see :func:`pyscale.paper.runner.image_task`)."""
    arrays = {k: res[k] for k in ("shape", "variance")}
    if res["features"] is not None:
        arrays["features"] = res["features"]
    if res["frames"] is not None:
        arrays["frames"] = res["frames"]
    arrays["seconds"] = np.array(
        [res["seconds_processes"], res["seconds_features"], res["seconds_total"]]
    )
    arrays["name"] = np.array(res["name"])
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes(path, buf.getvalue())


def load_record(path, want_features):
    """A stored record as a dict of arrays, or None when it is unreadable or lacks features."""
    try:
        with np.load(path, allow_pickle=False) as z:
            rec = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError):
        return None  # unreadable record (e.g. disk full at the time): recompute
    if want_features and "features" not in rec:
        return None
    return rec
