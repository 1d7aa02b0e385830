"""Semantic segmentation: a small U-Net, MONAI's UNet, label-map prediction and MONAI segmentation metrics.

Introduced in 10_segmentation.ipynb (the lesson writes ``double_conv`` and the U-Net by hand first).
Overlap scores without MONAI are :func:`labkit.metrics.dice_score` and :func:`labkit.metrics.iou_score`.
"""

import warnings

import numpy as np
import torch
from torch import nn

__all__ = ["double_conv", "SmallUNet", "make_unet", "predict_labels", "segmentation_metrics",
           "worst_case_distance", "iou_from_dice"]


def double_conv(in_channels, out_channels):
    """Two (3x3 conv, BatchNorm, ReLU) layers: (N, in_channels, H, W) -> (N, out_channels, H, W).

    Introduced in 10_segmentation.ipynb.
    """
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU())


class SmallUNet(nn.Module):
    """A two-level U-Net: encoder (double_conv, max-pool) x 2, a bottleneck, decoder (transposed conv x2 up,
    concatenate the skip connection, double_conv) x 2 and a 1x1 conv head.

    Input (N, in_channels, H, W) float32 with H, W divisible by 4; output logits (N, n_classes, H, W).
    Channel widths width, 2 width, 4 width (about 120k parameters at width 16). Introduced in 10_segmentation.ipynb.
    """

    def __init__(self, in_channels=1, n_classes=4, width=16):
        super().__init__()
        if not isinstance(n_classes, int) or n_classes < 1 or not isinstance(width, int) or width < 1:
            raise ValueError(f"n_classes and width must be positive ints, got {n_classes!r} and {width!r}")
        w = width
        self.in_channels = in_channels
        self.enc1, self.enc2 = double_conv(in_channels, w), double_conv(w, 2 * w)
        self.bottom = double_conv(2 * w, 4 * w)
        self.pool = nn.MaxPool2d(2)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), double_conv(4 * w, 2 * w)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2), double_conv(2 * w, w)
        self.head = nn.Conv2d(w, n_classes, 1)

    def forward(self, x):
        """Logits (N, n_classes, H, W) for images x (N, in_channels, H, W)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"SmallUNet expects (N, {self.in_channels}, H, W) with H, W divisible by 4, "
                             f"got {tuple(x.shape)}")
        e1 = self.enc1(x)                                       # (N, w, H, W)
        e2 = self.enc2(self.pool(e1))                           # (N, 2w, H/2, W/2)
        b = self.bottom(self.pool(e2))                          # (N, 4w, H/4, W/4)
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))     # (N, 2w, H/2, W/2)
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))    # (N, w, H, W)
        return self.head(d1)


def make_unet(n_classes=4, in_channels=1, channels=(16, 32, 64, 128), num_res_units=2, dropout=0.0, spatial_dims=2):
    """MONAI's UNet with stride-2 down-sampling between ``channels`` levels and residual units.

    Input (N, in_channels, H, W) (or (N, in_channels, X, Y, Z) with ``spatial_dims=3``), every side divisible by
    2 ** (len(channels) - 1); output logits of the same spatial size with n_classes channels.
    """
    from monai.networks.nets import UNet

    if len(channels) < 2:
        raise ValueError(f"channels needs at least 2 levels, got {channels!r}")
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
    return UNet(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=n_classes, channels=tuple(channels),
                strides=(2,) * (len(channels) - 1), num_res_units=num_res_units, dropout=dropout)


def predict_labels(model, images, device=None, batch_size=16):
    """Label maps (N, H, W) int64 NumPy array: argmax over classes of ``model(images)`` (N, C, H, W) logits.

    images: (N, C, H, W) NumPy array or tensor. Runs in eval mode without gradients (labkit.train.predict).
    """
    from labkit.train import predict

    logits = predict(model, images, device=device, batch_size=batch_size)
    if logits.dim() != 4:
        raise ValueError(f"expected segmentation logits (N, C, H, W), got shape {tuple(logits.shape)}")
    return logits.argmax(dim=1).numpy()


def _one_hot(labels, n_classes):
    from monai.networks.utils import one_hot

    t = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    return one_hot(t[:, None], n_classes, dim=1)


def worst_case_distance(shape, spacing=1.0):
    """The largest distance inside an image of ``shape`` (H, W) or (X, Y, Z) pixels of ``spacing`` (a number or
    one per axis): its diagonal, in the units of spacing. The HD95 given to a class found in only one of the two
    label maps (missed, or predicted where there is none), where the distance is otherwise undefined."""
    shape = np.asarray(shape, dtype=np.float64)
    spacing = np.broadcast_to(np.asarray(spacing, dtype=np.float64), shape.shape)
    return float(np.sqrt(np.sum((shape * spacing) ** 2)))


def segmentation_metrics(pred, target, n_classes, spacing=1.0):
    """Per-image MONAI metrics of label maps ``pred`` and ``target`` (N, H, W) or (N, X, Y, Z) int, background
    excluded -> dict of (N, n_classes - 1) arrays.

    'dice' (DiceMetric), 'iou' (MeanIoU) and 'hd95' (HausdorffDistanceMetric, percentile 95, in the units of
    ``spacing``: the pixel size, a number or one per axis). A class present in exactly one of the two maps has
    Dice and IoU 0 and, where MONAI's HD95 is undefined, the worst case: the image diagonal
    (:func:`worst_case_distance`); 'worst_case' (bool) marks those entries, so they can be counted. A class absent
    from both maps is not scored: nan in all three (average with np.nanmean and report how many were scored).
    """
    from monai.metrics import DiceMetric, HausdorffDistanceMetric, MeanIoU

    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape or pred.ndim not in (3, 4):
        raise ValueError(f"pred and target must be label maps (N, H, W) or (N, X, Y, Z) of one shape, got "
                         f"{pred.shape}, {target.shape}")
    spatial = pred.shape[1:]
    steps = np.broadcast_to(np.asarray(spacing, dtype=np.float64), (len(spatial),))
    p, t = _one_hot(pred, n_classes), _one_hot(target, n_classes)
    out = {"dice": DiceMetric(include_background=False, reduction="none", ignore_empty=False)(p, t),
           "iou": MeanIoU(include_background=False, reduction="none", ignore_empty=False)(p, t)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["hd95"] = HausdorffDistanceMetric(include_background=False, percentile=95, reduction="none")(
            p, t, spacing=steps.tolist())
    out = {k: v.double().numpy() for k, v in out.items()}
    axes = tuple(range(2, p.dim()))
    in_pred, in_target = p[:, 1:].sum(dim=axes).numpy() > 0, t[:, 1:].sum(dim=axes).numpy() > 0
    out["worst_case"] = in_pred != in_target
    out["hd95"][out["worst_case"]] = worst_case_distance(spatial, steps)
    for key in ("dice", "iou", "hd95"):
        out[key][~in_pred & ~in_target] = np.nan
    return out


def iou_from_dice(dice):
    """IoU of the same masks from their Dice: IoU = D / (2 - D) (any array shape, values in [0, 1]).

    Introduced in 10_segmentation.ipynb.
    """
    d = np.asarray(dice, dtype=np.float64)
    return d / (2.0 - d)
