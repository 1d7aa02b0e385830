"""Preprocessing of medical images: resampling to a spacing, intensity normalisation, crop/pad, noise.

Introduced in 02_preprocessing.ipynb. Each function matches a MONAI transform numerically, so a lesson can
write the steps by hand and then swap in the pipeline:

=========================  ===========================================================================
labkit.preprocess          MONAI
=========================  ===========================================================================
resample_to_spacing        Spacing(pixdim=new_spacing, mode="bilinear") (order=1), padding_mode "border";
                           with anti_alias=True, a Gaussian first (sigma as skimage's and MONAI Resize's)
clip_and_scale             ScaleIntensityRange(a_min=low, a_max=high, b_min=0, b_max=1, clip=True)
minmax_scale               ScaleIntensity(minv=0, maxv=1)
zscore(image, image != 0)  NormalizeIntensity(nonzero=True)
crop_or_pad                ResizeWithPadOrCrop(size)
=========================  ===========================================================================
"""

import numbers

import numpy as np

__all__ = ["resampled_shape", "anti_alias_sigma", "resample_to_spacing", "clip_and_scale", "minmax_scale", "zscore",
           "crop_or_pad", "add_noise"]


def _array(image, name="image", min_ndim=1):
    if hasattr(image, "detach"):  # torch tensor
        image = image.detach().cpu().numpy()
    a = np.asarray(image)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
    if a.ndim < min_ndim or a.size == 0:
        raise ValueError(f"{name} must be a non-empty array with at least {min_ndim} dimension(s), got shape {a.shape}")
    return a


def _per_axis(value, ndim, name):
    values = (value,) * ndim if isinstance(value, numbers.Real) else tuple(value)
    if len(values) != ndim or not all(isinstance(v, numbers.Real) and np.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"{name} must be a positive number or {ndim} positive numbers (one per axis), got {value!r}")
    return np.asarray(values, dtype=np.float64)


def resampled_shape(shape, spacing, new_spacing):
    """Shape after resampling from ``spacing`` to ``new_spacing`` (mm per axis), keeping the first voxel centre.

    Per axis: ``round((n - 1) * spacing / new_spacing) + 1``, the grid MONAI's ``Spacing`` uses.
    """
    old = _per_axis(spacing, len(shape), "spacing")
    new = _per_axis(new_spacing, len(shape), "new_spacing")
    return tuple(int(v) for v in np.round((np.asarray(shape) - 1) * old / new) + 1)


def anti_alias_sigma(spacing, new_spacing):
    """Gaussian sigma (in input voxels, per axis) to smooth with before resampling from ``spacing`` to ``new_spacing``.

    ``max(0, (factor - 1) / 2)`` with ``factor = new_spacing / spacing``: 0 where the grid gets finer, 1.5 voxels
    for a factor 4; the rule of ``skimage.transform.resize(anti_aliasing=True)`` and MONAI's ``Resize``.
    Introduced in 02_preprocessing.ipynb.
    """
    old = np.atleast_1d(np.asarray(spacing, dtype=np.float64))
    new = np.broadcast_to(np.asarray(new_spacing, dtype=np.float64), old.shape)
    return np.maximum(0.0, (new / old - 1.0) / 2.0)


def resample_to_spacing(image, spacing, new_spacing=1.0, order=1, anti_alias=False):
    """Resample ``image`` (H, W) or (D, H, W) with voxel ``spacing`` (mm per axis) to ``new_spacing``.

    Output voxel j sits at ``j * new_spacing`` mm from the first input voxel centre, that is at input index
    ``j * new_spacing / spacing``; values are interpolated with a spline of ``order`` (0 nearest, for masks;
    1 linear; 3 cubic) and edge values repeat beyond the last voxel. ``anti_alias=True`` first smooths each
    axis that gets coarser with a Gaussian of :func:`anti_alias_sigma`, so that detail finer than the new grid
    is removed instead of folding back as aliasing (not for masks: order 0 ignores it). Returns float32, or the
    input dtype for order 0. Introduced in 02_preprocessing.ipynb.
    """
    from scipy import ndimage

    a = _array(image, min_ndim=1)
    if order not in (0, 1, 2, 3, 4, 5):
        raise ValueError(f"order must be an integer spline order 0..5, got {order!r}")
    old = _per_axis(spacing, a.ndim, "spacing")
    new = _per_axis(new_spacing, a.ndim, "new_spacing")
    shape = resampled_shape(a.shape, old, new)
    source = a if order == 0 else a.astype(np.float32)
    if anti_alias and order > 0 and np.any(new > old):
        source = ndimage.gaussian_filter(source, anti_alias_sigma(old, new), mode="nearest")
    out = ndimage.affine_transform(source, new / old, output_shape=shape, order=order, mode="nearest")
    return out if order == 0 else out.astype(np.float32)


def clip_and_scale(image, low, high):
    """Clip ``image`` to [low, high] (e.g. a HU range) and map that range linearly to [0, 1] -> float32.

    Introduced in 02_preprocessing.ipynb.
    """
    if not (np.isfinite(low) and np.isfinite(high) and high > low):
        raise ValueError(f"need finite low < high, got low={low!r}, high={high!r}")
    a = _array(image).astype(np.float32)
    return ((np.clip(a, low, high) - np.float32(low)) / np.float32(high - low)).astype(np.float32)


def minmax_scale(image):
    """Map the smallest value of ``image`` to 0 and the largest to 1 -> float32; a constant image gives zeros.

    Introduced in 02_preprocessing.ipynb.
    """
    a = _array(image).astype(np.float32)
    low, high = a.min(), a.max()
    if high == low:
        return np.zeros_like(a)
    return ((a - low) / (high - low)).astype(np.float32)


def zscore(image, mask=None, eps=1e-8):
    """Z-score normalisation with the mean and std (ddof=0) of the voxels inside ``mask`` -> float32.

    mask: bool array of the image's shape, or None for every voxel. Voxels outside the mask become 0.
    With ``mask = image != 0`` this equals MONAI's ``NormalizeIntensity(nonzero=True)``.
    Introduced in 02_preprocessing.ipynb.
    """
    a = _array(image).astype(np.float32)
    m = np.ones(a.shape, bool) if mask is None else _array(mask, "mask").astype(bool)
    if m.shape != a.shape:
        raise ValueError(f"mask shape {m.shape} differs from image shape {a.shape}")
    if not m.any():
        raise ValueError("mask is empty: z-score needs at least one voxel inside the mask")
    values = a[m]
    out = (a - values.mean()) / max(float(values.std()), eps)
    return np.where(m, out, 0.0).astype(np.float32)


def crop_or_pad(image, size, value=0):
    """Centre-crop or pad (with ``value``) each axis of ``image`` to ``size``, as MONAI's ResizeWithPadOrCrop.

    Per axis with n voxels and target t: crop keeps ``[n // 2 - t // 2, ... + t)``; pad adds ``(t - n) // 2``
    before and the rest after. Introduced in 02_preprocessing.ipynb.
    """
    a = _array(image)
    size = tuple(size) if not isinstance(size, numbers.Integral) else (size,) * a.ndim
    if len(size) != a.ndim or not all(isinstance(t, numbers.Integral) and t > 0 for t in size):
        raise ValueError(f"size must give one positive integer per axis ({a.ndim}), got {size!r}")
    crop = tuple(slice(max(n // 2 - t // 2, 0), max(n // 2 - t // 2, 0) + t) if n > t else slice(None)
                 for n, t in zip(a.shape, size))
    a = a[crop]
    pad = [((t - n) // 2, t - n - (t - n) // 2) if t > n else (0, 0) for n, t in zip(a.shape, size)]
    return np.pad(a, pad, constant_values=value)


def add_noise(image, sigma, seed=0, kind="gaussian"):
    """``image`` with noise of standard deviation ``sigma`` (same units) -> float32.

    kind: ``"gaussian"`` adds one normal draw per pixel; ``"rician"`` is the noise of a magnitude MR image: the
    scanner measures a complex signal with Gaussian noise in its real and imaginary parts, and the image is the
    magnitude ``sqrt((image + n_re)**2 + n_im**2)`` (``n_re, n_im = rng.normal(0, sigma, (2, *shape))``), which
    is biased upwards where the signal is weak (background: Rayleigh, mean ``sigma * sqrt(pi / 2)``).
    Uses a local generator seeded with ``seed``. Introduced in 02_preprocessing.ipynb.
    """
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    if kind not in ("gaussian", "rician"):
        raise ValueError(f"kind must be 'gaussian' or 'rician', got {kind!r}")
    a = _array(image).astype(np.float32)
    rng = np.random.default_rng(seed)
    if kind == "rician":
        real, imaginary = rng.normal(0.0, sigma, (2, *a.shape))
        return np.hypot(a + real, imaginary).astype(np.float32)
    return (a + rng.normal(0.0, sigma, a.shape)).astype(np.float32)
