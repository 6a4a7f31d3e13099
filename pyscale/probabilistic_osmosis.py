"""Probabilistic osmosis (Sect. 6.2 of the paper): osmosis towards a noise guidance image."""

from __future__ import annotations

import numpy as np

from . import _validation as val
from ._osmosis_solver import check_integrator, check_method, check_solver_args, image_stats
from .noise import GUIDANCE_STREAM, standard_normal
from .osmosis import check_mass, run
from .processes import Process

__all__ = ["ProbabilisticOsmosis"]


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
        Resolution of the default growing steps (with ``integrator="krylov"``: poles per
        decade).
    offset : float, optional
        Shift for images with zeros, added to the image and the guidance (see :func:`osmosis`).
    rtol : float, optional
        Relative residual of each linear solve.
    clip : tuple of float, optional
        Range the guidance noise is clipped to.
    solver : {"cg", "bicgstab"}, optional
        Linear solver of the implicit steps (see :func:`osmosis`); the benchmark pages of the
        documentation compare the solvers and preconditioners on bright and dark photos.
    preconditioner : str or None, optional
        One of ``"auto"``, ``"two-level"``, ``"aggregation"``, ``"dct"``, ``"red-black"``,
        ``"jacobi"`` and None.
        Preconditioner of the solves (see :func:`osmosis`).
    maxiter : int, optional
        Iteration cap of each solve.
    on_fail : {"raise", "warn"}, optional
        Reaction to a solve that misses ``rtol`` (see :func:`osmosis`).
    integrator : {"euler", "krylov"}, optional
        Implicit Euler steps (default) or one rational Krylov basis for all output times
        (faster and more accurate, not positivity-preserving; see :func:`osmosis`).

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
        integrator="euler",
    ):
        self.sigma = float(val.check_positive(sigma, "sigma", array=False))
        self.tau = None if tau is None else float(val.check_positive(tau, "tau", array=False))
        check_integrator(integrator, tau=tau, steps_per_decade=steps_per_decade, have_guidance=True)
        self.integrator = integrator
        self.steps_per_decade = int(steps_per_decade)
        self.offset = float(val.check_positive(offset, "offset", allow_zero=True, array=False))
        self.rtol, self.maxiter = check_solver_args(rtol, maxiter, on_fail)
        self.on_fail = on_fail
        check_method(solver, preconditioner, have_guidance=True)
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
            "integrator": self.integrator,
        }

    def _canonical(self, u0, seed, noise, channel_axis):
        """Check ``u0`` and the noise once; return them canonical with the guidance."""
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
        return canon, info, v

    def guidance(self, u0, *, seed=None, noise=None, channel_axis=None):
        """The guidance image a trajectory with this ``seed`` (or explicit ``noise``) uses."""
        _, info, v = self._canonical(u0, seed, noise, channel_axis)
        return val.from_canonical(v, info)

    def trajectory(self, u0, times, *, seed=None, noise=None, channel_axis=None, workers=None):
        """Frames of the osmosis evolution of ``u0`` towards a noise guidance image.

        ``noise`` (optional) is the standard normal draw behind the guidance image, with the
        shape of ``u0``; otherwise it comes from ``seed``. See :meth:`pyscale.DPM.trajectory`.
        """
        times = val.check_times(times)
        workers = val.check_workers(workers)
        canon, info, v = self._canonical(u0, seed, noise, channel_axis)
        positive = times > 0
        frames = self._evolve(canon, v, times[positive], workers) if np.any(positive) else None
        if np.all(positive):  # the frames are the result (no copy in float64)
            out = frames.astype(canon.dtype, copy=False)
        else:
            out = np.empty((times.size, *canon.shape), dtype=canon.dtype)
            out[~positive] = canon
            if frames is not None:
                out[positive] = frames
        return val.from_canonical(out, info, leading=(times.size,))

    def _evolve(self, canon, v, times, workers):
        """Float64 frames ``(K, B, ny, nx)`` of the checked canonical images at positive times."""
        shift = canon.dtype.type(self.offset)
        f = canon + shift if self.offset else canon
        f_stats = image_stats(f, "u0")
        check_mass(f_stats)
        frames = run(
            f,
            {"v": v + shift if self.offset else v},
            times,
            tau=self.tau,
            steps_per_decade=self.steps_per_decade,
            solver=self.solver,
            preconditioner=self.preconditioner,
            rtol=self.rtol,
            maxiter=self.maxiter,
            on_fail=self.on_fail,
            workers=workers,
            integrator=self.integrator,
            stats=(f_stats, None),
        )
        if self.offset:
            frames -= self.offset
        return frames
