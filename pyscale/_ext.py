"""Import of the compiled kernels with a helpful message when they are missing."""

try:
    from . import _core as core
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        "pyscale's compiled extension pyscale._core could not be imported. Install the package "
        "with `python -m pip install .` from the source checkout (this compiles the C++ kernels "
        "with CMake and a C++17 compiler), and do not import pyscale from the source folder "
        f"without building it. Original error: {exc}"
    ) from exc

__all__ = ["core"]
