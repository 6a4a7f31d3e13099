"""The reproduction of the paper's experiments, apart from the core library.

Install it with ``pip install "pyscale[paper]"`` (Pillow, scikit-image, matplotlib, tqdm,
threadpoolctl; the FID's network also needs ``pyscale[fid]``). The ``pyscale`` command
(:mod:`~pyscale.paper.cli`) runs :func:`compare`, :func:`study` and :func:`trajectory_grid`
(:mod:`~pyscale.paper.grid`).

Modules: :mod:`~pyscale.paper.data` (reading photographs), :mod:`~pyscale.paper.fid` (clean-mode
FID), :mod:`~pyscale.paper.records` (result records), :mod:`~pyscale.paper.runner` (per-image
work, process pools and Dask), :mod:`~pyscale.paper.compare` (the comparison),
:mod:`~pyscale.paper.tables`, :mod:`~pyscale.paper.plots` and :mod:`~pyscale.paper.report` (its
outputs), :mod:`~pyscale.paper.claims` (the paper's claims as checks with intervals) and
:mod:`~pyscale.paper.study` (where they hold).
"""

from .compare import DEFAULT_MAX_SIZE, CompareResult, RecordWarning, compare, trajectory_grid
from .data import load_images, read_image
from .runner import frame_variance, image_seed
from .study import StudyResult, study

__all__ = [
    "CompareResult",
    "DEFAULT_MAX_SIZE",
    "RecordWarning",
    "StudyResult",
    "compare",
    "frame_variance",
    "image_seed",
    "load_images",
    "read_image",
    "study",
    "trajectory_grid",
]
