"""A plausible but wrong answer per checker (source code defining the same name as the exercise's stub).

tests/test_exercises.py runs each through its checker and expects 'failed'.
"""

WRONG = {
    "bright_fraction": '''
import numpy as np
def bright_fraction(image, threshold):
    return float(np.sum(image > threshold))   # a count, not a fraction
''',
    "to_hu": '''
import numpy as np
def to_hu(raw, slope, intercept):
    return np.asarray(raw, dtype=np.float32) + intercept   # forgets the slope
''',
    "apply_window": '''
import numpy as np
def apply_window(image, center, width):
    return (np.asarray(image, dtype=np.float32) - center) / width + 0.5   # not clipped to [0, 1]
''',
    "voxel_to_world": '''
import numpy as np
def voxel_to_world(affine, index):
    return np.asarray(affine)[:3, :3] @ np.asarray(index, dtype=float)   # forgets the translation
''',
    "zscore": '''
import numpy as np
def zscore(image, mask):
    out = (image - image.mean()) / image.std()   # statistics of the whole image, not of the mask
    return np.where(mask, out, 0.0)
''',
    "minmax_scale": '''
import numpy as np
def minmax_scale(image):
    return image / image.max()   # forgets to subtract the minimum
''',
    "crop_or_pad": '''
import numpy as np
def crop_or_pad(image, size):
    out = np.zeros(size, dtype=image.dtype)   # top-left corner instead of the centre
    h, w = min(size[0], image.shape[0]), min(size[1], image.shape[1])
    out[:h, :w] = image[:h, :w]
    return out
''',
    "sigmoid_derivative": '''
import torch
def sigmoid_derivative(x):
    return torch.sigmoid(x) * (1 - x)   # uses x instead of sigmoid(x) in the second factor
''',
    "linear_forward": '''
def linear_forward(x, weight, bias):
    return x @ weight.T   # forgets the bias
''',
    "mlp_param_count": '''
def mlp_param_count(sizes):
    return sum(a * b for a, b in zip(sizes, sizes[1:]))   # forgets the biases
''',
    "conv2d_single": '''
import torch
def conv2d_single(image, kernel):
    kernel = torch.flip(kernel, dims=(0, 1))   # flips the kernel: true convolution, not what nn.Conv2d computes
    kh, kw = kernel.shape
    out = torch.zeros(image.shape[0] - kh + 1, image.shape[1] - kw + 1, dtype=image.dtype)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (image[i:i + kh, j:j + kw] * kernel).sum()
    return out
''',
    "conv_output_size": '''
def conv_output_size(n, k, s=1, p=0):
    return (n + p - k) // s + 1   # pads one side only
''',
    "receptive_field": '''
def receptive_field(kernel_sizes, strides):
    return 1 + sum(k - 1 for k in kernel_sizes)   # ignores the strides
''',
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
    "roc_auc": '''
import numpy as np
def roc_auc_by_ranking(y_true, scores):
    y_true, scores = np.asarray(y_true), np.asarray(scores)
    pos, neg = scores[y_true == 1], scores[y_true == 0]
    return float(np.mean(pos[:, None] > neg[None, :]))   # ties count as losses, not halves
''',
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
    "fgsm": '''
import torch
def fgsm(model, x, y, eps):
    x = x.detach().clone().requires_grad_(True)
    loss = ((1 - 2 * y.float()) * model(x).reshape(len(x))).sum()
    (grad,) = torch.autograd.grad(loss, x)
    return (x.detach() + eps * grad).clamp(0, 1)   # the raw gradient, not its sign
''',
    "project_linf": '''
import torch
def project_linf(x_adv, x, eps):
    return x_adv.clamp(-eps, eps)   # clamps the image itself, not its distance to x
''',
    "saliency_map": '''
import torch
def saliency_map(model, x):
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[:, 0].sum(), x)
    return grad   # signed gradient: the absolute value is missing
''',
    "pointing_game": '''
import numpy as np
def pointing_game(attr, masks):
    attr, masks = np.asarray(attr), np.asarray(masks)
    n, h, w = attr.shape
    cols, rows = np.unravel_index(attr.reshape(n, -1).argmax(axis=1), (w, h))   # rows and columns swapped
    return float(masks[np.arange(n), rows, cols].mean())
''',
    "weighted_bce": '''
import torch
import torch.nn.functional as F
def weighted_bce(logits, target, pos_weight):
    loss = -(target * F.logsigmoid(logits) + pos_weight * (1 - target) * F.logsigmoid(-logits))   # weights the negatives
    return loss.mean()
''',
    "soft_dice": '''
import torch
def soft_dice_loss(probs, target, smooth=1e-5):
    intersection = (probs * target).sum()   # one Dice for the whole batch, not per sample and channel
    return 1 - (2 * intersection + smooth) / (probs.sum() + target.sum() + smooth)
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


WRONG.update({
    "zscore_per_image": '''
import numpy as np
def zscore_per_image(images, eps=1e-6):
    x = np.asarray(images, dtype=np.float32)
    return (x - x.mean()) / (x.std() + eps)   # statistics of the whole batch, not of each image
''',
    "adapt_batchnorm": '''
import torch
def adapt_batchnorm(model, loader):
    model.train()   # keeps the old statistics and the default momentum 0.1: only part of the way to the target
    with torch.no_grad():
        for x, _ in loader:
            model(x)
    return model.eval()
''',
})


WRONG.update({
    "late_fusion": '''
import numpy as np
def late_fusion(prob_list, weights=None):
    probs = np.stack([np.asarray(p, dtype=np.float64) for p in prob_list])
    w = np.ones(len(probs)) if weights is None else np.asarray(weights, dtype=np.float64)
    return w @ probs / len(probs)   # divides by the number of models, not by the sum of the weights
''',
    "modality_dropout": '''
import torch
def modality_dropout(batch, p, generator):
    out = []
    for x in batch:   # each modality dropped independently: a sample can lose all of them
        keep = torch.rand(len(x), generator=generator) >= p
        out.append(x * keep.to(x.dtype).view(-1, *[1] * (x.dim() - 1)))
    return out
''',
})
