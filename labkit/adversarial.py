"""Adversarial attacks, their evaluation, and adversarial training for image classifiers.

Introduced in 15_adversarial_attacks.ipynb. Images are float tensors (N, C, H, W) in [0, 1] by default;
``y`` holds integer labels (N,). One-output (binary) and multi-output (cross-entropy) models both work.
The attacks raise the model's loss inside an L-infinity ball of radius ``eps`` around the clean image and
keep the result in the valid intensity range. Captum is imported only inside :func:`pgd`.

An evaluation against one weak attack can overstate robustness (gradient masking, Athalye et al. 2018), so
:func:`robust_correct` also takes random restarts (``n_restarts``, for PGD) and a *transfer* attack crafted on
another model (``attack_model``).
"""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["per_sample_loss", "attack_loss", "fgsm", "fgsm_random_start", "project_linf", "pgd", "attack",
           "robust_correct", "robust_accuracy", "adversarial_step"]

METHODS = ("fgsm", "fgsm_rs", "pgd", "none")


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


def _signed_step(model, x, y):
    """sign of the gradient of the summed attack loss at x, 0 where |grad| <= 1e-6 (as captum.robust.FGSM)."""
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(attack_loss(model(x), y).sum(), x)
    return torch.where(grad.abs() > 1e-6, grad.sign(), torch.zeros_like(grad))


def fgsm(model, x, y, eps, bounds=(0.0, 1.0)):
    """Fast gradient sign method: ``clip(x + eps * sign(grad_x attack_loss), *bounds)`` -> tensor like x.

    Pixels whose gradient is 0 (|grad| <= 1e-6, as in captum.robust.FGSM) are left unchanged.
    The model is used in its current mode (call ``model.eval()`` first for a fixed model).
    """
    _check(model, x, y, eps)
    return (x.detach() + eps * _signed_step(model, x, y)).clamp(*bounds)


def project_linf(x_adv, x, eps):
    """Project ``x_adv`` onto the L-infinity ball of radius ``eps`` around ``x`` (elementwise clamp)."""
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv and x must have the same shape, got {tuple(x_adv.shape)} and {tuple(x.shape)}")
    return torch.max(torch.min(x_adv, x + eps), x - eps)


def fgsm_random_start(model, x, y, eps, step_size=None, bounds=(0.0, 1.0), seed=0):
    """FGSM from a random start (Wong, Rice and Kolter, 2020): start at ``x + U(-eps, eps)``, take one signed
    gradient step of ``step_size`` (default ``1.25 * eps``), project into the eps-ball and the bounds.

    The start is drawn from a ``torch.Generator`` seeded with ``seed`` (global state untouched) -> tensor like x.
    """
    _check(model, x, y, eps)
    step_size = 1.25 * eps if step_size is None else step_size
    gen = torch.Generator().manual_seed(int(seed))
    start = (torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1).to(x.device) * eps
    x_start = (x.detach() + start).clamp(*bounds)
    x_adv = x_start + step_size * _signed_step(model, x_start, y)
    return project_linf(x_adv, x.detach(), eps).clamp(*bounds)


def pgd(model, x, y, eps, step_size=None, n_steps=10, random_start=True, n_restarts=1, bounds=(0.0, 1.0), seed=0):
    """Projected gradient descent (captum.robust.PGD, L-infinity): ``n_steps`` FGSM steps of ``step_size``
    (default ``2.5 * eps / n_steps``), each projected back into the eps-ball and the bounds -> tensor like x.

    With ``n_restarts`` > 1 the attack runs from that many random starts (seeds ``seed``, ``seed + 1``, ...) and
    keeps, per image, the result with the highest attack loss. Random starts are drawn inside
    ``torch.random.fork_rng`` (global state untouched).
    """
    from captum.robust import PGD

    _check(model, x, y, eps)
    if not isinstance(n_restarts, int) or n_restarts < 1:
        raise ValueError(f"n_restarts must be an int >= 1, got {n_restarts!r}")
    step_size = 2.5 * eps / n_steps if step_size is None else step_size
    attacker = PGD(model, loss_func=attack_loss, lower_bound=bounds[0], upper_bound=bounds[1])
    best, best_loss = None, None
    for restart in range(n_restarts):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + restart)
            out = attacker.perturb(x.detach(), radius=eps, step_size=step_size, step_num=n_steps, target=y,
                                   random_start=random_start and eps > 0).detach()
        with torch.no_grad():
            loss = attack_loss(model(out), y)
        if best is None:
            best, best_loss = out, loss
        else:
            better = loss > best_loss
            best = torch.where(better.view(-1, *[1] * (x.dim() - 1)), out, best)
            best_loss = torch.maximum(loss, best_loss)
    return best


def attack(model, x, y, eps, method="fgsm", **kwargs):
    """Adversarial images by ``method``: 'fgsm', 'fgsm_rs' (:func:`fgsm_random_start`), 'pgd' or 'none'.
    kwargs go to :func:`pgd` or :func:`fgsm_random_start`."""
    if method == "fgsm":
        return fgsm(model, x, y, eps)
    if method == "fgsm_rs":
        return fgsm_random_start(model, x, y, eps, **kwargs)
    if method == "pgd":
        return pgd(model, x, y, eps, **kwargs)
    if method == "none":
        return x.detach().clone()
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _predict_labels(model, x):
    with torch.no_grad():
        logits = model(x)
    return (logits.reshape(len(x)) >= 0).long() if logits.dim() == 1 or logits.shape[1] == 1 else logits.argmax(1)


def robust_correct(model, x, y, eps, method="fgsm", batch_size=256, attack_model=None, **kwargs):
    """Per-image correctness (N,) bool NumPy array of ``model`` on ``method``-attacked copies of x at ``eps``.

    attack_model: the model whose gradients craft the attack (default ``model`` itself, a white-box attack);
    another model gives a *transfer* attack. Both are put in eval mode; kwargs go to :func:`attack`.
    """
    _check(model, x, y, eps)
    source = model if attack_model is None else attack_model
    if not isinstance(source, nn.Module):
        raise TypeError(f"attack_model must be a torch.nn.Module or None, got {type(source).__name__}")
    device = next(model.parameters()).device
    model.eval()
    source.eval()
    correct = []
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        x_adv = attack(source, xb, yb, eps, method, **kwargs)
        correct.append((_predict_labels(model, x_adv) == yb).cpu())
    return torch.cat(correct).numpy()


def robust_accuracy(model, x, y, eps, method="fgsm", batch_size=256, attack_model=None, **kwargs):
    """Accuracy (float in [0, 1]) of ``model`` on attacked copies of x: the mean of :func:`robust_correct`."""
    return float(robust_correct(model, x, y, eps, method, batch_size, attack_model, **kwargs).mean())


def adversarial_step(eps, method="fgsm_rs", clean_weight=0.0, seed=0, **kwargs):
    """A training step for :func:`labkit.train.fit` (adversarial training) on (x, y) batches.

    Every batch is attacked with ``method`` at ``eps`` against the current model (in eval mode, so BatchNorm
    uses fixed statistics while the attack is built), then the model is trained on
    ``clean_weight * loss(clean) + (1 - clean_weight) * loss(adversarial)``. The defaults follow Wong et al.
    (2020): FGSM from a random start, adversarial images only; ``method='pgd'`` with ``n_steps`` gives Madry et
    al. (2018). Each call draws its random start with a new seed (``seed``, ``seed + 1``, ...); kwargs go to
    :func:`attack`. Returns ``(loss, {'adversarial_loss': float})``.
    """
    if not 0 <= clean_weight <= 1:
        raise ValueError(f"clean_weight must be in [0, 1], got {clean_weight!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    calls = [0]

    def step(model, batch):
        xb, yb = batch[0], batch[1]
        model.eval()
        extra = {"seed": seed + calls[0]} if method in ("fgsm_rs", "pgd") else {}
        calls[0] += 1
        x_adv = attack(model, xb, yb, eps, method, **extra, **kwargs)
        model.train()
        adv_loss = per_sample_loss(model(x_adv), yb).mean()
        loss = adv_loss if clean_weight == 0 else clean_weight * per_sample_loss(model(xb), yb).mean() \
            + (1 - clean_weight) * adv_loss
        return loss, {"adversarial_loss": adv_loss.item()}

    return step
