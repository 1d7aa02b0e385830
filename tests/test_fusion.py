"""labkit.fusion: models on dict inputs, late fusion, modality dropout, missing modalities, the training loop."""

import numpy as np
import pytest
import torch

from labkit import fusion


def _inputs(n=12, size=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return fusion.as_inputs(t1=torch.rand(n, 1, size, size, generator=gen),
                            t2=torch.rand(n, 1, size, size, generator=gen), tabular=torch.randn(n, 5, generator=gen))


@pytest.mark.parametrize("make", [lambda: fusion.SingleModalityNet("t1", width=4),
                                  lambda: fusion.SingleModalityNet("tabular"),
                                  lambda: fusion.EarlyFusionNet(width=4),
                                  lambda: fusion.IntermediateFusionNet(width=4),
                                  lambda: fusion.IntermediateFusionNet(width=4, tabular_features=0)])
def test_models_give_one_logit_per_sample(make):
    assert make()(_inputs()).shape == (12, 1)


def test_models_reject_missing_keys_and_non_dicts():
    with pytest.raises(KeyError, match="t2"):
        fusion.EarlyFusionNet(width=4)({"t1": torch.rand(2, 1, 16, 16)})
    with pytest.raises(TypeError, match="dict"):
        fusion.SingleModalityNet("t1", width=4)(torch.rand(2, 1, 16, 16))


def test_as_inputs_checks_lengths():
    out = fusion.as_inputs(a=np.zeros((3, 2)), b=torch.ones(3))
    assert out["a"].dtype == torch.float32 and out["b"].shape == (3,)
    with pytest.raises(ValueError, match="same number"):
        fusion.as_inputs(a=np.zeros((3, 2)), b=np.zeros(4))
    with pytest.raises(ValueError, match="at least one"):
        fusion.as_inputs()


def test_late_fusion_weighted_mean():
    p = [np.array([0.0, 1.0, 0.5]), np.array([1.0, 1.0, 0.0])]
    assert np.allclose(fusion.late_fusion(p), [0.5, 1.0, 0.25])
    assert np.allclose(fusion.late_fusion(p, [3, 1]), [0.25, 1.0, 0.375])
    assert np.allclose(fusion.late_fusion([torch.tensor([0.2, 0.4])]), [0.2, 0.4])
    with pytest.raises(ValueError, match="same length"):
        fusion.late_fusion([np.zeros(3), np.zeros(4)])
    with pytest.raises(ValueError, match="weights"):
        fusion.late_fusion(p, [1, -1])
    with pytest.raises(ValueError, match="weights"):
        fusion.late_fusion(p, [1, 2, 3])


def test_modality_dropout_properties():
    batch = [torch.rand(4000, 1, 2, 2) + 0.1, torch.rand(4000, 3) + 0.1]
    out = fusion.modality_dropout(batch, 0.4, torch.Generator().manual_seed(0))
    zeroed = torch.stack([(o.flatten(1) == 0).all(1) for o in out], 1)
    kept = torch.stack([(o == b).flatten(1).all(1) for o, b in zip(out, batch)], 1)
    assert bool((zeroed | kept).all()) and bool((zeroed.sum(1) <= 1).all())
    assert abs(zeroed.any(1).float().mean().item() - 0.4) < 0.03
    again = fusion.modality_dropout(batch, 0.4, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(out, again))
    assert all(torch.equal(a, b) for a, b in zip(fusion.modality_dropout(batch, 0.0, torch.Generator()), batch))


@pytest.mark.parametrize("args, error", [(([torch.zeros(2)], 0.5), TypeError),
                                         (([torch.zeros(2), torch.zeros(3)], 0.5), ValueError),
                                         (([torch.zeros(2), torch.zeros(2)], 1.5), ValueError),
                                         (([np.zeros(2), np.zeros(2)], 0.5), TypeError)])
def test_modality_dropout_bad_input(args, error):
    with pytest.raises(error):
        fusion.modality_dropout(*args, torch.Generator())
    with pytest.raises(TypeError, match="Generator"):
        fusion.modality_dropout([torch.zeros(2), torch.zeros(2)], 0.5, 0)


def test_replace_modality_fills_without_touching_the_rest():
    x = _inputs()
    zeros = fusion.replace_modality(x, "t2", 0.0)
    assert torch.all(zeros["t2"] == 0) and zeros["t1"] is x["t1"] and not torch.all(x["t2"] == 0)
    mean = x["t2"].mean(0)
    filled = fusion.replace_modality(x, "t2", mean)
    assert torch.allclose(filled["t2"][3], mean)
    with pytest.raises(KeyError, match="flair"):
        fusion.replace_modality(x, "flair")


def test_fit_and_predict_are_seeded_and_learn_an_easy_task():
    x = _inputs(n=64)
    y = (x["tabular"][:, 0] > 0).long().numpy()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = fusion.SingleModalityNet("tabular")
        history = fusion.fit_fusion(model, x, y, n_epochs=30, lr=1e-2, device="cpu", seed=0)
        runs.append(fusion.predict_fusion(model, x))
    assert np.array_equal(runs[0], runs[1]) and history.train_loss[-1] < history.train_loss[0]
    assert np.mean((runs[0] >= 0.5) == y) > 0.9
    model = fusion.EarlyFusionNet(width=4)
    fusion.fit_fusion(model, x, y, n_epochs=1, device="cpu", drop_p=0.5, drop_keys=("t1", "t2"))
    with pytest.raises(ValueError, match="labels"):
        fusion.fit_fusion(model, x, y[:5], n_epochs=1)


def test_fit_fusion_records_real_epoch_times():
    x = _inputs(n=16)
    y = (x["tabular"][:, 0] > 0).long().numpy()
    torch.manual_seed(0)
    history = fusion.fit_fusion(fusion.EarlyFusionNet(width=4), x, y, n_epochs=2, device="cpu", progress=False)
    assert history.n_epochs == 2 and all(t > 0 for t in history.epoch_time)
