"""Plausible but wrong answers for the checkers in labkit/checks/robustness.py (one per checker)."""

WRONG = {
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
    "integrated_gradients": '''
import torch
def integrated_gradients(model, x, baseline, n_steps):
    total = torch.zeros_like(x)
    for k in range(n_steps):
        point = (baseline + (k + 0.5) / n_steps * (x - baseline)).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(point)[:, 0].sum(), point)
        total += grad
    return total / n_steps   # the mean path gradient, not multiplied by (x - baseline)
''',
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
}
