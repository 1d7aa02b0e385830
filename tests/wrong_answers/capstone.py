"""Plausible but wrong answers for the checkers in labkit/checks/capstone.py (one per checker)."""

WRONG = {
    "shared_nuclei": '''
import numpy as np
def shared_nuclei(labels, region_a, region_b):
    return np.intersect1d(labels[region_a], labels[region_b])   # keeps the background (0) as a "nucleus"
''',
    "instance_f1": '''
import numpy as np
def instance_f1(true_labels, pred_labels):
    true_fg, pred_fg = true_labels > 0, pred_labels > 0
    return 2 * np.sum(true_fg & pred_fg) / (true_fg.sum() + pred_fg.sum())   # pixel Dice, not objects
''',
    "fgsm_segmentation": '''
import torch
import torch.nn.functional as F
def fgsm_segmentation(model, x, y, eps):
    x = x.detach().clone().requires_grad_(True)
    F.cross_entropy(model(x), y, reduction="sum").backward()
    return (x - eps * x.grad.sign()).clamp(0, 1).detach()   # steps down the loss: makes the model more right
''',
}
