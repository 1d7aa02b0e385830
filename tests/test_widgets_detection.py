"""The detection widget: its summary function and its callback, driven without a browser."""

import numpy as np
import pytest
import torch

from labkit import detect, widgets

BOXES = [np.array([[4, 6, 14, 12], [30, 30, 50, 46]], np.float32), np.zeros((0, 4), np.float32),
         np.array([[40, 2, 47, 9]], np.float32)]


def _outputs():
    """Perfect outputs for BOXES plus one spurious weak peak in image 1."""
    targets = torch.stack([detect.render_targets(b, 64) for b in BOXES])
    outputs = torch.cat([torch.logit(targets[:, :1].clamp(1e-4, 1 - 1e-4)), targets[:, 1:5]], dim=1)
    outputs[1, 0, 10, 10], outputs[1, 1:3, 10, 10] = 0.0, 2.0   # score 0.5, a 7x7 box
    return outputs


def test_summary_counts_follow_the_score_threshold():
    outputs = _outputs()
    low = widgets.detection_summary(outputs, BOXES, threshold=0.3, nms_iou=0.5, index=1)
    assert (low["tp"], low["fp"], low["fn"]) == (3, 1, 0) and len(low["boxes"]) == 1 and not low["is_tp"][0]
    assert low["precision"] == pytest.approx(0.75) and low["recall"] == 1.0
    assert low["fp_per_image"] == pytest.approx(1 / 3)
    high = widgets.detection_summary(outputs, BOXES, threshold=0.6, nms_iou=0.5, index=0)
    assert (high["tp"], high["fp"]) == (3, 0) and high["is_tp"].all() and len(high["gt"]) == 2
    none = widgets.detection_summary(outputs, BOXES, threshold=1.0)
    assert none["tp"] == 0 and np.isnan(none["precision"]) and none["recall"] == 0


def test_nms_iou_removes_overlapping_detections():
    outputs = _outputs()
    outputs[0, 0, 4, 6] = 5.0   # a second peak two cells right of the first box's centre, same size:
    outputs[0, 1:3, 4, 6] = outputs[0, 1:3, 4, 4]   # its box overlaps the first with IoU 0.43
    outputs[0, 3:5, 4, 6] = 0.5
    kept_all = widgets.detection_summary(outputs, BOXES, threshold=0.3, nms_iou=1.0)
    suppressed = widgets.detection_summary(outputs, BOXES, threshold=0.3, nms_iou=0.3)
    assert len(kept_all["boxes"]) == len(suppressed["boxes"]) + 1 and suppressed["fp"] < kept_all["fp"]


def test_summary_rejects_mismatched_input():
    with pytest.raises(ValueError, match="len"):
        widgets.detection_summary(_outputs(), BOXES[:2])
    with pytest.raises(ValueError, match="index"):
        widgets.detection_summary(_outputs(), BOXES, index=5)


def test_explorer_callback_updates_and_never_raises(capsys):
    pytest.importorskip("ipywidgets")
    images = np.random.default_rng(0).random((3, 1, 64, 64)).astype(np.float32)
    box = widgets.detection_explorer(images, _outputs(), BOXES)
    assert set(box.controls) == {"index", "threshold", "nms_iou"}
    assert box.update(index=2, threshold=0.5, nms_iou=0.4) is None
    assert box.update(index=1, threshold=0.05, nms_iou=1.0) is None
    assert "precision" in capsys.readouterr().out
    with pytest.raises(ValueError):
        widgets.detection_explorer(images, _outputs()[:2], BOXES)
