"""Widgets for the capstone project (23_capstone)."""

import numpy as np

from labkit.widgets.base import as_gray_image, interactive_plot

__all__ = ["postprocess_summary", "postprocess_explorer"]


def _check_inputs(probs, true_labels, region):
    probs = np.asarray(probs, np.float32)
    true_labels, region = np.asarray(true_labels), np.asarray(region, bool)
    if probs.ndim != 3 or probs.shape[0] != 3:
        raise ValueError(f"probs must be (3, H, W) class probabilities (background, interior, border), got "
                         f"shape {probs.shape}")
    if true_labels.shape != probs.shape[1:] or region.shape != probs.shape[1:]:
        raise ValueError(f"true_labels and region must be (H, W) = {probs.shape[1:]}, got {true_labels.shape} and "
                         f"{region.shape}")
    if not region.any():
        raise ValueError("region is empty: pass the boolean map of the split to explore (e.g. regions == 1)")
    return probs, true_labels, region


def postprocess_summary(probs, true_labels, region, threshold=0.5, min_size=3):
    """Instances decoded at an interior ``threshold`` and ``min_size`` (:func:`labkit.capstone.decode_instances`),
    scored against ``true_labels`` on the objects whose centroid lies in ``region``.

    Returns a dict: 'pred' (H, W) int32 instance labels of the region, 'truth' (H, W) of the region, 'n_true',
    'n_pred', 'tp', 'fp', 'fn' (ints), 'precision', 'recall', 'f1' (floats).
    """
    from labkit import capstone

    probs, true_labels, region = _check_inputs(probs, true_labels, region)
    if not 0 < threshold < 1 or min_size < 1:
        raise ValueError(f"need 0 < threshold < 1 and min_size >= 1, got {threshold!r} and {min_size!r}")
    pred = capstone.restrict_to_region(capstone.decode_instances(probs, threshold, int(min_size)), region)
    truth = capstone.restrict_to_region(true_labels.astype(np.int64), region)
    m = capstone.match_instances(truth, pred)
    return {"pred": pred, "truth": truth, "n_true": m["tp"] + m["fn"], "n_pred": m["tp"] + m["fp"],
            **{k: m[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1")}}


def postprocess_explorer(image, probs, true_labels, region):
    """Sliders for the interior threshold and the smallest seed (pixels) that turn class probabilities into
    nuclei; shows the region's predicted nuclei (colours) over the true outlines (white) and the instance F1.

    image: (H, W) float in [0, 1]; probs: (3, H, W); true_labels: (H, W) int; region: (H, W) bool.
    """
    import matplotlib.pyplot as plt
    from skimage.segmentation import find_boundaries

    from labkit import plots

    image = as_gray_image(image)
    probs, true_labels, region = _check_inputs(probs, true_labels, region)
    if image.shape != region.shape:
        raise ValueError(f"image must be (H, W) = {region.shape}, got {image.shape}")
    rows, cols = np.flatnonzero(region.any(1)), np.flatnonzero(region.any(0))
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))

    def draw(threshold, min_size):
        s = postprocess_summary(probs, true_labels, region, threshold, min_size)
        fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
        plots.show_image(image[window], ax=axes[0], vmin=0, vmax=1, title="image, true outlines (white)")
        shown = np.ma.masked_equal(s["pred"][window] % 20 + (s["pred"][window] > 0), 0)
        axes[1].imshow(image[window], cmap="gray", vmin=0, vmax=1)
        axes[1].imshow(shown, cmap="viridis", alpha=0.6, interpolation="nearest")
        for ax in axes:
            ax.contour(find_boundaries(s["truth"][window]), [0.5], colors="white", linewidths=0.6)
        axes[1].set_title(f"{s['n_pred']} predicted for {s['n_true']} nuclei: F1 {s['f1']:.2f}")
        axes[1].axis("off")
        print(f"threshold {threshold:.2f}, seeds >= {min_size} px: TP {s['tp']}, FP {s['fp']}, FN {s['fn']}, "
              f"precision {s['precision']:.3f}, recall {s['recall']:.3f}, F1 {s['f1']:.3f}")

    return interactive_plot(draw, threshold=(0.05, 0.95, 0.05, 0.5), min_size=(1, 40, 1, 3))
