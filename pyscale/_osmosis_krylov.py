"""Osmosis frames from one rational Krylov basis per image (``integrator="krylov"``).

Internal: :mod:`pyscale.osmosis` validates the input and calls these on canonical float64
batches ``(B, ny, nx)`` with a guidance image.

With the guidance ``v`` and ``s = sqrt(v)``, osmosis ``du/dt = A u`` with ``A = -K diag(1/v)``
(``K`` the graph Laplacian of the edge weights ``2 v_p v_q / (v_p + v_q)``) is similar to the
symmetric ``-H``, ``H = diag(1/s) K diag(1/s)``: ``u(t) = s * exp(-t H) (f / s)``. The basis
spans ``f / s``, ``s`` (the null vector of ``H``, so the steady state and the mass are kept
exactly) and ``(I + g H)^-1`` applied to the last basis vector for each pole ``g``. Each of these
is one implicit osmosis step of size ``g``: ``(I - g A) u = s x`` gives ``(I + g H)^-1 x = u /
s``. Every frame is the Galerkin approximation ``s * V exp(-t V^T H V) V^T (f / s)``, with the
coefficient of ``s`` kept apart (it does not change), so mass and steady state are exact.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.blas import dgemv

from ._ext import core
from ._osmosis_solver import report_failure

#: Poles cover ``POLE_SPAN * [min(t_first, t_last / 100), t_last]``: a little below the output
#: times, and at least two decades (measured: with the poles at ``POLE_SPAN * t`` alone, a
#: single time ``t`` needs twice as many solves for the same error).
POLE_SPAN = 0.3

#: The solves that build the basis stop at ``max(rtol, BASIS_RTOL)``: the frames are exact
#: projections onto whatever the basis spans, and tighter solves did not improve them (measured:
#: 1e-4 and 1e-6 gave the same frames to 2e-4 with two poles per decade).
BASIS_RTOL = 1e-5


def krylov_poles(times, per_decade):
    """Geometric poles, ``per_decade`` per decade of the span of :data:`POLE_SPAN`.

    Examples
    --------
    >>> krylov_poles(np.array([1.0, 10.0, 100.0]), 2).round(3).tolist()
    [0.3, 0.949, 3.0, 9.487, 30.0]
    """
    lo = np.log10(POLE_SPAN * min(times[0], times[-1] / 100))
    hi = np.log10(POLE_SPAN * times[-1])
    count = int(np.ceil((hi - lo) * per_decade - 1e-9)) + 1
    return np.logspace(lo, hi, count)


def _orthonormalise(basis, k, w):
    """Store ``w`` (B, n), made orthonormal to ``basis[:, :k]`` per image, as ``basis[:, k]``.

    Gram-Schmidt, repeated once where it cancelled most of ``w`` (a norm below 1/2 of the
    original: then rounding may have left components along the basis). Each pass is two BLAS
    products on the basis as it lies, the second one subtracting from ``w`` in place (``w`` may
    be overwritten; it must be C-contiguous).
    """
    norm = norm0 = _norms(w)
    if k:
        for _ in range(2):
            for wi, vi in zip(w, basis[:, :k], strict=True):
                vt = vi.T  # (n, k) in Fortran order, as BLAS takes it without a copy
                dgemv(-1.0, vt, dgemv(1.0, vt, wi, trans=1), beta=1.0, y=wi, overwrite_y=True)
            norm = _norms(w)
            if np.all(norm > 0.5 * norm0):
                break
            norm0 = norm
    np.divide(w, norm[:, None], out=basis[:, k])


def _norms(w):
    """The Euclidean norms of the rows of ``w`` (B, n), without a temporary of its size."""
    return np.sqrt(np.einsum("ij,ij->i", w, w))


def krylov_frames(f, stepper, times, *, per_decade, on_fail):
    """Osmosis frames (float64, ``(K, B, ny, nx)``) of ``f`` at ``times`` (stepper has ``v``)."""
    b, ny, nx = f.shape
    v = stepper.v
    s = np.sqrt(v).reshape(b, -1)
    poles = krylov_poles(times, per_decade)
    basis = np.empty((b, poles.size + 2, ny * nx))
    y0 = f.reshape(b, -1) / s
    _orthonormalise(basis, 0, s)  # H s = 0: this coefficient never changes
    _orthonormalise(basis, 1, y0.copy())  # y0 gives the coefficients below
    for j, g in enumerate(poles, start=2):
        u, report = stepper.step((s * basis[:, j - 1]).reshape(b, ny, nx), g)
        report_failure(report, g, stepper.rtol, stepper.maxiter, on_fail, stacklevel=5)
        _orthonormalise(basis, j, u.reshape(b, -1) / s)
    coef = np.matmul(basis, y0[:, :, None])[:, :, 0]  # (B, m)
    moving = basis[:, 1:]
    # V^T H V of the moving part, summed edge by edge over bands of rows in compiled code
    theta, vecs = np.linalg.eigh(core.krylov_projected(basis, 1, v, s.reshape(b, ny, nx)))
    theta = np.clip(theta, 0.0, None)  # H is positive semidefinite; rounding can dip below 0
    start = np.matmul(coef[:, None, 1:], vecs)  # (B, 1, m - 1)
    decay = np.exp(-times[None, :, None] * theta[:, None, :]) * start
    mix = np.matmul(decay, vecs.transpose(0, 2, 1))  # (B, T, m - 1)
    frames = np.empty((times.size, b, ny * nx))
    for i, fi in enumerate(frames.transpose(1, 0, 2)):  # written in place, time first
        np.matmul(mix[i], moving[i], out=fi)
        fi += coef[i, 0] * basis[i, 0]
        fi *= s[i]
    return frames.reshape(times.size, b, ny, nx)
