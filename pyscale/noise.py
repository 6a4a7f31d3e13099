"""Counter-based Gaussian noise: the draw is a pure function of (seed, stream, index).

A draw never depends on how many threads compute it or in which order, so trajectories are
reproducible on any machine and the numpy, Numba and C++ paths of pyscale produce the same
numbers. The generator hashes a counter with the SplitMix64 finaliser and turns pairs of
uniforms into normals with the Box-Muller transform:

- ``key = mix(mix(seed) + stream * G)`` with ``G = 0x9E3779B97F4A7C15``;
- ``bits(i) = mix(key + (i + 1) * G)`` (the i-th output of SplitMix64 started at ``key``);
- element ``n`` uses the pair ``p = n // 2``: ``u1 = (bits(2p) >> 11 + 1) 2**-53`` in (0, 1],
  ``u2 = (bits(2p + 1) >> 11) 2**-53`` in [0, 1), ``r = sqrt(-2 ln u1)`` and the draw is
  ``r cos(2 pi u2)`` for even ``n`` and ``r sin(2 pi u2)`` for odd ``n``.

Streams separate independent draws of one seed: jump ``k`` of a trajectory uses stream ``k``;
guidance images of probabilistic osmosis use :data:`GUIDANCE_STREAM`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["standard_normal", "GUIDANCE_STREAM"]

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
GUIDANCE_STREAM = 2**63
_TWO_M53 = 2.0**-53


def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def stream_key(seed, stream):
    """The 64-bit key of ``(seed, stream)``."""
    with np.errstate(over="ignore"):
        s = _mix(np.uint64(seed))
        return _mix(s + np.uint64(stream) * GOLDEN)


def standard_normal(seed, stream, shape, dtype=np.float64, *, start=0):
    """Standard normal draws for the flat indices ``start .. start + prod(shape) - 1``.

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
    n = int(np.prod(shape, dtype=np.int64))
    if n == 0:
        return np.zeros(shape, dtype=dtype)
    key = stream_key(seed, stream)
    p0 = start // 2
    p1 = (start + n - 1) // 2 + 1
    pairs = np.arange(p0, p1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        b1 = _mix(key + (np.uint64(2) * pairs + np.uint64(1)) * GOLDEN)
        b2 = _mix(key + (np.uint64(2) * pairs + np.uint64(2)) * GOLDEN)
    u1 = ((b1 >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * _TWO_M53
    u2 = (b2 >> np.uint64(11)).astype(np.float64) * _TWO_M53
    r = np.sqrt(-2.0 * np.log(u1))
    theta = 2.0 * np.pi * u2
    z = np.empty(2 * pairs.size, dtype=np.float64)
    z[0::2] = r * np.cos(theta)
    z[1::2] = r * np.sin(theta)
    off = start - 2 * p0
    return z[off : off + n].astype(dtype, copy=False).reshape(shape)
