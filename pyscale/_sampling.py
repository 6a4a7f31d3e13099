"""Trajectories and samples of the linear Gaussian processes, from their per-mode coefficients.

:class:`Sampler` (a base of :class:`pyscale.LinearGaussianProcess`) runs the jumps on a layout
(:mod:`pyscale._layout`): in the compiled kernels for numpy arrays, with torch operations for
tensors on the torch backend (:mod:`pyscale._torch`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from . import _validation as val
from ._coefficient_cache import cached_coefficients
from ._layout import Layout
from ._torch import is_tensor, tensor_aware
from .jumps import dct_frames, mode_jump, pixel_jump

__all__ = ["Sampler", "make_layout"]


def make_layout(u0, channel_axis, name="u0"):
    """The layout of ``u0``: numpy, or torch for a tensor (which then stays on its device)."""
    if is_tensor(u0):
        from ._torch import TensorLayout

        return TensorLayout(u0, channel_axis, name)
    return Layout(u0, channel_axis, name)


class Sampler:
    """Trajectories, samples and streams of a linear Gaussian process (mixin)."""

    if TYPE_CHECKING:  # provided by pyscale.LinearGaussianProcess
        basis: str
        integer_times: bool
        max_time: float | None

        def decay_rates(self, ny: int, nx: int) -> np.ndarray | None: ...
        def _rates(self, ny: int, nx: int) -> np.ndarray | None: ...
        def _coefficients(self, s: Any, t: np.ndarray, mu: Any) -> tuple[Any, Any]: ...
        def _check_t(self, t: Any, name: str = "t") -> Any: ...

    def _coefficient_cache_key(self, mu):
        """What fixes the coefficients of rates ``mu`` besides the times, or None (not cached)."""
        return None

    def _trajectory_coefficients(self, times, mu):
        """``(A, B)`` of shape ``(K, 1, *modes)``: the marginal to ``times[0]``, then jumps.

        Read-only and shared between calls when the process can name what fixes them (see
        :mod:`pyscale._coefficient_cache`).
        """
        key = self._coefficient_cache_key(mu)
        if key is None:
            return self._jump_coefficients(times, mu)
        key = (key, times.dtype.str, times.tobytes())
        return cached_coefficients(key, lambda: self._jump_coefficients(times, mu))

    def _jump_coefficients(self, times, mu):
        """The coefficients of :meth:`_trajectory_coefficients`, computed."""
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
        pixel, dct = self.basis == "pixel", self.basis == "dct"
        fast = lay.compiled and z is None  # counter-based draws inside the compiled kernels
        canon = lay.cast(lay.canon)
        state = lay.transform(canon, dct, workers)
        for k in range(len(A)):
            if fast and pixel:
                frame = np.empty(canon.shape, dtype=lay.dtype) if out is None else out[k]
                ok = pixel_jump(state, frame, A[k], B[k], seed, k, workers, start, plane_of)
                state = frame
            else:
                if fast:
                    mode_jump(state, A[k], B[k], seed, k, workers, start, plane_of)
                else:
                    if z is None:
                        zk = lay.draws(seed, k, canon.shape, start)
                    else:
                        zk = lay.transform(z[k], dct, workers)
                    a = lay.per_image(A[k], plane_of, pixel)
                    b = lay.per_image(B[k], plane_of, pixel)
                    with np.errstate(over="ignore", invalid="ignore"):
                        state = lay.cast(a * state + b * zk)
                frame = lay.store(out, k, lay.transform(state, dct, workers, inverse=True))
                ok = lay.finite(frame)
            if not ok:
                lay.overflowed()
            yield frame

    def _run(self, lay, A, B, seed, z, workers, out, *, plane_of=None, start=0):
        """All frames ``(K, B, ny, nx)``, in ``out`` when it is given (numpy layouts)."""
        if lay.compiled and z is None and self.basis == "dct":
            with np.errstate(over="ignore", invalid="ignore"):
                finite = dct_frames(
                    np.ascontiguousarray(lay.canon),
                    np.ascontiguousarray(A),
                    np.ascontiguousarray(B),
                    seed,
                    workers,
                    out,
                    plane_of,
                    start,
                )
            # the kernels' note settles the common case; a non-finite intermediate is checked
            if not finite and not lay.finite(out):
                lay.overflowed()
            return out
        frames = list(
            self._frames(lay, A, B, seed, z, workers, plane_of=plane_of, start=start, out=out)
        )
        return out if out is not None else lay.stack(frames)

    def _draws(self, lay, seed, nframes):
        """The pixel-domain draws (canonical, ``(K, B, ny, nx)``) that ``seed`` stands for."""
        z = lay.stack([lay.draws(seed, k, lay.canon.shape) for k in range(nframes)])
        return lay.transform(z, self.basis == "dct", 1, inverse=True)

    def drawn_noise(
        self, u0: npt.ArrayLike, times: npt.ArrayLike, *, seed: int, channel_axis: int | None = None
    ) -> np.ndarray:
        """Return the pixel-domain draws of a seeded trajectory, ``(len(times), *u0.shape)``.

        Passing them as ``noise=`` reproduces the seeded trajectory; for DCT-domain models they are
        the inverse DCT of the draws made in the DCT domain (white noise either way).
        """
        times = val.check_times(times, integer=self.integer_times, max_time=self.max_time)
        lay = make_layout(u0, channel_axis)
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

    @tensor_aware("u0", "noise", "out")
    def trajectory(
        self,
        u0: npt.ArrayLike,
        times: npt.ArrayLike,
        *,
        seed: int | None = None,
        noise: npt.ArrayLike | None = None,
        channel_axis: int | None = None,
        workers: int | None = None,
        return_noise: bool = False,
        out: Any = None,
        backend: str = "auto",
    ) -> Any:  # noqa: D417
        """Frames of one trajectory started at ``u0`` at the given output times.

        See :meth:`pyscale.Process.trajectory`. Additionally:

        Parameters
        ----------
        return_noise : bool, optional
            Also return the pixel-domain standard normal draws that drove each jump (the targets
            of noise-prediction losses), shape ``(len(times), *u0.shape)``.
        out : numpy.ndarray, optional
            Buffer of shape ``(len(times), *u0.shape)`` and the dtype of ``u0`` to write into.
        backend : {"auto", "compiled", "torch"}
            For torch tensors: the compiled kernels (the default on the CPU) or torch operations
            (the default on other devices), see :mod:`pyscale._torch`.

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
        lay = make_layout(u0, channel_axis)
        workers = val.check_workers(workers)
        lead = (times.size,)
        seed, z = self._noise(lay, seed, noise, lead)
        A, B = self._trajectory_coefficients(times, self._rates(*lay.canon.shape[1:]))
        buf = self._run(lay, A, B, seed, z, workers, lay.buffer(out, lead))
        frames = lay.result(buf, out, lead)
        if return_noise:
            return frames, self._returned_noise(lay, seed, z, lead)
        return frames

    @tensor_aware("u0", "noise", "out")
    def sample(
        self,
        u0: npt.ArrayLike,
        t: npt.ArrayLike,
        *,
        seed: int | None = None,
        noise: npt.ArrayLike | None = None,
        channel_axis: int | None = None,
        workers: int | None = None,
        return_noise: bool = False,
        out: Any = None,
        backend: str = "auto",
    ) -> Any:
        """One draw of ``U_t`` given ``U_0 = u0``, at one time or at one time per example.

        Parameters
        ----------
        u0 : array_like
            Image or batch (see :meth:`trajectory`).
        t : float or array_like
            A time, or one time per example: shape ``(N,)`` for a batch whose axis 0 has length
            ``N``; example ``i`` is drawn at ``t[i]``.
        seed, channel_axis, workers, return_noise, out, backend
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
        lay = make_layout(u0, channel_axis)
        workers = val.check_workers(workers)
        (tu,), _, plane_of = lay.planes(t)
        seed, z = self._noise(lay, seed, noise, ())
        a, b = self._coefficients(None, tu, self._rates(*lay.canon.shape[1:]))
        buf = lay.buffer(out, ())
        buf = self._run(
            lay,
            a[None],
            b[None],
            seed,
            None if z is None else z[None],
            workers,
            None if buf is None else buf[None],
            plane_of=plane_of,
        )
        u = lay.result(buf[0], out)
        return (u, self._returned_noise(lay, seed, z, ())) if return_noise else u

    @tensor_aware("u0", "noise")
    def iter_frames(
        self,
        u0: npt.ArrayLike,
        times: npt.ArrayLike,
        *,
        seed: int | None = None,
        noise: npt.ArrayLike | None = None,
        channel_axis: int | None = None,
        workers: int | None = None,
        backend: str = "auto",
    ) -> Iterator[Any]:
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
        lay = make_layout(u0, channel_axis)
        workers = val.check_workers(workers)
        seed, z = self._noise(lay, seed, noise, (times.size,))
        A, B = self._trajectory_coefficients(times, self._rates(*lay.canon.shape[1:]))
        for frame in self._frames(lay, A, B, seed, z, workers):
            yield lay.back(frame)

    @tensor_aware("u0")
    def iter_batches(
        self,
        u0: Any,
        times: npt.ArrayLike,
        *,
        batch_size: int,
        seed: int | None = None,
        channel_axis: int | None = None,
        workers: int | None = None,
        backend: str = "auto",
    ) -> Iterator[tuple[slice, Any]]:
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
        if isinstance(batch_size, (bool, np.bool_)) or not isinstance(
            batch_size, (int, np.integer)
        ):
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
            lay = make_layout(u0[lo : lo + batch_size], channel_axis)
            if A is None:
                A, B = self._trajectory_coefficients(times, self._rates(*lay.canon.shape[1:]))
            buf = self._run(
                lay,
                A,
                B,
                seed,
                None,
                workers,
                lay.buffer(None, (times.size,)),
                start=lo * per_example,
            )
            yield slice(lo, lo + lay.shape[0]), lay.back(buf, (times.size,))
