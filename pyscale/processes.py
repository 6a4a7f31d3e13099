"""The linear Gaussian forward processes: DPM, heat dissipation, homogeneous and blurring diffusion.

Each process is a Markov chain that is diagonal in an orthonormal basis (the pixels for DPM, the
orthonormal 2-D DCT-II for the others). Per mode ``j`` it is fully described by its marginal
coefficients

    U_t = lam_j(t) U_0 + gam_j(t) G,   G ~ N(0, I),

and the exact jump between two times ``s < t``

    U_t = a_j U_s + b_j G,   a_j = lam_j(t) / lam_j(s),   b_j**2 = gam_j(t)**2 - a_j**2 gam_j(s)**2.

One time unit is one Markov step. A trajectory at K output times costs K jumps, so ``t = 10000`` is
as cheap as ``t = 10``, and the frames have the joint law of the stepwise chain.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from . import _validation as val
from ._ext import core
from .jumps import mode_jump, pixel_jump
from .noise import ZIGGURAT_F, ZIGGURAT_X
from .spectral import laplacian_eigenvalues, transform

__all__ = [
    "Process",
    "LinearGaussianProcess",
    "DPM",
    "HeatDissipation",
    "HomogeneousDiffusion",
    "BlurringDiffusion",
]

_DEFAULT = object()  # channel_axis sentinel: colour for ndim >= 3, grey for 2-D


class Process(ABC):
    """Interface shared by all forward processes: trajectories and samples of images."""

    #: Short name used in tables and on the command line.
    name = "process"
    #: True when ``noise`` holds one draw per output time, False when it is one image-shaped draw.
    noise_per_frame = True

    @abstractmethod
    def trajectory(self, u0, times, *, seed=None, noise=None, channel_axis=_DEFAULT, workers=None):
        """Frames of one trajectory started at ``u0`` at the given output times.

        Parameters
        ----------
        u0 : array_like
            Float image in [0, 1]: ``(H, W)`` grey, ``(H, W, C)`` colour, or a batch
            ``(N, H, W[, C])``. float32 stays float32; other float types become float64.
        times : sequence of float
            Strictly increasing non-negative output times (one time unit is one Markov step).
        seed : int or None, optional
            Seed of the counter-based noise; the same seed gives the same trajectory on any
            machine and with any number of threads.
        noise : array_like, optional
            Explicit standard normal draws, shape ``(len(times), *u0.shape)``, in the pixel domain;
            draw ``k`` drives the jump to ``times[k]``. Overrides ``seed``.
        channel_axis : {-1, None}, optional
            ``-1``: the last axis holds channels (default for ``ndim >= 3``); ``None``: the last two
            axes are spatial and every other axis is a batch axis (default for 2-D input).
        workers : int or None, optional
            Threads for the transforms (``None``: all cores).

        Returns
        -------
        numpy.ndarray
            Shape ``(len(times), *u0.shape)``, dtype of ``u0`` (float32 or float64).
        """

    def sample(self, u0, t, *, seed=None, noise=None, channel_axis=_DEFAULT, workers=None):
        """One draw of ``U_t`` given ``U_0 = u0``; equal to ``trajectory(u0, [t])[0]``.

        ``noise``, if given, has the shape of ``u0``. See :meth:`trajectory` for the parameters.
        """
        val.check_time(t)
        if noise is not None:
            noise = np.asarray(noise)[None]
        return self.trajectory(
            u0, [t], seed=seed, noise=noise, channel_axis=channel_axis, workers=workers
        )[0]

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def _params(self):
        return {}

    def __eq__(self, other):
        if type(self) is not type(other):
            return NotImplemented
        a, b = self._params(), other._params()
        return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)

    __hash__ = None


def _prepare(u0, channel_axis, noise, nframes):
    """Validate an image and optional explicit noise; return canonical (B, ny, nx) views."""
    u = val.check_image(u0, "u0")
    if channel_axis is _DEFAULT:
        channel_axis = val.default_channel_axis(u.ndim)
    canon, info = val.to_canonical(u, channel_axis)
    z = None
    if noise is not None:
        z = np.asarray(noise)
        if z.shape != (nframes, *u.shape):
            raise ValueError(
                f"noise must have shape {(nframes, *u.shape)} (one draw per output time), "
                f"got {z.shape}"
            )
        z = val.check_image(z, "noise").astype(u.dtype, copy=False)
        z = np.stack([val.to_canonical(zk, channel_axis)[0] for zk in z])
    return u, canon, info, z


class LinearGaussianProcess(Process):
    """A linear Gaussian Markov process diagonal in an orthonormal basis.

    Subclasses provide the per-mode marginal and jump coefficients; this class turns them into
    trajectories, samples and the quantities of the scale-space theory.
    """

    #: ``"pixel"`` (identity basis) or ``"dct"`` (orthonormal 2-D DCT-II).
    basis = "dct"
    #: Whether times must be whole steps (per-step schedules).
    integer_times = False
    #: Last valid time (length of a per-step schedule), or ``None``.
    max_time = None

    # --- per-mode coefficients; ``mu`` is the DCT spectrum (None for pixel-basis models) ---
    @abstractmethod
    def _marginal(self, t, mu):
        """Marginal coefficients ``(lam, gam)`` at time ``t`` for the spectrum ``mu``."""

    def _jump(self, s, t, mu):
        lam_s, gam_s = self._marginal(s, mu)
        lam_t, gam_t = self._marginal(t, mu)
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(lam_s > 0, lam_t / lam_s, 0.0)
        b2 = np.maximum(gam_t**2 - a**2 * gam_s**2, 0.0)
        return a, np.sqrt(b2)

    def _spectrum(self, ny, nx):
        return None

    def _check_t(self, t, name="t"):
        return val.check_time(t, name, integer=self.integer_times, max_time=self.max_time)

    def _mode_shape(self, shape):
        if shape is None:
            if self.basis == "dct":
                raise ValueError("shape is required for a DCT-domain process: give (H, W)")
            return None
        shape = tuple(int(n) for n in shape)
        if len(shape) < 2 or min(shape) < 1:
            raise ValueError(f"shape must be an image shape (H, W[, C]) of positive sizes, got {shape}")
        return shape

    def _mu_for(self, shape, channel_axis=_DEFAULT):
        if shape is None:
            return None
        if channel_axis is _DEFAULT:
            channel_axis = val.default_channel_axis(len(shape))
        _, ny, nx = val.spatial_layout(shape, channel_axis, name="shape")
        return self._spectrum(ny, nx)

    def marginal(self, t, shape=None, *, channel_axis=_DEFAULT):
        """Per-mode coefficients ``(lam, gam)`` of ``U_t = lam U_0 + gam G``.

        Parameters
        ----------
        t : float
            Time (non-negative).
        shape : tuple of int, optional
            Image shape (as for :meth:`trajectory`); needed for DCT-domain processes.
        channel_axis : {-1, None}, optional
            How to read ``shape`` (see :meth:`trajectory`).

        Returns
        -------
        lam, gam : numpy.ndarray
            float64; 0-d for pixel-basis processes (every pixel alike), ``(H, W)`` DCT modes
            otherwise (row frequency first; every channel alike).

        Examples
        --------
        >>> import pyscale as ps
        >>> lam, gam = ps.DPM(beta=0.1).marginal(100)
        >>> round(float(lam), 4), round(float(gam), 4)
        (0.605, 0.7962)
        """
        t = self._check_t(t)
        mu = self._mu_for(self._mode_shape(shape), channel_axis)
        lam, gam = self._marginal(t, mu)
        return np.asarray(lam, dtype=np.float64), np.asarray(gam, dtype=np.float64)

    def transition(self, s, t, shape=None, *, channel_axis=_DEFAULT):
        """Per-mode coefficients ``(a, b)`` of the exact jump ``U_t = a U_s + b G`` for ``s <= t``.

        Examples
        --------
        >>> import numpy as np, pyscale as ps
        >>> p = ps.DPM(beta=0.1)
        >>> a, b = p.transition(40, 100)
        >>> lam40, gam40 = p.marginal(40)
        >>> lam, gam = p.marginal(100)
        >>> bool(np.isclose(a * lam40, lam) and np.isclose(a**2 * gam40**2 + b**2, gam**2))
        True
        """
        s = self._check_t(s, "s")
        t = self._check_t(t, "t")
        if t < s:
            raise ValueError(f"t must not be smaller than s, got s={s}, t={t}")
        mu = self._mu_for(self._mode_shape(shape), channel_axis)
        a, b = self._jump(s, t, mu)
        return np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)

    def conditional_entropy(self, t, shape, *, channel_axis=_DEFAULT):
        """Conditional differential entropy ``H(U_t | U_0)`` in nats for images of ``shape``.

        ``H = 1/2 sum_j ln(2 pi e gam_j(t)**2)`` over every mode of every channel and batch item;
        ``-inf`` when some mode is deterministic (``gam_j = 0``), e.g. for homogeneous diffusion.

        Examples
        --------
        >>> import pyscale as ps
        >>> ps.HomogeneousDiffusion().conditional_entropy(10, (8, 8))
        -inf
        """
        shape = self._mode_shape(shape)
        t = self._check_t(t)
        if channel_axis is _DEFAULT:
            channel_axis = val.default_channel_axis(len(shape))
        _, ny, nx = val.spatial_layout(shape, channel_axis, name="shape")
        copies = int(np.prod(shape)) // (ny * nx)
        _, gam = self._marginal(t, self._spectrum(ny, nx))
        gam = np.broadcast_to(np.asarray(gam, dtype=np.float64), (ny, nx))
        if np.any(gam <= 0):
            return -np.inf
        return float(copies * 0.5 * np.sum(np.log(2 * np.pi * np.e * gam**2)))

    # --- trajectories ---
    def _forward(self, x, workers):
        return transform(x, workers=workers) if self.basis == "dct" else x

    def _inverse(self, x, workers):
        return transform(x, inverse=True, workers=workers) if self.basis == "dct" else x

    def _frames(self, canon, times, seed, z, workers, start=0):
        """Yield the canonical frames ``(B, ny, nx)`` at ``times``, one jump each.

        ``z`` holds explicit pixel-domain draws ``(K, B, ny, nx)`` or is None; then draws come
        from ``seed`` with flat indices offset by ``start`` (so a slice of a batch gets the draws
        it has inside the whole batch).
        """
        dtype = canon.dtype
        mu = self._spectrum(*canon.shape[1:])
        t_prev = 0.0
        prev = np.ascontiguousarray(canon) if self.basis == "pixel" else None
        state = None if self.basis == "pixel" else np.ascontiguousarray(
            self._forward(canon, workers), dtype=dtype)
        for k, t in enumerate(times):
            # overflow shows up as a non-finite frame and is reported by check_result
            with np.errstate(over="ignore", invalid="ignore"):
                a, b = self._jump(t_prev, t, mu)
                if self.basis == "pixel":
                    frame = np.empty_like(prev)
                    if z is None:
                        pixel_jump(prev, frame, a, b, seed, k, workers, start)
                    else:
                        np.add(dtype.type(a) * prev, dtype.type(b) * z[k], out=frame)
                    prev = frame
                else:
                    if not np.any(b > 0):
                        state *= np.asarray(a, dtype=dtype)
                    elif z is None:
                        mode_jump(state, a, b, seed, k, workers, start)
                    else:
                        state *= np.asarray(a, dtype=dtype)
                        state += np.asarray(b, dtype=dtype) * self._forward(z[k], workers)
                    frame = self._inverse(state, workers)
            yield val.check_result(frame, "u0 or the noise parameters")
            t_prev = t

    def _fused(self, buf, canon, times, seed, workers):
        """All frames of a DCT-domain trajectory in one compiled call (one transform per frame)."""
        mu = self._spectrum(*canon.shape[1:])
        coef_a = np.empty((times.size, *mu.shape))
        coef_b = np.empty_like(coef_a)
        t_prev = 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            for k, t in enumerate(times):
                coef_a[k], coef_b[k] = self._jump(t_prev, t, mu)
                t_prev = t
            core.dct_trajectory(np.ascontiguousarray(canon), coef_a, coef_b, seed,
                                bool(np.any(coef_b > 0)), int(workers), 0, ZIGGURAT_X, ZIGGURAT_F,
                                out=buf)
        val.check_result(buf, "u0 or the noise parameters")

    def _setup(self, u0, times, seed, noise, channel_axis, workers):
        times = val.check_times(times, integer=self.integer_times, max_time=self.max_time)
        u, canon, info, z = _prepare(u0, channel_axis, noise, times.size)
        seed = val.check_seed(seed) if z is None else 0
        return times, u, canon, info, z, seed, val.check_workers(workers)

    def drawn_noise(self, u0, times, *, seed, channel_axis=_DEFAULT):
        """The pixel-domain draws a trajectory with ``seed`` uses, shape ``(len(times), *u0.shape)``.

        Passing them as ``noise=`` reproduces the seeded trajectory; for DCT-domain models they are
        the inverse DCT of the draws made in the DCT domain (white noise either way).
        """
        times, u, canon, info, _, seed, _ = self._setup(u0, times, seed, None, channel_axis, 1)
        from .noise import standard_normal

        z = np.stack([standard_normal(seed, k, canon.shape, u.dtype) for k in range(times.size)])
        if self.basis == "dct":
            z = transform(z, inverse=True)
        return val.from_canonical(z, info, leading=(times.size,))

    def trajectory(self, u0, times, *, seed=None, noise=None, channel_axis=_DEFAULT, workers=None,
                   return_noise=False, out=None):  # noqa: D417
        """Frames of one trajectory started at ``u0`` at the given output times.

        See :meth:`Process.trajectory`. Additionally:

        Parameters
        ----------
        return_noise : bool, optional
            Also return the pixel-domain standard normal draws that drove each jump (the targets
            of noise-prediction losses), shape ``(len(times), *u0.shape)``.
        out : numpy.ndarray, optional
            Buffer of shape ``(len(times), *u0.shape)`` and the dtype of ``u0`` to write into.

        Returns
        -------
        frames : numpy.ndarray
            ``(len(times), *u0.shape)``.
        noise : numpy.ndarray
            Only with ``return_noise=True``.

        Examples
        --------
        >>> import numpy as np, pyscale as ps
        >>> p = ps.BlurringDiffusion(beta=0.1)
        >>> u0 = np.full((8, 8), 0.5)
        >>> frames, eps = p.trajectory(u0, [5], seed=0, return_noise=True)
        >>> lam, gam = p.marginal(5, u0.shape)
        >>> bool(np.allclose(frames[0], ps.idct2(lam * ps.dct2(u0) + gam * ps.dct2(eps[0]))))
        True
        """
        if return_noise:
            if noise is None:
                noise = self.drawn_noise(u0, times, seed=seed, channel_axis=channel_axis)
            frames = self.trajectory(u0, times, noise=noise, channel_axis=channel_axis,
                                     workers=workers, out=out)
            return frames, np.asarray(noise)
        times, u, canon, info, z, seed, workers = self._setup(
            u0, times, seed, noise, channel_axis, workers)
        shape = (times.size, *u.shape)
        if out is not None:
            if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != u.dtype:
                raise ValueError(f"out must be an ndarray of shape {shape} and dtype {u.dtype}")
            if not out.flags.writeable:
                raise ValueError("out must be writeable")
        direct = out is not None and not info[1] and out.flags.c_contiguous
        buf = out.reshape(times.size, *canon.shape) if direct else np.empty(
            (times.size, *canon.shape), dtype=u.dtype)
        if self.basis == "dct" and z is None:
            self._fused(buf, canon, times, seed, workers)
        else:
            for k, frame in enumerate(self._frames(canon, times, seed, z, workers)):
                buf[k] = frame
        if direct:
            return out
        result = val.from_canonical(buf, info, leading=(times.size,))
        if out is not None:
            np.copyto(out, result)
            return out
        return result

    def iter_frames(self, u0, times, *, seed=None, noise=None, channel_axis=_DEFAULT, workers=None):
        """Yield the frames of :meth:`trajectory` one output time at a time.

        Memory stays at one frame plus the state, however many times are asked for; the frames
        equal those of :meth:`trajectory` with the same arguments.

        Examples
        --------
        >>> import numpy as np, pyscale as ps
        >>> p, u0 = ps.DPM(beta=0.1), np.full((4, 4), 0.5)
        >>> frames = list(p.iter_frames(u0, range(1, 101), seed=3))
        >>> bool(np.array_equal(frames[-1], p.trajectory(u0, range(1, 101), seed=3)[-1]))
        True
        """
        times, u, canon, info, z, seed, workers = self._setup(
            u0, times, seed, noise, channel_axis, workers)
        for frame in self._frames(canon, times, seed, z, workers):
            yield val.from_canonical(frame, info)

    def iter_batches(self, u0, times, *, batch_size, seed=None, channel_axis=_DEFAULT,
                     workers=None):
        """Yield ``(index, frames)`` for consecutive chunks of a batch ``(N, H, W[, C])``.

        ``frames`` equals ``trajectory(u0, times, seed=seed)[:, index]``: each chunk gets the
        draws it has inside the whole batch, so memory is bounded by ``batch_size`` images
        without changing the result. ``u0`` may be a memory-mapped array.

        Examples
        --------
        >>> import numpy as np, pyscale as ps
        >>> p, u0 = ps.BlurringDiffusion(), np.full((5, 8, 8), 0.5)
        >>> chunks = [f for _, f in p.iter_batches(u0, [10], batch_size=2, seed=1, channel_axis=None)]
        >>> whole = p.trajectory(u0, [10], seed=1, channel_axis=None)
        >>> bool(np.array_equal(np.concatenate(chunks, axis=1), whole))
        True
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if channel_axis is _DEFAULT:
            channel_axis = val.default_channel_axis(np.ndim(u0) - 1)
        n = np.shape(u0)[0]
        per_image = int(np.prod(np.shape(u0)[1:]))
        times = val.check_times(times, integer=self.integer_times, max_time=self.max_time)
        seed = val.check_seed(seed)
        workers = val.check_workers(workers)
        for lo in range(0, n, batch_size):
            chunk = np.asarray(u0[lo : lo + batch_size])
            _, canon, info, _ = _prepare(chunk, channel_axis, None, times.size)
            frames = np.stack(list(self._frames(canon, times, seed, None, workers, lo * per_image)))
            yield slice(lo, lo + chunk.shape[0]), val.from_canonical(frames, info, leading=(times.size,))

    def posterior(self, s, t, u_t, u_0, *, channel_axis=_DEFAULT, workers=None):
        """Mean and per-mode standard deviation of ``q(u_s | u_t, u_0)`` for ``0 <= s <= t``.

        The training target of a reverse process. Per mode, with the marginal ``(lam_s, gam_s)``
        and the jump ``(a, b)`` from ``s`` to ``t``, the posterior is Gaussian with variance
        ``gam_s**2 b**2 / gam_t**2`` and mean ``(b**2 lam_s u_0 + a gam_s**2 u_t) / gam_t**2``
        (deterministic modes, ``gam_t = 0``, give ``lam_s u_0`` with zero spread).

        Returns
        -------
        mean : numpy.ndarray
            Posterior mean in the pixel domain, shape of ``u_t``.
        std : numpy.ndarray
            Posterior standard deviation per mode (0-d for pixel-basis processes, ``(H, W)`` DCT
            modes otherwise).

        Examples
        --------
        >>> import numpy as np, pyscale as ps
        >>> p, u0 = ps.DPM(beta=0.1), np.full((4, 4), 0.5)
        >>> mean, std = p.posterior(0, 10, p.sample(u0, 10, seed=0), u0)
        >>> bool(np.allclose(mean, u0)), float(std)
        (True, 0.0)
        """
        s = self._check_t(s, "s")
        t = self._check_t(t, "t")
        if t < s:
            raise ValueError(f"t must not be smaller than s, got s={s}, t={t}")
        ut = val.check_image(u_t, "u_t")
        u0 = val.check_image(u_0, "u_0")
        if ut.shape != u0.shape:
            raise ValueError(f"u_t and u_0 must have the same shape, got {ut.shape} and {u0.shape}")
        if channel_axis is _DEFAULT:
            channel_axis = val.default_channel_axis(ut.ndim)
        ct, info = val.to_canonical(ut, channel_axis)
        c0, _ = val.to_canonical(u0.astype(ut.dtype, copy=False), channel_axis)
        workers = val.check_workers(workers)
        mu = self._spectrum(*ct.shape[1:])
        lam_s, gam_s = self._marginal(s, mu)
        a, b = self._jump(s, t, mu)
        gam_t2 = a**2 * gam_s**2 + b**2
        with np.errstate(divide="ignore", invalid="ignore"):
            w0 = np.where(gam_t2 > 0, b**2 * lam_s / gam_t2, lam_s)
            wt = np.where(gam_t2 > 0, a * gam_s**2 / gam_t2, 0.0)
            var = np.where(gam_t2 > 0, gam_s**2 * b**2 / gam_t2, 0.0)
        dtype = ut.dtype
        mean = (np.asarray(w0, dtype=dtype) * self._forward(c0, workers)
                + np.asarray(wt, dtype=dtype) * self._forward(ct, workers))
        mean = self._inverse(mean, workers)
        return val.from_canonical(mean, info), np.sqrt(var)


def _schedule_pair(alpha, beta):
    """Validate a DPM schedule; return (alpha, beta) as float64 arrays (0-d or 1-D)."""
    beta = val.check_open_unit(beta, "beta")
    if alpha is None:
        alpha = np.sqrt(1.0 - beta**2)
    else:
        alpha = val.check_positive(alpha, "alpha")
        if np.any(alpha > 1):
            raise ValueError(f"alpha must lie in (0, 1], got {alpha!r}")
    if alpha.ndim == 1 and beta.ndim == 1 and alpha.size != beta.size:
        raise ValueError(
            f"alpha and beta schedules must have the same length, got {alpha.size} and {beta.size}"
        )
    return alpha, beta


class DPM(LinearGaussianProcess):
    """Diffusion probabilistic model ``U_i = alpha_i U_{i-1} + beta_i G`` acting on every pixel.

    Parameters
    ----------
    beta : float or array_like
        Noise standard deviation per step, in (0, 1); an array gives a per-step schedule.
    alpha : float or array_like, optional
        Scaling per step, in (0, 1]. Default ``sqrt(1 - beta**2)`` (variance preserving);
        ``alpha=1.0`` gives the variance-exploding model.

    Notes
    -----
    The marginal is ``lam(t) = prod_{i<=t} alpha_i`` and ``gam(t)**2 =
    sum_{k<=t} beta_k**2 prod_{k<l<=t} alpha_l**2``: variances of the independent steps add. (The
    paper's Eq. 14 adds standard deviations instead, which is wrong; its Eq. 15 for the
    variance-preserving case agrees with the formula here.)

    Examples
    --------
    >>> import numpy as np, pyscale as ps
    >>> u0 = np.full((4, 4), 0.5)
    >>> frames = ps.DPM(beta=0.1).trajectory(u0, [1, 10, 100], seed=0)
    >>> frames.shape
    (3, 4, 4)
    """

    name = "dpm"
    basis = "pixel"

    def __init__(self, beta=0.1, alpha=None):
        self.alpha, self.beta = _schedule_pair(alpha, beta)
        self._given_alpha = alpha is not None
        n = max(self.alpha.size if self.alpha.ndim else 0, self.beta.size if self.beta.ndim else 0)
        self.per_step = self.alpha.ndim == 1 or self.beta.ndim == 1
        if self.per_step:
            a = np.broadcast_to(self.alpha, (n,)).astype(np.float64)
            b = np.broadcast_to(self.beta, (n,)).astype(np.float64)
            # cumulative log-scaling and variance after i steps, i = 0..n
            self._loglam = np.concatenate([[0.0], np.cumsum(np.log(a))])
            g2 = np.zeros(n + 1)
            for i in range(n):
                g2[i + 1] = a[i] ** 2 * g2[i] + b[i] ** 2
            self._gam2 = g2
            self._a, self._b = a, b
            self.integer_times = True
            self.max_time = n

    @property
    def variance_exploding(self):
        """True when every ``alpha_i`` is 1."""
        return bool(np.all(self.alpha == 1.0))

    def _params(self):
        p = {"beta": self.beta}
        if self._given_alpha:
            p["alpha"] = self.alpha
        return p

    def __repr__(self):
        def short(x):
            return float(x) if x.ndim == 0 else f"<{x.size}-step schedule>"

        params = ", ".join(f"{k}={short(v)!r}" for k, v in self._params().items())
        return f"DPM({params})"

    def _marginal(self, t, mu):
        if self.per_step:
            i = int(round(t))
            return np.exp(self._loglam[i]), np.sqrt(self._gam2[i])
        a, b = float(self.alpha), float(self.beta)
        if a == 1.0:
            return 1.0, b * np.sqrt(t)
        la = np.log(a)
        return np.exp(t * la), b * np.sqrt(np.expm1(2 * t * la) / np.expm1(2 * la))

    def _jump(self, s, t, mu):
        if self.per_step:
            i, j = int(round(s)), int(round(t))
            a = np.exp(self._loglam[j] - self._loglam[i])
            # variance of the steps i+1..j, summed exactly rather than by a difference
            k = np.arange(i, j)
            b2 = np.sum(self._b[k] ** 2 * np.exp(2 * (self._loglam[j] - self._loglam[k + 1])))
            return a, np.sqrt(b2)
        # time-homogeneous: the jump s -> t is the marginal of t - s
        return self._marginal(t - s, mu)


class _DCTProcess(LinearGaussianProcess):
    """Common parts of the DCT-domain models."""

    basis = "dct"

    def __init__(self, spectrum="continuous"):
        if spectrum not in ("continuous", "discrete"):
            raise ValueError(f"spectrum must be 'continuous' or 'discrete', got {spectrum!r}")
        self.spectrum = spectrum

    def _spectrum(self, ny, nx):
        return laplacian_eigenvalues(ny, nx, self.spectrum)


class HomogeneousDiffusion(_DCTProcess):
    """Homogeneous diffusion (Gaussian scale-space), ``U_t = exp(t Laplacian) U_0``: deterministic.

    Parameters
    ----------
    spectrum : {"continuous", "discrete"}
        Eigenvalues of the Laplacian (see :func:`pyscale.laplacian_eigenvalues`).

    Examples
    --------
    >>> import numpy as np, pyscale as ps
    >>> u = ps.HomogeneousDiffusion().sample(np.eye(8), 5.0)
    >>> round(float(u.mean()), 6) == round(1 / 8, 6)
    True
    """

    name = "homogeneous"

    def _params(self):
        return {"spectrum": self.spectrum}

    def _marginal(self, t, mu):
        return np.exp(-mu * t), np.zeros_like(mu)

    def _jump(self, s, t, mu):
        return np.exp(-mu * (t - s)), np.zeros_like(mu)


class HeatDissipation(_DCTProcess):
    """Inverse heat dissipation forward process (Rissanen et al.): blur plus observation noise.

    ``U_t = exp(t Laplacian) U_0 + sigma E`` for ``t > 0``: the noise is not accumulated, so
    ``gam_j(t) = sigma`` for every mode and every ``t > 0``. As a Markov chain the jump ``s -> t``
    has ``a_j = exp(-mu_j (t - s))`` and ``b_j**2 = sigma**2 (1 - a_j**2)`` (``sigma**2`` from 0).

    Parameters
    ----------
    sigma : float
        Observation noise standard deviation (paper: 0.01).
    spectrum : {"continuous", "discrete"}
        Eigenvalues of the Laplacian (the paper and Rissanen et al. use ``"continuous"``).
    preserve_mean : bool
        If True, the DC mode gets no noise, so the average grey value is preserved exactly;
        otherwise it is preserved in expectation.
    """

    name = "heat"

    def __init__(self, sigma=0.01, spectrum="continuous", preserve_mean=False):
        super().__init__(spectrum)
        self.sigma = float(val.check_positive(sigma, "sigma", array=False))
        self.preserve_mean = bool(preserve_mean)

    def _params(self):
        return {"sigma": self.sigma, "spectrum": self.spectrum, "preserve_mean": self.preserve_mean}

    def _noise_sd(self, mu):
        sd = np.full_like(mu, self.sigma)
        if self.preserve_mean:
            sd[0, 0] = 0.0
        return sd

    def _marginal(self, t, mu):
        return np.exp(-mu * t), self._noise_sd(mu) * (t > 0)

    def _jump(self, s, t, mu):
        a = np.exp(-mu * (t - s))
        if t == s:
            return a, np.zeros_like(mu)
        if s == 0:
            return a, self._noise_sd(mu)
        return a, self._noise_sd(mu) * np.sqrt(-np.expm1(-2 * mu * (t - s)))


class BlurringDiffusion(_DCTProcess):
    """Blurring diffusion (Hoogeboom and Salimans): per DCT mode ``U_{i+1} = a_j U_i + beta G``.

    With ``a_j = exp(-mu_j)`` per unit step, ``lam_j(t) = exp(-mu_j t)`` and
    ``gam_j(t)**2 = beta**2 (1 - exp(-2 mu_j t)) / (1 - exp(-2 mu_j))`` (``beta**2 t`` for the DC
    mode): variances add (the paper's Eq. 40 adds standard deviations).

    Parameters
    ----------
    beta : float
        Noise standard deviation per step, in (0, 1) (paper: 0.1).
    spectrum : {"continuous", "discrete"}
        Eigenvalues of the Laplacian.
    preserve_mean : bool
        If True, the DC mode gets no noise, so the average grey value is preserved exactly;
        otherwise it is preserved in expectation only.
    """

    name = "blurring"

    def __init__(self, beta=0.1, spectrum="continuous", preserve_mean=False):
        super().__init__(spectrum)
        beta = val.check_open_unit(beta, "beta")
        if beta.ndim:
            raise ValueError(f"beta must be a scalar for BlurringDiffusion, got shape {beta.shape}")
        self.beta = float(beta)
        self.preserve_mean = bool(preserve_mean)

    def _params(self):
        return {"beta": self.beta, "spectrum": self.spectrum, "preserve_mean": self.preserve_mean}

    def _var_factor(self, dt, mu):
        """``(1 - exp(-2 mu dt)) / (1 - exp(-2 mu))``, with the limit ``dt`` at ``mu = 0``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.expm1(-2 * mu * dt) / np.expm1(-2 * mu)
        f = np.where(mu > 0, f, dt)
        if self.preserve_mean:
            f = f.copy()
            f[0, 0] = 0.0
        return f

    def _marginal(self, t, mu):
        return np.exp(-mu * t), self.beta * np.sqrt(self._var_factor(t, mu))

    def _jump(self, s, t, mu):
        return self._marginal(t - s, mu)
