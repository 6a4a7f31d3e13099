"""Type stubs of the compiled kernels (private; use the functions of the pyscale package)."""

from typing import Literal, TypeVar, overload

import numpy as np
import numpy.typing as npt

_F = TypeVar("_F", np.float32, np.float64)
_Array = npt.NDArray[_F]

def osmosis_apply(u: _Array, dx: _Array, dy: _Array) -> _Array: ...
def osmosis_drift(v: _Array) -> tuple[_Array, _Array]: ...
def image_stats(a: _Array) -> npt.NDArray[np.float64]: ...
def krylov_projected(
    basis: npt.NDArray[np.float64],
    first: int,
    v: npt.NDArray[np.float64],
    s: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]: ...
@overload
def dct2(
    x: _Array,
    inverse: bool = False,
    workers: int = 1,
    out: _Array | None = None,
    check: Literal[False] = False,
) -> _Array: ...
@overload
def dct2(
    x: _Array,
    inverse: bool = False,
    workers: int = 1,
    out: _Array | None = None,
    *,
    check: Literal[True],
) -> tuple[_Array, bool]: ...
@overload
def dct_trajectory(
    u0: _Array,
    coef_a: npt.NDArray[np.float64],
    coef_b: npt.NDArray[np.float64],
    seed: int,
    add_noise: bool,
    workers: int,
    start: int,
    zig_x: npt.NDArray[np.float64] | None,
    zig_f: npt.NDArray[np.float64] | None,
    out: _Array | None = None,
    plane_of: npt.NDArray[np.int64] | None = None,
    check: Literal[False] = False,
) -> _Array: ...
@overload
def dct_trajectory(
    u0: _Array,
    coef_a: npt.NDArray[np.float64],
    coef_b: npt.NDArray[np.float64],
    seed: int,
    add_noise: bool,
    workers: int,
    start: int,
    zig_x: npt.NDArray[np.float64] | None,
    zig_f: npt.NDArray[np.float64] | None,
    out: _Array | None = None,
    plane_of: npt.NDArray[np.int64] | None = None,
    *,
    check: Literal[True],
) -> tuple[_Array, bool]: ...
def counter_normal(
    seed: int,
    stream: int,
    n: int,
    start: int,
    zig_x: npt.NDArray[np.float64] | None,
    zig_f: npt.NDArray[np.float64] | None,
) -> npt.NDArray[np.float64]: ...
def aggregation_hierarchies(v: npt.NDArray[np.float64], workers: int = 1) -> object: ...
def osmosis_solve(
    b: _Array,
    x0: _Array,
    dx: _Array | None,
    dy: _Array | None,
    v: _Array | None,
    tau: float,
    method: Literal["bicgstab", "cg"],
    precond: Literal["none", "jacobi", "red-black", "dct", "two-level", "aggregation"],
    rtol: float,
    maxiter: int,
    breakdown: float,
    workers: int,
    islands: npt.NDArray[np.int32] | None = None,
    hierarchies: object | None = None,
) -> tuple[
    _Array,
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.bool_],
    npt.NDArray[np.int64],
]: ...
def osmosis_step_matvec(x: _Array, dx: _Array, dy: _Array, tau: float) -> _Array: ...
def osmosis_spd_matvec(w: _Array, v: _Array, tau: float) -> _Array: ...
