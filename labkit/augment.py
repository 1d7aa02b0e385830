"""Data augmentation: MONAI dictionary pipelines that move image and mask together, and a fast batched version.

Introduced in 09_data_augmentation.ipynb.

* :func:`light_augmentation` / :func:`strong_augmentation`: MONAI ``Compose`` pipelines for dict samples
  ``{"image": (1, H, W), "mask": (1, H, W)}``; geometric transforms act on every key (bilinear for the image,
  nearest for masks), intensity transforms on the image only.
* :func:`fixed_augmentation`: the same transforms at one fixed strength each (for galleries and widgets).
* :func:`augment_pair`: run a dict pipeline on one NumPy image/mask pair with a seed.
* :func:`batch_augment` and :class:`AugmentedLoader`: the same ideas vectorised on torch batches (N, C, H, W),
  fast enough to augment every batch of a CPU training run.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["light_augmentation", "strong_augmentation", "fixed_augmentation", "augment_pair", "batch_augment",
           "AugmentedLoader"]


def _modes(keys, image_key, nearest="nearest"):
    """Interpolation per key: bilinear for the image, nearest neighbour for masks. Zooming (torch interpolate)
    needs 'nearest-exact', whose pixel centres match bilinear's; plain 'nearest' there shifts masks by 1/2 pixel."""
    if image_key not in keys:
        raise ValueError(f"image_key {image_key!r} must be one of keys {tuple(keys)}")
    return tuple("bilinear" if k == image_key else nearest for k in keys)


def _pipeline(keys, image_key, rotate_deg, zoom, elastic, gamma, noise, bias, prob, seed):
    from monai.transforms import (Compose, Rand2DElasticd, RandAdjustContrastd, RandBiasFieldd, RandFlipd,
                                  RandGaussianNoised, RandRotated, RandZoomd)

    keys, modes, zoom_modes = list(keys), _modes(keys, image_key), _modes(keys, image_key, "nearest-exact")
    steps = [RandFlipd(keys, prob=prob, spatial_axis=0), RandFlipd(keys, prob=prob, spatial_axis=1),
             RandRotated(keys, range_x=math.radians(rotate_deg), prob=prob, mode=modes, padding_mode="border"),
             RandZoomd(keys, min_zoom=zoom[0], max_zoom=zoom[1], prob=prob, mode=zoom_modes, padding_mode="edge")]
    if elastic > 0:
        steps.append(Rand2DElasticd(keys, spacing=(16, 16), magnitude_range=(0, elastic), prob=prob, mode=modes,
                                    padding_mode="border"))
    steps += [RandAdjustContrastd(image_key, gamma=gamma, prob=prob),
              RandGaussianNoised(image_key, std=noise, prob=prob)]
    if bias > 0:
        steps.append(RandBiasFieldd(image_key, coeff_range=(0.0, bias), prob=prob))
    pipeline = Compose(steps)
    pipeline.set_random_state(seed=seed)
    return pipeline


def light_augmentation(keys=("image", "mask"), image_key="image", seed=0):
    """MONAI pipeline: flips, rotation up to 15 degrees, zoom 0.9-1.1, gamma 0.8-1.25, noise std <= 0.02,
    each applied with probability 0.5. Input/output: dict of (1, H, W) arrays/tensors (image float in [0, 1])."""
    return _pipeline(keys, image_key, 15.0, (0.9, 1.1), 0.0, (0.8, 1.25), 0.02, 0.0, 0.5, seed)


def strong_augmentation(keys=("image", "mask"), image_key="image", seed=0):
    """Light augmentation plus elastic deformation (magnitude <= 2 px per 16 px grid), a bias field (MONAI's
    degree-3 polynomial, coefficients <= 0.1), rotation up to 30 degrees, zoom 0.85-1.2 and gamma 0.7-1.5."""
    return _pipeline(keys, image_key, 30.0, (0.85, 1.2), 2.0, (0.7, 1.5), 0.03, 0.1, 0.5, seed)


def fixed_augmentation(keys=("image", "mask"), image_key="image", flip=False, rotate=0.0, zoom=1.0, elastic=0.0,
                       gamma=1.0, noise=0.0, bias=0.0, seed=0):
    """Each transform at one fixed strength, always applied (identities skipped): rotate in degrees, zoom
    factor, elastic magnitude in pixels, gamma, noise std, bias-field coefficient (every coefficient of MONAI's
    degree-3 polynomial; 0.1 already brightens some corners about 1.7-fold). A MONAI Compose."""
    from monai.transforms import (Compose, Rand2DElasticd, RandAdjustContrastd, RandBiasFieldd, RandFlipd,
                                  RandGaussianNoised, RandRotated, RandZoomd)

    for name, value in (("zoom", zoom), ("gamma", gamma)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
    keys, modes = list(keys), _modes(keys, image_key)
    steps = [RandFlipd(keys, prob=1.0, spatial_axis=1)] if flip else []
    if rotate:
        angle = math.radians(rotate)
        steps.append(RandRotated(keys, range_x=(angle, angle), prob=1.0, mode=modes, padding_mode="border"))
    if zoom != 1.0:
        steps.append(RandZoomd(keys, min_zoom=zoom, max_zoom=zoom, prob=1.0,
                               mode=_modes(keys, image_key, "nearest-exact"), padding_mode="edge"))
    if elastic > 0:
        steps.append(Rand2DElasticd(keys, spacing=(16, 16), magnitude_range=(elastic, elastic), prob=1.0,
                                    mode=modes, padding_mode="border"))
    if gamma != 1.0:
        steps.append(RandAdjustContrastd(image_key, gamma=(gamma, gamma), prob=1.0))
    if noise > 0:
        steps.append(RandGaussianNoised(image_key, std=noise, prob=1.0, sample_std=False))
    if bias > 0:
        steps.append(RandBiasFieldd(image_key, coeff_range=(bias, bias), prob=1.0))
    pipeline = Compose(steps)
    pipeline.set_random_state(seed=seed)
    return pipeline


def augment_pair(image, mask, transform, seed=None):
    """Apply a dict ``transform`` to one ``image`` (H, W) or (1, H, W) float and ``mask`` of the same shape.

    Returns (image, mask) as NumPy (H, W) arrays: image float32, mask of the input mask's dtype. ``seed``
    (optional) re-seeds the transform first, so the same seed gives the same draw.
    """
    image, mask = np.asarray(image, np.float32), np.asarray(mask)
    if image.shape != mask.shape or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[0] != 1):
        raise ValueError(f"image and mask must both be (H, W) or (1, H, W), got {image.shape} and {mask.shape}")
    if seed is not None:
        transform.set_random_state(seed=seed)
    two_d = image.ndim == 2
    sample = {"image": image[None] if two_d else image, "mask": (mask[None] if two_d else mask).astype(np.float32)}
    out = transform(sample)
    new_image = np.asarray(out["image"], dtype=np.float32)
    new_mask = np.rint(np.asarray(out["mask"])).astype(mask.dtype)
    return (new_image[0], new_mask[0]) if two_d else (new_image, new_mask)


def _uniform(n, low, high, generator):
    return low + (high - low) * torch.rand(n, generator=generator)


def _bias_fields(n, size, strength, generator):
    """Smooth multiplicative fields (n, 1, H, W): exp(strength * random quadratic), max |exponent| = strength."""
    h, w = size
    y = torch.linspace(-1, 1, h).view(1, h, 1)
    x = torch.linspace(-1, 1, w).view(1, 1, w)
    basis = torch.stack(torch.broadcast_tensors(x, y, x * y, x * x - 0.5, y * y - 0.5)).squeeze(1)  # (5, H, W)
    field = torch.einsum("nk,khw->nhw", torch.randn(n, 5, generator=generator), basis)
    field = field / (field.abs().amax(dim=(1, 2), keepdim=True) + 1e-6)
    return torch.exp(strength * torch.rand(n, 1, 1, generator=generator) * field)[:, None]


def batch_augment(images, masks=None, generator=None, flip=True, rotate=15.0, scale=(0.9, 1.1), gamma=(0.8, 1.25),
                  noise=0.02, bias=0.0):
    """Augment a batch: random flips, rotation (degrees, uniform in +-rotate), scale, then gamma, noise and a
    bias field (image only). One draw per sample, shared by its image and mask.

    images: (N, C, H, W) float tensor in [0, 1]; masks: optional (N, K, H, W) tensor (integer labels or 0/1).
    generator: a ``torch.Generator`` (None: a fresh one seeded with 0). Returns images (clipped to [0, 1]) or
    (images, masks) with masks of the input dtype, resampled with nearest neighbour.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(f"images must be a (N, C, H, W) tensor, got {type(images).__name__} "
                         f"{tuple(getattr(images, 'shape', ()))}")
    if masks is not None and (masks.dim() != 4 or masks.shape[0] != images.shape[0] or
                              masks.shape[-2:] != images.shape[-2:]):
        raise ValueError(f"masks must be (N, K, H, W) matching images {tuple(images.shape)}, got {tuple(masks.shape)}")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    n = images.shape[0]
    angle = torch.deg2rad(_uniform(n, -rotate, rotate, g))
    inv_scale = 1.0 / _uniform(n, scale[0], scale[1], g)
    fx, fy = (torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0) if flip else torch.ones(n) for _ in "xy")
    cos, sin, zero = torch.cos(angle) * inv_scale, torch.sin(angle) * inv_scale, torch.zeros(n)
    theta = torch.stack([torch.stack([cos * fx, -sin * fy, zero], 1), torch.stack([sin * fx, cos * fy, zero], 1)], 1)
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False).clamp(0, 1)
    out = out ** _uniform(n, gamma[0], gamma[1], g).view(n, 1, 1, 1).to(out)
    if bias > 0:
        out = out * _bias_fields(n, out.shape[-2:], bias, g).to(out)
    if noise > 0:
        sigma = noise * torch.rand(n, 1, 1, 1, generator=g)
        out = out + (sigma * torch.randn(out.shape, generator=g)).to(out)
    out = out.clamp(0, 1)
    if masks is None:
        return out
    warped = F.grid_sample(masks.float(), grid.to(masks.device), mode="nearest", padding_mode="zeros",
                           align_corners=False)
    return out, warped.round().to(masks.dtype)


class AugmentedLoader:
    """Wrap a DataLoader of ``(images, labels, ...)`` batches so that every batch is passed through
    :func:`batch_augment` (keyword arguments ``**options``) with one seeded generator: same seed, same draws.

    Dict batches (``{"image", "mask", ...}``) have image and mask augmented together.
    """

    def __init__(self, loader, seed=0, **options):
        self.loader, self.seed, self.options = loader, seed, options
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            if isinstance(batch, dict):
                batch = dict(batch)
                if "mask" in batch:
                    batch["image"], batch["mask"] = batch_augment(batch["image"], batch["mask"], self.generator,
                                                                  **self.options)
                else:
                    batch["image"] = batch_augment(batch["image"], None, self.generator, **self.options)
                yield batch
            else:
                images, *rest = batch
                yield (batch_augment(images, None, self.generator, **self.options), *rest)
