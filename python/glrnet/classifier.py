"""A scikit-learn classifier trained by GLR (works with clone, GridSearchCV, pipelines)."""
from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .activations import ACTIVATION_NAMES, Activation
from ._validation import check_float32_range
from .losses import LOSS_CODES, correct_fraction
from .network import MLP
from .noise import NOISE_FAMILIES, as_noise
from .optim import OPTIMIZERS, SCHEDULES
from .training import train

__all__ = ["GLRClassifier"]


class _Interval:
    def __init__(self, kind, low, high=None, *, low_open=False):
        self.kind, self.low, self.high, self.low_open = kind, low, high, low_open

    def check(self, name, value):
        if isinstance(value, bool) or not isinstance(value, self.kind):
            raise TypeError(f"{name} must be {'an integer' if self.kind is Integral else 'a real number'}, "
                            f"got {value!r}")
        if not math.isfinite(value) or (value <= self.low if self.low_open else value < self.low) or \
                (self.high is not None and value > self.high):
            bound = f"{'>' if self.low_open else '>='} {self.low}" + (f" and <= {self.high}" if self.high else "")
            raise ValueError(f"{name} must be {bound}, got {value!r}")


class _Options:
    def __init__(self, *options):
        self.options = options

    def check(self, name, value):
        if value not in self.options:
            raise ValueError(f"{name} must be one of {list(self.options)}, got {value!r}")


class _Bool:
    def check(self, name, value):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {value!r}")


class _Optional:
    def __init__(self, inner):
        self.inner = inner

    def check(self, name, value):
        if value is not None:
            self.inner.check(name, value)


class GLRClassifier(ClassifierMixin, BaseEstimator):
    """Noisy MLP classifier trained by the generalized likelihood ratio method.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (20,)
        Hidden widths (the paper: one hidden level of 20).
    activation : str, default "sigmoid"
        Activation of every level (see glrnet.activations); may be discontinuous.
    output_activation : str or None
        Activation of the output level (None: same as ``activation``, as in the paper).
    noise : str, default "gaussian"
        Noise family ("gaussian", "laplace", "logistic", "student_t").
    noise_scale : float, default 2.0
        Noise scale (Gaussian: standard deviation; the paper's sigma^2 = 4).
    noise_nu : float, default 5.0
        Degrees of freedom of Student-t noise.
    loss : str, default "cross_entropy"
        "cross_entropy", "zero_one", "squared" or "hinge".
    replications : int, default 1000
        K, noise replications per sample for each gradient (the paper: 10,000).
    batch_size, epochs, learning_rate, schedule, optimizer, momentum :
        Stochastic approximation settings (Eq. 1); the paper: 25, 12, 0.1, constant SGD.
    baseline, antithetic : bool
        Variance reduction (leave-one-out baseline; antithetic noise pairs).
    predict_replications : int, default 100
        Noise replications averaged at prediction time (0: noise-free prediction).
    random_state : int, default 0
        Seeds the initialisation, the shuffling and every noise stream.
    n_threads : int or None
        Kernel threads (None: OpenMP default, honouring OMP_NUM_THREADS).
    verbose : bool
        Show a progress bar.
    """

    _parameter_constraints = {
        "hidden_layer_sizes": None,  # checked in _check_hidden
        "activation": _Options(*ACTIVATION_NAMES),
        "output_activation": _Optional(_Options(*ACTIVATION_NAMES)),
        "activation_slope": _Interval(Real, 0, low_open=True),
        "staircase_levels": _Interval(Integral, 2),
        "noise": _Options(*NOISE_FAMILIES),
        "noise_scale": _Interval(Real, 0, low_open=True),
        "noise_nu": _Interval(Real, 0, low_open=True),
        "loss": _Options(*LOSS_CODES),
        "replications": _Interval(Integral, 1, 2**32 - 1),
        "batch_size": _Interval(Integral, 1),
        "epochs": _Interval(Integral, 1),
        "learning_rate": _Interval(Real, 0, low_open=True),
        "schedule": _Options(*SCHEDULES),
        "optimizer": _Options(*OPTIMIZERS),
        "momentum": _Interval(Real, 0, 0.999999),
        "baseline": _Bool(),
        "antithetic": _Bool(),
        "predict_replications": _Interval(Integral, 0, 2**32 - 1),
        "random_state": _Interval(Integral, 0, 2**63 - 1),
        "n_threads": _Optional(_Interval(Integral, -64, 1024)),
        "verbose": _Bool(),
    }

    def __init__(self, hidden_layer_sizes=(20,), *, activation="sigmoid", output_activation=None,
                 activation_slope=1.0, staircase_levels=4, noise="gaussian", noise_scale=2.0, noise_nu=5.0,
                 loss="cross_entropy", replications=1000, batch_size=25, epochs=12, learning_rate=0.1,
                 schedule="constant", optimizer="sgd", momentum=0.9, baseline=False, antithetic=False,
                 predict_replications=100, random_state=0, n_threads=None, verbose=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.activation_slope = activation_slope
        self.staircase_levels = staircase_levels
        self.noise = noise
        self.noise_scale = noise_scale
        self.noise_nu = noise_nu
        self.loss = loss
        self.replications = replications
        self.batch_size = batch_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.optimizer = optimizer
        self.momentum = momentum
        self.baseline = baseline
        self.antithetic = antithetic
        self.predict_replications = predict_replications
        self.random_state = random_state
        self.n_threads = n_threads
        self.verbose = verbose

    def _validate_params(self):
        for name, constraint in self._parameter_constraints.items():
            if constraint is not None:
                constraint.check(name, getattr(self, name))
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (Integral, np.integer)) and not isinstance(sizes, bool):
            sizes = (sizes,)
        if not isinstance(sizes, (tuple, list)) or not all(
                isinstance(s, (Integral, np.integer)) and not isinstance(s, bool) and s >= 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be a tuple of positive integers, got {self.hidden_layer_sizes!r}")
        if self.antithetic and self.replications % 2:
            raise ValueError("antithetic needs an even number of replications")
        return [int(s) for s in sizes]

    def _build(self, n_features, n_classes):
        hidden = self._validate_params()
        act = Activation(self.activation, self.activation_slope, self.staircase_levels)
        out_act = None if self.output_activation is None else Activation(
            self.output_activation, self.activation_slope, self.staircase_levels)
        if self.noise == "student_t":
            noise = as_noise({"family": "student_t", "nu": self.noise_nu, "scale": self.noise_scale})
        else:
            noise = as_noise(self.noise, self.noise_scale)
        return MLP([n_features, *hidden, n_classes], act, noise, output_activation=out_act, loss=self.loss,
                   seed=self.random_state)

    def fit(self, X, y, X_val=None, y_val=None):
        """Train on (X, y); optional validation data is recorded in ``history_``."""
        X = self._check_X(X, reset=True)
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must be 1-D with {X.shape[0]} labels, got shape {y.shape}")
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("y must contain at least two classes")
        self.model_ = self._build(X.shape[1], len(self.classes_))
        val = {}
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        if X_val is not None:
            val = {"X_val": self._check_X(X_val), "y_val": self._encode(y_val)}
        self.history_ = train(self.model_, X, encoded, epochs=self.epochs, batch_size=self.batch_size,
                              replications=self.replications, learning_rate=self.learning_rate,
                              schedule=self.schedule, optimizer=self.optimizer, momentum=self.momentum,
                              baseline=self.baseline, antithetic=self.antithetic, seed=self.random_state,
                              n_threads=self.n_threads, progress=self.verbose, **val)
        return self

    def _check_X(self, X, reset=False):
        if X is None:
            raise TypeError("X must be an array, got None")
        X = np.asarray(X)
        if X.dtype == object or np.iscomplexobj(X) or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise TypeError(f"X must be numeric, got dtype {X.dtype}")
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
        X = X.astype(np.float64, copy=False)
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinity")
        check_float32_range(X, "X")
        if reset:
            self.n_features_in_ = X.shape[1]
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} was fitted with "
                             f"{self.n_features_in_}")
        return X

    def _encode(self, y):
        y = np.asarray(y)
        index = np.searchsorted(self.classes_, y)
        index = np.clip(index, 0, len(self.classes_) - 1)
        if not np.all(self.classes_[index] == y):
            raise ValueError("y_val contains labels not seen in y")
        return index

    def predict_proba(self, X):
        """Class probabilities, with neuronal noise averaged over ``predict_replications``."""
        check_is_fitted(self, "model_")
        X = self._check_X(X)
        return self.model_.predict_proba(X, self.predict_replications, seed=self.random_state,
                                         step=2**32 - 1, n_threads=self.n_threads)

    def predict(self, X):
        """Most probable class under neuronal noise (the first of tied classes)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy of the noisy predictions, a tie among t classes counting 1/t (README)."""
        proba = self.predict_proba(X)
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != proba.shape[0]:
            raise ValueError(f"y must be 1-D with {proba.shape[0]} labels, got shape {y.shape}")
        known = np.isin(y, self.classes_)
        per_row = np.zeros(len(y))
        per_row[known] = correct_fraction(proba[known], np.searchsorted(self.classes_, y[known]))
        return float(np.average(per_row, weights=sample_weight))
