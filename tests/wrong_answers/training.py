"""Plausible but wrong answers for the checkers in labkit/checks/training.py (one per checker)."""

WRONG = {
    "train_epoch": '''
def train_epoch(model, loader, loss_fn, optimizer, device):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device).float()
        loss = loss_fn(model(x)[:, 0], y)
        loss.backward()                      # no optimizer.zero_grad(): gradients pile up over the batches
        optimizer.step()
        total, count = total + loss.item() * len(x), count + len(x)
    return total / count
''',
    "reliability_curve": '''
import numpy as np
def reliability_curve(y_true, probs, n_bins):
    y_true, probs = np.asarray(y_true, float), np.asarray(probs, float)
    bins = (probs * n_bins).astype(int)     # a probability of exactly 1.0 gets a bin of its own
    used = np.unique(bins)
    return (np.array([y_true[bins == b].mean() for b in used]), np.array([probs[bins == b].mean() for b in used]))
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
    "focal_loss": '''
import torch
import torch.nn.functional as F
def focal_loss(logits, target, gamma, alpha):
    p = torch.sigmoid(logits)
    alpha_t = alpha * target + (1 - alpha) * (1 - target)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (alpha_t * (1 - p) ** gamma * bce).mean()   # (1 - p) instead of (1 - p_t): wrong for the negatives
''',
    "inverted_dropout": '''
import torch
def inverted_dropout(x, p, seed):
    gen = torch.Generator().manual_seed(seed)
    keep = torch.rand(x.shape, generator=gen) >= p
    return x * keep                               # no rescaling by 1 / (1 - p): the mean shrinks
''',
    "momentum_step": '''
def momentum_step(param, grad, velocity, lr, momentum):
    velocity = momentum * velocity + (1 - momentum) * grad   # an average of gradients, not torch's running sum
    return param - lr * velocity, velocity
''',
    "adam_step": '''
def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    return param - lr * m / (v.sqrt() + eps), m, v       # no bias correction
''',
}
