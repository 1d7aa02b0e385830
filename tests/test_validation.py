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


def test_sibling_share_tells_a_group_split_from_a_random_one():
    groups = np.repeat(np.arange(50), 8)
    order = np.random.default_rng(0).permutation(len(groups))
    assert validation.sibling_share(groups, order[:300], order[300:]) > 0.9
    splits = validation.split_by_group(groups, (0.6, 0.2, 0.2), seed=0)
    assert validation.sibling_share(groups, splits["train"], splits["test"]) == 0.0
    with pytest.raises(ValueError, match="empty"):
        validation.sibling_share(groups, order[:10], [])


def test_unpaired_bootstrap_covers_zero_for_one_population_and_finds_a_real_drop():
    """Pairs of independent test sets from one population: most 90 % intervals of the difference hold 0."""
    from labkit.metrics import roc_auc

    probability = lambda s: 1 / (1 + np.exp(-s))   # labkit's roc_auc takes probabilities
    covered = 0
    for seed in range(10):
        groups, labels, scores = _grouped(n_groups=60, seed=10 + 2 * seed)
        groups_b, labels_b, scores_b = _grouped(n_groups=60, seed=11 + 2 * seed)
        same = validation.unpaired_bootstrap(roc_auc, labels, probability(scores), labels_b, probability(scores_b),
                                             groups, groups_b, n_boot=200, level=0.9, seed=seed)
        covered += same.low <= 0 <= same.high
    assert covered >= 7, covered
    worse = scores_b + np.random.default_rng(3).normal(0, 2.0, len(scores_b))
    drop = validation.unpaired_bootstrap(roc_auc_score, labels, scores, labels_b, worse, groups, groups_b, n_boot=300)
    assert drop.low > 0
    assert drop.value == pytest.approx(roc_auc_score(labels, scores) - roc_auc_score(labels_b, worse))


def test_pairing_narrows_the_interval_of_a_difference():
    groups, labels, scores = _grouped(n_groups=60, seed=4)
    other = scores + np.random.default_rng(5).normal(0, 0.3, len(scores))
    paired, _ = validation.paired_bootstrap(roc_auc_score, labels, scores, other, groups, n_boot=300)
    unpaired = validation.unpaired_bootstrap(roc_auc_score, labels, scores, labels, other, groups, groups, n_boot=300)
    assert paired.high - paired.low < 0.7 * (unpaired.high - unpaired.low)


def test_subgroup_intervals_give_one_interval_per_subgroup():
    groups, labels, scores = _grouped(n_groups=60)
    sub = np.where(groups < 20, "small", "large")
    table = validation.subgroup_intervals(roc_auc_score, labels, scores, sub, groups, n_boot=200)
    assert list(table) == ["large", "small"]
    ci, n, n_groups = table["small"]
    assert n == 20 * 5 and n_groups == 20 and ci.low <= ci.value <= ci.high
    small = sub == "small"
    alone = validation.bootstrap_ci(roc_auc_score, labels[small], scores[small], groups[small], n_boot=200)
    assert (ci.value, ci.low, ci.high) == (alone.value, alone.low, alone.high)
    with pytest.raises(ValueError, match="subgroups"):
        validation.subgroup_intervals(roc_auc_score, labels, scores, sub[:5], groups)


def test_reporting_checklist_marks_missing_items_and_refuses_unknown_ones():
    lines, missing = validation.reporting_checklist({"data_source": "two hospitals", "split_unit": "patient"})
    assert len(lines) == len(validation.REPORTING_ITEMS) and lines[0].startswith("[x]")
    assert "data_source" not in missing and "calibration" in missing and "MISSING" in lines[-1]
    everything = {key: "stated" for key, _, _ in validation.REPORTING_ITEMS}
    assert validation.reporting_checklist(everything)[1] == []
    with pytest.raises(ValueError, match="unknown checklist items"):
        validation.reporting_checklist({"calibraton": "ECE 0.03"})
    with pytest.raises(TypeError, match="dict"):
        validation.reporting_checklist(["data_source"])
