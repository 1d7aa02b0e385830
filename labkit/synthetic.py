"""Hybrid lesion data: synthetic lesions inserted into real anatomy, with exact ground truth.

Patches come from the real images of :mod:`labkit.data` (MNI152 axial slices, head and neck CT,
a chest X-ray, a fundus photo). Each knob of :func:`make_lesion_dataset` controls one difficulty:
lesion size/contrast/shape, class imbalance, label noise, a spurious shortcut, scanner/site effects.
"""

import functools
from dataclasses import dataclass, fields, replace

import numpy as np
from scipy import ndimage

from labkit import data

__all__ = ["ANATOMIES", "LesionData", "SiteEffect", "make_lesion_dataset", "apply_site_effect",
           "split_by_patient"]

ANATOMIES = ("mni", "ct", "xray", "retina")
_CROP_PIXELS = {"mni": 64, "ct": 96, "ct_small": 64, "xray": 384, "retina": 256}  # native crop sizes (pixels)


@dataclass(frozen=True, eq=False)
class LesionData:
    """Arrays of one generated data set (N samples).

    images (N, 1, S, S) float32 in [0, 1]; labels (N,) int64 observed (possibly noisy), true_labels (N,);
    masks (N, 1, S, S) uint8 lesion masks (all zero for negatives); boxes: list of N (k, 4) float32 arrays
    x1, y1, x2, y2 (pixel edges, x2/y2 exclusive; (0, 4) for negatives); patient, site (N,) int64;
    anatomy (N,) str; marker (N,) bool where the spurious marker was drawn.
    """

    images: np.ndarray
    labels: np.ndarray
    true_labels: np.ndarray
    masks: np.ndarray
    boxes: list
    patient: np.ndarray
    site: np.ndarray
    anatomy: np.ndarray
    marker: np.ndarray

    def __len__(self):
        return len(self.labels)

    def subset(self, index):
        """A new LesionData with the samples ``index`` (an index array, e.g. from split_by_patient)."""
        index = np.asarray(index, dtype=np.int64)
        picked = {f.name: getattr(self, f.name)[index] for f in fields(self) if f.name != "boxes"}
        return replace(self, boxes=[self.boxes[i] for i in index], **picked)


@dataclass(frozen=True)
class SiteEffect:
    """How one scanner/site alters images: multiplicative bias field strength (0 = none), additive noise
    std, gamma (1 = none), Gaussian blur sigma in pixels, resolution factor (1 = none, 0.5 = half)."""

    bias: float = 0.0
    noise: float = 0.0
    gamma: float = 1.0
    blur: float = 0.0
    resolution: float = 1.0


# ------------------------------------------------------------------------------------ anatomy sources
def _resize(image, factor):
    from PIL import Image

    height, width = image.shape
    shape = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(np.ascontiguousarray(image, np.float32)).resize(shape, Image.BILINEAR))


def _native_images(anatomy):
    """[(name, image in [0, 1], valid mask)] at native resolution for one anatomy."""
    if anatomy == "mni":
        t1, mask = data.load_mni_t1()
        return [("mni", np.flipud(t1[:, :, z].T), np.flipud(mask[:, :, z].T)) for z in range(45, 150)]
    if anatomy == "ct":
        head, neck = data.load_dicom("head_ct").pixels, data.load_dicom("ct_small").pixels
        return [("ct", data.apply_window(head, 40, 120), (head > -20) & (head < 100)),
                ("ct_small", data.apply_window(neck, 40, 400), (neck > -150) & (neck < 300))]
    if anatomy == "xray":
        pixels = data.load_dicom("chest_xray").pixels
        low, high = np.percentile(pixels[100:-100, 100:-100], [1, 99.5])
        image = np.clip((pixels - low) / (high - low), 0, 1).astype(np.float32)
        valid = np.zeros(image.shape, bool)
        valid[100:-100, 100:-100] = True
        return [("xray", image, valid)]
    green = data.load_photo("retina")[..., 1]
    valid = ndimage.binary_erosion(green > 0.08, iterations=20)
    return [("retina", np.clip(green / np.percentile(green[valid], 99.5), 0, 1), valid)]


@functools.lru_cache(maxsize=16)
def _anatomy_source(anatomy, size):
    """Resized images, valid masks and candidate crops (M, 3) = (image index, y0, x0) for one anatomy."""
    images, valids, candidates = [], [], []
    for name, image, valid in _native_images(anatomy):
        factor = size / _CROP_PIXELS[name]
        images.append(_resize(image, factor))
        valids.append(_resize(valid.astype(np.float32), factor) > 0.5)
    stride = max(1, size // 8)
    for i, valid in enumerate(valids):
        frac = ndimage.uniform_filter(valid.astype(np.float32), size, mode="constant")
        ys, xs = np.mgrid[0:valid.shape[0] - size + 1:stride, 0:valid.shape[1] - size + 1:stride]
        ok = frac[ys + size // 2, xs + size // 2] >= 0.75
        candidates.append(np.stack([np.full(ok.sum(), i), ys[ok], xs[ok]], axis=1))
    return images, valids, np.concatenate(candidates)


def _crop_patches(anatomy_codes, anatomies, size, n_per_patient, rng):
    """Patches of every patient: same image (or MNI slab of +-3 slices), jittered around an anchor."""
    n_patients = len(anatomy_codes)
    images = np.empty((n_patients, n_per_patient, size, size), np.float32)
    valid = np.empty(images.shape, bool)
    jitter = rng.integers(-(size // 4), size // 4 + 1, size=(n_patients, n_per_patient, 2)).tolist()
    dz = rng.integers(-3, 4, size=(n_patients, n_per_patient)).tolist()
    for code, anatomy in enumerate(anatomies):
        sources, valids, candidates = _anatomy_source(anatomy, size)
        for p in np.flatnonzero(anatomy_codes == code):
            src, y0, x0 = candidates[rng.integers(len(candidates))].tolist()
            for j in range(n_per_patient):
                s = min(max(src + dz[p][j], 0), len(sources) - 1) if anatomy == "mni" else src
                height, width = sources[s].shape
                y = min(max(y0 + jitter[p][j][0], 0), height - size)
                x = min(max(x0 + jitter[p][j][1], 0), width - size)
                images[p, j] = sources[s][y:y + size, x:x + size]
                valid[p, j] = valids[s][y:y + size, x:x + size]
    return images.reshape(-1, size, size), valid.reshape(-1, size, size)


# ------------------------------------------------------------------------------------ lesions
def _lesion_windows(owner, valid, radius, irregularity, texture, rng):
    """Shapes of L lesions in local windows: centres (L, 2), profiles (L, W, W) float32 in [0, 1+],
    binary masks (L, W, W), with W = 2 * half + 1 and every lesion entirely inside the image."""
    n_lesions, size = len(owner), valid.shape[-1]
    half = int(np.ceil(radius[1] * (1 + irregularity))) + 1
    cand = rng.integers(half, size - half, size=(n_lesions, 8, 2))
    ok = valid[owner[:, None], cand[..., 0], cand[..., 1]]
    centres = cand[np.arange(n_lesions), ok.argmax(axis=1)]
    offset = np.arange(-half, half + 1, dtype=np.float32)
    dy = offset[None, :, None] - rng.uniform(-0.5, 0.5, (n_lesions, 1, 1)).astype(np.float32)
    dx = offset[None, None, :] - rng.uniform(-0.5, 0.5, (n_lesions, 1, 1)).astype(np.float32)
    r = np.sqrt(dy ** 2 + dx ** 2) + 1e-6
    u, v = dx / r, dy / r  # cos and sin of the angle
    coef = rng.normal(0, 1, (n_lesions, 4, 1, 1)).astype(np.float32) / 2
    wobble = coef[:, 0] * (u * u - v * v) + coef[:, 1] * 2 * u * v + coef[:, 2] * (4 * u ** 3 - 3 * u) \
        + coef[:, 3] * (3 * v - 4 * v ** 3)
    radii = rng.uniform(radius[0], radius[1], (n_lesions, 1, 1)).astype(np.float32)
    edge = radii * (1 + irregularity * np.clip(wobble, -1, 1))
    masks = r <= np.maximum(edge, 0.7)
    grain = ndimage.gaussian_filter(rng.standard_normal(masks.shape, np.float32), (0, 1, 1)) * 2.5
    profiles = np.clip(edge - r + 0.5, 0, 1) * np.clip(1 + texture * grain, 0, None)
    return centres, profiles.astype(np.float32), masks


def _paste(windows, owner, centres, out):
    """Add lesion windows (L, W, W) into out (n, size, size) in place at their centres (OR for bool)."""
    half, width = windows.shape[-1] // 2, windows.shape[-1]
    for window, i, (y, x) in zip(windows, owner.tolist(), centres.tolist()):  # L small adds: fast
        target = out[i, y - half:y - half + width, x - half:x - half + width]
        if out.dtype == bool:
            target |= window
        else:
            target += window
    return out


def _boxes(masks, owner, centres, n):
    half = masks.shape[-1] // 2
    rows, cols = masks.any(axis=2), masks.any(axis=1)
    first = lambda a: a.argmax(axis=1)
    last = lambda a: a.shape[1] - a[:, ::-1].argmax(axis=1)
    boxes = np.stack([centres[:, 1] - half + first(cols), centres[:, 0] - half + first(rows),
                      centres[:, 1] - half + last(cols), centres[:, 0] - half + last(rows)], 1)
    return [boxes[owner == i].astype(np.float32).reshape(-1, 4) for i in range(n)]


def _insert_lesions(images, valid, positive, knobs, rng):
    """Insert lesions into the positive images -> (images, masks, boxes, owner, centres, profiles)."""
    n, size = images.shape[0], images.shape[-1]
    counts = np.where(positive, rng.integers(1, knobs["max_lesions"] + 1, n), 0)
    owner = np.repeat(np.arange(n), counts)
    centres, profiles, masks = _lesion_windows(owner, valid, knobs["radius"], knobs["irregularity"],
                                               knobs["texture"], rng)
    tissue = images[owner, centres[:, 0], centres[:, 1]]
    roomy = np.where(tissue < 0.5, 1.0, -1.0)  # mixed: the side with more room before clipping
    sign = {"bright": np.ones(len(owner)), "dark": -np.ones(len(owner)), "mixed": roomy}[knobs["polarity"]]
    amp = (sign * knobs["contrast"] * rng.uniform(0.8, 1.2, len(owner))).astype(np.float32)
    images = np.clip(_paste(profiles * amp[:, None, None], owner, centres, images), 0, 1, out=images)
    lesion_mask = _paste(masks, owner, centres, np.zeros((n, size, size), bool))
    return images, lesion_mask, _boxes(masks, owner, centres, n), owner, centres, profiles


# ------------------------------------------------------------------------------------ data set
def _check_knobs(n, size, prevalence, anatomy, contrast, radius, max_lesions, irregularity,
                 label_noise, spurious, patches_per_patient, polarity):
    def need(ok, what, got):
        if not ok:
            raise ValueError(f"{what}, got {got!r}")

    need(isinstance(n, (int, np.integer)) and n >= 1, "n must be an int >= 1", n)
    need(isinstance(size, (int, np.integer)) and size >= 16, "size must be an int >= 16", size)
    for name, value in (("prevalence", prevalence), ("spurious", spurious), ("label_noise", label_noise)):
        need(0.0 <= value <= 1.0, f"{name} must be in [0, 1]", value)
    unknown = [a for a in anatomy if a not in ANATOMIES]
    need(len(anatomy) > 0 and not unknown and not isinstance(anatomy, str),
         f"anatomy must be a non-empty tuple drawn from {ANATOMIES}", anatomy)
    need(contrast >= 0, "contrast must be >= 0", contrast)
    need(0.0 <= irregularity < 1.0, "irregularity must be in [0, 1)", irregularity)
    need(len(radius) == 2 and 1 <= radius[0] <= radius[1], "radius must be (low, high) with 1 <= low <= high",
         radius)
    need(radius[1] * (1 + irregularity) + 2 <= size / 2, f"radius[1] * (1 + irregularity) + 2 <= size / 2 = "
         f"{size / 2}", radius)
    need(isinstance(max_lesions, (int, np.integer)) and max_lesions >= 1, "max_lesions must be an int >= 1",
         max_lesions)
    need(isinstance(patches_per_patient, (int, np.integer)) and patches_per_patient >= 1,
         "patches_per_patient must be an int >= 1", patches_per_patient)
    need(polarity in ("bright", "dark", "mixed"), "polarity must be 'bright', 'dark' or 'mixed'", polarity)


def _draw_marker(images, marked):
    side = max(2, images.shape[-1] // 16)
    images[marked, 2:2 + side, 2:2 + side] = 1.0


def make_lesion_dataset(n=2000, size=64, prevalence=0.5, anatomy=ANATOMIES, contrast=0.25, radius=(3, 8),
                        max_lesions=3, irregularity=0.3, texture=0.2, label_noise=0.0, spurious=0.0,
                        site_effects=None, patches_per_patient=8, polarity="mixed", seed=0):
    """Generate lesion present/absent patches on real anatomy -> LesionData (see its docstring).

    Labels are per patient: round(prevalence * n_patients) patients are positive and every patch of a
    positive patient holds 1..max_lesions lesions. A patient's patches come from one anatomy region
    (MNI: a slab of +-3 slices) with a shared intensity gain/offset, so random patch splits leak.
    contrast: lesion intensity step on the [0, 1] image scale (+-20 % per lesion; clipped at 0 and 1);
    radius in pixels;
    irregularity in [0, 1): radial wobble of the outline; texture: internal grain; polarity: 'bright',
    'dark' or 'mixed' (bright on tissue darker than 0.5, dark on brighter tissue). label_noise flips observed labels with that probability (true_labels kept).
    spurious: a bright square marker in the top-left corner drawn in a fraction ``spurious`` of positives
    and ``spurious / 10`` of negatives (a learnable shortcut). site_effects: list of SiteEffect; patients
    are spread evenly over the sites and each site's effect is applied to its patches.
    """
    _check_knobs(n, size, prevalence, anatomy, contrast, radius, max_lesions, irregularity, label_noise,
                 spurious, patches_per_patient, polarity)
    rng = np.random.default_rng([seed, 101])  # salted: independent of other seed-0 draws
    n_patients = -(-n // patches_per_patient)
    positive_patients = np.zeros(n_patients, bool)
    positive_patients[rng.permutation(n_patients)[:round(prevalence * n_patients)]] = True
    codes = rng.integers(len(anatomy), size=n_patients)
    images, valid = _crop_patches(codes, tuple(anatomy), size, patches_per_patient, rng)
    patient = np.repeat(np.arange(n_patients), patches_per_patient)
    order = rng.permutation(len(patient))[:n]  # shuffled, so a random split mixes patients
    images, valid, patient = images[order], valid[order], patient[order]
    gain, offset = rng.uniform(0.9, 1.1, n_patients), rng.normal(0, 0.03, n_patients)
    images *= gain[patient, None, None].astype(np.float32)  # in place: keeps the peak memory low
    images += offset[patient, None, None].astype(np.float32)
    np.clip(images, 0, 1, out=images)
    true_labels = positive_patients[patient].astype(np.int64)
    knobs = dict(max_lesions=max_lesions, radius=radius, irregularity=irregularity, texture=texture,
                 contrast=contrast, polarity=polarity)
    images, masks, boxes = _insert_lesions(images, valid, true_labels == 1, knobs, rng)[:3]
    marker = rng.random(n) < np.where(true_labels == 1, spurious, spurious / 10)
    _draw_marker(images, marker)
    site = _assign_sites(n_patients, site_effects, rng)[patient]
    for s, effect in enumerate(site_effects or []):
        images[site == s] = apply_site_effect(images[site == s, None], effect, seed=seed + 1 + s)[:, 0]
    labels = np.where(rng.random(n) < label_noise, 1 - true_labels, true_labels)
    return LesionData(images=images[:, None].astype(np.float32), labels=labels.astype(np.int64),
                      true_labels=true_labels, masks=masks[:, None].astype(np.uint8), boxes=boxes,
                      patient=patient.astype(np.int64), site=site.astype(np.int64),
                      anatomy=np.asarray(anatomy)[codes[patient]], marker=marker)


def _assign_sites(n_patients, site_effects, rng):
    if site_effects is None:
        return np.zeros(n_patients, np.int64)
    if not site_effects or not all(isinstance(e, SiteEffect) for e in site_effects):
        raise TypeError(f"site_effects must be None or a non-empty list of SiteEffect, got {site_effects!r}")
    return rng.permutation(np.arange(n_patients) % len(site_effects))


# ------------------------------------------------------------------------------------ sites
def _bias_field(n, size, strength, rng):
    """Smooth multiplicative fields (n, size, size): exp(strength * random quadratic in x, y)."""
    grid = np.linspace(-1, 1, size, dtype=np.float32)
    y, x = np.meshgrid(grid, grid, indexing="ij")
    basis = np.stack([x, y, x * y, x * x - 0.5, y * y - 0.5])  # (5, size, size)
    coef = rng.normal(0, 1, (n, 5)).astype(np.float32)
    field = np.tensordot(coef, basis, axes=1)
    field /= np.abs(field).max(axis=(1, 2), keepdims=True) + 1e-6
    return np.exp(strength * field)


def apply_site_effect(images, effect, seed=0):
    """Apply one site's acquisition effects to images (N, C, H, W) float32 in [0, 1] -> same shape/range.

    Order: resolution loss (smooth, subsample, linear upsample), blur, bias field, gamma, noise.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {images.shape}")
    if not isinstance(effect, SiteEffect):
        raise TypeError(f"effect must be a SiteEffect, got {type(effect).__name__}")
    if not (0 < effect.resolution <= 1 and effect.gamma > 0 and effect.noise >= 0 and effect.blur >= 0):
        raise ValueError(f"need 0 < resolution <= 1, gamma > 0, noise >= 0, blur >= 0; got {effect}")
    rng = np.random.default_rng([seed, 106])
    out = images
    if effect.resolution < 1:
        sigma = 0.5 * (1 / effect.resolution - 1)  # anti-aliasing before subsampling
        low = ndimage.zoom(ndimage.gaussian_filter(out, (0, 0, sigma, sigma)), (1, 1) + (effect.resolution,) * 2,
                           order=1, grid_mode=True, mode="nearest")
        back = (1, 1, images.shape[2] / low.shape[2], images.shape[3] / low.shape[3])
        out = ndimage.zoom(low, back, order=1, grid_mode=True, mode="nearest")
    if effect.blur > 0:
        out = ndimage.gaussian_filter(out, (0, 0, effect.blur, effect.blur))
    if effect.bias > 0:
        out = out * _bias_field(len(out), images.shape[-1], effect.bias, rng)[:, None]
    out = np.clip(out, 0, 1) ** effect.gamma
    if effect.noise > 0:
        out = out + np.float32(effect.noise) * rng.standard_normal(out.shape, np.float32)
    return np.clip(out, 0, 1).astype(np.float32)


# ------------------------------------------------------------------------------------ splits
def split_by_patient(patient, fractions=(0.6, 0.2, 0.2), seed=0, stratify=None):
    """Split sample indices so that no patient is in two splits -> {"train", "val", "test"} index arrays.

    stratify: optional (N,) labels; patients are then split per class (by each patient's majority label)
    so every split keeps about the same prevalence.
    """
    patient = np.asarray(patient)
    fractions = np.asarray(fractions, dtype=float)
    if len(fractions) != 3 or np.any(fractions < 0) or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"fractions must be 3 non-negative numbers summing to 1, got {tuple(fractions)}")
    rng = np.random.default_rng([seed, 103])  # salted: independent of the generators' draws
    ids = np.unique(patient)
    if stratify is None:
        groups = [ids]
    else:
        stratify = np.asarray(stratify)
        if stratify.shape != patient.shape:
            raise ValueError(f"stratify must have the shape of patient {patient.shape}, got {stratify.shape}")
        majority = np.array([np.round(stratify[patient == p].mean()) for p in ids])
        groups = [ids[majority == c] for c in np.unique(majority)]
    chosen = {"train": [], "val": [], "test": []}
    for group in groups:
        group = rng.permutation(group)
        cuts = np.round(np.cumsum(fractions)[:2] * len(group)).astype(int)
        for name, part in zip(chosen, np.split(group, cuts)):
            chosen[name].append(part)
    return {name: np.flatnonzero(np.isin(patient, np.concatenate(parts))) for name, parts in chosen.items()}
