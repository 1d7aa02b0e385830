"""labkit.widgets.history_explorer driven without a browser: run selection, quantities, bad input."""

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from labkit import train, widgets

matplotlib.use("Agg")


def _histories():
    a = train.History(train_loss=[0.7, 0.5, 0.3], val_loss=[0.7, 0.6, 0.65], metrics={"accuracy": [0.5, 0.7, 0.68]})
    b = train.History(train_loss=[0.7, math.nan], val_loss=[0.69, math.inf], metrics={"accuracy": [0.5, 0.5]})
    c = train.History(train_loss=[0.6], val_loss=[0.6], metrics={"accuracy": [0.6]})
    return {"baseline": a, "lr=10": b, "short": c}


def test_history_curves():
    curves = widgets.history_curves(_histories(), ["baseline", "short"], "accuracy")
    assert list(curves) == ["baseline", "short"]
    assert np.allclose(curves["baseline"], [0.5, 0.7, 0.68]) and curves["short"].shape == (1,)
    assert widgets.history_curves(_histories(), [], "val_loss") == {}
    with pytest.raises(ValueError, match="unknown run"):
        widgets.history_curves(_histories(), ["nope"])
    with pytest.raises(KeyError):
        widgets.history_curves(_histories(), ["baseline"], "dice")


def test_history_explorer_redraws_and_never_raises(capsys):
    w = widgets.history_explorer(_histories())
    assert w.last_error is None and w.controls["runs"].value == ("baseline", "lr=10")
    assert "best val_loss 0.6 at epoch 2 of 3" in capsys.readouterr().out
    assert w.update(runs=("lr=10",), quantity="train_loss", log_scale=True) is None  # NaN/inf curves still draw
    assert w.update(runs=()) is None and "select at least one run" in capsys.readouterr().out
    w = widgets.history_explorer(_histories(), quantities=("val_loss", "dice"))
    assert w.update(quantity="dice") is not None  # an unknown quantity becomes a message, not a traceback
    assert "Could not draw" in w.last_error and "dice" in w.last_error
    assert plt.get_fignums() == []


def test_history_explorer_rejects_bad_input_at_build_time():
    with pytest.raises(AttributeError):
        widgets.history_explorer({"a": [0.1, 0.2]})
