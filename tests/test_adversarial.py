"""labkit.adversarial: FGSM and PGD against captum, projection, robust accuracy, adversarial training, bad input."""

import pytest
import torch
from torch import nn

from labkit import adversarial


def _model(seed=0, n_out=1):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, n_out)).eval()


def _batch(n=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=gen), torch.randint(0, 2, (n,), generator=gen)


@pytest.mark.parametrize("eps", [0.0, 0.02, 0.2])
def test_fgsm_matches_captum_and_stays_in_ball_and_range(eps):
    from captum.robust import FGSM

    model, (x, y) = _model(), _batch()
    got = adversarial.fgsm(model, x, y, eps)
    want = FGSM(model, loss_func=adversarial.attack_loss, lower_bound=0, upper_bound=1).perturb(x.clone(), eps, y)
    assert torch.allclose(got, want, atol=1e-7)
    assert (got - x).abs().max() <= eps + 1e-7 and got.min() >= 0 and got.max() <= 1


def test_fgsm_raises_the_attack_loss_and_works_for_multiclass():
    model, (x, y) = _model(), _batch()
    x_adv = adversarial.fgsm(model, x, y, 0.1)
    with torch.no_grad():
        assert adversarial.attack_loss(model(x_adv), y).sum() > adversarial.attack_loss(model(x), y).sum()
    multi = _model(n_out=3)
    y3 = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    assert adversarial.fgsm(multi, x, y3, 0.1).shape == x.shape


def test_pgd_is_deterministic_bounded_and_at_least_as_strong_as_fgsm():
    model, (x, y) = _model(), _batch(64)
    a = adversarial.pgd(model, x, y, 0.1, n_steps=5, seed=1)
    assert torch.equal(a, adversarial.pgd(model, x, y, 0.1, n_steps=5, seed=1))
    assert (a - x).abs().max() <= 0.1 + 1e-6 and a.min() >= 0 and a.max() <= 1
    assert adversarial.robust_accuracy(model, x, y, 0.1, "pgd", n_steps=10) <= \
        adversarial.robust_accuracy(model, x, y, 0.1, "fgsm") + 0.05


def test_project_linf_is_an_elementwise_clamp():
    x, _ = _batch()
    far = x + torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    p = adversarial.project_linf(far, x, 0.05)
    assert (p - x).abs().max() <= 0.05 + 1e-7
    assert torch.equal(adversarial.project_linf(p, x, 0.05), p)   # idempotent


def test_robust_accuracy_at_zero_eps_is_clean_accuracy():
    model, (x, y) = _model(), _batch(32)
    with torch.no_grad():
        clean = ((model(x)[:, 0] >= 0).long() == y).float().mean().item()
    assert adversarial.robust_accuracy(model, x, y, 0.0) == pytest.approx(clean)


def test_adversarial_epoch_trains():
    model, (x, y) = _model(), _batch(32)
    loader = [(x[:16], y[:16]), (x[16:], y[16:])]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = [adversarial.adversarial_epoch(model, loader, opt, 0.05) for _ in range(5)]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("args,error", [(("not a model",), TypeError), ((None, "x"), ValueError),
                                        ((None, None, "y"), ValueError), ((None, None, None, -1.0), ValueError)])
def test_bad_input_is_rejected_early(args, error):
    model, (x, y) = _model(), _batch()
    full = list(args) + [None] * (4 - len(args))
    call = [a if a is not None else d for a, d in zip(full, (model, x, y, 0.1))]
    with pytest.raises(error):
        adversarial.fgsm(*call)
    with pytest.raises(ValueError, match="method"):
        adversarial.attack(model, x, y, 0.1, method="magic")
    with pytest.raises(ValueError, match="same shape"):
        adversarial.project_linf(x, x[:2], 0.1)
