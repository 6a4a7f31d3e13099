"""The claims of Sect. 6.3 of the paper as tests with bootstrap intervals over the images.

Each claim is checked on the per-image variances (and features) of one comparison and comes out
``"holds"`` (the interval of its statistic lies on the claim's side of the criterion),
``"fails"`` (on the other side) or ``"open"`` (the interval straddles the criterion: the images
cannot decide). All intervals of one check come from the same resamples of the images, so that
differences between models are paired.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .stats import _kernel, _mmd2

__all__ = ["CLAIMS", "NOISE_MODELS", "Claim", "Evidence", "evaluate", "evaluate_all"]

HOLDS, FAILS, OPEN = "holds", "fails", "open"

#: The model that stands for blurring diffusion under each of its noise models.
NOISE_MODELS = {"per-step": "blurring", "variance-preserving": "blurring-vp"}

#: Criteria of the claims (stated in :data:`CLAIMS`).
FLAT_FRACTION = 0.05
NOISE_BAND = (0.005, 0.02)
DPM_BAND = (0.9, 1.1)
PAIR_TOLERANCE = 0.1


def _combine(verdicts):
    """One verdict from several that must all hold."""
    if FAILS in verdicts:
        return FAILS
    return HOLDS if all(v == HOLDS for v in verdicts) else OPEN


def _below(lo, hi, bound):
    return HOLDS if hi < bound else FAILS if lo > bound else OPEN


def _within(lo, hi, a, b):
    if a <= lo and hi <= b:
        return HOLDS
    return FAILS if hi < a or lo > b else OPEN


class Evidence:
    """Per-image measurements of one comparison and their bootstrap resamples.

    Parameters
    ----------
    variances : array_like
        ``(N, M, T)``: the image variance of every image, model and time.
    initial : array_like
        ``(N,)``: the variance of every image itself (``t = 0``).
    features : array_like or None
        ``(N, M, T, D)``: the features of every frame, or None (no distance claims).
    models, times : sequence
        The models and times of the second and third axes.
    resamples : int
        Bootstrap resamples of the images (shared by all statistics).
    seed : int
        Seed of the resampling.
    level : float
        Level of the percentile intervals.
    """

    def __init__(
        self, variances, initial, features, models, times, *, resamples=200, seed=0, level=0.95
    ):
        self.v = np.asarray(variances, dtype=np.float64)
        self.v0 = np.asarray(initial, dtype=np.float64)
        self.f = None if features is None else np.asarray(features, dtype=np.float64)
        self.models, self.times = list(models), [float(t) for t in times]
        n = self.v.shape[0]
        if n < 2:
            raise ValueError(f"the claims need at least 2 images, got {n}")
        self.index = np.random.default_rng(seed).integers(0, n, (resamples, n))
        self.q = (50 * (1 - level), 50 * (1 + level))
        self._distances = {}

    def interval(self, boot):
        """The percentile interval of resampled values."""
        lo, hi = np.percentile(boot, self.q)
        return float(lo), float(hi)

    def mean_variance(self, model, k):
        """Mean variance of ``model`` at time index ``k`` and its resampled values."""
        col = self.v[:, self.models.index(model), k]
        return float(col.mean()), col[self.index].mean(axis=1)

    def distance(self, metric, model, k):
        """FID or KID of ``model`` against osmosis at time index ``k``, and resampled values."""
        key = (metric, model, k)
        if key not in self._distances:
            a = self.f[:, self.models.index(model), k]
            b = self.f[:, self.models.index("osmosis"), k]
            if metric == "FID":
                from .fid import fid_from_features

                point = fid_from_features(a, b)
                boot = np.array([fid_from_features(a[i], b[i]) for i in self.index])
            else:
                d = a.shape[1]
                kaa, kbb, kab = _kernel(a, a, d), _kernel(b, b, d), _kernel(a, b, d)
                point = _mmd2(kaa, kbb, kab)
                boot = np.array(
                    [
                        _mmd2(kaa[np.ix_(i, i)], kbb[np.ix_(i, i)], kab[np.ix_(i, i)])
                        for i in self.index
                    ]
                )
            self._distances[key] = (float(point), boot)
        return self._distances[key]


def _fmt(x, lo, hi):
    return f"{x:.3g} [{lo:.3g}, {hi:.3g}]"


def _flat(ev, model):
    last, b_last = ev.mean_variance(model, len(ev.times) - 1)
    lo, hi = ev.interval(b_last / ev.v0[ev.index].mean(axis=1))
    ratio = last / ev.v0.mean()
    return _below(
        lo, hi, FLAT_FRACTION
    ), f"variance at t={ev.times[-1]:g} / at t=0: {_fmt(ratio, lo, hi)}"


def _level(ev, model, band):
    last, boot = ev.mean_variance(model, len(ev.times) - 1)
    lo, hi = ev.interval(boot)
    return _within(lo, hi, *band), f"variance at t={ev.times[-1]:g}: {_fmt(last, lo, hi)}"


def _pair(ev, a, b):
    verdicts, worst = [], None
    scale, b_scale = ev.v0.mean(), ev.v0[ev.index].mean(axis=1)
    for k, t in enumerate(ev.times):
        va, ba = ev.mean_variance(a, k)
        vb, bb = ev.mean_variance(b, k)
        rel = (va - vb) / scale
        lo, hi = ev.interval((ba - bb) / b_scale)
        verdicts.append(_within(lo, hi, -PAIR_TOLERANCE, PAIR_TOLERANCE))
        if worst is None or abs(rel) > abs(worst[1]):
            worst = (t, rel, lo, hi)
    t, rel, lo, hi = worst
    text = f"largest difference at t={t:g}, relative to the images' variance: {_fmt(rel, lo, hi)}"
    return _combine(verdicts), text


def _closer(ev, metric, near, far, k):
    """Whether ``near`` is decided closer to osmosis than ``far`` at time index ``k``."""
    dn, bn = ev.distance(metric, near, k)
    df, bf = ev.distance(metric, far, k)
    lo, hi = ev.interval(bn - bf)
    return _below(lo, hi, 0.0)


def _by_time(ev, verdicts):
    """The verdict over all times, and which times were decided which way."""
    groups = {
        v: [f"{t:g}" for t, w in zip(ev.times, verdicts, strict=True) if w == v]
        for v in (HOLDS, FAILS, OPEN)
    }
    text = "; ".join(f"{v} at t={','.join(ts)}" for v, ts in groups.items() if ts)
    return _combine(verdicts), text


def _closest(ev, blur, metric):
    others = ["dpm", "heat", "homogeneous"]
    verdicts = [
        _combine([_closer(ev, metric, blur, o, k) for o in others]) for k in range(len(ev.times))
    ]
    return _by_time(ev, verdicts)


def _dpm_far_then_near(ev, blur, metric):
    others = ["heat", "homogeneous", blur]
    early = _combine([_closer(ev, metric, o, "dpm", 0) for o in others])
    d0, b0 = ev.distance(metric, "dpm", 0)
    d1, b1 = ev.distance(metric, "dpm", len(ev.times) - 1)
    lo, hi = ev.interval(b1 - b0)
    falls = _below(lo, hi, 0.0)
    text = (
        f"farthest at t={ev.times[0]:g}: {early}; {metric} {d0:.3g} -> {d1:.3g}, change "
        f"{_fmt(d1 - d0, lo, hi)}"
    )
    return _combine([early, falls]), text


def _blur_only_farthest(ev, blur, metric):
    others = ["dpm", blur]
    verdicts = []
    for k in range(len(ev.times)):
        worst = max(("heat", "homogeneous"), key=lambda m: ev.distance(metric, m, k)[0])
        verdicts.append(_combine([_closer(ev, metric, o, worst, k) for o in others]))
    return _by_time(ev, verdicts)


@dataclass(frozen=True)
class Claim:
    """A statement of Sect. 6.3 and the criterion it is checked with."""

    key: str
    statement: str
    criterion: str
    #: ``check(evidence, blurring, metric) -> (verdict, evidence text)``
    check: Callable[[Evidence, str, str], tuple[str, str]]
    #: whether the claim compares distances to osmosis (checked per metric, needs features)
    uses_distance: bool = False
    #: whether the claim involves blurring diffusion (checked for each of its noise models)
    uses_blurring: bool = False


CLAIMS = (
    Claim(
        "flat-homogeneous",
        "homogeneous diffusion: the image variance decays to 0",
        f"mean variance at the last time below {FLAT_FRACTION:.0%} of that of the images",
        lambda ev, blur, metric: _flat(ev, "homogeneous"),
    ),
    Claim(
        "flat-heat",
        "heat dissipation: the image variance decays to (nearly) 0",
        f"mean variance at the last time below {FLAT_FRACTION:.0%} of that of the images",
        lambda ev, blur, metric: _flat(ev, "heat"),
    ),
    Claim(
        "level-osmosis",
        "probabilistic osmosis: the variance converges to the noise level 0.01",
        f"mean variance at the last time within [{NOISE_BAND[0]:g}, {NOISE_BAND[1]:g}]",
        lambda ev, blur, metric: _level(ev, "osmosis", NOISE_BAND),
    ),
    Claim(
        "level-blurring",
        "blurring diffusion: the variance converges to the noise level 0.01",
        f"mean variance at the last time within [{NOISE_BAND[0]:g}, {NOISE_BAND[1]:g}]",
        lambda ev, blur, metric: _level(ev, blur, NOISE_BAND),
        uses_blurring=True,
    ),
    Claim(
        "level-dpm",
        "DPM: the variance converges to 1",
        f"mean variance at the last time within [{DPM_BAND[0]:g}, {DPM_BAND[1]:g}]",
        lambda ev, blur, metric: _level(ev, "dpm", DPM_BAND),
    ),
    Claim(
        "pair-heat-homogeneous",
        "heat dissipation and homogeneous diffusion evolve very similarly",
        f"at every time the mean variances differ by less than {PAIR_TOLERANCE:.0%} of the "
        "mean variance of the images",
        lambda ev, blur, metric: _pair(ev, "heat", "homogeneous"),
    ),
    Claim(
        "pair-osmosis-blurring",
        "blurring diffusion and probabilistic osmosis evolve very similarly",
        f"at every time the mean variances differ by less than {PAIR_TOLERANCE:.0%} of the "
        "mean variance of the images",
        lambda ev, blur, metric: _pair(ev, "osmosis", blur),
        uses_blurring=True,
    ),
    Claim(
        "closest-blurring",
        "blurring diffusion is the model closest to osmosis over the whole evolution",
        "at every time its distance to osmosis is below that of every other model",
        _closest,
        uses_distance=True,
        uses_blurring=True,
    ),
    Claim(
        "dpm-far-then-near",
        "DPM differs most from osmosis early and comes closer in its steady state",
        "farthest from osmosis at the first time, and nearer at the last time than at the first",
        _dpm_far_then_near,
        uses_distance=True,
        uses_blurring=True,
    ),
    Claim(
        "blur-only-farthest",
        "the blur-only models (heat dissipation, homogeneous diffusion) differ most from osmosis",
        "at every time one of them is farther from osmosis than every other model (the paper's "
        "sentence names heat dissipation and blurring diffusion, which contradicts its claim "
        "that blurring diffusion is closest; the blur-only pair is the likely intent)",
        _blur_only_farthest,
        uses_distance=True,
        uses_blurring=True,
    ),
)


def evaluate(ev, blurring="blurring", metrics=("FID", "KID")):
    """Check every claim of :data:`CLAIMS` on ``ev``; return one row per claim and metric.

    ``blurring`` names the model that stands for blurring diffusion (``"blurring"``, Eq. 36, or
    ``"blurring-vp"``). Distance claims are checked with each metric in ``metrics`` when ``ev``
    has features. Rows: ``claim, metric, verdict, evidence``.
    """
    rows = []
    for c in CLAIMS:
        if c.uses_distance and ev.f is None:
            continue
        for metric in metrics if c.uses_distance else ("variance",):
            verdict, text = c.check(ev, blurring, metric)
            rows.append({"claim": c.key, "metric": metric, "verdict": verdict, "evidence": text})
    return rows


def evaluate_all(ev, metrics=("FID", "KID")):
    """:func:`evaluate` for each noise model of blurring diffusion (:data:`NOISE_MODELS`).

    Claims that do not involve blurring diffusion appear once, with an empty ``noise``; the
    others once per noise model.
    """
    uses = {c.key: c.uses_blurring for c in CLAIMS}
    rows = []
    for noise, blurring in NOISE_MODELS.items():
        for row in evaluate(ev, blurring, metrics):
            if uses[row["claim"]] or noise == "per-step":
                rows.append({"noise": noise if uses[row["claim"]] else "", **row})
    return rows
