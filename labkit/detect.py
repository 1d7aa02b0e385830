"""Object detection with centre heatmaps: targets, a small detector, decoding, matching, AP and FROC.

Introduced in 11_detection.ipynb.

Boxes are (K, 4) float32 ``x1, y1, x2, y2`` in pixel-edge coordinates (x2, y2 exclusive), as in
:mod:`labkit.realdata` and :mod:`labkit.synthetic`. A detector in the CenterNet style predicts, on a grid
``stride`` times coarser than the image, five maps: a centre-heatmap logit, the log width and log height of
the box centred there, and the sub-cell offset (x, y) of the centre. Detections of one image are a pair
``(boxes (K, 4), scores (K,))``; a data set's detections are a list of such pairs, one per image.
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["N_TARGET_CHANNELS", "render_targets", "HeatmapDetector", "centernet_loss", "decode_heatmap",
           "detect", "match_detections", "match_images", "precision_recall", "pooled_precision_recall",
           "average_precision", "froc", "sensitivity_at"]

N_TARGET_CHANNELS = 6  # heatmap, log w, log h, offset x, offset y, centre mask


def _as_boxes(boxes, what="boxes"):
    b = boxes.detach().cpu().numpy() if isinstance(boxes, torch.Tensor) else np.asarray(boxes, np.float64)
    b = b.reshape(0, 4) if b.size == 0 else b
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{what} must be (K, 4) as x1, y1, x2, y2, got shape {b.shape}")
    if np.any(b[:, 2:] < b[:, :2]):
        raise ValueError(f"{what} need x2 >= x1 and y2 >= y1")
    return b.astype(np.float64)


def render_targets(boxes, size, stride=2, min_sigma=1.0):
    """Training targets of one image -> float32 tensor (6, size // stride, size // stride).

    boxes: (K, 4) x1, y1, x2, y2 in pixels. Channel 0: a Gaussian peak of height 1 at each box centre's cell
    (sigma = max(min_sigma, sqrt(w * h) / 6) pixels; overlaps keep the maximum); channels 1-2: log w, log h;
    channels 3-4: the centre's offset inside its cell, in [0, 1); channel 5: 1 at centre cells, else 0.
    """
    b = _as_boxes(boxes)
    if size % stride:
        raise ValueError(f"size {size} must be a multiple of stride {stride}")
    n = size // stride
    target = np.zeros((N_TARGET_CHANNELS, n, n), np.float32)
    grid = (np.arange(n) + 0.5) * stride  # cell centres in pixels
    for x1, y1, x2, y2 in b:
        w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        sigma = max(min_sigma, np.sqrt(w * h) / 6)
        gauss = np.exp(-((grid[None, :] - cx) ** 2 + (grid[:, None] - cy) ** 2) / (2 * sigma ** 2))
        target[0] = np.maximum(target[0], gauss)
        j, i = min(int(cx // stride), n - 1), min(int(cy // stride), n - 1)
        target[0, i, j] = 1.0
        target[1:6, i, j] = np.log(w), np.log(h), cx / stride - j, cy / stride - i, 1.0
    return torch.from_numpy(target)


def _block(c_in, c_out, stride=1, dilation=1):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class HeatmapDetector(nn.Module):
    """A small fully convolutional centre-point detector (about 8k parameters at width 8).

    Input (N, in_channels, H, W) float32 with even H, W; output (N, 5, H/2, W/2) on a grid of ``stride`` 2:
    heatmap logit, log w, log h, offset x, offset y. Two dilated convolutions (dilation 2 and 4) give a
    receptive field of 33 pixels at full resolution, enough for lesions and nuclei up to ~25 pixels across.
    """

    stride = 2

    def __init__(self, in_channels=1, width=8):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("width", width)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        w = width
        self.in_channels = in_channels
        self.body = nn.Sequential(_block(in_channels, w), _block(w, 2 * w, stride=2), _block(2 * w, 2 * w),
                                  _block(2 * w, 2 * w, dilation=2), _block(2 * w, 2 * w, dilation=4))
        self.heat = nn.Conv2d(2 * w, 1, 1)
        self.box = nn.Conv2d(2 * w, 4, 1)
        nn.init.constant_(self.heat.bias, -2.19)  # start at a heatmap of about 0.1 everywhere (CenterNet)

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[-1] % 2 or x.shape[-2] % 2:
            raise ValueError(f"expected (N, {self.in_channels}, H, W) with even H, W, got {tuple(x.shape)}")
        features = self.body(x)
        return torch.cat([self.heat(features), self.box(features)], dim=1)


def centernet_loss(outputs, targets, alpha=2.0, beta=4.0, box_weight=1.0):
    """CenterNet loss: penalty-reduced focal loss on the heatmap + L1 on log size and offset at centres.

    outputs (N, 5, h, w) from :class:`HeatmapDetector`; targets (N, 6, h, w) from :func:`render_targets`.
    Both terms are divided by the number of centres in the batch (at least 1). Returns a scalar tensor.
    """
    if outputs.dim() != 4 or outputs.shape[1] != 5 or targets.shape[1] != N_TARGET_CHANNELS \
            or outputs.shape[-2:] != targets.shape[-2:]:
        raise ValueError(f"expected outputs (N, 5, h, w) and targets (N, 6, h, w), got "
                         f"{tuple(outputs.shape)} and {tuple(targets.shape)}")
    heat, gt, centre = outputs[:, :1], targets[:, :1], targets[:, 5:6]
    p = torch.sigmoid(heat).clamp(1e-4, 1 - 1e-4)
    pos = centre * (1 - p) ** alpha * torch.log(p)
    neg = (1 - centre) * (1 - gt) ** beta * p ** alpha * torch.log(1 - p)
    n_centres = centre.sum().clamp(min=1.0)
    focal = -(pos + neg).sum() / n_centres
    box = (F.l1_loss(outputs[:, 1:5], targets[:, 1:5], reduction="none") * centre).sum() / n_centres
    return focal + box_weight * box


def decode_heatmap(outputs, stride=2, threshold=0.1, max_detections=50, kernel=3):
    """Detections from raw detector outputs (N, 5, h, w) -> list of N (boxes (K, 4), scores (K,)) tensors.

    A peak is a cell whose heatmap probability is the maximum of its ``kernel`` x ``kernel`` neighbourhood
    and at least ``threshold``; at most ``max_detections`` peaks per image, by decreasing score.
    """
    if not isinstance(outputs, torch.Tensor) or outputs.dim() != 4 or outputs.shape[1] != 5:
        raise ValueError(f"outputs must be a tensor (N, 5, h, w), got {getattr(outputs, 'shape', type(outputs))}")
    outputs = outputs.detach().float().cpu()
    heat = torch.sigmoid(outputs[:, 0])
    peaks = heat == F.max_pool2d(heat[:, None], kernel, stride=1, padding=kernel // 2)[:, 0]
    results = []
    for n in range(len(outputs)):
        i, j = torch.nonzero(peaks[n] & (heat[n] >= threshold), as_tuple=True)
        scores = heat[n, i, j]
        order = scores.argsort(descending=True)[:max_detections]
        i, j, scores = i[order], j[order], scores[order]
        cx, cy = (j + outputs[n, 3, i, j]) * stride, (i + outputs[n, 4, i, j]) * stride
        w, h = outputs[n, 1, i, j].exp(), outputs[n, 2, i, j].exp()
        results.append((torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=1), scores))
    return results


def detect(model, images, threshold=0.1, nms_iou=0.3, max_detections=50, batch_size=64):
    """Run ``model`` on images (N, C, H, W) -> list of N (boxes (K, 4), scores (K,)) CPU tensors.

    Heatmap peaks above ``threshold`` are decoded (:func:`decode_heatmap`), then overlapping boxes removed by
    ``torchvision.ops.nms`` at IoU ``nms_iou`` (1.0 keeps everything). The model is put in eval mode.
    """
    from torchvision.ops import nms

    images = torch.as_tensor(images, dtype=torch.float32)
    device = next(model.parameters()).device
    model.eval()
    results = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            outputs = model(images[start:start + batch_size].to(device))
            for boxes, scores in decode_heatmap(outputs, model.stride, threshold, max_detections):
                keep = nms(boxes, scores, nms_iou) if nms_iou < 1 else torch.arange(len(scores))
                results.append((boxes[keep], scores[keep]))
    return results


def _iou_matrix(a, b):
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a, area_b = np.prod(a[:, 2:] - a[:, :2], 1), np.prod(b[:, 2:] - b[:, :2], 1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def match_detections(boxes, scores, gt_boxes, iou_threshold=0.5):
    """Greedy matching of one image's detections to its ground truth (as in PASCAL VOC / COCO).

    In decreasing score order, each detection takes the unmatched ground-truth box it overlaps most, if that
    IoU >= ``iou_threshold`` (a true positive); otherwise it is a false positive (duplicates included).
    Returns (is_tp (K,) bool in the input order, matched (K,) int64 ground-truth index or -1).
    """
    b, g = _as_boxes(boxes, "boxes"), _as_boxes(gt_boxes, "gt_boxes")
    s = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, np.float64).reshape(-1)
    if len(s) != len(b):
        raise ValueError(f"got {len(s)} scores for {len(b)} boxes")
    is_tp, matched = np.zeros(len(b), bool), np.full(len(b), -1, np.int64)
    if len(b) == 0 or len(g) == 0:
        return is_tp, matched
    iou, taken = _iou_matrix(b, g), np.zeros(len(g), bool)
    for k in np.argsort(-s, kind="stable"):
        candidates = np.where(taken, -1.0, iou[k])
        best = int(candidates.argmax())
        if candidates[best] >= iou_threshold:
            is_tp[k], matched[k], taken[best] = True, best, True
    return is_tp, matched


def match_images(detections, gt_boxes, iou_threshold=0.5):
    """Each image's detections matched to its own ground truth (:func:`match_detections`).

    detections: list of N (boxes, scores); gt_boxes: list of N (M, 4). Returns a list of N (scores (K,) float64,
    is_tp (K,) bool, n_gt int). Matching never looks beyond one image, so a bootstrap over images can match once
    and pool each resample's matches with :func:`pooled_precision_recall`.
    """
    if len(detections) != len(gt_boxes):
        raise ValueError(f"got detections for {len(detections)} images but ground truth for {len(gt_boxes)}")
    matches = []
    for (boxes, s), g in zip(detections, gt_boxes):
        scores = np.asarray(s.detach().cpu() if isinstance(s, torch.Tensor) else s, np.float64).reshape(-1)
        matches.append((scores, match_detections(boxes, s, g, iou_threshold)[0], len(_as_boxes(g))))
    return matches


def _pool(matches):
    """Per-image matches pooled and sorted by decreasing score -> (scores, is_tp, n_gt)."""
    scores = np.concatenate([m[0] for m in matches] + [np.zeros(0)])
    flags = np.concatenate([m[1] for m in matches] + [np.zeros(0, bool)])
    order = np.argsort(-scores, kind="stable")
    return scores[order], flags[order], sum(m[2] for m in matches)


def pooled_precision_recall(matches):
    """:func:`precision_recall` from per-image matches (:func:`match_images`, or any subset or resample of them)."""
    scores, tp, n_gt = _pool(matches)
    n_tp = np.cumsum(tp)
    precision = n_tp / np.arange(1, len(tp) + 1)
    recall = n_tp / n_gt if n_gt else np.full(len(tp), np.nan)
    return precision, recall, scores


def precision_recall(detections, gt_boxes, iou_threshold=0.5):
    """Precision and recall of a data set's detections at every score threshold.

    detections: list of N (boxes, scores); gt_boxes: list of N (M, 4). Returns (precision, recall, scores),
    each (D,) float64 over the D detections pooled and sorted by decreasing score: the values when every
    detection scoring at least ``scores[k]`` is kept. With no ground truth at all, recall is nan.
    """
    return pooled_precision_recall(match_images(detections, gt_boxes, iou_threshold))


def average_precision(precision, recall):
    """All-point interpolated average precision (PASCAL VOC 2010+): area under the precision envelope.

    precision, recall: (D,) from :func:`precision_recall` (recall non-decreasing). Returns a float in [0, 1];
    0.0 when there are no detections. Recall never reached counts as precision 0.
    """
    p, r = np.asarray(precision, np.float64), np.asarray(recall, np.float64)
    if p.shape != r.shape or p.ndim != 1:
        raise ValueError(f"precision and recall must be 1-D of equal length, got {p.shape} and {r.shape}")
    if len(p) == 0 or np.isnan(r).any():
        return 0.0
    envelope = np.maximum.accumulate(p[::-1])[::-1]  # best precision at this recall or beyond
    steps = np.diff(np.concatenate([[0.0], r]))
    return float(np.sum(steps * envelope))


def froc(detections, gt_boxes, iou_threshold=0.5, scans=None):
    """Free-response ROC: sensitivity against mean false positives per scan, at every score threshold.

    scans: optional (N,) id of the scan (patient, volume) each image belongs to; the false positives are divided
    by the number of distinct scans, as LUNA16 counts them per CT scan. Default: every image is its own scan.
    Returns (fp_per_scan, sensitivity, scores), each (D,) float64 over the pooled detections sorted by decreasing
    score (as :func:`precision_recall`).
    """
    scores, tp, n_gt = _pool(match_images(detections, gt_boxes, iou_threshold))
    if scans is None:
        n_scans = len(gt_boxes)
    else:
        scans = np.asarray(scans).reshape(-1)
        if len(scans) != len(gt_boxes):
            raise ValueError(f"scans must give one id per image ({len(gt_boxes)}), got {len(scans)}")
        n_scans = len(np.unique(scans))
    fp_per_scan = np.cumsum(~tp) / max(n_scans, 1)
    sensitivity = np.cumsum(tp) / n_gt if n_gt else np.full(len(tp), np.nan)
    return fp_per_scan, sensitivity, scores


def sensitivity_at(fp_per_image, sensitivity, fps=(0.125, 0.25, 0.5, 1, 2, 4, 8)):
    """Sensitivity of an FROC curve at given false-positive rates per image or per scan (the best reached
    without exceeding each). Returns (len(fps),) float64; with the default rates per scan, their mean is the
    competition performance metric (CPM) of LUNA16.
    """
    fp, sens = np.asarray(fp_per_image, np.float64), np.asarray(sensitivity, np.float64)
    if fp.shape != sens.shape or fp.ndim != 1:
        raise ValueError(f"fp_per_image and sensitivity must be 1-D of equal length, got {fp.shape}, {sens.shape}")
    return np.array([sens[fp <= f].max() if np.any(fp <= f) else 0.0 for f in fps])
