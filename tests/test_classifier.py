"""GLRClassifier: defaults that learn, scikit-learn conformance, sample weights, stopping, model files."""
import time
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris, make_blobs
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import glrnet
from glrnet.classifier import PAPER_PARAMS

# small enough that the whole scikit-learn check suite runs in a few seconds
SMALL = {"hidden_layer_sizes": (8,), "replications": 16, "epochs": 30, "predict_replications": 16, "n_threads": 1}


def _blobs(n=300, seed=0):
    X, y = make_blobs(n_samples=n, centers=3, random_state=seed)
    return StandardScaler().fit_transform(X), y


def _fit_quietly(clf, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(*args, **kwargs)


# ------------------------------------------------------------------------------------ defaults
@pytest.mark.parametrize("loader", [load_iris, load_digits], ids=["iris", "digits"])
def test_defaults_learn_small_tabular_data(loader, record_property):
    """The defaults cross-validate like scikit-learn's own classifiers (MLPClassifier: 0.95 / 0.94)."""
    X, y = loader(return_X_y=True)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)     # the defaults converge on these
        scores = cross_val_score(make_pipeline(StandardScaler(), glrnet.GLRClassifier()), X, y, error_score="raise")
    seconds = time.perf_counter() - start
    record_property("seconds", round(seconds, 2))
    print(f"{loader.__name__}: cross-validated accuracy {scores.mean():.3f} ({np.round(scores, 3)}) in {seconds:.1f} s")
    assert scores.mean() >= 0.9
    assert scores.min() >= 0.85


def test_defaults_are_a_noisy_glr_network():
    clf = glrnet.GLRClassifier().fit(*_blobs())
    assert clf.model_.noisy and all(n.scale == 2.0 for n in clf.model_.noises)
    assert clf.model_.activations[-1].name == "identity" and clf.model_.activations[0].name == "sigmoid"
    assert clf.predict_replications > 0 and clf.baseline


def test_the_papers_settings_are_one_parameter_set_away():
    clf = glrnet.GLRClassifier(**PAPER_PARAMS)
    p = clf.get_params()
    assert (p["replications"], p["epochs"], p["batch_size"], p["learning_rate"]) == (10_000, 12, 25, 0.1)
    assert (p["optimizer"], p["batch_reduction"], p["baseline"], p["output_activation"]) == ("sgd", "sum", False, None)
    assert (p["hidden_layer_sizes"], p["activation"], p["noise"], p["noise_scale"]) == ((20,), "sigmoid",
                                                                                        "gaussian", 2.0)
    # the paper's network runs all its epochs: the stopping rule never triggers
    small = _fit_quietly(clf.set_params(replications=20), *_blobs(100))
    assert small.n_iter_ == 12 and small.model_.activations[-1].name == "sigmoid"
    assert "PAPER_PARAMS" in glrnet.GLRClassifier.__doc__


# --------------------------------------------------------------------------------- conformance
def _expected_failed_checks(estimator):
    """Prediction noise is keyed by the row's position in the batch until MLP.predict_proba keys it by
    the row's content (a change under way elsewhere): only then are predictions of a subset or of a
    reordered batch those of the full batch.  The probe unmarks the two checks once it has landed."""
    X, y = _blobs(60)
    clf = _fit_quietly(clone(estimator).set_params(epochs=1), X, y)
    if np.array_equal(clf.predict_proba(X)[[5]], clf.predict_proba(X[[5]])):
        return {}
    reason = ("prediction noise keyed by row position; pending: MLP.predict_proba keying it by row content "
              "(predict(X)[i] == predict(X[[i]])[0])")
    return {"check_methods_subset_invariance": reason, "check_methods_sample_order_invariance": reason}


try:
    _CHECKS = parametrize_with_checks([glrnet.GLRClassifier(**SMALL)], expected_failed_checks=_expected_failed_checks)
except TypeError:                           # scikit-learn < 1.6: its older suite is not the reference
    _CHECKS = pytest.mark.skip(reason="the reference check suite is scikit-learn >= 1.6's")


@_CHECKS
def test_scikit_learn_conformance(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_noise_free_prediction_is_subset_invariant():
    X, y = _blobs()
    clf = _fit_quietly(glrnet.GLRClassifier(**{**SMALL, "predict_replications": 0}), X, y)
    full = clf.predict_proba(X)
    np.testing.assert_allclose(clf.predict_proba(X[10:20]), full[10:20], rtol=1e-12)
    np.testing.assert_allclose(clf.predict_proba(X[::-1]), full[::-1], rtol=1e-12)


def test_get_params_and_clone():
    clf = glrnet.GLRClassifier(hidden_layer_sizes=(7,), replications=64, epochs=2, noise_scale=1.5,
                               batch_reduction="sum", verbose=1)
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (7,) and params["noise_scale"] == 1.5
    assert params["batch_reduction"] == "sum" and params["verbose"] == 1
    copy = clone(clf)
    assert copy.get_params() == params
    copy.set_params(activation="threshold")
    assert copy.activation == "threshold" and clf.activation == "sigmoid"


def test_fit_predict_with_arbitrary_labels(default_data):
    d = default_data
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    clf = _fit_quietly(glrnet.GLRClassifier(epochs=5, predict_replications=50), d.X_train, names[d.y_train])
    assert set(clf.classes_) == set(names)
    proba = clf.predict_proba(d.X_test[:20])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert clf.predict(d.X_test[:5]).dtype == names.dtype
    assert clf.score(d.X_test, names[d.y_test]) > 0.7


def test_grid_search(default_data):
    d = default_data
    grid = GridSearchCV(glrnet.GLRClassifier(replications=64, epochs=1, predict_replications=0),
                        {"activation": ["sigmoid", "threshold"], "batch_reduction": ["mean", "sum"]}, cv=2)
    _fit_quietly(grid, d.X_train[:200], d.y_train[:200])
    assert grid.best_params_["activation"] in ("sigmoid", "threshold")
    assert len(grid.cv_results_["mean_test_score"]) == 4


@pytest.mark.parametrize("param, value, error", [
    ("replications", 0, ValueError), ("replications", 2.5, TypeError), ("activation", "softplus", ValueError),
    ("noise", "cauchy", ValueError), ("noise_scale", -1.0, ValueError), ("loss", "mse", ValueError),
    ("hidden_layer_sizes", (0,), ValueError), ("batch_size", 0, ValueError), ("baseline", "yes", TypeError),
    ("batch_reduction", "max", ValueError), ("early_stopping", "no", TypeError),
    ("validation_fraction", 1.0, ValueError), ("n_iter_no_change", 0, ValueError), ("tol", -1.0, ValueError),
    ("verbose", -1, ValueError),
])
def test_bad_parameters(param, value, error):
    clf = glrnet.GLRClassifier(epochs=1, replications=8).set_params(**{param: value})
    with pytest.raises(error, match=param):
        clf.fit(np.random.default_rng(0).random((10, 4)), np.arange(10) % 2)


def test_predict_before_fit():
    with pytest.raises(NotFittedError):
        glrnet.GLRClassifier().predict(np.zeros((1, 3)))


def test_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _blobs()
    frame = pd.DataFrame(X, columns=["a", "b"])
    clf = _fit_quietly(glrnet.GLRClassifier(**SMALL), frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, ["a", "b"])
    with pytest.warns(UserWarning, match="feature names"):
        np.testing.assert_array_equal(clf.predict(frame), clf.predict(X))
    with pytest.raises(ValueError, match="Feature names"):
        clf.predict(frame[["b", "a"]])
    with warnings.catch_warnings(), pytest.raises(ValueError, match="features"):
        warnings.simplefilter("ignore", UserWarning)        # "X does not have valid feature names"
        clf.predict(X[:, :1])
    assert not hasattr(_fit_quietly(glrnet.GLRClassifier(**SMALL), X, y), "feature_names_in_")


# ------------------------------------------------------------------------------ sample weights
def test_zero_weight_on_a_class_means_it_is_never_predicted():
    X, y = _blobs()
    clf = _fit_quietly(glrnet.GLRClassifier(**SMALL), X, y, sample_weight=(y != 2).astype(float))
    assert list(clf.classes_) == [0, 1, 2]                  # the class is known, never learnt
    assert set(clf.predict(X)) == {0, 1}
    assert clf.score(X[y != 2], y[y != 2]) > 0.9


def test_zero_weights_equal_training_on_the_rest():
    X, y = _blobs()
    keep = np.random.default_rng(3).random(len(y)) < 0.6
    weighted = _fit_quietly(glrnet.GLRClassifier(**SMALL), X, y, sample_weight=keep.astype(float))
    subset = _fit_quietly(glrnet.GLRClassifier(**SMALL), X[keep], y[keep])
    np.testing.assert_array_equal(weighted.predict_proba(X), subset.predict_proba(X))
    assert weighted.loss_curve_ == subset.loss_curve_


def test_integer_weights_equal_repeated_samples_and_scale_does_not_matter():
    X, y = _blobs(120)
    w = np.random.default_rng(4).integers(1, 4, len(y))
    repeated = _fit_quietly(glrnet.GLRClassifier(**SMALL), np.repeat(X, w, axis=0), np.repeat(y, w))
    shuffle = np.random.default_rng(5).permutation(len(y))      # the row order does not matter either
    weighted = _fit_quietly(glrnet.GLRClassifier(**SMALL), X[shuffle], y[shuffle], sample_weight=w[shuffle])
    np.testing.assert_array_equal(weighted.predict_proba(X), repeated.predict_proba(X))
    for scale in (5, 0.25):                                       # only the ratios of the weights matter
        scaled = _fit_quietly(glrnet.GLRClassifier(**SMALL), X, y, sample_weight=scale * w)
        np.testing.assert_array_equal(scaled.predict_proba(X), repeated.predict_proba(X))
    ones = _fit_quietly(glrnet.GLRClassifier(**SMALL), X, y, sample_weight=np.full(len(y), 0.5))
    plain = _fit_quietly(glrnet.GLRClassifier(**SMALL), X, y)
    np.testing.assert_array_equal(ones.predict_proba(X), plain.predict_proba(X))


def test_real_weights_resample_in_proportion():
    """Weights that are not integers: rows drawn with probability proportional to the weight, so a class
    weighted 9 times more than the others is predicted where the classes overlap."""
    X, y = make_blobs(n_samples=600, centers=[[0, 0], [1, 0]], cluster_std=1.0, random_state=0)
    weight = np.where(y == 0, 0.9, 0.1)
    plain = _fit_quietly(glrnet.GLRClassifier(**SMALL), X, y)
    weighted = _fit_quietly(glrnet.GLRClassifier(**SMALL), X, y, sample_weight=weight)
    assert np.mean(weighted.predict(X) == 0) > np.mean(plain.predict(X) == 0) + 0.2
    assert np.mean(weighted.predict(X) == 0) > 0.8


@pytest.mark.parametrize("make_weight, match", [
    (lambda y: np.zeros(len(y)), "zero"), (lambda y: -np.ones(len(y)), "(?i)negative"),
    (lambda y: np.ones(5), "sample_weight"), (lambda y: np.ones((len(y), 2)), "sample_weight|1D|1-D"),
    (lambda y: (y == 1).astype(float), "only one class"),
], ids=["all-zero", "negative", "length", "2-d", "one-class-left"])
def test_bad_sample_weights(make_weight, match):
    X, y = _blobs()
    with pytest.raises(ValueError, match=match):
        glrnet.GLRClassifier(**SMALL).fit(X, y, sample_weight=make_weight(y))


# ---------------------------------------------------------------------------- stopping, curves
def test_training_loss_stopping_and_curves():
    X, y = _blobs()
    clf = glrnet.GLRClassifier(**{**SMALL, "epochs": 300}).fit(X, y)
    assert 10 < clf.n_iter_ < 300
    assert len(clf.loss_curve_) == clf.n_iter_ == len(clf.history_.epoch)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] and clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None


def test_reaching_the_epoch_limit_warns():
    with pytest.warns(ConvergenceWarning, match="maximum epochs"):
        glrnet.GLRClassifier(**{**SMALL, "epochs": 3, "tol": 0.0}).fit(*_blobs())


def test_early_stopping_stops_early_and_keeps_the_best_epoch():
    X, y = _blobs()
    clf = glrnet.GLRClassifier(**{**SMALL, "epochs": 300, "early_stopping": True}).fit(X, y)
    assert clf.n_iter_ < 300
    assert len(clf.validation_scores_) == clf.n_iter_ and clf.best_loss_ is None
    assert clf.best_validation_score_ == max(clf.validation_scores_) >= 0.8
    best = int(np.argmax(clf.validation_scores_))               # the first epoch with the best score
    # the kept parameters are the best epoch's: a run stopped right there predicts the same
    again = _fit_quietly(glrnet.GLRClassifier(**{**SMALL, "epochs": best + 1, "early_stopping": True,
                                                 "n_iter_no_change": 1000}), X, y)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_early_stopping_with_given_validation_data():
    X, y = _blobs()
    Xv, yv = _blobs(90, seed=1)
    clf = glrnet.GLRClassifier(**{**SMALL, "epochs": 300, "early_stopping": True}).fit(X, y, X_val=Xv, y_val=yv)
    assert clf.n_iter_ < 300 and len(clf.history_.val_loss) == clf.n_iter_
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        glrnet.GLRClassifier(**SMALL).fit(X, y, X_val=Xv)
    with pytest.raises(ValueError, match="labels not seen"):
        glrnet.GLRClassifier(**SMALL).fit(X, y, X_val=Xv, y_val=yv + 7)


def test_batch_reduction_sum_steps_batch_size_times_further():
    X, y = _blobs()
    kw = {**SMALL, "optimizer": "sgd", "learning_rate": 0.004, "epochs": 2, "tol": 0.0}
    mean = _fit_quietly(glrnet.GLRClassifier(**{**kw, "learning_rate": 0.1}), X, y)
    total = _fit_quietly(glrnet.GLRClassifier(**{**kw, "batch_reduction": "sum"}), X, y)   # 0.004 * 25 = 0.1
    for a, b in zip(mean.model_.get_parameters(), total.model_.get_parameters()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)


def test_verbose_prints_every_epoch(capsys):
    _fit_quietly(glrnet.GLRClassifier(**{**SMALL, "epochs": 3, "verbose": 1}), *_blobs())
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Iteration")]
    assert len(lines) == 3 and "loss = " in lines[0]


# --------------------------------------------------------------------------------- model files
@pytest.mark.parametrize("labels", [np.array([3, 7, 11]), np.array(["cat", "dog", "emu"]),
                                    np.array([1.0, 2.0, 4.0]), np.array(["a", "bb", "ccc"], dtype=object)],
                         ids=["int", "str", "float", "object"])
def test_save_load_round_trip(tmp_path, labels):
    X, y = _blobs()
    clf = _fit_quietly(glrnet.GLRClassifier(**{**SMALL, "hidden_layer_sizes": (6, 5)}), X, labels[y])
    path = tmp_path / "clf.npz"
    clf.save(path)
    loaded = glrnet.GLRClassifier.load(path)
    assert loaded.get_params() == clf.get_params()
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    assert loaded.classes_.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert loaded.n_iter_ == clf.n_iter_ and loaded.loss_curve_ == clf.loss_curve_
    assert loaded.n_features_in_ == 2 and not hasattr(loaded, "feature_names_in_")
    # a loaded classifier is a working estimator: it refits and clones
    assert clone(loaded).get_params() == clf.get_params()


def test_save_load_keeps_feature_names(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = _blobs()
    frame = pd.DataFrame(X, columns=["x0", "x1"])
    clf = _fit_quietly(glrnet.GLRClassifier(**SMALL), frame, y)
    clf.save(tmp_path / "clf.npz")
    loaded = glrnet.GLRClassifier.load(tmp_path / "clf.npz")
    np.testing.assert_array_equal(loaded.feature_names_in_, clf.feature_names_in_)
    with pytest.raises(ValueError, match="Feature names"):
        loaded.predict(frame[["x1", "x0"]])


def test_load_refuses_a_plain_network_file(tmp_path):
    net = glrnet.MLP([2, 3, 2], "sigmoid", glrnet.Gaussian(1.0))
    net.save(tmp_path / "net.npz")
    with pytest.raises(ValueError, match="not a GLRClassifier"):
        glrnet.GLRClassifier.load(tmp_path / "net.npz")


def test_save_before_fit():
    with pytest.raises(NotFittedError):
        glrnet.GLRClassifier().save("never.npz")
