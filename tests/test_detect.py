"""labkit.detect: targets, decoding, matching, precision-recall, AP and FROC on hand-checked cases."""

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from labkit import detect

BOXES = np.array([[4, 6, 14, 12], [30, 30, 50, 46], [40, 2, 47, 9]], np.float32)


def _perfect_outputs(targets):
    heat = torch.logit(targets[:, :1].clamp(1e-4, 1 - 1e-4))
    return torch.cat([heat, targets[:, 1:5]], dim=1)


def test_render_targets_encodes_each_box_at_its_centre():
    t = detect.render_targets(BOXES, 64, stride=2)
    assert t.shape == (6, 32, 32) and t.dtype == torch.float32
    assert t[5].sum() == len(BOXES)
    i, j = torch.nonzero(t[5], as_tuple=True)
    assert torch.all(t[0, i, j] == 1) and t[0].max() == 1 and t[0].min() >= 0
    assert torch.all((t[3:5, i, j] >= 0) & (t[3:5, i, j] < 1))
    widths = sorted(np.exp(t[1, i, j].numpy()).round(3))
    assert widths == sorted((BOXES[:, 2] - BOXES[:, 0]).round(3))


def test_render_targets_rejects_bad_input():
    with pytest.raises(ValueError, match="multiple of stride"):
        detect.render_targets(BOXES, 63, stride=2)
    with pytest.raises(ValueError, match=r"\(K, 4\)"):
        detect.render_targets(np.zeros((2, 3)), 64)
    with pytest.raises(ValueError, match="x2 >= x1"):
        detect.render_targets([[10, 0, 5, 4]], 64)
    assert detect.render_targets(np.zeros((0, 4)), 32).abs().sum() == 0


@pytest.mark.parametrize("stride", [2, 4])
def test_decoding_perfect_outputs_recovers_the_boxes(stride):
    targets = detect.render_targets(BOXES, 64, stride=stride)[None]
    (boxes, scores), = detect.decode_heatmap(_perfect_outputs(targets), stride=stride, threshold=0.5)
    assert len(boxes) == len(BOXES) and torch.all(scores > 0.99)
    iou = box_iou(boxes, torch.from_numpy(BOXES))
    assert torch.all(iou.max(dim=1).values > 0.999)


def test_detector_shapes_loss_and_detect():
    torch.manual_seed(0)
    model = detect.HeatmapDetector(width=4)
    out = model(torch.rand(2, 1, 32, 32))
    assert out.shape == (2, 5, 16, 16)
    targets = torch.stack([detect.render_targets(BOXES / 2, 32), detect.render_targets(np.zeros((0, 4)), 32)])
    loss = detect.centernet_loss(out, targets)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert detect.centernet_loss(_perfect_outputs(targets), targets) < loss
    found = detect.detect(model, torch.rand(3, 1, 32, 32), threshold=0.0, nms_iou=1.0, max_detections=7)
    assert len(found) == 3 and all(len(b) == len(s) <= 7 and b.shape[1] == 4 for b, s in found)
    with pytest.raises(ValueError, match="expected"):
        model(torch.rand(1, 2, 32, 32))
    with pytest.raises(ValueError, match="targets"):
        detect.centernet_loss(out, targets[:, :5])
    with pytest.raises(ValueError, match="outputs must be"):
        detect.decode_heatmap(torch.zeros(1, 3, 8, 8))


def test_match_detections_is_greedy_by_score_and_counts_duplicates_as_false_positives():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [20, 20, 30, 29]], np.float32)
    scores = np.array([0.6, 0.9, 0.8, 0.3])
    is_tp, matched = detect.match_detections(boxes, scores, gt, iou_threshold=0.5)
    assert is_tp.tolist() == [False, True, False, True]  # the 0.9 box takes gt 0 first; 0.6 is a duplicate
    assert matched.tolist() == [-1, 0, -1, 1]
    # at IoU 0.95 the shifted 0.9 box no longer matches, so the exact 0.6 box gets gt 0
    assert detect.match_detections(boxes, scores, gt, iou_threshold=0.95)[0].tolist() == [True, False, False, False]
    assert detect.match_detections(np.zeros((0, 4)), [], gt)[0].shape == (0,)
    with pytest.raises(ValueError, match="scores"):
        detect.match_detections(boxes, scores[:2], gt)


def test_precision_recall_average_precision_and_froc_on_a_hand_example():
    gt = [np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [20, 20, 30, 30]])]
    hit, miss = [0, 0, 10, 10], [40, 40, 50, 50]
    dets = [(np.array([hit, miss]), np.array([0.9, 0.7])), (np.array([hit]), np.array([0.8]))]
    precision, recall, scores = detect.precision_recall(dets, gt)
    assert scores.tolist() == [0.9, 0.8, 0.7]
    np.testing.assert_allclose(precision, [1, 1, 2 / 3])
    np.testing.assert_allclose(recall, [1 / 3, 2 / 3, 2 / 3])
    assert detect.average_precision(precision, recall) == pytest.approx(2 / 3)
    fp, sens, _ = detect.froc(dets, gt)
    np.testing.assert_allclose(fp, [0, 0, 0.5])
    np.testing.assert_allclose(detect.sensitivity_at(fp, sens, fps=(0.25, 1.0)), [2 / 3, 2 / 3])
    fp_scan, sens_scan, _ = detect.froc(dets, gt, scans=["a", "a"])  # both images from one scan
    np.testing.assert_allclose(fp_scan, [0, 0, 1.0])
    np.testing.assert_allclose(sens_scan, sens)
    with pytest.raises(ValueError, match="one id per image"):
        detect.froc(dets, gt, scans=[0])


def test_average_precision_edge_cases():
    assert detect.average_precision([1.0, 1.0], [0.5, 1.0]) == 1.0
    assert detect.average_precision([], []) == 0.0
    # a later, higher precision lifts the envelope (interpolation)
    assert detect.average_precision([1.0, 0.5, 2 / 3], [1 / 3, 1 / 3, 2 / 3]) == pytest.approx(1 / 3 + 1 / 3 * 2 / 3)
    with pytest.raises(ValueError, match="equal length"):
        detect.average_precision([1.0], [0.5, 1.0])
    with pytest.raises(ValueError, match="ground truth"):
        detect.precision_recall([(np.zeros((0, 4)), [])], [])


def test_pooled_precision_recall_of_matched_images_equals_precision_recall_on_any_subset():
    rng = np.random.default_rng(0)
    corners = [rng.uniform(0, 40, (k, 2)) for k in (0, 1, 2, 3)]
    gt = [np.hstack([xy, xy + 8]) for xy in corners]
    detections = [(torch.as_tensor(np.tile(rng.normal(0, 2, (len(g), 2)), 2) + g, dtype=torch.float32),
                   torch.as_tensor(rng.uniform(0, 1, len(g)))) for g in gt]
    matches = detect.match_images(detections, gt, iou_threshold=0.3)
    for subset in ([0, 1, 2, 3], [3, 1], [2, 2, 0]):
        pooled = detect.pooled_precision_recall([matches[i] for i in subset])
        direct = detect.precision_recall([detections[i] for i in subset], [gt[i] for i in subset], iou_threshold=0.3)
        for a, b in zip(pooled, direct):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="ground truth for 3"):
        detect.match_images(detections, gt[:3])
