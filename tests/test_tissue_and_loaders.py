"""labkit.loaders: tissue slices, slice-block splits, second contrast, multi-modal lesions, loaders."""

import numpy as np
import pytest
import torch

from labkit import loaders, tissue


@pytest.fixture(scope="module")
def slices():
    return tissue.make_tissue_slices(size=64)


def test_tissue_slices(slices):
    n = len(slices.index)
    assert 100 < n < 189 and np.all(np.diff(slices.index) > 0)
    assert slices.images.shape == (n, 1, 64, 64) and slices.images.dtype == np.float32
    assert slices.labels.shape == (n, 64, 64) and slices.labels.dtype == np.int64
    assert slices.probs.shape == (n, 3, 64, 64) and 0 <= slices.probs.min() and slices.probs.max() <= 1
    assert set(np.unique(slices.labels)) == {0, 1, 2, 3}
    t1 = slices.images[:, 0]
    means = [t1[slices.labels == c].mean() for c in (1, 2, 3)]
    assert means[0] < means[1] < means[2], "CSF < grey < white matter in T1"


@pytest.mark.parametrize("axis", ["coronal", "sagittal"])
def test_other_axes(axis):
    slices = tissue.make_tissue_slices(size=32, axis=axis, step=2)
    assert slices.images.shape[1:] == (1, 32, 32) and np.all(np.diff(slices.index) == 2)


def test_tissue_slices_bad_arguments():
    with pytest.raises(ValueError, match="axis"):
        tissue.make_tissue_slices(axis="oblique")
    with pytest.raises(ValueError, match="size"):
        tissue.make_tissue_slices(size=8)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("gap", [0, 3, 6])
def test_split_slices_gap(slices, seed, gap):
    splits = tissue.split_slices(slices.index, gap=gap, seed=seed)
    assert set(splits) == {"train", "val", "test"}
    positions = {name: slices.index[idx] for name, idx in splits.items()}
    names = list(positions)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            distance = np.abs(positions[a][:, None] - positions[b][None, :]).min()
            assert distance > gap, (a, b, distance)
    assert len(splits["train"]) > len(splits["val"]) > 0


def test_split_slices_bad_fractions(slices):
    with pytest.raises(ValueError, match="fractions"):
        tissue.split_slices(slices.index, fractions=(0.5, 0.5))


@pytest.fixture(scope="module")
def template():
    return tissue.make_template_volume(spacing=6.0)


def test_template_volume_matches_the_template_slices(template, slices):
    assert template.image.shape == (1,) + template.labels.shape and template.probs.shape == (3,) + template.labels.shape
    assert template.spacing == (6.0, 6.0, 6.0) and template.name == "MNI152 template"
    assert template.labels.shape == tuple(int(np.ceil(n / 6)) for n in (197, 233, 189))
    t1 = template.image[0]
    means = [t1[template.labels == c].mean() for c in (1, 2, 3)]
    assert means[0] < means[1] < means[2], "CSF < grey < white matter in T1"
    shares = np.bincount(template.labels.ravel(), minlength=4)[1:] / (template.labels > 0).sum()
    reference = np.bincount(slices.labels.ravel(), minlength=4)[1:] / (slices.labels > 0).sum()
    np.testing.assert_allclose(shares, reference, atol=0.08)  # the same tissue mix at another resolution


def test_virtual_subject_is_a_new_shape_with_new_intensities(template):
    a = tissue.make_virtual_subject(seed=1, spacing=6.0)
    again = tissue.make_virtual_subject(seed=1, spacing=6.0)
    b = tissue.make_virtual_subject(seed=2, spacing=6.0)
    np.testing.assert_array_equal(a.image, again.image)
    assert a.name == "virtual subject 1" and a.labels.shape == template.labels.shape
    for subject in (a, b):
        agree = (subject.labels == template.labels)[(subject.labels > 0) | (template.labels > 0)].mean()
        assert 0.5 < agree < 0.97, agree  # a deformed brain: mostly, not exactly, where the template's is
        t1 = subject.image[0]
        means = [t1[subject.labels == c].mean() for c in (1, 2, 3)]
        assert means[0] < means[1] < means[2], "still a T1 contrast"
    assert not np.allclose(a.image, b.image, atol=0.05)
    still = tissue.make_virtual_subject(seed=1, spacing=6.0, displacement_mm=0, scale=0, contrast=0, gamma=(1, 1),
                                        bias=0, noise=0)
    np.testing.assert_array_equal(still.labels, template.labels)
    np.testing.assert_allclose(still.image, template.image, atol=1e-6)


def test_volume_slices_and_bad_arguments(template):
    cut = tissue.volume_slices(template, size=32, axis="coronal")
    assert cut.images.shape[1:] == (1, 32, 32) and cut.labels.shape == (len(cut.index), 32, 32)
    assert set(np.unique(cut.labels)) == {0, 1, 2, 3} and np.all(np.diff(cut.index) > 0)
    with pytest.raises(TypeError, match="TissueVolume"):
        tissue.volume_slices(template.image)
    with pytest.raises(ValueError, match="spacing"):
        tissue.make_template_volume(spacing=1.0)
    with pytest.raises(ValueError, match="gamma"):
        tissue.make_virtual_subject(gamma=(1.5, 1.0))


def test_second_contrast(slices):
    pure = np.eye(3, dtype=np.float32)[:, :, None, None] * np.ones((1, 1, 8, 8), np.float32)  # CSF, GM, WM
    t2 = tissue.make_second_contrast(pure, noise=0.0)[:, 4, 4]
    assert t2[0] > t2[1] > t2[2], "T2: CSF bright, grey > white"
    flair = tissue.make_second_contrast(pure, kind="flair", noise=0.0)[:, 4, 4]
    assert flair[0] < flair[2] < flair[1], "FLAIR: CSF suppressed"
    image = tissue.make_second_contrast(slices.probs, seed=1)
    assert image.shape == (len(slices.index), 64, 64) and image.dtype == np.float32
    np.testing.assert_array_equal(image, tissue.make_second_contrast(slices.probs, seed=1))
    with pytest.raises(ValueError, match="3, H, W"):
        tissue.make_second_contrast(np.zeros((4, 8, 8)))


def test_multimodal_lesions():
    mm = tissue.make_multimodal_lesion_dataset(n=300, size=64, seed=0)
    assert mm.t1.shape == mm.t2.shape == mm.masks.shape == (300, 1, 64, 64)
    assert mm.tabular.shape == (300, len(mm.feature_names)) and mm.tabular.dtype == np.float32
    assert abs(mm.labels.mean() - 0.5) < 0.01
    assert np.all((mm.lesion_type == "none") == (mm.labels == 0))
    assert np.all(mm.masks[mm.labels == 0] == 0) and np.all(mm.masks[mm.labels == 1].sum((1, 2, 3)) > 0)
    plain = tissue.make_multimodal_lesion_dataset(n=300, size=64, contrast=0.0, seed=0)
    inside = mm.masks[:, 0].astype(bool)
    for kind, image, plain_image in (("t1", mm.t1, plain.t1), ("t2", mm.t2, plain.t2)):
        change = np.abs(image - plain_image)[:, 0]
        own = change[inside & (mm.lesion_type == kind)[:, None, None]].mean()
        other = change[inside & (mm.lesion_type != kind)[:, None, None]].mean()
        assert own > 2 * other, (kind, own, other)
    age = mm.tabular[:, 0]
    assert age[mm.labels == 1].mean() > age[mm.labels == 0].mean()


def test_lesion_dataset_and_loader():
    images = np.random.default_rng(0).random((10, 1, 16, 16), dtype=np.float32)
    labels = np.arange(10) % 2
    image, label = loaders.LesionDataset(images, labels)[3]
    assert image.shape == (1, 16, 16) and image.dtype == torch.float32 and int(label) == 1
    order = [y.tolist() for _, y in loaders.make_loader(images, np.arange(10), batch_size=4, seed=1)]
    again = [y.tolist() for _, y in loaders.make_loader(images, np.arange(10), batch_size=4, seed=1)]
    assert order == again and sorted(sum(order, [])) == list(range(10))
    boxes = [np.zeros((i % 3, 4), np.float32) for i in range(10)]
    batch = next(iter(loaders.make_loader(images, labels, batch_size=5, shuffle=False, masks=images > 0.5,
                                           boxes=boxes)))
    assert batch["image"].shape == (5, 1, 16, 16) and batch["mask"].shape == (5, 1, 16, 16)
    assert [len(b) for b in batch["boxes"]] == [0, 1, 2, 0, 1]
    with pytest.raises(ValueError, match="labels"):
        loaders.LesionDataset(images, labels[:3])


def test_make_loader_batches_equal_stacking_item_by_item():
    """make_loader fetches a batch with one index; the batches must be those of the item-by-item DataLoader."""
    rng = np.random.default_rng(0)
    images, labels = rng.random((50, 1, 8, 8)), rng.integers(0, 2, 50)   # float64 images: cast to float32

    class Noise:   # a transform with its own random stream: it must be called per image, in the same order
        def __init__(self):
            self.generator = torch.Generator().manual_seed(5)

        def __call__(self, image):
            return image + torch.rand(image.shape, generator=self.generator)

    for transform in (None, Noise):
        fast = loaders.make_loader(images, labels, batch_size=16, seed=3, transform=transform and transform())
        plain = torch.utils.data.DataLoader(loaders.LesionDataset(images, labels, transform=transform and transform()),
                                            batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(3))
        pairs = list(zip(fast, plain))
        assert len(pairs) == 4
        for (x, y), (x_ref, y_ref) in pairs:
            assert x.dtype == x_ref.dtype == torch.float32 and y.dtype == y_ref.dtype
            assert torch.equal(x, x_ref) and torch.equal(y, y_ref)
    single = images.astype(np.float32)   # float32: no cast, so only the batch copy protects the array
    batch = next(iter(loaders.make_loader(single, labels, batch_size=4, shuffle=False, transform=lambda im: im.zero_())))
    assert float(batch[0].abs().sum()) == 0 and np.all(single[:4] != 0), "a transform must not edit the arrays"


def test_multimodal_labels_independent_of_a_user_permutation():
    mm = tissue.make_multimodal_lesion_dataset(n=400, seed=0)
    first = np.random.default_rng(0).permutation(400)[:240]
    assert 0.4 < mm.labels[first].mean() < 0.6
