"""Checkers for Part I, training and evaluating a classifier: lessons 05_classification, 06_loss_functions,
07_overfitting and 08_hyperparameters."""

import copy

import numpy as np
import torch

from labkit.checks.framework import call, checker, expect_close, expect_true, to_array

__all__ = ["train_epoch", "roc_auc_by_ranking", "reliability_curve", "weighted_bce", "focal_loss", "soft_dice_loss",
           "inverted_dropout", "early_stopping_epoch", "dihedral_augment", "momentum_step", "adam_step",
           "lr_range_suggestion", "log_uniform_sample"]


def _binary_cases(seed=5):
    """(y_true, second array) pairs of binary labels, with imbalance and an all-negative prediction."""
    rng = np.random.default_rng(seed)
    cases = [(rng.integers(0, 2, n), rng.integers(0, 2, n)) for n in (40, 57)]
    cases.append((np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0]), np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0])))
    cases.append((np.array([0, 1, 1, 0, 0, 0]), np.zeros(6, np.int64)))
    return cases


def _epoch_case(seed=21):
    """A tiny CNN with BatchNorm and one output, and three mini-batches of unequal size (8, 8, 5)."""
    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 1))
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=g) * 0.5)
    batches = [(torch.randn(n, 1, 6, 6, generator=g), (torch.rand(n, generator=g) < 0.5).long()) for n in (8, 8, 5)]
    return model, batches


@checker(hint="One epoch visits every mini-batch once and repeats four steps for each: forward, loss, backward, "
              "step. Put the model in training mode first (BatchNorm and dropout behave differently), clear the "
              "old gradients before each backward pass, and report the mean loss per sample, not per batch.",
         formula="model.train(); total, count = 0.0, 0; for x, y in loader: x, y = x.to(device), "
                 "y.to(device).float(); loss = loss_fn(model(x)[:, 0], y); optimizer.zero_grad(); loss.backward(); "
                 "optimizer.step(); total += loss.item() * len(x); count += len(x). Return total / count.")
def train_epoch(answer):
    """One epoch of training, compared with labkit.train.train_epoch: mean loss per sample and the weights after."""
    from labkit import train

    model, batches = _epoch_case()
    mine, theirs = copy.deepcopy(model), copy.deepcopy(model)
    mine.eval()  # a loop that forgets model.train() would run BatchNorm in evaluation mode
    loss_fn = torch.nn.BCEWithLogitsLoss()
    opt_mine = torch.optim.SGD(mine.parameters(), lr=0.1, momentum=0.9)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    got = call(answer, mine, batches, loss_fn, opt_mine, torch.device("cpu"))
    want = train.train_epoch(theirs, batches, loss_fn, opt_theirs, device="cpu")
    expect_close(got, want, "the mean training loss (batches of 8, 8 and 5 images)")
    for (name, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
        expect_close(a, b, f"model weights '{name}' after the epoch", atol=1e-5, rtol=1e-4)


@checker(hint="Think of a tournament: every positive case plays every negative case, and the one with the higher "
              "score wins. The AUC is the share of games the positives win, a draw counting one half.",
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


@checker(hint="The lowest point of the loss curve lies close to where training starts to diverge, so the "
              "suggestion steps back from it by a factor of ten. A diverged step gives nan or inf, which must not "
              "count as the lowest loss.",
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


def _probability_cases(seed=9):
    """(y_true, probs) pairs: continuous probabilities (never on a bin edge) plus exact 0.0 and 1.0."""
    rng = np.random.default_rng(seed)
    cases = []
    for n, power in ((300, 1.0), (120, 2.0)):
        probs = rng.random(n) ** power
        probs[:2] = [0.0, 1.0]
        cases.append(((rng.random(n) < probs ** 1.3).astype(np.int64), probs))
    return cases


@checker(hint="A reliability diagram puts the predictions into equal-width bins of predicted probability; in each "
              "bin that holds predictions, compare how often the lesion was really there with how much was "
              "predicted. A probability of exactly 1.0 belongs to the last bin; empty bins are left out.",
         formula="bin = np.minimum((probs * n_bins).astype(int), n_bins - 1); for each bin b with predictions: "
                 "observed = y_true[bin == b].mean(), predicted = probs[bin == b].mean(). Return two arrays "
                 "(observed, predicted) over the non-empty bins, in bin order.")
def reliability_curve(answer):
    """Reliability-diagram points, compared with sklearn.calibration.calibration_curve (strategy 'uniform')."""
    for y_true, probs in _probability_cases():
        for n_bins in (10, 7):
            got = call(answer, y_true, probs, n_bins)
            from sklearn.calibration import calibration_curve

            observed, predicted = calibration_curve(y_true, probs, n_bins=n_bins, strategy="uniform")
            expect_true(isinstance(got, (tuple, list)) and len(got) == 2,
                        f"expected a pair (observed rates, mean predicted probabilities), got {type(got).__name__}")
            expect_close(got[0], observed, f"observed lesion rates per bin ({n_bins} bins, {len(probs)} cases)")
            expect_close(got[1], predicted, f"mean predicted probabilities per bin ({n_bins} bins)")


@checker(hint="Focal loss is cross-entropy multiplied by (1 - p_t)^gamma, where p_t is the probability the model gives "
              "to the true label; alpha weights the positives and 1 - alpha the negatives.",
         formula="p = torch.sigmoid(logits); p_t = torch.where(target == 1, p, 1 - p); alpha_t = alpha * target + "
                 "(1 - alpha) * (1 - target); bce = F.binary_cross_entropy_with_logits(logits, target, "
                 "reduction='none'); return (alpha_t * (1 - p_t) ** gamma * bce).mean()")
def focal_loss(answer):
    """Sigmoid focal loss with alpha (mean), compared with torchvision.ops.sigmoid_focal_loss."""
    from torchvision.ops import sigmoid_focal_loss

    for logits, target in _logits_and_targets(seed=17):
        for gamma, alpha in ((2.0, 0.25), (0.0, 0.5), (1.5, 0.75)):
            want = sigmoid_focal_loss(logits, target, alpha=alpha, gamma=gamma, reduction="mean")
            expect_close(call(answer, logits, target, gamma, alpha), want,
                         f"focal_loss(logits {tuple(logits.shape)}, gamma={gamma}, alpha={alpha})")


@checker(hint="Inverted dropout zeroes each value with probability p during training and scales the survivors up "
              "by 1 / (1 - p), so that the expected value of every feature stays the same and nothing needs to "
              "change at test time. Draw the random mask from a local generator.",
         formula="gen = torch.Generator().manual_seed(seed); keep = torch.rand(x.shape, generator=gen) >= p; "
                 "return x * keep / (1 - p)")
def inverted_dropout(answer):
    """Inverted dropout in training mode: a property check (share zeroed, survivors rescaled, mean kept, seeded)."""
    x = torch.rand(100_000, generator=torch.Generator().manual_seed(3), dtype=torch.float64) + 0.5
    state = torch.get_rng_state()
    for p in (0.5, 0.2):
        out = to_array(call(answer, x, p, 0), f"inverted_dropout(x, p={p}, seed=0)")
        expect_true(torch.equal(state, torch.get_rng_state()), "the global torch RNG changed: use a local Generator")
        expect_true(out.shape == tuple(x.shape), f"expected shape {tuple(x.shape)}, got {out.shape}")
        zeroed = float(np.mean(out == 0))
        expect_true(abs(zeroed - p) < 0.01, f"with p={p}, {zeroed:.3f} of the values are zero, expected about {p}")
        kept = out != 0
        expect_close(out[kept], x.numpy()[kept] / (1 - p), f"the values that survive dropout (p={p})")
        expect_true(abs(out.mean() / x.numpy().mean() - 1) < 0.01, f"with p={p} the mean changed from "
                    f"{x.mean():.4f} to {out.mean():.4f}: the survivors must make up for the zeros")
        expect_close(call(answer, x, p, 0), out, "a second call with the same seed")
        expect_true(not np.array_equal(to_array(call(answer, x, p, 1)), out), "seeds 0 and 1 gave the same mask")
    expect_close(call(answer, x, 0.0, 0), x, "inverted_dropout with p=0 (nothing dropped)")


def _step_cases(seed=31, n_steps=4):
    """A float64 parameter (5, 3) and one gradient per step, of varied scale."""
    g = torch.Generator().manual_seed(seed)
    param = torch.randn(5, 3, generator=g, dtype=torch.float64)
    grads = [torch.randn(5, 3, generator=g, dtype=torch.float64) * scale for scale in (1.0, 0.1, 3.0, 0.5)[:n_steps]]
    return param, grads


def _torch_steps(param, grads, make_optimizer):
    """The parameter after each step of a torch optimizer fed the given gradients."""
    weight = torch.nn.Parameter(param.clone())
    optimizer = make_optimizer([weight])
    out = []
    for grad in grads:
        weight.grad = grad.clone()
        optimizer.step()
        out.append(weight.detach().clone())
    return out


@checker(hint="Momentum keeps a velocity: a running sum of past gradients that decays by the factor `momentum` at "
              "every step; the parameter moves against the velocity, not against the latest gradient alone.",
         formula="velocity = momentum * velocity + grad; param = param - lr * velocity; return param, velocity "
                 "(torch.optim.SGD with momentum, dampening 0; the velocity starts at zero).")
def momentum_step(answer):
    """SGD with momentum, several steps from a zero velocity, compared with torch.optim.SGD(momentum=...)."""
    param, grads = _step_cases()
    for lr, momentum in ((0.1, 0.9), (0.5, 0.5)):
        want = _torch_steps(param, grads, lambda p: torch.optim.SGD(p, lr=lr, momentum=momentum))
        current, velocity = param.clone(), torch.zeros_like(param)
        for step, (grad, expected) in enumerate(zip(grads, want), start=1):
            out = call(answer, current, grad, velocity, lr, momentum)
            expect_true(isinstance(out, (tuple, list)) and len(out) == 2,
                        f"expected a pair (new param, new velocity), got {type(out).__name__}")
            current, velocity = (torch.as_tensor(v, dtype=torch.float64) for v in out)
            expect_close(current, expected, f"the parameter after step {step} (lr={lr}, momentum={momentum})")


@checker(hint="Adam keeps two running averages per weight, of the gradient (m) and of its square (v); both start at "
              "zero, so early on they are too small and are divided by (1 - beta^t) before the step. The step is "
              "the corrected m divided by the square root of the corrected v.",
         formula="m = beta1 * m + (1 - beta1) * grad; v = beta2 * v + (1 - beta2) * grad ** 2; m_hat = m / (1 - "
                 "beta1 ** t); v_hat = v / (1 - beta2 ** t); param = param - lr * m_hat / (v_hat.sqrt() + eps); "
                 "return param, m, v (t counts steps from 1).")
def adam_step(answer):
    """Adam, several steps from zero moments, compared with torch.optim.Adam."""
    param, grads = _step_cases(seed=32)
    for lr, betas in ((1e-2, (0.9, 0.999)), (0.1, (0.5, 0.9))):
        want = _torch_steps(param, grads, lambda p: torch.optim.Adam(p, lr=lr, betas=betas, eps=1e-8))
        current, m, v = param.clone(), torch.zeros_like(param), torch.zeros_like(param)
        for t, (grad, expected) in enumerate(zip(grads, want), start=1):
            out = call(answer, current, grad, m, v, t, lr, betas[0], betas[1], 1e-8)
            expect_true(isinstance(out, (tuple, list)) and len(out) == 3,
                        f"expected a triple (new param, new m, new v), got {type(out).__name__}")
            current, m, v = (torch.as_tensor(x, dtype=torch.float64) for x in out)
            expect_close(current, expected, f"the parameter after step {t} (lr={lr}, betas={betas})")
