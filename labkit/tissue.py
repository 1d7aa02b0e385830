"""Data built on the MNI152 template, a population average of 152 adult brains (one image, not a subject).

What is real and what is generated:

* ``make_tissue_slices``: slices of the real template T1; labels are the argmax of the template's own CSF, grey and
  white matter probability maps (so they agree with the image by construction, unlike a radiologist's labels on a
  subject). Every slice comes from the same one image: a split by slice position tests new positions in that one
  brain, not new people.
* ``make_template_volume``: the same template and labels as a 3-D volume on a coarse grid (e.g. 4 mm).
* ``make_virtual_subject``: a *generated* variant of the template that stands in for a new subject (it is not one):
  the template warped by a random smooth deformation and a random global scaling (a brain of another shape and
  size), with new intensity statistics (tissue contrasts, gamma, a smooth bias field, noise). Its labels are the
  warped probability maps' argmax, so they are exact. A model trained on the template and tested on it meets a new
  shape and new intensities; it does not meet what real subjects add (pathology, atrophy, other scanners' artefacts,
  the disagreement of human annotators).
* ``volume_slices``: 2-D slices of such a volume, cut and resized as ``make_tissue_slices`` cuts the template.
* ``make_second_contrast``: a T2- or FLAIR-like image *generated* from those probability maps.
* ``make_multimodal_lesion_dataset``: crops of template slices with *generated* lesions in both contrasts and a
  *generated* clinical table.
"""

import functools
from dataclasses import dataclass

import numpy as np
from labkit import realdata
from labkit.synthetic import lesion_boxes, lesion_shapes, paste_windows

__all__ = ["TissueSlices", "TissueVolume", "MultiModalData", "TISSUE_CLASSES", "FEATURE_NAMES", "make_tissue_slices",
           "split_slices", "make_template_volume", "make_virtual_subject", "volume_slices", "make_second_contrast",
           "make_multimodal_lesion_dataset"]

TISSUE_CLASSES = ("background", "csf", "grey matter", "white matter")
FEATURE_NAMES = ("age", "crp", "symptom_score", "bmi", "heart_rate")
_AXES = {"axial": 2, "coronal": 1, "sagittal": 0}


@dataclass(frozen=True, eq=False)
class TissueSlices:
    """MNI152 slices: images (N, 1, S, S) float32 T1 in [0, 1]; labels (N, S, S) int64 with 0 background,
    1 CSF, 2 grey matter, 3 white matter; probs (N, 3, S, S) float32 CSF/GM/WM probabilities in [0, 1];
    index (N,) int64 slice position (voxel index along the slicing axis)."""

    images: np.ndarray
    labels: np.ndarray
    probs: np.ndarray
    index: np.ndarray


@dataclass(frozen=True, eq=False)
class TissueVolume:
    """One brain on a grid of ``spacing`` mm along the template's axes x, y, z: image (1, X, Y, Z) float32 T1-like
    in [0, 1]; labels (X, Y, Z) int64 (0 background, 1 CSF, 2 grey, 3 white matter); probs (3, X, Y, Z) float32
    CSF/GM/WM probabilities; spacing (3,) mm; name: 'MNI152 template' or 'virtual subject <seed>'."""

    image: np.ndarray
    labels: np.ndarray
    probs: np.ndarray
    spacing: tuple
    name: str


@dataclass(frozen=True, eq=False)
class MultiModalData:
    """Co-registered multi-modal lesion set: t1, t2 (N, 1, S, S) float32 in [0, 1]; tabular (N, 5) float32
    raw clinical values named in ``feature_names``; labels (N,) int64; masks (N, 1, S, S) uint8; boxes list
    of (k, 4) float32; lesion_type (N,) str: 'none', 't1' (seen mainly in T1) or 't2' (mainly in T2)."""

    t1: np.ndarray
    t2: np.ndarray
    tabular: np.ndarray
    feature_names: tuple
    labels: np.ndarray
    masks: np.ndarray
    boxes: list
    lesion_type: np.ndarray


def _oriented(volume, axis):
    """(n_slices, rows, cols) with rows from anterior/superior to posterior/inferior (display order)."""
    moved = np.moveaxis(volume, _AXES[axis], 0)  # (n, a, b) -> show b as rows, flipped upward
    return np.flip(np.swapaxes(moved, 1, 2), axis=1)


def _to_square(stack, size):
    """Zero-pad (n, h, w) to square and area-resize to (n, size, size) float32."""
    import torch
    import torch.nn.functional as F

    n, h, w = stack.shape
    side = max(h, w)
    padded = np.zeros((n, side, side), np.float32)
    padded[:, (side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = stack
    out = F.interpolate(torch.from_numpy(padded)[:, None], size=(size, size), mode="area")
    return out[:, 0].numpy()


@functools.lru_cache(maxsize=8)
def _tissue_slices(size, axis):
    vol = realdata.load_mni()
    planes = [_oriented(np.asarray(v, np.float32), axis) for v in (vol.t1, vol.csf, vol.gm, vol.wm, vol.mask)]
    brain_fraction = planes[4].mean(axis=(1, 2))
    t1, csf, gm, wm, mask = (_to_square(p, size) for p in planes)
    probs = np.stack([csf, gm, wm], axis=1)
    labels = np.where(mask > 0.5, probs.argmax(axis=1) + 1, 0).astype(np.int64)
    return t1, labels, np.clip(probs, 0, 1), brain_fraction


def make_tissue_slices(size=64, axis="axial", step=1, min_brain_fraction=0.05):
    """Slices of the MNI152 T1 with tissue labels -> TissueSlices (see its docstring).

    Each slice is zero-padded to a square and area-resized to size x size; labels are the argmax of the
    CSF/GM/WM probability maps inside the brain mask. Only slices whose brain covers at least
    ``min_brain_fraction`` of the slice are kept, every ``step``-th one.
    """
    if axis not in _AXES:
        raise ValueError(f"axis must be one of {tuple(_AXES)}, got {axis!r}")
    if not (isinstance(size, (int, np.integer)) and size >= 16) or not (isinstance(step, int) and step >= 1):
        raise ValueError(f"need an int size >= 16 and an int step >= 1, got size={size!r}, step={step!r}")
    if not 0 <= min_brain_fraction < 1:
        raise ValueError(f"min_brain_fraction must be in [0, 1), got {min_brain_fraction!r}")
    t1, labels, probs, brain_fraction = _tissue_slices(size, axis)
    keep = np.flatnonzero(brain_fraction >= min_brain_fraction)[::step]
    return TissueSlices(images=t1[keep, None].copy(), labels=labels[keep].copy(), probs=probs[keep].copy(),
                        index=keep.astype(np.int64))


def split_slices(index, fractions=(0.6, 0.2, 0.2), gap=3, seed=0):
    """Split slices into train/val/test blocks of contiguous positions -> dict of index arrays.

    index: (N,) slice positions. The sorted slices are cut into three contiguous blocks whose order
    (which block is train, val, test) depends on ``seed``; slices closer than or equal to ``gap`` to
    the previous block are dropped, so any two slices of different splits are more than ``gap`` apart.
    """
    index = np.asarray(index)
    fractions = np.asarray(fractions, dtype=float)
    if len(fractions) != 3 or np.any(fractions <= 0) or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"fractions must be 3 positive numbers summing to 1, got {tuple(fractions)}")
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    perm = np.random.default_rng([seed, 104]).permutation(3)  # which split comes first along the axis
    names, fractions = np.array(["train", "val", "test"])[perm], fractions[perm]
    order = np.argsort(index, kind="stable")
    blocks = np.split(order, np.round(np.cumsum(fractions)[:2] * len(order)).astype(int))
    for k in (1, 2):
        if len(blocks[k - 1]):
            last = index[blocks[k - 1]].max()
            blocks[k] = blocks[k][index[blocks[k]] > last + gap]
    return {str(name): np.sort(block) for name, block in zip(names, blocks)}


@functools.lru_cache(maxsize=1)
def _template_2mm():
    """Template T1, CSF, GM, WM and brain mask averaged into 2-mm voxels -> (5, X, Y, Z) float32 (about 22 MB)."""
    was_cached = realdata.load_mni.cache_info().currsize > 0
    vol = realdata.load_mni()
    out = []
    for v in (vol.t1, vol.csf, vol.gm, vol.wm, vol.mask):
        a = np.pad(np.asarray(v, np.float32), [(0, n % 2) for n in v.shape])
        x, y, z = (n // 2 for n in a.shape)
        out.append(a.reshape(x, 2, y, 2, z, 2).mean(axis=(1, 3, 5)))
    if not was_cached:
        realdata.load_mni.cache_clear()  # keep the 150 MB of 1-mm volumes only if someone else holds them
    return np.stack(out)


def _smooth_field(shape, spacing, control_mm, rng):
    """A smooth random field on a grid ``shape`` of ``spacing`` mm: Gaussian bumps (sigma = control_mm) on control
    points every ``control_mm`` with standard-normal weights, scaled to max |field| = 1 -> float32."""
    bumps = []
    for n in shape:
        x = (np.arange(n) + 0.5) * spacing
        centres = np.arange(-control_mm, n * spacing + 2 * control_mm, control_mm)
        bumps.append(np.exp(-(x[:, None] - centres[None, :]) ** 2 / (2 * control_mm ** 2)))
    coef = rng.standard_normal(tuple(b.shape[1] for b in bumps))
    field = np.einsum("ia,jb,kc,abc->ijk", *bumps, coef, optimize=True)
    return (field / np.abs(field).max()).astype(np.float32)


def _resample(spacing, scale=(1.0, 1.0, 1.0), displacement_mm=0.0, seed=0):
    """Template channels (5, X, Y, Z) on a ``spacing``-mm grid, optionally warped: output point p (mm) reads the
    template at centre + (p - centre) / scale + d(p), d a smooth field of max length displacement_mm."""
    from scipy import ndimage

    base = _template_2mm()
    extent = np.array(base.shape[1:]) * 2.0  # mm
    shape = tuple(int(np.ceil(e / spacing)) for e in extent)
    rng = np.random.default_rng([seed, 109])
    grids = np.meshgrid(*[(np.arange(n) + 0.5) * spacing for n in shape], indexing="ij")
    centre = extent / 2
    coords = []
    for axis, g in enumerate(grids):
        q = centre[axis] + (g - centre[axis]) / scale[axis]
        if displacement_mm > 0:
            q = q + displacement_mm / np.sqrt(3) * _smooth_field(shape, spacing, 40.0, rng)
        coords.append(q / 2.0 - 0.5)  # mm -> 2-mm voxel coordinates (voxel centres at 1, 3, 5, ... mm)
    coords = np.stack(coords)
    return np.stack([ndimage.map_coordinates(c, coords, order=1, mode="constant", cval=0.0) for c in base])


def _volume(channels, spacing, name, image=None):
    t1, csf, gm, wm, mask = channels
    probs = np.clip(np.stack([csf, gm, wm]), 0, 1).astype(np.float32)
    labels = np.where(mask > 0.5, probs.argmax(axis=0) + 1, 0).astype(np.int64)
    image = t1 if image is None else image
    return TissueVolume(image=image[None].astype(np.float32), labels=labels, probs=probs,
                        spacing=(float(spacing),) * 3, name=name)


def _check_spacing(spacing):
    if not isinstance(spacing, (int, float, np.integer, np.floating)) or not 2 <= spacing <= 16:
        raise ValueError(f"spacing must be a number of mm in [2, 16], got {spacing!r}")
    return float(spacing)


def make_template_volume(spacing=4.0):
    """The MNI152 template as a 3-D segmentation volume on an isotropic ``spacing``-mm grid -> TissueVolume.

    Intensities and probability maps are averaged into 2-mm voxels, then linearly resampled to ``spacing``
    (2 to 16 mm); labels are the argmax of the CSF/GM/WM maps inside the brain mask, as in make_tissue_slices.
    """
    return _volume(_resample(_check_spacing(spacing)), spacing, "MNI152 template")


def make_virtual_subject(seed=0, spacing=4.0, displacement_mm=6.0, scale=0.06, contrast=0.06, gamma=(0.75, 1.35),
                         bias=0.2, noise=0.02):
    """A generated stand-in for a new subject: the MNI152 template, warped, with new intensities -> TissueVolume.

    Shape: a random global scaling per axis (factors uniform in 1 +- ``scale``) and a smooth random displacement
    (Gaussian bumps 40 mm wide, longest displacement ``displacement_mm``), applied alike to the T1 and the
    probability maps, so the labels (their argmax inside the warped brain mask) stay exact. Intensities: each
    tissue's T1 shifted by a random amount (std ``contrast``, weighted by its probability), a gamma uniform in
    ``gamma``, a smooth multiplicative bias field exp(+-``bias``) and Gaussian noise of std ``noise``, clipped to
    [0, 1]. ``seed`` fixes every draw. It is one image and its deformations, not a person: see the module docstring.
    """
    spacing = _check_spacing(spacing)
    if not (0 <= displacement_mm <= 20 and 0 <= scale < 0.5 and contrast >= 0 and bias >= 0 and noise >= 0
            and 0 < gamma[0] <= gamma[1]):
        raise ValueError(f"need 0 <= displacement_mm <= 20, 0 <= scale < 0.5, contrast, bias, noise >= 0 and "
                         f"0 < gamma[0] <= gamma[1]; got {displacement_mm}, {scale}, {contrast}, {bias}, {noise}, "
                         f"{gamma}")
    rng = np.random.default_rng([seed, 110])
    factors = tuple(rng.uniform(1 - scale, 1 + scale, 3))
    channels = _resample(spacing, factors, displacement_mm, seed)
    t1, probs = channels[0], channels[1:4]
    image = t1 + np.tensordot(rng.normal(0, contrast, 3).astype(np.float32), probs, axes=1)
    image = np.clip(image, 0, 1) ** np.float32(rng.uniform(*gamma))
    image *= np.exp(bias * _smooth_field(image.shape, spacing, 60.0, rng))
    image += np.float32(noise) * rng.standard_normal(image.shape, np.float32)
    return _volume(channels, spacing, f"virtual subject {seed}", np.clip(image, 0, 1))


def volume_slices(volume, size=64, axis="coronal", min_brain_fraction=0.05):
    """2-D slices of a TissueVolume, cut, padded and area-resized as make_tissue_slices cuts the template
    -> TissueSlices (index: voxel index of the volume along ``axis``; multiply by its spacing for mm)."""
    if not isinstance(volume, TissueVolume):
        raise TypeError(f"volume must be a TissueVolume, got {type(volume).__name__}")
    if axis not in _AXES or not (isinstance(size, (int, np.integer)) and size >= 16):
        raise ValueError(f"need axis in {tuple(_AXES)} and an int size >= 16, got {axis!r}, {size!r}")
    mask = (volume.labels > 0).astype(np.float32)
    planes = [_oriented(v, axis) for v in (volume.image[0], *volume.probs, mask)]
    keep = np.flatnonzero(planes[4].mean(axis=(1, 2)) >= min_brain_fraction)
    t1, csf, gm, wm, brain = (_to_square(np.ascontiguousarray(p[keep]), size) for p in planes)
    probs = np.clip(np.stack([csf, gm, wm], axis=1), 0, 1)
    labels = np.where(brain > 0.5, probs.argmax(axis=1) + 1, 0).astype(np.int64)
    return TissueSlices(images=t1[:, None], labels=labels, probs=probs, index=keep.astype(np.int64))


def make_second_contrast(probs, kind="t2", noise=0.02, seed=0):
    """A co-registered T2- or FLAIR-like image from tissue probabilities -> float32 in [0, 1].

    probs: (..., 3, H, W) CSF, GM, WM probabilities (e.g. ``TissueSlices.probs``). T2: CSF bright,
    grey > white matter; FLAIR: CSF dark (suppressed), grey > white matter. Adds slight blur and
    Gaussian noise of std ``noise`` drawn with ``seed``.
    """
    from scipy import ndimage

    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim < 3 or probs.shape[-3] != 3:
        raise ValueError(f"probs must have shape (..., 3, H, W) (CSF, GM, WM), got {probs.shape}")
    weights = {"t2": (1.0, 0.55, 0.35), "flair": (0.08, 0.7, 0.45)}
    if kind not in weights:
        raise ValueError(f"kind must be 't2' or 'flair', got {kind!r}")
    w_csf, w_gm, w_wm = (np.float32(w) for w in weights[kind])
    image = w_csf * probs[..., 0, :, :] + w_gm * probs[..., 1, :, :] + w_wm * probs[..., 2, :, :]
    image = ndimage.gaussian_filter(image, [0] * (image.ndim - 2) + [0.7, 0.7])
    image += np.float32(noise) * np.random.default_rng([seed, 105]).standard_normal(image.shape, np.float32)
    return np.clip(image, 0, 1).astype(np.float32)


def _clinical_table(labels, rng):
    """Raw clinical features (N, 5): age, CRP and symptom score depend on the label; BMI, heart rate do not."""
    n = len(labels)
    age = rng.normal(55, 12, n) + 6 * labels
    crp = np.exp(rng.normal(1.0 + 0.45 * labels, 0.7, n))
    symptoms = np.minimum(rng.poisson(2.5 + 1.0 * labels), 10)
    bmi, heart_rate = rng.normal(26, 4, n), rng.normal(72, 10, n)
    return np.stack([age, crp, symptoms, bmi, heart_rate], axis=1).astype(np.float32)


def make_multimodal_lesion_dataset(n=1000, size=64, prevalence=0.5, contrast=0.35, radius=(3, 7),
                                   noise=0.02, seed=0):
    """Brain patches in two co-registered contrasts plus a clinical table -> MultiModalData.

    Positives hold one or two lesions of one type: 't1' lesions are dark in T1 and faint in T2, 't2'
    lesions bright in T2 and faint in T1 (faint = 20 % of ``contrast``), half of each, so either image
    alone misses about half the lesions and fusion finds them. The table adds weak, independent evidence.
    """
    if not (0 <= prevalence <= 1 and isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"need n >= 1 and prevalence in [0, 1], got n={n!r}, prevalence={prevalence!r}")
    if not (isinstance(size, (int, np.integer)) and size >= 16 and radius[1] * 1.3 + 2 <= size / 2):
        raise ValueError(f"need size >= 16 and radius[1] * 1.3 + 2 <= size / 2, got size={size}, radius={radius}")
    rng = np.random.default_rng([seed, 102])  # salted: a user's default_rng(seed) split stays random
    t1_src, probs_src = _brain_crops(n, size, rng)
    labels = (rng.permutation(n) < round(prevalence * n)).astype(np.int64)
    t2_type = rng.random(n) < 0.5
    counts = labels * rng.integers(1, 3, n)
    owner = np.repeat(np.arange(n), counts)
    centres, profiles, masks = lesion_shapes(owner, probs_src[:, 1:].sum(1) > 0.5, radius, 0.3, 0.2, rng)
    strong = np.where(t2_type[owner, None], [0.2, 1.0], [1.0, 0.2])  # (L, 2): T1, T2 visibility
    amp = contrast * strong.T * np.array([[-1.0], [1.0]])  # (2, L): dark in T1, bright in T2
    t2_src = make_second_contrast(probs_src, noise=noise, seed=seed + 1)
    del probs_src  # the largest array here; free it before the lesions are drawn
    t1 = np.clip(paste_windows(profiles * amp[0, :, None, None], owner, centres, t1_src), 0, 1, out=t1_src)
    t2 = np.clip(paste_windows(profiles * amp[1, :, None, None], owner, centres, t2_src), 0, 1, out=t2_src)
    lesion_mask = paste_windows(masks, owner, centres, np.zeros((n, size, size), bool))
    lesion_type = np.where(labels == 1, np.where(t2_type, "t2", "t1"), "none")
    return MultiModalData(t1=t1[:, None], t2=t2[:, None],
                          tabular=_clinical_table(labels, rng), feature_names=FEATURE_NAMES, labels=labels,
                          masks=lesion_mask[:, None].astype(np.uint8), boxes=lesion_boxes(masks, owner, centres, n),
                          lesion_type=lesion_type)


def _brain_crops(n, size, rng):
    """n random (size x size) crops of axial MNI slices, T1 (n, S, S) and probabilities (n, 3, S, S)."""
    t1, _, probs, fraction = _tissue_slices(2 * size, "axial")  # whole slice at 2*size px, crop a quarter
    slices = rng.choice(np.flatnonzero(fraction > 0.35), n)
    yx = rng.integers(size // 4, size - size // 4 + 1, size=(n, 2))
    t1_out = np.empty((n, size, size), np.float32)
    probs_out = np.empty((n, 3, size, size), np.float32)
    for i, (s, (y, x)) in enumerate(zip(slices.tolist(), yx.tolist())):
        t1_out[i] = t1[s, y:y + size, x:x + size]
        probs_out[i] = probs[s, :, y:y + size, x:x + size]
    return t1_out, probs_out
