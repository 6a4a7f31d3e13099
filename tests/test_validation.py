"""Bad input raises ValueError/TypeError naming the parameter."""

import numpy as np
import pytest

import pyscale as ps

PROCS = [
    ps.DPM(),
    ps.HeatDissipation(),
    ps.HomogeneousDiffusion(),
    ps.BlurringDiffusion(),
    ps.ProbabilisticOsmosis(),
]
IDS = ["dpm", "heat", "homogeneous", "blurring", "osmosis"]


@pytest.fixture(params=PROCS, ids=IDS)
def process(request):
    return request.param


GOOD = np.full((6, 7), 0.5)


@pytest.mark.parametrize(
    "u0, exc, match",
    [
        (np.full((6, 7), np.nan), ValueError, "u0.*NaN"),
        (np.full((6, 7), np.inf), ValueError, "u0.*NaN or infinite"),
        (np.zeros(7), ValueError, "u0.*2 dimensions"),
        (np.zeros((0, 7)), ValueError, "u0.*empty"),
        (np.ones((6, 7), dtype=np.uint8), TypeError, "u0.*float"),
        (np.ones((6, 7), dtype=int), TypeError, "u0.*float"),
        (np.ones((6, 7), dtype=bool), TypeError, "u0.*float"),
        (np.ones((6, 7), dtype=complex), TypeError, "u0.*real"),
        ("abc", TypeError, "u0"),
    ],
    ids=["nan", "inf", "1d", "empty", "uint8", "int", "bool", "complex", "str"],
)
def test_bad_images(process, u0, exc, match):
    with pytest.raises(exc, match=match):
        process.trajectory(u0, [1, 2], seed=0)


@pytest.mark.parametrize(
    "times, match",
    [
        ([5, 5], "increasing"),
        ([5, 1], "increasing"),
        ([-1, 2], "non-negative"),
        ([], "empty"),
        ([1, np.nan], "finite"),
        ([[1, 2]], "one-dimensional"),
    ],
    ids=["repeated", "decreasing", "negative", "empty", "nan", "2d"],
)
def test_bad_times(process, times, match):
    with pytest.raises(ValueError, match=f"times must.*{match}|times.*{match}"):
        process.trajectory(GOOD, times, seed=0)


@pytest.mark.parametrize("beta", [0.0, 1.0, -0.1, 1.5, np.nan, [0.1, 1.2]])
def test_beta_outside_unit_interval(beta):
    with pytest.raises(ValueError, match="beta"):
        ps.DPM(beta=beta)
    if np.ndim(beta) == 0:
        with pytest.raises(ValueError, match="beta"):
            ps.BlurringDiffusion(beta=beta)


def test_other_parameters():
    with pytest.raises(ValueError, match="alpha"):
        ps.DPM(beta=0.1, alpha=1.5)
    with pytest.raises(ValueError, match="same length"):
        ps.DPM(beta=[0.1, 0.2], alpha=[0.9, 0.9, 0.9])
    with pytest.raises(ValueError, match="sigma"):
        ps.HeatDissipation(sigma=-1)
    with pytest.raises(ValueError, match="sigma"):
        ps.ProbabilisticOsmosis(sigma=0)
    with pytest.raises(ValueError, match="spectrum"):
        ps.HomogeneousDiffusion(spectrum="fourier")
    with pytest.raises(TypeError, match="seed"):
        ps.DPM().trajectory(GOOD, [1], seed=1.5)
    with pytest.raises(ValueError, match="seed"):
        ps.DPM().trajectory(GOOD, [1], seed=-1)
    with pytest.raises(ValueError, match="workers"):
        ps.DPM().trajectory(GOOD, [1], seed=0, workers=0)
    with pytest.raises(ValueError, match="noise must have shape"):
        ps.DPM().trajectory(GOOD, [1, 2], noise=np.zeros((1, 6, 7)))
    with pytest.raises(ValueError, match="channel_axis"):
        ps.DPM().trajectory(np.full((4, 5, 3), 0.5), [1], seed=0, channel_axis=3)
    with pytest.raises(ValueError, match="channel_axis"):
        ps.DPM().trajectory(np.full((4, 5), 0.5), [1], seed=0, channel_axis=-1)
    with pytest.raises(TypeError, match="channel_axis"):
        ps.DPM().trajectory(np.full((4, 5, 3), 0.5), [1], seed=0, channel_axis="last")
    with pytest.raises(ValueError, match="t must not be smaller than s"):
        ps.DPM().transition(5, 2)
    with pytest.raises(ValueError, match="shape is required"):
        ps.BlurringDiffusion().marginal(3)


def test_osmosis_positivity():
    f = np.full((5, 5), 0.5)
    with pytest.raises(ValueError, match="guidance must be strictly positive"):
        ps.osmosis(f, guidance=np.zeros((5, 5)), t=1.0)
    with pytest.raises(ValueError, match="f must be non-negative"):
        ps.osmosis(f - 1, guidance=f, t=1.0)
    with pytest.raises(ValueError, match="guidance must have the shape"):
        ps.osmosis(f, guidance=np.ones((4, 5)), t=1.0)
    # the offset makes zeros usable
    out = ps.osmosis(f, guidance=np.zeros((5, 5)), t=1.0, offset=1.0)
    assert np.all(np.isfinite(out))


def test_float16_is_promoted():
    out = ps.HomogeneousDiffusion().sample(GOOD.astype(np.float16), 1.0)
    assert out.dtype == np.float32
