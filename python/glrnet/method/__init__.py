"""The GLR method: the noisy network, its noise, activations and losses, and training.

=============  ==================================================================
module         what it holds
=============  ==================================================================
activations    the activation table: value, derivative, steps, noise average
noise          noise families and their scores psi (Eq. 4, Eq. 5)
losses         loss values, accuracy with split ties, the cross-entropy gradient
dense          numpy initialisation, forward pass and backpropagation (Eq. 3)
network        MLP: the GLR gradient through the C kernel (Algorithm 1), prediction
optim          update rules and learning-rate schedules (Eq. 1)
training       the training loop (GLR, pathwise, backprop)
=============  ==================================================================
"""
from .activations import Activation
from .network import MLP, GLRGradient, baseline_network, build_mlp, load_model, save_model
from .noise import Gaussian, Laplace, Logistic, StudentT
from .training import History, train

__all__ = ["Activation", "MLP", "GLRGradient", "baseline_network", "build_mlp", "load_model", "save_model",
           "Gaussian", "Laplace", "Logistic", "StudentT", "History", "train"]
