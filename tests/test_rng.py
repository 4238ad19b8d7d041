"""The counter-based generator and the noise families drawn from it."""
import numpy as np
import pytest
from scipy import stats

import glrnet
from glrnet import _glrcore


# Random123's kat_vectors for philox4x32 with 10 rounds: counter, key, expected output.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter, key, expected", KAT)
def test_philox_known_answers(counter, key, expected):
    assert _glrcore.philox4x32_10(counter, key) == expected


FAMILIES = [glrnet.Gaussian(2.0), glrnet.Laplace(1.5), glrnet.Logistic(0.8), glrnet.StudentT(5.0, 1.2)]


def _noise_model(family, width=8):
    return glrnet.MLP([3, width, 4], "sigmoid", family)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_noise_matches_its_distribution(family):
    """Kolmogorov-Smirnov against the exact law, 64,000 draws per unit position."""
    model = _noise_model(family)
    r = model.sample_noise(4, 16_000, seed=123, step=7)
    for level, values in enumerate(r):
        sample = values.reshape(-1).astype(np.float64)
        result = stats.kstest(sample, family.distribution().cdf)
        assert result.pvalue > 1e-4, (level, result)
        # the mean is 0 within a 5-sigma bound
        assert abs(sample.mean()) < 5 * np.sqrt(family.variance / sample.size)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_noise_units_uncorrelated(family):
    model = _noise_model(family)
    r = model.sample_noise(2, 20_000, seed=9)[0].reshape(-1, 8).astype(np.float64)
    corr = np.corrcoef(r, rowvar=False)
    off_diagonal = corr[~np.eye(8, dtype=bool)]
    # |rho| for independent units is ~ N(0, 1/n); 56 pairs, 5-sigma bound
    assert np.abs(off_diagonal).max() < 5 / np.sqrt(r.shape[0])


def test_noise_is_a_pure_function_of_seed_step_sample_replication():
    model = _noise_model(glrnet.Gaussian(1.0))
    a = model.sample_noise(3, 300, seed=1, step=2)
    b = model.sample_noise(3, 300, seed=1, step=2)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    other_step = model.sample_noise(3, 300, seed=1, step=3)
    other_seed = model.sample_noise(3, 300, seed=2**40 + 1, step=2)
    for x, y, z in zip(a, other_step, other_seed):
        assert not np.any(x == y)
        assert not np.any(x == z)
    # a larger batch or more replications extends the streams without changing them
    bigger = model.sample_noise(5, 700, seed=1, step=2)
    for x, y in zip(a, bigger):
        assert np.array_equal(x, y[:3, :300])


def test_antithetic_pairs_negate():
    model = _noise_model(glrnet.Laplace(1.0))
    r = model.sample_noise(2, 400, seed=4, antithetic=True)
    plain = model.sample_noise(2, 400, seed=4)
    for anti, base in zip(r, plain):
        assert np.array_equal(anti[:, 200:], -anti[:, :200])
        assert np.array_equal(anti[:, :200], base[:, :200])


def test_noise_of_a_replication_range_is_a_slice_of_the_whole():
    model = _noise_model(glrnet.Gaussian(1.0))
    for antithetic in (False, True):
        whole = model.sample_noise(3, 600, seed=5, step=1, antithetic=antithetic)
        part = model.sample_noise(3, 600, seed=5, step=1, antithetic=antithetic, first=250, count=300)
        for x, y in zip(whole, part):
            assert np.array_equal(x[:, 250:550], y)


def test_sample_keys_stand_for_the_row_index():
    from glrnet.method.network import row_keys

    model = _noise_model(glrnet.Logistic(1.0))
    by_index = model.sample_noise(10, 200, seed=3, step=2)
    keyed = model.sample_noise(3, 200, seed=3, step=2, sample_keys=np.array([5, 9, 5], dtype=np.uint32))
    for x, y in zip(by_index, keyed):
        assert np.array_equal(x[[5, 9, 5]], y)
    rng = np.random.default_rng(0)
    X = rng.random((2000, 7))
    keys = row_keys(X)
    assert keys.dtype == np.uint32 and len(np.unique(keys)) == len(X)
    assert np.array_equal(row_keys(X[::-1]), keys[::-1])
    assert row_keys(X[[3]])[0] == keys[3]
    assert row_keys(np.array([[0.0, 1.0]]))[0] == row_keys(np.array([[-0.0, 1.0]]))[0]
    assert row_keys(np.array([[0.0, 1.0]]))[0] != row_keys(np.array([[1.0, 0.0]]))[0]
