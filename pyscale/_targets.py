"""Training targets and reverse steps of the linear Gaussian processes, per mode.

All of them are linear combinations of images in the process's basis, with per-mode weights that
follow from the marginal coefficients ``(lam, gam)`` and the jump ``(a, b)``:

- the posterior ``q(u_s | u_t, u_0)`` has variance ``gam_s**2 b**2 / gam_t**2`` and mean
  ``(b**2 lam_s u_0 + a gam_s**2 u_t) / gam_t**2`` (``gam_t**2 = a**2 gam_s**2 + b**2``);
- the DDIM family of reverse steps (Song et al.) keeps the marginal of ``u_s`` and scales the
  posterior spread by ``eta``: ``u_s = lam_s u_0 + c eps + eta sd z`` with
  ``eps = (u_t - lam_t u_0) / gam_t`` and ``c**2 = gam_s**2 - eta**2 sd**2``;
- the velocity of Salimans and Ho, ``v = lam eps - gam u_0`` per mode.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from . import _validation as val
from ._sampling import make_layout
from ._torch import tensor_aware

__all__ = ["TrainingTargets"]


def _check_eta(eta):
    if isinstance(eta, (bool, np.bool_)) or not isinstance(eta, numbers.Real):
        raise TypeError(f"eta must be a real number, got {type(eta).__name__}")
    if not 0 <= eta <= 1:
        raise ValueError(f"eta must lie in [0, 1], got {eta}")
    return float(eta)


class TrainingTargets:
    """Posterior, velocity, start prediction and reverse steps (mixin of the linear processes)."""

    if TYPE_CHECKING:  # provided by pyscale.LinearGaussianProcess
        basis: str

        def decay_rates(self, ny: int, nx: int) -> np.ndarray | None: ...
        def _rates(self, ny: int, nx: int) -> np.ndarray | None: ...
        def _coefficients(self, s: Any, t: np.ndarray, mu: Any) -> tuple[Any, Any]: ...
        def _check_t(self, t: Any, name: str = "t") -> Any: ...
        def _time_pair(self, s: Any, t: Any) -> tuple[Any, Any]: ...

    def _reverse_weights(self, s, t, mu, eta):
        """Per-mode ``(w0, wt, sd)`` of ``u_s = w0 u_0 + wt u_t + sd z``, shape ``(G, *modes)``."""
        lam_s, gam_s = self._coefficients(None, s, mu)
        a, b = self._coefficients(s, t, mu)
        kept, b2 = a**2 * gam_s**2, b**2  # the parts of the variance of u_t given u_0
        g2 = kept + b2
        with np.errstate(divide="ignore", invalid="ignore"):
            random = g2 > 0
            root = np.sqrt(g2)
            sd = np.where(random, gam_s * b / root, 0.0)
            wt = np.where(random, gam_s * np.sqrt((kept + (1 - eta**2) * b2) / g2) / root, 0.0)
        return lam_s - wt * a * lam_s, wt, eta * sd

    def _combine(self, lay, terms, plane_of, workers, noise_term=None):
        """``F^-1(sum_i c_i F(x_i) + noise_term)`` in the input's layout (F: the basis)."""
        pixel, dct = self.basis == "pixel", self.basis == "dct"
        acc = noise_term
        with np.errstate(over="ignore", invalid="ignore"):
            for coef, x in terms:
                y = lay.per_image(coef, plane_of, pixel) * lay.transform(x, dct, workers)
                acc = y if acc is None else acc + y
            res = lay.transform(lay.cast(acc), dct, workers, inverse=True)
        if not lay.finite(res):
            lay.overflowed()
        return lay.back(res)

    def _two_images(self, first, second, names, channel_axis, workers):
        lay = make_layout(first, channel_axis, names[0])
        return lay, lay.canonical(second, names[1]), val.check_workers(workers)

    @tensor_aware("u_t", "u_0")
    def posterior(
        self,
        s: npt.ArrayLike,
        t: npt.ArrayLike,
        u_t: npt.ArrayLike,
        u_0: npt.ArrayLike,
        *,
        channel_axis: int | None = None,
        workers: int | None = None,
        backend: str = "auto",
    ) -> tuple[Any, Any]:
        """Mean and per-mode standard deviation of ``q(u_s | u_t, u_0)`` for ``0 <= s <= t``.

        The training target of a reverse process. ``s`` and ``t`` are times or one time per
        example (1-D, along axis 0 of ``u_t``). Per mode, with the marginal ``(lam_s, gam_s)`` and
        the jump ``(a, b)`` from ``s`` to ``t``, the posterior is Gaussian with variance
        ``gam_s**2 b**2 / gam_t**2`` and mean ``(b**2 lam_s u_0 + a gam_s**2 u_t) / gam_t**2``
        (deterministic modes, ``gam_t = 0``, give ``lam_s u_0`` with zero spread).

        Returns
        -------
        mean : numpy.ndarray
            Posterior mean in the pixel domain, shape of ``u_t``.
        std : numpy.ndarray
            Posterior standard deviation per mode (0-d for pixel-basis processes, ``(H, W)`` DCT
            modes otherwise), with a leading axis for per-example times.

        Examples
        --------
        >>> import numpy as np, pyscale as ps
        >>> p, u0 = ps.DPM(beta=0.1), np.full((4, 4), 0.5)
        >>> mean, std = p.posterior(0, 10, p.sample(u0, 10, seed=0), u0)
        >>> bool(np.allclose(mean, u0)), float(std)
        (True, 0.0)
        """
        s, t = self._time_pair(s, t)
        lay, c0, workers = self._two_images(u_t, u_0, ("u_t", "u_0"), channel_axis, workers)
        (su, tu), example, plane_of = lay.planes(s, t)
        w0, wt, sd = self._reverse_weights(su, tu, self._rates(*lay.canon.shape[1:]), 1.0)
        mean = self._combine(lay, [(w0, c0), (wt, lay.canon)], plane_of, workers)
        return mean, lay.asarray(sd[0] if example is None else sd[example])

    @tensor_aware("u_t", "u0_hat", "noise")
    def reverse_step(
        self,
        u_t: npt.ArrayLike,
        t: npt.ArrayLike,
        s: npt.ArrayLike,
        u0_hat: npt.ArrayLike,
        *,
        seed: int | None = None,
        noise: npt.ArrayLike | None = None,
        eta: float = 1.0,
        channel_axis: int | None = None,
        workers: int | None = None,
        backend: str = "auto",
    ) -> Any:
        """Step a reverse process from time ``t`` to ``s <= t`` given a prediction of ``u_0``.

        With ``eta=1`` a draw of the posterior ``q(u_s | u_t, u_0 = u0_hat)`` (ancestral
        sampling, DDPM); with ``eta=0`` the deterministic DDIM step, which keeps the marginal
        coefficients of ``u_s``; in between, the DDIM family. Per mode for DCT-domain processes.

        Parameters
        ----------
        u_t : array_like
            The current image or batch.
        t, s : float or array_like
            Current and next time, scalars or one per example (1-D, along axis 0).
        u0_hat : array_like
            The prediction of ``u_0`` (for example from :meth:`predict_start`), shape of ``u_t``.
        seed : int or None, optional
            Seed of the draws (made per mode, stream 0).
        noise : array_like, optional
            Explicit pixel-domain standard normal draws, shape of ``u_t``. Overrides ``seed``.
        eta : float in [0, 1]
            Scale of the posterior spread.
        channel_axis, workers, backend
            As for :meth:`trajectory`.

        Returns
        -------
        numpy.ndarray
            ``u_s``, shape and dtype of ``u_t``.

        Examples
        --------
        >>> import numpy as np, pyscale as ps
        >>> p, u0 = ps.DPM.from_schedule("linear", 50), np.full((4, 4), 0.5)
        >>> u = p.sample(u0, 50, seed=0)
        >>> for t in range(50, 0, -1):
        ...     u = p.reverse_step(u, t, t - 1, u0, eta=0.0)
        >>> bool(np.allclose(u, u0))
        True
        """
        eta = _check_eta(eta)
        s, t = self._time_pair(s, t)
        lay, c0, workers = self._two_images(u_t, u0_hat, ("u_t", "u0_hat"), channel_axis, workers)
        (su, tu), _, plane_of = lay.planes(s, t)
        w0, wt, sd = self._reverse_weights(su, tu, self._rates(*lay.canon.shape[1:]), eta)
        if noise is not None:
            z = lay.transform(lay.canonical(noise, "noise"), self.basis == "dct", workers)
        else:
            z = lay.draws(val.check_seed(seed), 0, lay.canon.shape)
        term = lay.per_image(sd, plane_of, self.basis == "pixel") * z
        return self._combine(lay, [(w0, c0), (wt, lay.canon)], plane_of, workers, term)

    @tensor_aware("u0", "noise")
    def velocity(
        self,
        u0: npt.ArrayLike,
        noise: npt.ArrayLike,
        t: npt.ArrayLike,
        *,
        channel_axis: int | None = None,
        workers: int | None = None,
        backend: str = "auto",
    ) -> Any:
        """The v-prediction target of Salimans and Ho, ``v = lam eps - gam u_0`` per mode.

        For DPM this is ``sqrt(ab) eps - sqrt(1 - ab) u_0`` (diffusers' ``get_velocity``); for
        DCT-domain processes the same combination per DCT mode. ``noise`` is the pixel-domain
        draw ``eps`` behind ``u_t`` (as returned with ``return_noise=True``); ``t`` a time or one
        per example.

        Examples
        --------
        >>> import numpy as np, pyscale as ps
        >>> p, u0 = ps.DPM(beta=0.1), np.full((4, 4), 0.5)
        >>> u_t, eps = p.sample(u0, 10, seed=0, return_noise=True)
        >>> v = p.velocity(u0, eps, 10)
        >>> bool(np.allclose(p.predict_start(u_t, 10, velocity=v), u0))
        True
        """
        t = self._check_t(t)
        lay, ce, workers = self._two_images(u0, noise, ("u0", "noise"), channel_axis, workers)
        (tu,), _, plane_of = lay.planes(t)
        lam, gam = self._coefficients(None, tu, self._rates(*lay.canon.shape[1:]))
        return self._combine(lay, [(lam, ce), (-gam, lay.canon)], plane_of, workers)

    @tensor_aware("u_t", "noise", "velocity")
    def predict_start(
        self,
        u_t: npt.ArrayLike,
        t: npt.ArrayLike,
        *,
        noise: npt.ArrayLike | None = None,
        velocity: npt.ArrayLike | None = None,
        channel_axis: int | None = None,
        workers: int | None = None,
        backend: str = "auto",
    ) -> Any:
        """The ``u_0`` implied by a prediction of the noise or of the velocity at time ``t``.

        From ``noise`` (eps): ``u_0 = (u_t - gam eps) / lam``; from ``velocity``:
        ``u_0 = (lam u_t - gam v) / (lam**2 + gam**2)``, per mode. Modes with ``lam = 0`` carry
        no information on ``u_0`` and give 0 from ``noise``.
        """
        if (noise is None) == (velocity is None):
            raise TypeError("pass exactly one of noise or velocity")
        t = self._check_t(t)
        name = "noise" if velocity is None else "velocity"
        lay, cp, workers = self._two_images(
            u_t, noise if velocity is None else velocity, ("u_t", name), channel_axis, workers
        )
        (tu,), _, plane_of = lay.planes(t)
        lam, gam = self._coefficients(None, tu, self._rates(*lay.canon.shape[1:]))
        with np.errstate(divide="ignore", invalid="ignore"):
            if velocity is None:
                inv = np.where(lam > 0, 1 / lam, 0.0)
                terms = [(inv, lay.canon), (-gam * inv, cp)]
            else:
                n2 = lam**2 + gam**2
                inv = np.where(n2 > 0, 1 / n2, 0.0)
                terms = [(lam * inv, lay.canon), (-gam * inv, cp)]
        return self._combine(lay, terms, plane_of, workers)
