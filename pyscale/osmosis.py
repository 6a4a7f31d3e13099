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
from typing import NamedTuple

import numpy as np

from . import _validation as val
from ._ext import core
from .noise import GUIDANCE_STREAM, standard_normal
from .processes import Process
from .spectral import laplacian_eigenvalues

__all__ = [
    "osmosis",
    "osmosis_step",
    "StepReport",
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


#: The geometric grid of :func:`osmosis_time_grid` starts at this time (or the first output time
#: if that is earlier), so the first implicit step is never longer than it.
GRID_START = 0.1


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
        geometric grid ``10**(j / steps_per_decade)`` from :data:`GRID_START` (0.1, or the first
        output time if earlier) on, so steps grow with ``t`` and a run to ``t = 10000`` needs
        about ``5 * steps_per_decade`` steps. Implicit Euler is unconditionally stable and
        preserves mass and positivity for any step; large steps only smooth the transient (the
        steady state is reached exactly).

    Notes
    -----
    Accuracy of implicit Euler (first order: halving the steps halves the error). Maximum
    absolute error (grey values in [0, 1]) of a 48 x 72 grey BSDS500 photo under probabilistic
    osmosis (noise guidance, sd 0.1), against a Richardson extrapolation of constant-step runs
    with ``tau = 0.02`` and ``0.04``; the evolution itself moves pixels by up to 0.37 (t = 1) to
    0.71 (t = 1000):

    ======================  =====  ======  =======  =======  ========
    grid                    steps  t = 1   t = 10   t = 100  t = 1000
    ======================  =====  ======  =======  =======  ========
    steps_per_decade = 2    9      0.036   0.038    0.033    0.021
    steps_per_decade = 4    17     0.021   0.022    0.020    0.011
    steps_per_decade = 8    33     0.012   0.011    0.011    0.0053
    tau = 1                 1000   0.069   0.0085   0.00081  3.6e-5
    tau = 0.1               10000  0.0080  0.00084  8.1e-5   3.6e-6
    ======================  =====  ======  =======  =======  ========

    ("steps" is the number of solves to t = 1000; RMS errors are about four times smaller.)
    Growing steps keep the error about constant over the decades at a cost logarithmic in
    ``t``; constant steps are accurate late but cost ``t / tau`` solves.

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
    ([0.1, 0.216, 0.684, 2.162, 6.838], [3, 5])
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
        if isinstance(steps_per_decade, bool) or not isinstance(
            steps_per_decade, (int, np.integer)
        ):
            raise TypeError("steps_per_decade must be an int")
        if steps_per_decade < 1:
            raise ValueError(f"steps_per_decade must be >= 1, got {steps_per_decade}")
        lo = math.floor(math.log10(min(t[0], GRID_START)) * steps_per_decade)
        hi = math.ceil(math.log10(t[-1]) * steps_per_decade)
        geo = 10.0 ** (np.arange(lo, hi + 1) / steps_per_decade)
        pts = np.union1d(t, geo[(geo > 0) & (geo < t[-1])])
        # merge grid points that nearly coincide with an output time
        keep = [p for p in pts if np.all(np.abs(p - t) > 1e-9 * p) or p in t]
        bounds = [0.0, *keep]
        marks = [int(np.searchsorted(bounds, tk)) for tk in t]
    steps = np.diff(np.asarray(bounds, dtype=np.float64))
    return steps, np.asarray(marks, dtype=np.int64)


SOLVERS = ("bicgstab", "cg")
PRECONDITIONERS = (None, "jacobi", "dct", "two-level", "auto")

#: With ``preconditioner="auto"`` steps of at least this size use the two-level preconditioner
#: and shorter ones the Jacobi preconditioner (a few cheap iterations beat the transforms).
AUTO_TWO_LEVEL_TAU = 3.0


class StepReport(NamedTuple):
    """Per-image statistics of one batched implicit osmosis step (arrays of length B)."""

    iterations: np.ndarray
    residual: np.ndarray
    converged: np.ndarray
    restarts: np.ndarray


def _check_solver_args(rtol, maxiter, on_fail):
    rtol = float(val.check_positive(rtol, "rtol", array=False))
    if rtol >= 1:
        raise ValueError(f"rtol must be below 1, got {rtol}")
    if isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer)) or maxiter < 1:
        raise ValueError(f"maxiter must be a positive int, got {maxiter!r}")
    if on_fail not in ("raise", "warn"):
        raise ValueError(f"on_fail must be 'raise' or 'warn', got {on_fail!r}")
    return rtol, int(maxiter)


def _check_method(solver, preconditioner, *, have_guidance):
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if preconditioner not in PRECONDITIONERS:
        raise ValueError(f"preconditioner must be one of {PRECONDITIONERS}, got {preconditioner!r}")
    if solver == "cg" and not have_guidance:
        raise ValueError(
            "solver='cg' needs a guidance image (the symmetric form exists only for the canonical "
            "drift of a guidance); use solver='bicgstab' with drift=..."
        )


class _Stepper:
    """Implicit osmosis steps ``(I - tau A) u_new = u_old`` for a canonical batch (B, ny, nx).

    Everything is computed in float64; ``v`` (guidance) or ``(dx, dy)`` (drift) fix ``A``.
    """

    def __init__(
        self,
        *,
        v=None,
        drift=None,
        solver="bicgstab",
        preconditioner=None,
        rtol=1e-8,
        maxiter=10000,
        workers=1,
        breakdown=1e-10,
    ):
        if v is not None:
            self.v = np.ascontiguousarray(v, dtype=np.float64)
            self.dx, self.dy = core.osmosis_drift(self.v)
        else:
            self.v = None
            self.dx, self.dy = (np.ascontiguousarray(d, dtype=np.float64) for d in drift)
        self.solver = solver
        self.preconditioner = preconditioner
        self.rtol = rtol
        self.maxiter = maxiter
        self.workers = workers
        self.breakdown = breakdown
        b, ny, nx = self.dx.shape[0], self.dx.shape[1], self.dy.shape[2]
        self.shape = (b, ny, nx)
        if preconditioner in ("dct", "two-level", "auto"):
            # S = diag(v) + tau K (cg) is preconditioned by P = mean(v) I + tau mean(c) L, L the
            # Neumann Laplacian, inverted exactly with the DCT. P and S share the null vector of
            # the large-tau limit (constant w = u / v). The step matrix M = S diag(1/v)
            # (bicgstab, right preconditioning) gets diag(v) P^-1; a drift gets (I + tau L)^-1.
            self.mu = laplacian_eigenvalues(ny, nx, "discrete")
            if self.v is None:
                self.a = np.ones(b)
                self.c = np.ones(b)
                self.scale_out = None
            else:
                # mean edge weight: the harmonic means 2 v_p v_q / (v_p + v_q) = 2 / (w_p + w_q)
                w = 1.0 / self.v
                edge_sum = (2.0 / (w[:, :, 1:] + w[:, :, :-1])).sum(axis=(1, 2)) + (
                    2.0 / (w[:, 1:, :] + w[:, :-1, :])
                ).sum(axis=(1, 2))
                edges = (ny * (nx - 1)) + (ny - 1) * nx
                self.a = self.v.mean(axis=(1, 2))
                self.c = edge_sum / edges if edges else np.ones(b)
                self.scale_out = v if solver == "bicgstab" else None

    def _dct_args(self, tau, pre):
        denom = np.ascontiguousarray(
            self.a[:, None, None] + tau * self.c[:, None, None] * self.mu[None]
        )
        # the two-level preconditioner applies diag(v) itself (BiCGSTAB)
        return denom, None, self.scale_out if pre == "dct" else None

    def _preconditioner_for(self, tau):
        if self.preconditioner == "auto":
            return "two-level" if tau >= AUTO_TWO_LEVEL_TAU else "jacobi"
        return self.preconditioner

    def step(self, u, tau):
        """One step from the float64 batch ``u``; returns ``(u_new, StepReport)``."""
        pre = self._preconditioner_for(tau)
        denom = s_in = s_out = None
        if pre in ("dct", "two-level"):
            denom, s_in, s_out = self._dct_args(tau, pre)
        x, it, res, conv, rst = core.osmosis_solve(
            u,
            u,
            self.dx,
            self.dy,
            self.v,
            float(tau),
            self.solver,
            pre or "none",
            denom,
            s_in,
            s_out,
            self.rtol,
            self.maxiter,
            self.breakdown,
            self.workers,
        )
        return x, StepReport(it, res, conv, rst)


def _report_failure(report, tau, rtol, maxiter, on_fail, stacklevel):
    if np.all(report.converged):
        return
    bad = int(np.flatnonzero(~report.converged)[0])
    res = report.residual[bad]
    msg = (
        f"osmosis step (tau={tau:g}) did not converge to rtol={rtol:g}: relative residual "
        f"{res:.3g} after {report.iterations[bad]} iterations (maxiter={maxiter}) in image "
        f"{bad} of the batch"
    )
    if on_fail == "warn":
        warnings.warn(msg, ConvergenceWarning, stacklevel=stacklevel)
    else:
        raise ConvergenceError(msg)


def _evolve(f, stepper, times, *, tau, steps_per_decade, on_fail):
    """Osmosis frames (float64) of canonical images ``f`` (B, ny, nx) at ``times``."""
    steps, marks = osmosis_time_grid(times, tau=tau, steps_per_decade=steps_per_decade)
    out = np.empty((len(marks), *f.shape), dtype=np.float64)
    u = np.array(f, dtype=np.float64)
    k = 0
    for i, h in enumerate(steps, start=1):
        u, report = stepper.step(u, h)
        _report_failure(report, h, stepper.rtol, stepper.maxiter, on_fail, stacklevel=4)
        if not np.all(np.isfinite(u)):  # only reachable with on_fail="warn"
            raise ConvergenceError(f"osmosis step (tau={h:g}) produced non-finite values")
        while k < len(marks) and marks[k] == i:
            out[k] = u
            k += 1
    return out


def _check_drift(drift, f, channel_axis):
    try:
        dx, dy = drift
    except (TypeError, ValueError) as exc:
        raise TypeError("drift must be a pair (dx, dy) of arrays") from exc
    dx = val.check_image(dx, "drift[0] (dx)").astype(np.float64, copy=False)
    dy = val.check_image(dy, "drift[1] (dy)").astype(np.float64, copy=False)
    _, (ax_y, ax_x) = val.spatial_axes(f.ndim, channel_axis, name="f")
    want_x, want_y = list(f.shape), list(f.shape)
    want_x[ax_x] -= 1
    want_y[ax_y] -= 1
    if dx.shape != tuple(want_x):
        raise ValueError(
            f"drift[0] (dx) must have shape {tuple(want_x)} for f of shape {f.shape}, "
            f"got {dx.shape}"
        )
    if dy.shape != tuple(want_y):
        raise ValueError(
            f"drift[1] (dy) must have shape {tuple(want_y)} for f of shape {f.shape}, "
            f"got {dy.shape}"
        )
    return dx, dy


def _check_inputs(f, guidance, drift, offset, channel_axis, solver, preconditioner):
    """Validate the image, the guidance or drift and the offset; return canonical arrays."""
    f = val.check_image(f, "f")
    if (guidance is None) == (drift is None):
        raise TypeError(
            "pass exactly one of guidance (a positive image of the shape of f) or drift=(dx, dy)"
        )
    _check_method(solver, preconditioner, have_guidance=guidance is not None)
    offset = float(val.check_positive(offset, "offset", allow_zero=True, array=False))
    if offset:
        f = f + f.dtype.type(offset)
    fc, info = val.to_canonical(f, channel_axis)
    if guidance is not None:
        v = val.check_image(guidance, "guidance")
        if v.shape != f.shape:
            raise ValueError(f"guidance must have the shape of f {f.shape}, got {v.shape}")
        if offset:
            v = v + v.dtype.type(offset)
        if np.any(f < 0):
            raise ValueError(
                "f must be non-negative for osmosis with a guidance image; pass offset=... "
                "(e.g. offset=1.0) to shift f and the guidance"
            )
        if not np.all(v > 0):
            raise ValueError(
                "guidance must be strictly positive for osmosis (it has zeros or negative "
                "values); pass offset=... (e.g. offset=1.0) to shift f and the guidance"
            )
        vc, _ = val.to_canonical(v, channel_axis)
        if np.any(fc.sum(axis=(1, 2), dtype=np.float64) <= 0):
            raise ValueError("f must have positive mass in every image and channel")
        return fc, {"v": vc}, info, offset
    dx, dy = _check_drift(drift, f, channel_axis)
    dxc, _ = val.to_canonical(dx, channel_axis)
    dyc, _ = val.to_canonical(dy, channel_axis)
    return fc, {"drift": (dxc, dyc)}, info, offset


def osmosis(
    f,
    guidance=None,
    *,
    t,
    drift=None,
    tau=None,
    steps_per_decade=4,
    solver="bicgstab",
    preconditioner="auto",
    offset=0.0,
    rtol=1e-8,
    maxiter=10000,
    on_fail="raise",
    channel_axis=None,
    workers=None,
):
    """Osmosis filter: evolve ``f`` towards the guidance image ``guidance`` until time ``t``.

    Each implicit step ``(I - tau A) u_new = u_old`` is solved matrix-free in C++ with
    stabilised BiCGSTAB (or conjugate gradients on the equivalent symmetric system), warm-started
    from ``u_old``.

    Parameters
    ----------
    f : array_like
        Float image ``(H, W)``, ``(H, W, C)`` or a batch; float32 stays float32 (the solves run
        in float64). Non-negative when a guidance image is given.
    guidance : array_like, optional
        Strictly positive image of the shape of ``f``; its canonical drift
        ``d = 2 (v_right - v_left) / (v_right + v_left)`` drives the evolution and the steady state
        is ``(mean f / mean guidance) guidance`` per image and channel.
    t : float or sequence of float
        Stopping time, or increasing output times (then the result has a leading time axis).
    drift : tuple of array_like, optional
        Instead of ``guidance``: the drift ``(dx, dy)`` itself, ``dx`` between horizontal
        neighbours (shape of ``f`` with one column less) and ``dy`` between vertical neighbours
        (one row less). Any drift is allowed (it need not come from an image); only
        ``solver="bicgstab"`` applies.
    tau : float, optional
        Constant implicit time step; ``t == tau`` is exactly one step. Default: steps growing
        with ``t`` (see :func:`osmosis_time_grid` for the accuracy of each choice).
    steps_per_decade : int, optional
        Resolution of the default growing steps.
    solver : {"bicgstab", "cg"}, optional
        ``"bicgstab"``: stabilised BiCGSTAB on ``I - tau A``. ``"cg"``: conjugate gradients on
        the symmetric positive definite form ``(diag(v) + tau K) (u / v) = u_old`` (guidance
        only); both stop on the same residual.
    preconditioner : {"auto", "two-level", "dct", "jacobi", None}, optional
        ``"dct"``: ``P = mean(v) I + tau mean(c) L`` for the symmetric system ``diag(v) + tau K``
        (``diag(v) P^-1`` for BiCGSTAB), ``L`` the Neumann Laplacian, inverted exactly with the
        orthonormal DCT (eigenvalues ``4 sin^2(pi k / 2 nx) + 4 sin^2(pi l / 2 ny)``), ``c`` the
        edge weights ``2 v_p v_q / (v_p + v_q)``; for a drift ``I + tau L``. It suits guidance
        close to a constant. ``"jacobi"``: the diagonal. ``"two-level"``: a Jacobi sweep, a
        ``"dct"`` correction and a second Jacobi sweep; the sweeps take care of what a constant
        symbol misses, such as guidance pixels clipped to a tiny value. ``"auto"`` (default):
        ``"two-level"`` for steps ``tau >= AUTO_TWO_LEVEL_TAU`` (3) and ``"jacobi"`` for
        shorter ones, where a few cheap iterations beat the transforms. Measured at
        ``tau = 1000``, rtol 1e-8,
        on 321 x 481 BSDS500 channels with noise guidance (sd 0.1) around the channel mean
        (CG iterations): a bright image, none 890, jacobi 840, dct 15, two-level 8; a dark one
        (mean 0.15, 6 % of the guidance clipped to 1e-6), jacobi 800, dct 2300, two-level ~50.
        ``None``: unpreconditioned.
    offset : float, optional
        Added to ``f`` and ``guidance`` before filtering and subtracted afterwards, for images
        with zeros (Weickert's reference code uses 1).
    rtol : float, optional
        Relative residual ``||u_old - (I - tau A) u_new|| / ||u_old||`` at which each solve
        stops.
    maxiter : int, optional
        Iteration cap of each linear solve.
    on_fail : {"raise", "warn"}, optional
        What a solve that misses ``rtol`` does: raise :class:`ConvergenceError` or warn with
        :class:`ConvergenceWarning` and go on.
    channel_axis : {-1, None}, optional
        See :meth:`pyscale.DPM.trajectory`.
    workers : int or None, optional
        Threads (``None``: all cores), shared between the images and channels of a batch and
        the pixels of each image (an image of 321 x 481 pixels keeps two busy). The result does
        not depend on it.

    Returns
    -------
    numpy.ndarray
        The filtered image(s): shape of ``f``, or ``(len(t), *f.shape)`` for several times.

    Raises
    ------
    ConvergenceError
        A linear solve missed ``rtol`` (with ``on_fail="raise"``); the message gives the
        residual reached.

    Examples
    --------
    >>> import numpy as np
    >>> from pyscale.osmosis import osmosis
    >>> rng = np.random.default_rng(0)
    >>> f, v = rng.uniform(0.2, 1, (16, 16)), rng.uniform(0.2, 1, (16, 16))
    >>> u = osmosis(f, v, t=1e6)
    >>> bool(np.allclose(u, f.mean() / v.mean() * v, rtol=1e-5))
    True
    >>> bool(np.isclose(u.mean(), f.mean()))  # the mean grey value is preserved
    True
    """
    fc, op, info, offset = _check_inputs(
        f, guidance, drift, offset, channel_axis, solver, preconditioner
    )
    rtol, maxiter = _check_solver_args(rtol, maxiter, on_fail)
    workers = val.check_workers(workers)
    many = np.ndim(t) > 0
    times = val.check_times(t, name="t")
    if times[0] <= 0:
        raise ValueError("t must be positive for osmosis (t = 0 is the initial image)")
    stepper = _Stepper(
        **op,
        solver=solver,
        preconditioner=preconditioner,
        rtol=rtol,
        maxiter=maxiter,
        workers=workers,
    )
    out = _evolve(fc, stepper, times, tau=tau, steps_per_decade=steps_per_decade, on_fail=on_fail)
    if offset:
        out -= offset
    out = val.from_canonical(out.astype(fc.dtype, copy=False), info, leading=(times.size,))
    return out if many else out[0]


def osmosis_step(
    u,
    guidance=None,
    *,
    tau,
    drift=None,
    solver="bicgstab",
    preconditioner="auto",
    rtol=1e-8,
    maxiter=10000,
    channel_axis=None,
    workers=None,
    breakdown=1e-10,
):
    """One implicit osmosis step ``(I - tau A) u_new = u`` and the solver statistics.

    Unlike :func:`osmosis` this never raises on non-convergence: it reports.

    Parameters
    ----------
    u : array_like
        Image or batch, as ``f`` in :func:`osmosis` (no offset is applied).
    guidance, drift, solver, preconditioner, rtol, maxiter, channel_axis, workers
        As in :func:`osmosis`.
    tau : float
        Step size.
    breakdown : float, optional
        BiCGSTAB restarts (``r0 = r = p = b - M x``) when ``|<r0, v>|`` falls below
        ``breakdown * |r0| |v|``, i.e. near a breakdown of the two-sided Lanczos process.

    Returns
    -------
    u_new : numpy.ndarray
        The new image, shape and dtype of ``u``.
    report : StepReport
        ``iterations``, final true relative ``residual``, ``converged`` and BiCGSTAB
        ``restarts``, one entry per canonical image (image and channel of the batch).

    Examples
    --------
    >>> import numpy as np
    >>> from pyscale.osmosis import osmosis_step
    >>> rng = np.random.default_rng(0)
    >>> u, v = rng.uniform(0.2, 1, (8, 8)), rng.uniform(0.2, 1, (8, 8))
    >>> u1, report = osmosis_step(u, v, tau=10.0)
    >>> bool(report.converged.all()), bool(np.isclose(u1.sum(), u.sum()))
    (True, True)
    """
    uc, op, info, _ = _check_inputs(u, guidance, drift, 0.0, channel_axis, solver, preconditioner)
    tau = float(val.check_positive(tau, "tau", array=False))
    rtol, maxiter = _check_solver_args(rtol, maxiter, "raise")
    breakdown = float(val.check_positive(breakdown, "breakdown", allow_zero=True, array=False))
    if breakdown >= 1:
        raise ValueError(f"breakdown must be below 1, got {breakdown}")
    stepper = _Stepper(
        **op,
        solver=solver,
        preconditioner=preconditioner,
        rtol=rtol,
        maxiter=maxiter,
        workers=val.check_workers(workers),
        breakdown=breakdown,
    )
    x, report = stepper.step(np.ascontiguousarray(uc, dtype=np.float64), tau)
    return val.from_canonical(x.astype(uc.dtype, copy=False), info), report


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
    solver : {"cg", "bicgstab"}, optional
        Linear solver of the implicit steps (see :func:`osmosis`). Measured for the three
        channels of a 321 x 481 BSDS500 photo to t = 10000 (22 steps, rtol 1e-8), one thread:
        conjugate gradients and BiCGSTAB with ``preconditioner="auto"`` take about equally
        long, 1.6 s for a bright photo and 4.5-5.1 s for a dark one (mean 0.15) whose guidance
        is partly clipped; with the DCT preconditioner alone the dark one takes 118 s, with
        Jacobi alone the bright one 16 s.
    preconditioner : {"auto", "two-level", "dct", "jacobi", None}, optional
        Preconditioner of the solves (see :func:`osmosis`).
    maxiter : int, optional
        Iteration cap of each solve.
    on_fail : {"raise", "warn"}, optional
        Reaction to a solve that misses ``rtol`` (see :func:`osmosis`).

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

    def __init__(
        self,
        sigma=0.1,
        *,
        tau=None,
        steps_per_decade=4,
        offset=0.0,
        rtol=1e-8,
        clip=(1e-6, 1.0),
        solver="cg",
        preconditioner="auto",
        maxiter=10000,
        on_fail="raise",
    ):
        self.sigma = float(val.check_positive(sigma, "sigma", array=False))
        self.tau = None if tau is None else float(val.check_positive(tau, "tau", array=False))
        osmosis_time_grid([1.0], steps_per_decade=steps_per_decade)  # validates the count
        self.steps_per_decade = int(steps_per_decade)
        self.offset = float(val.check_positive(offset, "offset", allow_zero=True, array=False))
        self.rtol, self.maxiter = _check_solver_args(rtol, maxiter, on_fail)
        self.on_fail = on_fail
        _check_method(solver, preconditioner, have_guidance=True)
        self.solver = solver
        self.preconditioner = preconditioner
        lo, hi = (float(c) for c in clip)
        if not 0 < lo < hi:
            raise ValueError(f"clip must be (low, high) with 0 < low < high, got {clip!r}")
        self.clip = (lo, hi)

    def mean_preservation(self):
        """``"exact"``: osmosis keeps the mean of every image and channel (its columns sum to 0)."""
        return "exact"

    def _params(self):
        return {
            "sigma": self.sigma,
            "tau": self.tau,
            "steps_per_decade": self.steps_per_decade,
            "offset": self.offset,
            "rtol": self.rtol,
            "clip": self.clip,
            "solver": self.solver,
            "preconditioner": self.preconditioner,
            "maxiter": self.maxiter,
            "on_fail": self.on_fail,
        }

    def guidance(self, u0, *, seed=None, noise=None, channel_axis=None):
        """The guidance image a trajectory with this ``seed`` (or explicit ``noise``) uses."""
        u = val.check_image(u0, "u0")
        canon, info = val.to_canonical(u, channel_axis)
        canon = np.ascontiguousarray(canon)  # sums below do not depend on the memory layout
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

    def trajectory(self, u0, times, *, seed=None, noise=None, channel_axis=None, workers=None):
        """Frames of the osmosis evolution of ``u0`` towards a noise guidance image.

        ``noise`` (optional) is the standard normal draw behind the guidance image, with the
        shape of ``u0``; otherwise it comes from ``seed``. See :meth:`pyscale.DPM.trajectory`.
        """
        u = val.check_image(u0, "u0")
        times = val.check_times(times)
        workers = val.check_workers(workers)
        v = self.guidance(u, seed=seed, noise=noise, channel_axis=channel_axis)
        positive = times > 0
        out = np.empty((times.size, *u.shape), dtype=u.dtype)
        out[~positive] = u
        if np.any(positive):
            out[positive] = osmosis(
                u,
                guidance=v,
                t=times[positive],
                tau=self.tau,
                steps_per_decade=self.steps_per_decade,
                offset=self.offset,
                rtol=self.rtol,
                solver=self.solver,
                preconditioner=self.preconditioner,
                maxiter=self.maxiter,
                on_fail=self.on_fail,
                channel_axis=channel_axis,
                workers=workers,
            )
        return out
