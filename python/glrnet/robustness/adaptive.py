"""Adaptive L-inf attacks: APGD (Croce & Hein 2020) and the Square attack (Andriushchenko et al. 2020).

The reliable evaluation of a randomised defence (Athalye, Carlini & Wagner 2018; Croce &
Hein 2020, AutoAttack's version for randomised models) runs APGD on the cross-entropy and on
the DLR loss with gradients averaged over 20 noise draws (Expectation over Transformation:
``NoisyModel(..., eot_draws=20)``) and one restart, and a gradient-free attack (Square) that
gradient masking cannot fool.  Both take any model the attacks of
:mod:`glrnet.robustness.attacks` take (a glrnet MLP, a :class:`~glrnet.robustness.NoisyModel`,
a :class:`~glrnet.robustness.SmoothedSurrogate`, an ART classifier) and return an
:class:`~glrnet.robustness.attacks.AttackResult` whose ``params`` state the attack's cost in
model calls.

Judge the result on a model under test with noise independent of the attacker's (another
NoisyModel of the same network with another seed): the attacks only ever query the model
they are given.

:func:`apgd`
    Algorithm 1 of Croce & Hein: steps of size ``eta`` (first ``2 eps``) along the sign of the
    gradient with momentum 0.75, projected onto the eps-ball intersected with ``[0, 1]``; at the
    checkpoints ``w_j = ceil(p_j N)``, ``p_0 = 0``, ``p_1 = 0.22``,
    ``p_(j+1) = p_j + max(p_j - p_(j-1) - 0.03, 0.06)``, a row halves its step and restarts from
    its best point when fewer than ``rho (w_j - w_(j-1))`` of the steps since the last checkpoint
    raised the loss (condition 1) or when neither its step nor its best loss changed since then
    (condition 2).
:func:`square`
    Algorithm 1 of Andriushchenko et al. for L-inf: vertical stripes of +-eps, then at every
    query a random square window of side ``round(sqrt(p h w))`` set to +-eps (one sign per
    channel), kept when it lowers the margin ``p_y - max_(c != y) p_c`` of ``predict_proba``;
    ``p`` halves at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of 10,000 queries
    (rescaled to the budget).
"""
from __future__ import annotations

import math

import numpy as np

from .._validation import check_bool, check_int, check_int_sequence, check_option, check_real
from ..method.network import MLP
from .attacks import AttackResult, _finish, _loss_grad, _predict, _prepare, _proba
from ..method.losses import dlr_loss
from .models import NoisyModel, SmoothedSurrogate

__all__ = ["apgd", "square", "apgd_checkpoints"]

MOMENTUM = 0.75          # alpha of Croce & Hein's Algorithm 1
# Square attack: the iterations (of 10,000) after which p halves (Andriushchenko et al., Section 4)
P_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


# --------------------------------------------------------------------------
# APGD
# --------------------------------------------------------------------------
def apgd_checkpoints(steps: int) -> list[int]:
    """The checkpoints ``w_1 < w_2 < ... <= steps`` of APGD (Croce & Hein 2020, Section 3.2)."""
    steps = check_int(steps, "steps", minimum=1)
    fractions = [0.0, 0.22]
    while fractions[-1] + max(fractions[-1] - fractions[-2] - 0.03, 0.06) <= 1.0:
        fractions.append(fractions[-1] + max(fractions[-1] - fractions[-2] - 0.03, 0.06))
    # 1e-9: 0.22 * 100 is 22.000000000000004 in floating point
    return sorted({max(1, math.ceil(p * steps - 1e-9)) for p in fractions[1:]})


class _Objective:
    """The attack loss and its input gradient, with a count of the model's gradient calls.

    The cross-entropy is the model's own loss (:func:`attacks._loss_grad`).  The DLR loss is the
    model's own for a NoisyModel or a SmoothedSurrogate (``loss_gradient(X, y, loss="dlr")``);
    for any other model it is the DLR of the log of its class probabilities, whose gradient
    ``sum_c (d DLR / d log p_c) d log p_c / d x`` needs three classes per row (the label, the
    best other class, the third largest) and ``d log p_c / d x = -`` the cross-entropy gradient
    for label ``c``: exact for a softmax model whose ``loss_gradient`` is its cross-entropy
    (the BP baseline, ART classifiers), three gradient calls per step.
    """

    def __init__(self, model, loss):
        self.model, self.loss = model, loss
        self.native = loss == "cross_entropy" or isinstance(model, (NoisyModel, SmoothedSurrogate))
        if not self.native and isinstance(model, MLP) and (model.noisy or model.loss != "cross_entropy"):
            raise ValueError("loss='dlr' needs a model whose loss_gradient is the cross-entropy of its "
                             "predict_proba: wrap a noisy network (or one with another loss) in a NoisyModel")
        self.calls = self.rows = 0

    def _gradient(self, X, labels, need_loss):
        self.calls += 1
        self.rows += X.shape[0]
        return _loss_grad(self.model, X, labels, need_loss=need_loss)

    def __call__(self, X, y):
        if self.loss == "cross_entropy":
            return self._gradient(X, y, True)
        if self.native:
            self.calls += 1
            self.rows += X.shape[0]
            loss, grad = self.model.loss_gradient(X, y, loss="dlr")
            return np.asarray(loss, dtype=np.float64), np.asarray(grad, dtype=np.float64)
        proba = _proba(self.model, X)
        if proba is None:
            raise TypeError("loss='dlr' needs the model's class probabilities (predict_proba, or a predict "
                            "that returns them)")
        log_proba = np.log(np.clip(proba, 1e-300, None))
        value, slope = dlr_loss(log_proba, y)
        others = np.where(np.arange(proba.shape[1]) == y[:, None], -np.inf, log_proba)
        other = np.argmax(others, axis=1)
        third = np.argsort(-log_proba, axis=1, kind="stable")[:, 2]
        rows = np.arange(X.shape[0])
        grad = np.zeros_like(X)
        # slope[y] already holds the third class's share when the label is the third largest
        for labels, keep in ((y, True), (other, True), (third, third != y)):
            coefficient = np.where(keep, slope[rows, labels], 0.0)
            grad -= coefficient[:, None] * self._gradient(X, labels, False)[1]
        return value, grad


def apgd(model, X, y, eps, *, loss: str = "cross_entropy", steps: int = 100, restarts: int = 1, seed: int = 0,
         rho: float = 0.75, keep_success: bool = True, best_loss: bool = False) -> AttackResult:
    """Untargeted L-inf Auto-PGD (Croce & Hein 2020, Algorithm 1).

    Parameters
    ----------
    model : object with ``loss_gradient`` and ``predict``
        As in :func:`attacks.pgd`; for a randomised model, a NoisyModel whose ``eot_draws``
        sets the EOT average of each gradient (AutoAttack's randomised version: 20).
    X : array_like, shape (n, d), values in [0, 1]
    y : array_like of int, shape (n,)
    eps : float in [0, 1]
        Radius of the L-inf ball.
    loss : {"cross_entropy", "dlr"}
        APGD-CE (the model's own loss, cross-entropy for glrnet's models) or APGD-DLR, the
        Difference of Logits Ratio of the model's class probabilities (see ``_Objective`` and
        :meth:`NoisyModel.loss_gradient`).
    steps : int
        N_iter, the gradient steps per restart; a restart calls the gradient ``steps + 1`` times
        (also at its random start), fewer rows at a time as rows are fooled.
    restarts : int
        Random starts (uniform in the eps-ball) of the rows not yet fooled.
    seed : int
        Seeds the random starts (one generator per restart, keyed by ``(seed, restart)``).
    rho : float in [0, 1]
        The fraction of successful steps below which the step halves (condition 1).
    keep_success : bool
        True: a row leaves the attack at the first iterate that the model's own ``predict`` (on
        the whole batch, as the final evaluation judges) misclassifies, and that iterate is
        returned.  False: every row runs every step of its restart and the latest iterate that
        fooled ``predict`` is returned (AutoAttack's rule, Croce & Hein's implementation): for a
        randomised model, whose first fooling iterate sits on the boundary of the attacker's own
        noisy decision and fools an independent judge only part of the time, the stronger attack.
        With a deterministic model both return the same fooled rows.
    best_loss : bool
        With ``keep_success=False``: return every row's iterate of highest attack loss over all
        steps and restarts, fooling or not.  Unlike a fooling iterate it is not selected on the
        attacker's noisy prediction (the loss comes from the gradient calls' own noise), so an
        independent judge sees it as the attacker does.

    Returns
    -------
    AttackResult
        Per row: the first (``keep_success``) or the latest fooling iterate, else (and for every
        row with ``best_loss``) the iterate of highest attack loss over all restarts; rows
        misclassified before the attack are returned unchanged.  ``params`` holds
        ``gradient_calls`` (calls of the model's ``loss_gradient``), ``gradient_rows`` (rows in
        them) and ``predict_calls``.
    """
    model, X, y, seed = _prepare(model, X, y, seed)
    eps = check_real(eps, "eps", minimum=0.0, maximum=1.0)
    loss = check_option(loss, "loss", ("cross_entropy", "dlr"))
    steps = check_int(steps, "steps", minimum=1)
    restarts = check_int(restarts, "restarts", minimum=1)
    rho = check_real(rho, "rho", minimum=0.0, maximum=1.0)
    keep_success = check_bool(keep_success, "keep_success")
    best_loss = check_bool(best_loss, "best_loss")
    if best_loss and keep_success:
        raise ValueError("best_loss=True needs keep_success=False: an attack that stops at a row's first "
                         "fooling point does not search for its highest loss")
    objective = _Objective(model, loss)
    checkpoints = apgd_checkpoints(steps)
    n = X.shape[0]
    lo, hi = np.maximum(X - eps, 0.0), np.minimum(X + eps, 1.0)
    current = X.copy()                  # each row's latest iterate
    fooling = X.copy()                  # each row's first (keep_success) or latest fooling iterate
    best, best_value = X.copy(), np.full(n, -np.inf)
    fooled = _predict(model, X) != y
    predict_calls = 1

    def judge(rows, Z):
        """Record the iterates Z of ``rows``; return which rows stay in the attack: those the model
        still classifies correctly, or every row (``keep_success=False``)."""
        nonlocal predict_calls
        current[rows] = Z
        predict_calls += 1
        now = _predict(model, current)[rows] != y[rows]
        update = now if not keep_success else now & ~fooled[rows]
        fooling[rows[update]] = Z[update]
        fooled[rows[now]] = True
        return ~now if keep_success else np.ones(rows.size, dtype=bool)

    for restart in range(restarts if eps > 0 else 0):
        rows = np.flatnonzero(~fooled)
        if rows.size == 0:
            break
        start = np.random.default_rng([seed, restart]).uniform(-eps, eps, size=X.shape)[rows]
        x_k = np.clip(X[rows] + start, lo[rows], hi[rows])
        f_k, g = objective(x_k, y[rows])
        # per row: the iterate x^(k), its predecessor, loss and gradient; the best point and its
        # loss and gradient; the step eta; the steps that raised the loss since the last checkpoint;
        # eta and the best loss at the last checkpoint
        s = {"x": x_k, "x_prev": x_k, "f": f_k, "g": g, "x_max": x_k, "f_max": f_k, "g_max": g,
             "eta": np.full(rows.size, 2.0 * eps), "successes": np.zeros(rows.size),
             "eta_checked": np.full(rows.size, 2.0 * eps), "f_max_checked": f_k}
        last_checkpoint, keep = 0, judge(rows, x_k)
        for i in range(steps + 1):
            if not keep.all():                          # rows just fooled leave the attack
                rows = rows[keep]
                s = {name: value[keep] for name, value in s.items()}
            if rows.size == 0 or i == steps:
                break
            z = np.clip(s["x"] + s["eta"][:, None] * np.sign(s["g"]), lo[rows], hi[rows])
            if i > 0:
                z = np.clip(s["x"] + MOMENTUM * (z - s["x"]) + (1.0 - MOMENTUM) * (s["x"] - s["x_prev"]),
                            lo[rows], hi[rows])
            f_new, g_new = objective(z, y[rows])
            s["successes"] = s["successes"] + (f_new > s["f"])
            up = f_new > s["f_max"]
            s["x_max"] = np.where(up[:, None], z, s["x_max"])
            s["g_max"] = np.where(up[:, None], g_new, s["g_max"])
            s["f_max"] = np.where(up, f_new, s["f_max"])
            s["x_prev"], s["x"], s["f"], s["g"] = s["x"], z, f_new, g_new
            if i + 1 in checkpoints:
                halve = ((s["successes"] < rho * (i + 1 - last_checkpoint))                  # condition 1
                         | ((s["eta"] == s["eta_checked"]) & (s["f_max"] == s["f_max_checked"])))  # condition 2
                s["eta"] = np.where(halve, s["eta"] / 2.0, s["eta"])
                s["x"] = np.where(halve[:, None], s["x_max"], s["x"])           # on from the best point
                s["g"] = np.where(halve[:, None], s["g_max"], s["g"])
                s["f"] = np.where(halve, s["f_max"], s["f"])
                s["successes"] = np.zeros(rows.size)
                s["eta_checked"], s["f_max_checked"] = s["eta"].copy(), s["f_max"].copy()
                last_checkpoint = i + 1
            keep = judge(rows, z)
        better = s["f_max"] > best_value[rows]
        best[rows[better]] = s["x_max"][better]
        best_value[rows[better]] = s["f_max"][better]
    # rows misclassified before the attack never ran: their best point is X
    X_adv = best if best_loss else np.where(fooled[:, None], fooling, best)
    params = {"attack": "apgd", "eps": eps, "loss": loss, "steps": steps, "restarts": restarts, "rho": rho,
              "keep_success": keep_success, "best_loss": best_loss, "momentum": MOMENTUM,
              "checkpoints": checkpoints, "seed": seed, "targeted": False,
              "gradient_calls": objective.calls, "gradient_rows": objective.rows, "predict_calls": predict_calls}
    return _finish(model, X, X_adv, y, None, params)


# --------------------------------------------------------------------------
# Square attack
# --------------------------------------------------------------------------
def _square_fraction(p_init: float, iteration: int, iterations: int) -> float:
    """p at ``iteration`` of ``iterations``: p_init halved at P_HALVINGS of a 10,000-iteration run."""
    scaled = int(iteration / iterations * 10_000)
    return p_init / 2 ** sum(scaled > k for k in P_HALVINGS)


def _image_layout(image_shape, n_features) -> tuple[int, int, int]:
    """(height, width, channels) of the flattened rows (channels last)."""
    shape = (14, 14) if image_shape is None else tuple(check_int_sequence(image_shape, "image_shape", minimum=1,
                                                                          min_length=2, max_length=3))
    height, width, channels = (*shape, 1)[:3]
    if height * width * channels != n_features:
        raise ValueError(f"image_shape {shape} has {height * width * channels} values, but X has {n_features} "
                         f"features per row: pass image_shape=(height, width) or (height, width, channels)")
    return height, width, channels


def _margin(proba, labels):
    """p_y - max_(c != y) p_c row by row (the row is fooled when it is <= 0)."""
    rows = np.arange(labels.shape[0])
    others = proba.copy()
    others[rows, labels] = -np.inf
    return proba[rows, labels] - others.max(axis=1)


def square(model, X, y, eps, *, queries: int = 5000, p_init: float = 0.8, seed: int = 0,
           image_shape=None, keep_success: bool = True) -> AttackResult:
    """Untargeted L-inf Square attack (Andriushchenko et al. 2020, Algorithm 1), score-based.

    Parameters
    ----------
    model : object with ``predict_proba`` (or a ``predict`` that returns class probabilities)
        Gradients are not used.
    X : array_like, shape (n, d), values in [0, 1]
        Flattened images of ``image_shape``.
    y : array_like of int, shape (n,)
    eps : float in [0, 1]
    queries : int
        The budget per row: the stripes of the start and ``queries - 1`` square updates; a row
        fooled (margin <= 0) is not queried again unless ``keep_success`` is False.
    p_init : float in (0, 1]
        The initial fraction of pixels a square covers.
    seed : int
        Seeds the stripes and every iteration's windows and signs, one generator per
        iteration keyed by ``(seed, iteration)``, drawing for every row of the batch.
    image_shape : (height, width) or (height, width, channels), optional
        Default ``(14, 14)``, the paper's MNIST.
    keep_success : bool
        True: a row leaves the attack once its margin is <= 0.  False: every row spends the whole
        budget lowering its margin further, so that a randomised model's fooled rows lie deeper
        past its noisy decision boundary (the stronger attack on a randomised model; on a
        deterministic one it fools the same rows, at lower or equal margins).

    Returns
    -------
    AttackResult
        The lowest-margin point found per row (rows misclassified before the attack are returned
        unchanged); ``params["query_rows"]`` counts every row the attack sent to the model (the
        clean rows included), ``params["mean_queries"]`` the mean per row.
    """
    model, X, y, seed = _prepare(model, X, y, seed, gradients=False)
    eps = check_real(eps, "eps", minimum=0.0, maximum=1.0)
    queries = check_int(queries, "queries", minimum=1)
    p_init = check_real(p_init, "p_init", positive=True, maximum=1.0)
    keep_success = check_bool(keep_success, "keep_success")
    height, width, channels = _image_layout(image_shape, X.shape[1])
    n = X.shape[0]
    query_rows = np.zeros(n, dtype=np.int64)

    def margin(Z, rows):
        query_rows[rows] += 1
        proba = _proba(model, Z)
        if proba is None:
            raise TypeError("square needs the model's class probabilities (predict_proba, or a predict that "
                            "returns them)")
        return _margin(proba, y[rows])

    everyone = np.arange(n)
    best_margin = margin(X, everyone)
    best = X.copy()
    attacked = np.flatnonzero(best_margin > 0)      # rows misclassified before the attack stay as they are
    active = attacked
    if eps > 0 and active.size:
        stripes = np.random.default_rng([seed, 0]).choice([-eps, eps], size=(n, 1, width, channels))
        start = np.clip(X.reshape(n, height, width, channels) + stripes, 0.0, 1.0).reshape(n, -1)[active]
        best[active], best_margin[active] = start, margin(start, active)
    pixels = np.arange(height)[None, :, None], np.arange(width)[None, None, :]
    for i in range(1, queries if eps > 0 else 0):
        active = np.flatnonzero(best_margin > 0) if keep_success else attacked
        if active.size == 0:
            break
        side = int(round(math.sqrt(_square_fraction(p_init, i - 1, queries) * height * width)))
        side = min(max(side, 1), height, width)
        generator = np.random.default_rng([seed, i])
        top = generator.integers(0, height - side + 1, size=n)[active, None, None]
        left = generator.integers(0, width - side + 1, size=n)[active, None, None]
        window = ((pixels[0] >= top) & (pixels[0] < top + side) & (pixels[1] >= left)
                  & (pixels[1] < left + side))[..., None]
        clean = X[active].reshape(-1, height, width, channels)
        delta = best[active].reshape(clean.shape) - clean
        redraw = np.ones(active.size, dtype=bool)
        while redraw.any():             # a window that would change nothing is drawn again (new signs)
            signs = generator.choice([-eps, eps], size=(n, 1, 1, channels))[active]
            delta = np.where(window & redraw[:, None, None, None], signs, delta)
            candidate = np.clip(clean + delta, 0.0, 1.0)
            same = np.abs(candidate - best[active].reshape(clean.shape)) < 1e-7
            redraw = np.all(same | ~window, axis=(1, 2, 3))
        candidate = candidate.reshape(active.size, -1)
        new_margin = margin(candidate, active)
        improved = new_margin < best_margin[active]
        best[active[improved]] = candidate[improved]
        best_margin[active[improved]] = new_margin[improved]
    params = {"attack": "square", "eps": eps, "queries": queries, "p_init": p_init, "seed": seed,
              "image_shape": (height, width, channels), "targeted": False,
              "keep_success": keep_success, "query_rows": int(query_rows.sum()),
              "mean_queries": float(query_rows.mean())}
    return _finish(model, X, best, y, None, params)
