"""Widgets for Part II, core tasks (09_data_augmentation, 10_segmentation, 11_detection, 12_transfer_learning)."""

import numbers

import numpy as np

from labkit.widgets.base import interactive_plot, as_gray_image

__all__ = ["detection_summary", "detection_explorer", "augmentation_summary", "augmentation_gallery",
           "segmentation_summary", "segmentation_viewer", "feature_map_summary", "feature_map_explorer"]


def detection_summary(outputs, gt_boxes, threshold=0.3, nms_iou=0.5, index=0, stride=2, iou_threshold=0.5):
    """Detections of a heatmap detector at one score threshold and NMS IoU (see :mod:`labkit.detect`).

    outputs: raw detector outputs (N, 5, h, w); gt_boxes: list of N (M, 4) boxes. Returns a dict with the
    image ``index``'s 'boxes' (K, 4), 'scores' (K,), 'is_tp' (K,) bool, 'gt' (M, 4), and counts over all N
    images: 'tp', 'fp', 'fn', 'precision', 'recall' (nan when undefined), 'fp_per_image'.
    """
    from torchvision.ops import nms

    from labkit import detect

    if len(outputs) != len(gt_boxes) or not 0 <= index < len(outputs):
        raise ValueError(f"need len(outputs) == len(gt_boxes) and 0 <= index < N; got {len(outputs)}, "
                         f"{len(gt_boxes)}, index {index}")
    found = []
    for boxes, scores in detect.decode_heatmap(outputs, stride=stride, threshold=threshold):
        keep = nms(boxes, scores, nms_iou) if nms_iou < 1 else slice(None)
        found.append((boxes[keep], scores[keep]))
    flags = [detect.match_detections(b, s, g, iou_threshold)[0] for (b, s), g in zip(found, gt_boxes)]
    tp, n_det = int(sum(f.sum() for f in flags)), int(sum(len(f) for f in flags))
    n_gt = int(sum(len(g) for g in gt_boxes))
    return {"boxes": found[index][0].numpy(), "scores": found[index][1].numpy(), "is_tp": flags[index],
            "gt": np.asarray(gt_boxes[index], np.float32).reshape(-1, 4), "tp": tp, "fp": n_det - tp,
            "fn": n_gt - tp, "precision": tp / n_det if n_det else float("nan"),
            "recall": tp / n_gt if n_gt else float("nan"), "fp_per_image": (n_det - tp) / len(outputs)}


def detection_explorer(images, outputs, gt_boxes, stride=2):
    """Sliders for image, score threshold and NMS IoU over precomputed detector ``outputs`` (N, 5, h, w).

    images: (N, 1, H, W) float in [0, 1]. Ground truth is dashed blue, true positives green, false
    positives vermillion; the counts over all N images are printed.
    """
    import matplotlib.pyplot as plt

    from labkit import plots

    detection_summary(outputs, gt_boxes)  # bad input fails here, at build time, with a clear message

    def draw(index, threshold, nms_iou):
        s = detection_summary(outputs, gt_boxes, threshold, nms_iou, index, stride)
        fig, ax = plt.subplots(figsize=(3.6, 3.6))
        plots.show_image(np.asarray(images[index]).reshape(images.shape[-2:]), ax=ax, vmin=0, vmax=1,
                         title=f"image {index}: {s['is_tp'].sum()} TP, {(~s['is_tp']).sum()} FP, {len(s['gt'])} true")
        plots.draw_boxes(ax, s["gt"], "#0072B2", linestyle="--")
        plots.draw_boxes(ax, s["boxes"][s["is_tp"]], "#009E73", s["scores"][s["is_tp"]])
        plots.draw_boxes(ax, s["boxes"][~s["is_tp"]], "#D55E00", s["scores"][~s["is_tp"]])
        print(f"all {len(outputs)} images: precision {s['precision']:.3f} | recall {s['recall']:.3f} | "
              f"{s['fp_per_image']:.2f} false positives per image")
        return fig

    return interactive_plot(draw, index=(0, len(outputs) - 1, 1, 0), threshold=(0.05, 0.95, 0.05, 0.3),
                            nms_iou=(0.1, 1.0, 0.05, 0.5))


def augmentation_summary(image, mask, flip=False, rotate=0.0, zoom=1.0, elastic=0.0, gamma=1.0, noise=0.0, bias=0.0,
                         seed=0):
    """One augmentation of ``image`` (H, W) float in [0, 1] and its ``mask`` (H, W), each transform at a fixed
    strength (see :func:`labkit.augment.fixed_augmentation`: rotate in degrees, zoom factor, elastic magnitude
    in pixels, gamma, noise std, bias coefficient). Returns {'image': (H, W) float32, 'mask': (H, W),
    'area_before', 'area_after': mask pixels, 'change': mean |augmented - original| of the image}."""
    from labkit import augment

    a, m = as_gray_image(image), np.asarray(mask)
    if m.shape != a.shape:
        raise ValueError(f"mask must have the image's shape {a.shape}, got {m.shape}")
    transform = augment.fixed_augmentation(flip=bool(flip), rotate=rotate, zoom=zoom, elastic=elastic, gamma=gamma,
                                           noise=noise, bias=bias, seed=int(seed))
    new_image, new_mask = augment.augment_pair(a, m, transform)
    return {"image": new_image, "mask": new_mask, "area_before": int(np.count_nonzero(m)),
            "area_after": int(np.count_nonzero(new_mask)), "change": float(np.mean(np.abs(new_image - a)))}


def augmentation_gallery(image, mask):
    """Sliders for each transform's strength over ``image`` (H, W) in [0, 1] and its lesion ``mask`` (H, W):
    original and augmented image side by side, the mask outlined on both."""
    import matplotlib.pyplot as plt

    from labkit import plots

    augmentation_summary(image, mask)  # bad input fails here, at build time

    def draw(flip, rotate, zoom, elastic, gamma, noise, bias, seed):
        s = augmentation_summary(image, mask, flip, rotate, zoom, elastic, gamma, noise, bias, seed)
        fig, axes = plt.subplots(1, 2, figsize=(6.6, 3.4))
        plots.show_overlay(image, mask, ax=axes[0], title="original", vmin=0, vmax=1, contour=True)
        plots.show_overlay(s["image"], s["mask"], ax=axes[1], title="augmented (same draw for the mask)",
                           vmin=0, vmax=1, contour=True)
        fig.tight_layout()
        print(f"mask area {s['area_before']} -> {s['area_after']} pixels | mean intensity change {s['change']:.3f}")
        return fig

    return interactive_plot(draw, flip=False, rotate=(-45.0, 45.0, 1.0, 0.0), zoom=(0.7, 1.4, 0.05, 1.0),
                            elastic=(0.0, 4.0, 0.25, 0.0), gamma=(0.5, 2.0, 0.05, 1.0), noise=(0.0, 0.1, 0.005, 0.0),
                            bias=(0.0, 0.2, 0.01, 0.0), seed=(0, 20, 1, 0))


def segmentation_summary(images, truth, pred, index, n_classes=None):
    """Slice ``index`` of ``images`` (N, 1, H, W) or (N, H, W) with label maps ``truth`` and ``pred`` (N, H, W) int.

    Returns {'image': (H, W), 'truth', 'pred': (H, W) int64, 'errors': (H, W) bool where pred != truth,
    'error_fraction': float, 'dice': (n_classes - 1,) Dice per foreground class (labkit.metrics.dice_score;
    1.0 where a class is absent from both)}. n_classes defaults to 1 + the largest label of truth and pred.
    """
    from labkit.metrics import dice_score

    imgs, t, p = np.asarray(images), np.asarray(truth), np.asarray(pred)
    imgs = imgs[:, 0] if imgs.ndim == 4 else imgs
    if imgs.ndim != 3 or t.shape != imgs.shape or p.shape != imgs.shape:
        raise ValueError(f"need images (N, [1,] H, W) and label maps (N, H, W) of the same size, got "
                         f"{np.asarray(images).shape}, {t.shape}, {p.shape}")
    if not (isinstance(index, (int, np.integer)) and 0 <= index < len(imgs)):
        raise ValueError(f"index must be an int in [0, {len(imgs) - 1}], got {index!r}")
    n_classes = int(max(t.max(), p.max())) + 1 if n_classes is None else n_classes
    ti, pi = t[index].astype(np.int64), p[index].astype(np.int64)
    errors = ti != pi
    return {"image": imgs[index], "truth": ti, "pred": pi, "errors": errors, "error_fraction": float(errors.mean()),
            "dice": dice_score(pi, ti, n_classes=n_classes)[1:]}


def segmentation_viewer(images, truth, pred, class_names=None):
    """Slice slider over a stack: ground truth, prediction (label colours of labkit.plots.PALETTE) and the error
    map (pixels where they differ), with the per-class Dice of the slice printed."""
    import matplotlib.pyplot as plt

    from labkit import plots

    segmentation_summary(images, truth, pred, 0)  # bad input fails here, at build time
    n_classes = int(max(np.max(truth), np.max(pred))) + 1
    names = list(class_names or [f"class {k}" for k in range(n_classes)])[1:]
    vmax = float(np.max(images))

    def draw(index):
        s = segmentation_summary(images, truth, pred, index, n_classes)
        fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.4))
        plots.show_overlay(s["image"], s["truth"], ax=axes[0], title="ground truth", vmin=0, vmax=vmax)
        plots.show_overlay(s["image"], s["pred"], ax=axes[1], title="prediction", vmin=0, vmax=vmax)
        plots.show_overlay(s["image"], s["errors"], ax=axes[2], alpha=0.7, vmin=0, vmax=vmax,
                           title=f"errors: {s['error_fraction']:.1%} of pixels")
        fig.tight_layout()
        print(f"slice {index}: Dice " + ", ".join(f"{n} {d:.3f}" for n, d in zip(names, s["dice"])))
        return fig

    return interactive_plot(draw, index=(0, len(np.asarray(truth)) - 1, 1, len(np.asarray(truth)) // 2))


def feature_map_summary(model, image, block, n_maps=8):
    """Activations of a frozen EfficientNet (labkit.pretrained) after ``block`` (0-15) for one grey image.

    image: (H, W) in [0, 1], H and W multiples of 32. Returns dict with ``shape`` (C, h, w), ``channels`` (the
    ``n_maps`` channels with the highest mean activation, strongest first) and ``maps`` (n_maps, h, w) float32.
    """
    import torch

    from labkit import pretrained

    image = as_gray_image(image)
    if not isinstance(n_maps, numbers.Integral) or n_maps < 1:
        raise ValueError(f"n_maps must be a positive int, got {n_maps!r}")
    acts = pretrained.block_activations(model, torch.from_numpy(image)[None, None], upto=int(block))[0]
    strongest = torch.argsort(acts.mean(dim=(1, 2)), descending=True)[:n_maps]
    return {"shape": tuple(acts.shape), "channels": strongest.tolist(), "maps": acts[strongest].numpy()}


def feature_map_explorer(model, images, n_maps=8):
    """Case and block sliders: a patch and the ``n_maps`` strongest activation maps of a frozen EfficientNet after
    that block, so that resolution falling and channels growing with depth can be watched."""
    import matplotlib.pyplot as plt

    from labkit import plots

    stack = np.asarray(images.detach().cpu().numpy() if hasattr(images, "detach") else images)
    stack = stack[:, 0] if stack.ndim == 4 and stack.shape[1] == 1 else stack
    if stack.ndim != 3 or len(stack) == 0:
        raise ValueError(f"images must be (N, H, W) or (N, 1, H, W) grey patches, got shape {stack.shape}")
    feature_map_summary(model, stack[0], 0, n_maps)  # bad model or size fails here, at build time

    def draw(case, block):
        s = feature_map_summary(model, stack[case], block, n_maps)
        fig, axes = plt.subplots(1, n_maps + 1, figsize=(1.25 * (n_maps + 1), 1.7))
        plots.show_image(stack[case], ax=axes[0], title=f"patch {case}", vmin=0, vmax=1)
        for ax, channel, fmap in zip(axes[1:], s["channels"], s["maps"]):
            plots.show_image(fmap, ax=ax, title=f"ch {channel}", cmap="magma")
        c, h, w = s["shape"]
        fig.suptitle(f"after block {block}: {c} channels of {h} x {w} (the {n_maps} strongest shown)", fontsize=9)
        fig.tight_layout()
        return fig

    return interactive_plot(draw, case=(0, len(stack) - 1, 1, 0), block=(0, 15, 1, 0))
