"""Trajectories and samples of the linear Gaussian processes, from their per-mode coefficients.

:class:`Layout` reads an image with the channel-axis rule once, at the public boundary, and maps
per-example times to coefficient planes; :class:`Sampler` (a base of
:class:`pyscale.LinearGaussianProcess`) runs the jumps in the compiled kernels.
"""

from __future__ import annotations

import numpy as np

from . import _validation as val
from .jumps import dct_frames, mode_jump, pixel_jump
from .noise import standard_normal
from .spectral import transform

__all__ = ["Layout", "Sampler"]


class Layout:
    """An image or batch in the canonical ``(B, ny, nx)`` layout, and how to map results back.

    The input is checked for its type and shape here; finiteness is checked once on the result
    (a NaN or infinity in the input always reaches it), see :meth:`overflowed`.
    """

    def __init__(self, u0, channel_axis, name="u0"):
        self.u = val.check_image(u0, name, allow_nonfinite=True)
        self.canon, self.info = val.to_canonical(self.u, channel_axis, name)
        self.channel_axis, self.name = channel_axis, name
        self.shape, self.dtype = self.u.shape, self.u.dtype
        c = self.info[1]
        self.in_place = c is None or c == self.u.ndim - 3  # canonical is a reshape of u

    def back(self, x, leading=()):
        """A canonical array (with ``leading`` axes in front) in the layout of the input."""
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
        """Map times (scalars, or one per example along axis 0) to coefficient planes.

        Returns the distinct rows of ``columns`` (one 1-D array per column), the plane of each
        example (None for scalars) and the plane of each canonical image (None for scalars).
        """
        if all(np.ndim(c) == 0 for c in columns):
            return [np.array([float(c)]) for c in columns], None, None
        n = val.examples_of(self.shape, self.channel_axis, self.name)
        cols = np.broadcast_arrays(*(np.asarray(c, dtype=np.float64) for c in columns))
        if cols[0].shape != (n,):
            raise ValueError(
                f"per-example times must have shape ({n},), one per entry of axis 0 of "
                f"{self.name} {self.shape}, got {cols[0].shape}"
            )
        rows, example = np.unique(np.stack(cols, axis=1), axis=0, return_inverse=True)
        example = example.reshape(-1).astype(np.int64)
        per = self.canon.shape[0] // n
        return [rows[:, i] for i in range(len(columns))], example, np.repeat(example, per)

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
        """The result in the input's layout, written to ``out`` if given."""
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


def _per_image(coef, plane_of, batch, pixel):
    """Coefficients of one frame ``(P, *modes)`` for each canonical image ``(B, ...)``."""
    c = coef[np.zeros(batch, dtype=np.int64) if plane_of is None else plane_of]
    return c[:, None, None] if pixel else c


class Sampler:
    """Trajectories, samples and streams of a linear Gaussian process (mixin)."""

    def _transform(self, x, workers, inverse=False):
        return transform(x, inverse=inverse, workers=workers) if self.basis == "dct" else x

    def _trajectory_coefficients(self, times, mu):
        """``(A, B)`` of shape ``(K, 1, *modes)``: the marginal to ``times[0]``, then jumps."""
        a, b = self._coefficients(None, times[:1], mu)
        if times.size > 1:
            a1, b1 = self._coefficients(times[:-1], times[1:], mu)
            a, b = np.concatenate([a, a1]), np.concatenate([b, b1])
        return a[:, None], b[:, None]

    def _frames(self, lay, A, B, seed, z, workers, *, plane_of=None, start=0, out=None):
        """Yield the canonical frames, one jump each; into ``out[k]`` when ``out`` is given.

        ``A``, ``B`` are ``(K, P, *modes)``; ``z`` holds explicit pixel-domain draws
        ``(K, B, ny, nx)`` or is None, and then the draws come from ``seed`` with flat indices
        offset by ``start`` (a slice of a batch gets the draws it has inside the whole batch).
        """
        canon = np.ascontiguousarray(lay.canon)
        pixel = self.basis == "pixel"
        state = canon if pixel else self._transform(canon, workers)
        for k in range(len(A)):
            frame = np.empty(canon.shape, dtype=lay.dtype) if out is None else out[k]
            if z is None and pixel:
                ok = pixel_jump(state, frame, A[k], B[k], seed, k, workers, start, plane_of)
                state = frame
            else:
                if z is None:
                    mode_jump(state, A[k], B[k], seed, k, workers, start, plane_of)
                else:
                    a = _per_image(A[k], plane_of, canon.shape[0], pixel)
                    b = _per_image(B[k], plane_of, canon.shape[0], pixel)
                    with np.errstate(over="ignore", invalid="ignore"):
                        state = (a * state + b * self._transform(z[k], workers)).astype(lay.dtype)
                frame[...] = state if pixel else self._transform(state, workers, inverse=True)
                ok = bool(np.all(np.isfinite(frame)))
            if not ok:
                lay.overflowed()
            yield frame

    def _run(self, lay, A, B, seed, z, workers, out, *, plane_of=None, start=0):
        """Fill ``out`` ``(K, B, ny, nx)`` with all frames."""
        if z is None and self.basis == "dct":
            with np.errstate(over="ignore", invalid="ignore"):
                dct_frames(np.ascontiguousarray(lay.canon), np.ascontiguousarray(A),
                           np.ascontiguousarray(B), seed, workers, out, plane_of, start)
            if not np.all(np.isfinite(out)):
                lay.overflowed()
            return out
        for _ in self._frames(lay, A, B, seed, z, workers, plane_of=plane_of, start=start,
                              out=out):
            pass
        return out

    def _draws(self, lay, seed, nframes):
        """The pixel-domain draws (canonical, ``(K, B, ny, nx)``) that ``seed`` stands for."""
        z = np.stack([standard_normal(seed, k, lay.canon.shape, lay.dtype)
                      for k in range(nframes)])
        return self._transform(z, 1, inverse=True)

    def drawn_noise(self, u0, times, *, seed, channel_axis=None):
        """Return the pixel-domain draws of a seeded trajectory, ``(len(times), *u0.shape)``.

        Passing them as ``noise=`` reproduces the seeded trajectory; for DCT-domain models they are
        the inverse DCT of the draws made in the DCT domain (white noise either way).
        """
        times = val.check_times(times, integer=self.integer_times, max_time=self.max_time)
        lay = Layout(u0, channel_axis)
        return lay.back(self._draws(lay, val.check_seed(seed), times.size), (times.size,))

    def _noise(self, lay, seed, noise, leading):
        """``(seed, z)``: the seed and explicit canonical draws (None: drawn in the kernels)."""
        if noise is not None:
            return 0, lay.canonical(noise, "noise", leading)
        return val.check_seed(seed), None

    def _returned_noise(self, lay, seed, z, leading):
        """The draws behind a result, in the input's layout (``return_noise=True``)."""
        if z is None:
            z = self._draws(lay, seed, leading[0] if leading else 1)
        return lay.back(z.reshape(*leading, *lay.canon.shape), leading)

    def trajectory(self, u0, times, *, seed=None, noise=None, channel_axis=None, workers=None,
                   return_noise=False, out=None):  # noqa: D417
        """Frames of one trajectory started at ``u0`` at the given output times.

        See :meth:`pyscale.Process.trajectory`. Additionally:

        Parameters
        ----------
        return_noise : bool, optional
            Also return the pixel-domain standard normal draws that drove each jump (the targets
            of noise-prediction losses), shape ``(len(times), *u0.shape)``.
        out : numpy.ndarray, optional
            Buffer of shape ``(len(times), *u0.shape)`` and the dtype of ``u0`` to write into.

        Returns
        -------
        frames : numpy.ndarray
            ``(len(times), *u0.shape)``.
        noise : numpy.ndarray
            Only with ``return_noise=True``.

        Examples
        --------
        >>> import numpy as np, pyscale as ps
        >>> p = ps.BlurringDiffusion(beta=0.1)
        >>> u0 = np.full((8, 8), 0.5)
        >>> frames, eps = p.trajectory(u0, [5], seed=0, return_noise=True)
        >>> lam, gam = p.marginal(5, u0.shape)
        >>> bool(np.allclose(frames[0], ps.idct2(lam * ps.dct2(u0) + gam * ps.dct2(eps[0]))))
        True
        """
        times = val.check_times(times, integer=self.integer_times, max_time=self.max_time)
        lay = Layout(u0, channel_axis)
        workers = val.check_workers(workers)
        lead = (times.size,)
        seed, z = self._noise(lay, seed, noise, lead)
        A, B = self._trajectory_coefficients(times, self.decay_rates(*lay.canon.shape[1:]))
        buf = self._run(lay, A, B, seed, z, workers, lay.buffer(out, lead))
        frames = lay.result(buf, out, lead)
        if return_noise:
            return frames, self._returned_noise(lay, seed, z, lead)
        return frames

    def sample(self, u0, t, *, seed=None, noise=None, channel_axis=None, workers=None,
               return_noise=False, out=None):
        """One draw of ``U_t`` given ``U_0 = u0``, at one time or at one time per example.

        Parameters
        ----------
        u0 : array_like
            Image or batch (see :meth:`trajectory`).
        t : float or array_like
            A time, or one time per example: shape ``(N,)`` for a batch whose axis 0 has length
            ``N``; example ``i`` is drawn at ``t[i]``.
        seed, channel_axis, workers, return_noise, out
            As for :meth:`trajectory` (``noise`` and ``out`` have the shape of ``u0``).
        noise : array_like, optional
            Explicit pixel-domain standard normal draws of the shape of ``u0``.

        Returns
        -------
        numpy.ndarray
            The draw, shape and dtype of ``u0`` (and the noise with ``return_noise=True``).

        Examples
        --------
        >>> import numpy as np, pyscale as ps
        >>> p, batch = ps.DPM.from_schedule("linear"), np.full((4, 8, 8), 0.5)
        >>> u_t, eps = p.sample(batch, [1, 10, 100, 1000], seed=0, return_noise=True)
        >>> lam, gam = p.marginal([1, 10, 100, 1000])
        >>> bool(np.allclose(u_t, lam[:, None, None] * batch + gam[:, None, None] * eps))
        True
        """
        t = self._check_t(t)
        lay = Layout(u0, channel_axis)
        workers = val.check_workers(workers)
        (tu,), _, plane_of = lay.planes(t)
        seed, z = self._noise(lay, seed, noise, ())
        a, b = self._coefficients(None, tu, self.decay_rates(*lay.canon.shape[1:]))
        buf = lay.buffer(out, ())[None]
        self._run(lay, a[None], b[None], seed, None if z is None else z[None], workers, buf,
                  plane_of=plane_of)
        u = lay.result(buf[0], out)
        return (u, self._returned_noise(lay, seed, z, ())) if return_noise else u

    def iter_frames(self, u0, times, *, seed=None, noise=None, channel_axis=None, workers=None):
        """Yield the frames of :meth:`trajectory` one output time at a time.

        Memory stays at one frame plus the state, however many times are asked for; the frames
        equal those of :meth:`trajectory` with the same arguments.

        Examples
        --------
        >>> import numpy as np, pyscale as ps
        >>> p, u0 = ps.DPM(beta=0.1), np.full((4, 4), 0.5)
        >>> frames = list(p.iter_frames(u0, range(1, 101), seed=3))
        >>> bool(np.array_equal(frames[-1], p.trajectory(u0, range(1, 101), seed=3)[-1]))
        True
        """
        times = val.check_times(times, integer=self.integer_times, max_time=self.max_time)
        lay = Layout(u0, channel_axis)
        workers = val.check_workers(workers)
        seed, z = self._noise(lay, seed, noise, (times.size,))
        A, B = self._trajectory_coefficients(times, self.decay_rates(*lay.canon.shape[1:]))
        for frame in self._frames(lay, A, B, seed, z, workers):
            yield lay.back(frame)

    def iter_batches(self, u0, times, *, batch_size, seed=None, channel_axis=None, workers=None):
        """Yield ``(index, frames)`` for consecutive chunks along axis 0 of a batch.

        ``frames`` equals ``trajectory(u0, times, seed=seed)[:, index]``: each chunk gets the
        draws it has inside the whole batch, so memory is bounded by ``batch_size`` images
        without changing the result. ``u0`` may be a memory-mapped array.

        Examples
        --------
        >>> import numpy as np, pyscale as ps
        >>> p, u0 = ps.BlurringDiffusion(), np.full((5, 8, 8), 0.5)
        >>> chunks = [f for _, f in p.iter_batches(u0, [10], batch_size=2, seed=1)]
        >>> bool(np.array_equal(np.concatenate(chunks, axis=1), p.trajectory(u0, [10], seed=1)))
        True
        """
        if (isinstance(batch_size, (bool, np.bool_))
                or not isinstance(batch_size, (int, np.integer))):
            raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        shape = np.shape(u0)
        val.examples_of(shape, channel_axis)
        times = val.check_times(times, integer=self.integer_times, max_time=self.max_time)
        seed, workers = val.check_seed(seed), val.check_workers(workers)
        per_example = int(np.prod(shape[1:]))
        A = B = None
        for lo in range(0, shape[0], batch_size):
            lay = Layout(u0[lo : lo + batch_size], channel_axis)
            if A is None:
                A, B = self._trajectory_coefficients(times, self.decay_rates(*lay.canon.shape[1:]))
            buf = np.empty((times.size, *lay.canon.shape), dtype=lay.dtype)
            self._run(lay, A, B, seed, None, workers, buf, start=lo * per_example)
            yield slice(lo, lo + lay.shape[0]), lay.back(buf, (times.size,))
