"""The processes that are diagonal in the orthonormal 2-D DCT: blurs with and without noise.

Mode ``j`` of an image decays as ``exp(-mu_j t)`` (``mu``: the spectrum of the Laplacian with
reflecting boundaries, :func:`pyscale.laplacian_eigenvalues`); the models differ in the noise.
Times are any real ``t >= 0`` (one unit is one step of the paper's chains; a Gaussian blur of
standard deviation ``sigma`` pixels is ``t = sigma**2 / 2`` with the continuous spectrum).
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from . import _validation as val
from ._coefficient_cache import coefficient_key
from .processes import LinearGaussianProcess
from .schedules import cosine_logsnr
from .spectral import eigenvalues, laplacian_eigenvalues

__all__ = ["HomogeneousDiffusion", "HeatDissipation", "BlurringDiffusion", "HoogeboomBlurring"]


class _DCTProcess(LinearGaussianProcess):
    """Common parts of the DCT-domain models: the choice of spectrum."""

    basis = "dct"

    def __init__(self, spectrum="continuous", domain="pixel"):
        if spectrum not in ("continuous", "discrete"):
            raise ValueError(f"spectrum must be 'continuous' or 'discrete', got {spectrum!r}")
        if domain not in ("pixel", "unit"):
            raise ValueError(f"domain must be 'pixel' or 'unit', got {domain!r}")
        self.spectrum, self.domain = spectrum, domain

    def decay_rates(self, ny: int, nx: int) -> np.ndarray:
        """The spectrum of the Laplacian in the unit of length given by :attr:`domain`.

        ``"pixel"``: grid spacing 1. ``"unit"``: the longer image side has length 1 (spacing
        ``1 / max(ny, nx)``), so the rates are ``max(ny, nx)**2`` times larger and a time means
        the same blur relative to the image at every resolution.
        """
        mu = laplacian_eigenvalues(ny, nx, self.spectrum)
        if self.domain == "unit":
            mu *= float(max(ny, nx)) ** 2
        return mu

    def _rates(self, ny, nx):
        if type(self).decay_rates is not _DCTProcess.decay_rates:
            return self.decay_rates(ny, nx)
        return eigenvalues(ny, nx, self.spectrum, self._scale(ny, nx))

    def _scale(self, ny, nx):
        return float(max(ny, nx)) ** 2 if self.domain == "unit" else 1.0

    def _cached_key(self, mu):
        """``(ny, nx, spectrum, scale)`` when ``mu`` is this process's cached spectrum, else None.

        The cached spectra are read-only, so what is derived from one can be cached as well.
        """
        if mu.ndim != 2 or type(self).decay_rates is not _DCTProcess.decay_rates:
            return None
        ny, nx = mu.shape
        key = (ny, nx, self.spectrum, self._scale(ny, nx))
        return key if mu is eigenvalues(*key) else None

    def _coefficient_cache_key(self, mu):
        """The class, the cached spectrum and the parameters, when all of them can be named."""
        spectrum, params = self._cached_key(mu), coefficient_key(self._params())
        if spectrum is None or params is None:
            return None
        return type(self), spectrum, params

    def _domain_params(self):
        return {} if self.domain == "pixel" else {"domain": self.domain}


def decay(mu, t, out=None):
    """``exp(-mu t)`` per mode, broadcast; exactly 0 where it would fall below ``1e-307``.

    Skipping the underflowing entries avoids the slow path of ``exp`` on subnormal results, which
    dominates for long times; the values dropped are below 1e-307.
    """
    x = np.multiply(mu, np.negative(t), out=out)
    if x.min() > -707.0:  # nothing underflows (and no NaN): the plain exp is faster
        return np.exp(x, out=x)
    keep = x > -707.0
    np.exp(x, out=x, where=keep)
    np.copyto(x, 0.0, where=~keep)
    return x


def expm1_nonpositive(x):
    """``expm1(x)`` in place for ``x <= 0``, evaluated only where it is not -1 (``x > -45``).

    Below about -38.8 ``expm1`` rounds to -1 exactly, so the values are those of ``np.expm1``;
    the long times of a batch at a time per example leave most modes there, and numpy's float64
    ``expm1`` costs about 7 ns a value on processors without AVX-512 (a masked call skips them).
    """
    np.expm1(x, out=x, where=x > -45.0)
    return np.maximum(x, -1.0, out=x)


@functools.lru_cache(maxsize=32)
def _step_gain(ny, nx, spectrum, scale, beta):
    """``beta**2 / expm1(-2 mu)`` of a cached spectrum (``-inf`` on DC), read-only."""
    with np.errstate(divide="ignore"):
        gain = beta**2 / np.expm1(-2 * eigenvalues(ny, nx, spectrum, scale))
    gain.flags.writeable = False
    return gain


def _no_dc(sd):
    """``sd`` (broadcast to the modes) with the DC mode set to 0."""
    sd = np.array(sd, dtype=np.float64)
    sd[..., 0, 0] = 0.0
    return sd


class HomogeneousDiffusion(_DCTProcess):
    """Homogeneous diffusion (Gaussian scale-space), ``U_t = exp(t Laplacian) U_0``: deterministic.

    Parameters
    ----------
    spectrum : {"continuous", "discrete"}
        Eigenvalues of the Laplacian (see :func:`pyscale.laplacian_eigenvalues`).
    domain : {"pixel", "unit"}
        Unit of length of the Laplacian: pixels (the paper's convention) or the longer image side
        scaled to length 1 (see :meth:`decay_rates`).

    Examples
    --------
    >>> import numpy as np, pyscale as ps
    >>> u = ps.HomogeneousDiffusion().sample(np.eye(8), 5.0)
    >>> round(float(u.mean()), 6) == round(1 / 8, 6)
    True
    """

    name = "homogeneous"

    def __init__(self, spectrum: str = "continuous", domain: str = "pixel") -> None:
        super().__init__(spectrum, domain)

    def _params(self):
        return {"spectrum": self.spectrum, **self._domain_params()}

    def mode_marginal(self, t, mu):
        """``lam = exp(-mu t)``, ``gam = 0``."""
        lam = decay(mu, t)
        return lam, np.zeros(lam.shape)

    def mode_transition(self, s, t, mu):
        """``a = exp(-mu (t - s))``, ``b = 0``."""
        return self.mode_marginal(t - s, mu)

    def mode_limit(self, mu):
        """The mean alone: ``lam = 1`` on the DC mode, 0 elsewhere; ``gam = 0``."""
        return (mu == 0).astype(np.float64), np.zeros(mu.shape)


class HeatDissipation(_DCTProcess):
    """Inverse heat dissipation forward process (Rissanen et al.): blur plus observation noise.

    ``U_t = exp(t Laplacian) U_0 + sigma E`` for ``t > 0``: the noise is not accumulated, so
    ``gam_j(t) = sigma`` for every mode and every ``t > 0``. As a Markov chain the jump ``s -> t``
    has ``a_j = exp(-mu_j (t - s))`` and ``b_j**2 = sigma**2 (1 - a_j**2)`` (``sigma**2`` from 0).
    Rissanen et al.'s blur levels are :func:`pyscale.schedules.rissanen_blur_times`.

    Parameters
    ----------
    sigma : float
        Observation noise standard deviation (paper: 0.01).
    spectrum : {"continuous", "discrete"}
        Eigenvalues of the Laplacian (the paper and Rissanen et al. use ``"continuous"``).
    preserve_mean : bool
        If True, the DC mode gets no noise, so the average grey value is preserved exactly;
        otherwise it is preserved in expectation.
    domain : {"pixel", "unit"}
        Unit of length of the Laplacian: pixels (the paper's convention) or the longer image side
        scaled to length 1 (see :meth:`decay_rates`).
    """

    name = "heat"

    def __init__(
        self,
        sigma: float = 0.01,
        spectrum: str = "continuous",
        preserve_mean: bool = False,
        domain: str = "pixel",
    ) -> None:
        super().__init__(spectrum, domain)
        self.sigma = float(val.check_positive(sigma, "sigma", array=False))
        self.preserve_mean = bool(preserve_mean)

    def _params(self):
        return {
            "sigma": self.sigma,
            "spectrum": self.spectrum,
            "preserve_mean": self.preserve_mean,
            **self._domain_params(),
        }

    def noise_levels(self, mu: np.ndarray) -> np.ndarray:
        """Observation noise standard deviation per mode (0 on DC with ``preserve_mean``)."""
        sd = np.full(mu.shape, self.sigma)
        return _no_dc(sd) if self.preserve_mean else sd

    def mode_marginal(self, t, mu):
        """``lam = exp(-mu t)``, ``gam = sigma`` for ``t > 0``."""
        return decay(mu, t), self.noise_levels(mu) * (t > 0)

    def mode_limit(self, mu):
        """The mean plus the observation noise: ``lam`` 1 on DC, 0 elsewhere; ``gam = sigma``."""
        return (mu == 0).astype(np.float64), self.noise_levels(mu)

    def mode_transition(self, s, t, mu):
        """``a = exp(-mu (t - s))``, ``b = sigma sqrt(1 - a**2)`` (``sigma`` from ``s = 0``)."""
        dt = t - s
        a = decay(mu, dt)
        spread = np.where(s == 0, 1.0, np.sqrt(-np.expm1(-2 * mu * dt)))
        return a, np.where(dt == 0, 0.0, self.noise_levels(mu) * spread)


class BlurringDiffusion(_DCTProcess):
    """Blurring diffusion of the paper (Eq. 36): per DCT mode ``U_{i+1} = a_j U_i + beta G``.

    With ``a_j = exp(-mu_j)`` per unit step, ``lam_j(t) = exp(-mu_j t)`` and
    ``gam_j(t)**2 = beta**2 (1 - exp(-2 mu_j t)) / (1 - exp(-2 mu_j))`` (``beta**2 t`` for the DC
    mode): variances add (the paper's Eq. 40 adds standard deviations). For the continuous-time
    model of Hoogeboom and Salimans see :class:`HoogeboomBlurring`.

    Eq. 36 adds the same ``beta`` to every mode, so the lowest modes accumulate noise
    (``gam_j**2 -> beta**2 / (1 - a_j**2)``) and the steady state is not white noise. With
    ``noise="variance-preserving"`` mode ``j`` gets ``b_j = beta sqrt(1 - a_j**2)`` per step
    instead: ``gam_j(t)**2 = beta**2 (1 - exp(-2 mu_j t))``, the DC mode gets no noise (the mean
    is kept exactly), and the steady state is the mean plus white noise of variance ``beta**2``,
    that of probabilistic osmosis.

    Parameters
    ----------
    beta : float
        Noise standard deviation per step, in (0, 1) (paper: 0.1).
    spectrum : {"continuous", "discrete"}
        Eigenvalues of the Laplacian.
    preserve_mean : bool
        If True, the DC mode gets no noise, so the average grey value is preserved exactly;
        otherwise it is preserved in expectation only (always exact for the variance-preserving
        noise).
    noise : {"per-step", "variance-preserving"}
        ``"per-step"``: the same ``beta`` for every mode (Eq. 36, the paper's model);
        ``"variance-preserving"``: ``beta sqrt(1 - a_j**2)`` for mode ``j``.
    domain : {"pixel", "unit"}
        Unit of length of the Laplacian: pixels (the paper's convention) or the longer image side
        scaled to length 1 (see :meth:`decay_rates`).

    Examples
    --------
    >>> import numpy as np, pyscale as ps
    >>> p = ps.BlurringDiffusion(beta=0.1, noise="variance-preserving")
    >>> lam, gam = ps.steady_state(p, (4, 4))
    >>> float(gam[0, 0]), round(float(gam[1, 1]), 12)
    (0.0, 0.1)
    """

    name = "blurring"

    def __init__(
        self,
        beta: float = 0.1,
        spectrum: str = "continuous",
        preserve_mean: bool = False,
        noise: str = "per-step",
        domain: str = "pixel",
    ) -> None:
        super().__init__(spectrum, domain)
        if noise not in ("per-step", "variance-preserving"):
            raise ValueError(f"noise must be 'per-step' or 'variance-preserving', got {noise!r}")
        self.noise = noise
        checked = val.check_open_unit(beta, "beta")
        if checked.ndim:
            raise ValueError(
                f"beta must be a scalar for BlurringDiffusion, got shape {checked.shape}"
            )
        self.beta = float(checked)
        self.preserve_mean = bool(preserve_mean)

    def _params(self):
        p = {"beta": self.beta, "spectrum": self.spectrum, "preserve_mean": self.preserve_mean}
        if self.noise != "per-step":
            p["noise"] = self.noise
        return {**p, **self._domain_params()}

    def mode_marginal(self, t, mu):
        """``lam = exp(-mu t)``, ``gam**2 = beta**2 (1 - exp(-2 mu t)) / (1 - exp(-2 mu))``.

        (``gam**2 = beta**2 (1 - exp(-2 mu t))`` for the variance-preserving noise.)
        """
        t = np.asarray(t)
        if self.noise == "variance-preserving":
            lam = decay(mu, t)
            gam = expm1_nonpositive(np.multiply(mu, -2.0 * t))
            np.negative(gam, out=gam)
            return lam, np.multiply(np.sqrt(gam, out=gam), self.beta, out=gam)
        key = self._cached_key(mu) if t.shape[-2:] == (1, 1) else None
        shape = np.broadcast_shapes(t.shape, mu.shape) if key is None else t.shape[:-2] + mu.shape
        both = np.empty((2, *shape))  # one allocation
        lam = decay(mu, t, out=both[0])
        # gam**2 = beta**2 expm1(-2 mu t) / expm1(-2 mu), with the limit beta**2 t on DC modes
        f = expm1_nonpositive(np.multiply(mu, -2.0 * t, out=both[1]))
        dc = 0.0 if self.preserve_mean else self.beta**2 * t
        with np.errstate(divide="ignore", invalid="ignore"):  # 0 * inf on DC, replaced below
            if key is None:
                np.multiply(f, self.beta**2 / np.expm1(-2 * mu), out=f)
                np.copyto(f, dc, where=mu == 0)
            else:  # the only DC mode of a cached spectrum is (0, 0)
                np.multiply(f, _step_gain(*key, self.beta), out=f)
                f[..., 0, 0] = dc if self.preserve_mean else dc[..., 0, 0]
        return lam, np.sqrt(f, out=f)

    def mode_transition(self, s, t, mu):
        """Time-homogeneous: the jump ``s -> t`` is the marginal of ``t - s``."""
        return self.mode_marginal(t - s, mu)

    def mode_limit(self, mu):
        """``lam`` 1 on DC, else 0; ``gam**2 = beta**2 / (1 - exp(-2 mu))``, inf (or 0) on DC.

        (``gam = beta`` except 0 on DC for the variance-preserving noise.)
        """
        if self.noise == "variance-preserving":
            dc = mu == 0
            return dc.astype(np.float64), np.where(dc, 0.0, self.beta)
        with np.errstate(divide="ignore"):
            gam2 = self.beta**2 / -np.expm1(-2 * mu)
        if self.preserve_mean:
            gam2[mu == 0] = 0.0
        return (mu == 0).astype(np.float64), np.sqrt(gam2)


class HoogeboomBlurring(_DCTProcess):
    """Blurring diffusion as Hoogeboom and Salimans define it, in continuous time ``t`` in [0, 1].

    Per DCT mode the marginal is ``N(alpha_t d_t u_0, sigma_t**2)`` with the blur
    ``d_t = (1 - d_min) exp(-mu tau_t) + d_min``, ``tau_t = sigma_B(t)**2 / 2`` and
    ``sigma_B(t) = sigma_blur_max sin(pi t / 2)**2``, and ``(alpha_t, sigma_t)`` from the cosine
    log-SNR schedule spanning ``[logsnr_min, logsnr_max]``
    (:func:`pyscale.schedules.cosine_logsnr`). The jump from ``s`` to ``t`` has
    ``a = alpha_t d_t / (alpha_s d_s)`` and ``b**2 = sigma_t**2 - a**2 sigma_s**2`` per mode, as in
    their paper. Every marginal, ``t = 0`` included (their ``z_0``, slightly noisy), is taken
    from the data ``u_0``.

    Parameters
    ----------
    sigma_blur_max : float
        Largest blur standard deviation in pixels (their default 20).
    d_min : float
        Floor of the blur factor, in [0, 1) (their default 0.001).
    logsnr_min, logsnr_max : float
        Range of the log signal-to-noise ratio.
    spectrum : {"continuous", "discrete"}
        Eigenvalues of the Laplacian (their code uses ``"continuous"``).

    Examples
    --------
    >>> import numpy as np, pyscale as ps
    >>> p = ps.HoogeboomBlurring()
    >>> u = p.sample(np.full((4, 16, 16), 0.5), [0.1, 0.4, 0.7, 1.0], seed=0)
    >>> u.shape
    (4, 16, 16)
    """

    name = "hoogeboom"
    max_time: float | None = 1.0

    def __init__(
        self,
        sigma_blur_max: float = 20.0,
        d_min: float = 0.001,
        logsnr_min: float = -10.0,
        logsnr_max: float = 10.0,
        spectrum: str = "continuous",
    ) -> None:
        super().__init__(spectrum)
        self.sigma_blur_max = float(
            val.check_positive(sigma_blur_max, "sigma_blur_max", array=False)
        )
        self.d_min = float(val.check_positive(d_min, "d_min", allow_zero=True, array=False))
        if self.d_min >= 1:
            raise ValueError(f"d_min must lie in [0, 1), got {d_min!r}")
        lo = float(val._as_schedule(logsnr_min, "logsnr_min"))
        hi = float(val._as_schedule(logsnr_max, "logsnr_max"))
        if not lo < hi:
            raise ValueError(f"logsnr_min must be below logsnr_max, got {lo} and {hi}")
        self.logsnr_min, self.logsnr_max = lo, hi

    def _params(self):
        return {
            "sigma_blur_max": self.sigma_blur_max,
            "d_min": self.d_min,
            "logsnr_min": self.logsnr_min,
            "logsnr_max": self.logsnr_max,
            "spectrum": self.spectrum,
        }

    def blur(self, t: npt.ArrayLike, mu: np.ndarray) -> np.ndarray:
        """The blur factor ``d_t`` per mode."""
        tau = (self.sigma_blur_max * np.sin(np.pi * np.asarray(t) / 2) ** 2) ** 2 / 2
        d = decay(mu, tau)
        d *= 1 - self.d_min
        d += self.d_min
        return d

    def mode_marginal(self, t, mu):
        """``lam = alpha_t d_t``, ``gam = sigma_t``."""
        alpha, sigma = cosine_logsnr(t, self.logsnr_min, self.logsnr_max)
        lam = self.blur(t, mu)
        lam *= alpha
        return lam, np.broadcast_to(sigma, lam.shape)
