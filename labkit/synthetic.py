"""Generated lesion data: synthetic lesions inserted into crops of a few real images, with exact ground truth.

What is real and what is generated. The anatomy is real, but it comes from five source images only
(:data:`SOURCES`): axial slices of the MNI152 template (a population average, not a subject), one head CT slice
(which shows a real subdural haematoma, kept out of every crop), one CT slice through a vertebra, one chest
X-ray and one fundus photograph, all from :mod:`labkit.realdata`. The lesions, their masks and boxes, the labels,
scanner effects, label noise and shortcuts are generated.

The unit that stands in for a patient is a **crop group**: the patches cut around one anchor point of one
source image (for the MNI template, within +-3 slices), with one shared intensity gain and one label. A split by
crop group keeps neighbouring crops apart, which a random patch split does not; but all groups of one source share
that source's anatomy, so it does not test generalisation to new people. For that, hold a source image out
(``sources=``) or use a deformed template (:mod:`labkit.tissue`).

Each knob of :func:`make_lesion_dataset` controls one difficulty: lesion size/contrast/shape, class imbalance,
label noise, a spurious shortcut, scanner/site effects.
"""

import functools
from dataclasses import dataclass, fields, replace

import numpy as np
from scipy import ndimage

from labkit import realdata

__all__ = ["ANATOMIES", "SOURCES", "HAEMATOMA_BOX", "LesionData", "SiteEffect", "make_lesion_dataset",
           "apply_site_effect", "lesion_shapes", "paste_windows", "lesion_boxes"]

ANATOMIES = ("mni", "ct", "xray", "retina")
SOURCES = {"mni": ("mni",), "ct": ("ct_head", "ct_spine"), "xray": ("xray",), "retina": ("retina",)}
_CROP_PIXELS = {"mni": 64, "ct_head": 96, "ct_spine": 64, "xray": 384, "retina": 256}  # native crop sizes (pixels)
# The head CT (pydicom-data 693, from CQ500) shows a subdural haematoma: a hyperdense crescent along the inner
# table of the skull on the image's right (the patient's left). No crop may touch this box (x0, y0, x1, y1 in
# native pixels), so that no patch labelled "no lesion" holds a real lesion.
HAEMATOMA_BOX = (345, 130, 410, 315)


@dataclass(frozen=True, eq=False)
class LesionData:
    """Arrays of one generated data set (N samples).

    images (N, 1, S, S) float32 in [0, 1]; labels (N,) int64 observed (possibly noisy), true_labels (N,);
    masks (N, 1, S, S) uint8 lesion masks (all zero for negatives); boxes: list of N (k, 4) float32 arrays
    x1, y1, x2, y2 (pixel edges, x2/y2 exclusive; (0, 4) for negatives); group (N,) int64 crop group (the
    stand-in for a patient: patches around one anchor of one source image, one label); site (N,) int64;
    anatomy (N,) str; source (N,) str, the real source image (see :data:`SOURCES`); marker (N,) bool where the
    spurious marker was drawn.
    """

    images: np.ndarray
    labels: np.ndarray
    true_labels: np.ndarray
    masks: np.ndarray
    boxes: list
    group: np.ndarray
    site: np.ndarray
    anatomy: np.ndarray
    source: np.ndarray
    marker: np.ndarray

    def __len__(self):
        return len(self.labels)

    def subset(self, index):
        """A new LesionData with the samples ``index`` (an index array, e.g. from validation.split_by_group)."""
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
    """[(source name, image in [0, 1], valid mask, forbidden mask or None)] at native resolution for one anatomy."""
    if anatomy == "mni":
        t1, mask = realdata.load_mni_t1()
        return [("mni", np.flipud(t1[:, :, z].T), np.flipud(mask[:, :, z].T), None) for z in range(45, 150)]
    if anatomy == "ct":
        head, spine = realdata.load_dicom("head_ct").pixels, realdata.load_dicom("ct_small").pixels
        haematoma = np.zeros(head.shape, bool)
        x0, y0, x1, y1 = HAEMATOMA_BOX
        haematoma[y0:y1, x0:x1] = True
        return [("ct_head", realdata.apply_window(head, 40, 120), (head > -20) & (head < 100) & ~haematoma, haematoma),
                ("ct_spine", realdata.apply_window(spine, 40, 400), (spine > -150) & (spine < 300), None)]
    if anatomy == "xray":
        pixels = realdata.load_dicom("chest_xray").pixels
        low, high = np.percentile(pixels[100:-100, 100:-100], [1, 99.5])
        image = np.clip((pixels - low) / (high - low), 0, 1).astype(np.float32)
        valid = np.zeros(image.shape, bool)
        valid[100:-100, 100:-100] = True
        return [("xray", image, valid, None)]
    green = realdata.load_photo("retina")[..., 1]
    valid = ndimage.binary_erosion(green > 0.08, iterations=20)
    return [("retina", np.clip(green / np.percentile(green[valid], 99.5), 0, 1), valid, None)]


def _touches(forbidden, ys, xs, size):
    """For crops at (ys, xs) of size ``size``, moved by up to the jitter (size // 4): could they touch
    ``forbidden``? Computed with a maximum filter over the crop window plus the jitter margin."""
    reach = size + 2 * (size // 4)
    near = ndimage.maximum_filter(forbidden.astype(np.uint8), size=reach, mode="constant", origin=-(reach // 2))
    return near[np.maximum(ys - size // 4, 0), np.maximum(xs - size // 4, 0)] > 0


@functools.lru_cache(maxsize=16)
def _anatomy_source(anatomy, size):
    """Resized images, valid masks, source names and candidate crops (M, 3) = (image index, y0, x0)."""
    images, valids, names, candidates = [], [], [], []
    for name, image, valid, forbidden in _native_images(anatomy):
        factor = size / _CROP_PIXELS[name]
        images.append(_resize(image, factor))
        valids.append(_resize(valid.astype(np.float32), factor) > 0.5)
        names.append(name)
        i, valid = len(images) - 1, valids[-1]
        stride = max(1, size // 8)
        frac = ndimage.uniform_filter(valid.astype(np.float32), size, mode="constant")
        ys, xs = np.mgrid[0:valid.shape[0] - size + 1:stride, 0:valid.shape[1] - size + 1:stride]
        ok = frac[ys + size // 2, xs + size // 2] >= 0.75
        if forbidden is not None:
            ok &= ~_touches(_resize(forbidden.astype(np.float32), factor) > 0, ys, xs, size)
        candidates.append(np.stack([np.full(ok.sum(), i), ys[ok], xs[ok]], axis=1))
    return images, valids, tuple(names), np.concatenate(candidates)


def _crop_patches(anatomy_codes, anatomies, size, n_per_group, rng, sources=None):
    """Patches of every crop group: same image (or MNI slab of +-3 slices), jittered around an anchor ->
    (images, valid masks, source name per group)."""
    n_groups = len(anatomy_codes)
    images = np.empty((n_groups, n_per_group, size, size), np.float32)
    valid = np.empty(images.shape, bool)
    group_source = np.empty(n_groups, object)
    jitter = rng.integers(-(size // 4), size // 4 + 1, size=(n_groups, n_per_group, 2)).tolist()
    dz = rng.integers(-3, 4, size=(n_groups, n_per_group)).tolist()
    for code, anatomy in enumerate(anatomies):
        images_a, valids, names, candidates = _anatomy_source(anatomy, size)
        if sources is not None:
            candidates = candidates[np.isin(np.asarray(names)[candidates[:, 0]], sources)]
        for g in np.flatnonzero(anatomy_codes == code):
            src, y0, x0 = candidates[rng.integers(len(candidates))].tolist()
            group_source[g] = names[src]
            for j in range(n_per_group):
                s = min(max(src + dz[g][j], 0), len(images_a) - 1) if anatomy == "mni" else src
                height, width = images_a[s].shape
                y = min(max(y0 + jitter[g][j][0], 0), height - size)
                x = min(max(x0 + jitter[g][j][1], 0), width - size)
                images[g, j] = images_a[s][y:y + size, x:x + size]
                valid[g, j] = valids[s][y:y + size, x:x + size]
    return images.reshape(-1, size, size), valid.reshape(-1, size, size), group_source.astype(str)


# ------------------------------------------------------------------------------------ lesions
def lesion_shapes(owner, valid, radius, irregularity, texture, rng):
    """Shapes of L lesions in local windows: centres (L, 2), profiles (L, W, W) float32 in [0, 1+],
    binary masks (L, W, W), with W = 2 * half + 1 and every lesion entirely inside the image.

    owner (L,): the image each lesion goes into; valid (n, S, S) bool: where centres may fall (8 tries each);
    radius (low, high) in pixels; irregularity in [0, 1): outline wobble; texture: internal grain; rng: a NumPy
    Generator.
    """
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


def paste_windows(windows, owner, centres, out):
    """Add lesion windows (L, W, W) into out (n, size, size) in place at their centres (OR for bool)."""
    half, width = windows.shape[-1] // 2, windows.shape[-1]
    for window, i, (y, x) in zip(windows, owner.tolist(), centres.tolist()):  # L small adds: fast
        target = out[i, y - half:y - half + width, x - half:x - half + width]
        if out.dtype == bool:
            target |= window
        else:
            target += window
    return out


def lesion_boxes(masks, owner, centres, n):
    """Boxes x1, y1, x2, y2 (float32, x2/y2 exclusive) of the lesion masks (L, W, W) at their centres, as a
    list of n arrays (k, 4), one per image."""
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
    centres, profiles, masks = lesion_shapes(owner, valid, knobs["radius"], knobs["irregularity"],
                                               knobs["texture"], rng)
    tissue = images[owner, centres[:, 0], centres[:, 1]]
    roomy = np.where(tissue < 0.5, 1.0, -1.0)  # mixed: the side with more room before clipping
    sign = {"bright": np.ones(len(owner)), "dark": -np.ones(len(owner)), "mixed": roomy}[knobs["polarity"]]
    amp = (sign * knobs["contrast"] * rng.uniform(0.8, 1.2, len(owner))).astype(np.float32)
    images = np.clip(paste_windows(profiles * amp[:, None, None], owner, centres, images), 0, 1, out=images)
    lesion_mask = paste_windows(masks, owner, centres, np.zeros((n, size, size), bool))
    return images, lesion_mask, lesion_boxes(masks, owner, centres, n), owner, centres, profiles


# ------------------------------------------------------------------------------------ data set
def _check_knobs(n, size, prevalence, anatomy, contrast, radius, max_lesions, irregularity,
                 label_noise, spurious, patches_per_group, polarity):
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
    need(isinstance(patches_per_group, (int, np.integer)) and patches_per_group >= 1,
         "patches_per_group must be an int >= 1", patches_per_group)
    need(polarity in ("bright", "dark", "mixed"), "polarity must be 'bright', 'dark' or 'mixed'", polarity)


def _draw_marker(images, marked):
    side = max(2, images.shape[-1] // 16)
    images[marked, 2:2 + side, 2:2 + side] = 1.0


def _check_sources(sources, anatomy):
    if sources is None:
        return None
    allowed = [name for a in anatomy for name in SOURCES[a]]
    sources = (sources,) if isinstance(sources, str) else tuple(sources)
    unknown = [name for name in sources if name not in allowed]
    if not sources or unknown:
        raise ValueError(f"sources must name source images of the chosen anatomy {tuple(anatomy)}: {allowed}; "
                         f"got {sources!r}")
    missing = [a for a in anatomy if not set(SOURCES[a]) & set(sources)]
    if missing:
        raise ValueError(f"no source image left for anatomy {missing}: drop it from anatomy or name one of its "
                         f"sources {[SOURCES[a] for a in missing]}")
    return sources


def make_lesion_dataset(n=2000, size=64, prevalence=0.5, anatomy=ANATOMIES, contrast=0.25, radius=(3, 8),
                        max_lesions=3, irregularity=0.3, texture=0.2, label_noise=0.0, spurious=0.0,
                        site_effects=None, patches_per_group=8, polarity="mixed", sources=None, seed=0):
    """Generate lesion present/absent patches on crops of real anatomy -> LesionData (see its docstring).

    Labels are per crop group (the stand-in for a patient): round(prevalence * n_groups) groups are positive
    and every patch of a positive group holds 1..max_lesions lesions. A group's patches come from one anchor
    point of one source image (MNI: a slab of +-3 slices) with a shared intensity gain/offset, so random patch
    splits leak. anatomy: which of :data:`ANATOMIES` to crop from; sources: optionally only these source
    images (names in :data:`SOURCES`), e.g. to hold one out for a test on unseen anatomy.
    contrast: lesion intensity step on the [0, 1] image scale (+-20 % per lesion; clipped at 0 and 1);
    radius in pixels; irregularity in [0, 1): radial wobble of the outline; texture: internal grain;
    polarity: 'bright', 'dark' or 'mixed' (bright on tissue darker than 0.5, dark on brighter tissue).
    label_noise flips observed labels with that probability (true_labels kept).
    spurious: a bright square marker in the top-left corner drawn in a fraction ``spurious`` of positives
    and ``spurious / 10`` of negatives (a learnable shortcut). site_effects: list of SiteEffect; groups
    are spread evenly over the sites and each site's effect is applied to its patches.
    """
    _check_knobs(n, size, prevalence, anatomy, contrast, radius, max_lesions, irregularity, label_noise,
                 spurious, patches_per_group, polarity)
    sources = _check_sources(sources, anatomy)
    rng = np.random.default_rng([seed, 101])  # salted: independent of other seed-0 draws
    n_groups = -(-n // patches_per_group)
    positive_groups = np.zeros(n_groups, bool)
    positive_groups[rng.permutation(n_groups)[:round(prevalence * n_groups)]] = True
    codes = rng.integers(len(anatomy), size=n_groups)
    images, valid, group_source = _crop_patches(codes, tuple(anatomy), size, patches_per_group, rng, sources)
    group = np.repeat(np.arange(n_groups), patches_per_group)
    order = rng.permutation(len(group))[:n]  # shuffled, so a random split mixes groups
    images, valid, group = images[order], valid[order], group[order]
    gain, offset = rng.uniform(0.9, 1.1, n_groups), rng.normal(0, 0.03, n_groups)
    images *= gain[group, None, None].astype(np.float32)  # in place: keeps the peak memory low
    images += offset[group, None, None].astype(np.float32)
    np.clip(images, 0, 1, out=images)
    true_labels = positive_groups[group].astype(np.int64)
    knobs = dict(max_lesions=max_lesions, radius=radius, irregularity=irregularity, texture=texture,
                 contrast=contrast, polarity=polarity)
    images, masks, boxes = _insert_lesions(images, valid, true_labels == 1, knobs, rng)[:3]
    marker = rng.random(n) < np.where(true_labels == 1, spurious, spurious / 10)
    _draw_marker(images, marker)
    site = _assign_sites(n_groups, site_effects, rng)[group]
    for s, effect in enumerate(site_effects or []):
        images[site == s] = apply_site_effect(images[site == s, None], effect, seed=seed + 1 + s)[:, 0]
    labels = np.where(rng.random(n) < label_noise, 1 - true_labels, true_labels)
    return LesionData(images=images[:, None].astype(np.float32), labels=labels.astype(np.int64),
                      true_labels=true_labels, masks=masks[:, None].astype(np.uint8), boxes=boxes,
                      group=group.astype(np.int64), site=site.astype(np.int64),
                      anatomy=np.asarray(anatomy)[codes[group]], source=group_source[group], marker=marker)


def _assign_sites(n_groups, site_effects, rng):
    if site_effects is None:
        return np.zeros(n_groups, np.int64)
    if not site_effects or not all(isinstance(e, SiteEffect) for e in site_effects):
        raise TypeError(f"site_effects must be None or a non-empty list of SiteEffect, got {site_effects!r}")
    return rng.permutation(np.arange(n_groups) % len(site_effects))


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
