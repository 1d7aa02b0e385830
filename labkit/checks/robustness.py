"""Checkers for Part III, robustness and trust: lessons 13_domain_adaptation, 14_multimodal_fusion,
15_adversarial_attacks and 16_interpretability."""

import numpy as np
import torch

from labkit.checks.framework import call, checker, expect_close, expect_true, to_array

__all__ = ["fgsm", "project_linf", "saliency_map", "pointing_game", "integrated_gradients", "zscore_per_image",
           "adapt_batchnorm", "late_fusion", "modality_dropout"]


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


@checker(hint="FGSM takes one step of size eps in the direction of the sign of the loss gradient with respect to "
              "the input, then stays in the valid range.",
         formula="Make x require grad, loss = ((1 - 2 * y.float()) * model(x).reshape(len(x))).sum(), take "
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


@checker(hint="The L-infinity ball around x allows each pixel to move at most eps away from its own clean value.",
         formula="Each element must end up in [x - eps, x + eps]: torch.max(torch.min(x_adv, x + eps), x - eps). "
              "Clamp relative to x, not to [-eps, eps].")
def project_linf(answer):
    """Projection onto the L-infinity ball around x: elementwise clamp, compared with torch.clamp per element."""
    gen = torch.Generator().manual_seed(3)
    for shape, eps in (((4, 1, 5, 5), 0.05), ((2, 3, 4, 4), 0.3), ((7,), 0.0)):
        x = torch.rand(shape, generator=gen, dtype=torch.float64)
        x_adv = x + torch.randn(shape, generator=gen, dtype=torch.float64) * 0.2
        want = x + (x_adv - x).clamp(-eps, eps)
        expect_close(call(answer, x_adv, x, eps), want, f"project_linf(x_adv, x, eps={eps})", atol=1e-12)


@checker(hint="Saliency is the size of the gradient of the logit with respect to each input pixel.",
         formula="Make a copy of x require grad, take torch.autograd.grad(model(x)[:, 0].sum(), x) and return the "
              "absolute value of the gradient (same shape as x).")
def saliency_map(answer):
    """Absolute input gradient of the logit, compared with captum.attr.Saliency(abs=True)."""
    from captum.attr import Saliency

    with torch.random.fork_rng(devices=[]):
        cases = _tiny_models_and_batches()
    for model, x, _ in cases:
        want = Saliency(model).attribute(x.clone(), target=0, abs=True)
        expect_close(call(answer, model, x), want.detach(), "saliency_map(model, x)", atol=1e-9)


@checker(hint="For each image, find where the attribution peaks and ask whether that pixel lies inside the lesion "
              "mask.",
         formula="Per image, find the flat argmax of attr (attr.reshape(n, -1).argmax(1)), convert it with "
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


@checker(hint="Integrated Gradients averages the gradient of the logit along the straight path from the baseline to "
              "the image, then weighs each pixel by how far it moved along that path.",
         formula="For k in range(n_steps): alpha = (k + 0.5) / n_steps, point = baseline + alpha * (x - baseline) "
              "(requiring grad), add torch.autograd.grad(model(point)[:, 0].sum(), point)[0]; return "
              "(x - baseline) * total / n_steps.")
def integrated_gradients(answer):
    """IG with midpoint Riemann sums, compared with captum's IntegratedGradients(method='riemann_middle')."""
    from captum.attr import IntegratedGradients

    with torch.random.fork_rng(devices=[]):
        cases = _tiny_models_and_batches()
    for model, x, _ in cases:
        baseline = torch.full_like(x, 0.5)
        got = to_array(call(answer, model, x, baseline, 64), "integrated_gradients(model, x, baseline, 64)")
        with torch.no_grad():
            gap = (model(x) - model(baseline))[:, 0].numpy()
        expect_true(got.shape == tuple(x.shape) and np.allclose(got.reshape(len(x), -1).sum(1), gap,
                                                                atol=0.01 * np.abs(gap).max() + 1e-6),
                    "with 64 steps the attributions should add up (per image) to z(x) - z(baseline): completeness")
        for n_steps in (2, 7, 20):
            want = IntegratedGradients(model).attribute(x.clone(), baselines=baseline, target=0, n_steps=n_steps,
                                                        method="riemann_middle")
            expect_close(call(answer, model, x, baseline, n_steps), want.detach(),
                         f"integrated_gradients(model, x, baseline=0.5, n_steps={n_steps})", atol=1e-9)


def _batches_to_normalise(seed=13):
    rng = np.random.default_rng(seed)
    constant = np.full((2, 2, 5, 5), 3.0, np.float32)
    constant[1, 1] = rng.normal(0, 1, (5, 5))
    return [rng.normal(0.4, 0.2, (3, 1, 8, 8)).astype(np.float32), rng.gamma(2.0, 50.0, (2, 3, 7, 9)).astype(np.float32),
            constant]


@checker(hint="Each image (and channel) is normalised with the statistics of its own pixels only.",
         formula="Reduce over the pixel axes only, axis=(2, 3), with keepdims=True so the result broadcasts: "
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


@checker(hint="Only the BatchNorm running statistics change: reset them and re-estimate them from the target images"
              " without gradients.",
         formula="For each BatchNorm layer: bn.reset_running_stats(); bn.momentum = None; bn.train(). Then, under "
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


@checker(hint="Late fusion averages the voters' probabilities with normalised weights (equal weights when none are given).",
         formula="Stack the arrays to (M, N), make weights an array (np.ones(M) when None), divide it by its sum, "
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


@checker(hint="For each sample decide (with probability p) whether to drop, then which one modality, always with "
              "the given generator, and never change the inputs.",
         formula="Draw drop = torch.rand(n, generator=generator) < p and which = torch.randint(M, (n,), "
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
