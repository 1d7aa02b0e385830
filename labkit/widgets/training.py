"""Widgets for Part I, training and evaluating (05_classification, 06_loss_functions, 07_overfitting,
08_hyperparameters)."""

import warnings

import numpy as np

from labkit.widgets.base import interactive_plot

__all__ = ["LOSS_NAMES", "loss_curves", "loss_at", "loss_explorer", "history_curves", "history_explorer",
           "threshold_summary", "threshold_explorer"]


def threshold_summary(y_true, probs, threshold=0.5):
    """Operating point of binary ``probs`` (N,) in [0, 1] at ``threshold`` (positive when prob >= threshold).

    Returns :func:`labkit.metrics.binary_report`'s dict (sensitivity, specificity, ppv, npv, accuracy, f1,
    roc_auc, confusion_matrix, ...) plus 'fpr' (1 - specificity); undefined ratios are nan, silently.
    """
    from labkit.metrics import binary_report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        report = binary_report(y_true, probs, threshold)
    report["fpr"] = 1.0 - report["specificity"]
    return report


def threshold_explorer(y_true, probs, labels=("negative", "positive")):
    """Threshold slider: ROC curve with the operating point, confusion matrix, sensitivity/specificity/PPV."""
    import matplotlib.pyplot as plt

    from labkit import plots

    threshold_summary(y_true, probs)  # bad input fails here, at build time, with a clear message

    def draw(threshold):
        s = threshold_summary(y_true, probs, threshold)
        fig, (left, right) = plt.subplots(1, 2, figsize=(7.5, 3.3))
        plots.plot_roc(y_true, probs, ax=left)
        left.plot(s["fpr"], s["sensitivity"], "o", color="#D55E00", ms=8, label=f"threshold {threshold:.2f}")
        left.legend(loc="lower right")
        plots.plot_confusion(s["confusion_matrix"], labels=labels, ax=right, title=f"threshold {threshold:.2f}")
        fig.tight_layout()
        print(f"sensitivity {s['sensitivity']:.3f} | specificity {s['specificity']:.3f} | "
              f"PPV {s['ppv']:.3f} | NPV {s['npv']:.3f}")
        return fig

    return interactive_plot(draw, threshold=(0.0, 1.0, 0.01, 0.5))

LOSS_NAMES = ("BCE", "weighted BCE", "focal", "MSE")


def loss_curves(label=1, gamma=2.0, pos_weight=5.0, n_points=199):
    """Each loss of LOSS_NAMES for one sample with true ``label`` (0 or 1), against its predicted probability.

    Returns {'probs': (n_points,) float64 in (0, 1), 'loss': {name: (n_points,)}, 'grad': {name: (n_points,)}}:
    'grad' is d loss / d logit, the push that gradient descent gives the logit (labkit.losses, autograd).
    """
    import torch

    from labkit import losses

    if label not in (0, 1) or not gamma >= 0 or not pos_weight > 0 or int(n_points) < 2:
        raise ValueError(f"need label 0 or 1, gamma >= 0, pos_weight > 0, n_points >= 2; got {label!r}, "
                         f"{gamma!r}, {pos_weight!r}, {n_points!r}")
    probs = torch.linspace(0.005, 0.995, int(n_points), dtype=torch.float64)
    logits = torch.logit(probs).requires_grad_(True)
    target = torch.full_like(probs, float(label))
    fns = {"BCE": lambda z: losses.weighted_bce(z, target, 1.0, "none"),
           "weighted BCE": lambda z: losses.weighted_bce(z, target, pos_weight, "none"),
           "focal": lambda z: losses.focal_loss(z, target, gamma, reduction="none"),
           "MSE": lambda z: (torch.sigmoid(z) - target) ** 2}
    out = {"probs": probs.numpy(), "loss": {}, "grad": {}}
    for name, fn in fns.items():
        value = fn(logits)
        (grad,) = torch.autograd.grad(value.sum(), logits)
        out["loss"][name], out["grad"][name] = value.detach().numpy(), grad.numpy()
    return out


def loss_at(curves, prob):
    """Loss and gradient of every loss in ``curves`` (from :func:`loss_curves`) at the probability ``prob``
    (linear interpolation) -> {name: (loss, grad)}."""
    if not 0 < prob < 1:
        raise ValueError(f"prob must be in (0, 1), got {prob!r}")
    p = curves["probs"]
    return {name: (float(np.interp(prob, p, curves["loss"][name])), float(np.interp(prob, p, curves["grad"][name])))
            for name in curves["loss"]}


def loss_explorer():
    """Predicted-probability, label, gamma and pos_weight controls: every loss and its gradient with respect to
    the logit, against the predicted probability, with the chosen prediction marked."""
    import matplotlib.pyplot as plt

    def draw(prob, label, gamma, pos_weight):
        curves = loss_curves(label, gamma, pos_weight)
        at = loss_at(curves, prob)
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
        for name in curves["loss"]:
            line, = left.plot(curves["probs"], curves["loss"][name], label=name)
            right.plot(curves["probs"], curves["grad"][name], color=line.get_color())
            left.plot(prob, at[name][0], "o", color=line.get_color())
            right.plot(prob, at[name][1], "o", color=line.get_color())
        left.set(title=f"loss for a sample with label {label}", xlabel="predicted probability", ylabel="loss",
                 ylim=(0, min(8, max(v.max() for v in curves["loss"].values()) * 1.05)))
        right.set(title="gradient d loss / d logit", xlabel="predicted probability")
        right.axhline(0, color="0.6", linewidth=1)
        left.legend()
        fig.tight_layout()
        print(" | ".join(f"{name}: loss {v:.3f}, grad {g:+.3f}" for name, (v, g) in at.items()))
        return fig

    return interactive_plot(draw, prob=(0.01, 0.99, 0.01, 0.2), label=[1, 0], gamma=(0.0, 5.0, 0.5, 2.0),
                            pos_weight=(0.5, 20.0, 0.5, 5.0))


def history_curves(histories, runs, quantity="val_loss"):
    """Per-epoch ``quantity`` ('train_loss', 'val_loss' or a validation metric such as 'accuracy') of the
    ``runs`` (names) of ``histories`` (dict name -> labkit.train.History) -> dict name -> (E,) float64 array.

    Each run has its own length E (early stopping). Raises ValueError for an unknown run, KeyError for an
    unknown quantity.
    """
    unknown = [name for name in runs if name not in histories]
    if unknown:
        raise ValueError(f"unknown run(s) {unknown}; known runs: {list(histories)}")
    return {name: np.asarray(histories[name].values(quantity), dtype=np.float64) for name in runs}


def history_explorer(histories, quantities=("val_loss", "train_loss", "accuracy"), log_scale=False):
    """Pick runs (several with Ctrl/Shift-click) and a quantity: their curves on one plot, best epochs printed.

    histories: dict name -> labkit.train.History, all computed beforehand (moving a control trains nothing).
    """
    import ipywidgets as W
    import matplotlib.pyplot as plt

    names = list(histories)
    history_curves(histories, names, quantities[0])  # bad input fails here, at build time
    select = W.SelectMultiple(options=names, value=tuple(names[:2]), description="runs", rows=min(8, len(names)))

    def draw(runs, quantity, log_scale):
        curves = history_curves(histories, runs, quantity)
        if not curves:
            print("select at least one run")
            return None
        fig, ax = plt.subplots(figsize=(6.5, 3.5))
        for name, values in curves.items():
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=name)
            finite = np.flatnonzero(np.isfinite(values))
            if finite.size:
                best = finite[np.argmin(values[finite]) if "loss" in quantity else np.argmax(values[finite])]
                print(f"{name:>24}: best {quantity} {values[best]:.4g} at epoch {best + 1} of {len(values)}")
        ax.set(xlabel="epoch", ylabel=quantity, title=f"{quantity} per epoch", yscale="log" if log_scale else "linear")
        ax.legend(fontsize=7)
        return fig

    return interactive_plot(draw, runs=select, quantity=list(quantities), log_scale=bool(log_scale))
