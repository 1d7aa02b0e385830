"""Checkers for the capstone project: lesson 23_capstone."""

import warnings

import numpy as np
import torch

from labkit.checks.framework import CheckFailed, call, checker, expect_close, expect_true, to_array

__all__ = ["shared_nuclei", "instance_f1", "fgsm_segmentation"]


def _labels_and_regions():
    """(labels, region_a, region_b, expected ids) cases: blobs cut by a border, a gap, background only, none."""
    labels = np.zeros((12, 16), np.int64)
    labels[1:4, 1:4], labels[5:9, 6:10], labels[9:11, 12:15], labels[2:4, 12:14] = 1, 2, 3, 4
    left, right = np.zeros((12, 16), bool), np.zeros((12, 16), bool)
    left[:, :8], right[:, 8:] = True, True
    gap_left, gap_right = left.copy(), right.copy()
    gap_left[:, 5:], gap_right[:, :11] = False, False
    empty = np.zeros_like(labels)
    return [(labels, left, right, [2]), (labels, gap_left, gap_right, []), (labels, left, left, [1, 2]),
            (empty, left, right, []), (labels, right, np.ones_like(right), [2, 3, 4])]


@checker(hint="A nucleus leaks when some of its pixels lie in one region and some in the other: collect the labels "
              "found in each region (leaving out the background, 0) and keep the ones found in both.",
         formula="ids_a = np.unique(labels[region_a & (labels > 0)]); ids_b = np.unique(labels[region_b & "
                 "(labels > 0)]); return np.intersect1d(ids_a, ids_b)")
def shared_nuclei(answer):
    """Ids of objects with pixels in two regions, compared with a set intersection in NumPy."""
    for labels, a, b, want in _labels_and_regions():
        got = to_array(call(answer, labels.copy(), a.copy(), b.copy()), "shared_nuclei's result").ravel()
        expect_true(np.array_equal(np.sort(got), np.asarray(want, float)),
                    f"for nuclei {sorted(int(i) for i in set(np.unique(labels)) - {0})} and two regions you returned "
                    f"{np.sort(got).astype(int).tolist()}, expected {want}")


def _instance_pairs(seed=0):
    """(true, pred) label maps: a shifted copy, a merge of two touching nuclei, a split, misses, empty maps."""
    rng = np.random.default_rng(seed)
    true = np.zeros((40, 40), np.int64)
    for k, (y, x) in enumerate([(5, 5), (5, 20), (20, 8), (30, 30), (20, 24)], start=1):
        true[y:y + 7, x:x + 6] = k
    true[20:27, 14:18] = 6                                        # touches nucleus 3 and 5 ... a cluster
    shifted = np.roll(true, 1, axis=1)
    merged = true.copy()
    merged[merged == 6] = 3                                       # two touching nuclei called one
    split = true.copy()
    split[30:37, 34:36] = 7                                       # one nucleus cut in two (2/3 and 1/3)
    noisy = np.where(rng.random(true.shape) < 0.1, 0, true)
    extra = true.copy()
    extra[0:3, 35:38] = 9                                         # a false alarm, ids not consecutive
    none = np.zeros_like(true)
    return [(true, shifted), (true, merged), (true, split), (true, noisy), (true, extra), (true, none),
            (none, true), (true, true[::-1, ::-1].copy())]


@checker(hint="A prediction finds a nucleus when their IoU (overlap / union of the two pixel sets) is at least 0.5; "
              "at that threshold each nucleus matches at most one prediction. Count true positives (matched "
              "pairs), false positives (unmatched predictions) and false negatives (unmatched nuclei).",
         formula="for each true id t and predicted id p: iou = np.sum((true == t) & (pred == p)) / np.sum((true == t) "
                 "| (pred == p)); tp = number of pairs with iou >= 0.5; fp = n_pred - tp; fn = n_true - tp; "
                 "F1 = 2 tp / (2 tp + fp + fn) (0 when there is nothing at all)")
def instance_f1(answer):
    """Instance F1 at IoU >= 0.5, compared with stardist.matching.matching."""
    for true, pred in _instance_pairs():
        got = call(answer, true.copy(), pred.copy())   # a stub stops here, before the reference is imported
        from stardist.matching import matching

        want = matching(true, pred, thresh=0.5).f1 if (true.max() or pred.max()) else 0.0
        expect_close(got, want, f"instance_f1 for {len(np.unique(true)) - 1} nuclei and "
                     f"{len(np.unique(pred)) - 1} predictions", atol=1e-6)


def _tiny_segmenter(seed=3):
    gen = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv2d(4, 3, 3, padding=1))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    x = torch.rand(2, 1, 10, 12, generator=gen)
    y = torch.randint(0, 3, (2, 10, 12), generator=gen)
    return net.eval(), x, y


@checker(hint="FGSM moves every pixel by eps in the direction that increases the loss: the sign of the loss's "
              "gradient with respect to the image. For segmentation, the loss sums the cross-entropy of every "
              "pixel. Keep the result a valid image.",
         formula="x = x.detach().clone().requires_grad_(True); loss = F.cross_entropy(model(x), y, reduction='sum'); "
                 "loss.backward(); return (x + eps * x.grad.sign()).clamp(0, 1).detach()")
def fgsm_segmentation(answer):
    """FGSM for a segmentation model, compared with captum.robust.FGSM (loss: summed pixel cross-entropy)."""
    import torch.nn.functional as F
    from captum.robust import FGSM

    net, x, y = _tiny_segmenter()
    for eps in (0.05, 0.2):
        attack = FGSM(net, loss_func=lambda out, t: F.cross_entropy(out, t, reduction="none").sum(dim=(1, 2)),
                      lower_bound=0.0, upper_bound=1.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # captum notes that it turned on requires_grad
            want = attack.perturb(x.clone(), epsilon=eps, target=y).detach()
        got = call(answer, net, x.clone(), y.clone(), eps)
        if not isinstance(got, torch.Tensor) or got.shape != x.shape:
            raise CheckFailed(f"expected a tensor of shape {tuple(x.shape)}, got {type(got).__name__} "
                              f"{tuple(getattr(got, 'shape', ()))}")
        got = got.detach().float()
        expect_true(bool(torch.isfinite(got).all()), "your adversarial image contains NaN or inf")
        wrong = (got - want).abs() > 1e-5
        expect_true(float(wrong.float().mean()) < 0.01,
                    f"at eps={eps}, {float(wrong.float().mean()):.0%} of the pixels differ from the reference "
                    f"(largest difference {float((got - want).abs().max()):.3g})")
