"""Images in the canonical ``(B, ny, nx)`` layout, with the array operations a process needs.

A layout reads an image with the channel-axis rule once, at the public boundary, maps per-example
times to coefficient planes and maps results back. :class:`Layout` holds numpy arrays and runs
the compiled kernels; :class:`pyscale._torch.TensorLayout` offers the same operations on torch
tensors on any device. The linear processes are written against this interface.
"""

from __future__ import annotations

import numpy as np

from . import _validation as val
from .noise import standard_normal
from .spectral import transform

__all__ = ["Layout"]


class Layout:
    """A numpy image or batch in the canonical ``(B, ny, nx)`` layout.

    The input is checked for its type and shape here; finiteness is checked once on the result
    (a NaN or infinity in the input always reaches it), see :meth:`overflowed`.
    """

    #: The compiled kernels can run on this layout's arrays.
    compiled = True

    def __init__(self, u0, channel_axis, name="u0"):
        self.u = val.check_image(u0, name, allow_nonfinite=True)
        self.canon, self.info = val.to_canonical(self.u, channel_axis, name)
        self.channel_axis, self.name = channel_axis, name
        self.shape, self.dtype = self.u.shape, self.u.dtype
        c = self.info[1]
        self.in_place = c is None or c == self.u.ndim - 3  # canonical is a reshape of u

    def back(self, x, leading=()):
        """Map a canonical array (with ``leading`` axes in front) to the input's layout."""
        return val.from_canonical(x, self.info, leading=leading)

    def canonical(self, x, name, leading=()):
        """Check another array of the input's shape (after ``leading`` axes); canonical form."""
        want = (*leading, *self.shape)
        arr = np.asarray(x)
        if arr.shape != want:
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
        arr = val.check_image(arr, name).astype(self.dtype, copy=False)
        if not leading:
            return val.to_canonical(arr, self.channel_axis, name)[0]
        return np.stack([val.to_canonical(a, self.channel_axis, name)[0] for a in arr])

    def planes(self, *columns):
        """Coefficient planes of times; see :func:`pyscale._validation.plane_index`."""
        return val.plane_index(
            self.shape, self.channel_axis, self.name, self.canon.shape[0], columns
        )

    def buffer(self, out, leading):
        """Where the canonical result goes: a view of ``out`` when possible, else a new array."""
        shape = (*leading, *self.shape)
        if out is not None:
            if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != self.dtype:
                raise ValueError(f"out must be an ndarray of shape {shape} and dtype {self.dtype}")
            if not out.flags.writeable:
                raise ValueError("out must be writeable")
            if self.in_place and out.flags.c_contiguous:
                return out.reshape(*leading, *self.canon.shape)
        return np.empty((*leading, *self.canon.shape), dtype=self.dtype)

    def result(self, buf, out, leading=()):
        """Return the result in the input's layout, written to ``out`` if given."""
        res = self.back(buf, leading)
        if out is None:
            return res
        if not np.shares_memory(res, out):
            np.copyto(out, res)
        return out

    def overflowed(self, what="the noise parameters"):
        """Raise for a non-finite result: name bad input, else report the overflow."""
        val.check_image(self.u, self.name)
        raise ValueError(
            f"the result overflowed {self.dtype}: the values of {self.name} or {what} are too large"
        )

    # --- array operations ---------------------------------------------------------------------
    def transform(self, x, dct, workers, inverse=False):
        """The orthonormal 2-D DCT-II (DCT-III if ``inverse``) of ``x``, or ``x`` itself."""
        return transform(np.ascontiguousarray(x), inverse=inverse, workers=workers) if dct else x

    def per_image(self, coef, plane_of, pixel):
        """Coefficients of one frame ``(P, *modes)`` for each canonical image ``(B, ...)``."""
        c = coef[:1] if plane_of is None else coef[plane_of]
        return c[:, None, None] if pixel else c

    def cast(self, x):
        """``x`` in the input's dtype (and C order)."""
        return np.ascontiguousarray(x, dtype=self.dtype)

    def finite(self, x):
        """Whether every entry of ``x`` is finite."""
        return val.all_finite(x)

    def draws(self, seed, stream, shape, start=0):
        """Standard normal draws of ``(seed, stream)`` from flat index ``start``, input dtype."""
        return standard_normal(seed, stream, shape, self.dtype, start=start)

    def store(self, out, k, value):
        """Frame ``k``: ``value``, written to ``out[k]`` when ``out`` is given."""
        if out is None:
            return value
        out[k] = value
        return out[k]

    def stack(self, frames):
        """Stack frames along a new first axis."""
        return np.stack(frames)

    def asarray(self, x):
        """A result that is not an image (coefficients), as this layout returns them."""
        return np.array(x)
