"""A scikit-learn classifier trained by GLR (works with clone, GridSearchCV, pipelines)."""
from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._validation import check_array, check_int_sequence
from .method.activations import ACTIVATION_NAMES
from .method.losses import LOSS_CODES, correct_fraction
from .method.network import MAX_REPLICATIONS, PREDICTION_STEP, build_mlp
from .method.noise import NOISE_FAMILIES
from .method.optim import OPTIMIZERS, SCHEDULES
from .method.training import train

__all__ = ["GLRClassifier"]


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

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATION_NAMES))],
        "output_activation": [StrOptions(set(ACTIVATION_NAMES)), None],
        "activation_slope": [Interval(Real, 0, None, closed="neither")],
        "staircase_levels": [Interval(Integral, 2, None, closed="left")],
        "noise": [StrOptions(set(NOISE_FAMILIES))],
        "noise_scale": [Interval(Real, 0, None, closed="neither")],
        "noise_nu": [Interval(Real, 0, None, closed="neither")],
        "loss": [StrOptions(set(LOSS_CODES))],
        "replications": [Interval(Integral, 1, MAX_REPLICATIONS, closed="both")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "schedule": [StrOptions(set(SCHEDULES))],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "baseline": ["boolean"],
        "antithetic": ["boolean"],
        "predict_replications": [Interval(Integral, 0, MAX_REPLICATIONS, closed="both")],
        "random_state": [Interval(Integral, 0, 2**63 - 1, closed="both")],
        "n_threads": [Interval(Integral, -64, 1024, closed="both"), None],
        "verbose": ["boolean"],
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

    def _build(self, n_features, n_classes):
        self._validate_params()
        sizes = self.hidden_layer_sizes
        hidden = check_int_sequence([sizes] if isinstance(sizes, (Integral, np.integer)) else sizes,
                                    "hidden_layer_sizes", minimum=1)
        if self.antithetic and self.replications % 2:
            raise ValueError("antithetic needs an even number of replications")
        return build_mlp(n_features, n_classes, hidden=hidden, activation=self.activation,
                         output_activation=self.output_activation, slope=self.activation_slope,
                         levels=self.staircase_levels, noise=self.noise, noise_scale=self.noise_scale,
                         nu=self.noise_nu, loss=self.loss, seed=self.random_state)

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
        if np.iscomplexobj(X):
            raise TypeError("X must be real, got complex values")
        X = check_array(X, "X")
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
                                         step=PREDICTION_STEP, n_threads=self.n_threads)

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
