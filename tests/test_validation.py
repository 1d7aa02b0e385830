"""labkit.validation: group splits never share a group, intervals cover what they should, bad input is refused."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from labkit import validation


def _grouped(n_groups=60, per_group=5, seed=0):
    """Labels per group, scores that separate the classes with a per-group offset (so samples are correlated)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), per_group)
    labels = np.repeat(rng.integers(0, 2, n_groups), per_group)
    scores = labels + np.repeat(rng.normal(0, 0.8, n_groups), per_group) + rng.normal(0, 0.3, len(groups))
    return groups, labels, scores


@pytest.mark.parametrize("stratify", [False, True])
def test_split_by_group_keeps_groups_apart_and_uses_every_sample(stratify):
    groups, labels, _ = _grouped(n_groups=100)
    splits = validation.split_by_group(groups, seed=3, stratify=labels if stratify else None)
    sets = [set(groups[idx]) for idx in splits.values()]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert np.array_equal(np.sort(np.concatenate(list(splits.values()))), np.arange(len(groups)))
    assert 0.5 < len(splits["train"]) / len(groups) < 0.7
    if stratify:
        for idx in splits.values():
            assert abs(labels[idx].mean() - labels.mean()) < 0.1
    again = validation.split_by_group(groups, seed=3, stratify=labels if stratify else None)
    assert all(np.array_equal(splits[k], again[k]) for k in splits)


def test_split_by_group_rejects_bad_input():
    groups, labels, _ = _grouped()
    with pytest.raises(ValueError, match="summing to 1"):
        validation.split_by_group(groups, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="train > 0"):
        validation.split_by_group(groups, fractions=(0.0, 0.5, 0.5))
    with pytest.raises(ValueError, match="one label per sample"):
        validation.split_by_group(groups, stratify=labels[:10])
    with pytest.raises(ValueError, match="at least 3 groups"):
        validation.split_by_group([0, 0, 1, 1])


def test_a_zero_fraction_gives_an_empty_split():
    groups, labels, _ = _grouped()
    splits = validation.split_by_group(groups, fractions=(0.75, 0.0, 0.25), stratify=labels, seed=0)
    assert len(splits["val"]) == 0 and len(splits["train"]) + len(splits["test"]) == len(groups)
    assert not set(groups[splits["train"]]) & set(groups[splits["test"]])


def test_grouped_kfold_puts_every_group_in_one_test_fold():
    groups, labels, _ = _grouped(n_groups=50)
    folds = validation.grouped_kfold(groups, labels, n_splits=5, seed=0)
    tested = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(tested), np.arange(len(groups)))
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
    with pytest.raises(ValueError, match="n_splits"):
        validation.grouped_kfold(groups, labels, n_splits=1)


def test_grouped_bootstrap_is_wider_than_a_naive_one_for_correlated_samples():
    """Samples of one group move together: resampling samples as if independent understates the uncertainty."""
    groups, labels, scores = _grouped(n_groups=60, per_group=8)
    grouped = validation.bootstrap_ci(roc_auc_score, labels, scores, groups=groups, n_boot=400, seed=0)
    naive = validation.bootstrap_ci(roc_auc_score, labels, scores, n_boot=400, seed=0)
    assert grouped.low <= grouped.value <= grouped.high
    assert (grouped.high - grouped.low) > 1.5 * (naive.high - naive.low)
    assert grouped.value == pytest.approx(roc_auc_score(labels, scores))
    assert "CI" in str(grouped) and f"{grouped:.2f}".startswith(f"{grouped.value:.2f}")


def test_bootstrap_interval_covers_the_truth_at_about_its_level():
    """Coverage over repeated samples from a known population (the mean of a normal): about 90 % for 90 % CIs."""
    hits = 0
    for seed in range(60):
        x = np.random.default_rng(seed).normal(1.0, 1.0, 80)
        ci = validation.bootstrap_ci(lambda y, s: s.mean(), x, x, n_boot=300, level=0.9, seed=seed)
        hits += ci.low <= 1.0 <= ci.high
    assert 0.75 <= hits / 60 <= 0.98


def test_bootstrap_skips_undefined_resamples_and_counts_them():
    labels = np.array([0] * 3 + [1] * 3)
    ci = validation.bootstrap_ci(roc_auc_score, labels, np.arange(6.0), n_boot=200, seed=0)
    assert 0 < ci.n_used < 200 and ci.value == 1.0


def test_paired_bootstrap_tells_a_real_difference_from_none():
    groups, labels, scores = _grouped(n_groups=80)
    worse = scores + np.random.default_rng(1).normal(0, 1.5, len(scores))
    diff, share = validation.paired_bootstrap(roc_auc_score, labels, scores, worse, groups=groups, n_boot=300)
    assert diff.low > 0 and share < 0.05
    same, share_same = validation.paired_bootstrap(roc_auc_score, labels, scores, scores + 1e-9 * scores,
                                                   groups=groups, n_boot=100)
    assert same.low <= 0 <= same.high


@pytest.mark.parametrize("call", [
    lambda: validation.bootstrap_ci("auc", [0, 1], [0.1, 0.9]),
    lambda: validation.bootstrap_ci(roc_auc_score, [0, 1, 1], [0.1, 0.9]),
    lambda: validation.bootstrap_ci(roc_auc_score, [0, 1], [0.1, 0.9], groups=[1]),
    lambda: validation.bootstrap_ci(roc_auc_score, [0, 1], [0.1, 0.9], level=95),
    lambda: validation.paired_bootstrap(roc_auc_score, [0, 1], [0.1, 0.9], [0.2]),
])
def test_bad_input_gets_a_clear_error(call):
    with pytest.raises((TypeError, ValueError), match="must|need"):
        call()
