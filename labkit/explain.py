"""Attribution maps (Captum wrappers) and ways to test them: pointing game, attribution mass, randomisation,
deletion curves.

Introduced in 16_interpretability.ipynb. Models take images x (N, C, H, W) float and give logits (N, K); for a
one-output classifier ``target=0`` is its only logit. Maps are (N, H, W) float32 tensors, summed over channels.
By default they are *importance* (larger = more influence, sign dropped): absolute values for saliency,
Integrated Gradients and occlusion, the ReLU'd class activation map for Grad-CAM. With ``signed=True`` they keep
their sign: positive where a pixel raises the target logit, negative where it lowers it. Captum is imported
inside the functions.
"""

import copy

import numpy as np
import torch
from torch import nn

from labkit import layers

__all__ = ["METHODS", "BASELINES", "make_baseline", "attribute", "attribution_peaks", "dilate_masks",
           "pointing_game", "mass_fraction", "randomize_weights", "rank_correlation", "deletion_curve"]

METHODS = ("saliency", "integrated_gradients", "grad_cam", "occlusion")
BASELINES = ("mean", "zeros", "blur")


def _check_inputs(model, x):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"x must be a float tensor (N, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")


def make_baseline(x, kind="mean", sigma=4.0):
    """A reference image for each image of x (N, C, H, W) -> tensor like x: 'mean' fills every image (and
    channel) with its own mean intensity (featureless, neither bright nor dark), 'zeros' is a black image,
    'blur' the image smoothed by a Gaussian of ``sigma`` pixels (local intensity kept, small structures such as
    a lesion smeared out)."""
    if kind == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).contiguous()
    if kind == "zeros":
        return torch.zeros_like(x)
    if kind == "blur":
        return layers.gaussian_blur(x, sigma, radius=max(1, int(3 * sigma))).contiguous()
    raise ValueError(f"baseline must be one of {BASELINES}, got {kind!r}")


def _gradcam(model, x, target, layer, signed):
    from captum.attr import LayerAttribution, LayerGradCam

    layer = layer if layer is not None else getattr(model, "feature_layer", None)
    if layer is None:
        raise ValueError("grad_cam needs a layer: pass layer=... or use a model with a .feature_layer")
    cam = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=not signed)
    return LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")


def attribute(model, x, method, target=0, signed=False, baseline="mean", n_steps=16, internal_batch_size=64,
              window=4, stride=2, layer=None):
    """Attribution map (N, H, W) float32 of ``method`` in METHODS for ``target``; the model is put in eval mode.

    signed: keep the sign (see the module docstring). baseline: the reference of IG and the fill of occlusion,
    one of BASELINES (:func:`make_baseline`). IG uses ``n_steps`` points in batches of ``internal_batch_size``
    (bounds memory); occlusion slides a ``window`` x ``window`` patch with ``stride`` and records the drop of
    the logit; Grad-CAM uses ``layer`` (default ``model.feature_layer``), upsampled bilinearly.
    """
    from captum.attr import IntegratedGradients, Occlusion, Saliency

    _check_inputs(model, x)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    model.eval()
    x = x.detach()
    reference = make_baseline(x, baseline)
    if method == "saliency":
        attr = Saliency(model).attribute(x, target=target, abs=not signed)
    elif method == "integrated_gradients":
        attr = IntegratedGradients(model).attribute(x, baselines=reference, target=target, n_steps=n_steps,
                                                    internal_batch_size=internal_batch_size)
    elif method == "grad_cam":
        attr = _gradcam(model, x, target, layer, signed)
    else:
        shape = (x.shape[1], window, window)
        attr = Occlusion(model).attribute(x, sliding_window_shapes=shape, strides=(x.shape[1], stride, stride),
                                          baselines=reference, target=target, perturbations_per_eval=2)
    attr = attr.sum(dim=1) if signed or method == "grad_cam" else attr.abs().sum(dim=1)
    return attr.detach().float()


def _maps(attr):
    a = attr.detach().cpu().numpy() if isinstance(attr, torch.Tensor) else np.asarray(attr)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3:
        raise ValueError(f"attributions must have shape (N, H, W) or (N, 1, H, W), got {a.shape}")
    return a.astype(np.float64)


def attribution_peaks(attr):
    """Row and column of each map's maximum -> (N, 2) int64 array (first maximum on ties)."""
    a = _maps(attr)
    flat = a.reshape(len(a), -1).argmax(axis=1)
    return np.stack(np.unravel_index(flat, a.shape[1:]), axis=1).astype(np.int64)


def dilate_masks(masks, dilate=0, shape=None):
    """Boolean regions (N, H, W): ``masks`` (N, H, W) or (N, 1, H, W) nonzero, grown by ``dilate`` pixels
    (3x3 steps). ``regions.mean()`` is the chance level of the pointing game."""
    from scipy import ndimage

    m = _maps(masks) > 0
    if shape is not None and m.shape != shape:
        raise ValueError(f"masks must match the attributions' shape {shape}, got {m.shape}")
    if dilate > 0:
        m = ndimage.binary_dilation(m, structure=np.ones((1, 3, 3), bool), iterations=int(dilate))
    return m


def pointing_game(attr, masks, dilate=0):
    """Per-image hits (N,) bool: does the map's peak fall inside the mask (dilated by ``dilate`` pixels)?

    attr (N, H, W) importance maps; masks (N, H, W) or (N, 1, H, W), nonzero inside the target region.
    The hit rate is ``pointing_game(...).mean()``; chance level is the region's area fraction. A constant map
    has no peak and counts as a miss.
    """
    a = _maps(attr)
    regions = dilate_masks(masks, dilate, a.shape)
    peaks = attribution_peaks(a)
    informative = np.ptp(a.reshape(len(a), -1), axis=1) > 0
    return regions[np.arange(len(a)), peaks[:, 0], peaks[:, 1]] & informative


def mass_fraction(attr, masks, dilate=0):
    """Share (N,) float in [0, 1] of each map's positive mass that lies inside the (dilated) mask."""
    a = np.clip(_maps(attr), 0, None)
    regions = dilate_masks(masks, dilate, a.shape)
    total = a.sum(axis=(1, 2))
    return np.where(total > 0, (a * regions).sum(axis=(1, 2)) / np.maximum(total, 1e-30), 0.0)


def randomize_weights(model, seed=0):
    """A copy of ``model`` with every parameter re-initialised (``reset_parameters``, BatchNorm statistics
    reset), drawn with ``seed`` inside ``torch.random.fork_rng``; the original model is untouched."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    clone = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in clone.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
    return clone.eval()


def rank_correlation(maps_a, maps_b):
    """Spearman rank correlation (N,) float between paired maps (N, H, W) (ties get their mean rank).

    Where either map is constant it carries no ranking at all: the result is NaN there (not 0, which would read
    as "unrelated"); count those maps separately, e.g. with ``np.isnan``.
    """
    from scipy import stats

    a, b = _maps(maps_a), _maps(maps_b)
    if a.shape != b.shape:
        raise ValueError(f"maps must have the same shape, got {a.shape} and {b.shape}")
    ra = stats.rankdata(a.reshape(len(a), -1), axis=1)
    rb = stats.rankdata(b.reshape(len(b), -1), axis=1)
    ra, rb = ra - ra.mean(1, keepdims=True), rb - rb.mean(1, keepdims=True)
    denom = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    return np.where(denom > 0, (ra * rb).sum(1) / np.where(denom > 0, denom, 1.0), np.nan)


def deletion_curve(model, x, attr, fractions, baseline="mean", target=0, batch_size=128):
    """Faithfulness by deletion (Petsiuk et al., 2018): the model's probability for ``target`` as the pixels
    each map ranks highest are replaced by the baseline -> (K, N) float array, one row per fraction.

    x (N, C, H, W); attr (N, H, W) maps (higher = deleted first; ties in pixel order); fractions: K shares of
    the pixels in [0, 1]; baseline: the fill, one of BASELINES (:func:`make_baseline`; 'blur' removes small
    structures without painting flat patches that a model may read as new evidence). A faithful map makes the
    probability fall fast: a low area under the curve. Probabilities are sigmoids of a one-output model,
    softmaxes otherwise.
    """
    _check_inputs(model, x)
    a = _maps(attr)
    if a.shape != (x.shape[0], *x.shape[2:]):
        raise ValueError(f"attr must have shape {(x.shape[0], *x.shape[2:])} to match x, got {a.shape}")
    fractions = np.asarray(fractions, dtype=float)
    if fractions.ndim != 1 or len(fractions) == 0 or np.any((fractions < 0) | (fractions > 1)):
        raise ValueError(f"fractions must be a 1-D array of shares in [0, 1], got {fractions!r}")
    n, n_pixels = len(a), a[0].size
    order = torch.from_numpy(np.argsort(-a.reshape(n, -1), axis=1, kind="stable").copy())   # most important first
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(n_pixels).expand(n, -1).contiguous())
    rank = rank.view(n, 1, *x.shape[2:]).to(x.device)
    reference = make_baseline(x.detach(), baseline)
    model.eval()
    rows = []
    with torch.no_grad():
        for f in fractions:
            kept = rank >= int(round(f * n_pixels))   # pixels not (yet) deleted
            probs = []
            for i in range(0, n, batch_size):
                xi = torch.where(kept[i:i + batch_size], x[i:i + batch_size], reference[i:i + batch_size])
                logits = model(xi)
                p = torch.sigmoid(logits[:, 0]) if logits.shape[1] == 1 else torch.softmax(logits, 1)[:, target]
                probs.append(p.cpu())
            rows.append(torch.cat(probs).numpy())
    return np.stack(rows).astype(np.float64)
