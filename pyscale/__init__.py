"""pyscale: scale-spaces of diffusion probabilistic models and of diffusion and osmosis filters.

The five forward processes of "Generalised Diffusion Probabilistic Scale-Spaces" (Peter, 2024),
their exact marginals and jumps, the scale-space properties as functions, fast transforms and
an osmosis filter.
"""

from . import schedules
from ._validation import spatial_axes
from .dct_processes import (
    BlurringDiffusion,
    HeatDissipation,
    HomogeneousDiffusion,
    HoogeboomBlurring,
)
from .dpm import DPM
from .osmosis import (
    ConvergenceError,
    ConvergenceWarning,
    osmosis,
    osmosis_step,
    osmosis_time_grid,
    relative_entropy,
)
from .probabilistic_osmosis import ProbabilisticOsmosis
from .processes import DiagonalProcess, LinearGaussianProcess, Process
from .spectral import dct2, idct2, laplacian_eigenvalues
from .theory import (
    entropy_sequence,
    lyapunov_condition,
    mean_preservation,
    permutation_defect,
    rotation_defect,
    semigroup_defect,
    steady_state,
    steady_state_bound,
)

__version__ = "0.1.0"

#: The five models of the paper with its settings (Sect. 6.3), by their short names, and the
#: variance-preserving variant of blurring diffusion (``"blurring-vp"``), which the paper's
#: claims about blurring diffusion may describe.
PAPER_MODELS = {
    "dpm": lambda: DPM(beta=0.1),
    "heat": lambda: HeatDissipation(sigma=0.01),
    "homogeneous": lambda: HomogeneousDiffusion(),
    "blurring": lambda: BlurringDiffusion(beta=0.1),
    "blurring-vp": lambda: BlurringDiffusion(beta=0.1, noise="variance-preserving"),
    "osmosis": lambda: ProbabilisticOsmosis(sigma=0.1),
}

#: The output times of the paper's experiments.
PAPER_TIMES = (1, 5, 10, 100, 1000, 10000)

__all__ = [
    "DPM",
    "HeatDissipation",
    "HomogeneousDiffusion",
    "BlurringDiffusion",
    "HoogeboomBlurring",
    "ProbabilisticOsmosis",
    "Process",
    "LinearGaussianProcess",
    "DiagonalProcess",
    "schedules",
    "spatial_axes",
    "PAPER_MODELS",
    "PAPER_TIMES",
    "dct2",
    "idct2",
    "laplacian_eigenvalues",
    "osmosis",
    "osmosis_step",
    "osmosis_time_grid",
    "relative_entropy",
    "ConvergenceError",
    "ConvergenceWarning",
    "semigroup_defect",
    "lyapunov_condition",
    "entropy_sequence",
    "steady_state",
    "steady_state_bound",
    "mean_preservation",
    "permutation_defect",
    "rotation_defect",
]
