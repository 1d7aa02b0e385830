"""labkit.preprocess: each function against its MONAI transform and its defining property."""

import numpy as np
import pytest
import torch

from labkit import preprocess


def _rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("shape,spacing,new", [((37, 50), (0.4785, 0.7), 1.0), ((16, 9, 12), (1.0, 1.0, 4.0), 1.0),
                                               ((20, 20), (2.0, 0.5), (1.0, 1.5))])
def test_resample_matches_monai_spacing(shape, spacing, new):
    from monai.data import MetaTensor
    from monai.transforms import Spacing

    image = _rng().random(shape).astype(np.float32)
    affine = torch.diag(torch.tensor([*spacing, 1.0], dtype=torch.float64)) if len(shape) == 3 else \
        torch.diag(torch.tensor([*spacing, 1.0, 1.0], dtype=torch.float64))
    new_spacing = (new,) * len(shape) if np.isscalar(new) else new
    want = Spacing(pixdim=new_spacing, mode="bilinear")(MetaTensor(torch.from_numpy(image)[None], affine=affine))
    got = preprocess.resample_to_spacing(image, spacing, new)
    assert got.shape == tuple(want.shape[1:]) == preprocess.resampled_shape(shape, spacing, new)
    np.testing.assert_allclose(got, want[0].numpy(), atol=1e-5)


def test_resample_keeps_field_of_view_and_mask_values():
    mask = np.zeros((64, 64), bool)
    mask[20:40, 10:50] = True
    out = preprocess.resample_to_spacing(mask, (0.5, 0.5), 1.0, order=0)
    assert out.dtype == bool and out.shape == (33, 33)
    assert abs(out.sum() * 1.0 - mask.sum() * 0.25) < 0.15 * mask.sum() * 0.25  # area in mm^2 is kept
    same = preprocess.resample_to_spacing(np.arange(12.0).reshape(3, 4), 1.0, 1.0)
    np.testing.assert_allclose(same, np.arange(12.0).reshape(3, 4))


def test_intensity_functions_match_monai():
    from monai.transforms import NormalizeIntensity, ScaleIntensity, ScaleIntensityRange

    image = (_rng().normal(40, 300, (30, 40))).astype(np.float32)
    image[:5] = 0
    np.testing.assert_allclose(preprocess.clip_and_scale(image, -100, 200),
                               ScaleIntensityRange(-100, 200, 0.0, 1.0, clip=True)(image[None])[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(preprocess.minmax_scale(image), ScaleIntensity(0.0, 1.0)(image[None])[0].numpy(),
                               atol=1e-6)
    np.testing.assert_allclose(preprocess.zscore(image, image != 0),
                               NormalizeIntensity(nonzero=True)(image[None])[0].numpy(), atol=1e-5)


def test_zscore_inside_mask_has_zero_mean_unit_std():
    image = _rng(1).gamma(2.0, 100.0, (50, 50)).astype(np.float32)
    mask = np.zeros_like(image, bool)
    mask[10:40, 5:30] = True
    out = preprocess.zscore(image, mask)
    assert abs(out[mask].mean()) < 1e-5 and abs(out[mask].std() - 1) < 1e-5 and np.all(out[~mask] == 0)
    assert np.all(preprocess.minmax_scale(np.full((3, 3), 7.0)) == 0)


@pytest.mark.parametrize("n,t", [(n, t) for n in range(3, 10) for t in range(3, 10)])
def test_crop_or_pad_matches_monai(n, t):
    from monai.transforms import ResizeWithPadOrCrop

    image = np.arange(n * 6, dtype=np.float32).reshape(n, 6) + 1
    want = ResizeWithPadOrCrop((t, 5))(image[None])[0].numpy()
    np.testing.assert_array_equal(preprocess.crop_or_pad(image, (t, 5)), want)


def test_anti_alias_sigma_follows_skimage_and_resample_uses_it():
    from scipy import ndimage

    np.testing.assert_allclose(preprocess.anti_alias_sigma((0.5, 1.0, 2.0), 2.0), [1.5, 0.5, 0.0])
    image = _rng(2).random((40, 36)).astype(np.float32)
    smoothed = ndimage.gaussian_filter(image, (1.5, 0.5), mode="nearest")
    np.testing.assert_allclose(preprocess.resample_to_spacing(image, (1.0, 1.0), (4.0, 2.0), anti_alias=True),
                               preprocess.resample_to_spacing(smoothed, (1.0, 1.0), (4.0, 2.0)), atol=1e-6)
    # up-sampling and masks are left alone
    np.testing.assert_array_equal(preprocess.resample_to_spacing(image, 1.0, 0.5, anti_alias=True),
                                  preprocess.resample_to_spacing(image, 1.0, 0.5))
    mask = image > 0.5
    np.testing.assert_array_equal(preprocess.resample_to_spacing(mask, 1.0, 3.0, order=0, anti_alias=True),
                                  preprocess.resample_to_spacing(mask, 1.0, 3.0, order=0))


def test_anti_aliasing_removes_a_pattern_finer_than_the_new_grid():
    """Stripes with a period of 2.5 pixels, down-sampled 4 times: plain sampling turns them into a false coarse
    pattern of almost the full contrast, smoothing first removes it."""
    stripes = np.tile(np.sin(2 * np.pi * np.arange(200) / 2.5), (40, 1)).astype(np.float32)
    plain = preprocess.resample_to_spacing(stripes, 1.0, 4.0)
    smoothed = preprocess.resample_to_spacing(stripes, 1.0, 4.0, anti_alias=True)
    inner = (slice(2, -2), slice(2, -2))   # away from the edges, where the border values repeat
    assert plain[inner].std() > 0.5 and smoothed[inner].std() < 0.05 * plain[inner].std()


def test_rician_noise_has_the_rayleigh_bias_and_gaussian_core():
    zeros = preprocess.add_noise(np.zeros((300, 300)), 0.1, seed=1, kind="rician")
    assert zeros.min() >= 0 and abs(zeros.mean() - 0.1 * np.sqrt(np.pi / 2)) < 0.002   # Rayleigh mean
    bright = preprocess.add_noise(np.full((300, 300), 2.0), 0.1, seed=1, kind="rician")
    assert abs(bright.std() - 0.1) < 0.003 and abs(bright.mean() - 2.0) < 0.01   # high SNR: nearly Gaussian
    rng = np.random.default_rng(4)
    real, imaginary = rng.normal(0, 0.1, (2, 8, 9))
    np.testing.assert_allclose(preprocess.add_noise(np.ones((8, 9)), 0.1, seed=4, kind="rician"),
                               np.hypot(1 + real, imaginary), rtol=1e-6)
    with pytest.raises(ValueError, match="kind"):
        preprocess.add_noise(np.zeros(3), 0.1, kind="poisson")


def test_add_noise_is_seeded_and_local():
    state = np.random.get_state()[1].copy()
    a = preprocess.add_noise(np.zeros((100, 100)), 0.1, seed=3)
    b = preprocess.add_noise(np.zeros((100, 100)), 0.1, seed=3)
    assert np.array_equal(a, b) and abs(a.std() - 0.1) < 0.005 and a.dtype == np.float32
    assert np.array_equal(state, np.random.get_state()[1]), "global NumPy state must not change"


@pytest.mark.parametrize("call", [
    lambda: preprocess.resample_to_spacing(np.zeros((4, 4)), (1.0,), 1.0),
    lambda: preprocess.resample_to_spacing(np.zeros((4, 4)), (1.0, 0.0), 1.0),
    lambda: preprocess.resample_to_spacing(np.zeros((4, 4)), 1.0, 1.0, order=7),
    lambda: preprocess.clip_and_scale(np.zeros(3), 5, 5),
    lambda: preprocess.zscore(np.zeros((3, 3)), np.zeros((3, 3), bool)),
    lambda: preprocess.zscore(np.zeros((3, 3)), np.ones((2, 2), bool)),
    lambda: preprocess.crop_or_pad(np.zeros((3, 3)), (4,)),
    lambda: preprocess.crop_or_pad(np.zeros((3, 3)), (4, 0)),
    lambda: preprocess.add_noise(np.zeros(3), -1.0),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_non_numeric_input_raises_type_error():
    with pytest.raises(TypeError):
        preprocess.minmax_scale(np.array(["a", "b"]))
