"""The trajectory grid of one image (Fig. 3 of the paper)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import _validation as val
from .data import _check_max_size, read_image
from .plots import plot_grid
from .runner import check_models, check_times, model_frames

__all__ = ["trajectory_grid"]


def trajectory_grid(
    image, out, *, models=None, times=None, seed=0, grey=False, max_size=None, progress=False
):
    """Draw the trajectories of one image (rows: models, columns: times) as a PNG (Fig. 3).

    DPM frames are mapped affinely to [0, 1] for display (as in the paper); the other frames are
    clipped to [0, 1].

    Parameters
    ----------
    image : str, path-like or array_like
        Image file or float image in [0, 1].
    out : str or path-like
        PNG file to write.
    models : sequence of str, optional
        Model names (default: all six of :data:`pyscale.PAPER_MODELS`).
    times : sequence of float, optional
        Output times (default: :data:`pyscale.PAPER_TIMES`).
    seed : int, optional
        Global seed (the same per-image seeds as :func:`compare`).
    grey : bool, optional
        Convert a colour image to grey values.
    max_size : int, optional
        Downscale the image so that its longer side is at most this many pixels.
    progress : bool, optional
        Show a progress bar over the models.

    Returns
    -------
    numpy.ndarray
        The frames, ``(len(models), len(times), *image.shape)``.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from pyscale.paper.compare import trajectory_grid
    >>> u = np.random.default_rng(0).uniform(0.2, 0.8, (16, 16))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     frames = trajectory_grid(u, os.path.join(d, "g.png"), models=["dpm", "heat"],
    ...                              times=[1, 10])
    ...     frames.shape, os.path.exists(os.path.join(d, "g.png"))
    ((2, 2, 16, 16), True)
    """
    models = check_models(models)
    times_arr = check_times(times)
    seed = val.check_seed(seed)
    max_size = _check_max_size(max_size)
    if isinstance(image, (str, os.PathLike)):
        p = Path(image)
        if not p.is_file():
            raise ValueError(f"image: file {str(p)!r} does not exist")
        name = p.name
        u = read_image(p, grey=grey, max_size=max_size)
    else:
        name = "image"
        u = val.check_image(image, "image")
        if u.ndim not in (2, 3) or (u.ndim == 3 and u.shape[2] != 3):
            raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {u.shape}")
        if grey and u.ndim == 3:
            u = u @ np.array([0.2125, 0.7154, 0.0721])
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a file path, got {type(out).__name__}")
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"out must be a .png file, got {str(out)!r}")
    if not out.parent.is_dir():
        raise ValueError(f"out: folder {str(out.parent)!r} does not exist")
    from tqdm.auto import tqdm

    bar = tqdm(models, desc="models", unit="model", disable=not progress)
    frames = np.stack([model_frames(u, [m], times_arr, seed, name, None)[0] for m in bar])
    plot_grid(out, frames, models, times_arr, title=name)
    return frames
