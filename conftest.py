"""Collection settings of the whole test run: doctests that need an optional extra."""

import importlib.util

# the doctests of pyscale.training use torch, an optional extra
collect_ignore = [] if importlib.util.find_spec("torch") else ["pyscale/training.py"]
