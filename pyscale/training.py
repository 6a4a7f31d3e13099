"""Training batches for ``torch.utils.data``: noisy images, their times and the training target.

:class:`DiffusionCollate` is a collate function for a ``DataLoader``: it stacks the images of a
batch, draws one time per example, samples ``u_t`` from a forward process in one call and returns
``(u_t, t, target)`` as tensors. It draws from torch's random generator, which a ``DataLoader``
seeds differently in every worker process (fork or spawn), and pickles to a few hundred bytes.
"""

from __future__ import annotations

import numpy as np

from ._torch import _require_torch
from .processes import LinearGaussianProcess

__all__ = ["DiffusionCollate", "TARGETS"]

#: What :class:`DiffusionCollate` can return as the training target.
TARGETS = ("noise", "velocity", "start")


class DiffusionCollate:
    """Collate a batch of images into ``(u_t, t, target)`` for diffusion training.

    Parameters
    ----------
    process : LinearGaussianProcess
        The forward process, e.g. ``DPM.from_schedule("squaredcos_cap_v2")``.
    times : array_like
        The times to draw from, uniformly: e.g. ``numpy.arange(1, 1001)`` for a 1000-step DPM,
        ``rissanen_blur_times(K, sigma_max)[1:]`` for inverse heat dissipation.
    target : {"noise", "velocity", "start"}
        The training target: the noise ``eps`` behind ``u_t``, the velocity
        (:meth:`~pyscale.LinearGaussianProcess.velocity`) or ``u_0`` itself.
    channel_axis : int or None
        The channel axis of *one* image (``0`` for ``(C, H, W)`` items, ``None`` for grey
        ``(H, W)`` items); the batch axis comes in front.

    Examples
    --------
    >>> import numpy as np, pyscale as ps
    >>> from pyscale.training import DiffusionCollate
    >>> collate = DiffusionCollate(ps.DPM.from_schedule("linear", 100), np.arange(1, 101),
    ...                            channel_axis=0)
    >>> items = [np.full((3, 8, 8), 0.5, dtype=np.float32) for _ in range(4)]
    >>> u_t, t, eps = collate(items)
    >>> tuple(u_t.shape), tuple(t.shape), u_t.dtype == eps.dtype
    ((4, 3, 8, 8), (4,), True)
    """

    def __init__(self, process, times, *, target="noise", channel_axis=None):
        if not isinstance(process, LinearGaussianProcess):
            raise TypeError(
                f"process must be a linear process of pyscale, got {type(process).__name__}"
            )
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        if times.size == 0:
            raise ValueError("times must not be empty")
        process.marginal(times, None if process.basis == "pixel" else (2, 2))  # checks them
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        if channel_axis is not None and not isinstance(channel_axis, int):
            raise TypeError(f"channel_axis must be an int or None, got {channel_axis!r}")
        self.process, self.times, self.target = process, times, target
        self.channel_axis = channel_axis

    def __call__(self, items):
        """Return ``(u_t, t, target)`` tensors for a list of images (or of ``(image, ...)``)."""
        torch = _require_torch("DiffusionCollate")
        images = [item[0] if isinstance(item, (tuple, list)) else item for item in items]
        x0 = torch.stack(
            [torch.as_tensor(np.asarray(x)) if not torch.is_tensor(x) else x for x in images]
        )
        n = x0.shape[0]
        t = self.times[torch.randint(self.times.size, (n,)).numpy()]
        seed = int(torch.randint(0, 2**62, ()).item())
        axis = (
            None
            if self.channel_axis is None
            else (self.channel_axis + 1 if self.channel_axis >= 0 else self.channel_axis)
        )
        u_t, eps = self.process.sample(x0, t, seed=seed, channel_axis=axis, return_noise=True)
        if self.target == "noise":
            target = eps
        elif self.target == "velocity":
            target = self.process.velocity(x0, eps, t, channel_axis=axis)
        else:
            target = x0.to(u_t.dtype)
        return u_t, torch.as_tensor(t), target
