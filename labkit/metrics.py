"""Evaluation metrics for classification, segmentation and calibration (NumPy in and out; torch tensors accepted).

Classification metrics introduced in 05_classification.ipynb, which computes each one by hand first (counts,
ROC and precision-recall curves, AUC, Brier score, reliability diagram) and compares it with these. Where
scikit-learn has the metric, this module checks the input, calls scikit-learn (imported inside the function) and
returns NumPy: confusion matrix, recall/precision/F1, ROC curve, precision-recall curve and average precision,
Brier score, calibration curve. Two metrics stay on NumPy/SciPy because bootstrap intervals and every training
epoch call them thousands of times, and scikit-learn's input checks make each call 10-25 times slower:
``accuracy`` (a mean) and ``roc_auc`` (the Mann-Whitney rank formula, exact with ties); the tests hold both equal
to scikit-learn's ``accuracy_score`` and ``roc_auc_score``. ``dice_score`` and ``iou_score`` introduced in
10_segmentation.ipynb; ``expected_calibration_error`` in 17_evaluation_validation.ipynb.

Conventions: ``y_true`` (N,) integer labels; ``y_pred`` (N,) hard labels; ``probs`` (N,) probability of class 1
(binary) or (N, C) class probabilities (multi-class), all in [0, 1]. Binary metrics (``average="binary"``) need
labels in {0, 1} and return a float; ``average=None`` gives one value per class (one-vs-rest, shape (C,)) and
``average="macro"`` their mean. A ratio whose denominator is zero (for example sensitivity with no positives)
is ``nan`` with a ``RuntimeWarning``: it is undefined, not zero.
"""

import warnings

import numpy as np

__all__ = ["accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "recall", "precision", "confusion_matrix",
           "roc_curve", "roc_auc", "precision_recall_curve", "average_precision", "brier_score", "calibration_curve",
           "binary_report", "dice_score", "iou_score", "calibration_bins", "expected_calibration_error", "to_numpy"]


def to_numpy(x, name="input"):
    """Convert a torch tensor (any device), list or array to a NumPy array (no copy when already NumPy)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    if isinstance(x, (str, bytes, dict, set)) or x is None:
        raise TypeError(f"{name} must be an array or tensor, got {type(x).__name__}")
    return np.asarray(x)


def _squeeze_column(a):
    return a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a


def _labels(x, name):
    """(N,) integer labels from an array-like; (N, 1) is accepted."""
    a = _squeeze_column(to_numpy(x, name))
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D labels (N,), got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if a.dtype == bool:
        return a.astype(np.int64)
    if not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
        raise ValueError(f"{name} must hold integer class labels, got dtype {a.dtype} with non-integer values "
                         "(threshold probabilities first, e.g. probs >= 0.5)")
    if a.min() < 0:
        raise ValueError(f"{name} must hold labels >= 0, got minimum {a.min()}")
    return a.astype(np.int64)


def _pair(y_true, y_pred, binary):
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {t.shape} vs {p.shape}")
    if binary:
        for name, a in (("y_true", t), ("y_pred", p)):
            if a.max() > 1:
                raise ValueError(f"binary metric: {name} must be in {{0, 1}}, got values {np.unique(a)[:6]}; "
                                 "for multi-class use average=None or 'macro'")
    return t, p


def _probs(probs, n):
    """Probabilities (N,) or (N, C) in [0, 1] matching ``n`` samples."""
    p = _squeeze_column(to_numpy(probs, "probs")).astype(np.float64)
    if p.ndim not in (1, 2) or len(p) != n:
        raise ValueError(f"probs must be (N,) or (N, C) with N={n} like y_true, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ValueError(f"probs must lie in [0, 1] (apply sigmoid/softmax to logits), got range "
                         f"[{np.nanmin(p):.3g}, {np.nanmax(p):.3g}]")
    return p


def _sklearn():
    """scikit-learn's metrics module, imported on first use (keeps ``import labkit`` cheap)."""
    from sklearn import metrics as sk

    return sk


def _quiet(fn, *args, **kwargs):
    """Call a scikit-learn function with its warnings silenced (this module warns in its own words)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _n_classes(t, p, n_classes=None):
    top = int(max(t.max(), p.max()))
    c = max(top + 1, 2) if n_classes is None else int(n_classes)
    if top >= c:
        raise ValueError(f"labels must be < n_classes={c}, got maximum {top}")
    return c


def confusion_matrix(y_true, y_pred, n_classes=None):
    """(C, C) int64 counts, rows = true class, columns = predicted class (binary: [[TN, FP], [FN, TP]]).

    ``n_classes`` defaults to the largest label + 1 (at least 2). scikit-learn's ``confusion_matrix``.
    """
    t, p = _pair(y_true, y_pred, binary=False)
    labels = np.arange(_n_classes(t, p, n_classes))
    return _sklearn().confusion_matrix(t, p, labels=labels).astype(np.int64)


def _check_average(average):
    if average not in ("binary", None, "macro"):
        raise ValueError(f"average must be 'binary', None or 'macro', got {average!r}")


def _per_class(y_true, y_pred, average, compute, what):
    """``compute(t, p, labels)`` -> per-class values (C,); nan entries warn as undefined; then ``average``."""
    _check_average(average)
    t, p = _pair(y_true, y_pred, binary=average == "binary")
    labels = np.arange(2 if average == "binary" else _n_classes(t, p))
    values = np.asarray(compute(t, p, labels), dtype=np.float64)
    if np.isnan(values[1] if average == "binary" else values).any():
        warnings.warn(f"{what} is undefined (nan): its denominator is zero", RuntimeWarning, stacklevel=3)
    if average == "binary":
        return float(values[1])
    if average == "macro":
        return float(np.nanmean(values)) if not np.all(np.isnan(values)) else float("nan")
    return values


def _sk_score(name):
    """A per-class scikit-learn score (recall_score, precision_score, f1_score) with nan for 0 / 0."""
    return lambda t, p, labels: _quiet(getattr(_sklearn(), name), t, p, labels=labels, average=None,
                                       zero_division=np.nan)


def _from_counts(ratio):
    """Per-class one-vs-rest ratio from scikit-learn's multilabel_confusion_matrix ((C, 2, 2): [[TN, FP], [FN, TP]])."""
    def compute(t, p, labels):
        (tn, fp), (fn, tp) = np.moveaxis(_sklearn().multilabel_confusion_matrix(t, p, labels=labels), 0, -1)
        num, den = ratio(tp, fp, fn, tn)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return compute


def accuracy(y_true, y_pred):
    """Fraction of correct labels (float in [0, 1]). ``y_pred``: labels (N,) or scores (N, C) (argmax taken)."""
    pred = to_numpy(y_pred, "y_pred")
    if pred.ndim == 2 and pred.shape[1] > 1:
        pred = pred.argmax(1)
    t, p = _pair(y_true, pred, binary=False)
    return float(np.mean(t == p))


def sensitivity(y_true, y_pred, average="binary"):
    """Recall, true-positive rate TP / (TP + FN): the share of diseased cases found (scikit-learn's recall_score)."""
    return _per_class(y_true, y_pred, average, _sk_score("recall_score"), "sensitivity (no positives in y_true)")


def specificity(y_true, y_pred, average="binary"):
    """True-negative rate TN / (TN + FP): the share of healthy cases cleared (the recall of the negatives)."""
    return _per_class(y_true, y_pred, average, _from_counts(lambda tp, fp, fn, tn: (tn, tn + fp)),
                      "specificity (no negatives in y_true)")


def ppv(y_true, y_pred, average="binary"):
    """Positive predictive value (precision) TP / (TP + FP): how often a positive call is right
    (scikit-learn's precision_score)."""
    return _per_class(y_true, y_pred, average, _sk_score("precision_score"), "ppv (no positive predictions)")


def npv(y_true, y_pred, average="binary"):
    """Negative predictive value TN / (TN + FN): how often a negative call is right."""
    return _per_class(y_true, y_pred, average, _from_counts(lambda tp, fp, fn, tn: (tn, tn + fn)),
                      "npv (no negative predictions)")


def f1(y_true, y_pred, average="binary"):
    """F1 = 2 TP / (2 TP + FP + FN), the harmonic mean of PPV and sensitivity (scikit-learn's f1_score)."""
    return _per_class(y_true, y_pred, average, _sk_score("f1_score"), "f1 (no positives at all)")


recall, precision = sensitivity, ppv


def _binary_scores(y_true, probs):
    t = _labels(y_true, "y_true")
    return _as_binary(t, _probs(probs, len(t)))


def _as_binary(t, p):
    """Checked labels t (N,) and probabilities p (N,), (N, 1) or (N, 2) -> (t, positive-class probabilities)."""
    if p.ndim == 2:
        if p.shape[1] != 2:
            raise ValueError(f"binary probs must be (N,), (N, 1) or (N, 2), got shape {p.shape}")
        p = p[:, 1]
    if t.max() > 1:
        raise ValueError(f"binary y_true must be in {{0, 1}}, got values {np.unique(t)[:6]}")
    return t, p


def _both_classes(t, what):
    """True when y_true holds both classes; otherwise warn that ``what`` is undefined."""
    if 0 < t.sum() < len(t):
        return True
    warnings.warn(f"{what} is undefined (nan) when y_true holds one class only", RuntimeWarning, stacklevel=3)
    return False


def roc_curve(y_true, probs):
    """ROC curve of binary ``probs`` (N,): returns ``(fpr, tpr, thresholds)``, 1-D float arrays from (0, 0)
    (threshold inf) to (1, 1), one point per distinct threshold (a case is positive when prob >= threshold).

    scikit-learn's ``roc_curve(..., drop_intermediate=False)``; with one class in y_true the missing rate is nan.
    """
    t, p = _binary_scores(y_true, probs)
    _both_classes(t, "roc_curve's missing rate")
    fpr, tpr, thresholds = _quiet(_sklearn().roc_curve, t, p, drop_intermediate=False)
    return fpr.astype(np.float64), tpr.astype(np.float64), thresholds.astype(np.float64)


def roc_auc(y_true, probs):
    """Area under the ROC curve (float in [0, 1], 0.5 = chance; ties count half): the probability that a positive
    outscores a negative, by the Mann-Whitney rank formula (equal to scikit-learn's roc_auc_score, and fast).

    Binary: ``probs`` (N,), (N, 1) or (N, 2). Multi-class: ``probs`` (N, C), the mean of one-vs-rest AUCs
    (as sklearn's ``multi_class='ovr'``); a class absent from y_true is left out of the mean, with a warning.
    """
    t = _labels(y_true, "y_true")
    p = _probs(probs, len(t))
    if p.ndim == 2 and p.shape[1] > 2:
        if t.max() >= p.shape[1]:
            raise ValueError(f"y_true has label {t.max()} but probs has only {p.shape[1]} columns")
        return float(np.nanmean([_auc_binary((t == c).astype(np.int64), p[:, c]) for c in range(p.shape[1])]))
    return _auc_binary(*_as_binary(t, p))


def _average_ranks(x):
    """Ranks 1..N of the finite 1-D array x, tied values given their mean rank: scipy.stats.rankdata(x) exactly
    (the same float64 values), without its per-call overhead, which counts in a bootstrap of thousands of AUCs."""
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    starts = np.ones(len(x) + 1, dtype=bool)   # where each run of ties starts, and the end
    np.not_equal(sorted_x[1:], sorted_x[:-1], out=starts[1:-1])
    edges = np.flatnonzero(starts)
    ranks = np.empty(len(x))
    ranks[order] = np.repeat((edges[:-1] + edges[1:] + 1) / 2, np.diff(edges))   # mean of ranks start+1 .. end
    return ranks


def _auc_binary(t, p):
    """AUC = (sum of the positives' ranks - n_pos (n_pos + 1) / 2) / (n_pos n_neg), ties given their mean rank."""
    if not _both_classes(t, "roc_auc"):
        return float("nan")
    n_pos = int(t.sum())
    return float((_average_ranks(p)[t == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (len(t) - n_pos)))


def precision_recall_curve(y_true, probs):
    """Precision-recall curve of binary ``probs`` (N,): returns ``(precision, recall, thresholds)``.

    scikit-learn's ``precision_recall_curve``: thresholds ascending (one per distinct probability); precision and
    recall have one more entry, ending at (precision 1, recall 0) with no threshold. Recall is sensitivity,
    precision is PPV. Chance level is the prevalence, not 0.5.
    """
    t, p = _binary_scores(y_true, probs)
    if not t.any():
        warnings.warn("precision_recall_curve: no positives in y_true, recall is undefined", RuntimeWarning,
                      stacklevel=2)
    return tuple(a.astype(np.float64) for a in _quiet(_sklearn().precision_recall_curve, t, p))


def average_precision(y_true, probs):
    """Average precision, the step-wise area under the precision-recall curve: sum over thresholds of
    (recall gained) x precision (scikit-learn's average_precision_score). Float in [0, 1]; chance = prevalence."""
    t, p = _binary_scores(y_true, probs)
    if not t.any():
        warnings.warn("average_precision is undefined (nan) without positives", RuntimeWarning, stacklevel=2)
        return float("nan")
    return float(_sklearn().average_precision_score(t, p))


def brier_score(y_true, probs):
    """Brier score: the mean squared difference between probability and outcome, mean (p - y)^2 (float in [0, 1];
    0 is perfect, 0.25 is a constant 0.5). A proper scoring rule: it rewards calibration and ranking together.
    Binary ``probs`` (N,), (N, 1) or (N, 2); scikit-learn's brier_score_loss."""
    t, p = _binary_scores(y_true, probs)
    return float(_sklearn().brier_score_loss(t, p, labels=[0, 1]))


def calibration_curve(y_true, probs, n_bins=10):
    """Reliability-diagram points of binary ``probs``: ``(observed_rate, mean_predicted)`` per non-empty bin of
    ``n_bins`` equal-width bins on [0, 1] (scikit-learn's ``calibration_curve``, strategy 'uniform'). A calibrated
    model has observed_rate close to mean_predicted in every bin. :func:`calibration_bins` also gives the counts."""
    if not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r}")
    from sklearn.calibration import calibration_curve as sk_calibration_curve

    t, p = _binary_scores(y_true, probs)
    rate, predicted = _quiet(sk_calibration_curve, t, p, n_bins=n_bins, strategy="uniform")
    return rate.astype(np.float64), predicted.astype(np.float64)


def binary_report(y_true, probs, threshold=0.5):
    """All binary metrics at ``threshold`` (a case is positive when prob >= threshold) as a dict.

    Keys: n, prevalence, threshold, accuracy, sensitivity, specificity, ppv, npv, f1, roc_auc (floats) and
    confusion_matrix ((2, 2) int64). Undefined ratios are nan (with a warning).
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    t, p = _binary_scores(y_true, probs)
    pred = (p >= threshold).astype(np.int64)
    report = {"n": len(t), "prevalence": float(t.mean()), "threshold": float(threshold)}
    for name, fn in (("accuracy", accuracy), ("sensitivity", sensitivity), ("specificity", specificity),
                     ("ppv", ppv), ("npv", npv), ("f1", f1)):
        report[name] = fn(t, pred)
    report["roc_auc"] = _auc_binary(t, p)
    report["confusion_matrix"] = confusion_matrix(t, pred, n_classes=2)
    return report


def _masks(pred, target, n_classes):
    pr, tg = to_numpy(pred, "pred"), to_numpy(target, "target")
    if pr.shape != tg.shape:
        raise ValueError(f"pred and target must have the same shape, got {pr.shape} and {tg.shape} "
                         "(pass label maps, not one-hot or logits)")
    if pr.size == 0:
        raise ValueError("pred and target are empty")
    for name, a in (("pred", pr), ("target", tg)):
        if a.dtype != bool and (not np.issubdtype(a.dtype, np.number) or np.any(a != np.round(a)) or a.min() < 0):
            raise ValueError(f"{name} must be a mask of integer labels >= 0 (threshold probabilities first), "
                             f"got dtype {a.dtype}, range [{a.min()}, {a.max()}]")
    pr, tg = pr.astype(np.int64), tg.astype(np.int64)
    top = max(pr.max(), tg.max())
    if n_classes is None and top > 1:
        raise ValueError(f"labels go up to {top}: pass n_classes for a multi-class mask")
    if n_classes is not None and top >= n_classes:
        raise ValueError(f"labels must be < n_classes={n_classes}, got {top}")
    return pr, tg


def _overlap(pred, target, n_classes, per_image, iou):
    pr, tg = _masks(pred, target, n_classes)
    if per_image:
        return np.stack([_overlap(a, b, n_classes, False, iou) for a, b in zip(pr, tg)])
    classes = range(n_classes) if n_classes is not None else [1]
    out = []
    for c in classes:
        a, b = pr == c, tg == c
        inter, total = np.sum(a & b), np.sum(a) + np.sum(b)
        den = total - inter if iou else total
        out.append(1.0 if den == 0 else (inter if iou else 2 * inter) / den)
    return float(out[0]) if n_classes is None else np.array(out)


def dice_score(pred, target, n_classes=None, per_image=False):
    """Dice overlap 2|A∩B| / (|A| + |B|) of label masks ``pred`` and ``target`` (same shape, integer labels).

    Binary masks (bool or {0, 1}) give the foreground Dice (float). With ``n_classes`` the result is one value
    per class, background included (float64 (C,)). ``per_image=True`` treats the first axis as the batch and
    returns (N,) or (N, C). A class absent from both masks scores 1.0 (nothing to find, nothing found).
    """
    return _overlap(pred, target, n_classes, per_image, iou=False)


def iou_score(pred, target, n_classes=None, per_image=False):
    """Intersection over union |A∩B| / |A∪B| (Jaccard), same conventions as :func:`dice_score`."""
    return _overlap(pred, target, n_classes, per_image, iou=True)


def calibration_bins(y_true, probs, n_bins=10):
    """Reliability-diagram data with ``n_bins`` equal-width bins on [0, 1].

    Binary ``probs`` (N,): confidence = probability of class 1, outcome = y_true. Multi-class (N, C):
    confidence = top probability, outcome = whether the top class is right. Returns ``(mean_confidence,
    observed_rate, counts)``, each (n_bins,); empty bins hold nan and count 0.
    """
    if not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r}")
    t = _labels(y_true, "y_true")
    p = _probs(probs, len(t))
    if p.ndim == 2 and p.shape[1] > 1:
        conf, hit = p.max(1), (p.argmax(1) == t).astype(np.float64)
    else:
        t, conf = _binary_scores(t, p)
        hit = t.astype(np.float64)
    ids = np.searchsorted(np.linspace(0, 1, n_bins + 1)[1:-1], conf)
    counts = np.bincount(ids, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(ids, conf, n_bins) / counts
        rate = np.bincount(ids, hit, n_bins) / counts
    return mean_conf, rate, counts


def expected_calibration_error(y_true, probs, n_bins=10):
    """ECE: the count-weighted mean gap |observed rate - mean confidence| over the bins of
    :func:`calibration_bins` (float in [0, 1]; 0 = perfectly calibrated)."""
    conf, rate, counts = calibration_bins(y_true, probs, n_bins)
    filled = counts > 0
    return float(np.sum(counts[filled] * np.abs(rate[filled] - conf[filled])) / counts.sum())
