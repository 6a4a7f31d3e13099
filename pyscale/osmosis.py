"""Osmosis filtering (Weickert et al.): the filter, one implicit step and the Lyapunov functional.

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

import numpy as np
import numpy.typing as npt

from . import _validation as val
from ._ext import core
from ._osmosis_krylov import BASIS_RTOL, krylov_frames
from ._osmosis_solver import (
    ConvergenceError,
    ConvergenceWarning,
    Stepper,
    StepReport,
    check_integrator,
    check_method,
    check_solver_args,
    evolve,
    image_stats,
    osmosis_time_grid,
    resolve_solver,
)

__all__ = [
    "osmosis",
    "osmosis_step",
    "StepReport",
    "osmosis_drift",
    "osmosis_operator",
    "osmosis_time_grid",
    "relative_entropy",
    "ConvergenceError",
    "ConvergenceWarning",
]


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


def check_mass(stats):
    """Refuse images with negative values or no mass in some image, from their ``ImageStats``."""
    if stats.lo.min() < 0:
        raise ValueError(
            "f must be non-negative for osmosis with a guidance image; pass offset=... "
            "(e.g. offset=1.0) to shift f and the guidance"
        )
    if np.any(stats.hi <= 0):  # a non-negative image has mass where its maximum does
        raise ValueError("f must have positive mass in every image and channel")


def run(
    fc,
    op,
    times,
    *,
    tau,
    steps_per_decade,
    solver,
    preconditioner,
    rtol,
    maxiter,
    on_fail,
    workers,
    integrator="euler",
    stats,
):
    """Osmosis frames (float64, ``(K, B, ny, nx)``) of checked canonical images at ``times``.

    ``op`` is ``{"v": guidance}`` or ``{"drift": (dx, dy)}``, canonical; nothing is checked here.
    ``stats``: the :class:`~pyscale._osmosis_solver.ImageStats` of the images (None with a
    drift) and of the guidance where the caller has them (see :func:`_normalised`).
    """
    if integrator == "krylov":
        rtol = max(rtol, BASIS_RTOL)
    f, stepper, scale = _stepper(
        fc, op, solver, preconditioner, rtol, maxiter, workers, stats=stats
    )
    if integrator == "krylov":
        frames = krylov_frames(f, stepper, times, per_decade=steps_per_decade, on_fail=on_fail)
    else:
        frames = evolve(
            f, stepper, times, tau=tau, steps_per_decade=steps_per_decade, on_fail=on_fail
        )
    if scale is not None:
        frames *= scale
    return frames


def _stepper(fc, op, solver, preconditioner, rtol, maxiter, workers, breakdown=1e-10, *, stats):
    """The normalised images, the stepper of their implicit steps and the scale to undo."""
    f, op, scale, v_stats = _normalised(fc, op, stats)
    stepper = Stepper(
        **op,
        v_stats=v_stats,
        solver=resolve_solver(solver, "v" in op),
        preconditioner=preconditioner,
        rtol=rtol,
        maxiter=maxiter,
        workers=workers,
        breakdown=breakdown,
    )
    return f, stepper, scale


def _normalised(fc, op, stats):
    """Images and guidance scaled to a largest value of 1 per image, and what to keep of them.

    Returns the images, ``op``, the scale of ``f`` and the
    :class:`~pyscale._osmosis_solver.ImageStats` of the guidance as it is solved (None with a
    drift, or where the guidance was rescaled). The scale is None when the images are solved as
    they are. Osmosis is linear in ``f`` and depends on the guidance only through its relative
    variations, so the result is the scaled-back solution of the normalised problem; this keeps
    images of any positive scale (1e-200 or 1e200) away from underflow and overflow. ``stats``
    holds the statistics of the images (None with a drift) and of the guidance, which is read
    here where the caller has not read it.
    """
    f = np.asarray(fc, dtype=np.float64)
    f_stats, v_stats = stats
    if "v" in op:  # f was checked non-negative (check_mass)
        scale = f_stats.hi
    else:
        scale = np.max(np.abs(f), axis=(1, 2))
    scale = scale.reshape(-1, 1, 1).copy()
    scale[~(scale > 0) | ~np.isfinite(scale)] = 1.0
    if np.all((scale > 1e-8) & (scale < 1e8)):
        scale = None  # ordinary images are solved as they are, without rounding
    else:
        f = f / scale
    if "v" in op:
        v = np.asarray(op["v"], dtype=np.float64)
        v_stats = v_stats or image_stats(v, "guidance")
        top = v_stats.hi.reshape(-1, 1, 1)
        if not np.all((top > 1e-8) & (top < 1e8)):
            op, v_stats = {"v": v / top}, None
    return f, op, scale, v_stats


def _check_inputs(f, guidance, drift, offset, channel_axis, solver, preconditioner):
    """Validate the image, the guidance or drift and the offset; return canonical arrays.

    Returns the canonical images, ``{"v": guidance}`` or ``{"drift": (dx, dy)}``, the layout
    information, the offset and the :class:`~pyscale._osmosis_solver.ImageStats` of the images
    and the guidance (``(None, None)`` with a drift). With a guidance, each array is read once
    for all its checks (finite, positive, its mass) and for the solver's normalisation.
    """
    f = val.check_image(f, "f", allow_nonfinite=guidance is not None)  # then: image_stats
    if (guidance is None) == (drift is None):
        raise TypeError(
            "pass exactly one of guidance (a positive image of the shape of f) or drift=(dx, dy)"
        )
    check_method(solver, preconditioner, have_guidance=guidance is not None)
    offset = float(val.check_positive(offset, "offset", allow_zero=True, array=False))
    if offset:
        f = f + f.dtype.type(offset)
    fc, info = val.to_canonical(f, channel_axis)
    if guidance is not None:
        v = val.check_image(guidance, "guidance", allow_nonfinite=True)
        if v.shape != f.shape:
            raise ValueError(f"guidance must have the shape of f {f.shape}, got {v.shape}")
        if offset:
            v = v + v.dtype.type(offset)
        fc = np.ascontiguousarray(fc)
        f_stats = image_stats(fc, "f")
        vc = np.ascontiguousarray(val.to_canonical(v, channel_axis)[0])
        v_stats = image_stats(vc, "guidance")
        if not v_stats.lo.min() > 0:
            raise ValueError(
                "guidance must be strictly positive for osmosis (it has zeros or negative "
                "values); pass offset=... (e.g. offset=1.0) to shift f and the guidance"
            )
        check_mass(f_stats)
        return fc, {"v": vc}, info, offset, (f_stats, v_stats)
    dx, dy = _check_drift(drift, f, channel_axis)
    dxc, _ = val.to_canonical(dx, channel_axis)
    dyc, _ = val.to_canonical(dy, channel_axis)
    return fc, {"drift": (dxc, dyc)}, info, offset, (None, None)


def osmosis(
    f,
    guidance=None,
    *,
    t,
    drift=None,
    tau=None,
    steps_per_decade=4,
    solver="auto",
    preconditioner="auto",
    offset=0.0,
    rtol=1e-8,
    maxiter=10000,
    on_fail="raise",
    channel_axis=None,
    workers=None,
    integrator="euler",
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
        Resolution of the default growing steps (with ``integrator="krylov"``: poles per
        decade).
    solver : {"auto", "cg", "bicgstab"}, optional
        ``"bicgstab"``: stabilised BiCGSTAB on ``I - tau A``. ``"cg"``: conjugate gradients on
        the symmetric positive definite form ``(diag(v) + tau K) (u / v) = u_old`` (guidance
        only); both stop on the same residual. ``"auto"`` (default): conjugate gradients with a
        guidance image (faster, and robust on guidance of high contrast, where BiCGSTAB can
        diverge), BiCGSTAB with a drift.
    preconditioner : str or None, optional
        One of ``"auto"``, ``"two-level"``, ``"aggregation"``, ``"dct"``, ``"red-black"``,
        ``"jacobi"`` and None.
        ``"dct"``: ``P = mean(v) I + tau mean(c) L`` for the symmetric system ``diag(v) + tau K``
        (``diag(v) P^-1`` for BiCGSTAB), ``L`` the Neumann Laplacian, inverted exactly by a DCT
        along the rows and tridiagonal elimination along the columns (the inverse of the
        orthonormal 2-D DCT with eigenvalues ``4 sin^2(pi k / 2 nx) + 4 sin^2(pi l / 2 ny)``),
        ``c`` the edge weights ``2 v_p v_q / (v_p + v_q)``; for a drift ``I + tau L``. It suits
        guidance close to a constant. ``"jacobi"``: the diagonal. ``"red-black"`` (conjugate
        gradients only): the red pixels (``i + j`` even) are eliminated exactly and conjugate
        gradients with the diagonal solve the remaining system on the black ones, in about half
        the iterations of ``"jacobi"``, each on half the pixels. ``"two-level"``: a Jacobi
        sweep damped by 0.8, a ``"dct"`` correction and a second damped sweep; the sweeps take
        care of what a constant symbol misses, such as guidance pixels clipped to a tiny value.
        ``"aggregation"`` (conjugate gradients only): algebraic multigrid whose aggregates of
        up to four pixels are chosen by their quality on the edge weights, with a K-cycle; its
        iteration counts hardly depend on the size, on tau or on clipped guidance, but each
        iteration costs about three two-level ones, so it pays only on heavily clipped guidance
        at long steps.
        ``"auto"`` (default): ``"two-level"`` for steps ``tau >= 20`` and ``"red-black"`` for
        shorter ones with conjugate gradients, except that an image with at least 27 % of its
        guidance at most 1e-2 of the mean takes ``"aggregation"`` instead of ``"two-level"``;
        ``"two-level"`` for ``tau >= 3`` and ``"jacobi"`` for shorter ones with BiCGSTAB. Their
        cheap iterations beat the transforms there.
        Measured at ``tau = 1000``, rtol 1e-8, on a 321 x 481 BSDS500 channel with noise
        guidance (sd 0.1) around the channel mean (CG iterations): a bright image, none 850,
        jacobi 807, dct 14, two-level 7, aggregation 17; a dark one (mean 0.15, 7 % of the
        guidance clipped to 1e-6), none 3991, jacobi 744, dct 2090, two-level 31, aggregation
        16.
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
    integrator : {"euler", "krylov"}, optional
        ``"euler"`` (default): implicit Euler steps on the grid of :func:`osmosis_time_grid`.
        ``"krylov"`` (guidance only, no ``tau``): every output time from one rational Krylov
        basis per image, built with one solve per pole, ``steps_per_decade`` poles per decade of
        ``0.3 [min(t_first, t_last / 100), t_last]``; the frames are Galerkin approximations of
        the exact evolution that keep the mass and the steady state exactly. Its solves stop at
        ``max(rtol, 1e-5)``. On a 321 x 481 colour BSDS500 photo with noise guidance at the
        paper's times (1 to 10000) and ``steps_per_decade=2`` it is about three times as
        accurate as the default grid with 9 solves instead of 22 (maximum error 0.012 against
        0.032). It is not positivity-preserving: where the guidance has pixels clipped to a tiny
        value the frames can dip below zero by about 1e-5 (measured), which implicit Euler never
        does.

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
    fc, op, info, offset, stats = _check_inputs(
        f, guidance, drift, offset, channel_axis, solver, preconditioner
    )
    check_integrator(
        integrator, tau=tau, steps_per_decade=steps_per_decade, have_guidance="v" in op
    )
    rtol, maxiter = check_solver_args(rtol, maxiter, on_fail)
    workers = val.check_workers(workers)
    many = np.ndim(t) > 0
    times = val.check_times(t, name="t")
    if times[0] <= 0:
        raise ValueError("t must be positive for osmosis (t = 0 is the initial image)")
    out = run(
        fc,
        op,
        times,
        tau=tau,
        steps_per_decade=steps_per_decade,
        solver=solver,
        preconditioner=preconditioner,
        rtol=rtol,
        maxiter=maxiter,
        on_fail=on_fail,
        workers=workers,
        integrator=integrator,
        stats=stats,
    )
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
    solver="auto",
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
    uc, op, info, _, stats = _check_inputs(
        u, guidance, drift, 0.0, channel_axis, solver, preconditioner
    )
    tau = float(val.check_positive(tau, "tau", array=False))
    rtol, maxiter = check_solver_args(rtol, maxiter, "raise")
    breakdown = float(val.check_positive(breakdown, "breakdown", allow_zero=True, array=False))
    if breakdown >= 1:
        raise ValueError(f"breakdown must be below 1, got {breakdown}")
    f, stepper, scale = _stepper(
        uc,
        op,
        solver,
        preconditioner,
        rtol,
        maxiter,
        val.check_workers(workers),
        breakdown,
        stats=stats,
    )
    x, report = stepper.step(np.ascontiguousarray(f), tau)
    if scale is not None:
        x = x * scale
    return val.from_canonical(x.astype(uc.dtype, copy=False), info), report


def relative_entropy(u: npt.ArrayLike, v: npt.ArrayLike) -> float:
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
    u = val.check_image(u, "u").astype(np.float64, copy=False)
    v = val.check_image(v, "v").astype(np.float64, copy=False)
    if u.shape != v.shape:
        raise ValueError(f"u and v must have the same shape, got {u.shape} and {v.shape}")
    if np.any(u < 0):
        raise ValueError("u must be non-negative for relative_entropy")
    if not np.all(v > 0):
        raise ValueError("v must be strictly positive for relative_entropy")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(u > 0, u * np.log(u / v), 0.0)
    return -float(np.sum(terms))
