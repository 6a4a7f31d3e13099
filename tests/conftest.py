"""Shared fixtures: small test images, per-dtype tolerances, clean-fid's own functions."""

import ast
import importlib.util
import os

import numpy as np
import pytest

RTOL = {np.float32: 2e-5, np.float64: 1e-11}


@pytest.fixture(params=[np.float64, np.float32], ids=["f64", "f32"])
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def grey(rng):
    return rng.uniform(0.1, 0.9, size=(9, 14))


@pytest.fixture
def colour(rng):
    return rng.uniform(0.1, 0.9, size=(7, 11, 3))


@pytest.fixture
def cleanfid_function():
    """Load a function of clean-fid's fid.py from its source (without importing torchvision)."""

    def load(name, namespace):
        spec = importlib.util.find_spec("cleanfid")
        if spec is None or not spec.submodule_search_locations:
            pytest.skip("clean-fid is not installed")
        path = os.path.join(list(spec.submodule_search_locations)[0], "fid.py")
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
        exec(compile(ast.Module(body=[node], type_ignores=[]), path, "exec"), namespace)
        return namespace[name]

    return load
