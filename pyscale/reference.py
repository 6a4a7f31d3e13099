"""Naive numpy/scipy implementations of every process: the oracle of the tests.

Nothing here uses closed forms, jumps or compiled code. The linear models are stepped one time
unit at a time with ``scipy.fft`` (transforming back to pixels after every step), osmosis uses an
assembled ``scipy.sparse`` matrix and ``scipy.sparse.linalg.bicgstab``. Noise comes from
``numpy.random.default_rng``, so these chains agree with pyscale in law, not draw by draw. The
functions take one image, ``(H, W)`` grey or ``(H, W, C)`` colour (filtered channel by channel).
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = [
    "decay_rates",
    "dpm_chain",
    "diffusion_chain",
    "blurring_chain",
    "heat_dissipation_chain",
    "osmosis_matrix",
    "osmosis_chain",
    "trajectory",
]


def _channels(u):
    return u[..., None] if u.ndim == 2 else u


def _restore(frames, u):
    return frames[..., 0] if u.ndim == 2 else frames


def decay_rates(ny, nx, spectrum="continuous"):
    """Decay rate of every DCT mode, computed from its frequencies one mode at a time."""
    mu = np.empty((ny, nx))
    for l in range(ny):
        for k in range(nx):
            if spectrum == "continuous":
                mu[l, k] = np.pi**2 * ((k / nx) ** 2 + (l / ny) ** 2)
            else:
                mu[l, k] = (
                    4 * np.sin(np.pi * k / (2 * nx)) ** 2 + 4 * np.sin(np.pi * l / (2 * ny)) ** 2
                )
    return mu


def _blur_step(u, factor):
    """One deterministic step in pixel space: transform, damp every mode, transform back.

    ``u`` is ``(H, W, C)``; every channel is transformed on its own (axes 0 and 1).
    """
    coef = scipy.fft.dctn(u, norm="ortho", axes=(0, 1))
    return scipy.fft.idctn(factor[..., None] * coef, norm="ortho", axes=(0, 1))


def _white(rng, shape, dc_free):
    g = rng.standard_normal(shape)
    if dc_free:  # remove the DC component (the per-channel mean) of the draw
        g -= g.mean(axis=(0, 1), keepdims=True)
    return g


def dpm_chain(u0, times, alpha, beta, rng):
    """``u_i = alpha_i u_{i-1} + beta_i g_i`` step by step; ``alpha``, ``beta`` may be arrays."""
    times = [int(t) for t in times]
    T = times[-1]
    a = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (max(T, 1),))
    b = np.broadcast_to(np.asarray(beta, dtype=np.float64), (max(T, 1),))
    u = np.array(u0, dtype=np.float64)
    frames = []
    for i in range(1, T + 1):
        u = a[i - 1] * u + b[i - 1] * rng.standard_normal(u.shape)
        if i in times:
            frames.append(u.copy())
    if times[0] == 0:
        frames.insert(0, np.array(u0, dtype=np.float64))
    return np.stack(frames)


def diffusion_chain(u0, times, spectrum="continuous"):
    """Homogeneous diffusion stepped one time unit at a time."""
    u = _channels(np.array(u0, dtype=np.float64))
    factor = np.exp(-decay_rates(u.shape[0], u.shape[1], spectrum))
    frames = [u.copy()] if times[0] == 0 else []
    for i in range(1, int(times[-1]) + 1):
        u = _blur_step(u, factor)
        if i in times:
            frames.append(u.copy())
    return _restore(np.stack(frames), np.asarray(u0))


def heat_dissipation_chain(u0, times, sigma, rng, spectrum="continuous", preserve_mean=False):
    """Rissanen et al.: the blur stepped one unit at a time, fresh observation noise per frame."""
    u = _channels(np.array(u0, dtype=np.float64))
    factor = np.exp(-decay_rates(u.shape[0], u.shape[1], spectrum))
    frames = [u.copy()] if times[0] == 0 else []
    for i in range(1, int(times[-1]) + 1):
        u = _blur_step(u, factor)
        if i in times:
            frames.append(u + sigma * _white(rng, u.shape, preserve_mean))
    return _restore(np.stack(frames), np.asarray(u0))


def blurring_chain(u0, times, beta, rng, spectrum="continuous", preserve_mean=False):
    """Blurring diffusion: blur one unit, add white noise of sd ``beta``, repeat."""
    u = _channels(np.array(u0, dtype=np.float64))
    factor = np.exp(-decay_rates(u.shape[0], u.shape[1], spectrum))
    frames = [u.copy()] if times[0] == 0 else []
    for i in range(1, int(times[-1]) + 1):
        u = _blur_step(u, factor) + beta * _white(rng, u.shape, preserve_mean)
        if i in times:
            frames.append(u.copy())
    return _restore(np.stack(frames), np.asarray(u0))


def osmosis_matrix(v):
    """Assembled sparse osmosis matrix ``A`` (``du/dt = A u``) of a positive ``ny x nx`` guidance.

    Pixel ``(i, j)`` has index ``i * nx + j``.
    """
    v = np.asarray(v, dtype=np.float64)
    ny, nx = v.shape
    idx = np.arange(ny * nx).reshape(ny, nx)
    rows, cols, vals = [], [], []

    def edge(p, q, d):
        # flux F = (u_q - u_p) - d (u_q + u_p) / 2 leaves p's neighbour q and enters p
        for r, sign in ((p, 1.0), (q, -1.0)):
            rows.extend([r, r])
            cols.extend([q, p])
            vals.extend([sign * (1 - d / 2), sign * (-1 - d / 2)])

    for i in range(ny):
        for j in range(nx - 1):
            d = 2 * (v[i, j + 1] - v[i, j]) / (v[i, j + 1] + v[i, j])
            edge(idx[i, j], idx[i, j + 1], d)
    for i in range(ny - 1):
        for j in range(nx):
            d = 2 * (v[i + 1, j] - v[i, j]) / (v[i + 1, j] + v[i, j])
            edge(idx[i, j], idx[i + 1, j], d)
    n = ny * nx
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))


def osmosis_chain(f, v, times, tau, rtol=1e-10):
    """Implicit osmosis steps of constant size ``tau``: scipy's BiCGSTAB on the assembled matrix.

    Every interval between output times must be a whole number of steps.
    """
    f0 = np.asarray(f)
    f = _channels(np.array(f, dtype=np.float64))
    v = _channels(np.array(v, dtype=np.float64))
    frames = np.empty((len(times), *f.shape))
    for c in range(f.shape[-1]):
        A = osmosis_matrix(v[..., c])
        M = (sp.identity(A.shape[0], format="csr") - tau * A).tocsr()
        u = f[..., c].ravel()
        t_now = 0.0
        for k, t in enumerate(times):
            n = int(round((t - t_now) / tau))
            if abs(n * tau - (t - t_now)) > 1e-9 * max(t, 1):
                raise ValueError("every output interval must be a whole number of steps tau")
            for _ in range(n):
                u, info = spla.bicgstab(M, u, x0=u, rtol=rtol, atol=0.0, maxiter=100000)
                if info != 0:
                    raise RuntimeError(f"scipy bicgstab did not converge (info={info})")
            t_now = t
            frames[k, ..., c] = u.reshape(f.shape[:2])
    return _restore(frames, f0)


def linear_chain(process, u0, times, rng):
    """Any linear process of pyscale, jump by jump, with scipy's DCT and numpy's generator.

    Uses only the public coefficients of the process (:meth:`~pyscale.LinearGaussianProcess.
    marginal` and :meth:`~pyscale.LinearGaussianProcess.transition`); the noise is drawn per
    mode. ``u0`` is ``(H, W)`` or ``(H, W, C)`` (channels last).
    """
    u = _channels(np.array(u0, dtype=np.float64))
    dct = process.basis == "dct"
    fwd = (lambda x: scipy.fft.dctn(x, norm="ortho", axes=(0, 1))) if dct else (lambda x: x)
    inv = (lambda x: scipy.fft.idctn(x, norm="ortho", axes=(0, 1))) if dct else (lambda x: x)
    shape = u.shape[:2] if dct else None
    state, frames, prev = fwd(u), [], None
    for t in times:
        a, b = process.marginal(t, shape) if prev is None else process.transition(prev, t, shape)
        a, b = np.asarray(a)[..., None], np.asarray(b)[..., None]
        state = a * state + b * rng.standard_normal(state.shape)
        frames.append(inv(state))
        prev = t
    return _restore(np.stack(frames), u0)


def trajectory(process, u0, times, rng, guidance=None, tau=1.0):
    """Naive trajectory of a pyscale process object (integer times for the linear models).

    ``guidance`` is required for :class:`pyscale.ProbabilisticOsmosis`.
    """
    from . import dct_processes as P
    from .dpm import DPM
    from .probabilistic_osmosis import ProbabilisticOsmosis
    from .processes import LinearGaussianProcess

    if isinstance(process, DPM):
        return dpm_chain(u0, times, process.alpha, process.beta, rng)
    if isinstance(process, P.HomogeneousDiffusion):
        return diffusion_chain(u0, times, process.spectrum)
    if isinstance(process, P.HeatDissipation):
        return heat_dissipation_chain(
            u0, times, process.sigma, rng, process.spectrum, process.preserve_mean
        )
    if isinstance(process, P.BlurringDiffusion):
        return blurring_chain(u0, times, process.beta, rng, process.spectrum, process.preserve_mean)
    if isinstance(process, ProbabilisticOsmosis):
        if guidance is None:
            raise ValueError("guidance is required for the osmosis reference")
        return osmosis_chain(u0, guidance, times, tau)
    if isinstance(process, LinearGaussianProcess):
        return linear_chain(process, u0, times, rng)
    raise TypeError(f"no reference implementation for {type(process).__name__}")
