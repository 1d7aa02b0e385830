"""Model cards: every required part present, numbers and intervals shown, bad input refused clearly."""

import pytest

from labkit import reporting
from labkit.validation import Interval


def _card(**overrides):
    args = dict(name="lesion classifier", intended_use="Flag CT crops with a lesion for a second read.",
                data={"training": "2000 generated crops", "test": "500 crops of held-out crop groups"},
                metrics={"ROC-AUC": Interval(0.91, 0.87, 0.95), "sensitivity": 0.8},
                limitations=["generated lesions", "one scanner"])
    args.update(overrides)
    return reporting.model_card(**args)


def test_card_has_required_sections_numbers_and_intervals():
    card = _card(privacy="DP-SGD, epsilon 4", ethical_considerations=["subgroup gaps measured"])
    assert card.startswith("# Model card: lesion classifier")
    assert reporting.card_sections(card) == ["Intended use", "Data", "Metrics", "Limitations", "Privacy",
                                             "Ethical considerations"]
    assert "| ROC-AUC | 0.910 | 0.870 to 0.950 (95%) |" in card
    assert "| sensitivity | 0.800 |  |" in card
    assert "- **training**: 2000 generated crops" in card and "- one scanner" in card


def test_format_metric():
    assert reporting.format_metric(0.5) == ("0.500", "")
    assert reporting.format_metric(Interval(0.5, 0.4, 0.6, level=0.9))[1] == "0.400 to 0.600 (90%)"


@pytest.mark.parametrize("overrides, error", [
    ({"name": ""}, ValueError), ({"name": None}, ValueError), ({"intended_use": "  "}, ValueError),
    ({"metrics": {}}, ValueError), ({"metrics": [0.9]}, ValueError), ({"metrics": {"auc": "high"}}, TypeError),
    ({"metrics": {"auc": float("nan")}}, ValueError), ({"metrics": {"auc": True}}, TypeError),
    ({"limitations": []}, ValueError), ({"data": None}, ValueError), ({"extra": 3}, ValueError),
])
def test_bad_input_is_refused(overrides, error):
    with pytest.raises(error):
        _card(**overrides)


def test_card_sections_needs_text():
    with pytest.raises(TypeError):
        reporting.card_sections(None)
