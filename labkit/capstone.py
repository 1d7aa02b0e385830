"""What the capstone project (nuclei segmentation on one real fluorescence image) needs that no other module has.

Introduced in 23_capstone.ipynb. The image is ONE field of view (:func:`labkit.realdata.load_nuclei`): a split of
it tests new regions of the same image, not new samples, stains or microscopes.

* a spatial split in blocks with a gap: :func:`block_split`, :func:`shared_nuclei`, :func:`crop_origins`,
  :func:`cut_crops`;
* instance segmentation by classes: :func:`nucleus_targets` (background, interior, border) and
  :func:`decode_instances` (interiors -> instances), :func:`restrict_to_region`;
* evaluation: :func:`match_instances` (as ``stardist.matching.matching``); counts per tile (:func:`tile_counts`,
  :func:`pixel_counts`) and metrics of them (:func:`f1_from_counts`, :func:`dice_from_counts`) for a bootstrap that
  resamples tiles;
* explanation and attack of a segmentation model: :class:`RegionScore`, :func:`fgsm_segmentation`.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SPLITS", "block_split", "shared_nuclei", "crop_origins", "cut_crops", "nucleus_targets",
           "decode_instances", "restrict_to_region", "match_instances", "tile_index", "tile_counts",
           "f1_from_counts", "pixel_counts", "dice_from_counts", "RegionScore", "fgsm_segmentation"]

SPLITS = ("train", "val", "test")


def _label_map(labels, name="labels"):
    a = np.asarray(labels)
    if a.ndim != 2 or a.size == 0 or not np.issubdtype(a.dtype, np.integer) or a.min() < 0:
        raise ValueError(f"{name} must be a 2-D map of integer labels >= 0 (0 = background), got shape {a.shape}, "
                         f"dtype {a.dtype}")
    return a


def block_split(shape, block=64, gap=20, counts=(9, 3, 4), seed=0):
    """Assign square blocks of an image to train/val/test and cut a gap -> regions (H, W) int8.

    regions: 0 train, 1 val, 2 test, -1 gap (used by no split). ``counts``: blocks per split (they must add up
    to the number of blocks); ``seed`` draws which block goes where. Test blocks stay whole; validation pixels
    within ``gap`` pixels (chessboard distance) of a test block, and training pixels within ``gap`` of a
    validation or test block, are dropped. An object smaller than ``gap`` pixels can then never lie in two splits.
    """
    from scipy import ndimage

    height, width = shape
    rows, cols = height // block, width // block
    if rows * block != height or cols * block != width:
        raise ValueError(f"the image shape {tuple(shape)} must be a multiple of block={block}")
    if len(counts) != 3 or sum(counts) != rows * cols or min(counts) < 1:
        raise ValueError(f"counts must give the blocks of train, val, test (each >= 1) adding up to {rows * cols}, "
                         f"got {tuple(counts)}")
    if not isinstance(gap, (int, np.integer)) or gap < 0:
        raise ValueError(f"gap must be an int >= 0 (pixels), got {gap!r}")
    assign = np.random.default_rng([seed, 123]).permutation(np.repeat([0, 1, 2], counts)).reshape(rows, cols)
    blocks = np.kron(assign, np.ones((block, block), np.int64))
    regions = np.where(blocks == 2, 2, -1).astype(np.int8)
    for split in (1, 0):
        near = blocks > split
        if gap > 0:
            near = ndimage.binary_dilation(near, structure=np.ones((3, 3), bool), iterations=int(gap))
        regions[(blocks == split) & ~near] = split
    return regions


def shared_nuclei(labels, region_a, region_b):
    """Ids (sorted int array) of the objects of ``labels`` with pixels in both boolean regions (H, W).

    Introduced in 23_capstone.ipynb: an object in two splits is a leak (its pixels train and test the model).
    """
    labels = _label_map(labels)
    a, b = np.asarray(region_a, bool), np.asarray(region_b, bool)
    if a.shape != labels.shape or b.shape != labels.shape:
        raise ValueError(f"regions must have the shape of labels {labels.shape}, got {a.shape} and {b.shape}")
    return np.intersect1d(labels[a & (labels > 0)], labels[b & (labels > 0)]).astype(np.int64)


def crop_origins(region, size):
    """Top-left corners (K, 2) int64 (row, col) of every size x size window that lies entirely inside ``region``
    (boolean (H, W)), found with a summed-area table."""
    region = np.asarray(region, bool)
    if region.ndim != 2 or not 1 <= size <= min(region.shape):
        raise ValueError(f"need a 2-D region and 1 <= size <= {min(region.shape)}, got {region.shape}, size={size}")
    table = np.pad(region.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    inside = table[size:, size:] - table[:-size, size:] - table[size:, :-size] + table[:-size, :-size]
    return np.argwhere(inside == size * size).astype(np.int64)


def cut_crops(image, target, origins, size):
    """Crops at ``origins`` (K, 2): images (K, 1, size, size) float32 and targets (K, size, size) int64."""
    image, target, origins = np.asarray(image, np.float32), np.asarray(target), np.asarray(origins).reshape(-1, 2)
    if image.shape != target.shape or image.ndim != 2:
        raise ValueError(f"image and target must be 2-D maps of one shape, got {image.shape} and {target.shape}")
    xs = np.stack([image[y:y + size, x:x + size] for y, x in origins])[:, None]
    ys = np.stack([target[y:y + size, x:x + size] for y, x in origins]).astype(np.int64)
    return xs, ys


def nucleus_targets(labels, border=2):
    """Instance labels (H, W) -> class map (H, W) int64: 0 background, 1 nucleus interior, 2 nucleus border.

    The border is the ``border`` outermost pixels of every nucleus (skimage's inner boundaries, grown inwards),
    so two touching nuclei are separated by a band of border pixels that a network can learn to predict.
    """
    from scipy import ndimage
    from skimage.segmentation import find_boundaries

    labels = _label_map(labels)
    edge = find_boundaries(labels, mode="inner") & (labels > 0)
    if border > 1:
        edge = ndimage.binary_dilation(edge, iterations=int(border) - 1) & (labels > 0)
    return np.where(labels > 0, np.where(edge, 2, 1), 0).astype(np.int64)


def decode_instances(probs, threshold=0.5, min_size=3, grow=3):
    """Class probabilities (3, H, W) (background, interior, border) -> instance labels (H, W) int32.

    Seeds are the connected regions where P(interior) >= ``threshold`` with at least ``min_size`` pixels; each
    seed grows by up to ``grow`` pixels (skimage's expand_labels) inside the predicted foreground
    (P(background) < 0.5). Labels are numbered 1..K.
    """
    from scipy import ndimage
    from skimage.segmentation import expand_labels, relabel_sequential

    probs = np.asarray(probs.detach().cpu() if isinstance(probs, torch.Tensor) else probs, np.float32)
    if probs.ndim != 3 or probs.shape[0] != 3:
        raise ValueError(f"probs must be (3, H, W) class probabilities, got shape {probs.shape}")
    seeds, _ = ndimage.label(probs[1] >= threshold)
    sizes = np.bincount(seeds.ravel())
    small = sizes < min_size
    small[0] = False
    seeds[small[seeds]] = 0
    grown = expand_labels(seeds, distance=grow) * (probs[0] < 0.5)
    return relabel_sequential(grown)[0].astype(np.int32)


def _centroids(labels):
    n = int(labels.max()) + 1
    counts = np.bincount(labels.ravel(), minlength=n)
    rows, cols = np.indices(labels.shape)
    cy = np.bincount(labels.ravel(), rows.ravel(), n) / np.maximum(counts, 1)
    cx = np.bincount(labels.ravel(), cols.ravel(), n) / np.maximum(counts, 1)
    return counts, cy, cx


def restrict_to_region(labels, region):
    """Keep the objects of ``labels`` whose centroid lies in boolean ``region`` (H, W); others become 0."""
    labels = _label_map(labels)
    region = np.asarray(region, bool)
    if region.shape != labels.shape:
        raise ValueError(f"region must have the shape of labels {labels.shape}, got {region.shape}")
    counts, cy, cx = _centroids(labels)
    keep = (counts > 0) & region[np.clip(np.rint(cy), 0, labels.shape[0] - 1).astype(int),
                                 np.clip(np.rint(cx), 0, labels.shape[1] - 1).astype(int)]
    keep[0] = False
    return np.where(keep[labels], labels, 0)


def match_instances(true_labels, pred_labels, iou_threshold=0.5):
    """Match predicted to true objects one to one where IoU >= ``iou_threshold`` (as stardist.matching.matching).

    Returns a dict: 'tp', 'fp', 'fn' (ints), 'precision', 'recall', 'f1' (floats; 0 when undefined),
    'pairs' (P, 2) int64 matched (true id, pred id), 'iou' (P,) their IoUs. Introduced in 23_capstone.ipynb.
    """
    from scipy.optimize import linear_sum_assignment

    t, p = _label_map(true_labels, "true_labels"), _label_map(pred_labels, "pred_labels")
    if t.shape != p.shape:
        raise ValueError(f"true_labels and pred_labels must have one shape, got {t.shape} and {p.shape}")
    t_ids, t_inv = np.unique(t, return_inverse=True)
    p_ids, p_inv = np.unique(p, return_inverse=True)
    overlap = np.bincount(t_inv.ravel() * len(p_ids) + p_inv.ravel(), minlength=len(t_ids) * len(p_ids))
    overlap = overlap.reshape(len(t_ids), len(p_ids)).astype(np.float64)
    union = overlap.sum(1, keepdims=True) + overlap.sum(0, keepdims=True) - overlap
    iou = (overlap / np.maximum(union, 1))[t_ids > 0][:, p_ids > 0]
    rows, cols = linear_sum_assignment(-(iou >= iou_threshold).astype(float) - iou / (2 * max(iou.size, 1)))
    ok = iou[rows, cols] >= iou_threshold
    tp, n_true, n_pred = int(ok.sum()), iou.shape[0], iou.shape[1]
    fp, fn = n_pred - tp, n_true - tp
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0
    pairs = np.stack([t_ids[t_ids > 0][rows[ok]], p_ids[p_ids > 0][cols[ok]]], 1).astype(np.int64).reshape(-1, 2)
    return {"tp": tp, "fp": fp, "fn": fn, "precision": tp / n_pred if n_pred else 0.0,
            "recall": tp / n_true if n_true else 0.0, "f1": float(f1), "pairs": pairs, "iou": iou[rows[ok], cols[ok]]}


def tile_index(region, tile=32):
    """Tile number (H, W) int64 of every pixel of boolean ``region``: the image is cut into tile x tile squares,
    those that hold region pixels are numbered 0..T-1 (row by row); pixels outside the region get -1."""
    region = np.asarray(region, bool)
    if region.ndim != 2 or not region.any() or tile < 1:
        raise ValueError(f"need a non-empty 2-D region and tile >= 1, got shape {region.shape}, tile={tile!r}")
    rows, cols = np.indices(region.shape)
    raw = (rows // tile) * (-(-region.shape[1] // tile)) + cols // tile
    used = np.unique(raw[region])
    return np.where(region, np.searchsorted(used, raw), -1).astype(np.int64)


def tile_counts(true_labels, pred_labels, region, tile=32, iou_threshold=0.5):
    """Matched and unmatched objects per tile of ``region`` -> (T, 3) int64 columns TP, FP, FN.

    Objects count for the tile (:func:`tile_index`) that holds their centroid; only objects whose centroid lies
    in the region count. Summed over tiles, the columns give :func:`match_instances` on the region. Tiles are the
    unit of a grouped bootstrap; they neighbour each other on one image, so they are not independent samples.
    """
    tiles = tile_index(region, tile)
    t = restrict_to_region(true_labels, region)
    p = restrict_to_region(pred_labels, region)
    pairs = match_instances(t, p, iou_threshold)["pairs"]
    counts = np.zeros((tiles.max() + 1, 3), np.int64)
    for labels, matched, (hit, miss) in ((t, pairs[:, 0], (0, 2)), (p, pairs[:, 1], (None, 1))):
        size, cy, cx = _centroids(labels)
        for i in np.flatnonzero(size[1:]) + 1:
            column = hit if i in matched else miss
            if column is not None:
                counts[tiles[int(np.rint(cy[i])), int(np.rint(cx[i]))], column] += 1
    return counts


def f1_from_counts(_unused, counts):
    """Instance F1 = 2 TP / (2 TP + FP + FN) of rows (T, 3) of :func:`tile_counts` (a metric for bootstrap_ci)."""
    tp, fp, fn = np.asarray(counts).reshape(-1, 3).sum(0)
    return float(2 * tp / (2 * tp + fp + fn)) if (2 * tp + fp + fn) else 0.0


def pixel_counts(pred_mask, true_mask, region, tile=32):
    """Per tile of ``region`` -> (T, 3) int64 columns: overlap, predicted and true foreground pixels."""
    pred, true = np.asarray(pred_mask, bool), np.asarray(true_mask, bool)
    tiles = tile_index(region, tile)
    inside, n = tiles >= 0, tiles.max() + 1
    return np.stack([np.bincount(tiles[inside], m[inside], n) for m in (pred & true, pred, true)], 1).astype(np.int64)


def dice_from_counts(_unused, counts):
    """Dice = 2 overlap / (predicted + true) of rows (T, 3) of :func:`pixel_counts` (1.0 when both are empty)."""
    overlap, pred, true = np.asarray(counts).reshape(-1, 3).sum(0)
    return float(2 * overlap / (pred + true)) if (pred + true) else 1.0


class RegionScore(nn.Module):
    """Wrap a segmentation model so that it gives one number per image: the mean foreground log-odds
    ``logsumexp(logits[1:]) - logits[0]`` over a fixed ``mask`` (H, W) -> output (N, 1).

    With it, Captum's attributions (:func:`labkit.explain.attribute`, ``target=0``) explain why the model
    calls that region a nucleus.
    """

    def __init__(self, model, mask):
        super().__init__()
        self.model = model
        mask = torch.as_tensor(np.asarray(mask), dtype=torch.float32)
        if mask.dim() != 2 or mask.sum() <= 0:
            raise ValueError(f"mask must be a non-empty (H, W) region, got shape {tuple(mask.shape)}")
        self.register_buffer("mask", mask / mask.sum())

    def forward(self, x):
        logits = self.model(x)
        log_odds = torch.logsumexp(logits[:, 1:], dim=1) - logits[:, 0]
        return (log_odds * self.mask).sum(dim=(1, 2))[:, None]


def fgsm_segmentation(model, x, y, eps, weight=None):
    """FGSM for segmentation: ``clip(x + eps * sign(grad_x loss), 0, 1)`` where the loss is the pixel cross-entropy
    summed over the image (times ``weight`` (N, H, W), e.g. a region mask, if given).

    x: (N, C, H, W) float in [0, 1]; y: (N, H, W) int64 class map. The model is used in its current mode.
    Introduced in 23_capstone.ipynb.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not isinstance(y, torch.Tensor) or y.shape != (
            x.shape[0], *x.shape[2:]):
        raise ValueError(f"need x (N, C, H, W) and y (N, H, W) tensors, got {getattr(x, 'shape', x)} and "
                         f"{getattr(y, 'shape', y)}")
    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y.long(), reduction="none")
    if weight is not None:
        loss = loss * weight
    (grad,) = torch.autograd.grad(loss.sum(), x)
    return (x.detach() + eps * grad.sign()).clamp(0, 1)
