"""The implicit time stepping of osmosis: the step grid, the solvers and their reports.

Internal: :mod:`pyscale.osmosis` validates the input and calls these on canonical float64
batches ``(B, ny, nx)``. The linear solves run in the compiled module.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
import scipy.ndimage

from . import _validation as val
from ._ext import core

__all__ = [
    "ConvergenceError",
    "ConvergenceWarning",
    "StepReport",
    "osmosis_time_grid",
    "SOLVERS",
    "PRECONDITIONERS",
]


class ConvergenceError(RuntimeError):
    """An iterative solver did not reach its tolerance within its iteration cap."""


class ConvergenceWarning(RuntimeWarning):
    """Issued instead of :class:`ConvergenceError` when the caller asked for warnings."""


#: Most implicit steps a time grid may hold: a smaller ``tau`` is refused, not run for days.
MAX_STEPS = 100_000

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
        if t[-1] / tau > MAX_STEPS:
            raise ValueError(
                f"tau={tau:g} is too small for t={t[-1]:g}: it would take {t[-1] / tau:.3g} "
                f"implicit steps (at most {MAX_STEPS}); implicit steps are stable for any tau, "
                "so take a larger one or leave tau=None for the growing default grid"
            )
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


SOLVERS = ("auto", "cg", "bicgstab")
PRECONDITIONERS = (None, "jacobi", "red-black", "dct", "two-level", "aggregation", "auto")

#: With ``preconditioner="auto"``, conjugate gradients take the red-black reduced system for
#: shorter steps than this and the two-level preconditioner from it on: their cheap iterations
#: beat the transforms of a few two-level ones (measured on BSDS500 photos: the crossover lies
#: between tau = 14 and 25 on typical photos and beyond 25 on dark ones).
AUTO_RED_BLACK_TAU = 20.0

#: With ``preconditioner="auto"``, BiCGSTAB takes the two-level preconditioner for steps of at
#: least this size and the Jacobi one for shorter ones.
AUTO_TWO_LEVEL_TAU = 3.0


#: With ``preconditioner="auto"``, conjugate gradients take the aggregation multigrid instead of
#: the two-level preconditioner for an image with at least this fraction of its pixels cut (their
#: guidance at most ``ISLAND_CUT`` times the mean): the homogeneous coarse operator of the
#: two-level preconditioner models the image less and less as its guidance falls apart.
#: Measured on a BSDS500 photo darkened step by step (probabilistic osmosis at the paper's times,
#: one thread, the hierarchy built once per trajectory), the aggregation multigrid took 1.23-1.82x
#: as long with 7-19 % of the pixels cut, 1.03x with 21 %, 0.97x with 24 %, 0.82x with 28 % and
#: 0.58-0.81x with 31-42 %. The threshold lies above that crossover and above every channel of
#: the BSDS500 photos (at most 24.8 % cut).
AUTO_AGGREGATION_CUT = 0.27

#: A pixel whose guidance is at most this fraction of the image's mean guidance cuts the SPD
#: form (its edge weights are below twice its value); see :func:`island_labels`.
ISLAND_CUT = 1e-2

#: Islands of fewer pixels are left to the Jacobi sweeps.
ISLAND_MIN_SIZE = 2


class ImageStats(NamedTuple):
    """Per image of a canonical batch (arrays of length B): smallest value, largest, mean."""

    lo: np.ndarray
    hi: np.ndarray
    mean: np.ndarray


def image_stats(x, name):
    """:class:`ImageStats` of a canonical float batch ``x`` (B, ny, nx), read in one pass.

    ``ValueError`` naming ``name`` if ``x`` has NaN or infinite values (a non-finite sum is
    followed by the entrywise check: it may be an overflow of large finite values).
    """
    x = np.ascontiguousarray(x)
    st = core.image_stats(x)
    if not np.all(np.isfinite(st[:, 2])) and not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return ImageStats(st[:, 0], st[:, 1], st[:, 2] / (x.shape[1] * x.shape[2]))


def island_labels(v):
    """The islands of a canonical guidance batch ``v`` (B, ny, nx), or None if it has none.

    The pixels whose guidance is above ``ISLAND_CUT`` times the image's mean fall into
    4-connected components; every component of at least ``ISLAND_MIN_SIZE`` pixels but the
    largest is an island. Returns an int32 array with the island of each pixel (0, 1, ... within
    each image) and -1 elsewhere, which conjugate gradients with the two-level preconditioner
    deflate (``csrc/islands.hpp``).
    """
    return clipped_guidance(v)[0]


def clipped_guidance(v, stats=None):
    """The islands of ``v`` (see :func:`island_labels`) and the share of each image's pixels cut.

    Guidance that nowhere falls to the cut (most photos) costs only its :class:`ImageStats`
    (``stats``, read here when not given).
    """
    if stats is None:
        stats = image_stats(v, "guidance")
    labels = None
    share = np.zeros(len(v))
    for k, img in enumerate(v):
        cut = ISLAND_CUT * stats.mean[k]
        if stats.lo[k] > cut:
            continue
        kept = img > cut
        share[k] = (kept.size - np.count_nonzero(kept)) / kept.size
        comp, count = scipy.ndimage.label(kept)
        if count < 2:
            continue
        sizes = np.bincount(comp.ravel(), minlength=count + 1)
        sizes[0] = 0  # the cut pixels
        island = sizes >= ISLAND_MIN_SIZE
        island[np.argmax(sizes)] = False
        if not island.any():
            continue
        ids = np.full(count + 1, -1, dtype=np.int32)
        ids[island] = np.arange(np.count_nonzero(island), dtype=np.int32)
        if labels is None:
            labels = np.full(v.shape, -1, dtype=np.int32)
        labels[k] = ids[comp]
    return labels, share


class StepReport(NamedTuple):
    """Per-image statistics of one batched implicit osmosis step (arrays of length B)."""

    iterations: np.ndarray
    residual: np.ndarray
    converged: np.ndarray
    restarts: np.ndarray


def check_solver_args(rtol, maxiter, on_fail):
    rtol = float(val.check_positive(rtol, "rtol", array=False))
    if rtol >= 1:
        raise ValueError(f"rtol must be below 1, got {rtol}")
    if isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer)) or maxiter < 1:
        raise ValueError(f"maxiter must be a positive int, got {maxiter!r}")
    if on_fail not in ("raise", "warn"):
        raise ValueError(f"on_fail must be 'raise' or 'warn', got {on_fail!r}")
    return rtol, int(maxiter)


def check_method(solver, preconditioner, *, have_guidance):
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if preconditioner not in PRECONDITIONERS:
        raise ValueError(f"preconditioner must be one of {PRECONDITIONERS}, got {preconditioner!r}")
    if solver == "cg" and not have_guidance:
        raise ValueError(
            "solver='cg' needs a guidance image (the symmetric form exists only for the canonical "
            "drift of a guidance); use solver='bicgstab' with drift=..."
        )
    if preconditioner in ("red-black", "aggregation") and (
        solver == "bicgstab" or not have_guidance
    ):
        raise ValueError(
            f"preconditioner={preconditioner!r} works on the symmetric form, so it needs "
            "solver='cg' (or 'auto') and a guidance image"
        )


INTEGRATORS = ("euler", "krylov")


def check_integrator(integrator, *, tau, steps_per_decade, have_guidance):
    """Refuse an unknown integrator, and a Krylov one without guidance or with a fixed ``tau``."""
    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator must be one of {INTEGRATORS}, got {integrator!r}")
    osmosis_time_grid([1.0], steps_per_decade=steps_per_decade)  # validates the count
    if integrator == "krylov":
        if not have_guidance:
            raise ValueError(
                "integrator='krylov' needs a guidance image (it works on the symmetric form, "
                "which exists only for the canonical drift of a guidance)"
            )
        if tau is not None:
            raise ValueError(
                "tau is the step of integrator='euler'; integrator='krylov' takes no steps (its "
                "solves are set by steps_per_decade)"
            )


def resolve_solver(solver, have_guidance):
    """``"auto"``: conjugate gradients on the symmetric form with a guidance, else BiCGSTAB."""
    if solver == "auto":
        return "cg" if have_guidance else "bicgstab"
    return solver


class Stepper:
    """Implicit osmosis steps ``(I - tau A) u_new = u_old`` for a canonical batch (B, ny, nx).

    Everything is computed in float64; ``v`` (guidance) or ``(dx, dy)`` (drift) fix ``A``.
    Conjugate gradients work on the symmetric form built from ``v`` and need no drift.
    ``v_stats`` (optional) are the :class:`ImageStats` of ``v``.
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
        v_stats=None,
    ):
        self.v = self.dx = self.dy = self.islands = self.hierarchies = None
        # the images that take the aggregation multigrid where "auto" would take two-level
        self.cut = None
        if v is not None:
            self.v = np.ascontiguousarray(v, dtype=np.float64)
            if solver == "cg" and preconditioner in ("two-level", "auto"):
                self.islands, share = clipped_guidance(self.v, v_stats)
                if preconditioner == "auto" and np.any(share >= AUTO_AGGREGATION_CUT):
                    self.cut = share >= AUTO_AGGREGATION_CUT
            if solver != "cg":
                self.dx, self.dy = core.osmosis_drift(self.v)
        else:
            self.dx, self.dy = (np.ascontiguousarray(d, dtype=np.float64) for d in drift)
        self.solver = solver
        self.preconditioner = preconditioner
        self.rtol = rtol
        self.maxiter = maxiter
        self.workers = workers
        self.breakdown = breakdown

    def _preconditioner_for(self, tau):
        if self.preconditioner == "auto" and self.solver == "cg":
            return "two-level" if tau >= AUTO_RED_BLACK_TAU else "red-black"
        if self.preconditioner == "auto":
            return "two-level" if tau >= AUTO_TWO_LEVEL_TAU else "jacobi"
        return self.preconditioner

    def step(self, u, tau):
        """One step from the float64 batch ``u``; returns ``(u_new, StepReport)``."""
        pre = self._preconditioner_for(tau)
        if pre != "two-level" or self.cut is None:
            return self._solve(u, tau, pre, slice(None))
        x = np.empty_like(u)
        fields = [None] * len(StepReport._fields)
        for images, part in ((~self.cut, "two-level"), (self.cut, "aggregation")):
            if not images.any():
                continue
            x[images], report = self._solve(u, tau, part, images)
            for k, values in enumerate(report):
                if fields[k] is None:
                    fields[k] = np.empty(len(u), dtype=values.dtype)
                fields[k][images] = values
        return x, StepReport(*fields)

    def _solve(self, u, tau, pre, images):
        """One step of the images ``images`` (a slice or a mask) of ``u`` with ``pre``."""

        def take(a):
            return None if a is None else np.ascontiguousarray(a[images])

        b = take(u)
        x, it, res, conv, rst = core.osmosis_solve(
            b,
            b,
            take(self.dx),
            take(self.dy),
            take(self.v),
            float(tau),
            self.solver,
            pre or "none",
            self.rtol,
            self.maxiter,
            self.breakdown,
            self.workers,
            take(self.islands) if pre == "two-level" else None,
            self._hierarchies(images) if pre == "aggregation" else None,
        )
        return x, StepReport(it, res, conv, rst)

    def _hierarchies(self, images):
        """The aggregation hierarchies of the guidance of ``images``, built at the first use.

        They depend on the guidance only, so every step of a trajectory shares them; a stepper
        takes the aggregation multigrid for one set of images only (all of them, or ``cut``).
        """
        if self.hierarchies is None:
            self.hierarchies = core.aggregation_hierarchies(
                np.ascontiguousarray(self.v[images]), self.workers
            )
        return self.hierarchies


def residual_floor(tau):
    """The smallest relative residual float64 arithmetic can reach for a step of size ``tau``.

    The step matrix has norm about ``1 + 8 tau`` (the 5-point stencil), so rounding alone leaves
    a relative residual of about ``eps (1 + 8 tau)``; measured stalls sit near it.
    """
    return float(np.finfo(np.float64).eps) * (1.0 + 8.0 * tau)


def report_failure(report, tau, rtol, maxiter, on_fail, stacklevel, where="image {} of the batch"):
    """Raise (or warn) for the images of a step that missed ``rtol``, saying why if known."""
    if np.all(report.converged):
        return
    bad = int(np.flatnonzero(~report.converged)[0])
    res = report.residual[bad]
    msg = (
        f"osmosis step (tau={tau:g}) did not converge to rtol={rtol:g}: relative residual "
        f"{res:.3g} after {report.iterations[bad]} iterations (maxiter={maxiter}) in "
        + where.format(bad)
    )
    floor = residual_floor(tau)
    if res <= 100 * floor:
        msg += (
            f"; the residual stalled at the float64 floor of this step (about {floor:.2g}): "
            f"the result is as accurate as a direct solve, ask for rtol >= {10 * floor:.2g} "
            "or take shorter steps"
        )
    if on_fail == "warn":
        warnings.warn(msg, ConvergenceWarning, stacklevel=stacklevel)
    else:
        raise ConvergenceError(msg)


def evolve(f, stepper, times, *, tau, steps_per_decade, on_fail):
    """Osmosis frames (float64) of canonical images ``f`` (B, ny, nx) at ``times``."""
    steps, marks = osmosis_time_grid(times, tau=tau, steps_per_decade=steps_per_decade)
    out = np.empty((len(marks), *f.shape), dtype=np.float64)
    u = np.array(f, dtype=np.float64)
    k = 0
    for i, h in enumerate(steps, start=1):
        u, report = stepper.step(u, h)
        report_failure(report, h, stepper.rtol, stepper.maxiter, on_fail, stacklevel=4)
        # a converged solve has a finite residual, so only a warned failure can be non-finite
        if on_fail == "warn" and not np.all(np.isfinite(u)):
            raise ConvergenceError(f"osmosis step (tau={h:g}) produced non-finite values")
        while k < len(marks) and marks[k] == i:
            out[k] = u
            k += 1
    return out
