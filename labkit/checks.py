"""Exercise self-checks: one checker per exercise, named by concept.

A checker takes the learner's function or value, prints ``passed``, ``failed`` (what differed, and a hint)
or ``not attempted`` (the stub still raises NotImplementedError or gives None), and never raises.
``checker.evaluate(answer)`` returns the :class:`Result` without printing (used by the tests).
Every checker compares against a trusted reference (numpy, torch, MONAI, scikit-learn) or a property.
"""

import functools
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Result", "CheckFailed", "NotAttempted", "REGISTRY", "checker", "call", "to_array",
           "expect_close", "expect_true", "bright_fraction"]

REGISTRY = {}


class NotAttempted(Exception):
    """The learner's answer is still the stub."""


class CheckFailed(Exception):
    """The learner's answer differs from the reference; the message says how."""


@dataclass(frozen=True)
class Result:
    """Outcome of one check: ``status`` is 'passed', 'failed' or 'not attempted'."""

    name: str
    status: str
    message: str = ""
    hint: str = ""

    @property
    def passed(self):
        return self.status == "passed"

    def __str__(self):
        if self.status == "passed":
            return f"[passed] {self.name}: well done." + (f" {self.message}" if self.message else "")
        if self.status == "not attempted":
            return f"[not attempted] {self.name}: replace the stub (raise NotImplementedError / None) with your answer."
        return f"[failed] {self.name}: {self.message}\n  Hint: {self.hint}"


def checker(hint):
    """Decorator: turn ``evaluate(answer)`` (raises CheckFailed/NotAttempted) into a safe, printing checker."""

    def wrap(evaluate):
        name = evaluate.__name__

        def run(answer=None):
            if answer is None:
                return Result(name, "not attempted")
            try:
                note = evaluate(answer)
            except NotAttempted:
                return Result(name, "not attempted")
            except CheckFailed as err:
                return Result(name, "failed", str(err), hint)
            except Exception as err:  # the learner's code may raise anything; report it, never re-raise
                return Result(name, "failed", f"your answer raised {type(err).__name__}: {err}", hint)
            return Result(name, "passed", note or "")

        @functools.wraps(evaluate)
        def check(answer=None):
            print(run(answer))

        check.evaluate = run
        REGISTRY[name] = check
        return check

    return wrap


def _copy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().clone()
    if isinstance(x, np.ndarray):
        return x.copy()
    return x


def call(fn, *args, **kwargs):
    """Call the learner's function on copies of the inputs; a stub counts as not attempted."""
    if not callable(fn):
        raise CheckFailed(f"expected a function, got {type(fn).__name__} ({fn!r:.60})")
    try:
        out = fn(*[_copy(a) for a in args], **{k: _copy(v) for k, v in kwargs.items()})
    except NotImplementedError:
        raise NotAttempted() from None
    if out is None:
        raise NotAttempted()
    return out


def to_array(x, what="your answer"):
    """Convert a number, list, NumPy array or torch tensor to a float64 NumPy array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if isinstance(x, (str, bytes, dict, set)) or callable(x):
        raise CheckFailed(f"expected {what} to be a number or an array, got {type(x).__name__}")
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"expected {what} to be numeric, got {type(x).__name__}") from None
    return arr


def expect_close(got, want, what="your answer", atol=1e-6, rtol=1e-5):
    """Raise CheckFailed unless ``got`` matches ``want`` in shape and value (within atol + rtol)."""
    got, want = to_array(got, what), to_array(want, "the reference")
    if got.shape != want.shape:
        raise CheckFailed(f"{what} has shape {got.shape}, expected {want.shape}")
    if np.isnan(got).any() and not np.isnan(want).any():
        raise CheckFailed(f"{what} contains NaN")
    if not np.allclose(got, want, atol=atol, rtol=rtol, equal_nan=True):
        diff = np.nanmax(np.abs(got - want))
        if got.size == 1:
            raise CheckFailed(f"{what} is {got.item():.6g}, expected {want.item():.6g}")
        raise CheckFailed(f"{what} differs from the reference (largest difference {diff:.3g})")


def expect_true(condition, message):
    """Raise CheckFailed with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def _example_images(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random((16, 16), dtype=np.float32), rng.random((7, 5)).astype(np.float32),
            np.zeros((4, 4), np.float32), np.linspace(0, 1, 9, dtype=np.float32).reshape(3, 3)]


@checker(hint="Compare the image with the threshold (image > threshold), then take the mean of the boolean array.")
def bright_fraction(answer):
    """00_welcome: fraction of pixels strictly brighter than a threshold."""
    for image in _example_images():
        for threshold in (0.0, 0.25, 0.5):
            want = float(np.mean(image > threshold))
            expect_close(call(answer, image, threshold), want,
                         f"bright_fraction(image of shape {image.shape}, {threshold})")


# ---------------------------------------------------------------- medical images and preprocessing (01, 02)
def _stored_values(seed=0):
    """(raw stored values, slope, intercept) cases as DICOM files hold them: unsigned and signed integers."""
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 4096, (8, 8)).astype(np.uint16), 1, -1024),
            (rng.integers(-2000, 3000, (5, 7)).astype(np.int16), 1.0, -1024.0),
            (rng.integers(0, 4096, (6, 6)).astype(np.uint16), 3.774114, 6.1e-05),
            (rng.integers(0, 2000, (4,)).astype(np.int16), 0.5, -1000.0)]


@checker(hint="Convert to float first (np.asarray(raw, dtype=np.float32)): stored values are often unsigned "
              "integers, and uint16 - 1024 overflows. Then HU = raw * slope + intercept.")
def to_hu(answer):
    """01_medical_images: stored values -> Hounsfield units with RescaleSlope/RescaleIntercept."""
    for raw, slope, intercept in _stored_values():
        want = raw.astype(np.float64) * slope + intercept
        expect_close(call(answer, raw, slope, intercept), want,
                     f"to_hu({raw.dtype} array, slope={slope}, intercept={intercept})", atol=1e-3)


@checker(hint="low = center - width / 2; map low -> 0 and low + width -> 1 with (image - low) / width, "
              "then clip to [0, 1] with np.clip.")
def apply_window(answer):
    """01_medical_images: window/level maps [center - width/2, center + width/2] to [0, 1], clipped."""
    hu = np.random.default_rng(1).uniform(-1100, 1500, (12, 12)).astype(np.float32)
    for center, width in [(40, 80), (-600, 1500), (400, 1800), (50.5, 1.0)]:
        want = np.clip((hu.astype(np.float64) - (center - width / 2)) / width, 0, 1)
        expect_close(call(answer, hu, center, width), want, f"apply_window(hu, {center}, {width})", atol=1e-5)


@checker(hint="Append a 1 to the index, (i, j, k, 1), multiply by the 4 x 4 affine and keep the first three "
              "values: the last column of the affine is the translation.")
def voxel_to_world(answer):
    """01_medical_images: voxel index (i, j, k) -> world coordinates in mm through a NIfTI affine."""
    from nibabel.affines import apply_affine

    rotation = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    affines = [np.diag([1.0, 1, 1, 1]), np.array([[1.0, 0, 0, -98], [0, 1, 0, -134], [0, 0, 1, -72], [0, 0, 0, 1]]),
               np.block([[rotation * [0.8, 0.8, 3.0], np.array([[10.0], [-20.0], [5.0]])], [np.zeros((1, 3)), 1]])]
    for affine in affines:
        for index in [(0, 0, 0), (98, 134, 72), (3, 7, 11)]:
            expect_close(call(answer, affine, np.array(index)), apply_affine(affine, index),
                         f"voxel_to_world(affine, {index})", atol=1e-6)


def _masked_images(seed=2):
    rng = np.random.default_rng(seed)
    image = rng.gamma(2.0, 150.0, (20, 24)).astype(np.float32)
    mask = np.zeros(image.shape, bool)
    mask[4:15, 3:20] = True
    return [(image, mask), (image * 0.01 + 5, image > 300), (rng.normal(0, 1, (6, 5, 4)).astype(np.float32),
                                                            rng.random((6, 5, 4)) > 0.3)]


@checker(hint="Take mean and std (np.std, ddof=0) of image[mask] only, normalise with them, and set the "
              "voxels outside the mask to 0 (np.where(mask, ..., 0)).")
def zscore(answer):
    """02_preprocessing: z-score normalisation with statistics from inside a mask; 0 outside."""
    for image, mask in _masked_images():
        values = image[mask].astype(np.float64)
        want = np.where(mask, (image - values.mean()) / values.std(), 0.0)
        expect_close(call(answer, image, mask), want, f"zscore(image of shape {image.shape}, mask)", atol=1e-4)


@checker(hint="(image - image.min()) / (image.max() - image.min()); if max == min, return np.zeros_like(image).")
def minmax_scale(answer):
    """02_preprocessing: min-max scaling to [0, 1]; a constant image gives zeros."""
    for image, _ in _masked_images():
        want = (image - image.min()) / (image.max() - image.min())
        expect_close(call(answer, image), want, f"minmax_scale(image of shape {image.shape})", atol=1e-5)
    expect_close(call(answer, np.full((3, 4), 7.0, np.float32)), np.zeros((3, 4)), "minmax_scale(constant image)")


@checker(hint="Per axis with n pixels and target t: crop keeps rows n // 2 - t // 2 onwards (t of them); pad puts "
              "(t - n) // 2 zeros before and the rest after (np.pad).")
def crop_or_pad(answer):
    """02_preprocessing: centre crop or zero-pad to a fixed size, compared with MONAI ResizeWithPadOrCrop."""
    from monai.transforms import ResizeWithPadOrCrop

    image = np.arange(1, 7 * 10 + 1, dtype=np.float32).reshape(7, 10)
    for size in [(4, 6), (9, 12), (7, 5), (10, 10), (6, 13)]:
        want = ResizeWithPadOrCrop(size)(image[None])[0].numpy()
        expect_close(call(answer, image, size), want, f"crop_or_pad(image of shape (7, 10), {size})")


# ------------------------------------------------------------ neural networks and convolution
def _random(*shape, seed=0, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


@checker(hint="With s = torch.sigmoid(x), the derivative is s * (1 - s): elementwise, largest (0.25) at x = 0.")
def sigmoid_derivative(answer):
    """Derivative of the logistic sigmoid, elementwise, compared with autograd."""
    for x in (torch.linspace(-8, 8, 33, dtype=torch.float64), torch.zeros(3, dtype=torch.float64),
              _random(4, 5, scale=3)):
        x = x.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(torch.sigmoid(x).sum(), x)
        expect_close(call(answer, x.detach()), want, f"sigmoid_derivative(x of shape {tuple(x.shape)})")


@checker(hint="Each output is a weighted sum of the inputs plus a bias: x @ weight.T + bias, shape (N, out).")
def linear_forward(answer):
    """A layer of neurons, y = x W^T + b, compared with torch.nn.functional.linear."""
    for n, n_in, n_out in ((5, 3, 2), (1, 4, 4), (7, 6, 1)):
        x, weight, bias = _random(n, n_in, seed=n), _random(n_out, n_in, seed=n_in), _random(n_out, seed=n_out)
        want = torch.nn.functional.linear(x, weight, bias)
        expect_close(call(answer, x, weight, bias), want, f"linear_forward(x {n}x{n_in}, weight {n_out}x{n_in}, bias)")


@checker(hint="A Linear(a, b) layer has a * b weights and b biases; add this up over consecutive pairs of sizes.")
def mlp_param_count(answer):
    """Number of parameters of an MLP with layer sizes [in, hidden..., out], compared with torch.nn."""
    for sizes in ([4, 16, 3], [64, 32, 32, 1], [10, 1], [3, 8, 8, 8, 2]):
        layers = [torch.nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]
        want = sum(p.numel() for layer in layers for p in layer.parameters())
        expect_close(call(answer, list(sizes)), want, f"mlp_param_count({sizes})")


@checker(hint="Slide the kernel without flipping it: out[i, j] = (image[i:i + kh, j:j + kw] * kernel).sum(), "
              "for i in range(H - kh + 1) and j in range(W - kw + 1).")
def conv2d_single(answer):
    """Valid 2D cross-correlation of one image with one kernel, compared with torch.nn.functional.conv2d."""
    for (h, w), (kh, kw) in (((8, 8), (3, 3)), ((6, 9), (3, 3)), ((7, 7), (5, 5)), ((5, 6), (1, 1)), ((6, 5), (2, 3))):
        image, kernel = _random(h, w, seed=h * w), _random(kh, kw, seed=kh * kw + 1)
        want = torch.nn.functional.conv2d(image[None, None], kernel[None, None])[0, 0]
        expect_close(call(answer, image, kernel), want, f"conv2d_single(image {h}x{w}, kernel {kh}x{kw})")


@checker(hint="floor((n + 2 * p - k) / s) + 1: pad both sides, count the kernel positions that fit, step by s "
              "(use integer division //).")
def conv_output_size(answer):
    """Output length of a convolution/pooling layer, compared with the shape torch gives."""
    for n, k, s, p in ((64, 3, 1, 1), (64, 2, 2, 0), (7, 3, 2, 1), (5, 5, 1, 0), (10, 4, 3, 2), (28, 5, 2, 0)):
        want = torch.nn.functional.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p).shape[-1]
        expect_close(call(answer, n, k, s, p), want, f"conv_output_size(n={n}, k={k}, s={s}, p={p})")


def _field_by_gradient(kernel_sizes, strides):
    """Receptive field measured: inputs with a nonzero gradient for one output of a stack of all-ones convs."""
    x = torch.zeros(1, 1, 256, dtype=torch.float64, requires_grad=True)
    out = x
    for k, s in zip(kernel_sizes, strides):
        out = torch.nn.functional.conv1d(out, torch.ones(1, 1, k, dtype=torch.float64), stride=s)
    (grad,) = torch.autograd.grad(out[0, 0, out.shape[-1] // 2], x)
    return int((grad != 0).sum())


@checker(hint="Start with r = 1 and jump = 1; for each layer: r += (k - 1) * jump, then jump *= s.")
def receptive_field(answer):
    """Receptive field of a stack of conv/pool layers, compared with the footprint of a gradient."""
    for ks, ss in (([3], [1]), ([3, 3, 3], [1, 1, 1]), ([3, 2, 3, 2], [1, 2, 1, 2]), ([5, 3, 3], [2, 2, 1]),
                   ([7, 3, 3, 3], [2, 1, 2, 1])):
        expect_close(call(answer, list(ks), list(ss)), _field_by_gradient(ks, ss), f"receptive_field({ks}, {ss})")


def _binary_cases(seed=5):
    """(y_true, second array) pairs of binary labels, with imbalance and an all-negative prediction."""
    rng = np.random.default_rng(seed)
    cases = [(rng.integers(0, 2, n), rng.integers(0, 2, n)) for n in (40, 57)]
    cases.append((np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0]), np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0])))
    cases.append((np.array([0, 1, 1, 0, 0, 0]), np.zeros(6, np.int64)))
    return cases


@checker(hint="TP: true 1 and predicted 1; FP: true 0, predicted 1; FN: true 1, predicted 0; TN: both 0. Count "
              "each with np.sum of a boolean array and return (tp, fp, fn, tn) in that order.")
def confusion_counts(answer):
    """Binary confusion counts (tp, fp, fn, tn), compared with sklearn.metrics.confusion_matrix."""
    for y_true, y_pred in _binary_cases():
        got = call(answer, y_true, y_pred)
        from sklearn.metrics import confusion_matrix  # imported only once there is an answer to check

        tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
        expect_close(got, [tp, fp, fn, tn], "(tp, fp, fn, tn)")


@checker(hint="Sensitivity = TP / (TP + FN), the share of true positives found; specificity = TN / (TN + FP), "
              "the share of true negatives cleared. Divide by the number of true positives/negatives.")
def sensitivity_specificity(answer):
    """(sensitivity, specificity) of binary labels, compared with sklearn's recall of class 1 and of class 0."""
    for y_true, y_pred in _binary_cases():
        got = call(answer, y_true, y_pred)
        from sklearn.metrics import recall_score

        want = [recall_score(y_true, y_pred, pos_label=1), recall_score(y_true, y_pred, pos_label=0)]
        expect_close(got, want, "(sensitivity, specificity)")


@checker(hint="Compare every positive score with every negative one (pos[:, None] vs neg[None, :]): count the "
              "pairs where the positive is higher, add half of the ties, divide by n_pos * n_neg.")
def roc_auc(answer):
    """ROC-AUC as a ranking probability, compared with sklearn.metrics.roc_auc_score (ties included)."""
    for i, (y_true, _) in enumerate(_binary_cases()[:3]):
        scores = np.random.default_rng(i).random(len(y_true))
        scores = np.round(scores * 4) / 4 if i == 1 else scores  # many ties
        got = call(answer, y_true, scores)
        from sklearn.metrics import roc_auc_score

        expect_close(got, roc_auc_score(y_true, scores), f"roc_auc_by_ranking on {len(y_true)} scores", atol=1e-9)


def _box_sets(seed=0):
    """Pairs of box sets (N, 4), (M, 4) x1, y1, x2, y2: random, identical, disjoint, touching, nested."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 50, (7, 2))
    a = torch.tensor(np.concatenate([xy, xy + rng.uniform(1, 20, (7, 2))], 1), dtype=torch.float32)
    b = torch.tensor([[0, 0, 10, 10], [10, 0, 20, 10], [2, 2, 4, 4], [30, 30, 31, 45]], dtype=torch.float32)
    return [(a, a[:5]), (a, b), (b, b), (b[:1], b[1:2])]


@checker(hint="Intersection corners: max of the top-left corners, min of the bottom-right ones (broadcast (N, 1, 2) "
              "against (1, M, 2)); clamp width and height at 0. Union = area_a + area_b - intersection.")
def box_iou(answer):
    """Pairwise IoU matrix (N, M) of two box sets, compared with torchvision.ops.box_iou."""
    from torchvision.ops import box_iou as reference

    for a, b in _box_sets():
        expect_close(call(answer, a, b), reference(a, b), f"box_iou of ({len(a)}, 4) and ({len(b)}, 4) boxes")


@checker(hint="A peak equals the maximum of its 3x3 neighbourhood: compare heat with "
              "F.max_pool2d(heat[None, None], 3, stride=1, padding=1)[0, 0], and keep only heat >= threshold.")
def heatmap_peaks(answer):
    """Local maxima (3x3) of a heatmap above a threshold, compared with scipy.ndimage.maximum_filter."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    plateau = np.zeros((6, 7), np.float32)
    plateau[2:4, 3:5] = 0.8
    for heat, threshold in [(rng.random((9, 12)), 0.5), (rng.random((16, 16)) ** 3, 0.2), (plateau, 0.1)]:
        want = (heat == ndimage.maximum_filter(heat, size=3, mode="nearest")) & (heat >= threshold)
        got = call(answer, torch.tensor(heat, dtype=torch.float32), threshold)
        expect_close(to_array(got) > 0, want, f"heatmap_peaks(heat of shape {heat.shape}, {threshold})")


# ------------------------------------------------------------ overfitting and hyperparameters (07, 08)
@checker(hint="Walk through the epochs keeping the best loss so far; a strictly lower loss resets the wait, "
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


@checker(hint="Make gen = torch.Generator().manual_seed(seed); for EACH image draw k in 0..3 and a coin with it, "
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


@checker(hint="Draw uniformly between np.log(low) and np.log(high) with np.random.default_rng(seed).uniform(..., "
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


@checker(hint="Ignore non-finite losses (np.isfinite), find the lowest remaining loss (np.nanargmin or argmin on "
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


# ------------------------------------------------------------ adversarial attacks and interpretability
def _tiny_models_and_batches():
    """Small seeded float64 CNNs (one logit) with image batches (N, 1, 8, 8) in [0, 1] and labels (N,)."""
    cases = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)  # inside a checker: the caller's stream is restored by fork_rng below
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                    torch.nn.Linear(4 * 64, 1)).double().eval()
        gen = torch.Generator().manual_seed(seed)
        x = torch.rand(6, 1, 8, 8, generator=gen, dtype=torch.float64)
        cases.append((model, x, torch.randint(0, 2, (6,), generator=gen)))
    return cases


@checker(hint="Make x require grad, loss = ((1 - 2 * y.float()) * model(x).reshape(len(x))).sum(), take "
              "torch.autograd.grad(loss, x), then (x + eps * grad.sign()).clamp(0, 1) (detached).")
def fgsm(answer):
    """FGSM with the logit-margin loss, compared with captum.robust.FGSM."""
    from captum.robust import FGSM

    margin = lambda logits, y: (1 - 2 * y.double()) * logits.reshape(len(y))
    with torch.random.fork_rng(devices=[]):
        cases = _tiny_models_and_batches()
    for model, x, y in cases:
        for eps in (0.01, 0.1, 0.3):
            want = FGSM(model, loss_func=margin, lower_bound=0, upper_bound=1).perturb(x.clone(), eps, y)
            expect_close(call(answer, model, x, y, eps), want.detach(), f"fgsm(model, x, y, eps={eps})", atol=1e-9)


@checker(hint="Each element must end up in [x - eps, x + eps]: torch.max(torch.min(x_adv, x + eps), x - eps). "
              "Clamp relative to x, not to [-eps, eps].")
def project_linf(answer):
    """Projection onto the L-infinity ball around x: elementwise clamp, compared with torch.clamp per element."""
    gen = torch.Generator().manual_seed(3)
    for shape, eps in (((4, 1, 5, 5), 0.05), ((2, 3, 4, 4), 0.3), ((7,), 0.0)):
        x = torch.rand(shape, generator=gen, dtype=torch.float64)
        x_adv = x + torch.randn(shape, generator=gen, dtype=torch.float64) * 0.2
        want = x + (x_adv - x).clamp(-eps, eps)
        expect_close(call(answer, x_adv, x, eps), want, f"project_linf(x_adv, x, eps={eps})", atol=1e-12)


@checker(hint="Make a copy of x require grad, take torch.autograd.grad(model(x)[:, 0].sum(), x) and return the "
              "absolute value of the gradient (same shape as x).")
def saliency_map(answer):
    """Absolute input gradient of the logit, compared with captum.attr.Saliency(abs=True)."""
    from captum.attr import Saliency

    with torch.random.fork_rng(devices=[]):
        cases = _tiny_models_and_batches()
    for model, x, _ in cases:
        want = Saliency(model).attribute(x.clone(), target=0, abs=True)
        expect_close(call(answer, model, x), want.detach(), "saliency_map(model, x)", atol=1e-9)


@checker(hint="Per image, find the flat argmax of attr (attr.reshape(n, -1).argmax(1)), convert it with "
              "np.unravel_index to (row, col), look that pixel up in the mask, and average the hits.")
def pointing_game(answer):
    """Pointing-game hit rate, compared with a per-image loop over np.argmax."""
    rng = np.random.default_rng(7)
    for n, h, w in ((10, 8, 8), (5, 6, 9), (1, 4, 4)):
        attr = rng.random((n, h, w))
        masks = (rng.random((n, h, w)) < 0.3).astype(np.uint8)
        hits = [masks[i].flat[int(np.argmax(attr[i]))] for i in range(n)]
        expect_close(call(answer, attr, masks), np.mean(hits), f"pointing_game(attr {n}x{h}x{w}, masks)")
    masks = np.zeros((2, 5, 7), np.uint8)
    masks[:, 1, 6] = 1
    attr = np.zeros((2, 5, 7))
    attr[0, 1, 6], attr[1, 4, 0] = 1, 1   # non-square: a row/column mix-up misses the first hit
    expect_close(call(answer, attr, masks), 0.5, "pointing_game(peaks at (1, 6) and (4, 0), mask at (1, 6))")


def _logits_and_targets(seed=7):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(shape, generator=g, dtype=torch.float64) * 4,
             (torch.rand(shape, generator=g, dtype=torch.float64) < 0.3).double()) for shape in ((12,), (4, 1), (3, 2, 5, 5))]


@checker(hint="loss = -(pos_weight * y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)), then .mean(). "
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


@checker(hint="Sum over the spatial dims only (dims = tuple(range(2, probs.dim()))), one Dice per sample and channel: "
              "1 - (2 * (probs * target).sum(dims) + smooth) / (probs.sum(dims) + target.sum(dims) + smooth), "
              "then .mean().")
def soft_dice(answer):
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


@checker(hint="Repeat the grey channel three times (x.repeat(1, 3, 1, 1)), then subtract the ImageNet mean and divide "
              "by the ImageNet std per channel: reshape both to (1, 3, 1, 1) so they broadcast.")
def gray_to_rgb_normalized(answer):
    """Grey (N, 1, H, W) -> ImageNet-normalised RGB (N, 3, H, W), compared with torchvision's Normalize."""
    from torchvision.transforms import Normalize

    normalize = Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    rng = np.random.default_rng(0)
    for shape in ((2, 1, 8, 8), (1, 1, 5, 7), (3, 1, 4, 4)):
        x = torch.tensor(rng.random(shape), dtype=torch.float32)
        expect_close(call(answer, x), normalize(x.repeat(1, 3, 1, 1)), f"gray_to_rgb_normalized(shape {shape})",
                     atol=1e-5)


def _frozen_cases():
    """(model, head) pairs: a CNN with a named head, a Sequential, and one whose head starts frozen."""
    from labkit.models import SmallCNN

    cnn = SmallCNN(width=4)
    seq = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 2))
    cold = SmallCNN(width=4, n_classes=3)
    for p in cold.head.parameters():
        p.requires_grad = False
    return [(cnn, cnn.head), (seq, seq[-1]), (cold, cold.head)]


@checker(hint="Loop over model.parameters() and set requires_grad = False, then loop over head.parameters() and set "
              "requires_grad = True; return the model.")
def freeze_backbone(answer):
    """Only the head's parameters require gradients afterwards (a property check on three models)."""
    for model, head in _frozen_cases():
        out = call(answer, model, head)
        expect_true(out is model, "return the same model object you were given (modified in place)")
        head_ids = {id(p) for p in head.parameters()}
        wrong = [n for n, p in model.named_parameters() if p.requires_grad != (id(p) in head_ids)]
        expect_true(not wrong, f"requires_grad is wrong for {len(wrong)} parameter(s), e.g. {wrong[:3]}: only the "
                               "head's parameters should require gradients")


def _pair_images(seed=9):
    rng = np.random.default_rng(seed)
    return [(rng.random((6, 9)).astype(np.float32), (rng.random((6, 9)) < 0.4).astype(np.uint8)),
            (rng.random((1, 5, 5)).astype(np.float32), (rng.random((1, 5, 5)) < 0.5).astype(np.uint8))]


@checker(hint="Draw ONE coin per axis with rng (e.g. rng.random() < 0.5) and apply the same flips to both: "
              "np.flip(image, axis=-1) and np.flip(mask, axis=-1) when the first coin says so, axis=-2 for the second.")
def random_flip_pair(answer):
    """Random horizontal/vertical flips of an image and its mask: a property check over 40 seeded draws."""
    for image, mask in _pair_images():
        versions = [(image, mask)] + [(np.flip(image, ax), np.flip(mask, ax)) for ax in (-1, -2, (-2, -1))]
        seen = set()
        for seed in range(40):
            got_image, got_mask = call(answer, image, mask, np.random.default_rng(seed))
            got_image, got_mask = to_array(got_image, "the image"), to_array(got_mask, "the mask")
            hits = [k for k, (a, _) in enumerate(versions) if np.array_equal(a, got_image)]
            expect_true(hits, f"draw {seed}: the image (shape {image.shape}) is not a flip of the input")
            expect_true(np.array_equal(versions[hits[0]][1], got_mask),
                        f"draw {seed}: the mask was not flipped like the image: they no longer line up")
            seen.add(hits[0])
        expect_true(len(seen) == 4, f"over 40 draws only {len(seen)} of the 4 flip combinations appeared")


@checker(hint="Rescale to [0, 1] with the image's own min and range (add 1e-7 to the range), raise to the power "
              "gamma, then map back: ((x - lo) / (hi - lo + 1e-7)) ** gamma * (hi - lo) + lo.")
def gamma_transform(answer):
    """Gamma contrast change, compared with monai.transforms.AdjustContrast(gamma)."""
    from monai.transforms import AdjustContrast

    rng = np.random.default_rng(10)
    for image in (rng.random((8, 8)), rng.uniform(-100, 300, (5, 7)), rng.uniform(0.2, 0.6, (1, 6, 6))):
        image = image.astype(np.float32)
        for gamma in (0.5, 1.0, 2.0):
            want = np.asarray(AdjustContrast(gamma)(image))
            expect_close(call(answer, image, gamma), want, f"gamma_transform(image in [{image.min():.2f}, "
                         f"{image.max():.2f}], gamma={gamma})", atol=1e-4, rtol=1e-4)


def _label_maps(seed=11):
    rng = np.random.default_rng(seed)
    maps = [(rng.integers(0, 4, (12, 12)), rng.integers(0, 4, (12, 12)), 4),
            (rng.integers(0, 3, (3, 8, 8)), rng.integers(0, 3, (3, 8, 8)), 3)]
    absent = np.zeros((6, 6), np.int64)
    absent[1:4, 1:4] = 1
    maps.append((absent, np.where(absent == 1, 1, 0) * (np.arange(6) < 3), 3))  # class 2 in neither mask
    return maps


@checker(hint="For each class c: a = pred == c, b = target == c; Dice = 2 * (a & b).sum() / (a.sum() + b.sum()), "
              "and 1.0 when a.sum() + b.sum() == 0 (nothing to find, nothing found).")
def dice_per_class(answer):
    """Dice per class of two label maps, compared with labkit.metrics.dice_score(pred, target, n_classes)."""
    from labkit.metrics import dice_score

    for pred, target, n_classes in _label_maps():
        expect_close(call(answer, pred, target, n_classes), dice_score(pred, target, n_classes=n_classes),
                     f"dice_per_class(label maps {pred.shape}, n_classes={n_classes})")


@checker(hint="Write Dice and IoU with I = |A and B| and U = |A or B|: |A| + |B| = U + I, so D = 2I / (U + I). "
              "Solve for I / U.")
def iou_from_dice(answer):
    """IoU from Dice, compared with labkit.metrics.iou_score of random masks (and the end points 0 and 1)."""
    from labkit.metrics import dice_score, iou_score

    rng = np.random.default_rng(12)
    for p, q in ((0.5, 0.5), (0.2, 0.7), (0.05, 0.9)):
        a, b = rng.random((32, 32)) < p, rng.random((32, 32)) < q
        expect_close(call(answer, dice_score(a, b)), iou_score(a, b), f"iou_from_dice({dice_score(a, b):.4f})")
    expect_close(call(answer, np.array([0.0, 1.0])), [0.0, 1.0], "iou_from_dice(np.array([0.0, 1.0]))")


# ------------------------------------------------------------ domain adaptation (13)
def _batches_to_normalise(seed=13):
    rng = np.random.default_rng(seed)
    constant = np.full((2, 2, 5, 5), 3.0, np.float32)
    constant[1, 1] = rng.normal(0, 1, (5, 5))
    return [rng.normal(0.4, 0.2, (3, 1, 8, 8)).astype(np.float32), rng.gamma(2.0, 50.0, (2, 3, 7, 9)).astype(np.float32),
            constant]


@checker(hint="Reduce over the pixel axes only, axis=(2, 3), with keepdims=True so the result broadcasts: "
              "(x - x.mean(axis=(2, 3), keepdims=True)) / (x.std(axis=(2, 3), keepdims=True) + eps).")
def zscore_per_image(answer):
    """Per-image, per-channel z-score of a batch (N, C, H, W), compared with NumPy (constant images give 0)."""
    for x in _batches_to_normalise():
        want = (x - x.mean(axis=(2, 3), keepdims=True)) / (x.std(axis=(2, 3), keepdims=True) + 1e-6)
        expect_close(call(answer, x), want, f"zscore_per_image(batch of shape {x.shape})", atol=1e-3)


def _bn_model_and_target(seed=14):
    """A small conv net with two BatchNorm layers whose running stats come from source data, and a target loader."""
    torch.manual_seed(seed)  # inside a checker: the caller's stream is restored by the fork_rng around this call
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.Conv2d(4, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Flatten(),
                                torch.nn.Dropout(0.5), torch.nn.Linear(3 * 4 * 4, 1))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _ in range(20):
            model(torch.rand(32, 1, 8, 8, generator=gen))
    x = 3 * torch.rand(96, 1, 8, 8, generator=gen) + 2   # the target scanner: brighter, more contrast
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(96)), batch_size=32)
    return model.eval(), loader


@checker(hint="For each BatchNorm layer: bn.reset_running_stats(); bn.momentum = None; bn.train(). Then, under "
              "torch.no_grad(), run model(x) for every batch; restore the momenta and return model.eval().")
def adapt_batchnorm(answer):
    """Test-time BN adaptation: running stats equal a cumulative re-estimate on the target; weights unchanged."""
    import copy

    with torch.random.fork_rng(devices=[]):
        model, loader = _bn_model_and_target()
    reference = copy.deepcopy(model)
    layers = [m for m in reference.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in layers:
        bn.reset_running_stats()
        bn.momentum = None
    with torch.no_grad():
        reference.train()
        for x, _ in loader:
            reference(x)
    weights = [p.detach().clone() for p in model.parameters()]
    out = call(answer, model, loader)
    expect_true(out is model, "return the model you were given (adapted in place)")
    expect_true(not any(m.training for m in model.modules()), "the returned model must be in eval mode")
    expect_true(all(torch.equal(p, q) for p, q in zip(weights, model.parameters())), "the weights must not change")
    got = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for i, (bn, ref) in enumerate(zip(got, layers)):
        expect_close(bn.running_mean, ref.running_mean, f"running_mean of BatchNorm layer {i}", atol=1e-3)
        expect_close(bn.running_var, ref.running_var, f"running_var of BatchNorm layer {i}", atol=1e-3, rtol=0.1)
        expect_true(bn.momentum == 0.1, f"restore the momentum of BatchNorm layer {i} (got {bn.momentum})")


# ------------------------------------------------------------ multi-modal fusion (14)
@checker(hint="Stack the arrays to (M, N), make weights an array (np.ones(M) when None), divide it by its sum, "
              "then take the weighted sum over the first axis: (w / w.sum()) @ probs.")
def late_fusion(answer):
    """Weighted mean of per-modality probabilities, compared with np.average (weights normalised)."""
    rng = np.random.default_rng(15)
    for m, n in ((2, 10), (3, 25), (1, 4)):
        probs = [rng.random(n) for _ in range(m)]
        for weights in (None, rng.random(m) * 3 + 0.1, [0.0] * (m - 1) + [2.0]):
            want = np.average(np.stack(probs), axis=0, weights=weights)
            expect_close(call(answer, probs, weights), want, f"late_fusion({m} arrays of {n}, weights={weights})",
                         atol=1e-6)


def _modalities(n=3000, seed=16):
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(n, 1, 4, 4, generator=gen) + 0.1, torch.rand(n, 2, 3, 3, generator=gen) + 0.1,
            torch.rand(n, 5, generator=gen) + 0.1]


@checker(hint="Draw drop = torch.rand(n, generator=generator) < p and which = torch.randint(M, (n,), "
              "generator=generator); zero modality m in the samples where drop & (which == m), with a mask, on a copy.")
def modality_dropout(answer):
    """Per sample, with probability p, exactly one modality zeroed; never all; seeded; inputs untouched."""
    batch = _modalities()
    before = [t.clone() for t in batch]
    for p in (0.0, 0.3, 1.0):
        out = call(answer, batch, p, torch.Generator().manual_seed(1))
        again = call(answer, batch, p, torch.Generator().manual_seed(1))
        expect_true(isinstance(out, (list, tuple)) and len(out) == 3, "return a list with one tensor per modality")
        expect_true(all(torch.equal(a, b) for a, b in zip(batch, before)), "do not change the input tensors")
        expect_true(all(torch.equal(a, b) for a, b in zip(out, again)), "same generator seed, same result: draw "
                    "every random number from `generator`")
        zeroed = torch.stack([(o.flatten(1) == 0).all(1) for o in out], 1)            # (N, M)
        kept = torch.stack([(o == t).flatten(1).all(1) for o, t in zip(out, batch)], 1)
        expect_true(bool((zeroed | kept).all()), "each sample's modality must be either unchanged or all zeros")
        expect_true(bool((zeroed.sum(1) <= 1).all()), f"p={p}: a sample lost more than one modality")
        rate = zeroed.any(1).float().mean().item()
        expect_true(abs(rate - p) < 0.04, f"p={p}: {rate:.3f} of the samples lost a modality, expected about {p}")
        if p == 1.0:
            share = zeroed.float().mean(0)
            expect_true(bool((abs(share - 1 / 3) < 0.04).all()), f"choose the modality uniformly: shares {share.tolist()}")
