"""glrnet: neural networks trained by the generalized likelihood ratio (GLR) method.

GLR estimates the gradient of the expected loss of a network with neuronal noise
as ``L * x_b * psi(r_a)`` (Xiao, Peng, Hong, Ke & Yang, Eq. 4 / Eq. 5), so it
trains networks with discontinuous activations (threshold, sign, staircase) and
losses (0-1) that backpropagation cannot.

>>> import glrnet
>>> net = glrnet.MLP([196, 20, 10], activation="threshold", noise=glrnet.Gaussian(2.0))
>>> # glrnet.train(net, X, y, epochs=12, replications=10_000)
"""
from . import _aliases
from ._version import __version__
from ._config import effective_n_threads, openmp_enabled, show_config
from .method import (MLP, Activation, Gaussian, GLRGradient, History, Laplace, Logistic, StudentT,
                     baseline_network, load_model, save_model, train)

load = load_model
_aliases.install()


def __getattr__(name):
    # GLRClassifier needs scikit-learn, whose import takes most of a second: on first use only
    if name == "GLRClassifier":
        from .classifier import GLRClassifier

        return GLRClassifier
    raise AttributeError(f"module 'glrnet' has no attribute {name!r}")

__all__ = [
    "MLP", "GLRGradient", "GLRClassifier", "Activation", "Gaussian", "Laplace", "Logistic", "StudentT",
    "train", "History", "baseline_network", "save_model", "load_model", "load", "show_config",
    "openmp_enabled", "effective_n_threads", "__version__",
]
