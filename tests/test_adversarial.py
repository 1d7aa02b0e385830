"""labkit.adversarial: FGSM and PGD against captum, projection, robust accuracy, adversarial training, bad input."""

import numpy as np
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


def test_fgsm_random_start_stays_in_ball_is_seeded_and_raises_the_loss():
    model, (x, y) = _model(), _batch(64)
    a = adversarial.fgsm_random_start(model, x, y, 0.1, seed=3)
    assert torch.equal(a, adversarial.fgsm_random_start(model, x, y, 0.1, seed=3))
    assert not torch.equal(a, adversarial.fgsm_random_start(model, x, y, 0.1, seed=4))
    assert (a - x).abs().max() <= 0.1 + 1e-6 and a.min() >= 0 and a.max() <= 1
    with torch.no_grad():
        assert adversarial.attack_loss(model(a), y).mean() > adversarial.attack_loss(model(x), y).mean()
    assert torch.equal(adversarial.attack(model, x, y, 0.1, "fgsm_rs", seed=3), a)


def test_pgd_restarts_keep_the_worst_case_per_image():
    model, (x, y) = _model(), _batch(64)
    one = adversarial.pgd(model, x, y, 0.05, n_steps=3, seed=0)
    five = adversarial.pgd(model, x, y, 0.05, n_steps=3, n_restarts=5, seed=0)
    with torch.no_grad():
        loss_one, loss_five = adversarial.attack_loss(model(one), y), adversarial.attack_loss(model(five), y)
    assert bool((loss_five >= loss_one - 1e-6).all()) and (five - x).abs().max() <= 0.05 + 1e-6
    with pytest.raises(ValueError, match="n_restarts"):
        adversarial.pgd(model, x, y, 0.05, n_restarts=0)


def test_robust_correct_white_box_and_transfer():
    model, other, (x, y) = _model(0), _model(1), _batch(32)
    correct = adversarial.robust_correct(model, x, y, 0.1, "pgd", n_steps=5)
    assert correct.shape == (32,) and correct.dtype == bool
    assert adversarial.robust_accuracy(model, x, y, 0.1, "pgd", n_steps=5) == pytest.approx(correct.mean())
    transfer = adversarial.robust_correct(model, x, y, 0.1, "pgd", attack_model=other, n_steps=5)
    x_adv = adversarial.pgd(other, x, y, 0.1, n_steps=5)
    with torch.no_grad():
        want = ((model(x_adv)[:, 0] >= 0).long() == y).numpy()
    assert (transfer == want).all()
    with pytest.raises(TypeError, match="attack_model"):
        adversarial.robust_correct(model, x, y, 0.1, attack_model="other")


def test_adversarial_step_trains_with_fit_and_is_seeded():
    from labkit import train

    (x, y) = _batch(32)
    loader = [(x[:16], y[:16]), (x[16:], y[16:])]
    runs = []
    for _ in range(2):
        model = _model()
        history = train.fit(model, loader, n_epochs=5, lr=1e-2, device="cpu", progress=False,
                            step=adversarial.adversarial_step(0.05, seed=1))
        runs.append([p.detach().clone() for p in model.parameters()])
    assert history.train_loss[-1] < history.train_loss[0]
    assert np.allclose(history.train_loss, history.metrics["adversarial_loss"])   # adversarial images only
    assert all(torch.equal(a, b) for a, b in zip(*runs))
    mixed = adversarial.adversarial_step(0.05, "pgd", clean_weight=0.5, n_steps=2)
    loss, extras = mixed(_model().train(), (x, y))
    assert loss.dim() == 0 and "adversarial_loss" in extras
    with pytest.raises(ValueError, match="clean_weight"):
        adversarial.adversarial_step(0.05, clean_weight=2.0)
    with pytest.raises(ValueError, match="method"):
        adversarial.adversarial_step(0.05, method="magic")


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
