"""Plausible but wrong answers for the checkers in labkit/checks/training.py (one per checker)."""

WRONG = {
    "confusion_counts": '''
import numpy as np
def confusion_counts(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    tp = np.sum((y_true == 1) & (y_pred == 1))
    fp = np.sum((y_true == 1) & (y_pred == 0))   # FP and FN swapped
    fn = np.sum((y_true == 0) & (y_pred == 1))
    tn = np.sum((y_true == 0) & (y_pred == 0))
    return tp, fp, fn, tn
''',
    "sensitivity_specificity": '''
import numpy as np
def sensitivity_specificity(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    tp = np.sum((y_true == 1) & (y_pred == 1))
    tn = np.sum((y_true == 0) & (y_pred == 0))
    return tp / max(np.sum(y_pred == 1), 1), tn / np.sum(y_true == 0)   # PPV, not sensitivity
''',
    "roc_auc_by_ranking": '''
import numpy as np
def roc_auc_by_ranking(y_true, scores):
    y_true, scores = np.asarray(y_true), np.asarray(scores)
    pos, neg = scores[y_true == 1], scores[y_true == 0]
    return float(np.mean(pos[:, None] > neg[None, :]))   # ties count as losses, not halves
''',
    "early_stopping_epoch": '''
import numpy as np
def early_stopping_epoch(val_losses, patience):
    return int(np.argmin(val_losses))   # the overall minimum: ignores that training stopped before it
''',
    "dihedral_augment": '''
import torch
def dihedral_augment(images, seed):
    gen = torch.Generator().manual_seed(seed)
    flips = torch.rand(len(images), generator=gen) < 0.5   # flips only: 2 of the 8 rotations/flips
    return torch.stack([im.flip(-1) if f else im for im, f in zip(images, flips)])
''',
    "log_uniform_sample": '''
import numpy as np
def log_uniform_sample(low, high, n, seed):
    return np.random.default_rng(seed).uniform(low, high, n)   # uniform, not log-uniform
''',
    "lr_range_suggestion": '''
import numpy as np
def lr_range_suggestion(lrs, losses):
    return float(lrs[np.argmin(losses)] / 10)   # np.argmin stops at the first NaN of a diverged run
''',
    "weighted_bce": '''
import torch
import torch.nn.functional as F
def weighted_bce(logits, target, pos_weight):
    loss = -(target * F.logsigmoid(logits) + pos_weight * (1 - target) * F.logsigmoid(-logits))   # weights the negatives
    return loss.mean()
''',
    "soft_dice_loss": '''
import torch
def soft_dice_loss(probs, target, smooth=1e-5):
    intersection = (probs * target).sum()   # one Dice for the whole batch, not per sample and channel
    return 1 - (2 * intersection + smooth) / (probs.sum() + target.sum() + smooth)
''',
}
