"""Checkers for Part IV, continual learning and human-AI collaboration: lessons 19_continual_learning and
20_human_ai_collaboration."""

import math

import numpy as np
import torch

from labkit.checks.framework import CheckFailed, call, checker, expect_close, expect_true, to_array

__all__ = ["forgetting_metrics", "ewc_penalty", "risk_coverage", "conformal_threshold"]


# ------------------------------------------------------------------------------------ 19_continual_learning
def _accuracy_matrices():
    """Accuracy matrices R (T, T) with T = 2..4: random ones, one where a stage improves later, one without
    forgetting."""
    rng = np.random.default_rng(19)
    mats = [rng.uniform(0.4, 1.0, (t, t)) for t in (2, 3, 3, 4)]
    mats.append(np.array([[0.9, 0.5, 0.5], [0.7, 0.95, 0.5], [0.8, 0.6, 0.9]]))   # stage 0 recovers after stage 1
    mats.append(np.array([[0.8, 0.5], [0.85, 0.9]]))                               # nothing forgotten
    return mats


def _reference_forgetting(acc):
    last = len(acc) - 1
    bwt = sum(acc[last, j] - acc[j, j] for j in range(last)) / last
    forgetting = sum(max(acc[l, j] for l in range(last)) - acc[last, j] for j in range(last)) / last
    return bwt, forgetting


@checker(hint="Both numbers compare the last row of the matrix (after the final stage) with earlier rows, for "
              "every stage except the last one. Backward transfer looks back at the moment each stage was "
              "learned (the diagonal); forgetting at the best score that stage ever had before the end.",
         formula="With T = len(R): bwt = mean over j < T-1 of R[T-1, j] - R[j, j]; forgetting = mean over "
              "j < T-1 of max(R[:T-1, j]) - R[T-1, j]. Return (bwt, forgetting) as two floats.")
def forgetting_metrics(answer):
    """Backward transfer and average forgetting of an accuracy matrix, against loops over the definitions."""
    for acc in _accuracy_matrices():
        got = call(answer, acc.copy())
        expect_true(isinstance(got, (tuple, list)) and len(got) == 2,
                    f"return two numbers (backward_transfer, forgetting), got {type(got).__name__}")
        bwt, forgetting = _reference_forgetting(acc)
        expect_close(got[0], bwt, f"backward transfer of a {len(acc)}x{len(acc)} matrix", atol=1e-9)
        expect_close(got[1], forgetting, f"forgetting of a {len(acc)}x{len(acc)} matrix", atol=1e-9)


def _tiny_model(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(2 * 4 * 4, 1)).double()


@checker(hint="EWC pulls every weight back towards the value it had after the earlier stage, more strongly the "
              "more that weight mattered there (its Fisher information). The result must be a tensor that "
              "torch can differentiate, so that the optimiser can follow it.",
         formula="sum over parameter names of (fisher[name] * (param - anchor[name]) ** 2).sum(), looping over "
              "model.named_parameters(); return the sum as a 0-d tensor (no .item(), no detach).")
def ewc_penalty(answer):
    """sum_i F_i (theta_i - theta*_i)^2 on small models, its value and its gradient (2 F (theta - theta*))."""
    with torch.random.fork_rng(devices=[]):
        for seed in (0, 1):
            model = _tiny_model(seed)
            gen = torch.Generator().manual_seed(seed + 10)
            anchor = {n: p.detach() + 0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype)
                      for n, p in model.named_parameters()}
            fisher = {n: torch.rand(p.shape, generator=gen, dtype=p.dtype) for n, p in model.named_parameters()}
            got = call(answer, model, fisher, anchor)
            expect_true(isinstance(got, torch.Tensor) and got.numel() == 1,
                        f"return a one-element torch tensor (keep the graph), got {type(got).__name__}")
            want = sum((fisher[n] * (p.detach() - anchor[n]) ** 2).sum() for n, p in model.named_parameters())
            expect_close(got.detach().reshape(()), want, "ewc_penalty(model, fisher, anchor)", atol=1e-9)
            expect_true(got.requires_grad, "the penalty has no gradient: do not detach it or call .item()")
            model.zero_grad()
            got.reshape(()).backward()
            for n, p in model.named_parameters():
                expect_close(p.grad, 2 * fisher[n] * (p.detach() - anchor[n]), f"the gradient for {n}", atol=1e-9)


# ------------------------------------------------------------------------------------ 20_human_ai_collaboration
def _selection_cases():
    rng = np.random.default_rng(20)
    cases = []
    for n in (10, 57, 200):
        errors = (rng.random(n) < 0.25).astype(int)
        cases.append((errors, rng.random(n) + 0.5 * errors))
    cases.append((np.array([1, 0, 0, 1, 0]), np.array([0.9, 0.1, 0.4, 0.2, 0.3])))
    return cases


@checker(hint="Accept the cases one by one from the least to the most uncertain. After each new case, coverage "
              "is the share of cases accepted so far and risk is the error rate among them.",
         formula="order = np.argsort(uncertainty, kind='stable'); k = np.arange(1, n + 1); coverage = k / n; "
              "risk = np.cumsum(errors[order]) / k. Return (coverage, risk).")
def risk_coverage(answer):
    """Risk-coverage curve, against an explicit loop over the accepted cases."""
    for errors, unc in _selection_cases():
        got = call(answer, errors.copy(), unc.copy())
        expect_true(isinstance(got, (tuple, list)) and len(got) == 2,
                    f"return two arrays (coverage, risk), got {type(got).__name__}")
        order = sorted(range(len(errors)), key=lambda i: unc[i])
        risk = [sum(errors[i] for i in order[:k]) / k for k in range(1, len(errors) + 1)]
        coverage = [k / len(errors) for k in range(1, len(errors) + 1)]
        expect_close(got[0], coverage, f"coverage for {len(errors)} cases", atol=1e-9)
        expect_close(got[1], risk, f"risk for {len(errors)} cases", atol=1e-9)


@checker(hint="The threshold is a quantile of the calibration scores 1 - P(true class), taken a little above "
              "1 - alpha to pay for the finite calibration set: with n scores, the k-th smallest, where "
              "k = ceil((n + 1)(1 - alpha)).",
         formula="scores = np.sort(1 - np.where(cal_labels == 1, cal_probs, 1 - cal_probs)); "
              "k = int(np.ceil((n + 1) * (1 - alpha))); return scores[k - 1] (or np.inf when k > n).")
def conformal_threshold(answer):
    """Split-conformal threshold: the k-th smallest score (k = ceil((n+1)(1-alpha))) by np.partition, and inf
    when k > n."""
    rng = np.random.default_rng(21)
    for n, alpha in ((50, 0.1), (199, 0.05), (1000, 0.2), (9, 0.3)):
        probs = rng.random(n)
        labels = (rng.random(n) < probs).astype(int)
        scores = 1 - np.where(labels == 1, probs, 1 - probs)
        k = math.ceil((n + 1) * (1 - alpha))
        want = np.partition(scores, k - 1)[k - 1] if k <= n else np.inf
        got = call(answer, probs.copy(), labels.copy(), alpha)
        try:
            value = float(to_array(got, "the threshold").reshape(()))
        except ValueError:
            raise CheckFailed(f"return one number (the threshold), got shape {np.shape(got)}") from None
        expect_close(value, want, f"conformal_threshold(n={n}, alpha={alpha})", atol=1e-12)
    got = call(answer, np.full(5, 0.7), np.ones(5, int), 0.05)   # too few scores for a 95 % guarantee
    expect_true(float(to_array(got).reshape(())) == np.inf,
                "with 5 calibration scores and alpha = 0.05, ceil(6 * 0.95) = 6 > 5: the threshold must be inf")
