"""Deprecated module paths of glrnet 0.1, kept importable.

``import glrnet.network`` (and the others below) gives the module's new home and a
DeprecationWarning.  One import hook serves them all (PEP 451 finder + loader).
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__all__ = ["MOVED", "install"]

MOVED = {
    "glrnet.activations": "glrnet.method.activations",
    "glrnet.losses": "glrnet.method.losses",
    "glrnet.noise": "glrnet.method.noise",
    "glrnet.network": "glrnet.method.network",
    "glrnet.optim": "glrnet.method.optim",
    "glrnet.training": "glrnet.method.training",
    "glrnet.attacks": "glrnet.robustness.attacks",
    "glrnet.corruptions": "glrnet.robustness.corruptions",
    "glrnet.io": "glrnet.modelfile",
    "glrnet.reference": "glrnet.testing.oracle",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return None                     # a placeholder, replaced by the new home in exec_module

    def exec_module(self, module):
        name = module.__name__
        warnings.warn(f"{name} moved to {MOVED[name]}; the old name will be removed", DeprecationWarning,
                      stacklevel=2)
        sys.modules[name] = importlib.import_module(MOVED[name])   # what the import statement returns


def install():
    if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModules())
