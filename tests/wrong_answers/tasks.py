"""Plausible but wrong answers for the checkers in labkit/checks/tasks.py (one per checker)."""

WRONG = {
    "box_iou": '''
import torch
def box_iou(boxes_a, boxes_b):
    lt = torch.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    rb = torch.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=2)
    area_a = (boxes_a[:, 2:] - boxes_a[:, :2]).prod(dim=1)
    area_b = (boxes_b[:, 2:] - boxes_b[:, :2]).prod(dim=1)
    return inter / (area_a[:, None] + area_b[None, :])   # forgets to subtract the intersection
''',
    "heatmap_peaks": '''
def heatmap_peaks(heat, threshold):
    return heat >= threshold   # every bright cell, not only local maxima
''',
    "average_precision": '''
import numpy as np
def average_precision(scores, is_tp, n_true):
    order = np.argsort(-scores)
    tp = np.cumsum(is_tp[order])
    precision, recall = tp / np.arange(1, len(tp) + 1), tp / n_true
    return float(np.sum(np.diff(np.concatenate([[0], recall])) * precision))   # no envelope: zig-zags counted
''',
    "gray_to_rgb_normalized": '''
def gray_to_rgb_normalized(x):
    return (x.repeat(1, 3, 1, 1) - 0.449) / 0.226   # one averaged mean and std instead of per-channel values
''',
    "freeze_backbone": '''
import torch
def freeze_backbone(model, head):
    for module in model.modules():   # freezes convolutions and linear layers but forgets BatchNorm
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)) and module is not head:
            for p in module.parameters():
                p.requires_grad = False
    return model
''',
    "random_flip_pair": '''
import numpy as np
def random_flip_pair(image, mask, rng):
    if rng.random() < 0.5:
        image = np.flip(image, axis=-1)
    if rng.random() < 0.5:            # a separate draw for the mask: image and mask no longer line up
        mask = np.flip(mask, axis=-1)
    return image, mask
''',
    "gamma_transform": '''
import numpy as np
def gamma_transform(image, gamma):
    return np.clip(image, 0, 1) ** gamma   # assumes [0, 1]: wrong for any other intensity range
''',
    "dice_per_class": '''
import numpy as np
def dice_per_class(pred, target, n_classes):
    out = []
    for c in range(n_classes):
        a, b = pred == c, target == c
        out.append((a & b).sum() / max((a | b).sum(), 1))   # this is IoU, not Dice
    return np.array(out)
''',
    "iou_from_dice": '''
def iou_from_dice(dice):
    return 2 * dice / (1 + dice)   # the inverse formula: Dice from IoU
''',
}
