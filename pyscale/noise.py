"""Counter-based Gaussian noise: each draw is a pure function of (seed, stream, index).

A draw never depends on how many threads compute it or in which order, so trajectories are
reproducible on any machine, and the numpy, Numba and C++ paths of pyscale produce the same
numbers. Uniform bits come from hashing a counter with the SplitMix64 finaliser ``mix``; normals
from the ziggurat method with 256 layers:

- ``key = mix(mix(seed) + stream * G)`` with ``G = 0x9E3779B97F4A7C15`` (64-bit wraparound);
- element ``n`` starts from ``w0 = mix(key + (n + 1) G)``; further words, needed only when the
  first one is rejected (about 1.3 % of draws), are ``w_j = mix(w0 + j G)``, ``j = 1, 2, ...``;
- a word ``w`` gives the layer ``i = w & 255``, the sign ``(w >> 8) & 1`` and the uniform
  ``x = (w >> 11) 2**-53 * X[i]``; ``x < X[i + 1]`` is accepted at once. Otherwise layer 0 draws
  from the tail beyond ``r`` (Marsaglia's method with two more words) and the other layers accept
  ``x`` when a further uniform height under the layer falls below ``exp(-x**2 / 2)``; a rejected
  draw starts again with the next word.

The layer edges ``X`` (:data:`ZIGGURAT_X`) are computed once here; the Numba kernels freeze them
as constants and the C++ kernels receive them as an argument, so all implementations use
identical tables. Streams separate independent uses of one seed: jump
``k`` of a trajectory uses stream ``k``; osmosis guidance images use :data:`GUIDANCE_STREAM`.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["standard_normal", "stream_key", "GUIDANCE_STREAM", "ZIGGURAT_X", "ZIGGURAT_F"]

GOLDEN = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1
GUIDANCE_STREAM = 2**63
_R = 3.6541528853610088  # start of the tail for 256 layers


def _tables():
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    v = _R * f(_R) + math.sqrt(math.pi / 2) * math.erfc(_R / math.sqrt(2))
    x = np.empty(257)
    x[0] = v / f(_R)
    x[1] = _R
    for i in range(1, 256):
        arg = v / x[i] + f(x[i])
        x[i + 1] = math.sqrt(-2.0 * math.log(arg)) if arg < 1 else 0.0
    x[256] = 0.0
    return x, np.exp(-0.5 * x * x)


#: Layer edges of the ziggurat (decreasing, ``X[1] = r``, ``X[256] = 0``) and ``exp(-X**2 / 2)``.
ZIGGURAT_X, ZIGGURAT_F = _tables()


def _mix_int(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def stream_key(seed, stream):
    """The 64-bit key of ``(seed, stream)`` as a ``numpy.uint64``."""
    return np.uint64(_mix_int((_mix_int(int(seed)) + int(stream) * GOLDEN) & _MASK))


# --- the generator for one element, shared by every Numba kernel ----------------------------

_U = nb.types.uint64
_G = np.uint64(GOLDEN)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S8, _S11, _S27, _S30, _S31 = (np.uint64(s) for s in (8, 11, 27, 30, 31))
_ONE, _LOW8 = np.uint64(1), np.uint64(255)
_SCALE = 2.0**-53


@nb.njit(inline="always")
def mix(z):
    """SplitMix64 finaliser on a uint64 (wraps around)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@nb.njit(inline="always")
def _open01(w):
    return (np.float64(np.int64(w >> _S11)) + 1.0) * _SCALE  # in (0, 1]


@nb.njit(nogil=True, error_model="numpy", cache=True)
def _rejected(w0):
    """Continue a draw whose first word ``w0`` was not accepted at once (about 1.3 %)."""
    X, F = ZIGGURAT_X, ZIGGURAT_F
    w = w0
    j = np.uint64(0)
    while True:
        i = np.int64(w & _LOW8)
        neg = (w >> _S8) & _ONE
        x = np.float64(np.int64(w >> _S11)) * _SCALE * X[i]
        if x < X[i + 1]:
            return -x if neg else x
        if i == 0:  # tail beyond r: x = r + a with a ~ Exp(r), accepted with prob exp(-a**2 / 2)
            while True:
                j += _ONE
                a = -math.log(_open01(mix(w0 + j * _G))) / X[1]
                j += _ONE
                b = -math.log(_open01(mix(w0 + j * _G)))
                if 2.0 * b > a * a:
                    break
            x = X[1] + a
            return -x if neg else x
        j += _ONE
        h = F[i] + np.float64(np.int64(mix(w0 + j * _G) >> _S11)) * _SCALE * (F[i + 1] - F[i])
        if h < math.exp(-0.5 * x * x):
            return -x if neg else x
        j += _ONE
        w = mix(w0 + j * _G)


@nb.njit(inline="always")
def normal_at(key, n):
    """The standard normal draw of flat index ``n`` under ``key``.

    The tables are module constants, frozen into the compiled code. The sign is applied as a
    product with +-1 (exact), not by a branch on the random sign bit, which the processor would
    mispredict for every second draw (measured on an AMD Zen 3 host: 8.2-8.9 ns a draw with the
    branch, 5.2 ns without).
    """
    X = ZIGGURAT_X
    w = mix(key + (np.uint64(n) + _ONE) * _G)
    i = np.int64(w & _LOW8)
    x = np.float64(np.int64(w >> _S11)) * _SCALE * X[i]
    if x >= X[i + 1]:
        return _rejected(w)
    return x * (1.0 - 2.0 * np.float64(np.int64((w >> _S8) & _ONE)))


@nb.njit(nogil=True, error_model="numpy", cache=True)
def _fill_normal(flat, key, start, lo, hi):
    for n in range(lo, hi):
        flat[n] = normal_at(key, start + n)


def standard_normal(seed, stream, shape, dtype=np.float64, *, start=0, workers=1):
    """Standard normal draws for the flat indices ``start`` to ``start + prod(shape) - 1``.

    Parameters
    ----------
    seed : int
        Seed in ``[0, 2**64)``.
    stream : int
        Stream number in ``[0, 2**64)``; different streams are independent.
    shape : tuple of int
        Shape of the result; element ``i`` in C order has flat index ``start + i``.
    dtype : {numpy.float64, numpy.float32}
        The draws are computed in float64 and rounded to ``dtype``.
    start : int, optional
        Flat index of the first element.
    workers : int, optional
        Threads to use (the draws do not depend on it).

    Returns
    -------
    numpy.ndarray
        Array of ``shape`` and ``dtype``.

    Examples
    --------
    >>> import numpy as np
    >>> from pyscale.noise import standard_normal
    >>> z = standard_normal(0, 0, (1000,))
    >>> bool(np.array_equal(z[10:20], standard_normal(0, 0, (10,), start=10)))
    True
    """
    from ._threads import run_chunked

    out = np.empty(shape, dtype=np.float64)
    flat = out.reshape(-1)
    key = stream_key(seed, stream)
    run_chunked(_fill_normal, flat.size, workers, flat, key, np.int64(start))
    return out.astype(dtype, copy=False)
