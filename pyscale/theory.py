"""The scale-space properties of the paper as functions of a process and a schedule.

All of them work on the exact per-mode coefficients of :class:`~pyscale.LinearGaussianProcess`
(semigroup, Lyapunov sequences, steady states, average grey value) or on trajectories with
explicitly supplied noise (invariances). Where the paper's statements are off, the corrected
forms are used and noted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import _validation as val

__all__ = [
    "semigroup_defect",
    "lyapunov_condition",
    "entropy_sequence",
    "steady_state",
    "steady_state_bound",
    "mean_preservation",
    "permutation_defect",
    "rotation_defect",
]


def semigroup_defect(
    process: Any, s: float, t: float, shape: tuple[int, ...] | None = None
) -> float:
    """Largest deviation between the law of ``0 -> t`` and of ``0 -> s -> t``.

    Composing the marginal at ``s`` with the jump ``s -> t`` gives ``a lam(s)`` and
    ``a**2 gam(s)**2 + b**2``; for a Markov process these equal ``lam(t)`` and ``gam(t)**2``.

    Returns
    -------
    float
        ``max(|a lam(s) - lam(t)|, |a**2 gam(s)**2 + b**2 - gam(t)**2|)`` over all modes.

    Examples
    --------
    >>> import pyscale as ps
    >>> ps.semigroup_defect(ps.BlurringDiffusion(beta=0.1), 3, 10, (8, 8)) < 1e-12
    True
    """
    lam_s, gam_s = process.marginal(s, shape)
    lam_t, gam_t = process.marginal(t, shape)
    a, b = process.transition(s, t, shape)
    return float(
        max(np.max(np.abs(a * lam_s - lam_t)), np.max(np.abs(a**2 * gam_s**2 + b**2 - gam_t**2)))
    )


def lyapunov_condition(
    process: Any, times: npt.ArrayLike, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """Whether the conditional entropy cannot decrease between consecutive ``times``.

    For a jump ``U_t = a U_s + b G`` per mode, ``gam(t)**2 = a**2 gam(s)**2 + b**2``, so
    ``gam(t) >= gam(s)`` if and only if ``b**2 >= (1 - a**2) gam(s)**2``. This corrects the
    condition ``beta_{i+1} >= (1 - alpha_{i+1}) gamma_i`` of Prop. 3 and 7 of the paper, which adds
    standard deviations instead of variances.

    Returns
    -------
    numpy.ndarray of bool
        One entry per consecutive pair of ``times``: the condition holds in every mode.

    Examples
    --------
    >>> import pyscale as ps
    >>> ps.lyapunov_condition(ps.DPM(beta=[0.9, 0.1], alpha=[0.5, 0.5]), [0, 1, 2]).tolist()
    [True, False]
    """
    times = val.check_times(times)
    ok = []
    for s, t in zip(times[:-1], times[1:], strict=True):
        _, gam_s = process.marginal(s, shape)
        a, b = process.transition(s, t, shape)
        lhs = b**2
        rhs = (1 - a**2) * gam_s**2
        ok.append(bool(np.all(lhs >= rhs - 1e-14 * np.maximum(rhs, 1e-300))))
    return np.asarray(ok, dtype=bool)


def entropy_sequence(process: Any, times: npt.ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    """Conditional entropies ``H(U_t | U_0)`` at ``times`` (nats); see ``conditional_entropy``."""
    times = val.check_times(times)
    return np.array([process.conditional_entropy(t, shape) for t in times])


def steady_state_bound(process: Any) -> float:
    """Upper bound of the steady-state variance per mode (Prop. 6 and 10, corrected).

    With ``alpha_i <= a < 1`` and ``beta_i <= b``, ``gam**2 <= b**2 / (1 - a**2)`` (variances add;
    the paper states ``gam <= b / (1 - a)``). For blurring diffusion the bound is per mode,
    ``beta**2 / (1 - exp(-2 mu_j))``, and the DC mode is unbounded (``beta**2 t``).

    Returns
    -------
    float
        For DPM; ``inf`` for a variance-exploding schedule.

    Examples
    --------
    >>> import pyscale as ps
    >>> round(ps.steady_state_bound(ps.DPM(beta=0.1)), 12)
    1.0
    """
    bounds = getattr(process, "step_bounds", None)
    if bounds is None:
        raise TypeError(f"no step-parameter bounds for {type(process).__name__}")
    a, b = bounds()
    if a >= 1:
        return np.inf
    return b**2 / (1 - a**2)


def steady_state(
    process: Any, shape: tuple[int, ...] | None = None, *, channel_axis: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-mode limit ``(lam, gam)`` of the marginal coefficients as ``t -> inf``.

    DPM with constant ``alpha < 1``: ``lam -> 0``, ``gam**2 -> beta**2 / (1 - alpha**2)`` (1 in the
    variance-preserving case). DCT models: ``lam -> 0`` except ``lam_0 = 1`` for the DC mode (the
    mean is kept); blurring diffusion: ``gam_j**2 -> beta**2 / (1 - exp(-2 mu_j))`` and ``inf`` for
    the DC mode (unless ``preserve_mean``); heat dissipation: ``gam = sigma``; homogeneous
    diffusion: ``gam = 0`` (a flat image). For a per-step DPM schedule the values after its last
    step are returned.

    Examples
    --------
    >>> import pyscale as ps
    >>> lam, gam = ps.steady_state(ps.DPM(beta=0.1))
    >>> float(lam), round(float(gam), 12)
    (0.0, 1.0)
    """
    mode_limit = getattr(process, "mode_limit", None)
    if mode_limit is None:
        raise TypeError(f"no steady state known for {type(process).__name__}")
    if shape is None and process.basis == "dct":
        raise ValueError("shape is required for a DCT-domain process")
    lam, gam = mode_limit(process.spectrum_of(shape, channel_axis=channel_axis))
    return np.asarray(lam, dtype=np.float64), np.asarray(gam, dtype=np.float64)


def mean_preservation(process: Any) -> str:
    """How a process treats the average grey value of each image and channel (Prop. 8).

    Returns
    -------
    str
        ``"exact"`` (every trajectory keeps it: homogeneous diffusion, osmosis, and the noisy DCT
        models with ``preserve_mean=True``), ``"expectation"`` (white noise moves the DC mode, so it
        is kept only on average: heat dissipation and blurring diffusion by default), or
        ``"none"`` (DPM, which converges to zero-mean noise; a variance-exploding DPM keeps it in
        expectation).

    Examples
    --------
    >>> import pyscale as ps
    >>> ps.mean_preservation(ps.BlurringDiffusion()), ps.mean_preservation(ps.DPM())
    ('expectation', 'none')
    """
    method = getattr(process, "mean_preservation", None)
    if method is None:
        raise TypeError(f"unknown process {type(process).__name__}")
    return method()


def _noise_for(process, u0, times, seed):
    """Standard normal draws for ``process``: one per frame, or one image-shaped draw."""
    rng = np.random.default_rng(seed)
    shape = ((len(times),) if process.noise_per_frame else ()) + np.shape(u0)
    return rng.standard_normal(shape).astype(np.asarray(u0).dtype)


def _image_first(u0: Any, channel_axis: int | None) -> np.ndarray:
    """``u0`` checked to be ``(H, W)``, or ``(H, W, C)`` with ``channel_axis=-1``."""
    u0 = val.check_image(u0, "u0")
    _, spatial = val.spatial_axes(u0.ndim, channel_axis)
    if spatial != (0, 1) or u0.ndim > 3:
        raise ValueError(
            "u0 must be one image, (H, W) or (H, W, C) with channel_axis=-1, got "
            f"shape {u0.shape} with channel_axis={channel_axis}"
        )
    return u0


def permutation_defect(
    process: Any,
    u0: npt.ArrayLike,
    times: npt.ArrayLike,
    perm: npt.ArrayLike,
    *,
    seed: int = 0,
    channel_axis: int | None = None,
) -> float:
    """Largest deviation from ``P(trajectory(u0)) == trajectory(P(u0))`` with permuted noise.

    ``perm`` is a permutation of the ``H * W`` pixel positions (flat indices); the same
    standard normal draws, permuted alike, drive both trajectories (Prop. 4). Pixel-wise
    processes (DPM) give 0 up to rounding; processes with neighbourhoods do not. ``u0`` is
    ``(H, W)``, or ``(H, W, C)`` with ``channel_axis=-1``.
    """
    u0 = _image_first(u0, channel_axis)
    perm = np.asarray(perm)
    ny, nx = u0.shape[:2]
    if perm.shape != (ny * nx,) or not np.array_equal(np.sort(perm), np.arange(ny * nx)):
        raise ValueError("perm must be a permutation of the H * W pixel indices")

    def P(x, lead=0):
        flat = x.reshape(x.shape[:lead] + (ny * nx,) + x.shape[lead + 2 :])
        return np.take(flat, perm, axis=lead).reshape(x.shape)

    g = _noise_for(process, u0, times, seed)
    lead = 1 if process.noise_per_frame else 0
    direct = P(process.trajectory(u0, times, noise=g, channel_axis=channel_axis), lead=1)
    permuted = process.trajectory(P(u0), times, noise=P(g, lead=lead), channel_axis=channel_axis)
    return float(np.max(np.abs(direct - permuted)))


def rotation_defect(
    process: Any,
    u0: npt.ArrayLike,
    times: npt.ArrayLike,
    k: int = 1,
    *,
    seed: int = 0,
    channel_axis: int | None = None,
) -> float:
    """Largest deviation from ``R(trajectory(u0)) == trajectory(R(u0))`` for 90-degree rotations.

    ``R`` rotates by ``k * 90`` degrees in the image plane; the same noise, rotated alike, drives
    both trajectories (Prop. 9). Holds for all five models, also for non-square images. ``u0`` is
    ``(H, W)``, or ``(H, W, C)`` with ``channel_axis=-1``.
    """
    u0 = _image_first(u0, channel_axis)
    g = _noise_for(process, u0, times, seed)
    axes = (1, 2) if process.noise_per_frame else (0, 1)
    direct = np.rot90(
        process.trajectory(u0, times, noise=g, channel_axis=channel_axis), k, axes=(1, 2)
    )
    rotated = process.trajectory(
        np.ascontiguousarray(np.rot90(u0, k)),
        times,
        noise=np.ascontiguousarray(np.rot90(g, k, axes=axes)),
        channel_axis=channel_axis,
    )
    return float(np.max(np.abs(direct - rotated)))
