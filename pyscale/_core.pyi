"""Type stubs of the compiled kernels (private; use the functions of the pyscale package)."""

from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

F = TypeVar("F", np.float32, np.float64)
Array = npt.NDArray[F]

def osmosis_apply(u: Array, dx: Array, dy: Array) -> Array: ...
def osmosis_drift(v: Array) -> tuple[Array, Array]: ...
def dct2(x: Array, inverse: bool = False, workers: int = 1, out: Array | None = None) -> Array: ...
def dct_trajectory(
    u0: Array,
    coef_a: npt.NDArray[np.float64],
    coef_b: npt.NDArray[np.float64],
    seed: int,
    add_noise: bool = True,
    workers: int = 1,
    start: int = 0,
    zig_x: npt.NDArray[np.float64] | None = None,
    zig_f: npt.NDArray[np.float64] | None = None,
    out: Array | None = None,
    plane_of: npt.NDArray[np.int64] | None = None,
) -> Array: ...
def counter_normal(
    seed: int,
    stream: int,
    n: int,
    start: int = 0,
    zig_x: npt.NDArray[np.float64] | None = None,
    zig_f: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]: ...
def osmosis_solve(
    b: Array,
    x0: Array,
    dx: Array,
    dy: Array,
    v: Array | None,
    tau: float,
    method: Literal["bicgstab", "cg"],
    precond: Literal["none", "jacobi", "dct"],
    denom: Array | None,
    scale_in: Array | None,
    scale_out: Array | None,
    rtol: float,
    maxiter: int,
    breakdown: float,
    workers: int,
) -> tuple[
    Array,
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.bool_],
    npt.NDArray[np.int64],
]: ...
def osmosis_step_matvec(x: Array, dx: Array, dy: Array, tau: float) -> Array: ...
def osmosis_spd_matvec(w: Array, v: Array, tau: float) -> Array: ...
