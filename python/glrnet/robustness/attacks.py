"""Adversarial attacks: FGSM, L-inf PGD and the box-constrained L-BFGS attack.

The attacks are model-agnostic.  A *model* is any object with

``loss_gradient(X, labels) -> (loss, grad)``
    ``loss`` of shape ``(n,)`` is a per-sample loss that an untargeted attack
    wants to *increase* when ``labels`` are the true classes (for a targeted
    attack it is called with the target classes and *decreased*); ``grad``
    of shape ``(n, d)`` is ``d loss[i] / d X[i]``.
    :class:`glrnet.method.network.MLP` implements it (the backpropagation
    baseline with the exact softmax cross-entropy gradient, a noisy network
    with the likelihood-ratio estimate), and so do the models under test of
    :mod:`glrnet.robustness.models`.

``predict(X) -> labels``
    predicted classes, shape ``(n,)``.

Some features need the number of classes (``target="random"`` and the
untargeted L-BFGS attack): it is read from ``model.n_classes`` (or
``model.n_classes_``), or else from the width of ``model.predict_proba``.
Arguments are checked by :mod:`glrnet._validation`.

Foreign models are accepted too:

* an estimator of the Adversarial Robustness Toolbox (ART) with loss gradients
  (``art.estimators.classification.*``, or glrnet's own adapter
  :func:`glrnet.robustness.art.art_classifier`): its ``predict`` returns class
  probabilities and its ``loss_gradient(x, y)`` the gradient alone, with ``y``
  one-hot.  The attacks call it as ART's own attacks do (float32 inputs in the
  estimator's ``input_shape``, one-hot labels); the loss an L-BFGS attack needs is
  the estimator's ``compute_loss(x, y, reduction="none")`` where it has one, else
  the cross-entropy of its predicted probabilities.  Detected without importing ART.
* any object whose ``loss_gradient(X, labels)`` returns the gradient alone (an
  array shaped like ``X``, labels as class indices) and whose ``predict`` returns
  labels or class probabilities (or that has ``predict_proba``); its loss is the
  cross-entropy of its predicted probabilities.

Inputs are batches of flattened images ``X`` of shape ``(n, d)`` with values
in ``[0, 1]`` and integer labels ``y`` of shape ``(n,)``.  Every attack
returns an :class:`AttackResult`; ``np.asarray(result)`` gives ``X_adv``.

Attacks
-------
:func:`fgsm`
    Goodfellow et al. (2015): ``X + eps * sign(grad)`` clipped to ``[0, 1]``.
:func:`pgd`
    Madry et al. (2018): iterated signed-gradient steps with projection onto
    the L-inf ball of radius ``eps`` around ``X`` intersected with ``[0, 1]``.
:func:`lbfgs`
    Szegedy et al. (2014): ``min_delta c * ||delta||_2^2 + loss(X + delta, t)``
    s.t. ``X + delta in [0, 1]``, solved with scipy's L-BFGS-B for a whole
    batch of images per call and a per-image search over ``c``.

The adaptive attacks of Croce & Hein (2020, APGD) and Andriushchenko et al. (2020, Square)
are in :mod:`glrnet.robustness.adaptive`; they use this module's model protocol.

Evaluation helpers
------------------
:func:`accuracy_under_attack` and :func:`eps_curve` (the paper's transfer
setting: adversarial examples crafted on a BP surrogate, Fig. 4(b), are fed
to every model under test; a target that *is* the source model is attacked
white-box).
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from scipy.optimize import Bounds, minimize

from .._validation import (
    check_bool,
    check_callable,
    check_images,
    check_int,
    check_labels,
    check_methods,
    check_real,
    check_seed,
)

__all__ = [
    "AttackResult",
    "accuracy_under_attack",
    "eps_curve",
    "fgsm",
    "lbfgs",
    "pgd",
]


# --------------------------------------------------------------------------
# result container
# --------------------------------------------------------------------------
@dataclass
class AttackResult:
    """Outcome of an attack on a batch.

    Attributes
    ----------
    X_adv : ndarray, shape (n, d), float64
        Adversarial inputs (same row order as the clean ``X``).
    unchanged_fraction : float
        Fraction of rows with ``X_adv[i] == X[i]`` exactly (e.g. zero
        gradients, ``eps = 0``, or a failed L-BFGS search).
    success_rate : float
        Among the rows the attacked model classified correctly before the
        attack, the fraction that the attack fooled: misclassified
        (untargeted) or classified as the target (targeted).  ``nan`` when no
        row was classified correctly.
    params : dict
        Attack settings (and, for L-BFGS, the per-image ``c`` found).
    mean_l2 : float
        Mean over all rows of ``||X_adv[i] - X[i]||_2``.
    success : ndarray of bool, shape (n,)
        Per-row success flag (computed for every row, including rows that
        were misclassified to begin with).
    clean_correct : ndarray of bool, shape (n,)
        Whether the attacked model classified the clean row correctly.
    target : ndarray of int or None
        Target classes of a targeted attack, ``None`` for untargeted.
    """

    X_adv: np.ndarray
    unchanged_fraction: float
    success_rate: float
    params: dict[str, Any]
    mean_l2: float = float("nan")
    success: np.ndarray | None = field(default=None, repr=False)
    clean_correct: np.ndarray | None = field(default=None, repr=False)
    target: np.ndarray | None = field(default=None, repr=False)

    def __array__(self, dtype=None, copy=None):
        return self.X_adv if dtype is None else self.X_adv.astype(dtype)


# --------------------------------------------------------------------------
# models: glrnet's protocol, ART estimators, gradient-only models
# --------------------------------------------------------------------------
def _is_art_estimator(model) -> bool:
    """Whether ``model`` is an ART estimator, checked without importing ART (an ART estimator
    can only exist once ART has been imported)."""
    base = getattr(sys.modules.get("art.estimators.estimator"), "BaseEstimator", None)
    return isinstance(base, type) and isinstance(model, base)


class _ARTModel:
    """An ART classifier in glrnet's protocol: ``predict`` gives labels, ``predict_proba`` ART's
    ``predict``, ``gradient`` ART's ``loss_gradient`` called as ART's attacks call it (float32
    inputs in the estimator's ``input_shape``, one-hot labels), returned as float64 rows."""

    def __init__(self, estimator, name, *, gradients):
        if gradients and not callable(getattr(estimator, "loss_gradient", None)):
            raise TypeError(f"{name} must provide a callable loss_gradient(); got {type(estimator).__name__} "
                            f"(an ART estimator without loss gradients)")
        self.estimator = estimator
        self.n_classes = check_int(getattr(estimator, "nb_classes", None), f"{name}.nb_classes", minimum=2)
        shape = getattr(estimator, "input_shape", None)
        self._shape = tuple(int(v) for v in shape) if isinstance(shape, tuple) else None

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        x = np.asarray(X, dtype=np.float32).reshape(X.shape[0], -1)
        if self._shape is not None and int(np.prod(self._shape)) == x.shape[1]:
            x = x.reshape((x.shape[0], *self._shape))
        return x

    def predict_proba(self, X) -> np.ndarray:
        return np.asarray(self.estimator.predict(self._inputs(X)), dtype=np.float64).reshape(X.shape[0], -1)

    def predict(self, X) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=1)

    def _one_hot(self, labels) -> np.ndarray:
        return np.eye(self.n_classes, dtype=np.float32)[labels]

    def gradient(self, X: np.ndarray, labels: np.ndarray) -> np.ndarray:
        grad = np.asarray(self.estimator.loss_gradient(self._inputs(X), self._one_hot(labels)), dtype=np.float64)
        return grad.reshape(X.shape[0], -1)

    def loss(self, X: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The estimator's per-sample loss (``compute_loss(..., reduction="none")``), or else the
        cross-entropy of its predicted probabilities."""
        try:
            loss = self.estimator.compute_loss(self._inputs(X), self._one_hot(labels), reduction="none")
        except NotImplementedError:
            return _cross_entropy(self.predict_proba(X), labels)
        return np.asarray(loss, dtype=np.float64).reshape(-1)


def _as_model(model, name, *, gradients=True):
    """``model`` in the protocol of the attacks: an ART estimator wrapped, anything else checked.
    ``gradients``: an attack's model (loss_gradient) rather than a model under test (predict only)."""
    if _is_art_estimator(model):
        return _ARTModel(model, name, gradients=gradients)
    if gradients:
        check_methods(model, name, ("loss_gradient",))
    if not callable(getattr(model, "predict_proba", None)):
        check_methods(model, name, ("predict",))
    return model


def _proba(model, X: np.ndarray) -> np.ndarray | None:
    """Class probabilities (n, k): ``predict_proba``, or ``predict`` if it returns them; else None."""
    method = getattr(model, "predict_proba", None)
    out = np.asarray((method if callable(method) else model.predict)(X))
    if out.ndim != 2 or out.shape[1] < 2:
        return None
    if out.shape[0] != X.shape[0] or out.dtype.kind not in "fiub":
        raise ValueError(f"the model's class probabilities have shape {out.shape} and dtype {out.dtype}, "
                         f"expected ({X.shape[0]}, n_classes) numbers")
    return out.astype(np.float64, copy=False)


def _cross_entropy(proba: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return -np.log(np.clip(proba[np.arange(labels.shape[0]), labels], 1e-300, None))


def _declared_n_classes(model, attributes=("n_classes", "n_classes_")) -> int | None:
    """The number of classes the model declares as an integer attribute, if any."""
    for attr in attributes:
        k = getattr(model, attr, None)
        if isinstance(k, numbers.Integral) and not isinstance(k, bool):
            return int(k)
    return None


def _n_classes(model, X: np.ndarray) -> int | None:
    k = _declared_n_classes(model)
    if k is None:
        proba = _proba(model, X[:1])
        k = None if proba is None else int(proba.shape[1])
    return k


def _prepare(model, X, y, seed=0, name="model", *, gradients=True):
    """The model in the attacks' protocol, the checked X (a float64 copy), y and seed (``gradients``:
    a gradient attack's model, else a query attack's, which needs ``predict`` or ``predict_proba`` only)."""
    model = _as_model(model, name, gradients=gradients)
    X = check_images(X, "X")
    y = check_labels(y, X.shape[0], _declared_n_classes(model, ("n_classes",)))
    return model, X, y, check_seed(seed)


def _resolve_target(model, X: np.ndarray, y: np.ndarray, target, seed) -> np.ndarray | None:
    if target is None:
        return None
    if isinstance(target, str):
        if target != "random":
            raise ValueError(f"target must be None, 'random' or an array of labels, got {target!r}")
        k = _n_classes(model, X)
        if k is None:
            raise TypeError(
                "target='random' needs the number of classes: give the model an n_classes "
                "attribute or a predict_proba method"
            )
        if k < 2:
            raise ValueError("target='random' needs at least 2 classes")
        rng = np.random.default_rng(seed)
        # uniform over the k - 1 classes different from y
        return (y + rng.integers(1, k, size=y.shape[0])) % k
    t = check_labels(target, X.shape[0], _n_classes(model, X), "target")
    if np.any(t == y):
        raise ValueError("target must differ from the true label y in every row")
    return t


def _loss_grad(model, X: np.ndarray, labels: np.ndarray, *, need_loss=True):
    """(per-sample loss, input gradient) of any model (the loss is nan when not ``need_loss`` and
    the model gives the gradient alone)."""
    loss = None
    if isinstance(model, _ARTModel):
        grad = model.gradient(X, labels)
        if need_loss:
            loss = model.loss(X, labels)
    else:
        out = model.loss_gradient(X, labels)
        if isinstance(out, tuple) and len(out) == 2:
            loss, grad = out
        else:                                   # a foreign model: the gradient alone
            grad = out
            if need_loss:
                proba = _proba(model, X)
                if proba is None:
                    raise TypeError("the loss of a model whose loss_gradient returns the gradient alone is the "
                                    "cross-entropy of its predict_proba, which it lacks")
                loss = _cross_entropy(proba, labels)
    loss = np.full(X.shape[0], np.nan) if loss is None else np.asarray(loss, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    if loss.shape != (X.shape[0],):
        raise ValueError(
            f"model.loss_gradient returned a loss of shape {loss.shape}, expected {(X.shape[0],)}"
        )
    if grad.shape != X.shape:
        raise ValueError(
            f"model.loss_gradient returned a gradient of shape {grad.shape}, expected {X.shape}"
        )
    return loss, grad


def _predict(model, X: np.ndarray) -> np.ndarray:
    """Predicted labels (n,): ``predict``, the arg-max of the probabilities it returns, or of
    ``predict_proba`` for a model without ``predict``."""
    if not callable(getattr(model, "predict", None)):
        proba = _proba(model, X)
        if proba is None:
            raise ValueError("model.predict_proba must return class probabilities of shape (n, n_classes)")
        return np.argmax(proba, axis=1)
    out = np.asarray(model.predict(X))
    if out.ndim == 2 and out.shape[0] == X.shape[0] and out.shape[1] > 1:
        return np.argmax(out, axis=1)
    return out.reshape(-1)


def _finish(model, X, X_adv, y, target, params, clean_pred=None) -> AttackResult:
    if clean_pred is None:
        clean_pred = _predict(model, X)
    adv_pred = _predict(model, X_adv)
    clean_correct = clean_pred == y
    success = (adv_pred == target) if target is not None else (adv_pred != y)
    n_correct = int(clean_correct.sum())
    rate = float(success[clean_correct].mean()) if n_correct else float("nan")
    diff = X_adv - X
    l2 = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    unchanged = float(np.mean(np.all(X_adv == X, axis=1)))
    return AttackResult(
        X_adv=X_adv,
        unchanged_fraction=unchanged,
        success_rate=rate,
        params=params,
        mean_l2=float(l2.mean()),
        success=success,
        clean_correct=clean_correct,
        target=target,
    )


# --------------------------------------------------------------------------
# FGSM / PGD
# --------------------------------------------------------------------------
def fgsm(model, X, y, eps, *, target=None, seed: int = 0) -> AttackResult:
    """Fast gradient sign method (Goodfellow et al., 2015).

    Parameters
    ----------
    model : object with ``loss_gradient`` and ``predict``
    X : array_like, shape (n, d), values in [0, 1]
    y : array_like of int, shape (n,)
        True labels.
    eps : float in [0, 1]
        L-inf step size (the inputs live in [0, 1], so a larger one would mean nothing).
    target : None, "random" or array_like of int, optional
        ``None`` (default) for the untargeted attack
        ``X + eps * sign(grad loss(X, y))``; otherwise the targeted attack
        ``X - eps * sign(grad loss(X, target))``.  ``"random"`` draws, with
        ``seed``, a class different from ``y`` per row.
    seed : int, default 0
        Only used by ``target="random"``.

    Returns
    -------
    AttackResult
        ``X_adv`` is clipped to ``[0, 1]``; rows whose gradient is zero are
        returned unchanged (``sign(0) = 0``).
    """
    model, X, y, seed = _prepare(model, X, y, seed)
    eps = check_real(eps, "eps", minimum=0.0, maximum=1.0)
    t = _resolve_target(model, X, y, target, seed)
    labels = y if t is None else t
    _, grad = _loss_grad(model, X, labels, need_loss=False)
    direction = np.sign(grad) if t is None else -np.sign(grad)
    X_adv = np.clip(X + eps * direction, 0.0, 1.0)
    params = {"attack": "fgsm", "eps": eps, "targeted": t is not None}
    return _finish(model, X, X_adv, y, t, params)


def pgd(
    model,
    X,
    y,
    eps,
    *,
    step_size: float | None = None,
    steps: int = 40,
    random_start: bool = True,
    seed: int = 0,
    target=None,
    keep_success: bool = True,
) -> AttackResult:
    """L-inf projected gradient descent (Madry et al., 2018).

    Parameters
    ----------
    model, X, y, eps, target
        As in :func:`fgsm`.
    step_size : float, optional
        Signed-gradient step; default ``2.5 * eps / steps``.
    steps : int, default 40
        Number of gradient steps.
    random_start : bool, default True
        Start from a uniform random point of the eps-ball (clipped to
        ``[0, 1]``) instead of ``X``.
    seed : int, default 0
        Seed of the random start (and of ``target="random"``).
    keep_success : bool, default True
        Keep, per row, the first iterate that fools the model (checked with
        ``predict`` on the whole batch after every step, so that a noisy model
        whose noise depends on the row's position judges each row as the final
        evaluation of the batch does) instead of the last one.  With a noisy
        gradient (a GLR network's likelihood-ratio estimate) later steps can
        wander back across the decision boundary, and the last iterate then
        understates the attack.

    Returns
    -------
    AttackResult
        The first successful iterate of each row (``keep_success``), else the
        last iterate; every row satisfies ``|X_adv - X| <= eps`` and
        ``0 <= X_adv <= 1``.
    """
    model, X, y, seed = _prepare(model, X, y, seed)
    eps = check_real(eps, "eps", minimum=0.0, maximum=1.0)
    steps = check_int(steps, "steps", minimum=1)
    if step_size is None:
        step_size = 2.5 * eps / steps
    step_size = check_real(step_size, "step_size", minimum=0.0)
    random_start = check_bool(random_start, "random_start")
    keep_success = check_bool(keep_success, "keep_success")
    t = _resolve_target(model, X, y, target, seed)
    labels = y if t is None else t
    sgn = 1.0 if t is None else -1.0

    lo = np.maximum(X - eps, 0.0)
    hi = np.minimum(X + eps, 1.0)
    rng = np.random.default_rng(seed)
    if random_start and eps > 0:
        X_adv = np.clip(X + rng.uniform(-eps, eps, size=X.shape), lo, hi)
    else:
        X_adv = X.copy()
    active = np.arange(X.shape[0])          # rows still being attacked
    if eps > 0 and step_size > 0:
        for _ in range(steps):
            if keep_success:
                pred = _predict(model, X_adv)[active]
                fooled = (pred == t[active]) if t is not None else (pred != y[active])
                active = active[~fooled]
                if active.size == 0:
                    break
            _, grad = _loss_grad(model, X_adv[active], labels[active], need_loss=False)
            X_adv[active] = np.clip(X_adv[active] + (sgn * step_size) * np.sign(grad), lo[active], hi[active])
    params = {
        "attack": "pgd",
        "eps": eps,
        "step_size": step_size,
        "steps": steps,
        "random_start": random_start,
        "keep_success": keep_success,
        "seed": seed,
        "targeted": t is not None,
    }
    return _finish(model, X, X_adv, y, t, params)


# --------------------------------------------------------------------------
# L-BFGS (Szegedy et al., 2014)
# --------------------------------------------------------------------------
def _lbfgs_solve(model, X0, labels, c, max_iter):
    """One batched L-BFGS-B solve of ``sum_i c_i ||z_i - x_i||^2 + loss(z_i, t_i)``.

    The variables are the rescaled perturbations ``v_i = s_i (z_i - x_i)``
    with ``s_i = sqrt(1 + 2 c_i)`` (box bounds ``-s_i x_i <= v_i <= s_i (1 -
    x_i)``).  This diagonal change of variables leaves the minimiser unchanged
    but equalises the curvature of the penalty across images that carry very
    different ``c`` in the same batch, which the shared L-BFGS memory
    otherwise handles badly (about half the iterations on MNIST).
    """
    m, d = X0.shape
    s = np.sqrt(1.0 + 2.0 * c)[:, None]
    quad = (2.0 * c)[:, None] / (s * s)

    def fun(v):
        V = v.reshape(m, d)
        loss, grad = _loss_grad(model, X0 + V / s, labels)
        obj = 0.5 * float(np.sum(quad * V * V)) + float(np.sum(loss))
        return obj, (quad * V + grad / s).ravel()

    res = minimize(
        fun,
        np.zeros(m * d),
        jac=True,
        method="L-BFGS-B",
        bounds=Bounds((-X0 * s).ravel(), ((1.0 - X0) * s).ravel()),
        options={"maxiter": max_iter},
    )
    return np.clip(X0 + res.x.reshape(m, d) / s, 0.0, 1.0)


def lbfgs(
    model,
    X,
    y,
    *,
    target=None,
    c_values: Sequence[float] | None = None,
    c_init: float = 1.0,
    search_steps: int = 6,
    max_iter: int = 100,
    batch_size: int | None = 50,
    seed: int = 0,
) -> AttackResult:
    """Box-constrained L-BFGS attack of Szegedy et al. (2014), batched.

    For each image ``x`` with attack label ``t`` the attack solves ::

        minimise  c * ||delta||_2^2 + loss(x + delta, t)   s.t.  x + delta in [0, 1]

    with ``scipy.optimize.minimize(method="L-BFGS-B")``.  The problem is
    separable across images, so one scipy call optimises a whole batch of up
    to ``batch_size`` images: the variables are the flattened batch of
    (rescaled, see ``_lbfgs_solve``) perturbations, the objective is the sum
    of the per-image objectives (each with its own ``c``) and the gradient is
    the concatenation of the per-image gradients.  A larger ``c``
    penalises the perturbation more, so the attack looks, per image, for the
    largest ``c`` whose solution is still adversarial and keeps the
    smallest-L2 adversarial example found during the search.

    Parameters
    ----------
    model : object with ``loss_gradient`` and ``predict``
    X : array_like, shape (n, d), values in [0, 1]
    y : array_like of int, shape (n,)
    target : None, "random" or array_like of int
        Targeted mode: ``"random"`` draws (with ``seed``) a class different
        from ``y`` per image; an array gives the targets (each must differ
        from ``y``).  Success means ``predict(X_adv) == target``.

        Untargeted mode (``None``): minimising ``c ||delta||^2 - loss(x +
        delta, y)`` is badly posed (the cross-entropy is unbounded above in
        the logits and its minimiser runs to the box corners), so instead the
        attack is *targeted at the most likely wrong class of the clean
        image* (``argmax`` of ``predict_proba`` over ``k != y``), which keeps
        the objective bounded below by 0.  Success means ``predict(X_adv) !=
        y`` (any wrong class counts).  This needs ``model.predict_proba``.
    c_values : sequence of float, optional
        Explicit line search (Szegedy et al.): the values are tried from the
        largest to the smallest, and an image leaves the search at the first
        (largest) ``c`` whose solution is adversarial.  When omitted
        (default), a per-image geometric bisection is used instead: start at
        ``c_init``; on success the lower bracket becomes ``c`` (else the upper
        bracket), and the next ``c`` is the geometric mean of the brackets
        (or ``c * 10`` / ``c / 10`` while one side is still open), for
        ``search_steps`` rounds.  Every round runs one batched solve over the
        images still searching.
    c_init : float > 0, default 1.0
    search_steps : int, default 6
    max_iter : int, default 100
        ``maxiter`` of each L-BFGS-B solve.
    batch_size : int or None, default 50
        Images per scipy call.  ``None`` optimises all of ``X`` in one call per
        round.  L-BFGS-B's stopping rule is global (a call runs until its
        slowest image converges or ``max_iter``), so moderate batches keep
        the iteration budget per image meaningful.  On a 196-20-10 network
        the default search takes roughly 0.5 s per 50 images.
    seed : int, default 0
        Seed of ``target="random"``.

    Returns
    -------
    AttackResult
        ``X_adv`` holds the smallest-L2 adversarial example found per image;
        images for which no ``c`` succeeded are returned unchanged (so they
        count in ``unchanged_fraction``), and so are images that already
        satisfy the success criterion without perturbation (clean input
        misclassified, or already classified as its target).
        ``params["c"]`` is the ``c`` of the returned example per image (``nan``
        on failure, ``inf`` when no perturbation was needed).  ``mean_l2`` averages
        over all rows; ``params["mean_l2_success"]`` over the rows where the search
        found an adversarial example (excluding rows that needed none).
    """
    model, X, y, seed = _prepare(model, X, y, seed)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", minimum=1)
    n = X.shape[0]
    t = _resolve_target(model, X, y, target, seed)
    clean_pred = _predict(model, X)
    if t is None:
        proba = _proba(model, X)
        if proba is None:
            raise TypeError("untargeted lbfgs needs model.predict_proba (or a predict that returns class "
                            "probabilities) to pick the attack class")
        proba = proba.copy()
        proba[np.arange(n), y] = -np.inf
        attack_labels = np.argmax(proba, axis=1)
    else:
        attack_labels = t

    def is_success(idx, pred):
        return pred == t[idx] if t is not None else pred != y[idx]

    best = X.copy()
    best_l2 = np.full(n, np.inf)
    best_c = np.full(n, np.nan)

    def record(idx, Z, c):
        ok = is_success(idx, _predict(model, Z))
        diff = Z - X[idx]
        l2 = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        better = ok & (l2 < best_l2[idx])
        sel = idx[better]
        best[sel] = Z[better]
        best_l2[sel] = l2[better]
        best_c[sel] = c[better]
        return ok

    if c_values is not None:
        if isinstance(c_values, (str, bytes)) or not hasattr(c_values, "__len__"):
            raise TypeError("c_values must be a sequence of positive floats")
        cs = sorted((check_real(c, "c_values entry", positive=True) for c in c_values), reverse=True)
        if not cs:
            raise ValueError("c_values must not be empty")
        search: dict[str, Any] = {"c_values": tuple(cs)}
    else:
        c_init = check_real(c_init, "c_init", positive=True)
        search_steps = check_int(search_steps, "search_steps", minimum=1)
        search = {"c_init": c_init, "search_steps": search_steps}

    def line_search(chunk):
        active = chunk
        for c in cs:
            if active.size == 0:
                break
            c_arr = np.full(active.size, c)
            Z = _lbfgs_solve(model, X[active], attack_labels[active], c_arr, max_iter)
            ok = record(active, Z, c_arr)
            active = active[~ok]

    def bisection(chunk):
        m = chunk.size
        c = np.full(m, c_init)
        lo = np.zeros(m)  # largest c known to succeed (0: none yet)
        hi = np.full(m, np.inf)  # smallest c known to fail
        for _ in range(search_steps):
            Z = _lbfgs_solve(model, X[chunk], attack_labels[chunk], c, max_iter)
            ok = record(chunk, Z, c)
            lo = np.where(ok, np.maximum(lo, c), lo)
            hi = np.where(~ok, np.minimum(hi, c), hi)
            both = (lo > 0) & np.isfinite(hi)
            c = np.where(both, np.sqrt(lo * np.where(np.isfinite(hi), hi, 1.0)),
                         np.where(ok, c * 10.0, c / 10.0))

    # Rows that already satisfy the success criterion (misclassified clean
    # inputs, or clean inputs already classified as their target) need no
    # perturbation: they are returned unchanged with l2 = 0 and c = inf.
    done = is_success(np.arange(n), clean_pred)
    best_l2[done] = 0.0
    best_c[done] = np.inf
    todo = np.flatnonzero(~done)
    step = max(todo.size, 1) if batch_size is None else batch_size
    for start in range(0, todo.size, step):
        chunk = todo[start:start + step]
        (line_search if c_values is not None else bisection)(chunk)

    found = np.isfinite(best_l2) & ~done
    params = {
        "attack": "lbfgs",
        "targeted": t is not None,
        "max_iter": max_iter,
        "seed": seed,
        "c": best_c,
        "mean_l2_success": float(best_l2[found].mean()) if found.any() else float("nan"),
        "batch_size": batch_size,
        **search,
    }
    return _finish(model, X, best, y, t, params, clean_pred=clean_pred)


# --------------------------------------------------------------------------
# evaluation helpers
# --------------------------------------------------------------------------
def accuracy_under_attack(model_under_test, X_adv, y) -> float:
    """Accuracy of ``model_under_test.predict`` on adversarial inputs.

    Parameters
    ----------
    model_under_test : object with ``predict``
    X_adv : array_like (n, d) or AttackResult
    y : array_like of int, shape (n,)
        True labels of the clean inputs.
    """
    model_under_test = _as_model(model_under_test, "model_under_test", gradients=False)
    if isinstance(X_adv, AttackResult):
        X_adv = X_adv.X_adv
    X_adv = check_images(X_adv, "X_adv")
    y = check_labels(y, X_adv.shape[0], None)
    return float(np.mean(_predict(model_under_test, X_adv) == y))


def eps_curve(
    attack_fn: Callable[..., AttackResult | np.ndarray],
    source_model,
    target_models: Mapping[str, Any],
    X,
    y,
    eps_values: Sequence[float],
    **attack_kwargs,
) -> dict[str, list[float]]:
    """Accuracy of several models on adversarial examples crafted on one model.

    For every ``eps`` the examples are crafted once with
    ``attack_fn(source_model, X, y, eps, **attack_kwargs)`` and evaluated on
    every model of ``target_models`` (transfer / black-box setting; a target
    that is ``source_model`` itself is attacked white-box).

    Parameters
    ----------
    attack_fn : callable
        E.g. :func:`fgsm` or :func:`pgd`; may return an AttackResult or an
        array of adversarial inputs.
    source_model : object with ``loss_gradient`` and ``predict``
    target_models : dict name -> model with ``predict``
    X, y : clean inputs and labels
    eps_values : sequence of float in [0, 1]
    **attack_kwargs
        Forwarded to ``attack_fn``.

    Returns
    -------
    dict name -> list of float
        Accuracy per ``eps`` (same order as ``eps_values``).
    """
    if attack_fn is None:
        raise TypeError("attack_fn must be callable, got None")
    check_callable(attack_fn, "attack_fn")
    if not isinstance(target_models, Mapping) or len(target_models) == 0:
        raise TypeError("target_models must be a non-empty dict name -> model")
    for name, m in target_models.items():
        _as_model(m, f"target_models[{name!r}]", gradients=False)
    if isinstance(eps_values, (str, bytes)) or not hasattr(eps_values, "__iter__"):
        raise TypeError("eps_values must be a sequence of floats")
    eps_list = [check_real(e, "eps_values entry", minimum=0.0, maximum=1.0) for e in eps_values]
    if not eps_list:
        raise ValueError("eps_values must not be empty")
    _, X, y, _ = _prepare(source_model, X, y, name="source_model")
    curves: dict[str, list[float]] = {name: [] for name in target_models}
    for eps in eps_list:
        res = attack_fn(source_model, X, y, eps, **attack_kwargs)
        X_adv = res.X_adv if isinstance(res, AttackResult) else np.asarray(res)
        for name, m in target_models.items():
            curves[name].append(accuracy_under_attack(m, X_adv, y))
    return curves
