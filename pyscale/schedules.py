"""Noise and blur schedules under the conventions of the projects practitioners train with.

- :func:`beta_schedule`: diffusers' per-step noise *variances* (``betas``) by name, for
  :meth:`pyscale.DPM.from_schedule`.
- :func:`rissanen_blur_times`: the times of the blur levels of inverse heat dissipation
  (Rissanen et al.), for per-example times of :class:`pyscale.HeatDissipation`.
- :func:`cosine_logsnr`: the cosine log-SNR schedule of blurring diffusion (Hoogeboom and
  Salimans), used by :class:`pyscale.HoogeboomBlurring`.
"""

from __future__ import annotations

import numbers

import numpy as np
import numpy.typing as npt

__all__ = ["BETA_SCHEDULES", "beta_schedule", "rissanen_blur_times", "cosine_logsnr"]

#: The names :func:`beta_schedule` knows (``"cosine"`` is ``"squaredcos_cap_v2"``).
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2", "cosine", "sigmoid")


def _count(n, name, minimum=1):
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(n).__name__}")
    if n < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {n}")
    return int(n)


def _real(x, name, low=None):
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    x = float(x)
    if not np.isfinite(x) or (low is not None and x <= low):
        raise ValueError(
            f"{name} must be finite" + ("" if low is None else f" and > {low}") + f", got {x}"
        )
    return x


def _rescale_zero_terminal_snr(betas):
    """Shift and scale ``sqrt(alphas_cumprod)`` so that it ends at 0 (Lin et al., 2024)."""
    root = np.sqrt(np.cumprod(1.0 - betas))
    first, last = root[0], root[-1]
    root = (root - last) * first / (first - last)
    bar = root**2
    alphas = np.concatenate([bar[:1], bar[1:] / bar[:-1]])
    return 1.0 - alphas


def beta_schedule(
    name: str,
    steps: int = 1000,
    *,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    rescale_zero_terminal_snr: bool = False,
) -> np.ndarray:
    """Per-step noise variances ``betas`` of diffusers' named schedules, in float64.

    Parameters
    ----------
    name : {"linear", "scaled_linear", "squaredcos_cap_v2", "cosine", "sigmoid"}
        ``"linear"``: ``linspace(beta_start, beta_end, steps)``; ``"scaled_linear"``:
        ``linspace(sqrt(beta_start), sqrt(beta_end), steps)**2``; ``"squaredcos_cap_v2"`` (alias
        ``"cosine"``, Nichol and Dhariwal): ``1 - abar(i + 1) / abar(i)`` capped at 0.999 with
        ``abar(x) = cos((x / steps + 0.008) / 1.008 * pi / 2)**2``; ``"sigmoid"``:
        ``sigmoid(linspace(-6, 6, steps)) * (beta_end - beta_start) + beta_start``.
    steps : int
        Number of steps.
    beta_start, beta_end : float
        First and last variance of the linear, scaled-linear and sigmoid schedules.
    rescale_zero_terminal_snr : bool
        Rescale so that the last step has zero signal (``alphas_cumprod[-1] = 0``; Lin et al.).

    Returns
    -------
    numpy.ndarray
        ``(steps,)`` float64 variances in (0, 1].

    Notes
    -----
    diffusers evaluates these in float32; the values here are the same formulas in float64.

    Examples
    --------
    >>> from pyscale.schedules import beta_schedule
    >>> b = beta_schedule("linear", 1000)
    >>> float(b[0]), float(b[-1])
    (0.0001, 0.02)
    """
    steps = _count(steps, "steps")
    beta_start = _real(beta_start, "beta_start", 0.0)
    beta_end = _real(beta_end, "beta_end", 0.0)
    if name == "linear":
        betas = np.linspace(beta_start, beta_end, steps)
    elif name == "scaled_linear":
        betas = np.linspace(beta_start**0.5, beta_end**0.5, steps) ** 2
    elif name in ("squaredcos_cap_v2", "cosine"):
        x = np.arange(steps + 1) / steps
        abar = np.cos((x + 0.008) / 1.008 * np.pi / 2) ** 2
        betas = np.minimum(1.0 - abar[1:] / abar[:-1], 0.999)
    elif name == "sigmoid":
        betas = (beta_end - beta_start) / (1.0 + np.exp(-np.linspace(-6, 6, steps))) + beta_start
    elif isinstance(name, str):
        raise ValueError(f"name must be one of {BETA_SCHEDULES}, got {name!r}")
    else:
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if not isinstance(rescale_zero_terminal_snr, (bool, np.bool_)):
        raise TypeError("rescale_zero_terminal_snr must be a bool")
    if rescale_zero_terminal_snr:
        if steps < 2:
            raise ValueError("rescale_zero_terminal_snr needs at least 2 steps")
        betas = _rescale_zero_terminal_snr(betas)
    if np.any(betas <= 0) or np.any(betas > 1):
        raise ValueError(
            f"the {name!r} schedule with these parameters leaves (0, 1]; check "
            "beta_start and beta_end"
        )
    return betas


def rissanen_blur_times(K: int, sigma_max: float, sigma_min: float = 0.5) -> np.ndarray:
    """The ``K + 1`` times of the blur levels of inverse heat dissipation (Rissanen et al.).

    Level 0 is the unblurred image (``t = 0``); levels ``1 .. K`` have blur standard deviations
    log-spaced from ``sigma_min`` to ``sigma_max`` (pixels), at ``t = sigma**2 / 2``. Index the
    result with a drawn level per example and pass it as per-example times to
    :class:`pyscale.HeatDissipation`.

    Examples
    --------
    >>> import numpy as np
    >>> from pyscale.schedules import rissanen_blur_times
    >>> t = rissanen_blur_times(4, 8.0)
    >>> t.shape, float(t[0]), float(t[1]), round(float(t[-1]), 9)
    ((5,), 0.0, 0.125, 32.0)
    """
    K = _count(K, "K")
    sigma_min = _real(sigma_min, "sigma_min", 0.0)
    sigma_max = _real(sigma_max, "sigma_max", 0.0)
    if sigma_max < sigma_min:
        raise ValueError(f"sigma_max must not be below sigma_min, got {sigma_max} < {sigma_min}")
    sigma = np.exp(np.linspace(np.log(sigma_min), np.log(sigma_max), K))
    return np.concatenate([[0.0], sigma**2 / 2])


def cosine_logsnr(
    t: npt.ArrayLike, logsnr_min: float = -10.0, logsnr_max: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(alpha_t, sigma_t)`` of the cosine log-SNR schedule on ``t`` in [0, 1].

    ``lambda_t = -2 log tan(a t + b)`` spans ``[logsnr_min, logsnr_max]``, with
    ``b = arctan(exp(-logsnr_max / 2))`` and ``a = arctan(exp(-logsnr_min / 2)) - b``;
    ``alpha_t**2 = sigmoid(lambda_t)`` and ``sigma_t**2 = sigmoid(-lambda_t)``, that is
    ``alpha_t = cos(a t + b)`` and ``sigma_t = sin(a t + b)``.
    """
    b = np.arctan(np.exp(-0.5 * logsnr_max))
    a = np.arctan(np.exp(-0.5 * logsnr_min)) - b
    x = a * np.asarray(t, dtype=np.float64) + b
    return np.cos(x), np.sin(x)
