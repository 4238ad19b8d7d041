"""glrnet: neural networks trained by the generalized likelihood ratio (GLR) method.

GLR estimates the gradient of the expected loss of a network with neuronal noise
as ``L * x_b * psi(r_a)`` (Xiao, Peng, Hong, Ke & Yang, Eq. 4 / Eq. 5), so it
trains networks with discontinuous activations (threshold, sign, staircase) and
losses (0-1) that backpropagation cannot.

>>> import glrnet
>>> net = glrnet.MLP([196, 20, 10], activation="threshold", noise=glrnet.Gaussian(2.0))
>>> # glrnet.train(net, X, y, epochs=12, replications=10_000)
"""
__version__ = "0.1.0"

from ._config import effective_n_threads, openmp_enabled, show_config
from .activations import Activation
from .classifier import GLRClassifier
from .io import load_model, save_model
from .network import GLRGradient, MLP
from .noise import Gaussian, Laplace, Logistic, StudentT
from .training import History, train

load = load_model

__all__ = [
    "MLP", "GLRGradient", "GLRClassifier", "Activation", "Gaussian", "Laplace", "Logistic", "StudentT",
    "train", "History", "save_model", "load_model", "load", "show_config", "openmp_enabled",
    "effective_n_threads", "__version__",
]
