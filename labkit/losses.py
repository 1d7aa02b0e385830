"""Loss functions for imbalanced classification and segmentation, written out term by term.

Introduced in 06_loss_functions.ipynb, which derives each loss and compares it with PyTorch and MONAI.

Conventions: ``logits`` are raw model outputs (any real number); ``probs`` are probabilities in [0, 1];
``target`` holds labels in [0, 1] (binary masks or one-hot maps, soft labels allowed) with the shape of the
logits. A target of shape (N,) is accepted for logits (N, 1) and the other way round, so these functions work
as ``loss_fn`` of :func:`labkit.train.fit` (use ``functools.partial`` to fix ``pos_weight`` or ``gamma``).
``reduction`` is 'mean' (default), 'sum' or 'none' (one value per element; per sample and channel for Dice).
"""

import torch
import torch.nn.functional as F

__all__ = ["weighted_bce", "focal_loss", "soft_dice_loss", "dice_ce_loss"]

REDUCTIONS = ("mean", "sum", "none")


def _check_tensor(x, name):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty")


def _check_pair(values, target, name="logits"):
    """Validate ``values`` (float tensor) and ``target`` (same shape, labels in [0, 1]); return target as float."""
    _check_tensor(values, name)
    _check_tensor(target, "target")
    if not values.is_floating_point():
        raise TypeError(f"{name} must be a float tensor, got dtype {values.dtype}")
    if target.shape != values.shape:
        if target.numel() != values.numel() or values.dim() > 2 or target.dim() > 2:
            raise ValueError(f"target must have the shape of {name} {tuple(values.shape)}, got {tuple(target.shape)}")
        target = target.reshape(values.shape)
    target = target.to(values.dtype)
    if torch.isnan(target).any() or target.min() < 0 or target.max() > 1:
        raise ValueError(f"target must hold labels in [0, 1], got range [{target.min().item():.3g}, "
                         f"{target.max().item():.3g}]")
    return target


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def weighted_bce(logits, target, pos_weight=1.0, reduction="mean"):
    """Binary cross-entropy on logits with the positive term weighted by ``pos_weight``.

    loss = -(pos_weight * y * log sigmoid(z) + (1 - y) * log(1 - sigmoid(z))), using ``logsigmoid`` so large
    logits do not overflow (log(1 - sigmoid(z)) = logsigmoid(-z)). ``pos_weight`` > 0: a float, or a tensor
    broadcast along the last dimension (one weight per output); a common choice is n_negative / n_positive.
    Equals ``F.binary_cross_entropy_with_logits(logits, target, pos_weight=...)``; ``pos_weight=1`` is plain BCE.
    Introduced in 06_loss_functions.ipynb.
    """
    target = _check_pair(logits, target)
    pos_weight = torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    if torch.isnan(pos_weight).any() or (pos_weight <= 0).any():
        raise ValueError(f"pos_weight must be > 0, got {pos_weight.tolist()}")
    loss = -(pos_weight * target * F.logsigmoid(logits) + (1 - target) * F.logsigmoid(-logits))
    return _reduce(loss, reduction)


def focal_loss(logits, target, gamma=2.0, alpha=None, reduction="mean"):
    """Sigmoid focal loss (Lin et al., 2017): BCE scaled down by (1 - p_t) ** gamma for easy examples.

    p_t is the probability given to the true label (sigmoid(z) when y = 1, 1 - sigmoid(z) when y = 0), so a
    confident correct prediction contributes almost nothing and training focuses on hard cases. ``gamma`` >= 0
    (0 gives BCE); ``alpha`` in [0, 1] or None weights positives by alpha and negatives by 1 - alpha.
    Equals ``monai.losses.FocalLoss(gamma=gamma, alpha=alpha, use_softmax=False)`` and
    ``torchvision.ops.sigmoid_focal_loss`` for labels in {0, 1}. Introduced in 06_loss_functions.ipynb.
    """
    target = _check_pair(logits, target)
    if not gamma >= 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    bce = -(target * F.logsigmoid(logits) + (1 - target) * F.logsigmoid(-logits))
    log_one_minus_pt = F.logsigmoid(-logits * (2 * target - 1))  # log(1 - p_t), stable for large |z|
    loss = torch.exp(gamma * log_one_minus_pt) * bce
    if alpha is not None:
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be None or in [0, 1], got {alpha}")
        loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return _reduce(loss, reduction)


def soft_dice_loss(probs, target, smooth=1e-5, reduction="mean"):
    """Soft Dice loss 1 - (2 sum(p * t) + smooth) / (sum(p) + sum(t) + smooth) on probabilities.

    probs: (N, C, *spatial) float in [0, 1] (after sigmoid or softmax); target: same shape, binary masks or
    one-hot maps. Sums run over the spatial dimensions, one Dice per sample and channel (N, C), then
    ``reduction``. An empty target with an empty prediction scores a loss of 0 thanks to ``smooth``.
    Equals ``monai.losses.DiceLoss(smooth_nr=smooth, smooth_dr=smooth)`` applied to the probabilities.
    Introduced in 06_loss_functions.ipynb.
    """
    target = _check_pair(probs, target, "probs")
    if probs.dim() < 3:
        raise ValueError(f"probs must be (N, C, *spatial), got shape {tuple(probs.shape)}")
    if probs.min() < 0 or probs.max() > 1:
        raise ValueError(f"probs must lie in [0, 1] (apply sigmoid or softmax to logits first), got range "
                         f"[{probs.min().item():.3g}, {probs.max().item():.3g}]")
    dims = tuple(range(2, probs.dim()))
    intersection = (probs * target).sum(dims)
    total = probs.sum(dims) + target.sum(dims)
    return _reduce(1 - (2 * intersection + smooth) / (total + smooth), reduction)


def dice_ce_loss(logits, target, lambda_dice=1.0, lambda_ce=1.0, smooth=1e-5):
    """Dice + cross-entropy, the usual segmentation loss: lambda_dice * Dice + lambda_ce * CE (a scalar).

    logits: (N, C, *spatial). C = 1: binary, target (N, 1, *spatial) in [0, 1]; sigmoid for Dice and BCE.
    C >= 2: target (N, 1, *spatial) integer class labels in [0, C); softmax for Dice (one-hot target, all
    channels) and cross-entropy. Equals ``monai.losses.DiceCELoss(sigmoid=True)`` (C = 1) and
    ``DiceCELoss(softmax=True, to_onehot_y=True)`` (C >= 2) with ``smooth_nr = smooth_dr = smooth``.
    Introduced in 06_loss_functions.ipynb.
    """
    _check_tensor(logits, "logits")
    _check_tensor(target, "target")
    if logits.dim() < 3:
        raise ValueError(f"logits must be (N, C, *spatial), got shape {tuple(logits.shape)}")
    if min(lambda_dice, lambda_ce) < 0:
        raise ValueError(f"lambda_dice and lambda_ce must be >= 0, got {lambda_dice}, {lambda_ce}")
    n_classes = logits.shape[1]
    if n_classes == 1:
        target = _check_pair(logits, target)
        dice = soft_dice_loss(torch.sigmoid(logits), target, smooth)
        return lambda_dice * dice + lambda_ce * weighted_bce(logits, target)
    expected = (logits.shape[0], 1, *logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(f"target must be class labels of shape {expected}, got {tuple(target.shape)}")
    labels = target[:, 0].long()
    if (labels != target[:, 0]).any() or labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"target must hold integer class labels in [0, {n_classes}), got values "
                         f"{torch.unique(target)[:6].tolist()}")
    one_hot = F.one_hot(labels, n_classes).movedim(-1, 1).to(logits.dtype)
    dice = soft_dice_loss(torch.softmax(logits, dim=1), one_hot, smooth)
    return lambda_dice * dice + lambda_ce * F.cross_entropy(logits, labels)
