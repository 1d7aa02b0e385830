"""Figures: images, grids, mask overlays, boxes, learning curves, confusion matrices and ROC curves.

Every function takes ``ax=None`` (a new figure is made) and returns the axes it drew on. Images are shown in
gray with explicit vmin/vmax and no axis ticks; every panel gets a title. Nothing here sets global styles
(``labkit.setup`` does that once).
"""

import numpy as np

__all__ = ["PALETTE", "show_image", "show_grid", "show_overlay", "show_boxes", "plot_history", "plot_confusion",
           "plot_roc", "to_image", "figure_alt"]

# Okabe-Ito colour-blind-safe palette: mask class k (k >= 1) is drawn in PALETTE[(k - 1) % len(PALETTE)].
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _axes(ax, figsize=(4, 4)):
    if ax is None:
        _, ax = _plt().subplots(figsize=figsize)
    return ax


def to_image(image, name="image"):
    """A 2-D (H, W) or RGB (H, W, 3) NumPy array from (H, W), (1, H, W), (3, H, W), (H, W, 3) arrays/tensors."""
    from labkit.metrics import to_numpy

    a = np.asarray(to_numpy(image, name))
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (3, 4):
        a = a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4))):
        raise ValueError(f"{name} must be (H, W), (1, H, W), (3, H, W) or (H, W, 3), got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty: shape {a.shape}")
    return a.astype(np.float32) if a.dtype == bool else a


def show_image(image, ax=None, title=None, vmin=None, vmax=None, cmap="gray"):
    """Show one image (H, W) or (1/3, H, W) with axes off. vmin/vmax default to the image's min and max."""
    a = to_image(image)
    ax = _axes(ax)
    if a.ndim == 2:
        vmin = float(np.nanmin(a)) if vmin is None else vmin
        vmax = float(np.nanmax(a)) if vmax is None else vmax
    ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title("" if title is None else str(title))
    ax.set_axis_off()
    return ax


def show_grid(images, titles=None, ncols=8, vmin=0, vmax=1, cmap="gray", size=1.6):
    """Show images (N, H, W) or (N, 1, H, W) (NumPy or torch) in a grid; returns the (flat) array of axes.

    ``titles``: N strings/numbers (default: the index). Extra panels are hidden.
    """
    from labkit.metrics import to_numpy

    a = to_numpy(images, "images")
    if a.ndim == 4 and a.shape[1] in (1, 3):
        a = a[:, 0] if a.shape[1] == 1 else np.moveaxis(a, 1, -1)
    if a.ndim not in (3, 4) or len(a) == 0:
        raise ValueError(f"images must be a non-empty batch (N, H, W) or (N, 1, H, W), got shape {a.shape}")
    if titles is not None and len(titles) != len(a):
        raise ValueError(f"got {len(titles)} titles for {len(a)} images")
    ncols = max(1, min(ncols, len(a)))
    nrows = -(-len(a) // ncols)
    _, axes = _plt().subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.2 * nrows), squeeze=False)
    axes = axes.ravel()
    for i, ax in enumerate(axes):
        if i < len(a):
            show_image(a[i], ax=ax, title=titles[i] if titles is not None else str(i), vmin=vmin, vmax=vmax,
                       cmap=cmap)
        else:
            ax.set_visible(False)
    return axes


def _mask_rgba(mask, alpha):
    from matplotlib.colors import to_rgba

    m = np.asarray(mask)
    if m.dtype != bool and (not np.issubdtype(m.dtype, np.number) or np.any(m != np.round(m)) or m.min() < 0):
        raise ValueError(f"mask must hold integer labels >= 0 (0 = background), got dtype {m.dtype}")
    m = m.astype(np.int64)
    rgba = np.zeros(m.shape + (4,), np.float32)
    for k in np.unique(m[m > 0]):
        rgba[m == k] = to_rgba(PALETTE[(k - 1) % len(PALETTE)], alpha)
    return rgba


def show_overlay(image, mask, ax=None, title=None, alpha=0.4, vmin=None, vmax=None, contour=False):
    """Show a gray image (H, W) with a label mask (H, W) on top: class k >= 1 in ``PALETTE[k - 1]``, 0 clear.

    ``contour=True`` draws the outline of each class instead of a filled overlay.
    """
    a, m = to_image(image), to_image(mask, "mask")
    if m.ndim != 2 or a.shape[:2] != m.shape:
        raise ValueError(f"mask must be (H, W) like the image {a.shape[:2]}, got {m.shape}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    ax = show_image(a, ax=ax, title=title, vmin=vmin, vmax=vmax)
    if contour:
        for k in np.unique(m[m > 0]).astype(int):
            ax.contour(m == k, levels=[0.5], colors=[PALETTE[(k - 1) % len(PALETTE)]], linewidths=1.2)
    else:
        ax.imshow(_mask_rgba(m, alpha), interpolation="nearest")
    return ax


def show_boxes(image, boxes, ax=None, color="#E69F00", scores=None, title=None, vmin=None, vmax=None):
    """Show an image with boxes (K, 4) as (x0, y0, x1, y1) in pixels; ``scores`` (K,) are written beside them."""
    from matplotlib.patches import Rectangle

    from labkit.metrics import to_numpy

    b = to_numpy(boxes, "boxes").astype(np.float64)
    b = b.reshape(0, 4) if b.size == 0 else b
    if b.ndim != 2 or b.shape[1] != 4 or np.any(b[:, 2:] < b[:, :2]):
        raise ValueError(f"boxes must be (K, 4) as (x0, y0, x1, y1) with x1 >= x0 and y1 >= y0, got shape {b.shape}")
    s = None if scores is None else to_numpy(scores, "scores").reshape(-1)
    if s is not None and len(s) != len(b):
        raise ValueError(f"got {len(s)} scores for {len(b)} boxes")
    ax = show_image(image, ax=ax, title=title, vmin=vmin, vmax=vmax)
    for i, (x0, y0, x1, y1) in enumerate(b):
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=color, linewidth=1.5))
        if s is not None:
            ax.text(x0, y0 - 1, f"{s[i]:.2f}", color=color, fontsize=7, va="bottom")
    return ax


def plot_history(history, metrics=("loss",), ax=None):
    """Learning curves of a :class:`labkit.train.History`: train vs validation loss ('loss') and validation
    metrics by name, against the epoch (from 1); the best epoch is marked with a dotted line."""
    if not hasattr(history, "train_loss"):
        raise TypeError(f"expected a labkit.train.History, got {type(history).__name__}")
    ax = _axes(ax, figsize=(5, 3.5))
    epochs = np.arange(1, history.n_epochs + 1)
    for name in (metrics,) if isinstance(metrics, str) else metrics:
        if name == "loss":
            ax.plot(epochs, history.train_loss, marker="o", ms=3, label="train loss")
            if history.val_loss:
                ax.plot(epochs, history.val_loss, marker="o", ms=3, label="val loss")
        else:
            ax.plot(epochs, history.values(name), marker="s", ms=3, label=f"val {name.removeprefix('val_')}")
    if history.best_epoch is not None:
        ax.axvline(history.best_epoch + 1, color="0.4", linestyle=":", label=f"best epoch ({history.best_epoch + 1})")
    ax.set_xlabel("epoch")
    ax.set_title("Learning curves")
    ax.legend()
    return ax


def plot_confusion(cm, labels=None, ax=None, title="Confusion matrix"):
    """Show a confusion matrix (C, C) (rows true, columns predicted) with counts written in the cells."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be square (C, C), got shape {cm.shape}")
    labels = [str(i) for i in range(len(cm))] if labels is None else [str(s) for s in labels]
    if len(labels) != len(cm):
        raise ValueError(f"got {len(labels)} labels for a {cm.shape} matrix")
    ax = _axes(ax, figsize=(3.5, 3.2))
    ax.imshow(cm, cmap="cividis", vmin=0, vmax=max(cm.max(), 1))
    for (i, j), v in np.ndenumerate(cm):
        text = f"{v:d}" if np.issubdtype(cm.dtype, np.integer) else f"{v:.2f}"
        ax.text(j, i, text, ha="center", va="center", color="black" if v > cm.max() / 2 else "white")
    ax.set_xticks(range(len(cm)), labels)
    ax.set_yticks(range(len(cm)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return ax


def plot_roc(y_true, probs, ax=None, label=None, title="ROC curve"):
    """ROC curve of binary ``probs`` (N,) with its AUC in the legend, and the chance diagonal."""
    from labkit.metrics import roc_auc, roc_curve

    fpr, tpr, _ = roc_curve(y_true, probs)
    auc = roc_auc(y_true, probs)
    ax = _axes(ax, figsize=(3.8, 3.5))
    name = f"{label} (AUC {auc:.3f})" if label else f"AUC {auc:.3f}"
    ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("1 - specificity (false-positive rate)")
    ax.set_ylabel("sensitivity (true-positive rate)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return ax


def draw_boxes(ax, boxes, color="#009E73", scores=None, linestyle="-"):
    """Add boxes (K, 4) x0, y0, x1, y1 (pixels) to existing axes ``ax``, e.g. detections over ground truth
    drawn by :func:`show_boxes`; ``scores`` (K,) are written beside them. Returns ``ax``."""
    from matplotlib.patches import Rectangle

    from labkit.metrics import to_numpy

    b = to_numpy(boxes, "boxes").astype(np.float64).reshape(-1, 4)
    s = None if scores is None else to_numpy(scores, "scores").reshape(-1)
    if s is not None and len(s) != len(b):
        raise ValueError(f"got {len(s)} scores for {len(b)} boxes")
    for k, (x0, y0, x1, y1) in enumerate(b):
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=color,
                               linewidth=1.5, linestyle=linestyle))
        if s is not None:
            ax.text(x0, y0 - 1, f"{s[k]:.2f}", color=color, fontsize=7, va="bottom")
    return ax


__all__ += ["draw_boxes"]


def figure_alt(fig, limit=400):
    """A text description of a matplotlib figure for readers who cannot see it (alt text): its title, each
    panel's title and axis labels. Used by the course's static site and its widget snapshots."""
    parts = []
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text():
        parts.append(suptitle.get_text())
    for ax in fig.axes:
        title = ax.get_title() or ax.get_title(loc="left")
        labels = [f"{name} axis: {label}" for name, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())) if label]
        if title or labels:
            parts.append(", ".join([title] + labels if title else labels))
    text = "Figure: " + "; ".join(parts) if parts else "Figure without a title"
    return text if len(text) <= limit else text[:limit - 3] + "..."

