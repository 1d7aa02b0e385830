"""Torch data sets and loaders over NumPy arrays: ``LesionDataset``, ``collate_samples`` and ``make_loader``.

Introduced in 05_classification.ipynb. Whatever the arrays hold (real images from :mod:`labkit.realdata`, generated
lesions from :mod:`labkit.synthetic`, template slices from :mod:`labkit.tissue`), these wrap them for a model.
"""

import numpy as np
from torch.utils.data import Dataset

__all__ = ["LesionDataset", "collate_samples", "make_loader"]


class LesionDataset(Dataset):
    """A torch Dataset over NumPy arrays: images (N, C, H, W) float32, labels (N,).

    Without masks/boxes an item is ``(image tensor, label tensor)``; with them (or ``as_dict=True``) it
    is a dict with keys image, label and, when given, mask (C, H, W) and boxes (k, 4) float32.
    ``transform`` (optional) is called on the image tensor, or on the dict in dict mode.
    """

    def __init__(self, images, labels, masks=None, boxes=None, transform=None, as_dict=False):
        images, labels = np.asarray(images), np.asarray(labels)
        if images.ndim != 4 or len(images) != len(labels):
            raise ValueError(f"need images (N, C, H, W) and labels (N,), got {images.shape} and {labels.shape}")
        for name, extra in (("masks", masks), ("boxes", boxes)):
            if extra is not None and len(extra) != len(images):
                raise ValueError(f"{name} must have {len(images)} entries, got {len(extra)}")
        self.images, self.labels, self.masks, self.boxes = images, labels, masks, boxes
        self.transform = transform
        self.as_dict = as_dict or masks is not None or boxes is not None

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        import torch

        image = torch.as_tensor(self.images[i], dtype=torch.float32)
        label = torch.as_tensor(self.labels[i])
        if not self.as_dict:
            return (self.transform(image) if self.transform else image), label
        item = {"image": image, "label": label}
        if self.masks is not None:
            item["mask"] = torch.as_tensor(np.asarray(self.masks[i]))
        if self.boxes is not None:
            item["boxes"] = torch.as_tensor(np.asarray(self.boxes[i], np.float32).reshape(-1, 4))
        return self.transform(item) if self.transform else item


def collate_samples(batch):
    """Collate dict items: stack image/label/mask, keep boxes as a list (their counts differ)."""
    import torch

    out = {key: torch.stack([item[key] for item in batch]) for key in batch[0] if key != "boxes"}
    if "boxes" in batch[0]:
        out["boxes"] = [item["boxes"] for item in batch]
    return out


class _BatchedLesionDataset(LesionDataset):
    """LesionDataset that hands the DataLoader a whole batch at once (``__getitems__``), for (image, label) items.

    One NumPy fancy index per batch instead of one tensor per image: the same values in the same order as
    stacking ``dataset[i]`` item by item (``transform`` is still called once per image, in batch order), at a
    fraction of the Python overhead, which dominates for small images. Used by :func:`make_loader` only, with
    :func:`_stacked` as the collate function; a LesionDataset built by hand keeps the item-by-item path.
    """

    def __getitems__(self, indices):
        import torch

        images = torch.as_tensor(self.images[np.asarray(indices)], dtype=torch.float32)
        if self.transform:
            images = torch.stack([self.transform(image) for image in images])
        return [images, torch.as_tensor(self.labels[np.asarray(indices)])]


def _stacked(batch):
    """Collate function for :class:`_BatchedLesionDataset`: its batch is already [images, labels]."""
    return batch


def make_loader(images, labels, batch_size=64, shuffle=True, seed=0, masks=None, boxes=None, transform=None):
    """A DataLoader over arrays with a seeded generator (same seed, same batch order); see LesionDataset.

    Batches are ``[images (B, C, H, W) float32, labels (B,)]``, or dicts (see :func:`collate_samples`) when masks
    or boxes are given.
    """
    import torch

    if masks is None and boxes is None:
        dataset = _BatchedLesionDataset(images, labels, transform=transform)
        collate = _stacked
    else:
        dataset = LesionDataset(images, labels, masks=masks, boxes=boxes, transform=transform)
        collate = collate_samples
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed),
        collate_fn=collate, num_workers=0)
