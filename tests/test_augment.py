"""labkit.augment: MONAI pipelines and the batched version move image and mask together, deterministically."""

import numpy as np
import pytest
import torch

from labkit import augment


def _lesion_pair(size=32, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.integers(8, size - 8, 2)
    mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= 16).astype(np.uint8)
    image = (0.2 + 0.1 * rng.random((size, size)) + 0.6 * mask).astype(np.float32)
    return image, mask


def _inside(image, mask):
    """Fraction of bright (lesion) pixels that the mask covers."""
    bright = image > 0.6
    return (bright & (mask > 0)).sum() / max(bright.sum(), 1)


@pytest.mark.parametrize("options", [dict(flip=True), dict(rotate=30.0), dict(zoom=1.3), dict(elastic=2.0)])
def test_fixed_geometric_transforms_keep_the_lesion_in_the_mask(options):
    image, mask = _lesion_pair()
    new_image, new_mask = augment.augment_pair(image, mask, augment.fixed_augmentation(**options, seed=1))
    assert new_image.shape == image.shape and new_mask.dtype == mask.dtype
    assert set(np.unique(new_mask)) <= {0, 1}
    assert _inside(new_image, new_mask) > 0.9


def test_intensity_transforms_leave_the_mask_alone():
    image, mask = _lesion_pair()
    new_image, new_mask = augment.augment_pair(image, mask, augment.fixed_augmentation(gamma=1.8, noise=0.05, bias=0.4))
    np.testing.assert_array_equal(new_mask, mask)
    assert np.abs(new_image - image).mean() > 0.01


def test_pipelines_are_seeded_and_validate_input():
    image, mask = _lesion_pair()
    for build in (augment.light_augmentation, augment.strong_augmentation):
        a = augment.augment_pair(image, mask, build(seed=3))
        b = augment.augment_pair(image, mask, build(seed=3))
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="same|both"):
        augment.augment_pair(image, mask[:10], augment.light_augmentation())
    with pytest.raises(ValueError, match="image_key"):
        augment.light_augmentation(keys=("img",))
    with pytest.raises(ValueError, match="zoom"):
        augment.fixed_augmentation(zoom=0)


def test_batch_augment_moves_masks_with_images_and_is_reproducible():
    pairs = [_lesion_pair(seed=s) for s in range(8)]
    x = torch.from_numpy(np.stack([p[0] for p in pairs])[:, None])
    m = torch.from_numpy(np.stack([p[1] for p in pairs])[:, None])
    opts = dict(rotate=180.0, scale=(0.8, 1.2), gamma=(1.0, 1.0), noise=0.0)
    xa, ma = augment.batch_augment(x, m, torch.Generator().manual_seed(0), **opts)
    xb, mb = augment.batch_augment(x, m, torch.Generator().manual_seed(0), **opts)
    assert torch.equal(xa, xb) and torch.equal(ma, mb) and ma.dtype == m.dtype
    assert xa.shape == x.shape and 0 <= xa.min() and xa.max() <= 1
    assert not torch.equal(xa, x)
    for i in range(len(x)):
        assert _inside(xa[i, 0].numpy(), ma[i, 0].numpy()) > 0.85
    with pytest.raises(ValueError, match="N, C, H, W"):
        augment.batch_augment(x[0])


def test_batch_augment_intensity_options():
    x = torch.full((4, 1, 16, 16), 0.5)
    same = augment.batch_augment(x, flip=False, rotate=0.0, scale=(1.0, 1.0), gamma=(1.0, 1.0), noise=0.0)
    assert torch.allclose(same, x, atol=1e-5)
    dark = augment.batch_augment(x, flip=False, rotate=0.0, scale=(1.0, 1.0), gamma=(2.0, 2.0), noise=0.0)
    assert torch.allclose(dark, torch.full_like(x, 0.25), atol=1e-4)
    biased = augment.batch_augment(x, flip=False, rotate=0.0, scale=(1.0, 1.0), gamma=(1.0, 1.0), noise=0.0, bias=0.5)
    assert biased.std() > 0.01


def test_augmented_loader_tuples_and_dicts():
    x, y = torch.rand(10, 1, 16, 16), torch.arange(10)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    batches = list(augment.AugmentedLoader(loader, seed=0))
    assert len(batches) == 3 == len(augment.AugmentedLoader(loader))
    assert torch.equal(torch.cat([b[1] for b in batches]), y)
    assert not torch.equal(torch.cat([b[0] for b in batches]), x)
    again = list(augment.AugmentedLoader(loader, seed=0))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again))
    image, mask = _lesion_pair()
    dict_loader = [{"image": torch.from_numpy(image)[None, None], "mask": torch.from_numpy(mask)[None, None].long(),
                    "label": y[:1]}]
    out = next(iter(augment.AugmentedLoader(dict_loader, seed=0, noise=0.0, gamma=(1.0, 1.0), rotate=90.0)))
    assert out["mask"].dtype == torch.long and torch.equal(out["label"], y[:1])
    assert _inside(out["image"][0, 0].numpy(), out["mask"][0, 0].numpy()) > 0.85
