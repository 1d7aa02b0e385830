"""labkit.synthetic: lesion data has exact, consistent ground truth and every knob does what it says."""

import dataclasses

import numpy as np
import pytest

from labkit import synthetic, validation
from labkit.synthetic import SiteEffect


@pytest.fixture(scope="module")
def lesions():
    return synthetic.make_lesion_dataset(n=400, size=64, seed=0)


def test_shapes_dtypes_ranges(lesions):
    n = 400
    assert lesions.images.shape == (n, 1, 64, 64) and lesions.images.dtype == np.float32
    assert 0.0 <= lesions.images.min() and lesions.images.max() <= 1.0
    assert lesions.masks.shape == (n, 1, 64, 64) and lesions.masks.dtype == np.uint8
    for name in ("labels", "true_labels", "group", "site"):
        assert getattr(lesions, name).shape == (n,) and getattr(lesions, name).dtype == np.int64
    assert lesions.marker.dtype == bool and len(lesions.boxes) == n == len(lesions)
    assert set(lesions.anatomy) == set(synthetic.ANATOMIES)
    assert set(lesions.source) == {name for names in synthetic.SOURCES.values() for name in names}
    for g in np.unique(lesions.group):
        assert len(set(lesions.source[lesions.group == g])) == 1, "a crop group comes from one source image"


def test_masks_and_boxes_agree_with_labels(lesions):
    positive = lesions.true_labels == 1
    assert np.all(lesions.masks[~positive] == 0) and np.all(lesions.masks[positive].sum(axis=(1, 2, 3)) > 0)
    for mask, boxes, label in zip(lesions.masks[:, 0], lesions.boxes, lesions.true_labels):
        assert boxes.dtype == np.float32 and boxes.shape[1] == 4
        assert (len(boxes) > 0) == bool(label) and len(boxes) <= 3
        covered = np.zeros_like(mask, bool)
        for x1, y1, x2, y2 in boxes.astype(int):
            assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 64
            assert mask[y1:y2, x1:x2].any() and mask[y1, x1:x2].any() and mask[y2 - 1, x1:x2].any()
            covered[y1:y2, x1:x2] = True
        assert not np.any(mask.astype(bool) & ~covered), "boxes enclose the mask"


@pytest.mark.parametrize("prevalence", [0.1, 0.5, 0.9])
def test_prevalence(prevalence):
    lesions = synthetic.make_lesion_dataset(n=800, prevalence=prevalence, seed=1)
    assert abs(lesions.true_labels.mean() - prevalence) < 0.03


def test_crop_groups_share_anatomy_and_label(lesions):
    for p in np.unique(lesions.group):
        members = lesions.group == p
        assert len(set(lesions.anatomy[members])) == 1 and len(set(lesions.true_labels[members])) == 1
    assert not np.all(np.diff(lesions.group) >= 0), "samples are shuffled, not grouped by crop group"


def test_determinism():
    a = synthetic.make_lesion_dataset(n=64, seed=3)
    b = synthetic.make_lesion_dataset(n=64, seed=3)
    c = synthetic.make_lesion_dataset(n=64, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert all(np.array_equal(x, y) for x, y in zip(a.boxes, b.boxes))
    assert not np.array_equal(a.images, c.images)


def test_label_noise_keeps_true_labels():
    clean = synthetic.make_lesion_dataset(n=800, seed=2)
    noisy = synthetic.make_lesion_dataset(n=800, label_noise=0.2, seed=2)
    np.testing.assert_array_equal(clean.true_labels, noisy.true_labels)
    assert 0.15 < np.mean(noisy.labels != noisy.true_labels) < 0.25
    assert np.all(clean.labels == clean.true_labels)


def test_spurious_marker_tracks_positives():
    none = synthetic.make_lesion_dataset(n=400, seed=5)
    assert not none.marker.any()
    marked = synthetic.make_lesion_dataset(n=800, spurious=0.9, seed=5)
    positive = marked.true_labels == 1
    assert marked.marker[positive].mean() > 0.8 and marked.marker[~positive].mean() < 0.2
    corner = marked.images[:, 0, 2:6, 2:6]
    assert np.all(corner[marked.marker] == 1.0)


def test_contrast_and_polarity():
    bright = synthetic.make_lesion_dataset(n=200, prevalence=1.0, contrast=0.5, polarity="bright", seed=6)
    plain = synthetic.make_lesion_dataset(n=200, prevalence=1.0, contrast=0.0, polarity="bright", seed=6)
    inside = bright.masks.astype(bool)
    assert (bright.images - plain.images)[inside].mean() > 0.05
    np.testing.assert_array_equal(bright.masks, plain.masks)


def test_site_effects_assign_sites():
    effects = [SiteEffect(), SiteEffect(noise=0.1, bias=0.3, gamma=1.5, blur=1.0, resolution=0.5)]
    lesions = synthetic.make_lesion_dataset(n=400, site_effects=effects, seed=7)
    assert set(lesions.site) == {0, 1}
    for p in np.unique(lesions.group):
        assert len(set(lesions.site[lesions.group == p])) == 1
    assert 0 <= lesions.images.min() and lesions.images.max() <= 1


def test_apply_site_effect():
    images = synthetic.make_lesion_dataset(n=32, seed=8).images
    np.testing.assert_allclose(synthetic.apply_site_effect(images, SiteEffect()), images)
    for effect in (SiteEffect(noise=0.05), SiteEffect(bias=0.5), SiteEffect(gamma=2.0), SiteEffect(blur=1.5),
                   SiteEffect(resolution=0.5)):
        out = synthetic.apply_site_effect(images, effect, seed=1)
        assert out.shape == images.shape and out.dtype == np.float32
        assert 0 <= out.min() and out.max() <= 1 and not np.allclose(out, images)
    with pytest.raises(ValueError, match="resolution"):
        synthetic.apply_site_effect(images, SiteEffect(resolution=2.0))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        synthetic.apply_site_effect(images[:, 0], SiteEffect())
    with pytest.raises(TypeError, match="SiteEffect"):
        synthetic.apply_site_effect(images, {"noise": 0.1})


@pytest.mark.parametrize("kwargs, words", [
    ({"prevalence": 1.5}, "prevalence must be in [0, 1]"),
    ({"size": 8}, "size must be an int >= 16"),
    ({"anatomy": ("mni", "kidney")}, "anatomy must be"),
    ({"anatomy": "mni"}, "anatomy must be"),
    ({"radius": (8, 3)}, "radius must be"),
    ({"radius": (3, 30)}, "size / 2"),
    ({"irregularity": 1.0}, "irregularity"),
    ({"label_noise": -0.1}, "label_noise"),
    ({"max_lesions": 0}, "max_lesions"),
    ({"polarity": "up"}, "polarity"),
    ({"n": 0}, "n must be"),
])
def test_invalid_arguments(kwargs, words):
    with pytest.raises(ValueError) as err:
        synthetic.make_lesion_dataset(**kwargs)
    assert words in str(err.value) and "got" in str(err.value)


def test_bad_site_effects():
    with pytest.raises(TypeError, match="SiteEffect"):
        synthetic.make_lesion_dataset(n=16, site_effects=[{"noise": 0.1}])


def test_subset(lesions):
    part = lesions.subset(np.array([3, 1]))
    assert len(part) == 2 and part.images.shape == (2, 1, 64, 64)
    np.testing.assert_array_equal(part.images[1], lesions.images[1])
    assert part.boxes[0] is lesions.boxes[3]


def test_same_seed_splits_stay_balanced():
    """Generators salt their seeds, so a split drawn with the same seed is not aligned with the labels."""
    lesions = synthetic.make_lesion_dataset(n=800, seed=0)
    for idx in validation.split_by_group(lesions.group, seed=0).values():
        assert 0.3 < lesions.true_labels[idx].mean() < 0.7
    first = np.random.default_rng(0).permutation(len(lesions))[:480]
    assert 0.4 < lesions.true_labels[first].mean() < 0.6


def test_no_crop_touches_the_head_ct_haematoma(monkeypatch):
    """The head CT's real subdural haematoma must never appear in a patch (labelled or not): mark its box with NaN
    and check that no crop, jitter included, carries a NaN."""
    from labkit import realdata

    original = realdata.load_dicom

    def marked(key):
        image = original(key)
        if key != "head_ct":
            return image
        pixels = image.pixels.astype(np.float32).copy()
        x0, y0, x1, y1 = synthetic.HAEMATOMA_BOX
        pixels[y0:y1, x0:x1] = np.nan
        return dataclasses.replace(image, pixels=pixels)

    monkeypatch.setattr(realdata, "load_dicom", marked)
    synthetic._anatomy_source.cache_clear()
    try:
        crops = synthetic.make_lesion_dataset(n=3000, anatomy=("ct",), sources=("ct_head",), prevalence=0.0, seed=3)
        assert not np.isnan(crops.images).any()
        assert len(np.unique(crops.group)) == 375
    finally:
        synthetic._anatomy_source.cache_clear()


def test_sources_hold_a_source_image_out():
    held = synthetic.make_lesion_dataset(n=160, anatomy=("ct", "xray"), sources=("ct_spine", "xray"), seed=0)
    assert set(held.source) == {"ct_spine", "xray"}
    with pytest.raises(ValueError, match="sources"):
        synthetic.make_lesion_dataset(n=16, anatomy=("ct",), sources=("retina",))
    with pytest.raises(ValueError, match="no source image left"):
        synthetic.make_lesion_dataset(n=16, anatomy=("ct", "xray"), sources=("ct_head",))
