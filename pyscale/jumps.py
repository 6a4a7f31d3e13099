"""Fused Numba kernels for one exact jump ``U_t = a U_s + b G`` with counter-based draws.

The Gaussian draws are generated inside the loop (see :mod:`pyscale.noise`), never stored as a
separate array, and the loops run in parallel over elements. Every element's draw depends only on
``(key, flat index)``, so the results are identical for any number of threads.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .noise import ZIGGURAT_F, ZIGGURAT_X, normal_at, stream_key

__all__ = ["pixel_jump", "mode_jump", "set_threads"]


@nb.njit(nogil=True, parallel=True, error_model="numpy", cache=True)
def _pixel_jump(src, dst, a, b, key, start, X, F):
    s = src.reshape(-1)
    d = dst.reshape(-1)
    for n in nb.prange(s.size):
        d[n] = a * s[n] + b * normal_at(key, start + n, X, F)


@nb.njit(nogil=True, parallel=True, error_model="numpy", cache=True)
def _mode_jump(state, a, b, key, start, X, F):
    B, ny, nx = state.shape
    m = ny * nx
    for q in nb.prange(B * ny):
        k, l = q // ny, q % ny
        base = start + k * m + l * nx
        for c in range(nx):
            state[k, l, c] = a[l, c] * state[k, l, c] + b[l, c] * normal_at(key, base + c, X, F)


class _Threads:
    """Run a Numba kernel with a given thread count (the setting is per calling thread)."""

    def __init__(self, workers):
        self.n = max(1, min(int(workers), nb.config.NUMBA_NUM_THREADS))

    def __enter__(self):
        self.old = nb.get_num_threads()
        nb.set_num_threads(self.n)

    def __exit__(self, *exc):
        nb.set_num_threads(self.old)


def set_threads(workers):
    """Context manager that runs the enclosed Numba kernels on ``workers`` threads."""
    return _Threads(workers)


def pixel_jump(src, dst, a, b, seed, stream, workers, start=0):
    """``dst = a * src + b * z(seed, stream, start + flat index)`` for scalars ``a``, ``b``."""
    with set_threads(workers):
        _pixel_jump(src, dst, float(a), float(b), stream_key(seed, stream), np.int64(start),
                    ZIGGURAT_X, ZIGGURAT_F)


def mode_jump(state, a, b, seed, stream, workers, start=0):
    """In place, ``state = a * state + b * z`` per mode; ``state`` is ``(B, ny, nx)``.

    The draw of element ``(k, l, c)`` has flat index ``start + (k * ny + l) * nx + c``.
    """
    a = np.ascontiguousarray(np.broadcast_to(a, state.shape[1:]), dtype=np.float64)
    b = np.ascontiguousarray(np.broadcast_to(b, state.shape[1:]), dtype=np.float64)
    with set_threads(workers):
        _mode_jump(state, a, b, stream_key(seed, stream), np.int64(start), ZIGGURAT_X, ZIGGURAT_F)
