"""labkit.uncertainty: stochastic predictions, uncertainty scores, selective prediction, deferral, conformal
prediction sets, triage."""

import numpy as np
import pytest
import torch

from labkit import models, uncertainty


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return models.SmallCNN(width=4, dropout=0.5)


@pytest.fixture(scope="module")
def images():
    return torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(1))


# ------------------------------------------------------------------------------------ stochastic predictions
def test_enable_dropout_keeps_batchnorm_in_eval(model):
    uncertainty.enable_dropout(model)
    kinds = {type(m).__name__: m.training for m in model.modules() if type(m).__name__ in ("Dropout", "BatchNorm2d")}
    assert kinds == {"Dropout": True, "BatchNorm2d": False}
    model.eval()


def test_mc_dropout_varies_repeats_and_leaves_the_model_in_eval(model, images):
    state = torch.random.get_rng_state()
    a = uncertainty.mc_dropout_probs(model, images, n_samples=5, seed=3)
    b = uncertainty.mc_dropout_probs(model, images.numpy(), n_samples=5, seed=3)
    assert a.shape == (5, 6) and torch.equal(a, b)
    assert a.std(dim=0).max() > 0
    assert not model.training and torch.equal(state, torch.random.get_rng_state())


def test_mc_dropout_without_dropout_gives_identical_samples(images):
    torch.manual_seed(0)
    plain = models.SmallCNN(width=4, dropout=0.0)
    samples = uncertainty.mc_dropout_probs(plain, images, n_samples=3)
    assert torch.allclose(samples, samples[0].expand_as(samples))


def test_ensemble_and_tta_shapes(model, images):
    torch.manual_seed(1)
    other = models.SmallCNN(width=4)
    assert uncertainty.ensemble_probs([model, other], images).shape == (2, 6)
    tta = uncertainty.tta_probs(model, images)
    assert tta.shape == (8, 6) and torch.all((tta >= 0) & (tta <= 1))


def test_dihedral_transforms_are_the_eight_distinct_symmetries():
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    outs = {tuple(t(x).flatten().tolist()) for t in uncertainty.dihedral_transforms()}
    assert len(outs) == 8


def test_stochastic_predictions_reject_bad_input(model, images):
    with pytest.raises(ValueError, match="n_samples"):
        uncertainty.mc_dropout_probs(model, images, n_samples=1)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        uncertainty.mc_dropout_probs(model, images[0], n_samples=2)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        uncertainty.tta_probs("model", images)
    with pytest.raises(ValueError, match="at least 2"):
        uncertainty.ensemble_probs([model], images)
    with pytest.raises(ValueError, match="one-logit"):
        uncertainty.tta_probs(models.SmallCNN(width=4, n_classes=3), images)


# ------------------------------------------------------------------------------------ scores
def test_summarize_samples_entropy_and_mutual_information():
    agree = np.array([[0.5, 0.9], [0.5, 0.9]])
    disagree = np.array([[0.0, 1.0], [1.0, 0.0]])
    s = uncertainty.summarize_samples(agree)
    assert s["entropy"][0] == pytest.approx(1.0) and s["mutual_information"] == pytest.approx([0, 0], abs=1e-9)
    d = uncertainty.summarize_samples(disagree)
    assert d["mean"] == pytest.approx([0.5, 0.5]) and d["mutual_information"] == pytest.approx([1, 1], abs=1e-6)
    single = uncertainty.summarize_samples(np.array([0.5, 0.9]))
    assert single["std"].tolist() == [0, 0] and single["mutual_information"].tolist() == [0, 0]
    with pytest.raises(ValueError, match="probabilities"):
        uncertainty.summarize_samples(np.array([[0.2, 1.5], [0.1, 0.2]]))


def test_error_auroc_matches_sklearn_and_rejects_one_class():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    errors, u = rng.random(50) < 0.3, rng.random(50)
    assert uncertainty.error_auroc(errors, u) == pytest.approx(roc_auc_score(errors, u))
    with pytest.raises(ValueError, match="both"):
        uncertainty.error_auroc(np.zeros(5), np.arange(5.0))


def test_risk_coverage_and_aurc():
    errors = np.array([0, 1, 0, 1])
    u = np.array([0.1, 0.9, 0.2, 0.8])   # errors are the most uncertain: an oracle ranking
    coverage, risk = uncertainty.risk_coverage(errors, u)
    assert coverage.tolist() == [0.25, 0.5, 0.75, 1.0] and risk.tolist() == [0, 0, 1 / 3, 0.5]
    assert uncertainty.aurc(errors, u) == pytest.approx(np.mean([0, 0, 1 / 3, 0.5]))
    assert uncertainty.aurc(errors, u) == pytest.approx(uncertainty.aurc(errors, errors))
    assert uncertainty.aurc(errors, -u) > uncertainty.aurc(errors, u)
    with pytest.raises(ValueError, match=r"\(4,\)"):
        uncertainty.risk_coverage(errors, u[:3])


# ------------------------------------------------------------------------------------ reader and deferral
def test_simulated_reader_has_the_stated_sensitivity_and_specificity():
    labels = np.r_[np.ones(20000), np.zeros(20000)]
    reader = uncertainty.simulate_reader(labels, 0.8, 0.9, seed=1)
    assert reader[labels == 1].mean() == pytest.approx(0.8, abs=0.01)
    assert 1 - reader[labels == 0].mean() == pytest.approx(0.9, abs=0.01)
    with pytest.raises(ValueError, match="sensitivity"):
        uncertainty.simulate_reader(labels, 1.2, 0.9)


def test_simulated_reader_takes_one_sensitivity_per_case():
    labels = np.ones(20000)
    sensitivity = np.r_[np.full(10000, 0.5), np.ones(10000)]
    reader = uncertainty.simulate_reader(labels, sensitivity, 0.9, seed=2)
    assert reader[:10000].mean() == pytest.approx(0.5, abs=0.02) and reader[10000:].all()
    same_draws = uncertainty.simulate_reader(labels, 0.75, 0.9, seed=2)
    assert np.all(same_draws[:10000] >= reader[:10000])   # one uniform draw per case: a lower rate only loses hits
    with pytest.raises(ValueError, match="one per case"):
        uncertainty.simulate_reader(labels, np.ones(3), 0.9)


def test_deferral_sends_the_most_uncertain_cases_to_the_reader():
    ai, reader = np.array([1, 1, 1, 1]), np.array([0, 0, 0, 0])
    team, deferred = uncertainty.defer_to_reader(ai, reader, np.array([0.1, 0.9, 0.5, 0.2]), 0.5)
    assert deferred.tolist() == [False, True, True, False] and team.tolist() == [1, 0, 0, 1]
    labels = np.array([1, 0, 0, 1])
    curve = uncertainty.team_accuracy_curve(labels, ai, reader, np.array([0.1, 0.9, 0.5, 0.2]), [0, 0.5, 1])
    assert curve.tolist() == [0.5, 1.0, 0.5]
    with pytest.raises(ValueError, match="fraction"):
        uncertainty.defer_to_reader(ai, reader, np.zeros(4), 1.5)


# ------------------------------------------------------------------------------------ conformal
def test_conformal_threshold_is_the_finite_sample_quantile():
    probs, labels = np.linspace(0.05, 0.95, 19), np.ones(19)
    scores = np.sort(1 - probs)
    assert uncertainty.conformal_threshold(probs, labels, 0.1) == pytest.approx(scores[17])   # ceil(20 * 0.9) = 18
    assert uncertainty.conformal_threshold(probs, labels, 0.01) == np.inf


def test_conformal_sets_cover_at_the_stated_level():
    rng = np.random.default_rng(0)
    probs = rng.random(4000)
    labels = (rng.random(4000) < probs).astype(int)   # calibrated probabilities
    q = uncertainty.conformal_threshold(probs[:2000], labels[:2000], 0.1)
    sets = uncertainty.prediction_sets(probs[2000:], q)
    assert sets.shape == (2000, 2)
    assert uncertainty.set_coverage(sets, labels[2000:]) == pytest.approx(0.9, abs=0.03)
    per_class = [uncertainty.conformal_threshold(probs[:2000][labels[:2000] == c], labels[:2000][labels[:2000] == c], 0.1)
                 for c in (0, 1)]
    sets_class = uncertainty.prediction_sets(probs[2000:], per_class)
    for c in (0, 1):
        chosen = labels[2000:] == c
        assert uncertainty.set_coverage(sets_class[chosen], labels[2000:][chosen]) == pytest.approx(0.9, abs=0.04)
    with pytest.raises(ValueError, match="one per class"):
        uncertainty.prediction_sets(probs, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="alpha"):
        uncertainty.conformal_threshold(probs, labels, 1.0)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        uncertainty.set_coverage(np.ones((4, 3)), np.ones(4))


# ------------------------------------------------------------------------------------ triage
def test_triage_reads_high_risk_positives_first():
    labels = np.array([0, 0, 1, 0, 1])
    waits = uncertainty.triage_waits(labels, risk=np.array([0.1, 0.2, 0.9, 0.3, 0.8]), per_hour=1)
    assert waits["ai"].tolist() == [1, 2] and waits["fifo"].tolist() == [3, 5]
    with pytest.raises(ValueError, match="per_hour"):
        uncertainty.triage_waits(labels, np.zeros(5), per_hour=0)
    with pytest.raises(ValueError, match="permutation"):
        uncertainty.triage_waits(labels, np.zeros(5), per_hour=1, arrival_order=[0, 0, 1, 2, 3])
