"""Fused Numba kernels for one exact jump ``U_t = a U_s + b G`` with counter-based draws.

The Gaussian draws are generated inside the loop (see :mod:`pyscale.noise`), never stored as a
separate array; the loops are split over threads by :func:`pyscale._threads.run_chunked`. Every element's draw depends only on
``(key, flat index)``, so the results are identical for any number of threads.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._threads import run_chunked
from .noise import normal_at, stream_key

__all__ = ["pixel_jump", "mode_jump"]


@nb.njit(nogil=True, error_model="numpy", cache=True)
def _pixel_jump(s, d, a, b, key, start, lo, hi):
    for n in range(lo, hi):
        d[n] = a * s[n] + b * normal_at(key, start + n)


@nb.njit(nogil=True, error_model="numpy", cache=True)
def _mode_jump(state, a, b, key, start, lo, hi):
    B, ny, nx = state.shape
    m = ny * nx
    for q in range(lo, hi):
        k, l = q // ny, q % ny
        base = start + k * m + l * nx
        for c in range(nx):
            state[k, l, c] = a[l, c] * state[k, l, c] + b[l, c] * normal_at(key, base + c)


def pixel_jump(src, dst, a, b, seed, stream, workers, start=0):
    """``dst = a * src + b * z(seed, stream, start + flat index)`` for scalars ``a``, ``b``.

    ``src`` and ``dst`` are C-contiguous arrays of one shape and dtype.
    """
    s, d = src.reshape(-1), dst.reshape(-1)
    run_chunked(_pixel_jump, s.size, workers, s, d, float(a), float(b), stream_key(seed, stream),
                np.int64(start))


def mode_jump(state, a, b, seed, stream, workers, start=0):
    """In place, ``state = a * state + b * z`` per mode; ``state`` is ``(B, ny, nx)``.

    The draw of element ``(k, l, c)`` has flat index ``start + (k * ny + l) * nx + c``.
    """
    a = np.ascontiguousarray(np.broadcast_to(a, state.shape[1:]), dtype=np.float64)
    b = np.ascontiguousarray(np.broadcast_to(b, state.shape[1:]), dtype=np.float64)
    B, ny, nx = state.shape
    run_chunked(_mode_jump, B * ny, workers, state, a, b, stream_key(seed, stream),
                np.int64(start), cost=nx)
