"""labkit.segment: U-Nets give per-pixel logits, MONAI metrics agree with labkit.metrics, iou_from_dice."""

import numpy as np
import pytest
import torch

from labkit import metrics, segment


def test_double_conv_and_small_unet_shapes():
    block = segment.double_conv(1, 8)
    assert block(torch.rand(2, 1, 12, 12)).shape == (2, 8, 12, 12)
    net = segment.SmallUNet(in_channels=1, n_classes=4, width=8)
    assert net(torch.rand(2, 1, 32, 32)).shape == (2, 4, 32, 32)
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.rand(1, 1, 30, 30))
    with pytest.raises(ValueError, match="positive int"):
        segment.double_conv(0, 4)


def test_make_unet_and_predict_labels():
    torch.manual_seed(0)
    net = segment.make_unet(n_classes=3, channels=(4, 8, 16), num_res_units=1)
    images = np.random.default_rng(0).random((5, 1, 16, 16)).astype(np.float32)
    labels = segment.predict_labels(net, images)
    assert labels.shape == (5, 16, 16) and labels.dtype == np.int64 and labels.max() < 3
    with pytest.raises(ValueError, match="levels"):
        segment.make_unet(channels=(8,))


def test_segmentation_metrics_match_labkit_and_known_values():
    truth = np.zeros((2, 16, 16), np.int64)
    truth[:, 4:12, 4:12] = 1
    truth[:, 6:10, 6:10] = 2
    pred = truth.copy()
    pred[1, 4:12, 4] = 0  # one column of class 1 missed in image 1
    out = segment.segmentation_metrics(pred, truth, n_classes=3, spacing=2.0)
    assert set(out) == {"dice", "iou", "hd95", "worst_case"} and out["dice"].shape == (2, 2)
    np.testing.assert_allclose(out["dice"], metrics.dice_score(pred, truth, n_classes=3, per_image=True)[:, 1:])
    np.testing.assert_allclose(out["iou"], metrics.iou_score(pred, truth, n_classes=3, per_image=True)[:, 1:])
    assert out["hd95"][0, 0] == 0 and out["hd95"][1, 0] == pytest.approx(2.0)  # one pixel, 2 units per pixel
    assert not out["worst_case"].any()
    with pytest.raises(ValueError, match="label maps"):
        segment.segmentation_metrics(pred[0], truth[0], n_classes=3)


def test_a_missed_or_spurious_class_gets_the_worst_case_distance():
    truth = np.zeros((3, 16, 16), np.int64)
    truth[:, 4:12, 4:12] = 1
    truth[:2, 6:10, 6:10] = 2          # class 2 on images 0 and 1 only
    pred = truth.copy()
    pred[0][pred[0] == 2] = 1          # image 0: class 2 missed
    pred[2, 0:2, 0:2] = 2              # image 2: class 2 predicted where there is none
    out = segment.segmentation_metrics(pred, truth, n_classes=4, spacing=2.0)
    diagonal = segment.worst_case_distance((16, 16), 2.0)
    assert diagonal == pytest.approx(np.hypot(32, 32))
    np.testing.assert_array_equal(out["worst_case"][:, 1], [True, False, True])
    np.testing.assert_allclose(out["hd95"][[0, 2], 1], diagonal)
    np.testing.assert_allclose(out["dice"][[0, 2], 1], 0.0)
    assert np.all(np.isnan(out["hd95"][:, 2])) and np.all(np.isnan(out["dice"][:, 2]))  # class 3: in neither map
    empty = segment.segmentation_metrics(np.zeros_like(truth), truth, n_classes=3)
    assert np.all(empty["dice"][:, 0] == 0) and np.all(empty["worst_case"][:, 0])


def test_segmentation_metrics_on_volumes_with_anisotropic_spacing():
    truth = np.zeros((1, 8, 10, 12), np.int64)
    truth[0, 2:5, 2:6, 2:8] = 1
    shifted = np.roll(truth, 1, axis=3)  # one voxel along the last axis
    out = segment.segmentation_metrics(shifted, truth, n_classes=2, spacing=(1.0, 2.0, 3.0))
    assert out["hd95"][0, 0] == pytest.approx(3.0)
    assert segment.worst_case_distance((8, 10, 12), (1.0, 2.0, 3.0)) == pytest.approx(np.sqrt(64 + 400 + 1296))


def test_make_unet_in_three_dimensions():
    net = segment.make_unet(n_classes=3, channels=(4, 8), num_res_units=1, spatial_dims=3)
    assert net(torch.rand(2, 1, 8, 8, 8)).shape == (2, 3, 8, 8, 8)
    with pytest.raises(ValueError, match="spatial_dims"):
        segment.make_unet(spatial_dims=4)


def test_iou_from_dice():
    rng = np.random.default_rng(0)
    a, b = rng.random((64, 64)) > 0.5, rng.random((64, 64)) > 0.3
    d, j = metrics.dice_score(a, b), metrics.iou_score(a, b)
    assert segment.iou_from_dice(d) == pytest.approx(j)
    np.testing.assert_allclose(segment.iou_from_dice([0.0, 1.0]), [0.0, 1.0])
