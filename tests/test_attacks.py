"""Tests for glrnet.robustness.attacks on a briefly trained BP network (MNIST 14x14)."""

import numpy as np
import pytest

import glrnet
from glrnet.method.network import baseline_network
from glrnet.robustness.attacks import AttackResult, accuracy_under_attack, eps_curve, fgsm, lbfgs, pgd

# L-inf bounds are checked up to a few ulps: (x + eps) - x need not equal eps in
# floating point, e.g. (0.7 + 0.2) - 0.7 = 0.20000000000000007.
ULP = 4 * np.finfo(np.float64).eps



@pytest.fixture(scope="module")
def surrogate(data):
    """The paper's two-hidden-layer BP surrogate (Fig. 4(b))."""
    Xtr, ytr, _, _ = data
    model = baseline_network([196, 40, 20, 10], "sigmoid", seed=1)
    glrnet.train(model, Xtr, ytr, epochs=8, learning_rate=0.1, optimizer="momentum", estimator="backprop", seed=1,
                 progress=False)
    return model


class ZeroGradModel:
    """A model whose input gradient vanishes everywhere."""

    n_classes = 10

    def loss_gradient(self, X, y):
        return np.ones(len(X)), np.zeros_like(X)

    def predict(self, X):
        return np.zeros(len(X), dtype=int)


def _in_ball_and_box(X_adv, X, eps):
    assert X_adv.shape == X.shape and X_adv.dtype == np.float64
    assert X_adv.min() >= 0.0 and X_adv.max() <= 1.0
    assert np.abs(X_adv - X).max() <= eps + ULP


# -------------------------------------------------------------- FGSM and PGD
@pytest.mark.parametrize("eps", [0.05, 0.1, 0.2, 0.3])
def test_fgsm_and_pgd_stay_in_eps_ball_and_box(net, data, eps):
    _, _, X, y = data
    X, y = X[:300], y[:300]
    r = fgsm(net, X, y, eps)
    _in_ball_and_box(r.X_adv, X, eps)
    # FGSM moves every pixel by exactly eps unless clipped at the box
    d = np.abs(r.X_adv - X)
    interior = (X - eps >= 0) & (X + eps <= 1) & (net.loss_gradient(X, y)[1] != 0)
    np.testing.assert_allclose(d[interior], eps, rtol=0, atol=ULP)
    for random_start in (True, False):
        _in_ball_and_box(pgd(net, X, y, eps, steps=10, random_start=random_start).X_adv, X, eps)


def test_fgsm_drops_accuracy(net, data):
    _, _, X, y = data
    clean = net.score(X, y)
    assert clean > 0.88
    acc = {eps: accuracy_under_attack(net, fgsm(net, X, y, eps), y) for eps in (0.1, 0.2)}
    assert acc[0.2] <= clean - 0.20  # the brief's minimum drop
    assert acc[0.2] < 0.25  # measured ~0.04: a white-box BP net is nearly always fooled
    assert acc[0.2] < acc[0.1] < clean


def test_fgsm_result_fields(net, data):
    _, _, X, y = data
    r = fgsm(net, X, y, 0.1)
    assert isinstance(r, AttackResult)
    pred_clean, pred_adv = net.predict(X), net.predict(r.X_adv)
    correct = pred_clean == y
    np.testing.assert_array_equal(r.clean_correct, correct)
    np.testing.assert_array_equal(r.success, pred_adv != y)
    assert r.success_rate == pytest.approx(np.mean(pred_adv[correct] != y[correct]))
    assert r.mean_l2 == pytest.approx(np.mean(np.linalg.norm(r.X_adv - X, axis=1)))
    assert r.unchanged_fraction == 0.0
    assert r.params == {"attack": "fgsm", "eps": 0.1, "targeted": False}
    np.testing.assert_array_equal(np.asarray(r), r.X_adv)


def test_pgd_at_least_as_strong_as_fgsm(net, data):
    _, _, X, y = data
    for eps in (0.05, 0.1):
        acc_fgsm = accuracy_under_attack(net, fgsm(net, X, y, eps), y)
        acc_pgd = accuracy_under_attack(net, pgd(net, X, y, eps), y)
        assert acc_pgd <= acc_fgsm


class AlternatingGradModel:
    """Ascends on even calls and descends on odd ones: a crude stand-in for a noisy gradient."""

    def __init__(self, net):
        self.net, self.n_classes, self.calls = net, net.n_classes, 0

    def loss_gradient(self, X, y):
        loss, grad = self.net.loss_gradient(X, y)
        self.calls += 1
        return loss, grad if self.calls % 2 else -grad

    def predict(self, X):
        return self.net.predict(X)


def test_pgd_keeps_the_first_successful_iterate(net, data):
    """Rows move independently, so a row the last iterate leaves correct and that keep_success
    never froze followed the same path in both runs, while a row fooled once stays fooled with
    keep_success: never lower success, and strictly higher when the path goes back and forth."""
    _, _, X, y = data
    X, y = X[:300], y[:300]
    kept = pgd(AlternatingGradModel(net), X, y, 0.1, step_size=0.1, steps=8, seed=2)
    last = pgd(AlternatingGradModel(net), X, y, 0.1, step_size=0.1, steps=8, seed=2, keep_success=False)
    assert kept.params["keep_success"] and not last.params["keep_success"]
    _in_ball_and_box(kept.X_adv, X, 0.1)
    assert np.all(kept.success >= last.success)
    assert kept.success.sum() > last.success.sum() + 10


class PositionalModel:
    """Predicts like the net, except that rows at odd positions of a batch are always correct: a stand-in
    for a noisy model whose noise is keyed by the row's position in the batch."""

    def __init__(self, net, y):
        self.net, self.y, self.n_classes = net, y, net.n_classes

    def loss_gradient(self, X, y):
        return self.net.loss_gradient(X, y)

    def predict(self, X):
        pred = self.net.predict(X)
        pred[1::2] = self.y[1::2]
        return pred


def test_pgd_judges_success_on_the_whole_batch(net, data):
    """keep_success must judge each row at its position in the batch, as the final evaluation does: here
    no odd row can be fooled, so none may be frozen, and every even row is attacked as without the model's
    quirk."""
    _, _, X, y = data
    X, y = X[:200], y[:200]
    result = pgd(PositionalModel(net, y), X, y, 0.1, steps=10, seed=1)
    plain = pgd(net, X, y, 0.1, steps=10, seed=1)
    never_frozen = pgd(net, X, y, 0.1, steps=10, seed=1, keep_success=False)
    np.testing.assert_array_equal(result.X_adv[1::2], never_frozen.X_adv[1::2])   # odd rows: every step taken
    np.testing.assert_array_equal(result.X_adv[0::2], plain.X_adv[0::2])
    assert not np.array_equal(plain.X_adv, never_frozen.X_adv)                     # freezing did happen


def test_pgd_is_seeded(net, data):
    _, _, X, y = data
    a = pgd(net, X[:50], y[:50], 0.1, steps=5, seed=3).X_adv
    b = pgd(net, X[:50], y[:50], 0.1, steps=5, seed=3).X_adv
    c = pgd(net, X[:50], y[:50], 0.1, steps=5, seed=4).X_adv
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_targeted_pgd_reaches_targets(net, data):
    _, _, X, y = data
    X, y = X[:200], y[:200]
    r = pgd(net, X, y, 0.2, target="random", seed=5)
    assert r.target is not None and np.all(r.target != y) and r.target.max() < 10
    np.testing.assert_array_equal(r.success, net.predict(r.X_adv) == r.target)
    assert r.success_rate > 0.8
    # different targets per image, seeded
    np.testing.assert_array_equal(r.target, pgd(net, X, y, 0.0, target="random", seed=5).target)


def test_zero_gradient_leaves_inputs_unchanged(data):
    _, _, X, y = data
    model = ZeroGradModel()
    r = fgsm(model, X[:20], y[:20], 0.3)
    assert r.unchanged_fraction == 1.0
    np.testing.assert_array_equal(r.X_adv, X[:20])
    r = pgd(model, X[:20], y[:20], 0.3, random_start=False)
    assert r.unchanged_fraction == 1.0
    assert r.mean_l2 == 0.0


def test_eps_zero_is_identity(net, data):
    _, _, X, y = data
    for r in (fgsm(net, X[:50], y[:50], 0.0), pgd(net, X[:50], y[:50], 0.0)):
        np.testing.assert_array_equal(r.X_adv, X[:50])
        assert r.unchanged_fraction == 1.0
        assert r.success_rate == 0.0


def test_fgsm_ignores_clipped_directions(net):
    # all-black images: pixels pushed below 0 are clipped back
    X = np.zeros((3, 196))
    r = fgsm(net, X, np.array([1, 2, 3]), 0.5)
    assert np.all(np.isin(r.X_adv, (0.0, 0.5)))


# ------------------------------------------------------------------- L-BFGS
def test_targeted_lbfgs_reaches_target_with_small_perturbation(net, data):
    _, _, X, y = data
    X, y = X[:50], y[:50]
    r = lbfgs(net, X, y, target="random", seed=0)
    assert r.target is not None and np.all(r.target != y)
    reached = net.predict(r.X_adv) == r.target
    assert reached.mean() >= 0.9
    assert r.X_adv.min() >= 0.0 and r.X_adv.max() <= 1.0
    # "small": below the L2 size of an eps = 0.1 FGSM perturbation, an attack
    # that is weaker (it fools the net on fewer images, and untargeted)
    assert r.params["mean_l2_success"] < fgsm(net, X, y, 0.1).mean_l2
    assert not np.any(np.isnan(r.params["c"][reached]))
    # failed images are returned unchanged
    failed = ~reached
    np.testing.assert_array_equal(r.X_adv[failed], X[failed])


def test_untargeted_lbfgs_lowers_accuracy(net, data):
    _, _, X, y = data
    X, y = X[50:100], y[50:100]
    clean = net.score(X, y)
    r = lbfgs(net, X, y)
    assert r.target is None
    assert accuracy_under_attack(net, r.X_adv, y) <= clean - 0.5
    assert r.success_rate >= 0.9
    assert r.mean_l2 < 2.0


def test_lbfgs_explicit_c_line_search(net, data):
    _, _, X, y = data
    X, y = X[:20], y[:20]
    targets = (y + 1) % 10
    r = lbfgs(net, X, y, target=targets, c_values=(0.01, 1.0, 0.1), max_iter=50)
    np.testing.assert_array_equal(r.target, targets)
    assert r.params["c_values"] == (1.0, 0.1, 0.01)
    assert set(np.unique(r.params["c"][r.success])) <= {1.0, 0.1, 0.01}
    assert r.success.mean() >= 0.9
    # a larger c (stronger penalty) must never give a larger perturbation on average
    small = lbfgs(net, X, y, target=targets, c_values=(1.0,), max_iter=50)
    large = lbfgs(net, X, y, target=targets, c_values=(0.01,), max_iter=50)
    both = small.success & large.success
    l2 = lambda res: np.linalg.norm(res.X_adv - X, axis=1)[both]  # noqa: E731
    assert both.sum() > 0 and l2(small).mean() < l2(large).mean()


def test_lbfgs_chunks_are_independent(net, data):
    _, _, X, y = data
    # images the net classifies correctly, so that no row is skipped as already adversarial
    # and the chunks of 10 are the same rows in both calls
    rows = np.flatnonzero(net.predict(X) == y)[:20]
    X, y = X[rows], y[rows]
    t = (y + 3) % 10
    whole = lbfgs(net, X, y, target=t, batch_size=10, search_steps=3, max_iter=30)
    parts = [lbfgs(net, X[i:i + 10], y[i:i + 10], target=t[i:i + 10], batch_size=None,
                   search_steps=3, max_iter=30) for i in (0, 10)]
    np.testing.assert_array_equal(whole.X_adv, np.vstack([p.X_adv for p in parts]))
    np.testing.assert_array_equal(whole.params["c"], np.concatenate([p.params["c"] for p in parts]))


# --------------------------------------------------------------- transfer
def test_eps_curve_transfer(net, surrogate, data):
    _, _, X, y = data
    X, y = X[:400], y[:400]
    eps_values = [0.0, 0.1, 0.2]
    curves = eps_curve(fgsm, surrogate, {"bp": net, "surrogate": surrogate}, X, y, eps_values)
    assert set(curves) == {"bp", "surrogate"}
    assert curves["bp"][0] == net.score(X, y)
    assert curves["surrogate"][0] == surrogate.score(X, y)
    for accs in curves.values():
        assert len(accs) == 3 and accs[0] > accs[1] > accs[2]
    # white-box (surrogate on itself) is stronger than transfer at eps = 0.1
    assert curves["surrogate"][1] < curves["bp"][1]
    # kwargs are forwarded
    pgd_curve = eps_curve(pgd, net, {"bp": net}, X, y, [0.1], steps=10)
    assert pgd_curve["bp"][0] <= curves["bp"][1]


# --------------------------------------------------------------- validation
@pytest.mark.parametrize("attack", [fgsm, pgd])
def test_bad_eps(net, data, attack):
    _, _, X, y = data
    X, y = X[:5], y[:5]
    with pytest.raises(ValueError, match="eps"):
        attack(net, X, y, -0.1)
    with pytest.raises(ValueError, match="eps"):
        attack(net, X, y, float("nan"))
    with pytest.raises(ValueError, match="eps"):
        attack(net, X, y, np.inf)
    with pytest.raises(TypeError, match="eps"):
        attack(net, X, y, "0.1")
    with pytest.raises(TypeError, match="eps"):
        attack(net, X, y, True)
    # inputs live in [0, 1]: a larger eps means nothing, and 1e308 used to be blamed on step_size
    for big in (1.5, 1e308):
        with pytest.raises(ValueError, match="eps must be <= 1"):
            attack(net, X, y, big)
    assert np.array_equal(attack(net, X, y, 1.0).X_adv.shape, X.shape)


def test_bad_eps_of_eps_curve(net, data):
    _, _, X, y = data
    with pytest.raises(ValueError, match="eps_values entry must be <= 1"):
        eps_curve(fgsm, net, {"bp": net}, X[:5], y[:5], [0.1, 1e308])


@pytest.mark.parametrize("attack", [
    lambda m, X, y: fgsm(m, X, y, 0.1),
    lambda m, X, y: pgd(m, X, y, 0.1, steps=2),
    lambda m, X, y: lbfgs(m, X, y, target="random", max_iter=2, search_steps=1),
])
def test_bad_inputs(net, data, attack):
    _, _, X, y = data
    X, y = X[:5].copy(), y[:5]
    with pytest.raises(ValueError, match=r"X values must lie in \[0, 1\]"):
        attack(net, X + 0.5, y)
    with pytest.raises(ValueError, match=r"X values must lie in \[0, 1\]"):
        attack(net, X - 0.5, y)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        attack(net, bad, y)
    with pytest.raises(ValueError, match="X must be 2-D"):
        attack(net, X.reshape(5, 14, 14), y)
    with pytest.raises(ValueError, match="y has 4 labels for 5 samples"):
        attack(net, X, y[:4])
    with pytest.raises(ValueError, match="y must be 1-D"):
        attack(net, X, y[:, None])
    with pytest.raises(ValueError, match=r"y must be in \[0, 10\)"):
        attack(net, X, np.full(5, 10))
    with pytest.raises(TypeError, match="model must provide a callable loss_gradient"):
        attack(object(), X, y)


def test_bad_attack_options(net, data):
    _, _, X, y = data
    X, y = X[:5], y[:5]
    with pytest.raises(ValueError, match="steps"):
        pgd(net, X, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="step_size"):
        pgd(net, X, y, 0.1, step_size=-1.0)
    with pytest.raises(TypeError, match="keep_success"):
        pgd(net, X, y, 0.1, keep_success=1)
    with pytest.raises(ValueError, match="target must differ"):
        fgsm(net, X, y, 0.1, target=y)
    with pytest.raises(ValueError, match="target must be None"):
        lbfgs(net, X, y, target="nearest")
    with pytest.raises(ValueError, match="target has 3 labels for 5 samples"):
        lbfgs(net, X, y, target=np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="c_values"):
        lbfgs(net, X, y, c_values=(1.0, -2.0))
    with pytest.raises(ValueError, match="c_values must not be empty"):
        lbfgs(net, X, y, c_values=())
    with pytest.raises(ValueError, match="max_iter"):
        lbfgs(net, X, y, max_iter=0)
    with pytest.raises(ValueError, match="batch_size"):
        lbfgs(net, X, y, batch_size=0)
    with pytest.raises(ValueError, match="search_steps"):
        lbfgs(net, X, y, search_steps=0)
    with pytest.raises(TypeError, match="untargeted lbfgs needs model.predict_proba"):
        lbfgs(ZeroGradModel(), X, y)
    with pytest.raises(TypeError, match="target_models"):
        eps_curve(fgsm, net, {}, X, y, [0.1])
    with pytest.raises(ValueError, match="eps_values entry"):
        eps_curve(fgsm, net, {"bp": net}, X, y, [0.1, -1.0])
    with pytest.raises(ValueError, match="X_adv values"):
        accuracy_under_attack(net, X + 2.0, y)


@pytest.mark.parametrize("attack", [
    lambda m, X, y, **kw: fgsm(m, X, y, 0.1, **kw),
    lambda m, X, y, **kw: pgd(m, X, y, 0.1, steps=2, **kw),
    lambda m, X, y, **kw: lbfgs(m, X, y, target="random", max_iter=2, search_steps=1, **kw),
])
def test_bad_seed(net, data, attack):
    """Seeds are checked by glrnet itself (not left to numpy), for every attack and target mode."""
    _, _, X, y = data
    X, y = X[:5], y[:5]
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        attack(net, X, y, seed=-1)
    with pytest.raises(TypeError, match="seed must be an integer, got float"):
        attack(net, X, y, seed=1.5)
    with pytest.raises(TypeError, match="seed must be an integer"):
        attack(net, X, y, seed=True)
    # None would make the random start non-deterministic: rejected, not drawn from the OS
    with pytest.raises(TypeError, match="seed must be an integer, got NoneType"):
        attack(net, X, y, seed=None)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        fgsm(net, X, y, 0.1, target="random", seed=-1)


@pytest.mark.parametrize("attack", [
    lambda m, X, y: fgsm(m, X, y, 0.1),
    lambda m, X, y: pgd(m, X, y, 0.1, steps=2),
    lambda m, X, y: lbfgs(m, X, y, target="random", max_iter=2, search_steps=1),
    lambda m, X, y: eps_curve(fgsm, m, {"bp": m}, X, y, [0.1]),
    lambda m, X, y: accuracy_under_attack(m, X, y),
])
def test_complex_string_and_object_inputs_are_rejected(net, data, attack):
    """Not silently converted: a complex array would lose its imaginary part, strings would be parsed."""
    _, _, X, y = data
    X, y = X[:5], y[:5]
    for bad in (X.astype(np.complex128), X + 0.1j, X.astype(str), X.astype(object)):
        with pytest.raises(TypeError, match=r"X(_adv)? must be a numeric \(real\) array"):
            attack(net, bad, y)


# ------------------------------------------------------------ foreign models
class GradientOnly:
    """A foreign model: loss_gradient returns the gradient alone (as ART's does), predict_proba only."""

    def __init__(self, net):
        self.net = net
        self.labels_seen = []

    def loss_gradient(self, X, y):
        self.labels_seen.append(np.asarray(y))
        return self.net.input_gradient(X, y)[1]

    def predict_proba(self, X):
        return self.net.predict_proba(X)


class ProbabilityPredict(GradientOnly):
    """predict returns class probabilities (as ART's predict does), no predict_proba."""

    def predict(self, X):
        return self.net.predict_proba(X)

    predict_proba = None


@pytest.mark.parametrize("foreign", [GradientOnly, ProbabilityPredict])
def test_attacks_accept_foreign_models(net, data, foreign):
    _, _, X, y = data
    X, y = X[:60], y[:60]
    model = foreign(net)
    np.testing.assert_array_equal(fgsm(model, X, y, 0.1).X_adv, fgsm(net, X, y, 0.1).X_adv)
    np.testing.assert_array_equal(pgd(model, X, y, 0.1, steps=5).X_adv, pgd(net, X, y, 0.1, steps=5).X_adv)
    assert model.labels_seen[0].ndim == 1            # class indices, not one-hot
    # L-BFGS needs the loss: the cross-entropy of the probabilities, which is the baseline's own loss
    kwargs = {"max_iter": 20, "search_steps": 2}
    np.testing.assert_allclose(lbfgs(model, X[:10], y[:10], **kwargs).X_adv, lbfgs(net, X[:10], y[:10], **kwargs).X_adv,
                               atol=1e-8)
    assert fgsm(model, X, y, 0.1, target="random").target is not None
    assert accuracy_under_attack(model, X, y) == pytest.approx(np.mean(net.predict(X) == y))
    curves = eps_curve(fgsm, model, {"foreign": model, "bp": net}, X, y, [0.0, 0.1])
    assert curves["foreign"] == curves["bp"]


def test_foreign_model_checks():
    class NoPredict:
        def loss_gradient(self, X, y):
            return np.zeros_like(X)

    X, y = np.full((3, 4), 0.5), np.array([0, 1, 0])
    with pytest.raises(TypeError, match="model must provide a callable predict"):
        fgsm(NoPredict(), X, y, 0.1)

    class LabelsOnly(NoPredict):
        def predict(self, X):
            return np.zeros(len(X), dtype=int)

    assert fgsm(LabelsOnly(), X, y, 0.1).unchanged_fraction == 1.0
    with pytest.raises(TypeError, match="cross-entropy of its predict_proba"):
        lbfgs(LabelsOnly(), X, y, target=np.array([1, 0, 1]), max_iter=2, search_steps=1)
