"""Adversarial attacks and adversarial training for image classifiers.

Introduced in 15_adversarial_attacks.ipynb. Images are float tensors (N, C, H, W) in [0, 1] by default;
``y`` holds integer labels (N,). One-output (binary, BCE) and multi-output (cross-entropy) models both work.
The attacks raise the model's loss inside an L-infinity ball of radius ``eps`` around the clean image and
keep the result in the valid intensity range. Captum is imported only inside :func:`pgd`.
"""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["per_sample_loss", "attack_loss", "fgsm", "project_linf", "pgd", "attack", "robust_accuracy",
           "adversarial_step", "adversarial_epoch"]


def _check(model, x, y, eps):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"x must be a float tensor (N, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    if not isinstance(y, torch.Tensor) or y.shape != x.shape[:1]:
        raise ValueError(f"y must be a label tensor of shape ({len(x)},), got {getattr(y, 'shape', type(y).__name__)}")
    if not isinstance(eps, (int, float)) or eps < 0:
        raise ValueError(f"eps must be a number >= 0, got {eps!r}")


def per_sample_loss(logits, y):
    """Loss per sample (N,): BCE-with-logits for one output (N,) or (N, 1), else cross-entropy (N, C)."""
    if logits.dim() == 1 or logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits.reshape(len(y)), y.to(logits.dtype), reduction="none")
    return F.cross_entropy(logits, y.long(), reduction="none")


def attack_loss(logits, y):
    """What the attacks maximise, per sample (N,). One output: the logit margin ``(1 - 2y) * logit``, with the
    sign of BCE's gradient but without its saturation (BCE's gradient vanishes on confident predictions, which
    hides them from sign-based attacks: gradient masking). Several outputs: cross-entropy."""
    if logits.dim() == 1 or logits.shape[1] == 1:
        return (1 - 2 * y.to(logits.dtype)) * logits.reshape(len(y))
    return F.cross_entropy(logits, y.long(), reduction="none")


def fgsm(model, x, y, eps, bounds=(0.0, 1.0)):
    """Fast gradient sign method: ``clip(x + eps * sign(grad_x attack_loss), *bounds)`` -> tensor like x.

    Pixels whose gradient is 0 (|grad| <= 1e-6, as in captum.robust.FGSM) are left unchanged.
    The model is used in its current mode (call ``model.eval()`` first for a fixed model).
    """
    _check(model, x, y, eps)
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(attack_loss(model(x), y).sum(), x)
    step = torch.where(grad.abs() > 1e-6, eps * grad.sign(), torch.zeros_like(grad))
    return (x.detach() + step).clamp(*bounds)


def project_linf(x_adv, x, eps):
    """Project ``x_adv`` onto the L-infinity ball of radius ``eps`` around ``x`` (elementwise clamp)."""
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv and x must have the same shape, got {tuple(x_adv.shape)} and {tuple(x.shape)}")
    return torch.max(torch.min(x_adv, x + eps), x - eps)


def pgd(model, x, y, eps, step_size=None, n_steps=10, random_start=True, bounds=(0.0, 1.0), seed=0):
    """Projected gradient descent (captum.robust.PGD, L-infinity): ``n_steps`` FGSM steps of ``step_size``
    (default ``2.5 * eps / n_steps``), each projected back into the eps-ball and the bounds -> tensor like x.

    The random start is drawn with ``seed`` inside ``torch.random.fork_rng`` (global state untouched).
    """
    from captum.robust import PGD

    _check(model, x, y, eps)
    step_size = 2.5 * eps / n_steps if step_size is None else step_size
    attacker = PGD(model, loss_func=attack_loss, lower_bound=bounds[0], upper_bound=bounds[1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        out = attacker.perturb(x.detach(), radius=eps, step_size=step_size, step_num=n_steps, target=y,
                               random_start=random_start and eps > 0)
    return out.detach()


def attack(model, x, y, eps, method="fgsm", **kwargs):
    """Adversarial images by ``method`` ('fgsm', 'pgd' or 'none'); kwargs go to :func:`pgd`."""
    if method == "fgsm":
        return fgsm(model, x, y, eps)
    if method == "pgd":
        return pgd(model, x, y, eps, **kwargs)
    if method == "none":
        return x.detach().clone()
    raise ValueError(f"method must be 'fgsm', 'pgd' or 'none', got {method!r}")


def _predict_labels(model, x):
    with torch.no_grad():
        logits = model(x)
    return (logits.reshape(len(x)) >= 0).long() if logits.dim() == 1 or logits.shape[1] == 1 else logits.argmax(1)


def robust_accuracy(model, x, y, eps, method="fgsm", batch_size=256, **kwargs):
    """Accuracy (float in [0, 1]) of ``model`` (put in eval mode) on ``method``-attacked copies of x at eps."""
    _check(model, x, y, eps)
    device = next(model.parameters()).device
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        x_adv = attack(model, xb, yb, eps, method, **kwargs)
        correct += (_predict_labels(model, x_adv) == yb).sum().item()
    return correct / len(x)


def adversarial_step(eps, method="fgsm", clean_weight=0.5, **kwargs):
    """A training step for :func:`labkit.train.fit` (adversarial training) on (x, y) batches.

    The attack is crafted against the model in eval mode (fixed BatchNorm statistics), then the model is trained
    on ``clean_weight * loss(clean) + (1 - clean_weight) * loss(adversarial)``; kwargs go to :func:`attack`.
    """
    if not 0 <= clean_weight <= 1:
        raise ValueError(f"clean_weight must be in [0, 1], got {clean_weight!r}")

    def step(model, batch):
        xb, yb = batch[0], batch[1]
        model.eval()
        x_adv = attack(model, xb, yb, eps, method, **kwargs)
        model.train()
        loss = clean_weight * per_sample_loss(model(xb), yb).mean() \
            + (1 - clean_weight) * per_sample_loss(model(x_adv), yb).mean()
        return loss

    return step


def adversarial_epoch(model, loader, optimizer, eps, method="fgsm", clean_weight=0.5, **kwargs):
    """One epoch of adversarial training (:func:`labkit.train.train_epoch` with :func:`adversarial_step`);
    returns the mean training loss (float)."""
    from labkit import train

    return train.train_epoch(model, loader, None, optimizer, step=adversarial_step(eps, method, clean_weight, **kwargs))
