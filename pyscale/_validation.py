"""Input checks shared by the public functions.

Every check raises ``TypeError`` or ``ValueError`` with a message that names the offending
parameter, so that bad input never reaches a compiled kernel.
"""

from __future__ import annotations

import functools
import math
import numbers
import operator
import os
from typing import Any

import numpy as np

__all__ = [
    "check_image",
    "check_times",
    "check_time",
    "check_open_unit",
    "check_positive",
    "check_seed",
    "check_workers",
    "spatial_axes",
    "to_canonical",
    "from_canonical",
]


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _as_float(arr, name):
    """A float32 or float64 version of a non-float array, or the error that names ``name``."""
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        if arr.dtype != np.bool_:
            raise TypeError(f"{name} must be a float array, got dtype {arr.dtype}")
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"{name} must be a float array (values in [0, 1]), got dtype {arr.dtype}; "
            "convert integer images first, e.g. u.astype(np.float64) / 255"
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be a real float array, got dtype {arr.dtype}")
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    elif arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    return arr


def check_image(
    u: Any, name: str = "u0", *, allow_nonfinite: bool = False, positive: bool = False
) -> np.ndarray:
    """Return ``u`` as a float32 or float64 ndarray after checking it.

    Integer, boolean and complex arrays are rejected: images are floats (in [0, 1] by
    convention); convert integer images with ``skimage.util.img_as_float`` or divide by 255.
    float16 is promoted to float32.
    """
    if isinstance(u, np.ndarray):
        arr = u
    else:
        try:
            arr = np.asarray(u)
        except Exception as exc:  # pragma: no cover - numpy's own message is kept
            raise TypeError(f"{name} must be an array of floats: {exc}") from exc
    if arr.dtype not in _FLOATS:
        arr = _as_float(arr, name)
    if arr.ndim < 2:
        raise ValueError(f"{name} must have at least 2 dimensions (H, W), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not allow_nonfinite and not all_finite(arr):
        raise ValueError(f"{name} contains NaN or infinite values")
    if positive and not np.all(arr > 0):
        raise ValueError(
            f"{name} must be strictly positive (osmosis works on positive images); "
            "pass offset=... to shift it, e.g. offset=1.0"
        )
    return arr


def all_finite(x: np.ndarray) -> bool:
    """Whether every entry of a float array is finite.

    The array is summed first: a NaN or infinity makes the sum non-finite, so a finite sum
    settles the question in one pass without a temporary array (1.4-1.6x faster than the
    entrywise check on arrays of 1-100 MB). Only a non-finite sum (bad values, or an overflow of
    large finite ones) is followed by the entrywise check.
    """
    if x.size:
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.add.reduce(x, axis=None)):
                return True
    return bool(np.all(np.isfinite(x)))


def check_result(x, name="u0"):
    """Raise instead of returning an overflowed (non-finite) result."""
    if not np.all(np.isfinite(x)):
        raise ValueError(
            f"the result overflowed {np.asarray(x).dtype}: the values of {name} are too large"
        )
    return x


def spatial_axes(
    ndim: int, channel_axis: Any, name: str = "u0"
) -> tuple[int | None, tuple[int, int]]:
    """Return ``(channel, (ay, ax))``: the channel axis (or None) and the two spatial axes.

    This is the one rule of every entry point of pyscale, as in scikit-image: with
    ``channel_axis=None`` the last two axes are spatial and every other axis is a batch axis;
    otherwise ``channel_axis`` (any axis, negative counts from the end) holds channels and the
    last two of the remaining axes are spatial. Nothing is guessed from the shape.
    """
    if channel_axis is None:
        if ndim < 2:
            raise ValueError(f"{name} must have at least 2 dimensions (H, W), got {ndim}")
        return None, (ndim - 2, ndim - 1)
    if isinstance(channel_axis, (bool, np.bool_)) or not isinstance(channel_axis, numbers.Integral):
        raise TypeError(f"channel_axis must be an int or None, got {channel_axis!r}")
    c = int(channel_axis)
    if not -ndim <= c < ndim:
        raise ValueError(f"channel_axis={c} is out of range for {name} with {ndim} dimensions")
    if ndim < 3:
        raise ValueError(
            f"channel_axis={c} needs {name} with a channel axis and two spatial axes, got "
            f"{ndim} dimensions; pass channel_axis=None for a grey image"
        )
    c %= ndim
    spatial = [i for i in range(ndim) if i != c][-2:]
    return c, (spatial[0], spatial[1])


def spatial_layout(shape, channel_axis, name="u0"):
    """Return ``(channel, ny, nx)`` for an image of ``shape`` (see :func:`spatial_axes`)."""
    c, (ay, ax) = spatial_axes(len(shape), channel_axis, name)
    return c, shape[ay], shape[ax]


def to_canonical(u, channel_axis, name="u0"):
    """Reshape an image or batch to the canonical ``(B, ny, nx)`` layout.

    The channel axis (if any) is moved in front of the two spatial axes and every other axis is
    folded into the batch; axis 0 stays first unless it is the channel axis. Returns the
    canonical array and what :func:`from_canonical` needs.
    """
    c, ny, nx = spatial_layout(u.shape, channel_axis, name)
    moved = u if c is None or c == u.ndim - 3 else u.transpose(_move_to(u.ndim, c, u.ndim - 3))
    return moved.reshape(-1, ny, nx), (moved.shape, c)


def _move_to(ndim, src, dst):
    """The axis order that moves axis ``src`` to position ``dst`` (both non-negative)."""
    order = [i for i in range(ndim) if i != src]
    order.insert(dst, src)
    return order


def from_canonical(x, info, leading=()):
    """Inverse of :func:`to_canonical`; ``leading`` are extra axes in front of ``x``'s batch."""
    moved_shape, c = info
    out = x.reshape(tuple(leading) + tuple(moved_shape))
    if c is None or c == len(moved_shape) - 3:
        return out
    return out.transpose(_move_to(out.ndim, out.ndim - 3, c + len(leading)))


def examples_of(shape, channel_axis, name="u0"):
    """Return the number of examples along axis 0, for per-example times.

    Refuse when axis 0 is not a batch axis (a spatial axis or the channel axis).
    """
    c, (ay, _) = spatial_axes(len(shape), channel_axis, name)
    if ay == 0 or c == 0:
        raise ValueError(
            f"per-example times need a batch axis first in {name}, got shape {tuple(shape)} with "
            f"channel_axis={channel_axis}"
        )
    return shape[0]


def plane_index(shape, channel_axis, name, batch, columns):
    """Map times (scalars, or one per example along axis 0) to coefficient planes.

    Returns the distinct rows of ``columns`` (one 1-D float64 array per column), the plane of
    each example (None for scalars) and the plane of each of the ``batch`` canonical images (None
    for scalars).
    """
    if all(np.ndim(c) == 0 for c in columns):
        return [np.array([float(c)]) for c in columns], None, None
    n = examples_of(shape, channel_axis, name)
    cols = np.broadcast_arrays(*(np.asarray(c, dtype=np.float64) for c in columns))
    if cols[0].shape != (n,):
        raise ValueError(
            f"per-example times must have shape ({n},), one per entry of axis 0 of {name} "
            f"{tuple(shape)}, got {cols[0].shape}"
        )
    rows, example = np.unique(np.stack(cols, axis=1), axis=0, return_inverse=True)
    example = example.reshape(-1).astype(np.int64)
    return [rows[:, i] for i in range(len(columns))], example, np.repeat(example, batch // n)


def _scalar_time(t, name, integer, max_time):
    """A Python ``float`` or ``int`` time checked without numpy; None for anything else."""
    if type(t) is int and -(2**53) <= t <= 2**53:
        t = float(t)
    elif type(t) is not float:
        return None
    if not math.isfinite(t):
        raise ValueError(f"{name} must be finite")
    if t < 0:
        raise ValueError(f"{name} must be non-negative, got {t}")
    if integer and t != round(t):
        raise ValueError(f"{name} must be whole numbers of steps for a per-step schedule")
    if max_time is not None and t > max_time:
        raise ValueError(f"{name} must not exceed {max_time:g} for this process, got {t:g}")
    return t


def _time_values(times, name, integer, max_time):
    """``times`` as a float64 array of finite, non-negative values (any shape)."""
    if isinstance(times, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number, got {times!r}")
    try:
        t = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number or a sequence of numbers: {exc}") from exc
    if t.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{name} must be finite")
    if np.any(t < 0):
        raise ValueError(f"{name} must be non-negative, got {t.min()}")
    if integer and np.any(t != np.round(t)):
        raise ValueError(f"{name} must be whole numbers of steps for a per-step schedule")
    if max_time is not None and t.max() > max_time:
        raise ValueError(f"{name} must not exceed {max_time:g} for this process, got {t.max():g}")
    return t


def check_times(
    times: Any, name: str = "times", *, integer: bool = False, max_time: float | None = None
) -> np.ndarray:
    """Return strictly increasing, non-negative finite times as a 1-D float64 array."""
    t = _time_values(times, name, integer, max_time)
    if t.ndim == 0:
        t = t.reshape(1)
    if t.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {t.shape}")
    if t.size > 1 and np.any(np.diff(t) <= 0):
        raise ValueError(f"{name} must be strictly increasing")
    return t


def check_time(t: Any, name: str = "t", **kw: Any) -> float:
    """Check one time; return it as a float."""
    integer, max_time = kw.get("integer", False), kw.get("max_time")
    fast = _scalar_time(t, name, integer, max_time)
    if fast is not None:
        return fast
    if np.ndim(t) != 0:
        raise ValueError(f"{name} must be a scalar time, got shape {np.shape(t)}")
    return float(_time_values(t, name, integer, max_time))


def check_example_times(
    t: Any, name: str = "t", *, integer: bool = False, max_time: float | None = None
) -> float | np.ndarray:
    """One time (a float) or one time per example (a 1-D float64 array)."""
    fast = _scalar_time(t, name, integer, max_time)
    if fast is not None:
        return fast
    arr = _time_values(t, name, integer, max_time)
    if arr.ndim == 0:
        return float(arr)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be a scalar or one time per example (1-D), got shape {arr.shape}"
        )
    return arr


def _as_schedule(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number or a 1-D array of numbers: {exc}") from exc
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number, got {x!r}")
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D per-step array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def check_open_unit(x: Any, name: str) -> np.ndarray:
    """A scalar or per-step array with every entry in the open interval (0, 1)."""
    arr = _as_schedule(x, name)
    if np.any(arr <= 0) or np.any(arr >= 1):
        raise ValueError(f"{name} must lie in the open interval (0, 1), got {x!r}")
    return arr


def check_positive(
    x: Any, name: str, *, allow_zero: bool = False, array: bool = True
) -> np.ndarray:
    """A positive scalar (or per-step array when ``array``)."""
    arr = _as_schedule(x, name)
    if not array and arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {arr.shape}")
    bad = np.any(arr < 0) if allow_zero else np.any(arr <= 0)
    if bad:
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {kind}, got {x!r}")
    return arr


def check_int(x: Any, name: str, minimum: int) -> int:
    """An int of at least ``minimum`` (``TypeError`` for other types, bool included)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(x).__name__}")
    if x < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {x}")
    return int(x)


def check_seed(seed: Any) -> int:
    """Return a seed as a Python int in [0, 2**64), drawing a fresh one for ``None``."""
    if seed is None:  # fresh entropy from the operating system, as numpy's SeedSequence takes
        return int.from_bytes(os.urandom(8), "little")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    seed = operator.index(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return seed


@functools.cache
def _cpu_count():
    """The number of cores (asking the system takes longer than a small transform)."""
    return os.cpu_count() or 1


def check_workers(workers: Any) -> int:
    """Return a thread count >= 1; ``None`` or -1 means all cores, like ``scipy.fft``."""
    ncpu = _cpu_count()
    if workers is None:
        return ncpu
    if isinstance(workers, (bool, np.bool_)) or not isinstance(workers, numbers.Integral):
        raise TypeError(f"workers must be an int or None, got {type(workers).__name__}")
    workers = int(workers)
    if workers == 0 or workers < -ncpu:
        raise ValueError(
            f"workers must be >= 1 or a negative count from the core count, got {workers}"
        )
    if workers < 0:
        return ncpu + 1 + workers
    return workers
