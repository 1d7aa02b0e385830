"""Checkers for Part IV, evaluation and data quality: lessons 17_evaluation_validation and 18_data_quality."""

import numpy as np

from labkit.checks.framework import CheckFailed, call, checker, expect_close, expect_true, to_array

__all__ = ["paired_bootstrap_ci", "expected_calibration_error", "fit_temperature", "rank_by_loss", "cohens_kappa"]


def _two_models(seed, n_groups=40, per_group=6):
    """Labels per group and two models' scores on the same samples: both share each group's difficulty (a large
    common offset), and model A also has a smaller offset of its own per group, so the difference varies less
    than either score but still from group to group."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), per_group)
    labels = np.repeat(np.arange(n_groups) % 2, per_group)
    shared = labels + np.repeat(rng.normal(0, 1.0, n_groups), per_group)
    own = np.repeat(rng.normal(0, 0.4, n_groups), per_group)
    scores_a = shared + own + 0.4 * labels + rng.normal(0, 0.1, len(groups))
    scores_b = shared + rng.normal(0, 0.1, len(groups))
    return labels, scores_a, scores_b, groups


def _interval(out, what):
    values = to_array(out, what).ravel()
    expect_true(values.shape == (2,), f"{what} should be a pair (low, high), got {values.size} numbers")
    expect_true(np.all(np.isfinite(values)) and values[0] <= values[1], f"{what} should be finite with low <= high, "
                f"got {values.tolist()}")
    return values


def _separation(y, s):
    """Mean score of the positives minus mean score of the negatives (cheap, defined on every resample)."""
    return float(np.mean(s[y == 1]) - np.mean(s[y == 0]))


@checker(hint="Pair the two models: in every resample, draw whole groups with replacement once, and score BOTH "
              "models on those same samples; the interval is made of the differences.",
         formula="members = [np.flatnonzero(groups == g) for g in np.unique(groups)]; per resample: pick = "
              "rng.integers(len(members), size=len(members)); idx = np.concatenate([members[k] for k in pick]); "
              "diffs.append(metric(y_true[idx], scores_a[idx]) - metric(y_true[idx], scores_b[idx])); then "
              "np.percentile(diffs, [50 * (1 - level), 50 * (1 + level)])")
def paired_bootstrap_ci(answer):
    """Paired percentile bootstrap over groups, compared with labkit.validation.paired_bootstrap and with an
    unpaired and a patch-level version (Monte-Carlo tolerance)."""
    from labkit import validation

    for seed, level in ((0, 0.95), (1, 0.95), (2, 0.9)):
        y, a, b, g = _two_models(seed)
        ref, _ = validation.paired_bootstrap(_separation, y, a, b, g, n_boot=1000, level=level, seed=seed)
        unpaired = validation.unpaired_bootstrap(_separation, y, a, y, b, g, g, n_boot=1000, level=level, seed=seed)
        single, _ = validation.paired_bootstrap(_separation, y, a, b, None, n_boot=1000, level=level, seed=seed)
        low, high = _interval(call(answer, _separation, y, a, b, g, n_boot=1000, level=level, seed=seed),
                              "paired_bootstrap_ci(...)")
        width = ref.high - ref.low
        expect_true(high - low < 0.6 * (unpaired.high - unpaired.low),
                    f"your interval ({low:.3f}, {high:.3f}) is as wide as one that resamples the two models "
                    f"separately ({unpaired.low:.3f}, {unpaired.high:.3f}); the paired interval is "
                    f"({ref.low:.3f}, {ref.high:.3f})")
        expect_true(high - low > 1.2 * (single.high - single.low),
                    f"your interval ({low:.3f}, {high:.3f}) is as narrow as one that resamples single samples "
                    f"({single.low:.3f}, {single.high:.3f}); resample whole groups")
        expect_true(abs(low - ref.low) < 0.25 * width and abs(high - ref.high) < 0.25 * width,
                    f"with level={level} your interval ({low:.3f}, {high:.3f}) should be about "
                    f"({ref.low:.3f}, {ref.high:.3f})")


@checker(hint="Cut [0, 1] into n_bins equal bins; in each, compare the share of positives with the mean predicted "
              "probability, and average the gaps weighted by how many cases fall in each bin.",
         formula="bins = np.minimum((probs * n_bins).astype(int), n_bins - 1); ece = sum over non-empty bins b of "
              "(count_b / N) * abs(y_true[bins == b].mean() - probs[bins == b].mean())")
def expected_calibration_error(answer):
    """ECE with equal-width bins, compared with labkit.metrics.expected_calibration_error (away from bin edges)."""
    from labkit import metrics

    rng = np.random.default_rng(5)
    for n, n_bins, power in ((400, 10, 1.0), (250, 5, 3.0), (60, 15, 0.3)):
        probs = np.round(rng.random(n) ** power, 6) * 0.998 + 0.001
        probs = np.where(np.isclose(probs * n_bins, np.round(probs * n_bins)), probs + 1e-4, probs)
        y = (rng.random(n) < probs ** 1.5).astype(np.int64)
        want = metrics.expected_calibration_error(y, probs, n_bins)
        expect_close(call(answer, y, probs, n_bins=n_bins), want, f"expected_calibration_error(n_bins={n_bins})",
                     atol=1e-9)


def _logits_with_temperature(seed, true_t):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, 600)
    y = (rng.random(600) < 1 / (1 + np.exp(-z / true_t))).astype(np.int64)
    return z, y


@checker(hint="Temperature scaling divides every logit by one number T and chooses the T that makes the "
              "validation labels most likely (smallest log loss). Search over T > 0.",
         formula="nll(T) = -mean(y * log(sigmoid(z / T)) + (1 - y) * log(1 - sigmoid(z / T))); e.g. evaluate it on "
              "T = np.exp(np.linspace(np.log(0.05), np.log(20), 4000)) and return the T with the smallest nll "
              "(or use scipy.optimize.minimize_scalar).")
def fit_temperature(answer):
    """Fitted temperature, compared with labkit.calibration.fit_temperature (scipy's bounded minimiser)."""
    from labkit import calibration

    for seed, true_t in ((0, 2.5), (1, 0.6), (2, 1.0)):
        z, y = _logits_with_temperature(seed, true_t)
        want = calibration.fit_temperature(z, y)
        got = to_array(call(answer, z, y), "fit_temperature(logits, y_true)")
        expect_true(got.size == 1, f"fit_temperature should return one number, got {got.size}")
        expect_close(got.reshape(()), want, f"fit_temperature (data made with T = {true_t})", atol=0, rtol=0.01)


@checker(hint="A label is suspicious when the out-of-fold model gives it a low probability: compute the "
              "cross-entropy of the given label per sample and sort from the largest loss down.",
         formula="p_label = np.where(labels == 1, probs, 1 - probs); loss = -np.log(p_label); "
              "return np.argsort(-loss, kind='stable')")
def rank_by_loss(answer):
    """Ranking by descending per-sample loss of the given label, compared with labkit.quality.rank_by_loss."""
    from labkit import quality

    rng = np.random.default_rng(11)
    for n in (50, 7, 300):
        probs = rng.uniform(0.001, 0.999, n)
        labels = rng.integers(0, 2, n)
        got = to_array(call(answer, probs, labels), f"rank_by_loss (n={n})")
        want = quality.rank_by_loss(probs, labels)
        expect_true(got.shape == want.shape, f"rank_by_loss should return {n} indices, got shape {got.shape}")
        if not np.array_equal(got.astype(np.int64), want):
            first = int(np.argmax(got.astype(np.int64) != want))
            raise CheckFailed(f"the rankings differ from position {first} on (n={n}); the most suspicious sample "
                              f"should come first")


@checker(hint="Kappa corrects the raters' observed agreement for the agreement they would reach by chance, given "
              "how often each of them uses each label.",
         formula="p_o = mean(a == b); p_e = sum over classes c of mean(a == c) * mean(b == c); "
              "kappa = (p_o - p_e) / (1 - p_e)")
def cohens_kappa(answer):
    """Cohen's kappa, compared with scikit-learn's cohen_kappa_score."""
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(12)
    for n, n_classes, disagree in ((200, 2, 0.2), (80, 2, 0.5), (150, 3, 0.3), (40, 2, 0.0)):
        a = rng.integers(0, n_classes, n)
        b = np.where(rng.random(n) < disagree, rng.integers(0, n_classes, n), a)
        a[0], b[0] = 0, 1   # never two identical constant raters
        expect_close(call(answer, a, b), cohen_kappa_score(a, b), f"cohens_kappa ({n_classes} classes)", atol=1e-9)
