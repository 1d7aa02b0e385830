"""Honest evaluation: splits that keep a group (patient, source image, crop group) in one split, and bootstrap
confidence intervals that resample those groups.

``split_by_group`` introduced in 05_classification.ipynb (built on scikit-learn's group splitters);
``bootstrap_ci`` introduced in 05_classification.ipynb (the lesson resamples patients by hand first);
``paired_bootstrap``, ``unpaired_bootstrap``, ``grouped_kfold``, ``sibling_share``, ``subgroup_intervals`` and the
reporting checklist introduced in 17_evaluation_validation.ipynb.

Why groups: two images of one patient share anatomy, scanner and answer. A split or a resample that separates
them treats one patient as two independent ones, which flatters a score (splits) or narrows an interval
(bootstrap).
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["Interval", "split_by_group", "grouped_kfold", "group_indices", "sibling_share", "bootstrap_ci",
           "paired_bootstrap", "unpaired_bootstrap", "subgroup_intervals", "REPORTING_ITEMS", "reporting_checklist"]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval: ``value`` in [``low``, ``high``] at ``level``.

    ``n_boot``: resamples drawn; ``n_used``: those where the metric was defined (e.g. both classes present).
    """

    value: float
    low: float
    high: float
    level: float = 0.95
    n_boot: int = 0
    n_used: int = 0

    def __str__(self):
        return f"{self.value:.3f} ({self.level:.0%} CI {self.low:.3f} to {self.high:.3f})"

    def __format__(self, spec):
        if not spec:
            return str(self)
        return f"{self.value:{spec}} ({self.level:.0%} CI {self.low:{spec}} to {self.high:{spec}})"


def _as_groups(groups, n=None, name="groups"):
    groups = np.asarray(groups)
    if groups.ndim != 1 or len(groups) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array (one group id per sample), got shape {groups.shape}")
    if n is not None and len(groups) != n:
        raise ValueError(f"{name} must have one entry per sample ({n}), got {len(groups)}")
    return groups


def _check_fractions(fractions):
    fractions = np.asarray(fractions, dtype=float)
    if fractions.shape != (3,) or np.any(fractions < 0) or fractions[0] <= 0 or not np.isclose(fractions.sum(), 1):
        raise ValueError(f"fractions must be 3 numbers (train, val, test) >= 0 summing to 1, train > 0, got "
                         f"{tuple(float(f) for f in np.atleast_1d(fractions))}")
    return fractions


def _holdout(index, groups, labels, fraction, seed):
    """(kept, held out) positions of ``index``: about ``fraction`` of the groups held out, by sklearn."""
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

    if labels is None:
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        kept, held = next(splitter.split(index, groups=groups[index]))
    else:
        n_splits = max(2, int(round(1 / fraction)))
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        kept, held = next(splitter.split(index, labels[index], groups=groups[index]))
    return index[kept], index[held]


def split_by_group(groups, fractions=(0.6, 0.2, 0.2), seed=0, stratify=None):
    """Split sample indices so that no group is in two splits -> {"train", "val", "test"} sorted index arrays.

    groups: (N,) group id per sample (patient, or for the course's generated data the crop group).
    stratify: optional (N,) labels; then scikit-learn's StratifiedGroupKFold keeps the class shares about
    equal in every split (its folds hold 1/k of the groups, so the test and validation fractions are
    rounded to 1/k). Without it, GroupShuffleSplit draws the groups. ``seed`` fixes the draw. A fraction of 0
    gives an empty split (e.g. ``(0.8, 0.0, 0.2)`` for a train/test split).
    """
    groups = _as_groups(groups)
    fractions = _check_fractions(fractions)
    labels = None if stratify is None else np.asarray(stratify)
    if labels is not None and labels.shape != groups.shape:
        raise ValueError(f"stratify must have one label per sample, shape {groups.shape}, got {labels.shape}")
    if len(np.unique(groups)) < 3:
        raise ValueError(f"need at least 3 groups to make 3 splits, got {len(np.unique(groups))}")
    none = np.array([], dtype=np.int64)
    rest, test = _holdout(np.arange(len(groups)), groups, labels, fractions[2], seed) if fractions[2] > 0 \
        else (np.arange(len(groups)), none)
    train, val = _holdout(rest, groups, labels, fractions[1] / (fractions[0] + fractions[1]), seed + 1) \
        if fractions[1] > 0 else (rest, none)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def grouped_kfold(groups, labels, n_splits=5, seed=0):
    """Patient-grouped, stratified k-fold cross-validation -> list of (train index, test index) pairs.

    scikit-learn's StratifiedGroupKFold: every group lies in exactly one test fold; class shares stay about equal.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    groups = _as_groups(groups)
    labels = np.asarray(labels)
    if labels.shape != groups.shape:
        raise ValueError(f"labels must have one entry per sample, shape {groups.shape}, got {labels.shape}")
    if not isinstance(n_splits, (int, np.integer)) or not 2 <= n_splits <= len(np.unique(groups)):
        raise ValueError(f"n_splits must be an int in [2, number of groups = {len(np.unique(groups))}], "
                         f"got {n_splits!r}")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [(np.sort(tr), np.sort(te)) for tr, te in splitter.split(np.zeros(len(labels)), labels, groups)]


def group_indices(groups):
    """List of index arrays, one per distinct group (in order of the sorted group ids)."""
    groups = _as_groups(groups)
    order = np.argsort(groups, kind="stable")
    _, starts = np.unique(groups[order], return_index=True)
    return np.split(order, starts[1:])


def sibling_share(groups, train_index, test_index):
    """Share of the test samples (float in [0, 1]) whose group also has a sample in the training set: 0 for a
    split by group, close to 1 for a random split of samples when every group holds several samples."""
    groups = _as_groups(groups)
    train_index, test_index = np.asarray(train_index, dtype=np.int64), np.asarray(test_index, dtype=np.int64)
    if len(test_index) == 0:
        raise ValueError("test_index must not be empty")
    return float(np.mean(np.isin(groups[test_index], groups[train_index])))


def _resample_indices(members, rng):
    """One cluster-bootstrap resample: as many groups as there are, drawn with replacement -> sample indices."""
    picked = rng.integers(len(members), size=len(members))
    return np.concatenate([members[g] for g in picked])


def _metric_value(metric, *arrays):
    try:
        value = float(metric(*arrays))
    except ValueError:   # e.g. a resample with one class only: the metric is undefined there
        return np.nan
    return value


def _check_metric_inputs(metric, y_true, predictions, groups):
    if not callable(metric):
        raise TypeError(f"metric must be a function (y_true, predictions) -> float, got {type(metric).__name__}")
    y_true = np.asarray(y_true)
    if y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(f"y_true must be a non-empty 1-D array, got shape {y_true.shape}")
    arrays = [np.asarray(p) for p in predictions]
    for p in arrays:
        if len(p) != len(y_true):
            raise ValueError(f"predictions must have one entry per sample ({len(y_true)}), got {len(p)}")
    groups = np.arange(len(y_true)) if groups is None else _as_groups(groups, len(y_true))
    return y_true, arrays, groups


def _percentiles(values, level):
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.nan, np.nan
    return tuple(np.percentile(finite, [50 * (1 - level), 50 * (1 + level)]))


def bootstrap_ci(metric, y_true, scores, groups=None, n_boot=1000, level=0.95, seed=0):
    """``metric(y_true, scores)`` with a percentile bootstrap interval that resamples whole groups -> Interval.

    groups: (N,) patient (or crop group) per sample; None resamples single samples, which is only right when
    every sample is its own patient. Resamples where the metric is undefined (ValueError, e.g. one class only)
    are left out and counted (``n_used``).
    """
    y_true, (scores,), groups = _check_metric_inputs(metric, y_true, [scores], groups)
    if not 0 < level < 1 or not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise ValueError(f"need 0 < level < 1 and an int n_boot >= 10, got level={level!r}, n_boot={n_boot!r}")
    members, rng = group_indices(groups), np.random.default_rng([seed, 107])
    values = np.array([_metric_value(metric, y_true[i], scores[i])
                       for i in (_resample_indices(members, rng) for _ in range(n_boot))])
    low, high = _percentiles(values, level)
    return Interval(_metric_value(metric, y_true, scores), low, high, level, n_boot, int(np.isfinite(values).sum()))


def paired_bootstrap(metric, y_true, scores_a, scores_b, groups=None, n_boot=1000, level=0.95, seed=0):
    """The difference ``metric(y, scores_a) - metric(y, scores_b)`` on the same cases, with a grouped percentile
    bootstrap interval -> (Interval of the difference, share of resamples where the difference is <= 0).

    Both models are scored on the same resample each time, so what they share (the hard cases) cancels: the
    interval is narrower than two separate intervals suggest. An interval that excludes 0 means the data
    support a difference; one that includes 0 means they do not (which is not proof of no difference).
    """
    y_true, (a, b), groups = _check_metric_inputs(metric, y_true, [scores_a, scores_b], groups)
    if not 0 < level < 1 or not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise ValueError(f"need 0 < level < 1 and an int n_boot >= 10, got level={level!r}, n_boot={n_boot!r}")
    members, rng = group_indices(groups), np.random.default_rng([seed, 108])
    diffs = []
    for _ in range(n_boot):
        i = _resample_indices(members, rng)
        diffs.append(_metric_value(metric, y_true[i], a[i]) - _metric_value(metric, y_true[i], b[i]))
    diffs = np.array(diffs)
    low, high = _percentiles(diffs, level)
    value = _metric_value(metric, y_true, a) - _metric_value(metric, y_true, b)
    finite = diffs[np.isfinite(diffs)]
    share = float(np.mean(finite <= 0)) if finite.size else np.nan
    return Interval(value, low, high, level, n_boot, int(finite.size)), share


def unpaired_bootstrap(metric, y_a, scores_a, y_b, scores_b, groups_a=None, groups_b=None, n_boot=1000, level=0.95,
                       seed=0):
    """The difference ``metric(y_a, scores_a) - metric(y_b, scores_b)`` between two *independent* sets of cases
    (e.g. an internal and an external test set, or two subgroups), each resampled by its own groups ->
    Interval of the difference.

    Use :func:`paired_bootstrap` instead when both scores belong to the same cases (two models, one test set).
    """
    y_a, (scores_a,), groups_a = _check_metric_inputs(metric, y_a, [scores_a], groups_a)
    y_b, (scores_b,), groups_b = _check_metric_inputs(metric, y_b, [scores_b], groups_b)
    if not 0 < level < 1 or not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise ValueError(f"need 0 < level < 1 and an int n_boot >= 10, got level={level!r}, n_boot={n_boot!r}")
    members_a, members_b, rng = group_indices(groups_a), group_indices(groups_b), np.random.default_rng([seed, 109])
    diffs = []
    for _ in range(n_boot):
        i, j = _resample_indices(members_a, rng), _resample_indices(members_b, rng)
        diffs.append(_metric_value(metric, y_a[i], scores_a[i]) - _metric_value(metric, y_b[j], scores_b[j]))
    diffs = np.array(diffs)
    low, high = _percentiles(diffs, level)
    value = _metric_value(metric, y_a, scores_a) - _metric_value(metric, y_b, scores_b)
    return Interval(value, low, high, level, n_boot, int(np.isfinite(diffs).sum()))


def subgroup_intervals(metric, y_true, scores, subgroups, groups=None, n_boot=1000, level=0.95, seed=0):
    """``metric`` with a grouped bootstrap interval per subgroup -> {subgroup: (Interval, n samples, n groups)},
    in sorted order of the subgroup names. A subgroup where the metric is undefined gets a nan interval."""
    y_true, (scores,), groups = _check_metric_inputs(metric, y_true, [scores], groups)
    subgroups = np.asarray(subgroups)
    if subgroups.shape != y_true.shape:
        raise ValueError(f"subgroups must have one entry per sample ({len(y_true)}), got shape {subgroups.shape}")
    table = {}
    for name in np.unique(subgroups):
        index = np.flatnonzero(subgroups == name)
        ci = bootstrap_ci(metric, y_true[index], scores[index], groups[index], n_boot, level, seed)
        table[name.item() if hasattr(name, "item") else name] = (ci, len(index), len(np.unique(groups[index])))
    return table


# What a report of a medical imaging model must state about its evaluation: a short selection of what TRIPOD+AI
# (Collins et al., BMJ 2024) and CLAIM (Mongan et al., Radiology: AI 2020; updated 2024) ask for, by topic
# (see the checklists themselves for their full wording and numbering).
REPORTING_ITEMS = (
    ("data_source", "Where the images come from, and who or what is in them", "TRIPOD+AI, CLAIM: data"),
    ("reference_standard", "How the labels (the ground truth) were made", "TRIPOD+AI: outcome; CLAIM: ground truth"),
    ("split_unit", "The unit of the split (patient, not image) and the size of each split",
     "TRIPOD+AI: analysis; CLAIM: data partitions"),
    ("model_selection", "What the validation data chose (epochs, threshold, temperature)",
     "TRIPOD+AI: analysis; CLAIM: training"),
    ("discrimination", "ROC-AUC, and sensitivity and specificity at a stated threshold, with confidence intervals",
     "TRIPOD+AI: model performance; CLAIM: evaluation"),
    ("calibration", "Calibration (reliability diagram, ECE), before and after any recalibration",
     "TRIPOD+AI: model performance"),
    ("external_test", "Performance on data from another site, with its uncertainty",
     "TRIPOD+AI: model evaluation; CLAIM: external testing"),
    ("subgroups", "Performance in relevant subgroups, with its uncertainty",
     "TRIPOD+AI: fairness, model performance; CLAIM: evaluation"),
    ("limitations", "What the evaluation does not test", "TRIPOD+AI, CLAIM: limitations"),
)


def reporting_checklist(answers):
    """Match ``answers`` (dict item key -> text) against :data:`REPORTING_ITEMS` -> (lines, missing keys).

    Each line is ``[x] what to state: the answer`` or ``[ ] what to state: MISSING (source)``. Unknown keys are
    refused, so a typo cannot hide a missing item.
    """
    if not isinstance(answers, dict):
        raise TypeError(f"answers must be a dict item -> text, got {type(answers).__name__}")
    known = [key for key, _, _ in REPORTING_ITEMS]
    unknown = sorted(set(answers) - set(known))
    if unknown:
        raise ValueError(f"unknown checklist items {unknown}; the items are {known}")
    lines, missing = [], []
    for key, what, source in REPORTING_ITEMS:
        text = str(answers.get(key) or "").strip()
        if text:
            lines.append(f"[x] {what}: {text}")
        else:
            lines.append(f"[ ] {what}: MISSING ({source})")
            missing.append(key)
    return lines, missing
