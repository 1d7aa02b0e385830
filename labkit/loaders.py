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


def make_loader(images, labels, batch_size=64, shuffle=True, seed=0, masks=None, boxes=None, transform=None):
    """A DataLoader over arrays with a seeded generator (same seed, same batch order); see LesionDataset."""
    import torch

    dataset = LesionDataset(images, labels, masks=masks, boxes=boxes, transform=transform)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed),
        collate_fn=collate_samples if dataset.as_dict else None, num_workers=0)
