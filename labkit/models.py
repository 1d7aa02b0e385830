"""Small networks for the course: a CNN for image classification, an MLP, and a parameter counter.

``SmallCNN`` and ``count_parameters`` introduced in 04_cnns.ipynb; ``MLP`` in 03_neural_networks.ipynb.
"""

from torch import nn

from labkit.layers import ACTIVATIONS

__all__ = ["SmallCNN", "MLP", "count_parameters"]


def _conv_block(c_in, c_out, batch_norm, pool):
    layers = [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=not batch_norm)]
    layers += [nn.BatchNorm2d(c_out)] if batch_norm else []
    layers += [nn.ReLU(inplace=True)]
    layers += [nn.MaxPool2d(2)] if pool else []
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """``depth`` conv-BN-ReLU-maxpool blocks (widths ``width``, 2x, 4x, ...), one more conv-BN-ReLU block at the
    last width (the feature map), global average pooling, dropout and a linear head.

    Input (N, in_channels, H, W) float32 with H, W >= 2**depth; output logits (N, n_classes)
    (n_classes=1 for a binary task with ``BCEWithLogitsLoss``). About 61k parameters at the defaults.
    ``features(x)`` gives the last feature map (N, width * 2**(depth-1), H / 2**depth, W / 2**depth) and
    ``feature_layer`` the module producing it (for Grad-CAM).
    """

    def __init__(self, in_channels=1, n_classes=1, width=16, depth=3, dropout=0.0, batch_norm=True):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("n_classes", n_classes), ("width", width),
                            ("depth", depth)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_channels, self.n_classes, self.depth = in_channels, n_classes, depth
        widths = [width * 2 ** i for i in range(depth)]
        blocks = [_conv_block(c_in, c_out, batch_norm, pool=True)
                  for c_in, c_out in zip([in_channels] + widths[:-1], widths)]
        blocks.append(_conv_block(widths[-1], widths[-1], batch_norm, pool=False))
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(widths[-1], n_classes))

    @property
    def feature_layer(self):
        """The last conv block (its output is :meth:`features`); a target layer for Grad-CAM."""
        return self.blocks[-1]

    def features(self, x):
        """Last conv feature map: (N, C_last, H / 2**depth, W / 2**depth), after ReLU."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"SmallCNN expects input (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if min(x.shape[-2:]) < 2 ** self.depth:
            raise ValueError(f"image size {tuple(x.shape[-2:])} is too small for depth {self.depth} "
                             f"(needs H, W >= {2 ** self.depth})")
        return self.blocks(x)

    def forward(self, x):
        """Logits (N, n_classes) for images x (N, in_channels, H, W)."""
        return self.head(self.features(x))


class MLP(nn.Module):
    """Fully connected network: Linear-activation(-dropout) for each size in ``hidden``, then Linear to ``n_out``.

    Input (N, in_features) float32, or (N, ...) which is flattened; output (N, n_out).
    ``activation``: a name of ``labkit.layers.ACTIVATIONS`` ('relu', 'leaky_relu' (slope ``layers.LEAKY_SLOPE``),
    'gelu', 'tanh', 'sigmoid', 'elu', 'silu', 'identity') or an nn.Module class.
    """

    def __init__(self, in_features, hidden=(64, 64), n_out=1, activation="relu", dropout=0.0):
        super().__init__()
        if not isinstance(in_features, int) or in_features < 1:
            raise ValueError(f"in_features must be a positive int, got {in_features!r}")
        if isinstance(hidden, int):
            hidden = (hidden,)
        if isinstance(activation, str):
            if activation not in ACTIVATIONS:
                raise ValueError(f"unknown activation {activation!r}; use one of {sorted(ACTIVATIONS)}")
            activation = ACTIVATIONS[activation]
        self.in_features = in_features
        layers, size = [], in_features
        for h in hidden:
            layers += [nn.Linear(size, h), activation()] + ([nn.Dropout(dropout)] if dropout else [])
            size = h
        layers.append(nn.Linear(size, n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        """Outputs (N, n_out) for x (N, in_features) or (N, ...) with in_features values per sample."""
        x = x.flatten(1) if x.dim() > 2 else x
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"MLP expects (N, {self.in_features}) inputs, got {tuple(x.shape)}")
        return self.net(x)


def count_parameters(model, trainable_only=True):
    """Number of (trainable) parameters of ``model`` (int)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
