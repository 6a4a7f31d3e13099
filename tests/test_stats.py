"""KID and bootstrap intervals: against the formula, clean-fid and by Monte Carlo."""

import numpy as np
import pytest

from pyscale.paper.stats import bootstrap_interval, fid_interval, kid_from_features, kid_interval


def _direct_kid(x, y):
    """The unbiased squared MMD with k(a, b) = (a . b / d + 1)**3, written out term by term."""
    d, m = x.shape[1], x.shape[0]
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    return xx + yy - 2 * xy


def test_kid_with_one_subset_of_everything_is_the_formula():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 5)), rng.normal(0.3, 1.2, size=(30, 5))
    mean, std = kid_from_features(x, y, subsets=1, subset_size=30)
    assert mean == pytest.approx(_direct_kid(x, y), rel=1e-12) and std == 0.0
    many, spread = kid_from_features(x, y, subsets=50, subset_size=10, seed=3)
    assert spread > 0 and abs(many - mean) < 5 * spread


def test_kid_matches_clean_fid(cleanfid_function):
    kernel_distance = cleanfid_function("kernel_distance", {"np": np})
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 16)), rng.normal(0.2, 1.0, size=(40, 16))
    # with one subset of all features both are deterministic (a subset is then a permutation)
    ours, _ = kid_from_features(x, y, subsets=1, subset_size=1000)
    assert ours == pytest.approx(kernel_distance(x, y, num_subsets=1), rel=1e-10)


def test_bootstrap_interval_covers_at_the_stated_rate():
    """400 synthetic data sets: the 95 % interval of the mean covers the true mean 91-98 %.

    (The percentile bootstrap undercovers a little for small samples; 100 images, as in the
    smallest runs of the comparison, keep it near the nominal rate.)
    """
    rng = np.random.default_rng(2)
    hits = 0
    for k in range(400):
        x = rng.normal(1.0, 2.0, size=100)
        lo, hi = bootstrap_interval(lambda i, x=x: x[i].mean(), x.size, resamples=300, seed=k)
        hits += lo <= 1.0 <= hi
    assert 0.91 <= hits / 400 <= 0.98


def test_distance_intervals_contain_the_estimates_and_shrink_with_data():
    rng = np.random.default_rng(4)

    def width(n):
        a, b = rng.normal(size=(n, 6)), rng.normal(0.5, 1, size=(n, 6))
        f_lo, f_hi = fid_interval(a, b, resamples=100, seed=1)
        k_lo, k_hi = kid_interval(a, b, resamples=100, seed=1)
        assert k_lo < kid_from_features(a, b, subsets=1, subset_size=n)[0] < k_hi
        from pyscale.paper.fid import fid_from_features

        assert f_lo < fid_from_features(a, b) < f_hi
        return f_hi - f_lo

    assert width(400) < width(40)


def test_errors_name_the_parameter():
    x = np.zeros((5, 3))
    with pytest.raises(ValueError, match="features1"):
        kid_from_features(np.zeros(5), x)
    with pytest.raises(ValueError, match="dimension"):
        kid_from_features(x, np.zeros((5, 4)))
    with pytest.raises(TypeError, match="subsets"):
        kid_from_features(x, x, subsets=1.5)
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval(lambda i: 0.0, 5, level=1.5)
