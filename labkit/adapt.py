"""Domain adaptation: per-image normalisation, intensity-shift augmentation, test-time BatchNorm adaptation and
a small domain-adversarial network (DANN) with its gradient reversal layer.

Introduced in 13_domain_adaptation.ipynb (the lesson writes the gradient reversal layer and the DANN loss by hand
first). A *source* domain (scanner A) has labels; a *target* domain (scanner B) gives only unlabelled images.
"""

import math

import numpy as np
import torch
from torch import nn

from labkit import layers

__all__ = ["zscore_per_image", "IntensityShift", "GradientReversal", "grad_reverse", "DomainAdversarialNet",
           "dann_lambda", "dann_loss", "dann_step", "fit_dann", "adapt_batchnorm", "batchnorm_layers", "scaled_effect"]


def _check_images(images, name="images"):
    if not isinstance(images, (np.ndarray, torch.Tensor)):
        raise TypeError(f"{name} must be a NumPy array or a torch tensor (N, C, H, W), got {type(images).__name__}")
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N, C, H, W) with N >= 1, got {tuple(images.shape)}")


def zscore_per_image(images, eps=1e-6):
    """Normalise each image and channel to mean 0, std 1 over its own pixels (statistics of that image only).

    images: (N, C, H, W) float array or tensor (any range) -> the same type and shape, float32. Introduced in
    13_domain_adaptation.ipynb. A constant image becomes all zeros (``eps`` keeps the division finite).
    """
    _check_images(images)
    if isinstance(images, torch.Tensor):
        x = images.float()
        mean, std = x.mean(dim=(2, 3), keepdim=True), x.std(dim=(2, 3), keepdim=True, unbiased=False)
        return (x - mean) / (std + eps)
    x = np.asarray(images, dtype=np.float32)
    return ((x - x.mean(axis=(2, 3), keepdims=True)) / (x.std(axis=(2, 3), keepdims=True) + eps)).astype(np.float32)


def _smooth_fields(n, height, width, generator):
    """Random smooth log-fields (n, height, width) in [-1, 1]: a random quadratic in x, y per image."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    basis = torch.stack([x, y, x * y, x * x - 0.5, y * y - 0.5])
    field = torch.einsum("nk,khw->nhw", torch.randn(n, 5, generator=generator), basis)
    return field / (field.abs().amax(dim=(1, 2), keepdim=True) + 1e-6)


class IntensityShift:
    """Augmentation that imitates scanner differences: random gamma, bias field, blur and noise.

    Call on an image tensor (C, H, W) or a batch (N, C, H, W) with values in [0, 1]; returns the same shape in
    [0, 1]. Per image: gamma ~ logUniform(gamma), bias field exp(b * smooth field) with b ~ U(0, bias), Gaussian
    blur with sigma ~ U(0, blur), noise std ~ U(0, noise). Draws from its own ``torch.Generator`` seeded with
    ``seed``, so with a seeded DataLoader (num_workers=0) a run repeats exactly. Introduced in
    13_domain_adaptation.ipynb.
    """

    def __init__(self, gamma=(0.5, 2.5), bias=0.8, noise=0.06, blur=0.0, seed=0):
        if not (len(gamma) == 2 and 0 < gamma[0] <= gamma[1]) or min(bias, blur, noise) < 0:
            raise ValueError(f"need gamma=(low, high) with 0 < low <= high and bias, blur, noise >= 0; got "
                             f"gamma={gamma}, bias={bias}, blur={blur}, noise={noise}")
        self.gamma, self.bias, self.noise, self.blur = tuple(gamma), bias, noise, blur
        self.generator = torch.Generator().manual_seed(seed)

    def _uniform(self, n, low, high):
        return low + (high - low) * torch.rand(n, generator=self.generator)

    def __call__(self, image):
        if not isinstance(image, torch.Tensor) or image.dim() not in (3, 4):
            raise ValueError(f"IntensityShift expects a tensor (C, H, W) or (N, C, H, W), got "
                             f"{type(image).__name__} {tuple(getattr(image, 'shape', ()))}")
        x = image[None] if image.dim() == 3 else image
        n = len(x)
        x = _blur(x, self._uniform(n, 0, self.blur)) if self.blur > 0 else x
        fields = _smooth_fields(n, x.shape[-2], x.shape[-1], self.generator)
        x = x * torch.exp(self._uniform(n, 0, self.bias)[:, None, None] * fields)[:, None]
        log_gamma = self._uniform(n, math.log(self.gamma[0]), math.log(self.gamma[1]))
        x = x.clamp(0, 1) ** torch.exp(log_gamma)[:, None, None, None]
        x = x + self._uniform(n, 0, self.noise)[:, None, None, None] * torch.randn(x.shape, generator=self.generator)
        x = x.clamp(0, 1)
        return x[0] if image.dim() == 3 else x


def _blur(x, sigmas):
    """Gaussian blur of each image (N, C, H, W) with its own sigma (N,) (sigma < 0.2: unchanged)."""
    out = x.clone()
    for i, sigma in enumerate(sigmas.tolist()):
        if sigma < 0.2:
            continue
        out[i:i + 1] = layers.gaussian_blur(x[i:i + 1], sigma, radius=max(1, int(math.ceil(2.5 * sigma))))
    return out


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.lambd * grad_output, None


def grad_reverse(x, lambd=1.0):
    """Identity in the forward pass; multiplies the gradient by ``-lambd`` in the backward pass."""
    return _ReverseGrad.apply(x, float(lambd))


class GradientReversal(nn.Module):
    """Gradient reversal layer (Ganin & Lempitsky, 2015): forward identity, backward gradient times ``-lambd``.

    Introduced in 13_domain_adaptation.ipynb. Set ``.lambd`` during training to ramp the reversal up.
    """

    def __init__(self, lambd=1.0):
        super().__init__()
        if not isinstance(lambd, (int, float)) or lambd < 0:
            raise ValueError(f"lambd must be a number >= 0, got {lambd!r}")
        self.lambd = float(lambd)

    def forward(self, x):
        return grad_reverse(x, self.lambd)


class DomainAdversarialNet(nn.Module):
    """DANN on a CNN with ``.features`` and ``.head`` (e.g. :class:`labkit.models.SmallCNN`).

    ``forward(x)`` gives the class logits (N, n_classes) as the backbone does, so ``train.predict`` works;
    ``forward_both(x)`` gives ``(class_logits, domain_logits (N,))``, the domain classifier (a small MLP behind a
    :class:`GradientReversal`) seeing the globally pooled features. Introduced in 13_domain_adaptation.ipynb.
    """

    def __init__(self, backbone, hidden=32, lambd=1.0):
        super().__init__()
        if not (hasattr(backbone, "features") and hasattr(backbone, "head")):
            raise TypeError(f"backbone needs .features(x) and .head (a SmallCNN), got {type(backbone).__name__}")
        n_features = backbone.head[-1].in_features
        self.backbone, self.reverse = backbone, GradientReversal(lambd)
        self.domain_head = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.backbone(x)

    def forward_both(self, x):
        fmap = self.backbone.features(x)
        pooled = fmap.mean(dim=(2, 3))
        return self.backbone.head(fmap), self.domain_head(self.reverse(pooled))[:, 0]


def dann_lambda(progress, gamma=10.0):
    """Reversal strength schedule of the DANN paper: 2 / (1 + exp(-gamma * progress)) - 1, progress in [0, 1]."""
    return 2.0 / (1.0 + math.exp(-gamma * float(progress))) - 1.0


def dann_loss(model, x_source, y_source, x_target):
    """DANN objective for one step -> (total loss, class loss, domain loss, domain accuracy).

    Class loss: BCE of the labelled source batch. Domain loss: BCE of the domain classifier telling source (0)
    from target (1) on both batches; through the reversal layer the features learn to make that impossible.
    """
    logits, dom = model.forward_both(torch.cat([x_source, x_target]))  # one batch: BN sees both domains
    logits = logits[:len(x_source)]
    class_loss = nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y_source.float())
    dom_y = torch.cat([torch.zeros(len(x_source)), torch.ones(len(x_target))]).to(dom.device)
    domain_loss = nn.functional.binary_cross_entropy_with_logits(dom, dom_y)
    dom_acc = ((dom > 0).float() == dom_y).float().mean()
    return class_loss + domain_loss, class_loss, domain_loss, dom_acc


def dann_step(target_images, n_steps, seed=0, max_lambda=1.0):
    """A training step for :func:`labkit.train.fit` that trains a :class:`DomainAdversarialNet`.

    Each call takes a labelled source batch (x, y, ...), draws as many unlabelled target images (M, C, H, W) with
    a generator seeded by ``seed``, sets the reversal strength to ``max_lambda * dann_lambda(progress)`` over
    ``n_steps`` steps, and returns ``(total loss, {'class_loss', 'domain_loss', 'domain_accuracy'})``.
    """
    _check_images(target_images, "target_images")
    target = torch.as_tensor(np.asarray(target_images, np.float32) if isinstance(target_images, np.ndarray)
                             else target_images).float()
    gen, done = torch.Generator().manual_seed(seed), [0]

    def step(model, batch):
        x, y = batch[0], batch[1]
        model.reverse.lambd = max_lambda * dann_lambda(done[0] / max(n_steps - 1, 1))
        done[0] += 1
        xt = target[torch.randint(len(target), (len(x),), generator=gen)].to(x.device)
        loss, class_loss, domain_loss, dom_acc = dann_loss(model, x, y, xt)
        return loss, {"class_loss": class_loss.item(), "domain_loss": domain_loss.item(),
                      "domain_accuracy": dom_acc.item()}

    return step


def fit_dann(model, source_loader, target_images, n_epochs=5, lr=1e-3, device=None, seed=0, max_lambda=1.0,
             progress=True):
    """Train a :class:`DomainAdversarialNet` on labelled source batches and unlabelled target images.

    :func:`labkit.train.fit` with :func:`dann_step`: source_loader yields (x, y); target_images (M, C, H, W)
    array or tensor. The reversal strength follows :func:`dann_lambda` times ``max_lambda`` (0 trains the same
    network with the domain head cut off from the features: the control without adaptation). Returns the
    :class:`labkit.train.History` (train_loss = class + domain loss; metrics 'class_loss', 'domain_loss' and
    'domain_accuracy' per epoch; 0.5 accuracy = domains indistinguishable).
    """
    from labkit import train

    if not isinstance(model, DomainAdversarialNet):
        raise TypeError(f"model must be a DomainAdversarialNet, got {type(model).__name__}")
    step = dann_step(target_images, n_epochs * len(source_loader), seed=seed, max_lambda=max_lambda)
    history = train.fit(model, source_loader, n_epochs=n_epochs, lr=lr, device=device, seed=seed, step=step,
                        monitor="train_loss", progress=progress, desc="fit_dann")
    model.eval()
    return history


def batchnorm_layers(model):
    """The BatchNorm layers (1d/2d/3d) of ``model``, in order."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _batches(data, batch_size):
    if isinstance(data, (np.ndarray, torch.Tensor)):
        _check_images(data, "data")
        x = torch.as_tensor(np.asarray(data, np.float32) if isinstance(data, np.ndarray) else data).float()
        return (x[i:i + batch_size] for i in range(0, len(x), batch_size))
    if not hasattr(data, "__iter__"):
        raise TypeError(f"expected a DataLoader, an array or a tensor of images, got {type(data).__name__}")
    return (b if isinstance(b, torch.Tensor) else (b["image"] if isinstance(b, dict) else b[0]) for b in data)


def adapt_batchnorm(model, data, batch_size=128, device=None):
    """Test-time BatchNorm adaptation (AdaBN): recompute every BN layer's running mean/var on unlabelled images.

    data: a DataLoader (batches (x, ...), dicts with 'image', or tensors) or images (N, C, H, W). Running
    statistics are reset and re-estimated as a cumulative average over the batches (momentum None); weights
    do not change (no gradients). Returns the model, in eval mode. Introduced in 13_domain_adaptation.ipynb.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    layers = batchnorm_layers(model)
    if not layers:
        raise ValueError("the model has no BatchNorm layer to adapt")
    device = device or next(model.parameters()).device
    momenta = [bn.momentum for bn in layers]
    model.eval()
    for bn in layers:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    seen = 0
    with torch.no_grad():
        for x in _batches(data, batch_size):
            model(x.to(device))
            seen += len(x)
    for bn, momentum in zip(layers, momenta):
        bn.momentum = momentum
    model.eval()
    if seen == 0:
        raise ValueError("adapt_batchnorm got no images (empty loader or array)")
    return model


def scaled_effect(effect, strength):
    """A SiteEffect ``strength`` of the way from no effect (0) to ``effect`` (1): bias, noise, blur scale
    linearly, gamma and resolution geometrically. strength in [0, 1] (values up to 2 extrapolate)."""
    from labkit.synthetic import SiteEffect

    if not isinstance(effect, SiteEffect):
        raise TypeError(f"effect must be a SiteEffect, got {type(effect).__name__}")
    if not 0 <= strength <= 2:
        raise ValueError(f"strength must be in [0, 2], got {strength}")
    return SiteEffect(bias=effect.bias * strength, noise=effect.noise * strength, blur=effect.blur * strength,
                      gamma=effect.gamma ** strength, resolution=min(1.0, effect.resolution ** strength))
