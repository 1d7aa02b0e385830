"""Plausible but wrong answers for the checkers in labkit/checks/evaluation.py (one per checker)."""

WRONG = {
    "paired_bootstrap_ci": '''
import numpy as np
def paired_bootstrap_ci(metric, y_true, scores_a, scores_b, groups, n_boot=1000, level=0.95, seed=0):
    rng = np.random.default_rng(seed)
    y_true, scores_a, scores_b, groups = map(np.asarray, (y_true, scores_a, scores_b, groups))
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    draw = lambda: np.concatenate([members[k] for k in rng.integers(len(members), size=len(members))])
    diffs = []
    for _ in range(n_boot):
        i, j = draw(), draw()   # each model on its own resample: the pairing is lost
        diffs.append(metric(y_true[i], scores_a[i]) - metric(y_true[j], scores_b[j]))
    return tuple(np.percentile(diffs, [50 * (1 - level), 50 * (1 + level)]))
''',
    "expected_calibration_error": '''
import numpy as np
def expected_calibration_error(y_true, probs, n_bins=10):
    y_true, probs = np.asarray(y_true), np.asarray(probs, dtype=float)
    bins = np.minimum((probs * n_bins).astype(int), n_bins - 1)
    gaps = [abs(y_true[bins == b].mean() - probs[bins == b].mean()) for b in range(n_bins) if np.any(bins == b)]
    return float(np.mean(gaps))   # every bin counts the same, however few cases it holds
''',
    "fit_temperature": '''
import numpy as np
def fit_temperature(logits, y_true):
    z, y = np.asarray(logits, dtype=float), np.asarray(y_true)
    temps = np.exp(np.linspace(np.log(0.05), np.log(20), 4000))
    def nll(t):
        p = np.clip(1 / (1 + np.exp(-z * t)), 1e-7, 1 - 1e-7)   # multiplies the logits instead of dividing
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(temps[np.argmin([nll(t) for t in temps])])
''',
    "rank_by_loss": '''
import numpy as np
def rank_by_loss(probs, labels):
    probs, labels = np.asarray(probs, dtype=float), np.asarray(labels)
    loss = -np.log(np.where(labels == 1, probs, 1 - probs))
    return np.argsort(loss, kind="stable")   # least suspicious first
''',
    "cohens_kappa": '''
import numpy as np
def cohens_kappa(a, b):
    return float(np.mean(np.asarray(a) == np.asarray(b)))   # raw agreement, no correction for chance
''',
}
