"""Widgets for Part III, robustness and trust (13_domain_adaptation, 14_multimodal_fusion,
15_adversarial_attacks, 16_interpretability)."""

import numpy as np

from labkit.widgets.base import interactive_plot, as_gray_image

__all__ = ["attack_summary", "attack_explorer", "attribution_summary", "attribution_explorer", "shift_summary",
           "shift_explorer", "fusion_weights_summary", "fusion_weights_explorer"]


def attack_summary(model, image, label, eps, method="fgsm"):
    """One image (1, H, W) in [0, 1] attacked at ``eps`` (L-inf) -> dict with 'adversarial' and 'perturbation'
    (H, W) arrays, 'prob_clean' and 'prob_adv' (sigmoid of a one-output model) and 'linf' (float)."""
    import torch

    from labkit import adversarial

    x = torch.as_tensor(np.asarray(image, np.float32))
    if x.dim() != 3:
        raise ValueError(f"image must have shape (C, H, W), got {tuple(x.shape)}")
    x, y = x[None], torch.tensor([int(label)])
    model.eval()
    x_adv = adversarial.attack(model, x, y, float(eps), method)
    with torch.no_grad():
        probs = torch.sigmoid(model(torch.cat([x, x_adv])).reshape(2)).tolist()
    delta = (x_adv - x)[0, 0].numpy()
    return {"adversarial": x_adv[0, 0].numpy(), "perturbation": delta, "prob_clean": probs[0],
            "prob_adv": probs[1], "linf": float(np.abs(delta).max())}


def attack_explorer(model, images, labels, max_eps=16):
    """Case and epsilon (in 1/255 steps) sliders: clean image, adversarial image, amplified perturbation and
    the model's probability of 'lesion' before and after (FGSM computed live for one image)."""
    import matplotlib.pyplot as plt

    from labkit import plots

    images, labels = np.asarray(images), np.asarray(labels)

    def draw(case, eps_255, method):
        s = attack_summary(model, images[case], labels[case], eps_255 / 255, method)
        fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
        plots.show_image(images[case, 0], ax=axes[0], title=f"clean, label {labels[case]}: p={s['prob_clean']:.2f}",
                         vmin=0, vmax=1)
        plots.show_image(s["adversarial"], ax=axes[1], title=f"{method} eps={eps_255}/255: p={s['prob_adv']:.2f}",
                         vmin=0, vmax=1)
        bound = max(s["linf"], 1e-6)
        plots.show_image(s["perturbation"], ax=axes[2], title="perturbation (amplified)", vmin=-bound, vmax=bound,
                         cmap="cividis")
        fig.tight_layout()
        return fig

    return interactive_plot(draw, case=(0, len(images) - 1, 1, 0), eps_255=(0, int(max_eps), 1, 4),
                            method=["fgsm", "pgd"])


def attribution_summary(maps, masks, case, method):
    """Precomputed attributions ``maps`` {method: (N, H, W)} -> dict with the map (H, W) of one case, its
    peak (row, col) and whether the peak falls inside ``masks[case]`` (H, W) ('hit', bool)."""
    if method not in maps:
        raise ValueError(f"method must be one of {sorted(maps)}, got {method!r}")
    attr = np.asarray(maps[method][case], np.float64)
    peak = np.unravel_index(np.argmax(attr), attr.shape)
    return {"map": attr, "peak": tuple(int(p) for p in peak), "hit": bool(np.asarray(masks[case])[peak])}


def attribution_explorer(images, maps, masks):
    """Case and method pickers over precomputed attributions: image with the lesion outline, the map and
    its peak (a cross: orange when it falls inside the lesion)."""
    import matplotlib.pyplot as plt

    from labkit import plots

    images, masks = np.asarray(images), np.asarray(masks)

    def draw(case, method):
        s = attribution_summary(maps, masks, case, method)
        fig, axes = plt.subplots(1, 2, figsize=(6, 3))
        plots.show_overlay(images[case, 0], masks[case], ax=axes[0], title=f"case {case}: lesion outline",
                           vmin=0, vmax=1, contour=True)
        plots.show_image(s["map"], ax=axes[1], title=f"{method}: peak {'in' if s['hit'] else 'outside'} lesion",
                         cmap="viridis")
        for ax in axes:
            ax.plot(s["peak"][1], s["peak"][0], "x", color="#E69F00" if s["hit"] else "#D55E00", ms=10, mew=2)
        fig.tight_layout()
        return fig

    return interactive_plot(draw, case=(0, len(images) - 1, 1, 0), method=list(maps))


def shift_summary(strengths, curves, strength):
    """Each model's score at shift ``strength``, linearly interpolated from precomputed curves.

    strengths: (K,) increasing shift strengths (0 = the training scanner); curves: dict name -> K scores.
    Returns dict name -> float. ``strength`` outside the range is clipped to it.
    """
    s = np.asarray(strengths, dtype=float)
    if s.ndim != 1 or len(s) < 2 or np.any(np.diff(s) <= 0):
        raise ValueError(f"strengths must be K >= 2 increasing numbers, got {strengths!r}")
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict name -> scores")
    out = {}
    for name, values in curves.items():
        v = np.asarray(values, dtype=float)
        if v.shape != s.shape:
            raise ValueError(f"curve {name!r} has {v.size} values for {len(s)} strengths")
        out[name] = float(np.interp(float(strength), s, v))
    return out


def shift_explorer(strengths, curves, image, effect, metric="accuracy"):
    """Shift-strength slider: ``image`` (H, W) in [0, 1] as it looks under ``effect`` (a SiteEffect) scaled to that
    strength, and every model's precomputed ``metric`` curve with the current strength marked."""
    import matplotlib.pyplot as plt

    from labkit import adapt, plots, synthetic

    shift_summary(strengths, curves, strengths[0])  # bad input fails here, at build time
    image = as_gray_image(image)

    def draw(strength):
        shifted = synthetic.apply_site_effect(image[None, None], adapt.scaled_effect(effect, strength), seed=0)
        fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.4), gridspec_kw={"width_ratios": [1, 1.6]})
        plots.show_image(shifted[0, 0], ax=left, title=f"shift strength {strength:.2f}", vmin=0, vmax=1)
        for name, values in curves.items():
            right.plot(strengths, values, marker="o", ms=3, label=name)
        right.axvline(strength, color="0.4", linestyle=":")
        right.set(xlabel="shift strength (0 = training scanner, 1 = scanner B)", ylabel=metric,
                  title=f"{metric} against shift strength")
        right.legend(fontsize=7)
        fig.tight_layout()
        scores = shift_summary(strengths, curves, strength)
        print(" | ".join(f"{name} {value:.3f}" for name, value in scores.items()))
        return fig

    top = float(np.max(strengths))
    return interactive_plot(draw, strength=(float(np.min(strengths)), top, top / 40, min(1.0, top)))


def fusion_weights_summary(probs, y_true, weights, groups=None, threshold=0.5):
    """Late fusion of per-modality probabilities with ``weights`` and what it achieves.

    probs: dict name -> (N,) probabilities; weights: dict name -> non-negative weight (missing names weigh 0);
    groups: optional (N,) labels of the cases (e.g. the lesion type) for the sensitivity per group at
    ``threshold``. Returns dict with ``auc``, ``fused`` (N,), ``weights`` (normalised) and ``sensitivity``
    (group -> share of the group's positives found, for groups with positives).
    """
    from labkit import fusion, metrics

    if not isinstance(probs, dict) or not probs:
        raise ValueError("probs must be a non-empty dict name -> (N,) probabilities")
    if not isinstance(weights, dict) or set(weights) - set(probs):
        raise ValueError(f"weights must be a dict over the names {list(probs)}, got {weights!r}")
    w = np.array([float(weights.get(name, 0.0)) for name in probs])
    if np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be non-negative with at least one above 0, got {weights!r}")
    fused = fusion.late_fusion(list(probs.values()), w)
    y = np.asarray(y_true).ravel()
    if y.shape != fused.shape:
        raise ValueError(f"y_true has {y.size} labels for {fused.size} cases")
    sens = {}
    if groups is not None:
        g = np.asarray(groups).ravel()
        if g.shape != y.shape:
            raise ValueError(f"groups has {g.size} entries for {y.size} cases")
        for name in dict.fromkeys(g[y == 1].tolist()):
            sens[name] = float(np.mean(fused[(g == name) & (y == 1)] >= threshold))
    return {"auc": metrics.roc_auc(y, fused), "fused": fused, "sensitivity": sens,
            "weights": dict(zip(probs, (w / w.sum()).tolist()))}


def fusion_weights_explorer(probs, y_true, groups=None, reference=None):
    """One weight slider per modality of a late fusion: its ROC curve, AUC and sensitivity per group, against
    ``reference`` (dict name -> AUC of other models, drawn as lines for comparison). Names must be identifiers."""
    import matplotlib.pyplot as plt

    from labkit import metrics

    if not isinstance(probs, dict) or not probs or not all(str(k).isidentifier() for k in probs):
        raise ValueError(f"probs must be a non-empty dict whose names are identifiers, got {list(probs or [])}")
    fusion_weights_summary(probs, y_true, dict.fromkeys(probs, 1.0), groups)  # bad input fails at build time
    reference = dict(reference or {})

    def draw(**weights):
        s = fusion_weights_summary(probs, y_true, weights, groups)
        fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.3))
        fpr, tpr, _ = metrics.roc_curve(y_true, s["fused"])
        left.plot(fpr, tpr, label=f"late fusion, AUC {s['auc']:.3f}")
        left.plot([0, 1], [0, 1], color="0.7", linestyle=":")
        left.set(xlabel="false-positive rate", ylabel="sensitivity", title="ROC of the weighted vote")
        left.legend(fontsize=7, loc="lower right")
        names = ["late fusion"] + list(reference)
        bars = right.barh(names, [s["auc"]] + list(reference.values()), color=["#0072B2"] + ["0.6"] * len(reference))
        right.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
        right.set(xlim=(0.5, 1.08), xlabel="ROC-AUC", title="against the other models")
        fig.tight_layout()
        shares = ", ".join(f"{k} {v:.2f}" for k, v in s["weights"].items())
        found = " | ".join(f"{k} lesions found {v:.0%}" for k, v in s["sensitivity"].items())
        print(f"weights {shares}" + (f"\n{found} (threshold 0.5)" if found else ""))
        return fig

    return interactive_plot(draw, **{name: (0.0, 1.0, 0.05, 1.0) for name in probs})
