"""labkit.metrics against scikit-learn and MONAI on random cases, plus edge cases and bad input."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk
from sklearn.calibration import calibration_curve

from labkit import metrics

SEEDS = range(5)


def _binary_case(seed, n=60):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]  # both classes present
    probs = np.round(rng.random(n), 2)  # rounding makes ties
    return y, probs, (probs >= 0.5).astype(int)


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_metrics_match_sklearn(seed):
    y, probs, pred = _binary_case(seed)
    assert metrics.accuracy(y, pred) == pytest.approx(sk.accuracy_score(y, pred))
    assert metrics.sensitivity(y, pred) == pytest.approx(sk.recall_score(y, pred))
    assert metrics.specificity(y, pred) == pytest.approx(sk.recall_score(1 - y, 1 - pred))
    assert metrics.ppv(y, pred) == pytest.approx(sk.precision_score(y, pred, zero_division=np.nan))
    assert metrics.npv(y, pred) == pytest.approx(sk.precision_score(1 - y, 1 - pred, zero_division=np.nan))
    assert metrics.f1(y, pred) == pytest.approx(sk.f1_score(y, pred))
    assert metrics.roc_auc(y, probs) == pytest.approx(sk.roc_auc_score(y, probs))
    np.testing.assert_array_equal(metrics.confusion_matrix(y, pred), sk.confusion_matrix(y, pred))


@pytest.mark.parametrize("seed", SEEDS)
def test_roc_curve_matches_sklearn(seed):
    y, probs, _ = _binary_case(seed)
    fpr, tpr, thr = metrics.roc_curve(y, probs)
    want_fpr, want_tpr, want_thr = sk.roc_curve(y, probs, drop_intermediate=False)
    np.testing.assert_allclose(fpr, want_fpr)
    np.testing.assert_allclose(tpr, want_tpr)
    np.testing.assert_allclose(thr[1:], want_thr[1:])
    assert np.isinf(thr[0])


@pytest.mark.parametrize("seed", SEEDS)
def test_multiclass_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = np.r_[0, 1, 2, rng.integers(0, 3, 80)]
    probs = rng.dirichlet([1, 1, 1], len(y))
    pred = probs.argmax(1)
    assert metrics.accuracy(y, probs) == pytest.approx(sk.accuracy_score(y, pred))  # scores -> argmax
    np.testing.assert_allclose(metrics.sensitivity(y, pred, average=None), sk.recall_score(y, pred, average=None))
    np.testing.assert_allclose(metrics.ppv(y, pred, average=None),
                               sk.precision_score(y, pred, average=None, zero_division=np.nan))
    assert metrics.f1(y, pred, average="macro") == pytest.approx(sk.f1_score(y, pred, average="macro"))
    assert metrics.roc_auc(y, probs) == pytest.approx(sk.roc_auc_score(y, probs, multi_class="ovr"))
    np.testing.assert_array_equal(metrics.confusion_matrix(y, pred, n_classes=3), sk.confusion_matrix(y, pred))


def test_torch_inputs_and_column_vectors():
    y, probs, pred = _binary_case(0)
    want = metrics.binary_report(y, probs)
    got = metrics.binary_report(torch.tensor(y)[:, None], torch.tensor(probs, dtype=torch.float32))
    assert got["roc_auc"] == pytest.approx(want["roc_auc"])
    assert got["sensitivity"] == pytest.approx(want["sensitivity"])
    assert metrics.roc_auc(y, np.stack([1 - probs, probs], 1)) == pytest.approx(want["roc_auc"])


def test_binary_report_keys_and_threshold():
    y, probs, _ = _binary_case(1)
    report = metrics.binary_report(y, probs, threshold=0.3)
    pred = (probs >= 0.3).astype(int)
    assert report["sensitivity"] == pytest.approx(sk.recall_score(y, pred))
    assert report["confusion_matrix"].shape == (2, 2)
    assert report["confusion_matrix"].sum() == report["n"] == len(y)
    assert {"accuracy", "specificity", "ppv", "npv", "f1", "prevalence", "threshold"} <= set(report)


def test_no_positives_gives_nan_with_warning():
    with pytest.warns(RuntimeWarning, match="sensitivity"):
        assert np.isnan(metrics.sensitivity([0, 0, 0], [0, 1, 0]))
    with pytest.warns(RuntimeWarning, match="roc_auc"):
        assert np.isnan(metrics.roc_auc([0, 0, 0], [0.1, 0.5, 0.9]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        report = metrics.binary_report([0, 0, 1], [0.1, 0.2, 0.3], threshold=0.9)
    assert np.isnan(report["ppv"]) and report["specificity"] == 1.0


@pytest.mark.parametrize("call, match", [
    (lambda: metrics.accuracy([0, 1, 1], [0, 1]), "shape"),
    (lambda: metrics.accuracy([], []), "empty"),
    (lambda: metrics.sensitivity([0, 2, 1], [0, 1, 1]), r"\{0, 1\}"),
    (lambda: metrics.roc_auc([0, 1, 1], [0.2, 1.5, 0.3]), r"\[0, 1\]"),
    (lambda: metrics.roc_auc([0, 1, 1], [0.2, 0.5]), "N=3"),
    (lambda: metrics.sensitivity([0, 1, 1], [0.2, 0.7, 0.9]), "integer"),
    (lambda: metrics.sensitivity([0, 1], [0, 1], average="micro"), "average"),
    (lambda: metrics.confusion_matrix([0, 3], [0, 1], n_classes=2), "n_classes"),
    (lambda: metrics.binary_report([0, 1], [0.2, 0.8], threshold=2), "threshold"),
    (lambda: metrics.dice_score(np.zeros((4, 4)), np.zeros((4, 5))), "same shape"),
    (lambda: metrics.dice_score(np.full((2, 2), 0.3), np.zeros((2, 2))), "integer"),
    (lambda: metrics.dice_score(np.full((2, 2), 2), np.zeros((2, 2))), "n_classes"),
])
def test_bad_input_raises_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _random_masks(seed, n_classes, shape=(3, 12, 12)):
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_classes, shape), rng.integers(0, n_classes, shape)


def _monai_dice(pred, target, n_classes):
    from monai.metrics import DiceMetric

    def one_hot(a):
        return torch.nn.functional.one_hot(torch.as_tensor(a), n_classes).permute(0, 3, 1, 2).float()

    metric = DiceMetric(include_background=True, reduction="none", ignore_empty=False)
    return metric(one_hot(pred), one_hot(target)).numpy()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n_classes", [2, 4])
def test_dice_matches_monai_per_image(seed, n_classes):
    pred, target = _random_masks(seed, n_classes)
    pred[0] = 0  # image 0: only background predicted, so some classes are absent
    got = metrics.dice_score(pred, target, n_classes=n_classes, per_image=True)
    np.testing.assert_allclose(got, _monai_dice(pred, target, n_classes), atol=1e-6)


def test_dice_and_iou_binary_values():
    pred = np.array([[1, 1, 0, 0]])
    target = np.array([[0, 1, 1, 0]])
    assert metrics.dice_score(pred, target) == pytest.approx(0.5)
    assert metrics.iou_score(pred, target) == pytest.approx(1 / 3)
    assert metrics.dice_score(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0  # nothing to find, nothing found
    assert metrics.dice_score(np.ones((3, 3)), np.zeros((3, 3))) == 0.0
    assert metrics.dice_score(torch.ones(2, 2, dtype=torch.bool), torch.ones(2, 2)) == 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=1, max_size=40))
def test_dice_iou_relation_property(pairs):
    pred, target = np.array(pairs).T
    dice, iou = metrics.dice_score(pred, target), metrics.iou_score(pred, target)
    assert 0 <= iou <= dice <= 1
    assert dice == pytest.approx(2 * iou / (1 + iou))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 20)), min_size=2, max_size=50))
def test_auc_properties(pairs):
    y, steps = np.array(pairs).T
    probs = steps / 20  # a grid of scores, so ties happen and 1 - p is exact
    if y.min() == y.max():
        return
    auc = metrics.roc_auc(y, probs)
    assert auc == pytest.approx(sk.roc_auc_score(y, probs))
    assert metrics.roc_auc(y, 1 - probs) == pytest.approx(1 - auc)  # flipping the score mirrors the AUC


@pytest.mark.parametrize("seed", SEEDS)
def test_calibration_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    probs = rng.random(200)
    y = (rng.random(200) < probs ** 1.5).astype(int)
    conf, rate, counts = metrics.calibration_bins(y, probs, n_bins=8)
    want_rate, want_conf = calibration_curve(y, probs, n_bins=8)
    np.testing.assert_allclose(rate[counts > 0], want_rate)
    np.testing.assert_allclose(conf[counts > 0], want_conf)
    ece = metrics.expected_calibration_error(y, probs, n_bins=8)
    assert ece == pytest.approx(np.sum(counts[counts > 0] * np.abs(want_rate - want_conf)) / 200)


def test_ece_perfect_and_worst():
    y = np.array([0, 1, 0, 1])
    assert metrics.expected_calibration_error(y, y.astype(float)) == 0.0
    assert metrics.expected_calibration_error(y, 1.0 - y) == 1.0
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    conf, rate, counts = metrics.calibration_bins([0, 1, 1], probs, n_bins=5)  # multi-class: top-label
    assert counts.sum() == 3 and np.nansum(rate * counts) == 2


@pytest.mark.parametrize("seed", SEEDS)
def test_precision_recall_brier_and_calibration_curve_match_sklearn(seed):
    y, probs, _ = _binary_case(seed)
    precision, recall, thresholds = metrics.precision_recall_curve(y, probs)
    want = sk.precision_recall_curve(y, probs)
    for got, expected in zip((precision, recall, thresholds), want):
        np.testing.assert_allclose(got, expected)
    assert metrics.average_precision(y, probs) == pytest.approx(sk.average_precision_score(y, probs))
    assert metrics.brier_score(y, probs) == pytest.approx(np.mean((probs - y) ** 2))
    observed, predicted = metrics.calibration_curve(y, probs, n_bins=8)
    want_observed, want_predicted = calibration_curve(y, probs, n_bins=8)
    np.testing.assert_allclose(observed, want_observed)
    np.testing.assert_allclose(predicted, want_predicted)
    conf, rate, counts = metrics.calibration_bins(y, probs, n_bins=8)  # the same bins, with their counts
    np.testing.assert_allclose(rate[counts > 0], observed)


def test_curves_and_scores_edge_cases():
    assert metrics.brier_score([0, 1], [0.0, 1.0]) == 0.0
    assert metrics.brier_score([0, 1, 1, 0], np.full(4, 0.5)) == pytest.approx(0.25)
    assert metrics.average_precision([0, 1, 1], [0.1, 0.8, 0.9]) == 1.0
    with pytest.warns(RuntimeWarning, match="average_precision"):
        assert np.isnan(metrics.average_precision([0, 0], [0.2, 0.4]))
    with pytest.warns(RuntimeWarning, match="roc_curve"):
        fpr, tpr, _ = metrics.roc_curve([1, 1], [0.2, 0.4])
    assert np.isnan(fpr).all()
    for call, match in ((lambda: metrics.brier_score([0, 1], [0.2, 1.3]), r"\[0, 1\]"),
                        (lambda: metrics.calibration_curve([0, 1], [0.2, 0.3], n_bins=0), "n_bins"),
                        (lambda: metrics.precision_recall_curve([0, 2], [0.2, 0.3]), r"\{0, 1\}")):
        with pytest.raises(ValueError, match=match):
            call()


def test_multiclass_specificity_and_npv_one_vs_rest():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0, 2])
    cm = sk.confusion_matrix(y, pred)
    tp = np.diag(cm)
    fp, fn = cm.sum(0) - tp, cm.sum(1) - tp
    tn = cm.sum() - tp - fp - fn
    np.testing.assert_allclose(metrics.specificity(y, pred, average=None), tn / (tn + fp))
    np.testing.assert_allclose(metrics.npv(y, pred, average=None), tn / (tn + fn))
    assert metrics.specificity(y, pred, average="macro") == pytest.approx(np.mean(tn / (tn + fp)))


@pytest.mark.parametrize("ties", [False, True])
def test_average_ranks_are_scipys_rankdata_exactly(ties):
    """roc_auc ranks with its own few lines (a bootstrap calls it thousands of times): the ranks must be scipy's,
    bit for bit, and the AUC scikit-learn's, with and without tied scores."""
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 10, 257):
        x = rng.integers(0, 4, n).astype(float) if ties else rng.random(n)
        assert np.array_equal(metrics._average_ranks(x), rankdata(x))
    y, p = rng.integers(0, 2, 400), rng.integers(0, 20, 400) / 19 if ties else rng.random(400)
    assert metrics.roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
