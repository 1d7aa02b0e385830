"""Plausible but wrong answers for the checkers in labkit/checks/collaboration.py (one per checker)."""

WRONG = {
    "forgetting_metrics": '''
import numpy as np
def forgetting_metrics(acc):
    acc = np.asarray(acc, dtype=float)
    last = len(acc) - 1
    bwt = np.mean(acc[last] - np.diag(acc))   # includes the last stage, whose difference is always 0
    forgetting = np.mean(acc[:last, :last].max(axis=0) - acc[last, :last])
    return float(bwt), float(forgetting)
''',
    "ewc_penalty": '''
import torch
def ewc_penalty(model, fisher, anchor):
    total = 0.0
    for name, p in model.named_parameters():
        total = total + (fisher[name] * (p - anchor[name])).abs().sum()   # |distance| instead of its square
    return total
''',
    "risk_coverage": '''
import numpy as np
def risk_coverage(errors, uncertainty):
    errors = np.asarray(errors, dtype=float)
    order = np.argsort(-np.asarray(uncertainty), kind="stable")   # most uncertain first: the wrong end
    k = np.arange(1, len(errors) + 1)
    return k / len(errors), np.cumsum(errors[order]) / k
''',
    "conformal_threshold": '''
import numpy as np
def conformal_threshold(cal_probs, cal_labels, alpha=0.1):
    probs, labels = np.asarray(cal_probs), np.asarray(cal_labels)
    scores = 1 - np.where(labels == 1, probs, 1 - probs)
    return float(np.quantile(scores, 1 - alpha))   # no finite-sample correction: covers less than 1 - alpha
''',
}
