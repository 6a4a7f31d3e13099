"""A bounded cache of per-mode trajectory coefficients, shared by the processes of a kind.

The coefficient planes of a DCT-domain trajectory (two ``(K, ny, nx)`` float64 arrays) cost
9-15 ms to compute for the paper's six times on a 321 x 481 photo, as much as a quarter of the
trajectory itself, and they are the same on every call with the same process parameters, times
and image size. Entries are read-only; the least recently used ones are dropped when the cache
holds more than :data:`MAX_BYTES`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

__all__ = ["MAX_BYTES", "cached_coefficients", "clear", "coefficient_key", "held_bytes"]

#: Bytes of coefficient planes kept at most: the four DCT-domain models of the paper at its six
#: times, for both orientations of a 321 x 481 photo (8 x 14.8 MB).
MAX_BYTES = 128 << 20

_entries: OrderedDict = OrderedDict()
_lock = threading.Lock()
_held = 0


def cached_coefficients(key, compute):
    """The arrays ``compute()`` returns for ``key``, computed once while they stay cached.

    ``key`` is hashable and fixes the result; arrays larger than the whole cache are returned
    without being kept.
    """
    global _held
    with _lock:
        hit = _entries.get(key)
        if hit is not None:
            _entries.move_to_end(key)
            return hit
    arrays = tuple(compute())
    size = sum(a.nbytes for a in arrays)
    if size > MAX_BYTES:
        return arrays
    for a in arrays:
        a.flags.writeable = False
    with _lock:
        if key not in _entries:
            _entries[key] = arrays
            _held += size
        while _held > MAX_BYTES:
            _, old = _entries.popitem(last=False)
            _held -= sum(a.nbytes for a in old)
        return _entries.get(key, arrays)


def clear():
    """Drop every cached entry."""
    global _held
    with _lock:
        _entries.clear()
        _held = 0


def held_bytes():
    """Bytes held by the cache now."""
    return _held


def coefficient_key(params):
    """``params`` (a dict) as a hashable key, or None if a value is not a plain scalar or string.

    Callables and arrays are left out on purpose: a function can change what it returns and an
    array can be changed in place, so results derived from them are not cached.
    """
    items = []
    for name, value in sorted(params.items()):
        if isinstance(value, np.generic):
            value = value.item()
        if value is not None and not isinstance(value, (bool, int, float, str)):
            return None
        items.append((name, value))
    return tuple(items)
