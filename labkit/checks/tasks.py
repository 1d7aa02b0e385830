"""Checkers for Part II, core tasks: lessons 09_data_augmentation, 10_segmentation, 11_detection and
12_transfer_learning."""

import numpy as np
import torch

from labkit.checks.framework import call, checker, expect_close, expect_true, to_array

__all__ = ["box_iou", "heatmap_peaks", "average_precision", "gray_to_rgb_normalized", "freeze_backbone",
           "random_flip_pair", "gamma_transform", "dice_per_class", "iou_from_dice"]


def _box_sets(seed=0):
    """Pairs of box sets (N, 4), (M, 4) x1, y1, x2, y2: random, identical, disjoint, touching, nested."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 50, (7, 2))
    a = torch.tensor(np.concatenate([xy, xy + rng.uniform(1, 20, (7, 2))], 1), dtype=torch.float32)
    b = torch.tensor([[0, 0, 10, 10], [10, 0, 20, 10], [2, 2, 4, 4], [30, 30, 31, 45]], dtype=torch.float32)
    return [(a, a[:5]), (a, b), (b, b), (b[:1], b[1:2])]


@checker(hint="The intersection of two boxes is again a box, between the larger top-left and the smaller bottom-"
              "right corner (or empty).",
         formula="Intersection corners: max of the top-left corners, min of the bottom-right ones (broadcast (N, 1, 2) "
              "against (1, M, 2)); clamp width and height at 0. Union = area_a + area_b - intersection.")
def box_iou(answer):
    """Pairwise IoU matrix (N, M) of two box sets, compared with torchvision.ops.box_iou."""
    from torchvision.ops import box_iou as reference

    for a, b in _box_sets():
        expect_close(call(answer, a, b), reference(a, b), f"box_iou of ({len(a)}, 4) and ({len(b)}, 4) boxes")


@checker(hint="A peak is a pixel that equals the maximum of its 3 x 3 neighbourhood and clears the threshold.",
         formula="A peak equals the maximum of its 3x3 neighbourhood: compare heat with "
              "F.max_pool2d(heat[None, None], 3, stride=1, padding=1)[0, 0], and keep only heat >= threshold.")
def heatmap_peaks(answer):
    """Local maxima (3x3) of a heatmap above a threshold, compared with scipy.ndimage.maximum_filter."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    plateau = np.zeros((6, 7), np.float32)
    plateau[2:4, 3:5] = 0.8
    for heat, threshold in [(rng.random((9, 12)), 0.5), (rng.random((16, 16)) ** 3, 0.2), (plateau, 0.1)]:
        want = (heat == ndimage.maximum_filter(heat, size=3, mode="nearest")) & (heat >= threshold)
        got = call(answer, torch.tensor(heat, dtype=torch.float32), threshold)
        expect_close(to_array(got) > 0, want, f"heatmap_peaks(heat of shape {heat.shape}, {threshold})")


def _ranked_detections(seed=13):
    """(scores, is_tp, n_true) cases: a mixed ranking, a perfect one, one that misses objects, all false."""
    rng = np.random.default_rng(seed)
    mixed = (rng.permutation(40) / 40 + 0.01, rng.random(40) < 0.6, 30)
    perfect = (np.linspace(0.9, 0.1, 6), np.ones(6, bool), 6)
    late = (np.linspace(0.95, 0.05, 10), np.array([0, 1, 1, 0, 1, 0, 0, 1, 0, 0], bool), 8)
    none = (np.array([0.8, 0.4]), np.zeros(2, bool), 3)
    return [mixed, perfect, late, none]


@checker(hint="Rank the detections by score, then walk down the list: after each one, precision and recall so far. "
              "AP is the area under that curve once each precision is replaced by the best one at that recall or "
              "beyond.",
         formula="order = np.argsort(-scores); tp = np.cumsum(is_tp[order]); precision = tp / np.arange(1, D + 1); "
              "recall = tp / n_true; envelope = np.maximum.accumulate(precision[::-1])[::-1]; "
              "AP = np.sum(np.diff(np.concatenate([[0], recall])) * envelope).")
def average_precision(answer):
    """All-point interpolated AP from ranked detections, compared with labkit.detect.average_precision."""
    from labkit import detect

    for scores, is_tp, n_true in _ranked_detections():
        order = np.argsort(-scores, kind="stable")
        tp = np.cumsum(is_tp[order])
        want = detect.average_precision(tp / np.arange(1, len(tp) + 1), tp / n_true)
        got = call(answer, scores.copy(), is_tp.copy(), n_true)
        expect_close(to_array(got), want, f"average_precision of {len(scores)} detections ({int(is_tp.sum())} true "
                     f"positives) for {n_true} true objects", atol=1e-6)


@checker(hint="An ImageNet network expects three channels, each normalised with ImageNet's own per-channel mean and std.",
         formula="Repeat the grey channel three times (x.repeat(1, 3, 1, 1)), then subtract the ImageNet mean and divide "
              "by the ImageNet std per channel: reshape both to (1, 3, 1, 1) so they broadcast.")
def gray_to_rgb_normalized(answer):
    """Grey (N, 1, H, W) -> ImageNet-normalised RGB (N, 3, H, W), compared with torchvision's Normalize."""
    from torchvision.transforms import Normalize

    normalize = Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    rng = np.random.default_rng(0)
    for shape in ((2, 1, 8, 8), (1, 1, 5, 7), (3, 1, 4, 4)):
        x = torch.tensor(rng.random(shape), dtype=torch.float32)
        expect_close(call(answer, x), normalize(x.repeat(1, 3, 1, 1)), f"gray_to_rgb_normalized(shape {shape})",
                     atol=1e-5)


def _frozen_cases():
    """(model, head) pairs: a CNN with a named head, a Sequential, and one whose head starts frozen."""
    from labkit.models import SmallCNN

    cnn = SmallCNN(width=4)
    seq = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 2))
    cold = SmallCNN(width=4, n_classes=3)
    for p in cold.head.parameters():
        p.requires_grad = False
    return [(cnn, cnn.head), (seq, seq[-1]), (cold, cold.head)]


@checker(hint="Freezing means switching off requires_grad: off for every parameter, then on again for the head's.",
         formula="Loop over model.parameters() and set requires_grad = False, then loop over head.parameters() and set "
              "requires_grad = True; return the model.")
def freeze_backbone(answer):
    """Only the head's parameters require gradients afterwards (a property check on three models)."""
    for model, head in _frozen_cases():
        out = call(answer, model, head)
        expect_true(out is model, "return the same model object you were given (modified in place)")
        head_ids = {id(p) for p in head.parameters()}
        wrong = [n for n, p in model.named_parameters() if p.requires_grad != (id(p) in head_ids)]
        expect_true(not wrong, f"requires_grad is wrong for {len(wrong)} parameter(s), e.g. {wrong[:3]}: only the "
                               "head's parameters should require gradients")


def _pair_images(seed=9):
    rng = np.random.default_rng(seed)
    return [(rng.random((6, 9)).astype(np.float32), (rng.random((6, 9)) < 0.4).astype(np.uint8)),
            (rng.random((1, 5, 5)).astype(np.float32), (rng.random((1, 5, 5)) < 0.5).astype(np.uint8))]


@checker(hint="A geometric transform must move the mask exactly like the image: one random draw decides both.",
         formula="Draw ONE coin per axis with rng (e.g. rng.random() < 0.5) and apply the same flips to both: "
              "np.flip(image, axis=-1) and np.flip(mask, axis=-1) when the first coin says so, axis=-2 for the second.")
def random_flip_pair(answer):
    """Random horizontal/vertical flips of an image and its mask: a property check over 40 seeded draws."""
    for image, mask in _pair_images():
        versions = [(image, mask)] + [(np.flip(image, ax), np.flip(mask, ax)) for ax in (-1, -2, (-2, -1))]
        seen = set()
        for seed in range(40):
            got_image, got_mask = call(answer, image, mask, np.random.default_rng(seed))
            got_image, got_mask = to_array(got_image, "the image"), to_array(got_mask, "the mask")
            hits = [k for k, (a, _) in enumerate(versions) if np.array_equal(a, got_image)]
            expect_true(hits, f"draw {seed}: the image (shape {image.shape}) is not a flip of the input")
            expect_true(np.array_equal(versions[hits[0]][1], got_mask),
                        f"draw {seed}: the mask was not flipped like the image: they no longer line up")
            seen.add(hits[0])
        expect_true(len(seen) == 4, f"over 40 draws only {len(seen)} of the 4 flip combinations appeared")


@checker(hint="Gamma acts on intensities scaled to [0, 1]: scale with the image's own range, raise to the power, scale back.",
         formula="Rescale to [0, 1] with the image's own min and range (add 1e-7 to the range), raise to the power "
              "gamma, then map back: ((x - lo) / (hi - lo + 1e-7)) ** gamma * (hi - lo) + lo.")
def gamma_transform(answer):
    """Gamma contrast change, compared with monai.transforms.AdjustContrast(gamma)."""
    from monai.transforms import AdjustContrast

    rng = np.random.default_rng(10)
    for image in (rng.random((8, 8)), rng.uniform(-100, 300, (5, 7)), rng.uniform(0.2, 0.6, (1, 6, 6))):
        image = image.astype(np.float32)
        for gamma in (0.5, 1.0, 2.0):
            want = np.asarray(AdjustContrast(gamma)(image))
            expect_close(call(answer, image, gamma), want, f"gamma_transform(image in [{image.min():.2f}, "
                         f"{image.max():.2f}], gamma={gamma})", atol=1e-4, rtol=1e-4)


def _label_maps(seed=11):
    rng = np.random.default_rng(seed)
    maps = [(rng.integers(0, 4, (12, 12)), rng.integers(0, 4, (12, 12)), 4),
            (rng.integers(0, 3, (3, 8, 8)), rng.integers(0, 3, (3, 8, 8)), 3)]
    absent = np.zeros((6, 6), np.int64)
    absent[1:4, 1:4] = 1
    maps.append((absent, np.where(absent == 1, 1, 0) * (np.arange(6) < 3), 3))  # class 2 in neither mask
    return maps


@checker(hint="Treat each class as its own binary mask and compute Dice = 2|A and B| / (|A| + |B|); decide what an "
              "absent class scores.",
         formula="For each class c: a = pred == c, b = target == c; Dice = 2 * (a & b).sum() / (a.sum() + b.sum()), "
              "and 1.0 when a.sum() + b.sum() == 0 (nothing to find, nothing found).")
def dice_per_class(answer):
    """Dice per class of two label maps, compared with labkit.metrics.dice_score(pred, target, n_classes)."""
    from labkit.metrics import dice_score

    for pred, target, n_classes in _label_maps():
        expect_close(call(answer, pred, target, n_classes), dice_score(pred, target, n_classes=n_classes),
                     f"dice_per_class(label maps {pred.shape}, n_classes={n_classes})")


@checker(hint="Write both scores with the same intersection and union: |A| + |B| = |A or B| + |A and B|.",
         formula="Write Dice and IoU with I = |A and B| and U = |A or B|: |A| + |B| = U + I, so D = 2I / (U + I). "
              "Solve for I / U.")
def iou_from_dice(answer):
    """IoU from Dice, compared with labkit.metrics.iou_score of random masks (and the end points 0 and 1)."""
    from labkit.metrics import dice_score, iou_score

    rng = np.random.default_rng(12)
    for p, q in ((0.5, 0.5), (0.2, 0.7), (0.05, 0.9)):
        a, b = rng.random((32, 32)) < p, rng.random((32, 32)) < q
        expect_close(call(answer, dice_score(a, b)), iou_score(a, b), f"iou_from_dice({dice_score(a, b):.4f})")
    expect_close(call(answer, np.array([0.0, 1.0])), [0.0, 1.0], "iou_from_dice(np.array([0.0, 1.0]))")
