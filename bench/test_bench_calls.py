"""The fixed cost of a call on a small image: the public API on 3x32x32 against scipy.fft.

The reference is one ``scipy.fft.dctn`` and one ``idctn`` over the two spatial axes of the same
float64 image, timed in the same run with the calls interleaved; the target is a call costing at
most twice that pair. Every call's result is checked, also with ``--benchmark-disable``.
"""

import statistics

import numpy as np
import pytest
import scipy.fft
from benchdata import interleaved_medians

import pyscale as ps

TARGET = 2.0  # at most this many scipy dctn + idctn pairs per call
FLOOR = 3.0  # what a noisy shared machine must still meet
AXES = (1, 2)
T = 10.0


def _image():
    return np.random.default_rng(0).random((3, 32, 32))


def _scipy_pair(x):
    c = scipy.fft.dctn(x, axes=AXES, norm="ortho")
    return scipy.fft.idctn(c, axes=AXES, norm="ortho")


def _scipy_modes(x, lam, gam=None, eps=None):
    """``U_t`` from its DCT coefficients ``lam U_0 + gam G`` (``G``: the DCT of ``eps``)."""
    c = lam * scipy.fft.dctn(x, axes=AXES, norm="ortho")
    if gam is not None:
        c += gam * scipy.fft.dctn(eps, axes=AXES, norm="ortho")
    return scipy.fft.idctn(c, axes=AXES, norm="ortho")


def _check_dct_pair(x, got):
    ref = scipy.fft.dctn(x, axes=AXES, norm="ortho")
    np.testing.assert_allclose(ps.dct2(x, axes=AXES), ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got, x, rtol=0, atol=1e-12)


def _check_homogeneous(x, got):
    mu = ps.laplacian_eigenvalues(32, 32)
    np.testing.assert_allclose(got, _scipy_modes(x, np.exp(-mu * T)), rtol=0, atol=1e-12)


def _checker(p):
    """Compare a seeded sample of ``p`` with the closed form on the draws behind it."""

    def check(x, got):
        eps = p.drawn_noise(x, [T], seed=0, channel_axis=0)[0]
        lam, gam = p.marginal(T, x.shape, channel_axis=0)
        want = lam * x + gam * eps if p.basis == "pixel" else _scipy_modes(x, lam, gam, eps)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)

    return check


def _check_marginal(x, got):
    lam, gam = got
    mu = ps.laplacian_eigenvalues(32, 32)
    np.testing.assert_allclose(lam, np.exp(-mu * T), rtol=1e-14, atol=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        g2 = np.where(mu == 0, 0.01 * T, 0.01 * np.expm1(-2 * mu * T) / np.expm1(-2 * mu))
    np.testing.assert_allclose(gam, np.sqrt(g2), rtol=1e-12, atol=0)


def _check_velocity(x, got):
    eps = np.random.default_rng(1).standard_normal(x.shape)
    lam, gam = _BLUR.marginal(T, x.shape, channel_axis=0)
    dct = scipy.fft.dctn
    want = scipy.fft.idctn(
        lam * dct(eps, axes=AXES, norm="ortho") - gam * dct(x, axes=AXES, norm="ortho"),
        axes=AXES,
        norm="ortho",
    )
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


_BLUR, _HEAT, _DPM = ps.BlurringDiffusion(0.1), ps.HeatDissipation(), ps.DPM(0.1)
_EPS = np.random.default_rng(1).standard_normal((3, 32, 32))
CALLS = {
    "dct2-idct2": (
        lambda x: ps.idct2(ps.dct2(x, axes=AXES), axes=AXES),
        _check_dct_pair,
    ),
    "homogeneous-sample": (
        lambda x: ps.HomogeneousDiffusion().sample(x, T, channel_axis=0),
        _check_homogeneous,
    ),
    "heat-sample": (lambda x: _HEAT.sample(x, T, seed=0, channel_axis=0), _checker(_HEAT)),
    "blurring-sample": (lambda x: _BLUR.sample(x, T, seed=0, channel_axis=0), _checker(_BLUR)),
    "dpm-sample": (lambda x: _DPM.sample(x, T, seed=0, channel_axis=0), _checker(_DPM)),
    "blurring-trajectory-1": (
        lambda x: _BLUR.trajectory(x, [T], seed=0, channel_axis=0)[0],
        _checker(_BLUR),
    ),
    "blurring-velocity": (
        lambda x: _BLUR.velocity(x, _EPS, T, channel_axis=0),
        _check_velocity,
    ),
    "blurring-marginal": (
        lambda x: _BLUR.marginal(T, x.shape, channel_axis=0),
        _check_marginal,
    ),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_small_call_cost(benchmark, name):
    benchmark.group = f"small-call-3x32x32-{name}"
    call, check = CALLS[name]
    x = _image()
    got = benchmark(call, x)
    check(x, got)
    if benchmark.disabled:
        return
    ratios = []
    for _ in range(3):  # repeated: the middle one of three ratios of interleaved medians
        t_ours, t_ref = interleaved_medians([lambda: call(x), lambda: _scipy_pair(x)], 400)
        ratios.append(t_ours / t_ref)
    ratio = statistics.median(ratios)
    benchmark.extra_info.update(over_scipy_pair=ratio, scipy_pair_s=t_ref)
    status = "met" if ratio <= TARGET else "missed"
    print(
        f"{name}: {t_ours * 1e6:.0f} us = {ratio:.2f} x scipy dctn + idctn ({t_ref * 1e6:.0f} us) "
        f"(target {TARGET:.0f}x {status}; runs {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    assert ratio <= FLOOR
