"""labkit.explain: attributions against captum, pointing game, mass fraction, randomisation, rank correlation."""

import numpy as np
import pytest
import torch

from labkit import explain, models


def _model(seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return models.SmallCNN(width=4, depth=2).eval()


def _x(n=3, seed=0):
    return torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("method", explain.METHODS)
def test_every_method_gives_nonnegative_maps_of_image_size(method):
    maps = explain.attribute(_model(), _x(), method, n_steps=4, window=4, stride=4)
    assert maps.shape == (3, 16, 16) and maps.dtype == torch.float32 and (maps >= 0).all()
    signed = explain.attribute(_model(), _x(), method, signed=True, n_steps=4, window=4, stride=4)
    assert signed.shape == (3, 16, 16)
    if method != "grad_cam":   # importance is the absolute value of the signed map (one channel)
        assert torch.allclose(signed.abs(), maps, atol=1e-6)


def test_integrated_gradients_is_complete_for_both_baselines():
    from captum.attr import IntegratedGradients

    model, x = _model(), _x()
    for kind in explain.BASELINES:
        reference = explain.make_baseline(x, kind)
        signed = explain.attribute(model, x, "integrated_gradients", signed=True, baseline=kind, n_steps=64)
        with torch.no_grad():
            gap = model(x)[:, 0] - model(reference)[:, 0]
        assert torch.allclose(signed.sum(dim=(1, 2)), gap, atol=0.02 * gap.abs().max().item() + 1e-4)
        _, delta = IntegratedGradients(model).attribute(x, baselines=reference, target=0, n_steps=64,
                                                        return_convergence_delta=True)
        assert torch.allclose(delta, signed.sum(dim=(1, 2)) - gap, atol=1e-4)
    assert torch.all(explain.make_baseline(x, "zeros") == 0)
    assert torch.allclose(explain.make_baseline(x, "mean")[:, :, 3, 5], x.mean(dim=(2, 3)))
    with pytest.raises(ValueError, match="baseline"):
        explain.make_baseline(x, "noise")


def test_saliency_matches_captum():
    from captum.attr import Saliency

    model, x = _model(), _x()
    want = Saliency(model).attribute(x.clone(), target=0, abs=True).sum(1)
    assert torch.allclose(explain.attribute(model, x, "saliency"), want)


def test_pointing_game_and_mass_fraction_on_known_maps():
    attr = np.zeros((2, 6, 6))
    attr[0, 1, 4], attr[1, 5, 5] = 1.0, 1.0
    masks = np.zeros((2, 6, 6), np.uint8)
    masks[:, 1, 4] = 1
    assert explain.pointing_game(attr, masks).tolist() == [True, False]
    assert explain.pointing_game(attr, masks, dilate=5).tolist() == [True, True]
    assert explain.mass_fraction(attr, masks).tolist() == [1.0, 0.0]
    assert explain.attribution_peaks(attr).tolist() == [[1, 4], [5, 5]]
    assert explain.dilate_masks(masks, 1)[0].sum() == 9
    flat = np.zeros((1, 6, 6))
    assert explain.pointing_game(flat, np.ones((1, 6, 6))).tolist() == [False]   # a constant map points nowhere


def test_randomize_weights_copies_and_changes_the_model():
    model = _model()
    before = [p.clone() for p in model.parameters()]
    random = explain.randomize_weights(model, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), random.parameters()))
    again = explain.randomize_weights(model, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(random.parameters(), again.parameters()))


def test_rank_correlation_matches_scipy():
    from scipy import stats

    rng = np.random.default_rng(0)
    a, b = rng.random((4, 5, 5)), rng.random((4, 5, 5))
    want = [stats.spearmanr(a[i].ravel(), b[i].ravel())[0] for i in range(4)]
    assert np.allclose(explain.rank_correlation(a, b), want)
    assert np.allclose(explain.rank_correlation(a, a), 1.0)
    b[1] = 0.0   # a constant map has no ranking: NaN, not 0
    rho = explain.rank_correlation(a, b)
    assert np.isnan(rho[1]) and np.isfinite(rho[[0, 2, 3]]).all()


def test_deletion_curve_deletes_the_top_ranked_pixels_first():
    class Sum(torch.nn.Module):   # logit = sum of the top-left quadrant minus 0.5 per pixel: a known model
        def forward(self, x):
            return (x[:, :, :8, :8] - 0.5).sum(dim=(1, 2, 3))[:, None]

    x = torch.ones(2, 1, 16, 16)
    x[:, :, 8:, :] = 0.0   # mean intensity 0.5, so deleting a quadrant pixel moves it to 0.5
    right = torch.zeros(2, 16, 16)
    right[:, :8, :8] = 1.0   # ranks the quadrant first
    wrong = 1.0 - right
    fractions = [0.0, 0.25, 0.5]
    good = explain.deletion_curve(Sum(), x, right, fractions)
    bad = explain.deletion_curve(Sum(), x, wrong, fractions)
    assert good.shape == (3, 2) and np.allclose(good[0], bad[0])
    assert np.allclose(good[1], 0.5) and bad[1].min() > 0.99   # the quadrant gone vs untouched
    with pytest.raises(ValueError, match="attr"):
        explain.deletion_curve(Sum(), x, right[:1], fractions)
    with pytest.raises(ValueError, match="fractions"):
        explain.deletion_curve(Sum(), x, right, [0.5, 1.5])


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="method"):
        explain.attribute(_model(), _x(), "magic")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        explain.attribute(_model(), _x()[0], "saliency")
    with pytest.raises(TypeError):
        explain.randomize_weights("model")
    with pytest.raises(ValueError, match="shape"):
        explain.pointing_game(np.zeros((2, 4, 4)), np.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match="grad_cam needs a layer"):
        explain.attribute(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 1)), _x(), "grad_cam")
