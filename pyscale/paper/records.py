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
    "output_folder",
    "record_key",
    "save_record",
    "load_record",
    "write_text",
    "write_csv",
    "write_json",
]

#: Version of the record layout; bump it when the layout or the computation changes.
FORMAT = 3


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


def output_folder(out):
    """The folder ``out`` as a path, created if needed."""
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a folder path, got {type(out).__name__}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {str(out)!r} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_bytes(path, data):
    """Write ``data`` to ``path`` atomically (a temporary file, synced, then renamed).

    The temporary file is removed on every failure (a full disk, an interrupt), so a failed
    write leaves nothing behind and the old file, if any, intact.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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


def _checksum(arrays):
    """SHA-256 of the arrays' names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_record(path, res):
    """Store one image's result with its key and a checksum of its content.

    ``res`` is what :func:`pyscale.paper.runner.image_task` returns.
    """
    arrays = {k: np.asarray(res[k]) for k in ("shape", "variance", "input_variance")}
    if res["features"] is not None:
        arrays["features"] = res["features"]
    if res["frames"] is not None:
        arrays["frames"] = res["frames"]
    arrays["seconds"] = np.array(
        [res["seconds_processes"], res["seconds_features"], res["seconds_total"]]
    )
    arrays["name"] = np.array(res["name"])
    arrays["key"] = np.array(res["key"])
    arrays["checksum"] = np.array(_checksum(arrays))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes(path, buf.getvalue())


def load_record(path, key, want_features):
    """Read a record; return ``(record, None)`` or ``(None, why it cannot be used)``.

    A record is refused when it cannot be read (truncated, not a zip file), when it was stored
    for another key (another image's, or copied by hand), when its content does not match its
    checksum (edited or bit-flipped) or when it lacks the features asked for.
    """
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            rec = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - any unreadable file is recomputed
        return None, f"unreadable ({type(exc).__name__})"
    stored = rec.pop("checksum", None)
    if "key" not in rec or str(rec["key"]) != key:
        return None, "stored for another image or other settings"
    if stored is None or str(stored) != _checksum(rec):
        return None, "its content does not match its checksum"
    if want_features and "features" not in rec:
        return None, "it has no features"
    return rec, None
