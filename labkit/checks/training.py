"""Checkers for Part I, training and evaluating a classifier: lessons 05_classification, 06_loss_functions,
07_overfitting and 08_hyperparameters."""

import numpy as np
import torch

from labkit.checks.framework import call, checker, expect_close, expect_true, to_array

__all__ = ["confusion_counts", "sensitivity_specificity", "roc_auc_by_ranking", "early_stopping_epoch",
           "dihedral_augment", "log_uniform_sample", "lr_range_suggestion", "weighted_bce", "soft_dice_loss"]


def _binary_cases(seed=5):
    """(y_true, second array) pairs of binary labels, with imbalance and an all-negative prediction."""
    rng = np.random.default_rng(seed)
    cases = [(rng.integers(0, 2, n), rng.integers(0, 2, n)) for n in (40, 57)]
    cases.append((np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0]), np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0])))
    cases.append((np.array([0, 1, 1, 0, 0, 0]), np.zeros(6, np.int64)))
    return cases


@checker(hint="Each case falls in exactly one cell: (true label, predicted label) is (1, 1), (0, 1), (1, 0) or (0, "
              "0).",
         formula="TP: true 1 and predicted 1; FP: true 0, predicted 1; FN: true 1, predicted 0; TN: both 0. Count "
              "each with np.sum of a boolean array and return (tp, fp, fn, tn) in that order.")
def confusion_counts(answer):
    """Binary confusion counts (tp, fp, fn, tn), compared with sklearn.metrics.confusion_matrix."""
    for y_true, y_pred in _binary_cases():
        got = call(answer, y_true, y_pred)
        from sklearn.metrics import confusion_matrix  # imported only once there is an answer to check

        tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
        expect_close(got, [tp, fp, fn, tn], "(tp, fp, fn, tn)")


@checker(hint="Sensitivity is a share of the truly positive cases, specificity a share of the truly negative ones.",
         formula="Sensitivity = TP / (TP + FN), the share of true positives found; specificity = TN / (TN + FP), "
              "the share of true negatives cleared. Divide by the number of true positives/negatives.")
def sensitivity_specificity(answer):
    """(sensitivity, specificity) of binary labels, compared with sklearn's recall of class 1 and of class 0."""
    for y_true, y_pred in _binary_cases():
        got = call(answer, y_true, y_pred)
        from sklearn.metrics import recall_score

        want = [recall_score(y_true, y_pred, pos_label=1), recall_score(y_true, y_pred, pos_label=0)]
        expect_close(got, want, "(sensitivity, specificity)")


@checker(hint="The AUC is the chance that a random positive scores above a random negative: compare all (positive, "
              "negative) pairs and count ties as one half.",
         formula="Compare every positive score with every negative one (pos[:, None] vs neg[None, :]): count the "
              "pairs where the positive is higher, add half of the ties, divide by n_pos * n_neg.")
def roc_auc_by_ranking(answer):
    """ROC-AUC as a ranking probability, compared with sklearn.metrics.roc_auc_score (ties included)."""
    for i, (y_true, _) in enumerate(_binary_cases()[:3]):
        scores = np.random.default_rng(i).random(len(y_true))
        scores = np.round(scores * 4) / 4 if i == 1 else scores  # many ties
        got = call(answer, y_true, scores)
        from sklearn.metrics import roc_auc_score

        expect_close(got, roc_auc_score(y_true, scores), f"roc_auc_by_ranking on {len(y_true)} scores", atol=1e-9)

@checker(hint="Early stopping remembers the best epoch so far and gives up after `patience` epochs without a strict"
              " improvement.",
         formula="Walk through the epochs keeping the best loss so far; a strictly lower loss resets the wait, "
              "anything else (a tie, a NaN) adds 1; stop once the wait reaches patience. Return the best index.")
def early_stopping_epoch(answer):
    """Epoch (0-based) whose weights early stopping restores, compared with labkit.tuning (tested against fit)."""
    from labkit import tuning

    cases = [([0.9, 0.8, 0.7, 0.6], 2), ([0.9, 0.7, 0.8, 0.85, 0.5], 2), ([0.9, 0.7, 0.8, 0.85, 0.5], 3),
             ([0.7, 0.6, 0.6, 0.6, 0.55], 3), ([0.8, np.nan, 0.75, 0.9, 0.95, 0.5], 2), ([0.5, 0.6, 0.7], 1),
             (list(0.7 - 0.02 * np.arange(12) + 0.003 * np.arange(12) ** 2), 3)]
    for losses, patience in cases:
        want = tuning.early_stopping_epoch(losses, patience)
        expect_close(call(answer, list(losses), patience), want,
                     f"early_stopping_epoch({np.round(losses, 3).tolist()}, patience={patience})")


def _dihedral_versions(image):
    """The 8 rotations/flips of one image (C, H, W)."""
    turns = [torch.rot90(image, k, dims=(-2, -1)) for k in range(4)]
    return turns + [t.flip(-1) for t in turns]


@checker(hint="Each image gets its own random draw (a number of quarter turns and a coin for a flip), taken from a "
              "local generator seeded by `seed`.",
         formula="Make gen = torch.Generator().manual_seed(seed); for EACH image draw k in 0..3 and a coin with it, "
              "torch.rot90(image, k, dims=(1, 2)), then .flip(2) if the coin says so; torch.stack the results.")
def dihedral_augment(answer):
    """Random rotation by k * 90 degrees and flip per image: a property check (8 versions, seeded, varied)."""
    images = torch.rand(64, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    state = torch.get_rng_state()
    out = call(answer, images, 0)
    expect_true(torch.equal(state, torch.get_rng_state()), "the global torch RNG changed: use a local Generator")
    expect_true(isinstance(out, torch.Tensor) and out.shape == images.shape,
                f"expected a tensor of shape {tuple(images.shape)}, got {getattr(out, 'shape', type(out).__name__)}")
    used = set()
    for i, (image, got) in enumerate(zip(images, out)):
        match = [j for j, version in enumerate(_dihedral_versions(image)) if torch.equal(version, got)]
        expect_true(match, f"output {i} is not a rotation (k * 90 degrees) or flip of input {i}")
        used.add(match[0])
    expect_true(len(used) >= 6, f"only {len(used)} of the 8 rotations/flips appear over 64 images: draw per image")
    expect_true(torch.equal(out, call(answer, images, 0)), "the same seed gave a different result")
    expect_true(not torch.equal(out, call(answer, images, 1)), "seeds 0 and 1 gave the same result")


@checker(hint="Log-uniform means uniform in the logarithm: every decade gets the same share of samples.",
         formula="Draw uniformly between np.log(low) and np.log(high) with np.random.default_rng(seed).uniform(..., "
              "size=n), then np.exp: each decade then gets the same share of samples.")
def log_uniform_sample(answer):
    """Log-uniform sampling: a property check (range, equal share per log-quarter, seeded, shape)."""
    for low, high in ((1e-5, 1e-1), (0.5, 2.0), (3e-4, 0.3)):
        x = to_array(call(answer, low, high, 4000, 0), "log_uniform_sample(...)")
        expect_true(x.shape == (4000,), f"expected shape (4000,) for n=4000, got {x.shape}")
        expect_true(np.all((x >= low * (1 - 1e-9)) & (x <= high * (1 + 1e-9))), f"values outside [{low}, {high}]")
        share = np.histogram(np.log(x), bins=4, range=(np.log(low), np.log(high)))[0] / len(x)
        expect_true(np.allclose(share, 0.25, atol=0.04), f"shares per quarter of the log range [{low}, {high}] "
                    f"are {np.round(share, 3).tolist()}, expected about 0.25 each")
        expect_close(call(answer, low, high, 4000, 0), x, "a second call with the same seed")
        expect_true(not np.allclose(to_array(call(answer, low, high, 4000, 1)), x), "seeds 0 and 1 gave the same")


@checker(hint="Find the learning rate where the (finite) loss was lowest and step back by a factor of ten from it.",
         formula="Ignore non-finite losses (np.isfinite), find the lowest remaining loss (np.nanargmin or argmin on "
              "the finite ones), take the lr at that index and divide it by 10.")
def lr_range_suggestion(answer):
    """LR range test suggestion (lr of the lowest finite loss / 10), compared with labkit.tuning."""
    from labkit import tuning

    lrs = np.logspace(-6, 1, 36)
    noise = np.random.default_rng(0).normal(0, 0.01, (3, 36))
    bowls = [0.7 - 0.4 * np.exp(-((np.log10(lrs) - centre) ** 2)) + eps for centre, eps in zip((-2.3, -4, -1), noise)]
    for losses in (bowls[0], np.where(lrs > 1e-1, np.nan, bowls[1]), np.where(lrs > 1, np.inf, bowls[2]),
                   np.r_[np.nan, bowls[0][1:]]):
        want = tuning.lr_range_suggestion(lrs, losses)
        expect_close(call(answer, lrs.copy(), losses.copy()), want, "lr_range_suggestion(lrs, losses)", rtol=1e-6)


def _logits_and_targets(seed=7):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(shape, generator=g, dtype=torch.float64) * 4,
             (torch.rand(shape, generator=g, dtype=torch.float64) < 0.3).double()) for shape in ((12,), (4, 1), (3, 2, 5, 5))]


@checker(hint="Binary cross-entropy is -[y log p + (1 - y) log(1 - p)]; the weight multiplies the positive term "
              "only. Work with the logits for numerical safety.",
         formula="loss = -(pos_weight * y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)), then .mean(). "
              "logsigmoid(-z) is log(1 - sigmoid(z)) without the overflow that gives inf for large logits.")
def weighted_bce(answer):
    """Weighted BCE on logits (mean), compared with F.binary_cross_entropy_with_logits(pos_weight=...)."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    for logits, target in _logits_and_targets():
        for pos_weight in (1.0, 4.0, 0.5):
            want = bce(logits, target, pos_weight=torch.tensor(pos_weight, dtype=torch.float64))
            expect_close(call(answer, logits, target, pos_weight), want,
                         f"weighted_bce(logits {tuple(logits.shape)}, pos_weight={pos_weight})")
    extreme, target = torch.tensor([60.0, -60.0, 60.0, -60.0]), torch.tensor([0.0, 1.0, 1.0, 0.0])
    expect_close(call(answer, extreme, target, 3.0), bce(extreme, target, pos_weight=torch.tensor(3.0)),
                 "weighted_bce with logits of +-60 (float32)", rtol=1e-4)


@checker(hint="Soft Dice replaces the counts of a mask by sums of probabilities, one Dice per sample and channel "
              "over the pixels, then averages.",
         formula="Sum over the spatial dims only (dims = tuple(range(2, probs.dim()))), one Dice per sample and channel: "
              "1 - (2 * (probs * target).sum(dims) + smooth) / (probs.sum(dims) + target.sum(dims) + smooth), "
              "then .mean().")
def soft_dice_loss(answer):
    """Soft Dice loss on probabilities, compared with monai.losses.DiceLoss(smooth_nr=smooth, smooth_dr=smooth)."""
    from monai.losses import DiceLoss

    g = torch.Generator().manual_seed(8)
    for shape in ((1, 1, 8, 8), (2, 1, 8, 8), (3, 2, 6, 5)):
        probs = torch.rand(shape, generator=g, dtype=torch.float64)
        target = (torch.rand(shape, generator=g, dtype=torch.float64) < 0.2).double()
        for smooth in (1e-5, 1.0):
            want = DiceLoss(smooth_nr=smooth, smooth_dr=smooth)(probs, target)
            expect_close(call(answer, probs, target, smooth), want, f"soft_dice_loss(shape {shape}, smooth={smooth})")
    empty = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    expect_close(call(answer, empty, empty, 1e-5), 0.0, "soft_dice_loss of an empty prediction for an empty mask")
