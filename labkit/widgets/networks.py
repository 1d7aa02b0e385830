"""Widgets for Part I, neural networks and convolution (03_neural_networks, 04_cnns)."""

import numpy as np

from labkit.widgets.base import interactive_plot, as_gray_image

__all__ = ["activation_summary", "activation_explorer", "parse_kernel", "kernel_summary", "kernel_explorer"]


def activation_summary(name, x_range=6.0, temperature=1.0):
    """Curve of activation ``name`` (see labkit.layers.ACTIVATIONS) as f(x / temperature) on [-x_range, x_range].

    Returns {'x', 'y', 'dy': (401,) float64 arrays, 'max_slope': float, 'flat': fraction of the range where the
    slope is below 0.01 (where almost no gradient flows back)}.
    """
    from labkit import layers

    x, y, dy = layers.activation_curve(name, -x_range, x_range, temperature)
    return {"x": x, "y": y, "dy": dy, "max_slope": float(np.abs(dy).max()), "flat": float(np.mean(np.abs(dy) < 0.01))}


def activation_explorer():
    """Activation menu, input-range and temperature sliders: f(x / T) beside its derivative."""
    import matplotlib.pyplot as plt

    from labkit import layers

    def draw(activation, x_range, temperature):
        s = activation_summary(activation, x_range, temperature)
        fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))
        left.plot(s["x"], s["y"], color="#0072B2")
        right.plot(s["x"], s["dy"], color="#D55E00")
        right.fill_between(s["x"], 0, 1, where=np.abs(s["dy"]) < 0.01, color="0.85",
                           transform=right.get_xaxis_transform())
        left.set(title=f"{activation}(x / {temperature:g})", xlabel="x")
        right.set(title="derivative (gray: slope < 0.01)", xlabel="x")
        fig.tight_layout()
        print(f"largest slope {s['max_slope']:.3f}; slope below 0.01 on {s['flat']:.0%} of [-{x_range:g}, {x_range:g}]")
        return fig

    return interactive_plot(draw, activation=list(layers.ACTIVATIONS), x_range=(1.0, 20.0, 0.5, 6.0),
                            temperature=(0.1, 5.0, 0.1, 1.0))


def parse_kernel(text):
    """Kernel weights typed as text, rows separated by '/' or newlines (e.g. '0 -1 0 / -1 5 -1 / 0 -1 0')
    -> (k, k) float32 array with k odd. Raises ValueError for anything else."""
    rows = [r.replace(",", " ").split() for r in str(text).replace("\n", "/").split("/") if r.strip()]
    try:
        kernel = np.array([[float(v) for v in row] for row in rows], dtype=np.float32)
    except ValueError:
        raise ValueError(f"kernel weights must be rows of numbers of equal length, got {text!r}") from None
    square = kernel.ndim == 2 and kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1
    if not square or not np.isfinite(kernel).all():
        raise ValueError(f"need a square kernel with an odd number of finite rows (3 rows of 3 numbers), got {text!r}")
    return kernel


def kernel_summary(image, kernel, size=3, weights="0 -1 0 / -1 5 -1 / 0 -1 0"):
    """Filter ``image`` (H, W) with a classic ``kernel`` (a name of labkit.layers.KERNELS; ``size`` for the
    blurs) or, for kernel='custom', the typed ``weights`` (see :func:`parse_kernel`).

    Returns {'kernel': (k, k) float32, 'filtered': (H, W) float32, 'sum': the kernel's sum}.
    """
    from labkit import layers

    a = as_gray_image(image)
    k = parse_kernel(weights) if kernel == "custom" else layers.classic_kernel(kernel, size, sigma=size / 4).numpy()
    return {"kernel": k, "filtered": layers.filter_image(a, k), "sum": float(k.sum())}


def kernel_explorer(image, vmin=0.0, vmax=1.0):
    """Kernel menu (classic filters or your own weights), blur size: image, kernel and filtered image."""
    import ipywidgets as W
    import matplotlib.pyplot as plt

    from labkit import layers, plots

    a = as_gray_image(image)

    def draw(kernel, size, weights):
        s = kernel_summary(a, kernel, size, weights)
        low, high = np.percentile(s["filtered"], [1, 99])
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), gridspec_kw={"width_ratios": [3, 2, 3]})
        plots.show_image(a, ax=axes[0], vmin=vmin, vmax=vmax, title="input")
        k = s["kernel"]
        axes[1].imshow(k, cmap="cividis")
        for (i, j), v in np.ndenumerate(k) if k.shape[0] <= 7 else ():   # write the weights of small kernels
            axes[1].text(j, i, f"{v:.2g}", ha="center", va="center", color="w" if v < k.mean() else "k", fontsize=8)
        axes[1].set_title(f"kernel {k.shape[0]}x{k.shape[1]}, sum {s['sum']:.2g}")
        axes[1].set_axis_off()
        plots.show_image(s["filtered"], ax=axes[2], vmin=low, vmax=max(high, low + 1e-6), title=f"filtered: {kernel}")
        fig.tight_layout()
        print(f"kernel sum {s['sum']:.3g}: output mean {s['filtered'].mean():.3f} (input {a.mean():.3f})")
        return fig

    text = W.Text(value="0 -1 0 / -1 5 -1 / 0 -1 0", description="weights (custom)", continuous_update=False,
                  style={"description_width": "initial"})
    # starts on a blur, so that the size slider (used by the blurs only) changes the picture from the first move
    menu = W.Dropdown(options=list(layers.KERNELS) + ["custom"], value="gaussian blur", description="kernel")
    return interactive_plot(draw, kernel=menu, size=(3, 11, 2, 3), weights=text)
