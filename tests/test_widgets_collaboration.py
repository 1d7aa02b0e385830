"""Continual-learning and collaboration widgets driven without a browser: the drift explorer and the decision aid."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from labkit import widgets

matplotlib.use("Agg")

RNG = np.random.default_rng(0)
STRENGTHS = np.linspace(0.0, 1.0, 3)
REFERENCE = RNG.beta(2, 5, 2000)
INCOMING = np.stack([RNG.beta(2, 5, 2000), RNG.beta(2.5, 4, 2000), RNG.beta(5, 2, 2000)])


# ------------------------------------------------------------------------------------ drift
def test_drift_summary_alarms_grow_with_the_shift():
    none = widgets.drift_summary(REFERENCE, INCOMING, STRENGTHS, 0.0, 100, seed=1)
    strong = widgets.drift_summary(REFERENCE, INCOMING, STRENGTHS, 1.0, 100, seed=1)
    assert none["strength"] == 0.0 and none["alarm_rate"] <= 0.2
    assert strong["alarm_rate"] == 1.0 and len(strong["p_values"]) == 50 and len(strong["batch"]) == 100
    assert widgets.drift_summary(REFERENCE, INCOMING, STRENGTHS, 0.4, 20)["strength"] == 0.5   # nearest row


@pytest.mark.parametrize("args", [
    (REFERENCE[:, None], INCOMING, STRENGTHS, 0.5, 50),       # reference not 1-D
    (REFERENCE, INCOMING[:2], STRENGTHS, 0.5, 50),            # one row per strength
    (REFERENCE, INCOMING, STRENGTHS[::-1], 0.5, 50),          # strengths not increasing
    (REFERENCE, INCOMING, STRENGTHS, 0.5, 5000),              # batch larger than the pool
])
def test_drift_summary_bad_input(args):
    with pytest.raises(ValueError):
        widgets.drift_summary(*args)


def test_drift_explorer_redraws_and_survives():
    w = widgets.drift_explorer(REFERENCE, INCOMING, STRENGTHS, seed=0)
    assert w.last_error is None and list(w.controls)[0] == "strength"
    for strength, size in ((0.0, 10), (1.0, 200), (0.5, 50)):
        assert w.update(strength=strength, batch_size=size) is None
    assert plt.get_fignums() == []
    with pytest.raises(ValueError):
        widgets.drift_explorer(REFERENCE, INCOMING[:1], STRENGTHS)


# ------------------------------------------------------------------------------------ decision aid
def test_decision_summary_defers_uncertain_cases():
    sure = widgets.decision_summary([0.95, 0.97, 0.9, 0.99], conformal_q=0.3, defer_above=0.5)
    unsure = widgets.decision_summary([0.2, 0.8, 0.6, 0.4], conformal_q=0.6, defer_above=0.5)
    assert sure["ai_call"] == 1 and sure["set"] == (1,) and not sure["defer"] and "AI reads" in sure["advice"]
    assert unsure["set"] == (0, 1) and unsure["defer"] and "reader" in unsure["advice"]
    assert unsure["entropy"] == pytest.approx(1.0)
    plain = widgets.decision_summary([0.1, 0.2])
    assert "set" not in plain and not plain["defer"] and plain["ai_call"] == 0


@pytest.mark.parametrize("samples", [[0.5], [0.2, 1.4], [np.nan, 0.3]])
def test_decision_summary_bad_input(samples):
    with pytest.raises(ValueError):
        widgets.decision_summary(samples)


def test_decision_explorer_redraws_and_survives():
    images = RNG.random((3, 1, 16, 16)).astype(np.float32)
    samples, maps = RNG.random((4, 3)), RNG.random((3, 16, 16))
    w = widgets.decision_explorer(images, samples, maps, conformal_q=0.5, defer_above=0.8, labels=[0, 1, 1])
    assert w.last_error is None and list(w.controls)[0] == "case"
    for case, truth in ((2, False), (0, True), (1, True)):
        assert w.update(case=case, show_truth=truth) is None
    assert plt.get_fignums() == []
    with pytest.raises(ValueError):
        widgets.decision_explorer(images, samples[:, :2], maps)
