"""The type stubs of the compiled module and the package's annotations are checked by mypy."""

import subprocess
import sys

import pytest

pytest.importorskip("mypy")


def test_core_stub_matches_the_compiled_module():
    """Mypy's stubtest: every function of pyscale._core is in _core.pyi and nothing else is."""
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "pyscale._core"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
