"""Osmosis filtering (Weickert et al.) and the probabilistic osmosis process of the paper.

The PDE ``u_t = div(grad u - d u)`` with reflecting boundaries is discretised as in Vogel,
Hagenburg, Weickert and Setzer (SSVM 2013) with pixel size 1: drift on the half-grid points
``d = 2 (v_right - v_left) / (v_right + v_left)`` for a positive guidance image ``v`` (zero across
the border), flux ``F = (u_right - u_left) - d (u_right + u_left) / 2``, and ``du/dt = A u`` with
``(A u)_p`` the net flux into pixel ``p``. Every column of ``A`` sums to zero, so the mean grey
value is preserved exactly, and the steady state is ``(mean f / mean v) v``. Time stepping is
implicit Euler, ``(I - tau A) u_{k+1} = u_k``, which keeps a non-negative image non-negative
(``I - tau A`` is an M-matrix) for every ``tau``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.sparse.linalg as spla

from . import _validation as val
from ._ext import core
from .noise import GUIDANCE_STREAM, standard_normal
from .processes import _DEFAULT, Process

__all__ = [
    "osmosis",
    "osmosis_drift",
    "osmosis_operator",
    "osmosis_time_grid",
    "relative_entropy",
    "ProbabilisticOsmosis",
    "ConvergenceError",
    "ConvergenceWarning",
]


class ConvergenceError(RuntimeError):
    """An iterative solver did not reach its tolerance within its iteration cap."""


class ConvergenceWarning(RuntimeWarning):
    """Issued instead of :class:`ConvergenceError` when the caller asked for warnings."""


def osmosis_drift(v):
    """Canonical drift of a positive guidance image ``v`` of shape ``(B, ny, nx)``.

    Returns
    -------
    dx, dy : numpy.ndarray
        Drift between horizontal neighbours, shape ``(B, ny, nx - 1)``, and between vertical
        neighbours, shape ``(B, ny - 1, nx)``.
    """
    return core.osmosis_drift(np.ascontiguousarray(v))


def osmosis_operator(u, dx, dy):
    """``A u`` for images ``u`` of shape ``(B, ny, nx)`` and drift ``(dx, dy)`` (matrix-free)."""
    dtype = u.dtype
    return core.osmosis_apply(
        np.ascontiguousarray(u), np.ascontiguousarray(dx, dtype), np.ascontiguousarray(dy, dtype)
    )


def osmosis_time_grid(times, *, tau=None, steps_per_decade=4):
    """Implicit time steps that reach every output time exactly.

    Parameters
    ----------
    times : sequence of float
        Strictly increasing positive output times.
    tau : float, optional
        Constant step: each interval between output times is split into equal steps no longer
        than ``tau``.
    steps_per_decade : int, optional
        Used when ``tau`` is None: the step boundaries are the output times together with the
        geometric grid ``10**(j / steps_per_decade)``, so steps grow with ``t`` and a run to
        ``t = 10000`` needs a few dozen steps. Implicit Euler is unconditionally stable and
        preserves mass and positivity for any step; large steps only smooth the transient (the
        steady state is reached exactly).

    Returns
    -------
    steps : numpy.ndarray
        Step sizes.
    marks : numpy.ndarray of int
        ``marks[k]`` is the number of steps taken when output time ``k`` is reached.

    Examples
    --------
    >>> from pyscale import osmosis_time_grid
    >>> steps, marks = osmosis_time_grid([1, 10], steps_per_decade=2)
    >>> steps.round(3).tolist(), marks.tolist()
    ([1.0, 2.162, 6.838], [1, 3])
    """
    t = val.check_times(times)
    if t[0] <= 0:
        raise ValueError("times must be positive for osmosis (t = 0 is the initial image)")
    if tau is not None:
        tau = float(val.check_positive(tau, "tau", array=False))
        bounds = [0.0]
        marks = []
        for tk in t:
            n = max(1, math.ceil((tk - bounds[-1]) / tau - 1e-9))
            start = bounds[-1]
            bounds.extend(start + (tk - start) * np.arange(1, n + 1) / n)
            marks.append(len(bounds) - 1)
    else:
        if isinstance(steps_per_decade, bool) or not isinstance(steps_per_decade, (int, np.integer)):
            raise TypeError("steps_per_decade must be an int")
        if steps_per_decade < 1:
            raise ValueError(f"steps_per_decade must be >= 1, got {steps_per_decade}")
        lo = math.floor(math.log10(t[0]) * steps_per_decade)
        hi = math.ceil(math.log10(t[-1]) * steps_per_decade)
        geo = 10.0 ** (np.arange(lo, hi + 1) / steps_per_decade)
        pts = np.union1d(t, geo[(geo > 0) & (geo < t[-1])])
        # merge grid points that nearly coincide with an output time
        keep = [p for p in pts if np.all(np.abs(p - t) > 1e-9 * p) or p in t]
        bounds = [0.0, *keep]
        marks = [int(np.searchsorted(bounds, tk)) for tk in t]
    steps = np.diff(np.asarray(bounds, dtype=np.float64))
    return steps, np.asarray(marks, dtype=np.int64)


def _implicit_step(u, dx, dy, tau, rtol, maxiter, on_fail):
    """Solve ``(I - tau A) x = u`` for one image (matrix-free operator, scipy BiCGSTAB)."""
    ny, nx = u.shape
    n = ny * nx
    dtype = u.dtype
    dx3, dy3 = dx[None], dy[None]

    def matvec(x):
        x3 = np.ascontiguousarray(x, dtype=dtype).reshape(1, ny, nx)
        return (x3 - tau * core.osmosis_apply(x3, dx3, dy3)).ravel()

    op = spla.LinearOperator((n, n), matvec=matvec, dtype=dtype)
    b = u.ravel()
    x, info = spla.bicgstab(op, b, x0=b.copy(), rtol=rtol, atol=0.0, maxiter=maxiter)
    res = float(np.linalg.norm(b - matvec(x)) / max(np.linalg.norm(b), np.finfo(dtype).tiny))
    if info != 0 or not np.all(np.isfinite(x)):
        msg = (
            f"osmosis step (tau={tau:g}) did not converge to rtol={rtol:g}: relative residual "
            f"{res:.3g} after {maxiter} iterations"
        )
        if on_fail == "warn":
            warnings.warn(msg, ConvergenceWarning, stacklevel=4)
        else:
            raise ConvergenceError(msg)
    return x.reshape(ny, nx).astype(dtype, copy=False)


def _check_solver_args(rtol, maxiter, on_fail):
    rtol = float(val.check_positive(rtol, "rtol", array=False))
    if rtol >= 1:
        raise ValueError(f"rtol must be below 1, got {rtol}")
    if isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer)) or maxiter < 1:
        raise ValueError(f"maxiter must be a positive int, got {maxiter!r}")
    if on_fail not in ("raise", "warn"):
        raise ValueError(f"on_fail must be 'raise' or 'warn', got {on_fail!r}")
    return rtol, int(maxiter)


def _evolve(f, v, times, *, tau, steps_per_decade, rtol, maxiter, on_fail):
    """Osmosis frames of canonical images ``f`` (B, ny, nx) with guidance ``v`` at ``times``."""
    steps, marks = osmosis_time_grid(times, tau=tau, steps_per_decade=steps_per_decade)
    dx, dy = osmosis_drift(v)
    out = np.empty((len(marks), *f.shape), dtype=f.dtype)
    for b in range(f.shape[0]):
        u = f[b].copy()
        k = 0
        for i, h in enumerate(steps, start=1):
            u = _implicit_step(u, dx[b], dy[b], h, rtol, maxiter, on_fail)
            while k < len(marks) and marks[k] == i:
                out[k, b] = u
                k += 1
    return out


def _check_osmosis_pair(f, v, offset, channel_axis):
    f = val.check_image(f, "f")
    if v is None:
        raise TypeError("guidance is required: a positive image of the same shape as f")
    v = val.check_image(v, "guidance").astype(f.dtype, copy=False)
    if v.shape != f.shape:
        raise ValueError(f"guidance must have the shape of f {f.shape}, got {v.shape}")
    offset = float(val.check_positive(offset, "offset", allow_zero=True, array=False))
    if offset:
        f = f + f.dtype.type(offset)
        v = v + v.dtype.type(offset)
    if np.any(f < 0):
        raise ValueError(
            "f must be non-negative for osmosis; pass offset=... (e.g. offset=1.0) to shift f and "
            "the guidance"
        )
    if not np.all(v > 0):
        raise ValueError(
            "guidance must be strictly positive for osmosis; pass offset=... (e.g. offset=1.0) to "
            "shift f and the guidance"
        )
    if channel_axis is _DEFAULT:
        channel_axis = val.default_channel_axis(f.ndim)
    fc, info = val.to_canonical(f, channel_axis)
    vc, _ = val.to_canonical(v, channel_axis)
    if np.any(fc.sum(axis=(1, 2)) <= 0):
        raise ValueError("f must have positive mass in every image and channel")
    return fc, vc, info, offset


def osmosis(
    f,
    *,
    guidance,
    t,
    tau=None,
    steps_per_decade=4,
    offset=0.0,
    rtol=1e-8,
    maxiter=10000,
    on_fail="raise",
    channel_axis=_DEFAULT,
):
    """Osmosis filter: evolve ``f`` towards the guidance image ``guidance`` until time ``t``.

    Parameters
    ----------
    f : array_like
        Non-negative float image ``(H, W)``, ``(H, W, C)`` or a batch; float32 stays float32.
    guidance : array_like
        Strictly positive image of the same shape; its canonical drift drives the evolution and
        the steady state is ``(mean f / mean guidance) guidance`` per image and channel.
    t : float or sequence of float
        Stopping time, or increasing output times (then the result has a leading time axis).
    tau : float, optional
        Constant implicit time step; ``t == tau`` is exactly one step. Default: steps growing
        with ``t`` (see :func:`osmosis_time_grid`).
    steps_per_decade : int, optional
        Resolution of the default growing steps.
    offset : float, optional
        Added to ``f`` and ``guidance`` before filtering and subtracted afterwards, for images
        with zeros (Weickert's reference code uses 1).
    rtol : float, optional
        Relative residual at which each linear solve stops.
    maxiter : int, optional
        Iteration cap of each linear solve.
    on_fail : {"raise", "warn"}, optional
        What a solve that misses ``rtol`` does: raise :class:`ConvergenceError` or warn with
        :class:`ConvergenceWarning` and go on.
    channel_axis : {-1, None}, optional
        See :meth:`pyscale.DPM.trajectory`.

    Returns
    -------
    numpy.ndarray
        The filtered image(s): shape of ``f``, or ``(len(t), *f.shape)`` for several times.

    Examples
    --------
    >>> import numpy as np, pyscale as ps
    >>> rng = np.random.default_rng(0)
    >>> f, v = rng.uniform(0.2, 1, (16, 16)), rng.uniform(0.2, 1, (16, 16))
    >>> u = ps.osmosis(f, guidance=v, t=1e6)
    >>> bool(np.allclose(u, f.mean() / v.mean() * v, rtol=1e-5))
    True
    """
    fc, vc, info, offset = _check_osmosis_pair(f, guidance, offset, channel_axis)
    rtol, maxiter = _check_solver_args(rtol, maxiter, on_fail)
    many = np.ndim(t) > 0
    times = val.check_times(t, name="t")
    out = _evolve(
        fc.astype(np.float64), vc.astype(np.float64), times, tau=tau, steps_per_decade=steps_per_decade, rtol=rtol, maxiter=maxiter,
        on_fail=on_fail,
    )
    if offset:
        out -= offset
    out = val.from_canonical(out.astype(fc.dtype, copy=False), info, leading=(times.size,))
    return out if many else out[0]


def relative_entropy(u, v):
    """Osmosis Lyapunov functional ``L = -sum u ln(u / v)`` (Eq. 50 of the paper).

    It increases along every osmosis trajectory with guidance ``v`` and is maximal, ``-M ln(M/N)``
    with ``M = sum u`` and ``N = sum v``, at the steady state. ``0 ln 0 = 0``.

    Examples
    --------
    >>> import numpy as np, pyscale as ps
    >>> v = np.array([[0.5, 1.0]])
    >>> float(ps.relative_entropy(v, v))
    -0.0
    """
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if u.shape != v.shape:
        raise ValueError(f"u and v must have the same shape, got {u.shape} and {v.shape}")
    if np.any(u < 0) or not np.all(v > 0):
        raise ValueError("relative_entropy needs u >= 0 and v > 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(u > 0, u * np.log(u / v), 0.0)
    return -float(np.sum(terms))


class ProbabilisticOsmosis(Process):
    """Probabilistic osmosis (Sect. 6.2): osmosis towards a noise image drawn around the mean.

    The guidance image is ``v ~ N(mean f, sigma**2)`` per pixel (independently per image and
    channel), clipped to ``[1e-6, 1]``; the trajectory is the deterministic osmosis evolution of
    ``f`` with the canonical drift of ``v`` and converges to ``(mean f / mean v) v``.

    Parameters
    ----------
    sigma : float
        Standard deviation of the guidance noise (paper: 0.1).
    tau : float, optional
        Constant implicit time step (default: steps growing with ``t``).
    steps_per_decade : int, optional
        Resolution of the default growing steps.
    offset : float, optional
        Shift for images with zeros, added to the image and the guidance (see :func:`osmosis`).
    rtol : float, optional
        Relative residual of each linear solve.
    clip : tuple of float, optional
        Range the guidance noise is clipped to.

    Examples
    --------
    >>> import numpy as np, pyscale as ps
    >>> f = np.random.default_rng(1).uniform(0.2, 0.8, (12, 12))
    >>> p = ps.ProbabilisticOsmosis(sigma=0.1)
    >>> frames = p.trajectory(f, [1, 100, 1e6], seed=0)
    >>> v = p.guidance(f, seed=0)
    >>> bool(np.allclose(frames[-1], f.mean() / v.mean() * v, rtol=1e-5))
    True
    """

    name = "osmosis"
    noise_per_frame = False

    def __init__(self, sigma=0.1, *, tau=None, steps_per_decade=4, offset=0.0, rtol=1e-8,
                 clip=(1e-6, 1.0)):
        self.sigma = float(val.check_positive(sigma, "sigma", array=False))
        self.tau = None if tau is None else float(val.check_positive(tau, "tau", array=False))
        osmosis_time_grid([1.0], steps_per_decade=steps_per_decade)  # validates the count
        self.steps_per_decade = int(steps_per_decade)
        self.offset = float(val.check_positive(offset, "offset", allow_zero=True, array=False))
        self.rtol, _ = _check_solver_args(rtol, 1, "raise")
        lo, hi = (float(c) for c in clip)
        if not 0 < lo < hi:
            raise ValueError(f"clip must be (low, high) with 0 < low < high, got {clip!r}")
        self.clip = (lo, hi)

    def _params(self):
        return {"sigma": self.sigma, "tau": self.tau, "steps_per_decade": self.steps_per_decade,
                "offset": self.offset, "rtol": self.rtol, "clip": self.clip}

    def guidance(self, u0, *, seed=None, noise=None, channel_axis=_DEFAULT):
        """The guidance image a trajectory with this ``seed`` (or explicit ``noise``) uses."""
        u = val.check_image(u0, "u0")
        if channel_axis is _DEFAULT:
            channel_axis = val.default_channel_axis(u.ndim)
        canon, info = val.to_canonical(u, channel_axis)
        if noise is None:
            z = standard_normal(val.check_seed(seed), GUIDANCE_STREAM, canon.shape, u.dtype)
        else:
            z = val.check_image(np.asarray(noise), "noise")
            if z.shape != u.shape:
                raise ValueError(f"noise must have the shape of u0 {u.shape}, got {z.shape}")
            z = val.to_canonical(z.astype(u.dtype, copy=False), channel_axis)[0]
        mean = canon.mean(axis=(1, 2), keepdims=True, dtype=np.float64)
        with np.errstate(over="ignore"):  # a huge sigma saturates at the clip range
            v = np.clip(mean + self.sigma * z, *self.clip).astype(u.dtype)
        return val.from_canonical(v, info)

    def trajectory(self, u0, times, *, seed=None, noise=None, channel_axis=_DEFAULT, workers=None):
        """Frames of the osmosis evolution of ``u0`` towards a noise guidance image.

        ``noise`` (optional) is the standard normal draw behind the guidance image, with the
        shape of ``u0``; otherwise it comes from ``seed``. See :meth:`pyscale.DPM.trajectory`.
        """
        u = val.check_image(u0, "u0")
        if channel_axis is _DEFAULT:
            channel_axis = val.default_channel_axis(u.ndim)
        times = val.check_times(times)
        val.check_workers(workers)
        v = self.guidance(u, seed=seed, noise=noise, channel_axis=channel_axis)
        positive = times > 0
        out = np.empty((times.size, *u.shape), dtype=u.dtype)
        out[~positive] = u
        if np.any(positive):
            out[positive] = osmosis(
                u, guidance=v, t=times[positive], tau=self.tau,
                steps_per_decade=self.steps_per_decade, offset=self.offset, rtol=self.rtol,
                channel_axis=channel_axis,
            )
        return out
