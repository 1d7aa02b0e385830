"""labkit.train: fit learns, repeats exactly, stops early with the best weights, and rejects bad input."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from labkit import train
from labkit.models import MLP


def _toy(n=128, seed=0, n_features=4):
    """Linearly separable points: label = (x0 + x1 > 0)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_features, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long()


def _loaders(seed=0, batch_size=32):
    x, y = _toy(seed=seed)
    g = torch.Generator().manual_seed(seed)
    return (DataLoader(TensorDataset(x[:96], y[:96]), batch_size=batch_size, shuffle=True, generator=g),
            DataLoader(TensorDataset(x[96:], y[96:]), batch_size=64))


def _model(seed=0, dropout=0.0, n_out=1):
    torch.manual_seed(seed)
    return MLP(4, hidden=(16,), n_out=n_out, dropout=dropout)


def test_fit_learns_separable_problem():
    train_loader, val_loader = _loaders()
    model = _model()
    history = train.fit(model, train_loader, val_loader, lr=0.05, n_epochs=15, metrics=["accuracy", "auc"],
                        progress=False)
    assert history.n_epochs == 15 and len(history.val_loss) == 15
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.metrics["accuracy"][-1] >= 0.9
    assert history.metrics["auc"][-1] >= 0.95
    assert history.best_epoch == int(np.argmin(history.val_loss))
    assert "accuracy" in history.as_table() and "*" in history.as_table()
    assert history.best()["epoch"] == history.best_epoch + 1
    assert repr(history).startswith("History(15 epochs, best epoch")
    assert history["val_accuracy"] is history.metrics["accuracy"]


def test_fit_multiclass_and_dict_batches():
    x, y = _toy()

    class Dicts(Dataset):
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            return {"image": x[i], "label": y[i]}

    model = _model(n_out=2)
    history = train.fit(model, DataLoader(Dicts(), batch_size=32), DataLoader(Dicts(), batch_size=64), lr=0.05,
                        n_epochs=8, metrics={"acc": lambda t, out: float((out.argmax(1) == t).float().mean())},
                        progress=False)
    assert history.metrics["acc"][-1] >= 0.9
    probs = train.predict(model, x, as_probs=True)
    assert probs.shape == (len(x), 2) and torch.allclose(probs.sum(1), torch.ones(len(x)))


def test_fit_segmentation_with_dice():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 1, 8, 8, generator=g)
    y = (x > 0).long()  # mask (N, 1, H, W): learnable by a 1x1 conv
    model = nn.Conv2d(1, 1, 1)
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    history = train.fit(model, loader, loader, lr=0.2, n_epochs=10, metrics=["dice"], progress=False)
    assert history.metrics["dice"][-1] > 0.9


def test_two_fits_with_the_same_seed_are_identical():
    runs = []
    for _ in range(2):
        train_loader, val_loader = _loaders(seed=3)
        model = _model(seed=1, dropout=0.3)
        before = torch.random.get_rng_state()
        runs.append(train.fit(model, train_loader, val_loader, n_epochs=3, progress=False, seed=7))
        assert torch.equal(before, torch.random.get_rng_state()), "fit must leave the global RNG untouched"
    assert runs[0].train_loss == runs[1].train_loss
    assert runs[0].val_loss == runs[1].val_loss
    other = train.fit(_model(seed=1, dropout=0.3), _loaders(seed=3)[0], n_epochs=3, progress=False, seed=8)
    assert other.train_loss != runs[0].train_loss  # dropout masks follow the seed


def test_early_stopping_restores_best_weights():
    train_loader, val_loader = _loaders()
    model = _model()
    snapshots = []
    score = iter([0.5, 0.9, 0.6, 0.7, 0.8, 0.95, 0.99])  # best at epoch index 1, then 3 worse epochs

    def fake_metric(y, logits):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(score)

    history = train.fit(model, train_loader, val_loader, lr=0.05, n_epochs=7, metrics={"score": fake_metric},
                        monitor="score", early_stopping=3, progress=False)
    assert history.stopped_early and history.n_epochs == 5 and history.best_epoch == 1
    for name, value in model.state_dict().items():
        assert torch.equal(value, snapshots[1][name]), name


def test_without_restore_keeps_last_weights():
    train_loader, val_loader = _loaders()
    model = _model()
    last = {}

    def remember(y, logits):
        last.update({k: v.clone() for k, v in model.state_dict().items()})
        return -len(last)  # every epoch worse than the first

    history = train.fit(model, train_loader, val_loader, n_epochs=4, metrics={"m": remember}, monitor="val_m",
                        early_stopping=2, restore_best=False, progress=False)
    assert history.best_epoch == 0 and history.n_epochs == 3
    assert all(torch.equal(v, last[k]) for k, v in model.state_dict().items())


def test_train_epoch_evaluate_predict():
    train_loader, val_loader = _loaders()
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.BCEWithLogitsLoss()
    before = train.evaluate(model, val_loader, loss_fn)
    for _ in range(5):
        mean_loss = train.train_epoch(model, train_loader, loss_fn, opt)
    assert isinstance(mean_loss, float)
    assert train.evaluate(model, val_loader) < before  # default loss picked from the outputs
    logits, targets = train.predict(model, val_loader, return_targets=True)
    assert logits.shape == (32,) and targets.shape == (32,) and not logits.requires_grad
    x, _ = _toy()
    assert torch.allclose(train.predict(model, x[96:].numpy(), batch_size=5), logits, atol=1e-6)
    probs = train.predict(model, x[96:], as_probs=True)
    assert torch.allclose(probs, torch.sigmoid(logits))


def test_progress_bar_runs(capsys):
    train_loader, _ = _loaders()
    train.fit(_model(), train_loader, n_epochs=2, progress=True)
    assert "2/2" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_epochs": 0}, ValueError, "n_epochs"),
    ({"early_stopping": 0}, ValueError, "early_stopping"),
    ({"monitor": "val_dice"}, ValueError, "monitor"),
    ({"metrics": ["precision@k"]}, ValueError, "unknown metric"),
    ({"metrics": {"m": 3}}, TypeError, "callables"),
])
def test_fit_rejects_bad_arguments(kwargs, error, match):
    train_loader, val_loader = _loaders()
    with pytest.raises(error, match=match):
        train.fit(_model(), train_loader, val_loader, progress=False, **kwargs)


def test_bad_inputs_give_clear_errors():
    train_loader, val_loader = _loaders()
    with pytest.raises(TypeError, match="nn.Module"):
        train.fit("model", train_loader, progress=False)
    with pytest.raises(TypeError, match="DataLoader"):
        train.fit(_model(), torch.zeros(3, 4), progress=False)
    with pytest.raises(ValueError, match="val_loader"):
        train.fit(_model(), train_loader, early_stopping=2, progress=False)
    with pytest.raises(ValueError, match="no targets"):
        train.evaluate(_model(), DataLoader(TensorDataset(torch.zeros(4, 4)), batch_size=2))
    with pytest.raises(ValueError, match="empty"):
        train.evaluate(_model(), [])
    with pytest.raises(ValueError, match="one target per output"):
        train.evaluate(_model(), [(torch.zeros(4, 4), torch.zeros(4, 3))], loss_fn=nn.BCEWithLogitsLoss())
    with pytest.raises(ValueError, match="'image'"):
        train.split_batch({"x": 1})


def test_custom_step_records_extras_and_equals_the_default_step():
    """fit with a step hook: the default step written out gives the same losses; extras are averaged per epoch."""
    runs = []
    for custom in (False, True):
        train_loader, _ = _loaders()
        calls = []

        def step(model, batch):
            x, y = batch
            calls.append(len(x))
            loss = nn.functional.binary_cross_entropy_with_logits(model(x)[:, 0], y.float())
            return loss, {"batch_size": float(len(x))}

        history = train.fit(_model(), train_loader, lr=0.05, n_epochs=3, progress=False,
                            step=step if custom else None)
        runs.append(history)
    assert np.allclose(runs[0].train_loss, runs[1].train_loss, atol=1e-7)
    assert runs[1].metrics["batch_size"] == [pytest.approx(32.0)] * 3   # 96 samples in batches of 32
    assert all(t > 0 for t in runs[1].epoch_time)


def test_step_must_return_a_scalar_loss():
    train_loader, _ = _loaders()
    with pytest.raises(TypeError, match="scalar loss"):
        train.fit(_model(), train_loader, n_epochs=1, progress=False, step=lambda model, batch: model(batch[0]))


def test_scheduler_changes_the_learning_rate_every_step():
    train_loader, _ = _loaders()
    history = train.fit(_model(), train_loader, lr=0.1, n_epochs=2, progress=False,
                        scheduler=lambda opt: torch.optim.lr_scheduler.LinearLR(opt, 1.0, 0.1, total_iters=6))
    assert len(history.step_lr) == 6 and history.step_lr[0] == pytest.approx(0.1)
    assert history.step_lr[-1] < history.step_lr[0]
    with pytest.raises(TypeError, match="scheduler"):
        train.fit(_model(), train_loader, n_epochs=1, progress=False, scheduler="cosine")


def test_to_device_and_batch_size_of_nested_batches():
    batch = ({"t1": torch.zeros(5, 1, 4, 4), "tab": torch.zeros(5, 3)}, torch.ones(5))
    moved = train.to_device(batch, "cpu")
    assert isinstance(moved, tuple) and set(moved[0]) == {"t1", "tab"}
    assert train.batch_size_of(batch) == 5 and train.batch_size_of("text") is None
