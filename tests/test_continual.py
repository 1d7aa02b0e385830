"""labkit.continual: drift tests, forgetting metrics, replay buffer, diagonal Fisher and EWC."""

import dataclasses

import numpy as np
import pytest
import torch

from labkit import continual


# ------------------------------------------------------------------------------------ drift tests
def test_ks_drift_matches_scipy_and_detects_a_shift():
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(0)
    ref, shifted = rng.random(200), rng.random(150) ** 2
    result = continual.drift_test(ref, shifted, method="ks")
    expected = ks_2samp(ref, shifted)
    assert isinstance(result, continual.DriftResult)
    assert result.statistic == pytest.approx(expected.statistic) and result.p_value == pytest.approx(expected.pvalue)
    assert result.drift and result.method == "ks"
    assert "drift" in str(result)


def test_drift_result_is_frozen_with_the_agreed_fields():
    result = continual.drift_test(np.linspace(0, 1, 20), np.linspace(0, 1, 30))
    assert [f.name for f in dataclasses.fields(result)] == ["statistic", "p_value", "drift", "method"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.drift = True
    assert result.drift is False


@pytest.mark.parametrize("method, shape", [("ks", (80,)), ("mmd", (60, 4))])
def test_false_alarm_rate_is_about_alpha(method, shape):
    rng = np.random.default_rng(1)
    alarms = [continual.drift_test(rng.normal(size=shape), rng.normal(size=shape), method=method, alpha=0.1,
                                   n_permutations=99, seed=i).drift for i in range(120)]
    assert np.mean(alarms) < 0.2


def test_mmd_detects_a_mean_shift_and_is_reproducible():
    rng = np.random.default_rng(2)
    ref, moved = rng.normal(size=(100, 5)), rng.normal(0.5, 1.0, size=(100, 5))
    a = continual.drift_test(ref, moved, method="mmd", n_permutations=200, seed=3)
    b = continual.drift_test(ref, moved, method="mmd", n_permutations=200, seed=3)
    assert a == b and a.drift and a.method == "mmd"
    assert a.p_value == pytest.approx(1 / 201)
    assert a.statistic == pytest.approx(continual.mmd2_rbf(ref, moved))


def test_mmd2_matches_a_direct_computation():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(40, 3))
    width = continual.median_bandwidth(x, y)
    k = lambda a, b: np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / (2 * width ** 2))
    kxx, kyy = k(x, x), k(y, y)
    expected = (kxx.sum() - 30) / (30 * 29) + (kyy.sum() - 40) / (40 * 39) - 2 * k(x, y).mean()
    assert continual.mmd2_rbf(x, y) == pytest.approx(expected, rel=1e-9)


def test_drift_test_accepts_tensors_and_column_vectors():
    ref = torch.linspace(0, 1, 50)
    result = continual.drift_test(ref[:, None], ref.numpy() * 0.5)
    assert result.drift


@pytest.mark.parametrize("kwargs, match", [
    (dict(reference=np.ones((5, 2)), incoming=np.ones(5)), "1-D"),
    (dict(reference=np.ones(5), incoming=np.ones(5), method="mmd"), "2-D"),
    (dict(reference=np.ones((5, 2)), incoming=np.ones((5, 3)), method="mmd"), "same number of features"),
    (dict(reference=np.ones(5), incoming=np.ones(5), method="t-test"), "method"),
    (dict(reference=np.ones(5), incoming=np.ones(5), alpha=1.5), "alpha"),
    (dict(reference=np.ones((5, 2)), incoming=np.ones((5, 2)), method="mmd", n_permutations=3), "n_permutations"),
    (dict(reference=np.array([0.1, np.nan, 0.3]), incoming=np.ones(5)), "NaN"),
    (dict(reference=np.ones(1), incoming=np.ones(5)), "N >= 2"),
])
def test_drift_test_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        continual.drift_test(**kwargs)


# ------------------------------------------------------------------------------------ forgetting metrics
R = np.array([[0.9, 0.5, 0.4],
              [0.7, 0.95, 0.5],
              [0.8, 0.6, 0.9]])


def test_backward_transfer_and_forgetting_follow_their_definitions():
    assert continual.backward_transfer(R) == pytest.approx(((0.8 - 0.9) + (0.6 - 0.95)) / 2)
    assert continual.average_forgetting(R) == pytest.approx(((0.9 - 0.8) + (0.95 - 0.6)) / 2)
    summary = continual.accuracy_matrix_summary(torch.as_tensor(R))
    assert summary["final_mean"] == pytest.approx(np.mean([0.8, 0.6, 0.9]))
    no_forgetting = np.array([[0.8, 0.5], [0.85, 0.9]])
    assert continual.average_forgetting(no_forgetting) == pytest.approx(-0.05)
    assert continual.backward_transfer(no_forgetting) == pytest.approx(0.05)


@pytest.mark.parametrize("bad", [np.ones((2, 3)), np.ones((1, 1)), np.ones(3), np.array([[0.5, np.nan], [0.1, 0.2]])])
def test_forgetting_metrics_reject_bad_matrices(bad):
    with pytest.raises(ValueError, match="accuracy matrix"):
        continual.backward_transfer(bad)


def test_plot_accuracy_matrix_labels_cells():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = continual.plot_accuracy_matrix(R, ["A", "B", "C"])
    assert len(ax.texts) == 9 and ax.get_title() == "Accuracy matrix"
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="one entry per stage"):
        continual.plot_accuracy_matrix(R, ["A", "B"])


# ------------------------------------------------------------------------------------ replay
def test_reservoir_keeps_a_uniform_sample_of_everything_seen():
    shares = []
    for seed in range(200):
        buffer = continual.ReplayBuffer(20, seed=seed)
        for site in range(3):   # three "sites" of 100 images, tagged by their label
            buffer.add(np.zeros((100, 1, 2, 2), np.float32), np.full(100, site))
        assert len(buffer) == 20 and buffer.n_seen == 300
        shares.append(np.bincount(buffer.labels, minlength=3) / 20)
    assert np.mean(shares, axis=0) == pytest.approx([1 / 3] * 3, abs=0.03)


def test_replay_buffer_fills_first_and_rejects_bad_input():
    buffer = continual.ReplayBuffer(10, seed=0).add(np.ones((4, 1, 2, 2)), np.arange(4))
    assert len(buffer) == 4 and buffer.images.dtype == np.float32
    assert len(continual.ReplayBuffer(0).add(np.ones((3, 1, 2, 2)), np.arange(3))) == 0
    with pytest.raises(ValueError, match="capacity"):
        continual.ReplayBuffer(-1)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        buffer.add(np.ones((4, 2, 2)), np.arange(4))
    with pytest.raises(ValueError, match="like the ones already stored"):
        buffer.add(np.ones((4, 1, 3, 3)), np.arange(4))


def test_replay_step_adds_a_memory_batch():
    from labkit import models

    torch.manual_seed(0)
    model = models.SmallCNN(width=4, batch_norm=False)
    buffer = continual.ReplayBuffer(8, seed=0).add(np.random.default_rng(0).random((8, 1, 16, 16)), np.ones(8, int))
    x, y = torch.rand(4, 1, 16, 16), torch.zeros(4, dtype=torch.long)
    with_memory = continual.replay_step(buffer, batch_size=4, seed=1)(model, (x, y))
    plain = continual.replay_step(continual.ReplayBuffer(8), batch_size=4)(model, (x, y))
    assert with_memory.dim() == 0 and not torch.isclose(with_memory, plain)
    with pytest.raises(TypeError, match="ReplayBuffer"):
        continual.replay_step([1, 2, 3])


# ------------------------------------------------------------------------------------ EWC
@pytest.fixture()
def small_model():
    from labkit import models

    torch.manual_seed(0)
    return models.SmallCNN(width=4, batch_norm=False)


def test_fisher_diagonal_matches_a_per_image_loop(small_model):
    x = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    fisher = continual.fisher_diagonal(small_model, x, batch_size=2)
    for name, p in small_model.named_parameters():
        expected = torch.zeros_like(p)
        for image in x:
            small_model.zero_grad()
            logit = small_model(image[None])[0, 0]
            logit.backward()
            q = torch.sigmoid(logit.detach())
            expected += q * (1 - q) * dict(small_model.named_parameters())[name].grad ** 2 / len(x)
        assert torch.allclose(fisher[name], expected, rtol=1e-4, atol=1e-10), name
    with pytest.raises(ValueError, match="one output"):
        from labkit import models
        continual.fisher_diagonal(models.SmallCNN(width=4, n_classes=3), x)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        continual.fisher_diagonal(small_model, x[0])


def test_ewc_penalty_is_zero_at_the_anchor_and_grows_away_from_it(small_model):
    anchor = continual.anchor_parameters(small_model)
    fisher = {k: torch.ones_like(v) for k, v in anchor.items()}
    assert continual.ewc_penalty(small_model, fisher, anchor).item() == 0.0
    with torch.no_grad():
        next(small_model.parameters()).add_(0.1)
    first = next(iter(anchor))
    assert continual.ewc_penalty(small_model, fisher, anchor).item() == pytest.approx(0.01 * anchor[first].numel(), rel=1e-4)
    with pytest.raises(ValueError, match="one tensor per trainable parameter"):
        continual.ewc_penalty(small_model, {"w": torch.ones(1)}, anchor)


def test_ewc_step_adds_the_weighted_penalty(small_model):
    anchor = {k: v + 0.05 for k, v in continual.anchor_parameters(small_model).items()}
    fisher = {k: torch.ones_like(v) for k, v in anchor.items()}
    batch = (torch.rand(4, 1, 16, 16), torch.tensor([0, 1, 0, 1]))
    base = continual.ewc_step(fisher, anchor, 0.0)(small_model, batch)[0]
    loss, extras = continual.ewc_step(fisher, anchor, 10.0)(small_model, batch)
    assert loss.item() == pytest.approx(base.item() + 5.0 * extras["ewc_penalty"], rel=1e-5)
    with pytest.raises(ValueError, match="strength"):
        continual.ewc_step(fisher, anchor, -1.0)
