"""Fused kernels for one exact jump ``U_t = a U_s + b G`` with counter-based draws.

The Gaussian draws are generated inside the loop (see :mod:`pyscale.noise`), never stored as a
separate array; the loops are split over threads by :func:`pyscale._threads.run_chunked`. Every
element's draw depends only on ``(key, flat index)``, so the results are identical for any number
of threads.

Coefficients come in *planes*: ``a[p]``, ``b[p]`` (a scalar per plane for pixel-basis processes, a
``(ny, nx)`` array per plane for DCT-domain ones), and image ``i`` of a canonical batch
``(B, ny, nx)`` uses plane ``plane_of[i]``. One plane serves a batch at one shared time; one plane
per distinct time serves per-example times.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._ext import core
from ._threads import run_chunked
from .noise import ZIGGURAT_F, ZIGGURAT_X, normal_at, stream_key

__all__ = ["pixel_jump", "mode_jump", "dct_frames"]


@nb.njit(nogil=True, error_model="numpy", cache=True)
def _pixel_jump(s, d, a, b, plane_of, m, key, start, lo, hi):
    """``d = a[p] s + b[p] z`` on flat indices ``[lo, hi)``; True when every result is finite."""
    bad = 0.0
    n = lo
    while n < hi:
        img = n // m
        end = min(hi, (img + 1) * m)
        p = plane_of[img]
        ai, bi = a[p], b[p]
        for q in range(n, end):
            d[q] = ai * s[q] + bi * normal_at(key, start + q)
            bad += d[q] * 0.0  # NaN once any result is NaN or infinite
        n = end
    return bad == 0.0


@nb.njit(nogil=True, error_model="numpy", cache=True)
def _mode_jump(state, a, b, plane_of, key, start, lo, hi):
    B, ny, nx = state.shape
    m = ny * nx
    for q in range(lo, hi):
        k, l = q // ny, q % ny
        p = plane_of[k]
        base = start + k * m + l * nx
        for c in range(nx):
            state[k, l, c] = a[p, l, c] * state[k, l, c] + b[p, l, c] * normal_at(key, base + c)


def _planes(plane_of, batch):
    if plane_of is None:
        return np.zeros(batch, dtype=np.int64)
    return plane_of


def pixel_jump(src, dst, a, b, seed, stream, workers, start=0, plane_of=None):
    """``dst = a * src + b * z(seed, stream, start + flat index)``; return True if all finite.

    ``src`` and ``dst`` are C-contiguous ``(B, ...)`` arrays of one shape and dtype; ``a`` and ``b``
    are scalars or 1-D arrays of per-plane coefficients, and image ``i`` uses plane
    ``plane_of[i]`` (plane 0 when ``plane_of`` is None).
    """
    a = np.atleast_1d(np.asarray(a, dtype=np.float64))
    b = np.atleast_1d(np.asarray(b, dtype=np.float64))
    batch = src.shape[0] if src.ndim else 1
    s, d = src.reshape(-1), dst.reshape(-1)
    m = max(1, s.size // max(batch, 1))
    ok = run_chunked(
        _pixel_jump,
        s.size,
        workers,
        s,
        d,
        a,
        b,
        _planes(plane_of, batch),
        np.int64(m),
        stream_key(seed, stream),
        np.int64(start),
    )
    return all(ok)


def mode_jump(state, a, b, seed, stream, workers, start=0, plane_of=None):
    """In place, ``state = a * state + b * z`` per mode; ``state`` is ``(B, ny, nx)``.

    ``a`` and ``b`` broadcast to ``(ny, nx)`` (one plane) or are ``(P, ny, nx)`` with ``plane_of``.
    The draw of element ``(k, l, c)`` has flat index ``start + (k * ny + l) * nx + c``.
    """
    B, ny, nx = state.shape

    def planes(c):
        c = np.asarray(c, dtype=np.float64)
        c = np.broadcast_to(c, (ny, nx))[None] if c.ndim < 3 else c
        return np.ascontiguousarray(c)

    a, b = planes(a), planes(b)
    run_chunked(
        _mode_jump,
        B * ny,
        workers,
        state,
        a,
        b,
        _planes(plane_of, B),
        stream_key(seed, stream),
        np.int64(start),
        cost=nx,
    )


def dct_frames(canon, coef_a, coef_b, seed, workers, out, plane_of=None, start=0):
    """All frames of a DCT-domain trajectory in one compiled call (one transform per frame).

    ``canon`` is ``(B, ny, nx)``; ``coef_a``, ``coef_b`` are ``(K, P, ny, nx)``; ``out`` is
    ``(K, B, ny, nx)`` of the dtype of ``canon``; draws have flat indices offset by ``start``.
    Returns False when a value the kernels wrote was not finite, True when every frame is finite.
    """
    _, finite = core.dct_trajectory(
        canon,
        coef_a,
        coef_b,
        seed,
        True,  # the kernel skips the draws of frames whose coef_b is zero
        int(workers),
        int(start),
        ZIGGURAT_X,
        ZIGGURAT_F,
        out=out,
        plane_of=plane_of,
        check=True,
    )
    return finite
