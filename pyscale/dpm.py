"""The diffusion probabilistic model ``U_i = alpha_i U_{i-1} + beta_i G``, pixel by pixel."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import _validation as val
from .processes import LinearGaussianProcess
from .schedules import beta_schedule

__all__ = ["DPM"]


def _check_steps(x: Any, name: str, low: float, high: float) -> np.ndarray:
    """A 1-D per-step array within ``[low, high]`` (floats)."""
    arr = val._as_schedule(x, name)
    if np.any(arr < low) or np.any(arr > high):
        raise ValueError(f"{name} must lie in [{low}, {high}] at every step")
    return arr


class DPM(LinearGaussianProcess):
    """Diffusion probabilistic model ``U_i = alpha_i U_{i-1} + beta_i G`` acting on every pixel.

    Parameters
    ----------
    beta : float or array_like
        Noise standard deviation per step, in (0, 1); an array gives a per-step schedule (whose
        entries may reach 1). This is the paper's convention; diffusers' ``betas`` are per-step
        *variances*, see :meth:`from_variances` and :meth:`from_schedule`.
    alpha : float or array_like, optional
        Scaling per step, in (0, 1] (a schedule may reach 0). Default ``sqrt(1 - beta**2)``
        (variance preserving); ``alpha=1.0`` gives the variance-exploding model.

    Notes
    -----
    Time ``t`` is the number of steps applied. The marginal is ``lam(t) = prod_{i<=t} alpha_i``
    and ``gam(t)**2 = sum_{k<=t} beta_k**2 prod_{k<l<=t} alpha_l**2``: variances of the
    independent steps add. (The paper's Eq. 14 adds standard deviations instead, which is wrong;
    its Eq. 15 for the variance-preserving case agrees with the formula here.)

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

    def __init__(self, beta: npt.ArrayLike = 0.1, alpha: npt.ArrayLike | None = None) -> None:
        self._given_alpha = alpha is not None
        beta = val._as_schedule(beta, "beta")
        per_step = beta.ndim == 1 or (alpha is not None and np.ndim(alpha) == 1)
        if per_step:
            beta = _check_steps(beta, "beta", 0.0, 1.0)
            if np.any(beta == 0):
                raise ValueError("beta must be positive at every step")
        else:
            beta = val.check_open_unit(beta, "beta")
        if alpha is None:
            alpha = np.sqrt(1.0 - beta**2)
        elif per_step:
            alpha = _check_steps(alpha, "alpha", 0.0, 1.0)
        else:
            alpha = val.check_positive(alpha, "alpha")
            if alpha > 1:
                raise ValueError(f"alpha must lie in (0, 1], got {float(alpha)!r}")
        if alpha.ndim == 1 and beta.ndim == 1 and alpha.size != beta.size:
            raise ValueError(
                f"alpha and beta schedules must have the same length, got "
                f"{alpha.size} and {beta.size}"
            )
        self.alpha, self.beta = alpha, beta
        self.per_step = per_step
        if per_step:
            n = max(alpha.size, beta.size)
            self._steps(np.broadcast_to(alpha, (n,)) ** 2, np.broadcast_to(beta, (n,)) ** 2)

    def _steps(self, a2, b2):
        """Per-step squared coefficients, and the marginals after ``i = 0 .. n`` steps."""
        self._a2, self._b2 = np.asarray(a2, dtype=np.float64), np.asarray(b2, dtype=np.float64)
        n = self._a2.size
        self._lam = np.sqrt(np.concatenate([[1.0], np.cumprod(self._a2)]))
        g2 = np.zeros(n + 1)
        for i in range(n):
            g2[i + 1] = self._a2[i] * g2[i] + self._b2[i]
        self._gam = np.sqrt(g2)
        self.integer_times = True
        self.max_time = n

    @classmethod
    def from_variances(cls, betas: npt.ArrayLike) -> DPM:
        """A per-step schedule from diffusers' ``betas`` (per-step noise *variances* in (0, 1]).

        Step ``i`` (1-based) is ``U_i = sqrt(1 - betas[i-1]) U_{i-1} + sqrt(betas[i-1]) G``, so
        ``marginal(t)`` equals ``(sqrt(alphas_cumprod[t-1]), sqrt(1 - alphas_cumprod[t-1]))`` of
        diffusers: pyscale's time ``t`` is diffusers' timestep ``t - 1`` plus one.

        Examples
        --------
        >>> import numpy as np, pyscale as ps
        >>> betas = np.linspace(1e-4, 0.02, 1000)
        >>> lam, gam = ps.DPM.from_variances(betas).marginal(1000)
        >>> bool(np.isclose(lam**2, np.prod(1 - betas)))
        True
        """
        v = _check_steps(betas, "betas", 0.0, 1.0)
        if v.ndim != 1 or np.any(v == 0):
            raise ValueError("betas must be a 1-D array of variances in (0, 1]")
        p = cls(beta=np.sqrt(v), alpha=np.sqrt(1.0 - v))
        p._steps(1.0 - v, v)
        return p

    @classmethod
    def from_schedule(
        cls,
        name: str,
        steps: int = 1000,
        *,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        rescale_zero_terminal_snr: bool = False,
    ) -> DPM:
        """A per-step schedule by diffusers' name: see :func:`pyscale.schedules.beta_schedule`.

        Examples
        --------
        >>> import pyscale as ps
        >>> p = ps.DPM.from_schedule("squaredcos_cap_v2", 1000)
        >>> p.max_time, round(float(p.marginal(500)[0]), 4)
        (1000, 0.7027)
        """
        return cls.from_variances(
            beta_schedule(
                name,
                steps,
                beta_start=beta_start,
                beta_end=beta_end,
                rescale_zero_terminal_snr=rescale_zero_terminal_snr,
            )
        )

    @property
    def variance_exploding(self) -> bool:
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

    def mode_marginal(self, t, mu):
        """``lam = prod alpha``, ``gam**2 = sum beta_k**2 prod_{l>k} alpha_l**2`` after ``t``."""
        if self.per_step:
            i = np.rint(t).astype(np.intp)
            return self._lam[i], self._gam[i]
        a, b = float(self.alpha), float(self.beta)
        if a == 1.0:
            return np.ones_like(t), b * np.sqrt(t)
        la = np.log(a)
        return np.exp(t * la), b * np.sqrt(np.expm1(2 * t * la) / np.expm1(2 * la))

    def mode_limit(self, mu):
        """``(0, beta / sqrt(1 - alpha**2))``, ``(1, inf)`` if exploding, or the last step's."""
        if self.per_step:
            return super().mode_limit(mu)
        a, b = float(self.alpha), float(self.beta)
        if a >= 1:
            return np.asarray(1.0), np.asarray(np.inf)
        return np.asarray(0.0), np.asarray(b / np.sqrt(1 - a**2))

    def step_bounds(self) -> tuple[float, float]:
        """``(max alpha_i, max beta_i)`` over the steps, for the steady-state bound."""
        return float(np.max(self.alpha)), float(np.max(self.beta))

    def mode_transition(self, s, t, mu):
        """The jump over steps ``s + 1`` to ``t``, summed step by step, not by a difference."""
        if not self.per_step:  # time-homogeneous: the jump s -> t is the marginal of t - s
            return self.mode_marginal(t - s, mu)
        s, t = np.broadcast_arrays(np.rint(s).astype(np.intp), np.rint(t).astype(np.intp))
        a, b2 = np.ones(t.shape), np.zeros(t.shape)
        for idx in np.ndindex(t.shape):
            i, j = s[idx], t[idx]
            if j > i:
                after = np.cumprod(self._a2[i:j][::-1])[::-1]  # prod_{l >= k} alpha_l**2
                a[idx] = np.sqrt(after[0])
                b2[idx] = np.dot(self._b2[i:j], np.append(after[1:], 1.0))
        return a, np.sqrt(b2)
