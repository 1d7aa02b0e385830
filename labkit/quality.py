"""Data quality: label noise at known rates and how to find it, annotator agreement and label fusion, imaging
artefacts.

Introduced in 18_data_quality.ipynb: ``flip_labels``, ``per_sample_loss`` and ``rank_by_loss`` (out-of-fold loss
ranking, the lesson writes it by hand and compares it with cleanlab's ``find_label_issues``),
``precision_recall_at_k``, ``cohens_kappa`` (compared with scikit-learn), ``simulate_annotator``,
``majority_vote``, ``staple`` (an EM of a few lines, compared with SimpleITK's STAPLE in ``staple_sitk``) and the
artefacts ``add_noise``, ``add_ghosting`` and ``add_streaks``.

Conventions: labels (N,) int in {0, 1} (``flip_labels`` and ``cohens_kappa`` also take more classes); probs (N,)
probability of class 1 or (N, C) class probabilities; masks (R, ...) binary, one per rater; images (N, H, W) or
(N, C, H, W) float in [0, 1].
"""

import numpy as np

__all__ = ["flip_labels", "per_sample_loss", "rank_by_loss", "precision_recall_at_k", "cohens_kappa",
           "simulate_annotator", "majority_vote", "staple", "staple_sitk", "add_noise", "add_ghosting",
           "add_streaks", "ARTEFACTS"]


# ------------------------------------------------------------------------------------ label noise
def _int_labels(labels, name="labels"):
    y = np.asarray(labels)
    integer = np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_)
    if y.ndim != 1 or len(y) == 0 or not integer:
        raise ValueError(f"{name} must be a non-empty 1-D array of integer class labels, got shape {y.shape}, "
                         f"dtype {y.dtype}")
    if y.min() < 0:
        raise ValueError(f"{name} must be >= 0, got {y.min()}")
    return y.astype(np.int64)


def flip_labels(labels, rate, n_classes=None, seed=0):
    """Noisy copy of ``labels``: each label of class c is replaced by another class with probability rate[c].

    rate: one number for all classes (symmetric noise) or a dict/sequence class -> probability (class-dependent
    noise, e.g. ``{1: 0.4}``: 40 % of lesion cases labelled "no lesion", as when a report misses them). The new
    class is drawn uniformly from the other classes (for two classes: the other one). Returns (N,) int64; the
    flipped samples are ``noisy != labels``.
    """
    y = _int_labels(labels)
    n_classes = int(max(y.max() + 1, 2) if n_classes is None else n_classes)
    rates = np.full(n_classes, float(rate)) if np.isscalar(rate) else np.zeros(n_classes)
    if not np.isscalar(rate):
        for c, r in (rate.items() if isinstance(rate, dict) else enumerate(rate)):
            if not 0 <= int(c) < n_classes:
                raise ValueError(f"rate names class {c}, but the classes are 0..{n_classes - 1}")
            rates[int(c)] = float(r)
    if np.any((rates < 0) | (rates > 1)):
        raise ValueError(f"every flip rate must be in [0, 1], got {rates.tolist()}")
    rng = np.random.default_rng([seed, 110])
    flip = rng.random(len(y)) < rates[y]
    other = (y + rng.integers(1, n_classes, len(y))) % n_classes   # uniform over the other classes
    return np.where(flip, other, y).astype(np.int64)


def per_sample_loss(probs, labels):
    """Cross-entropy of the *given* label per sample, -log p(label) -> (N,) float64 >= 0.

    probs: (N,) probability of class 1 (binary) or (N, C) class probabilities; labels (N,). With out-of-fold
    probabilities (from models that never saw the sample), a high loss means the model disagrees with the label.
    """
    y = _int_labels(labels)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        p = np.stack([1 - p, p], axis=1)
    if p.ndim != 2 or len(p) != len(y) or y.max() >= p.shape[1]:
        raise ValueError(f"probs must be (N,) or (N, C) with N = {len(y)} and C > every label, got {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ValueError("probs must be probabilities in [0, 1]")
    return -np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))


def rank_by_loss(probs, labels):
    """Sample indices ordered from the most to the least suspicious label (descending :func:`per_sample_loss`;
    ties keep their order) -> (N,) int64."""
    return np.argsort(-per_sample_loss(probs, labels), kind="stable").astype(np.int64)


def precision_recall_at_k(ranking, is_wrong, k):
    """Review the first ``k`` samples of ``ranking``: (precision, recall) against the known wrong labels.

    precision = wrong labels among the k reviewed / k; recall = wrong labels found / all wrong labels.
    """
    ranking, is_wrong = np.asarray(ranking, dtype=np.int64), np.asarray(is_wrong, dtype=bool)
    if ranking.ndim != 1 or is_wrong.ndim != 1 or not 1 <= int(k) <= len(ranking):
        raise ValueError(f"need 1-D ranking and is_wrong, and 1 <= k <= {len(ranking)}, got k={k!r}")
    found = int(is_wrong[ranking[:int(k)]].sum())
    total = int(is_wrong.sum())
    return found / int(k), (found / total if total else float("nan"))


# ------------------------------------------------------------------------------------ annotators
def cohens_kappa(a, b):
    """Cohen's kappa of two raters' labels a, b (N,): (observed agreement - chance agreement) / (1 - chance), with
    chance agreement from each rater's own label shares. 1 = perfect, 0 = as good as chance. scikit-learn's
    ``cohen_kappa_score``. Two raters who give one and the same single label everywhere give nan (undefined)."""
    a, b = _int_labels(a, "a"), _int_labels(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, got {len(a)} and {len(b)}")
    classes = np.union1d(a, b)
    observed = np.mean(a == b)
    chance = sum(np.mean(a == c) * np.mean(b == c) for c in classes)
    return float("nan") if chance == 1 else float((observed - chance) / (1 - chance))


def _binary_masks(masks, name="masks"):
    m = np.asarray(masks)
    if m.ndim < 2 or m.shape[0] < 2 or not np.isin(m, (0, 1)).all():
        raise ValueError(f"{name} must be binary, stacked one per rater (R >= 2, ...), got shape {m.shape}")
    return m.astype(bool)


def simulate_annotator(masks, bias=0, miss_rate=0.0, seed=0):
    """One rater's version of the true masks (N, H, W) (or (N, 1, H, W)) -> uint8, same shape.

    bias: pixels added (> 0, dilation) or removed (< 0, erosion) around every lesion, as a rater who draws wide
    or tight outlines; miss_rate: probability that the rater misses a lesion (a connected component) entirely.
    """
    from scipy import ndimage

    m = np.asarray(masks)
    if m.ndim not in (3, 4) or not np.isin(m, (0, 1)).all():
        raise ValueError(f"masks must be binary (N, H, W) or (N, 1, H, W), got shape {m.shape}")
    if not 0 <= miss_rate <= 1 or int(bias) != bias:
        raise ValueError(f"need an int bias and 0 <= miss_rate <= 1, got bias={bias!r}, miss_rate={miss_rate!r}")
    flat = m.reshape(-1, *m.shape[-2:]).astype(bool)
    rng, out = np.random.default_rng([seed, 111]), np.zeros(flat.shape, bool)
    for i, mask in enumerate(flat):
        components, n = ndimage.label(mask)
        kept = np.isin(components, 1 + np.flatnonzero(rng.random(n) >= miss_rate))
        if bias > 0:
            kept = ndimage.binary_dilation(kept, iterations=int(bias))
        elif bias < 0:
            kept = ndimage.binary_erosion(kept, iterations=int(-bias))
        out[i] = kept
    return out.reshape(m.shape).astype(np.uint8)


def majority_vote(masks):
    """Pixel-wise majority of R binary masks (R, ...) -> bool (...): foreground where more than half the raters
    drew it (with an even R, a tie is background)."""
    m = _binary_masks(masks)
    return m.sum(axis=0) * 2 > m.shape[0]


def staple(masks, n_iter=100, tol=1e-7):
    """STAPLE (Warfield et al., 2004) by expectation-maximisation for binary masks (R, ...) ->
    (probability of foreground (...) float64, sensitivity (R,), specificity (R,)).

    E-step: with each rater's sensitivity p and specificity q, the probability that a pixel is truly foreground
    given all R votes (Bayes, prior = the mean vote). M-step: p and q re-estimated from those probabilities.
    """
    d = _binary_masks(masks).reshape(len(masks), -1).astype(np.float64)
    prior = float(np.clip(d.mean(), 1e-6, 1 - 1e-6))
    p, q = np.full(len(d), 0.9), np.full(len(d), 0.9)
    for _ in range(n_iter):
        log_fg = np.log(prior) + (d * np.log(p)[:, None] + (1 - d) * np.log(1 - p)[:, None]).sum(0)
        log_bg = np.log(1 - prior) + ((1 - d) * np.log(q)[:, None] + d * np.log(1 - q)[:, None]).sum(0)
        w = 1 / (1 + np.exp(np.clip(log_bg - log_fg, -700, 700)))
        new_p = np.clip((d * w).sum(1) / max(w.sum(), 1e-12), 1e-6, 1 - 1e-6)
        new_q = np.clip(((1 - d) * (1 - w)).sum(1) / max((1 - w).sum(), 1e-12), 1e-6, 1 - 1e-6)
        done = max(np.abs(new_p - p).max(), np.abs(new_q - q).max()) < tol
        p, q = new_p, new_q
        if done:
            break
    return w.reshape(np.shape(masks)[1:]), p, q


def staple_sitk(masks):
    """SimpleITK's STAPLE on binary masks (R, ...) -> (probability of foreground, sensitivity (R,), specificity
    (R,)), for comparison with :func:`staple` (SimpleITK estimates the prior from the masks, as :func:`staple`)."""
    import SimpleITK as sitk

    m = _binary_masks(masks).astype(np.uint8)
    images = [sitk.GetImageFromArray(x.reshape(x.shape[0], -1) if x.ndim > 3 else x) for x in m]
    stapler = sitk.STAPLEImageFilter()
    stapler.SetForegroundValue(1.0)
    probability = sitk.GetArrayFromImage(stapler.Execute(images)).astype(np.float64)
    return (probability.reshape(m.shape[1:]), np.array(stapler.GetSensitivity()),
            np.array(stapler.GetSpecificity()))


# ------------------------------------------------------------------------------------ artefacts
def _images(images):
    x = np.asarray(images, dtype=np.float32)
    if x.ndim not in (3, 4) or x.shape[-1] < 8 or x.shape[-2] < 8:
        raise ValueError(f"images must be (N, H, W) or (N, C, H, W) with H, W >= 8, got shape {x.shape}")
    return x


def _strength(strength):
    if not np.isscalar(strength) or not strength >= 0:
        raise ValueError(f"strength must be a number >= 0, got {strength!r}")
    return float(strength)


def add_noise(images, strength, seed=0):
    """Additive Gaussian noise with standard deviation ``strength`` (on the [0, 1] scale), clipped to [0, 1]."""
    x, s = _images(images), _strength(strength)
    rng = np.random.default_rng([seed, 112])
    return np.clip(x + np.float32(s) * rng.standard_normal(x.shape, np.float32), 0, 1)


def add_ghosting(images, strength, period=8.0, seed=0):
    """Motion ghosting as in MR: the object moves periodically (amplitude ``strength`` pixels, ``period`` phase-
    encoding lines per cycle, random phase per image) while k-space is filled line by line along y, so every
    line is acquired at another position; replicas ("ghosts") appear along y. Magnitude image, clipped to [0, 1]."""
    x, s = _images(images), _strength(strength)
    if s == 0:
        return x.copy()
    height = x.shape[-2]
    rng = np.random.default_rng([seed, 113])
    phase = rng.uniform(0, 2 * np.pi, x.shape[:-2] + (1,))
    ky = np.fft.fftfreq(height)                                   # cycles per pixel, one per phase-encoding line
    shift = s * np.sin(2 * np.pi * np.arange(height) / period + phase)         # displacement at each line
    ramp = np.exp(-2j * np.pi * ky * shift)[..., None]            # (..., H, 1): each line shifted by its own amount
    kspace = np.fft.fft2(x) * ramp
    return np.clip(np.abs(np.fft.ifft2(kspace)), 0, 1).astype(np.float32)


def add_streaks(images, strength, n_streaks=6, width=0.7, seed=0):
    """Streaks as from metal in CT: ``n_streaks`` straight lines at random angles through one random point per
    image, alternately bright and dark, with peak amplitude ``strength`` (on the [0, 1] scale) and a Gaussian
    cross-section of ``width`` pixels; clipped to [0, 1]."""
    x, s = _images(images), _strength(strength)
    height, width_px = x.shape[-2:]
    n = int(np.prod(x.shape[:-2]))
    rng = np.random.default_rng([seed, 114])
    yy, xx = np.mgrid[0:height, 0:width_px].astype(np.float32)
    centre = rng.uniform(0.25, 0.75, (n, 2)) * (height, width_px)
    angles = rng.uniform(0, np.pi, (n, n_streaks))
    sign = np.where(np.arange(n_streaks) % 2 == 0, 1.0, -1.0)
    out = x.reshape(n, height, width_px).copy()
    for i in range(n):
        dy, dx = yy - centre[i, 0], xx - centre[i, 1]
        dist = np.abs(dx[None] * np.sin(angles[i])[:, None, None] - dy[None] * np.cos(angles[i])[:, None, None])
        out[i] += s * np.tensordot(sign, np.exp(-dist ** 2 / (2 * width ** 2)), axes=1)
    return np.clip(out, 0, 1).reshape(x.shape).astype(np.float32)


ARTEFACTS = {"noise": add_noise, "ghosting": add_ghosting, "streaks": add_streaks}
