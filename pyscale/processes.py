"""The forward processes' common interface and the linear Gaussian processes' machinery.

Each linear process is a Markov chain that is diagonal in an orthonormal basis (the pixels, or
the orthonormal 2-D DCT-II). Per mode ``j`` it is fully described by its marginal coefficients

    U_t = lam_j(t) U_0 + gam_j(t) G,   G ~ N(0, I),

and the exact jump between two times ``s < t``

    U_t = a_j U_s + b_j G,   a_j = lam_j(t) / lam_j(s),   b_j**2 = gam_j(t)**2 - a_j**2 gam_j(s)**2.

A trajectory at K output times costs K jumps, so ``t = 10000`` is as cheap as ``t = 10``, and the
frames have the joint law of the stepwise chain. A new process is one subclass that says how its
coefficients depend on ``t`` (:meth:`LinearGaussianProcess.mode_marginal`), or a
:class:`DiagonalProcess` built from a function.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _validation as val
from ._sampling import Sampler
from ._targets import TrainingTargets
from .spectral import eigenvalues, laplacian_eigenvalues

__all__ = ["Process", "LinearGaussianProcess", "DiagonalProcess"]


class Process(ABC):
    """Interface shared by all forward processes: trajectories and samples of images.

    Images are float arrays whose last two axes are spatial unless ``channel_axis`` says which
    axis holds channels; every other axis is a batch axis (see :func:`pyscale.spatial_axes`).
    """

    #: Short name used in tables and on the command line.
    name = "process"
    #: True when ``noise`` holds one draw per output time, False when it is one image-shaped draw.
    noise_per_frame = True

    @abstractmethod
    def trajectory(self, u0, times, *, seed=None, noise=None, channel_axis=None, workers=None):
        """Frames of one trajectory started at ``u0`` at the given output times.

        Parameters
        ----------
        u0 : array_like
            Float image (values in [0, 1] by convention). The last two axes are spatial and every
            other axis is a batch axis, unless ``channel_axis`` names the axis of colour channels
            (then the last two of the other axes are spatial). float32 stays float32; other float
            types become float64.
        times : sequence of float
            Strictly increasing non-negative output times.
        seed : int or None, optional
            Seed of the counter-based noise; the same seed gives the same trajectory on any
            machine and with any number of threads.
        noise : array_like, optional
            Explicit standard normal draws, shape ``(len(times), *u0.shape)``, in the pixel domain;
            draw ``k`` drives the jump to ``times[k]``. Overrides ``seed``.
        channel_axis : int or None, optional
            The axis of colour channels (``-1`` for ``(H, W, C)``, ``1`` for ``(N, C, H, W)``,
            ``0`` for ``(C, H, W)``); ``None`` (default): no channel axis. Channels are filtered
            one by one.
        workers : int or None, optional
            Threads (``None``: all cores).

        Returns
        -------
        numpy.ndarray
            Shape ``(len(times), *u0.shape)``, dtype of ``u0`` (float32 or float64).
        """

    def sample(self, u0, t, *, seed=None, noise=None, channel_axis=None, workers=None):
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

    __hash__ = None  # type: ignore[assignment]  # mutable parameters: not hashable


class LinearGaussianProcess(Sampler, TrainingTargets, Process):
    """A linear Gaussian Markov process diagonal in an orthonormal basis.

    A subclass sets :attr:`basis` and implements :meth:`mode_marginal`; it may override
    :meth:`mode_transition` (for accuracy), :meth:`decay_rates` (another spectrum) and the time
    range (:attr:`integer_times`, :attr:`max_time`). Everything else (trajectories, samples at
    per-example times, posteriors, training targets and reverse steps) follows from these.
    """

    #: ``"pixel"`` (identity basis: one mode per pixel, all alike) or ``"dct"`` (2-D DCT-II).
    basis: str = "dct"
    #: Whether times must be whole steps (per-step schedules).
    integer_times: bool = False
    #: Last valid time, or ``None``.
    max_time: float | None = None

    # --- the per-mode description of a process -------------------------------------------------
    def decay_rates(self, ny: int, nx: int) -> np.ndarray | None:
        """The DCT spectrum ``mu`` of ``ny x nx`` images, or None for a pixel-basis process."""
        if self.basis == "pixel":
            return None
        return laplacian_eigenvalues(ny, nx, getattr(self, "spectrum", "continuous"))

    def _rates(self, ny, nx):
        """:meth:`decay_rates` for the samplers: cached (read-only) unless overridden."""
        if self.basis == "pixel":
            return None
        if type(self).decay_rates is LinearGaussianProcess.decay_rates:
            return eigenvalues(ny, nx, getattr(self, "spectrum", "continuous"))
        return self.decay_rates(ny, nx)

    @abstractmethod
    def mode_marginal(self, t: np.ndarray, mu: np.ndarray | None) -> tuple[Any, Any]:
        """Marginal coefficients ``(lam, gam)`` of ``U_t = lam U_0 + gam G`` per mode.

        ``t`` is a float64 array of times; for DCT-domain processes it has two trailing axes of
        length 1 so that it broadcasts against the spectrum ``mu`` (``(ny, nx)``); for pixel-basis
        processes ``mu`` is None. Returns two arrays that broadcast to ``t``'s (and ``mu``'s)
        shape.
        """

    def mode_transition(
        self, s: np.ndarray, t: np.ndarray, mu: np.ndarray | None
    ) -> tuple[Any, Any]:
        """Jump coefficients ``(a, b)`` of ``U_t = a U_s + b G`` per mode for ``s <= t``.

        Default: from the marginals, ``a = lam(t) / lam(s)``, ``b**2 = gam(t)**2 - a**2
        gam(s)**2``. Arguments as for :meth:`mode_marginal`.
        """
        lam_s, gam_s = self.mode_marginal(s, mu)
        lam_t, gam_t = self.mode_marginal(t, mu)
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(lam_s > 0, lam_t / lam_s, 0.0)
        b2 = np.maximum(np.square(gam_t) - np.square(a) * np.square(gam_s), 0.0)
        return a, np.sqrt(b2)

    # --- coefficients as arrays ---------------------------------------------------------------
    def _check_t(self, t, name="t"):
        return val.check_example_times(t, name, integer=self.integer_times, max_time=self.max_time)

    def spectrum_of(
        self, shape: tuple[int, ...] | None, *, channel_axis: int | None = None
    ) -> np.ndarray | None:
        """The DCT spectrum ``mu`` of images of ``shape`` (None for pixel-basis processes).

        ``shape`` is read with the channel-axis rule (see :meth:`trajectory`); it may be None for
        pixel-basis processes.
        """
        if shape is None:
            if self.basis == "dct":
                raise ValueError("shape is required for a DCT-domain process: give (H, W)")
            return None
        shape = tuple(int(n) for n in shape)
        if len(shape) < 2 or min(shape) < 1:
            raise ValueError(f"shape must be an image shape of positive sizes, got {shape}")
        _, ny, nx = val.spatial_layout(shape, channel_axis, name="shape")
        return self.decay_rates(ny, nx)

    def mode_limit(self, mu: np.ndarray | None) -> tuple[Any, Any]:
        """Per-mode limit ``(lam, gam)`` of the marginal as ``t -> inf``.

        For a process with a last time (:attr:`max_time`) the coefficients there. Processes with
        an unbounded time range override this with their limit.
        """
        if self.max_time is None:
            raise TypeError(
                f"no steady state known for {type(self).__name__}: it has no "
                "last time and does not define mode_limit"
            )
        return self.mode_marginal(np.asarray(float(self.max_time)), mu)

    def mean_preservation(self) -> str:
        """How the process treats the average grey value of each image and channel (Prop. 8).

        Read off the coefficients of the mean (the DC mode, or every pixel alike) at a few
        times: ``"exact"`` when ``lam = 1`` and ``gam = 0`` (every trajectory keeps it),
        ``"expectation"`` when ``lam = 1`` and ``gam > 0`` (kept on average), else ``"none"``.
        """
        mu = self.decay_rates(2, 2)
        end = 10.0 if self.max_time is None else float(self.max_time)
        t = np.linspace(end / 10, end, 10)
        lam, gam = self._coefficients(None, t, mu)
        lam, gam = (x.reshape(t.size, -1)[:, 0] for x in (lam, gam))
        if not np.allclose(lam, 1.0, rtol=0, atol=1e-12):
            return "none"
        return "exact" if np.all(gam == 0) else "expectation"

    def _coefficients(self, s, t, mu):
        """``(a, b)`` of shape ``(G, *modes)`` for times ``t`` (G,) from ``s`` (None: the data)."""
        mode_shape = () if mu is None else mu.shape
        expand = (lambda x: x) if mu is None else (lambda x: x[:, None, None])
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            if s is None:
                a, b = self.mode_marginal(expand(t), mu)
            else:
                a, b = self.mode_transition(expand(s), expand(t), mu)
        shape = (t.size, *mode_shape)
        return _as_shape(a, shape), _as_shape(b, shape)

    @staticmethod
    def _public(pair, t):
        """Coefficients for a scalar ``t`` (modes only) or a 1-D ``t`` (leading axis)."""
        return tuple(np.array(x[0] if np.ndim(t) == 0 else x) for x in pair)

    def marginal(
        self,
        t: npt.ArrayLike,
        shape: tuple[int, ...] | None = None,
        *,
        channel_axis: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-mode coefficients ``(lam, gam)`` of ``U_t = lam U_0 + gam G``.

        Parameters
        ----------
        t : float or array_like
            Time, or one time per example (1-D).
        shape : tuple of int, optional
            Image shape (as for :meth:`trajectory`); needed for DCT-domain processes.
        channel_axis : int or None, optional
            How to read ``shape`` (see :meth:`trajectory`).

        Returns
        -------
        lam, gam : numpy.ndarray
            float64; 0-d for pixel-basis processes (every pixel alike), ``(H, W)`` DCT modes
            otherwise (row frequency first; every channel alike); with an array of times, a
            leading axis of its length.

        Examples
        --------
        >>> import pyscale as ps
        >>> lam, gam = ps.DPM(beta=0.1).marginal(100)
        >>> round(float(lam), 4), round(float(gam), 4)
        (0.605, 0.7962)
        >>> ps.DPM(beta=0.1).marginal([1, 10, 100])[0].shape
        (3,)
        """
        t = self._check_t(t)
        mu = self.spectrum_of(shape, channel_axis=channel_axis)
        return self._public(self._coefficients(None, np.atleast_1d(t), mu), t)

    def transition(
        self,
        s: npt.ArrayLike,
        t: npt.ArrayLike,
        shape: tuple[int, ...] | None = None,
        *,
        channel_axis: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-mode coefficients ``(a, b)`` of the exact jump ``U_t = a U_s + b G`` for ``s <= t``.

        ``s`` and ``t`` are times or 1-D arrays of per-example times (broadcast together).

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
        s, t = self._time_pair(s, t)
        mu = self.spectrum_of(shape, channel_axis=channel_axis)
        pair = self._coefficients(np.atleast_1d(s), np.atleast_1d(t), mu)
        return self._public(pair, t)

    def _time_pair(self, s, t):
        s, t = self._check_t(s, "s"), self._check_t(t, "t")
        if np.ndim(s) or np.ndim(t):
            try:
                s, t = np.broadcast_arrays(np.asarray(s, dtype=np.float64), t)
            except ValueError:
                raise ValueError(
                    f"s and t must have the same length, got {np.shape(s)} and {np.shape(t)}"
                ) from None
        if np.any(np.asarray(t) < s):
            raise ValueError(f"t must not be smaller than s, got s={s}, t={t}")
        return s, t

    def conditional_entropy(
        self, t: float, shape: tuple[int, ...], *, channel_axis: int | None = None
    ) -> float:
        """Conditional differential entropy ``H(U_t | U_0)`` in nats for images of ``shape``.

        ``H = 1/2 sum_j ln(2 pi e gam_j(t)**2)`` over every mode of every channel and batch item;
        ``-inf`` when some mode is deterministic (``gam_j = 0``), e.g. for homogeneous diffusion.

        Examples
        --------
        >>> import pyscale as ps
        >>> ps.HomogeneousDiffusion().conditional_entropy(10, (8, 8))
        -inf
        """
        t = val.check_time(t, integer=self.integer_times, max_time=self.max_time)
        mu = self.spectrum_of(shape, channel_axis=channel_axis)
        _, ny, nx = val.spatial_layout(tuple(shape), channel_axis, name="shape")
        copies = int(np.prod(shape)) // (ny * nx)
        gam = np.broadcast_to(self._coefficients(None, np.array([t]), mu)[1][0], (ny, nx))
        if np.any(gam <= 0):
            return -np.inf
        return float(copies * 0.5 * np.sum(np.log(2 * np.pi * gam**2) + 1.0))


def _as_shape(x, shape):
    """``x`` as float64 broadcast to ``shape`` (itself when it already is)."""
    if type(x) is np.ndarray and x.dtype == np.float64 and x.shape == shape:
        return x
    return np.broadcast_to(np.asarray(x, dtype=np.float64), shape)


class DiagonalProcess(LinearGaussianProcess):
    """A linear Gaussian process defined by a function of its per-mode marginal coefficients.

    Parameters
    ----------
    marginal : callable
        ``marginal(t, mu) -> (lam, gam)``, vectorised with numpy broadcasting: ``t`` is an array
        of times and ``mu`` the spectrum (see :meth:`LinearGaussianProcess.mode_marginal`).
        ``lam(0) = 1`` and ``gam(0) = 0`` make time 0 the data. Use a module-level function if
        the process must pickle (for process pools).
    basis : {"dct", "pixel"}
        Where the process is diagonal.
    spectrum : {"continuous", "discrete"}
        The DCT spectrum ``mu`` (ignored for ``basis="pixel"``).
    transition : callable, optional
        ``transition(s, t, mu) -> (a, b)``; default: from ``marginal`` (ratio and variance
        difference).
    max_time : float, optional
        Last valid time.
    name : str
        Short name.

    Examples
    --------
    A blur whose observation noise grows with the blur, ``gam = 0.01 sqrt(t)`` for every mode:

    >>> import numpy as np, pyscale as ps
    >>> def noisy_blur(t, mu):
    ...     return np.exp(-mu * t), 0.01 * np.sqrt(t) + 0 * mu
    >>> p = ps.DiagonalProcess(noisy_blur)
    >>> u = p.sample(np.full((8, 8), 0.5), 4.0, seed=0)
    >>> round(float(np.std(u)), 2)
    0.02
    """

    def __init__(
        self,
        marginal,
        *,
        basis="dct",
        spectrum="continuous",
        transition=None,
        max_time=None,
        name="custom",
    ):
        if not callable(marginal):
            raise TypeError(f"marginal must be callable, got {type(marginal).__name__}")
        if transition is not None and not callable(transition):
            raise TypeError(f"transition must be callable, got {type(transition).__name__}")
        if basis not in ("dct", "pixel"):
            raise ValueError(f"basis must be 'dct' or 'pixel', got {basis!r}")
        if spectrum not in ("continuous", "discrete"):
            raise ValueError(f"spectrum must be 'continuous' or 'discrete', got {spectrum!r}")
        self._marginal_fn, self._transition_fn = marginal, transition
        self.basis, self.spectrum, self.name = basis, spectrum, str(name)
        if max_time is not None:
            max_time = float(val.check_positive(max_time, "max_time", array=False))
        self.max_time = max_time

    def _params(self):
        return {"marginal": self._marginal_fn, "basis": self.basis, "spectrum": self.spectrum}

    def mode_marginal(self, t, mu):
        """The given ``marginal(t, mu)``."""
        return self._marginal_fn(t, mu)

    def mode_transition(self, s, t, mu):
        """The given ``transition(s, t, mu)``, or the default from the marginals."""
        if self._transition_fn is None:
            return super().mode_transition(s, t, mu)
        return self._transition_fn(s, t, mu)
