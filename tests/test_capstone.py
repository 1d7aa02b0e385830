"""labkit.capstone: spatial split with a gap, nucleus targets and their decoding, instance matching (against
stardist), tile counts for the bootstrap, the explanation wrapper and FGSM for segmentation."""

import numpy as np
import pytest
import torch

from labkit import capstone


def _blobs(shape=(48, 64), seed=0, n=12, touching=True):
    """Instance labels with n rectangular nuclei (two of them touching), ids 1..n."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.int64)
    k = 0
    while k < n:
        y, x = rng.integers(1, shape[0] - 8), rng.integers(1, shape[1] - 8)
        h, w = rng.integers(4, 8, size=2)
        if labels[y - 1:y + h + 1, x - 1:x + w + 1].any():
            continue
        k += 1
        labels[y:y + h, x:x + w] = k
    if touching:
        labels[40:45, 2:7], labels[40:45, 7:12] = n + 1, n + 2
    return labels


def test_block_split_assigns_blocks_and_cuts_a_gap():
    regions = capstone.block_split((256, 256), block=64, gap=20, counts=(9, 3, 4), seed=0)
    assert regions.shape == (256, 256) and regions.dtype == np.int8
    assert set(np.unique(regions)) == {-1, 0, 1, 2}
    assert np.mean(regions == 2) == 4 / 16, "test blocks stay whole"
    from scipy import ndimage

    for a, b in ((0, 2), (0, 1), (1, 2)):
        grown = ndimage.binary_dilation(regions == a, structure=np.ones((3, 3), bool), iterations=20)
        assert not (grown & (regions == b)).any(), f"split {a} comes within 20 px of split {b}"
    again = capstone.block_split((256, 256), block=64, gap=20, counts=(9, 3, 4), seed=0)
    other = capstone.block_split((256, 256), block=64, gap=20, counts=(9, 3, 4), seed=1)
    assert np.array_equal(regions, again) and not np.array_equal(regions, other)
    no_gap = capstone.block_split((256, 256), block=64, gap=0, counts=(9, 3, 4), seed=0)
    assert not (no_gap == -1).any() and [np.sum(no_gap == k) for k in range(3)] == [9 * 4096, 3 * 4096, 4 * 4096]


def test_block_split_bad_input():
    with pytest.raises(ValueError, match="multiple of block"):
        capstone.block_split((250, 256), block=64)
    with pytest.raises(ValueError, match="adding up to 16"):
        capstone.block_split((256, 256), block=64, counts=(8, 3, 4))
    with pytest.raises(ValueError, match="gap"):
        capstone.block_split((256, 256), block=64, gap=-1)


def test_shared_nuclei_finds_objects_in_both_regions():
    labels = _blobs()
    left = np.zeros(labels.shape, bool)
    left[:, :32] = True
    crossing = [i for i in range(1, labels.max() + 1) if (labels[:, :32] == i).any() and (labels[:, 32:] == i).any()]
    assert np.array_equal(capstone.shared_nuclei(labels, left, ~left), crossing)
    assert len(capstone.shared_nuclei(labels, left, left)) == len(np.unique(labels[:, :32])) - 1
    assert capstone.shared_nuclei(np.zeros_like(labels), left, ~left).size == 0
    with pytest.raises(ValueError, match="shape of labels"):
        capstone.shared_nuclei(labels, left[:10], ~left)
    with pytest.raises(ValueError, match="integer labels"):
        capstone.shared_nuclei(labels.astype(float), left, ~left)


def test_crop_origins_lie_inside_the_region():
    region = np.zeros((40, 50), bool)
    region[5:30, 10:45] = True
    region[20, 20] = False
    origins = capstone.crop_origins(region, 8)
    assert len(origins) > 0
    for y, x in origins:
        assert region[y:y + 8, x:x + 8].all()
    brute = [(y, x) for y in range(33) for x in range(43) if region[y:y + 8, x:x + 8].all()]
    assert [tuple(o) for o in origins] == brute
    with pytest.raises(ValueError, match="size"):
        capstone.crop_origins(region, 0)


def test_cut_crops_shapes_and_bad_input():
    image, target = np.random.default_rng(0).random((30, 30)), np.arange(900).reshape(30, 30) % 3
    xs, ys = capstone.cut_crops(image, target, np.array([[0, 0], [5, 7]]), 8)
    assert xs.shape == (2, 1, 8, 8) and xs.dtype == np.float32 and ys.shape == (2, 8, 8) and ys.dtype == np.int64
    assert np.array_equal(ys[1], target[5:13, 7:15])
    with pytest.raises(ValueError, match="one shape"):
        capstone.cut_crops(image, target[:10], np.array([[0, 0]]), 8)


def test_targets_decode_back_to_the_nuclei_and_separate_touching_ones():
    from scipy import ndimage

    labels = _blobs()
    targets = capstone.nucleus_targets(labels, border=1)
    assert set(np.unique(targets)) == {0, 1, 2} and np.array_equal(targets > 0, labels > 0)
    assert ndimage.label(labels > 0)[1] < labels.max(), "the touching pair merges as plain foreground"
    decoded = capstone.decode_instances(np.eye(3)[targets].transpose(2, 0, 1), grow=2)
    assert decoded.max() == labels.max() and capstone.match_instances(labels, decoded)["f1"] == 1.0


def test_decode_instances_threshold_min_size_and_bad_input():
    probs = np.zeros((3, 20, 20), np.float32)
    probs[0] = 1.0
    probs[:, 2:8, 2:8] = np.array([0.0, 0.9, 0.1])[:, None, None]
    probs[:, 12:14, 12:14] = np.array([0.0, 0.6, 0.4])[:, None, None]   # 4 px, weaker
    assert capstone.decode_instances(probs, threshold=0.5, min_size=3).max() == 2
    assert capstone.decode_instances(probs, threshold=0.7, min_size=3).max() == 1
    assert capstone.decode_instances(probs, threshold=0.5, min_size=5).max() == 1
    assert capstone.decode_instances(torch.from_numpy(probs)).max() == 2
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        capstone.decode_instances(probs[:2])


def test_restrict_to_region_keeps_objects_by_centroid():
    labels = _blobs()
    region = np.zeros(labels.shape, bool)
    region[:, :32] = True
    kept = capstone.restrict_to_region(labels, region)
    for i in range(1, labels.max() + 1):
        cy, cx = np.argwhere(labels == i).mean(0)
        assert (i in kept) == bool(region[int(round(cy)), int(round(cx))])
    with pytest.raises(ValueError, match="shape of labels"):
        capstone.restrict_to_region(labels, region[:5])


@pytest.mark.parametrize("seed", range(6))
def test_match_instances_equals_stardist(seed):
    from stardist.matching import matching

    rng = np.random.default_rng(seed)
    true = _blobs(seed=seed)
    pred = np.roll(true, tuple(rng.integers(-3, 4, 2)), axis=(0, 1))
    pred[rng.random(pred.shape) < 0.15] = 0
    pred[pred == 2] = 3                                                  # a merge
    pred[0:3, 0:3] = 99                                                  # a false alarm, ids not consecutive
    for threshold in (0.3, 0.5, 0.7):
        ours, theirs = capstone.match_instances(true, pred, threshold), matching(true, pred, thresh=threshold)
        assert (ours["tp"], ours["fp"], ours["fn"]) == (theirs.tp, theirs.fp, theirs.fn)
        assert ours["f1"] == pytest.approx(theirs.f1)
        assert len(ours["pairs"]) == ours["tp"] and np.all(ours["iou"] >= threshold)


def test_match_instances_edge_cases_and_bad_input():
    labels = _blobs()
    empty = np.zeros_like(labels)
    assert capstone.match_instances(labels, labels)["f1"] == 1.0
    none = capstone.match_instances(labels, empty)
    assert (none["tp"], none["fp"], none["fn"], none["f1"]) == (0, 0, labels.max(), 0.0)
    assert capstone.match_instances(empty, empty)["f1"] == 0.0
    with pytest.raises(ValueError, match="one shape"):
        capstone.match_instances(labels, labels[:10])


def test_tile_counts_add_up_to_the_region_match():
    labels = _blobs(seed=3)
    pred = np.roll(labels, 2, axis=1)
    pred[pred == 4] = 0
    region = np.zeros(labels.shape, bool)
    region[:, 16:] = True
    tiles = capstone.tile_index(region, tile=16)
    assert tiles.min() == -1 and tiles.max() == 3 * 3 - 1 and (tiles[region] >= 0).all()
    counts = capstone.tile_counts(labels, pred, region, tile=16)
    whole = capstone.match_instances(capstone.restrict_to_region(labels, region),
                                     capstone.restrict_to_region(pred, region))
    assert counts.shape == (9, 3) and tuple(counts.sum(0)) == (whole["tp"], whole["fp"], whole["fn"])
    assert capstone.f1_from_counts(None, counts) == pytest.approx(whole["f1"])
    pixels = capstone.pixel_counts(pred > 0, labels > 0, region, tile=16)
    from labkit import metrics

    assert capstone.dice_from_counts(None, pixels) == pytest.approx(metrics.dice_score((pred > 0)[region],
                                                                                     (labels > 0)[region]))
    assert capstone.dice_from_counts(None, np.zeros((2, 3))) == 1.0 and capstone.f1_from_counts(None, []) == 0.0
    with pytest.raises(ValueError, match="non-empty"):
        capstone.tile_index(np.zeros((8, 8), bool))


def test_tile_counts_work_with_the_grouped_bootstrap():
    from labkit import validation

    labels = _blobs(seed=4)
    region = np.ones(labels.shape, bool)
    counts = capstone.tile_counts(labels, np.roll(labels, 1, axis=0), region, tile=16)
    interval = validation.bootstrap_ci(capstone.f1_from_counts, np.arange(len(counts)), counts, n_boot=200)
    assert interval.low <= interval.value <= interval.high and interval.n_used == 200


def test_region_score_wraps_a_segmenter_for_captum():
    from labkit import explain

    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 3, 3, padding=1)
    mask = np.zeros((12, 12), bool)
    mask[4:8, 4:8] = True
    wrapped = capstone.RegionScore(net, mask)
    x = torch.rand(2, 1, 12, 12)
    out = wrapped(x)
    logits = net(x)
    log_odds = torch.logsumexp(logits[:, 1:], 1) - logits[:, 0]
    assert out.shape == (2, 1) and torch.allclose(out[:, 0], log_odds[:, 4:8, 4:8].mean(dim=(1, 2)), atol=1e-6)
    attr = explain.attribute(wrapped, x, "saliency")
    assert attr.shape == (2, 12, 12)
    assert attr[:, :2, :].abs().sum() == 0, "a 3x3 conv cannot see 2 rows away from the region"
    with pytest.raises(ValueError, match="non-empty"):
        capstone.RegionScore(net, np.zeros((12, 12)))


def test_fgsm_segmentation_matches_captum_and_respects_eps():
    import torch.nn.functional as F
    from captum.robust import FGSM

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv2d(4, 3, 3, padding=1))
    x, y = torch.rand(2, 1, 10, 10), torch.randint(0, 3, (2, 10, 10))
    adv = capstone.fgsm_segmentation(net, x, y, 0.1)
    reference = FGSM(net, loss_func=lambda out, t: F.cross_entropy(out, t, reduction="none").sum(dim=(1, 2)),
                     lower_bound=0.0, upper_bound=1.0).perturb(x.clone().requires_grad_(True), epsilon=0.1, target=y)
    assert ((adv - reference).abs() > 1e-5).float().mean() < 0.01
    assert (adv - x).abs().max() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    weight = torch.zeros(2, 10, 10)
    assert torch.equal(capstone.fgsm_segmentation(net, x, y, 0.1, weight=weight), x), "zero weight, zero step"
    with torch.no_grad():
        before = F.cross_entropy(net(x), y, reduction="sum")
        after = F.cross_entropy(net(adv), y, reduction="sum")
    assert after > before
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        capstone.fgsm_segmentation(net, x, y[:, 0], 0.1)
