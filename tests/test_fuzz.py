"""Property-based fuzzing of the public API over shapes, dtypes, layouts, values and parameters.

Every case must either return finite results of the documented dtype or raise ValueError or
TypeError whose message names the offending parameter; nothing may crash, hang or return NaN.
"""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pyscale as ps

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PARAMS = (
    "u0",
    "x",
    "f",
    "guidance",
    "times",
    "t",
    "beta",
    "alpha",
    "sigma",
    "tau",
    "rtol",
    "seed",
    "workers",
    "channel_axis",
    "shape",
    "noise",
    "steps_per_decade",
    "offset",
    "axes",
    "maxiter",
)
DTYPES = [np.bool_, np.int32, np.uint8, np.float16, np.float32, np.float64, np.complex128]
SIDES = st.sampled_from([0, 1, 2, 3, 5, 31, 97])


@st.composite
def images(draw, max_side=97):
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.sampled_from([1, 2, 2, 3]))
    shape = tuple(draw(SIDES) if i < 2 else draw(st.sampled_from([1, 3])) for i in range(ndim))
    kind = draw(st.sampled_from(["unit", "unit", "wide", "special"]))
    if kind == "unit":
        elements = st.floats(0, 1, width=16) if dtype is not np.bool_ else st.booleans()
    elif kind == "wide":
        elements = None
    else:
        elements = st.sampled_from([np.nan, np.inf, -np.inf, -1.0, 1e300, 0.5])
    try:
        arr = draw(hnp.arrays(dtype, shape, elements=elements))
    except Exception:  # an element the dtype cannot hold
        arr = draw(hnp.arrays(dtype, shape))
    layout = draw(st.sampled_from(["c", "fortran", "reversed", "strided", "readonly"]))
    if layout == "fortran":
        arr = np.asfortranarray(arr)
    elif layout == "reversed" and arr.ndim >= 1:
        arr = arr[::-1]
    elif layout == "strided" and arr.ndim >= 2:
        arr = np.repeat(arr, 2, axis=1)[:, ::2]
    elif layout == "readonly":
        arr = arr.copy()
        arr.flags.writeable = False
    return arr


TIMES = st.one_of(
    st.lists(st.one_of(st.floats(-5, 2e4), st.just(np.nan)), min_size=0, max_size=4),
    st.just([1, 5, 10, 100, 1000, 10000]),
)


def _accept(fn, expect_dtype=None):
    """Run ``fn``: a finite result of the right dtype, or an error naming a parameter."""
    try:
        out = fn()
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        assert any(re.search(rf"\b{p}\b", msg) for p in PARAMS), (
            f"message names no parameter: {msg}"
        )
        return None
    outs = out if isinstance(out, tuple) else (out,)
    for o in outs:
        o = np.asarray(o)
        assert np.all(np.isfinite(o)), "non-finite result returned silently"
        if expect_dtype is not None:
            assert o.dtype in (np.float32, np.float64)
    return out


MODELS = [
    ps.DPM(beta=0.1),
    ps.DPM(beta=0.1, alpha=1.0),
    ps.HeatDissipation(),
    ps.HomogeneousDiffusion(),
    ps.BlurringDiffusion(),
    ps.ProbabilisticOsmosis(sigma=0.1),
]


@SETTINGS
@given(
    u0=images(max_side=31),
    times=TIMES,
    model=st.sampled_from(MODELS),
    seed=st.one_of(st.integers(-3, 2**64 + 3), st.none(), st.just(1.5)),
)
def test_trajectory(u0, times, model, seed):
    if isinstance(model, ps.ProbabilisticOsmosis) and u0.size > 400:
        u0 = u0[:3, :3]
    out = _accept(lambda: model.trajectory(u0, times, seed=seed), expect_dtype=True)
    if out is not None:
        assert out.shape == (len(times), *u0.shape)
        assert out.dtype == (np.float32 if u0.dtype in (np.float16, np.float32) else np.float64)


@SETTINGS
@given(
    beta=st.one_of(
        st.floats(allow_nan=True), st.lists(st.floats(-1, 2), max_size=3), st.text(max_size=2)
    ),
    alpha=st.one_of(st.none(), st.floats(allow_nan=True)),
    sigma=st.floats(allow_nan=True),
)
def test_parameters(beta, alpha, sigma):
    u0 = np.full((4, 5), 0.5)
    for make in (
        lambda: ps.DPM(beta=beta, alpha=alpha),
        lambda: ps.BlurringDiffusion(beta=beta),
        lambda: ps.HeatDissipation(sigma=sigma),
        lambda: ps.ProbabilisticOsmosis(sigma=sigma),
    ):
        _accept(lambda make=make: make().trajectory(u0, [1, 10], seed=0))


@SETTINGS
@given(
    x=images(),
    axes=st.sampled_from([(-2, -1), (0, 1), (1, 0), (0, 0), (0, 5)]),
    workers=st.sampled_from([None, 1, 2, 0, -1, 2.5]),
)
def test_dct(x, axes, workers):
    for fn in (ps.dct2, ps.idct2):
        out = _accept(lambda fn=fn: fn(x, axes=axes, workers=workers), expect_dtype=True)
        if out is not None:
            assert out.shape == x.shape


@SETTINGS
@given(
    f=images(max_side=13),
    tau=st.one_of(st.none(), st.floats(-1, 1e4), st.just(np.nan)),
    t=st.one_of(st.floats(-1, 1e5), st.just(np.nan)),
    rtol=st.one_of(st.floats(-1, 2), st.just(np.nan)),
)
def test_osmosis(f, tau, t, rtol):
    g = np.asarray(f, dtype=np.float64) if f.dtype != np.complex128 else np.abs(f)
    guidance = np.clip(np.nan_to_num(g, nan=0.5, posinf=1.0, neginf=0.1), 0.05, None)
    _accept(lambda: ps.osmosis(f, guidance=guidance, t=t, tau=tau, rtol=rtol), expect_dtype=True)


def test_message_names_parameter_examples():
    with pytest.raises(ValueError, match=r"\bu0\b"):
        ps.DPM().trajectory(np.full((3, 3), np.nan), [1], seed=0)
    with pytest.raises(ValueError, match=r"overflowed.*\bu0\b"):
        ps.BlurringDiffusion().trajectory(np.full((8, 8), 1e308), [1], seed=0)
