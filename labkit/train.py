"""Training loop: ``fit`` with a progress bar and a :class:`History`, plus ``train_epoch``, ``evaluate``, ``predict``.

Introduced in 05_classification.ipynb (the lesson writes the loop by hand first). It is the course's one training
loop: what differs between tasks (a DANN's two losses, a fusion model's dict inputs, adversarial training) is a
*step*, a function ``step(model, batch) -> loss`` (or ``(loss, {name: float})``) that ``fit`` and ``train_epoch``
call for every mini-batch, already moved to the device; see :func:`supervised_step`.

Batches may be ``(x, y)`` tuples/lists (extra items are ignored) or dicts with ``"image"`` and ``"label"``
(or ``"mask"``) keys, as MONAI datasets give. Outputs and targets:

* binary: logits (N,) or (N, 1), targets (N,) in {0, 1}; default loss ``BCEWithLogitsLoss``;
* multi-class: logits (N, C), targets (N,) int64 in [0, C); default loss ``CrossEntropyLoss``;
* segmentation: logits (N, C, H, W), masks (N, H, W) or (N, 1, H, W); pass your own ``loss_fn`` if you like.

For BCE/MSE-type losses the target is cast to float and reshaped to the logits' shape; for cross-entropy it is
cast to int64 (a singleton channel dimension is dropped). Any other ``loss_fn`` gets the batch as it comes.
"""

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = ["History", "fit", "train_epoch", "evaluate", "predict", "pick_loss", "split_batch", "supervised_step",
           "to_device", "batch_size_of"]

_FLOAT_TARGET_LOSSES = (nn.BCEWithLogitsLoss, nn.BCELoss, nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss)


@dataclass(repr=False)
class History:
    """Per-epoch record of a ``fit``: losses, validation metrics and the best epoch.

    ``best_epoch`` is a 0-based index into the lists (tables and plots number epochs from 1).
    ``metrics`` maps a metric name to its per-epoch values: validation metrics, and the per-epoch means of the
    extra numbers a custom step returns (for example a DANN's domain loss). ``epoch_time``: seconds per epoch;
    ``step_lr``: the learning rate of every optimiser step (it changes under a ``scheduler``).
    """

    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    epoch_time: list = field(default_factory=list)
    step_lr: list = field(default_factory=list)
    best_epoch: int = None
    monitor: str = "val_loss"
    stopped_early: bool = False

    @property
    def n_epochs(self):
        """Number of epochs actually run."""
        return len(self.train_loss)

    def values(self, name):
        """Per-epoch values of ``name``: 'train_loss', 'val_loss', or a metric (with or without 'val_')."""
        if name in ("train_loss", "val_loss"):
            return getattr(self, name)
        key = name[4:] if name.startswith("val_") and name[4:] in self.metrics else name
        if key not in self.metrics:
            known = ["train_loss", "val_loss", *self.metrics]
            raise KeyError(f"history has no {name!r}; it has {known}")
        return self.metrics[key]

    def row(self, i):
        """Dict of every value recorded at epoch index ``i`` (0-based; -1 = the last epoch)."""
        row = {"train_loss": self.train_loss[i]}
        if self.val_loss:
            row["val_loss"] = self.val_loss[i]
        row.update({k: v[i] for k, v in self.metrics.items()})
        return row

    def best(self):
        """Dict of every value at the best epoch, with 'epoch' counted from 1 ({} before any epoch)."""
        return {} if self.best_epoch is None else {"epoch": self.best_epoch + 1, **self.row(self.best_epoch)}

    def as_table(self):
        """A plain-text table, one row per epoch; the best epoch is marked with '*'."""
        if not self.train_loss:
            return "(no epochs)"
        lines = ["epoch  " + "  ".join(f"{n:>12}" for n in self.row(0)) + "  time_s"]
        for i in range(self.n_epochs):
            mark = "*" if i == self.best_epoch else " "
            cells = "  ".join(f"{v:12.4f}" for v in self.row(i).values())
            lines.append(f"{i + 1:>4}{mark}  {cells}  {self.epoch_time[i]:6.1f}")
        return "\n".join(lines)

    __getitem__ = values

    def __str__(self):
        return self.as_table()

    def __repr__(self):
        best = ", ".join(f"{k} {v:.4g}" for k, v in self.best().items() if k != "epoch")
        where = f"best epoch {self.best_epoch + 1} ({best})" if self.best_epoch is not None else "no best epoch"
        return f"History({self.n_epochs} epochs, {where}{', stopped early' if self.stopped_early else ''})"


def split_batch(batch):
    """Return ``(x, y)`` from a batch: a tuple/list ``(x, y, ...)``, a dict with 'image' and 'label'/'mask',
    or a lone tensor (then ``y`` is None)."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, dict):
        if "image" not in batch:
            raise ValueError(f"a dict batch needs an 'image' key, got keys {sorted(batch)}")
        return batch["image"], batch.get("label", batch.get("mask"))
    if isinstance(batch, (tuple, list)) and len(batch) >= 1:
        return batch[0], (batch[1] if len(batch) > 1 else None)
    raise TypeError(f"expected a batch (x, y), a dict with 'image'/'label', or a tensor; got {type(batch).__name__}")


def pick_loss(logits):
    """Default loss for model outputs ``logits``: BCEWithLogitsLoss if there is one output (N,) or (N, 1, ...),
    else CrossEntropyLoss (N, C, ...)."""
    if logits.dim() == 1 or logits.shape[1] == 1:
        return nn.BCEWithLogitsLoss()
    return nn.CrossEntropyLoss()


def _match_target(loss_fn, logits, y):
    """Cast/reshape the target to what the standard torch losses expect (see the module docstring)."""
    if isinstance(loss_fn, _FLOAT_TARGET_LOSSES):
        if y.numel() != logits.numel():
            raise ValueError(f"{type(loss_fn).__name__} needs one target per output: logits {tuple(logits.shape)}, "
                             f"target {tuple(y.shape)}")
        return y.to(logits.dtype).reshape(logits.shape)
    if isinstance(loss_fn, (nn.CrossEntropyLoss, nn.NLLLoss)):
        if y.dim() == logits.dim() and y.shape[1] == 1 and logits.shape[1] != 1:
            y = y[:, 0]
        return y if y.is_floating_point() and y.shape == logits.shape else y.long()  # probabilities or labels
    return y


def to_device(batch, device):
    """``batch`` with every tensor moved to ``device``: tensors, and tuples, lists and dicts of them (nested)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def batch_size_of(batch):
    """Number of samples in ``batch``: the length of its first tensor (searched in tuples, lists and dicts)."""
    if isinstance(batch, torch.Tensor):
        return len(batch)
    items = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (tuple, list)) else ()
    for item in items:
        n = batch_size_of(item)
        if n is not None:
            return n
    return None


def _compute_loss(loss_fn, logits, y):
    if y is None:
        raise ValueError("the loader gives no targets: batches must be (x, y) or dicts with 'image' and 'label'")
    return loss_fn(logits, _match_target(loss_fn, logits, y))


def supervised_step(loss_fn=None):
    """The default step: ``step(model, batch) -> loss`` with ``x, y = split_batch(batch)``, ``loss_fn(model(x), y)``.

    loss_fn: None picks :func:`pick_loss` from the first outputs (BCE for one output, cross-entropy for several).
    """
    chosen = {"fn": loss_fn}

    def step(model, batch):
        x, y = split_batch(batch)
        logits = model(x)
        if chosen["fn"] is None:
            chosen["fn"] = pick_loss(logits)
        return _compute_loss(chosen["fn"], logits, y)

    return step


def _model_device(model):
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _check_model_loader(model, loader):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if loader is None or not hasattr(loader, "__iter__") or isinstance(loader, torch.Tensor):
        raise TypeError(f"expected a DataLoader (or any iterable of batches), got {type(loader).__name__}")


def _unpack_step(out):
    """A step's return value -> (loss tensor, dict of extra floats)."""
    loss, extras = (out if isinstance(out, tuple) else (out, {}))
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise TypeError(f"a step must return a scalar loss tensor (or (loss, dict)), got {type(loss).__name__} "
                        f"{tuple(getattr(loss, 'shape', ()))}")
    return loss, extras


def _train_pass(model, loader, step, optimizer, device, scheduler=None, step_lr=None):
    """One pass of ``step`` over ``loader`` -> (mean loss per sample, {extra name: mean per sample})."""
    model.train()
    total, count, extra_sums = 0.0, 0, {}
    for batch in loader:
        batch = to_device(batch, device)
        n = batch_size_of(batch) or 1
        loss, extras = _unpack_step(step(model, batch))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step_lr is not None:
            step_lr.append(float(optimizer.param_groups[0]["lr"]))
        if scheduler is not None:
            scheduler.step()
        total, count = total + loss.item() * n, count + n
        for name, value in extras.items():
            extra_sums[name] = extra_sums.get(name, 0.0) + float(value) * n
    if count == 0:
        raise ValueError("the training loader is empty")
    return total / count, {name: value / count for name, value in extra_sums.items()}


def train_epoch(model, loader, loss_fn, optimizer, device=None, step=None):
    """Train ``model`` for one pass over ``loader``; return the mean loss per sample (float).

    ``loss_fn``: None picks :func:`pick_loss` from the outputs. ``device``: default the model's device.
    ``step``: a custom ``step(model, batch) -> loss`` (then ``loss_fn`` is not used). The model is put in
    train mode.
    """
    _check_model_loader(model, loader)
    device = torch.device(device) if device is not None else _model_device(model)
    return _train_pass(model, loader, step or supervised_step(loss_fn), optimizer, device)[0]


def _run_eval(model, loader, loss_fn, device, keep):
    """Loss over ``loader`` in eval mode, and (if ``keep``) all targets and outputs on the CPU."""
    model.eval()
    total, count, ys, outs = 0.0, 0, [], []
    with torch.no_grad():
        for batch in loader:
            x, y = split_batch(to_device(batch, device))
            n = batch_size_of(x)
            logits = model(x)
            loss_fn = pick_loss(logits) if loss_fn is None else loss_fn
            total += _compute_loss(loss_fn, logits, y).item() * n
            count += n
            if keep:
                ys.append(y.cpu())
                outs.append(logits.cpu())
    if count == 0:
        raise ValueError("the evaluation loader is empty")
    return (total / count, torch.cat(ys), torch.cat(outs)) if keep else total / count


def evaluate(model, loader, loss_fn=None, device=None):
    """Mean loss per sample of ``model`` over ``loader`` (float), in eval mode without gradients.

    ``loss_fn`` defaults to :func:`pick_loss` of the outputs; ``device`` to the model's device.
    """
    _check_model_loader(model, loader)
    device = torch.device(device) if device is not None else _model_device(model)
    return _run_eval(model, loader, loss_fn, device, keep=False)


def _iter_inputs(data, batch_size):
    if isinstance(data, np.ndarray):
        data = torch.as_tensor(data.astype(np.float32) if data.dtype == np.float64 else data)
    if isinstance(data, torch.Tensor):
        if data.dim() == 0:
            raise ValueError("predict needs a batch of inputs, got a 0-d tensor")
        return ((data[i:i + batch_size], None) for i in range(0, len(data), batch_size))
    if not hasattr(data, "__iter__"):
        raise TypeError(f"expected a DataLoader, a tensor or an array, got {type(data).__name__}")
    return (split_batch(b) for b in data)


def predict(model, data, device=None, batch_size=64, as_probs=False, return_targets=False):
    """Model outputs for ``data`` (a DataLoader, or a tensor/array of inputs (N, ...)), as a CPU float tensor.

    Runs in eval mode under ``torch.no_grad``. One-output models give (N,) instead of (N, 1).
    ``as_probs=True`` applies a sigmoid (one output) or a softmax over dim 1 (several).
    ``return_targets=True`` also returns the loader's targets (CPU tensor), as ``(outputs, targets)``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    device = torch.device(device) if device is not None else _model_device(model)
    model.eval()
    outs, ys = [], []
    with torch.no_grad():
        for x, y in _iter_inputs(data, batch_size):
            outs.append(model(torch.as_tensor(x).to(device)).float().cpu())
            ys.append(y.cpu() if isinstance(y, torch.Tensor) else y)
    if not outs:
        raise ValueError("predict got no inputs (empty loader or tensor)")
    out = torch.cat(outs)
    if out.dim() == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if as_probs:
        out = torch.sigmoid(out) if out.dim() == 1 or out.shape[1] == 1 else torch.softmax(out, dim=1)
    if not return_targets:
        return out
    if any(y is None for y in ys):
        raise ValueError("return_targets=True needs a loader whose batches carry targets")
    return out, torch.cat(ys)


def _to_labels(logits):
    """Hard predictions: logit >= 0 for one output (channel dropped), else argmax over dim 1."""
    if logits.dim() == 1 or logits.shape[1] == 1:
        return (logits.reshape(len(logits), *logits.shape[2:]) >= 0).long()
    return logits.argmax(1)


def _named_metric(name):
    """Metric by name as ``fn(target, logits) -> float``: binary, multi-class or (for 'dice') segmentation."""
    from labkit import metrics

    def score(y, logits):
        pred = _to_labels(logits)
        y = y[:, 0] if y.dim() == pred.dim() + 1 and y.shape[1] == 1 else y
        if name in ("roc_auc", "auc"):
            one = logits.dim() == 1 or logits.shape[1] == 1
            return metrics.roc_auc(y, torch.sigmoid(logits.reshape(-1)) if one else torch.softmax(logits, 1))
        if name == "dice":
            n_classes = logits.shape[1] if logits.dim() > 1 and logits.shape[1] > 1 else None
            value = metrics.dice_score(pred, y, n_classes=n_classes)
            return float(np.nanmean(value[1:])) if n_classes else value  # foreground classes only
        if name == "accuracy":
            return metrics.accuracy(y, pred)
        multi = logits.dim() > 1 and logits.shape[1] > 1
        return getattr(metrics, name)(y, pred, average="macro" if multi else "binary")

    if name not in ("accuracy", "roc_auc", "auc", "sensitivity", "specificity", "f1", "dice"):
        raise ValueError(f"unknown metric {name!r}: use 'accuracy', 'roc_auc' (or 'auc'), 'sensitivity', "
                         "'specificity', 'f1', 'dice', or pass a dict name -> fn(y, logits)")
    return score


def _resolve_metrics(metrics):
    if metrics is None:
        return {}
    if isinstance(metrics, str):
        metrics = [metrics]
    if isinstance(metrics, dict):
        bad = [k for k, f in metrics.items() if not callable(f)]
        if bad:
            raise TypeError(f"metrics values must be callables fn(y, logits) -> float; not callable: {bad}")
        return dict(metrics)
    return {name: _named_metric(name) for name in metrics}


def _is_better(value, best, mode):
    if math.isnan(value):
        return False
    return best is None or (value < best if mode == "min" else value > best)


def _check_fit_args(model, train_loader, val_loader, n_epochs, early_stopping, metrics, monitor):
    """Validate ``fit``'s arguments; return (metric functions, monitored name, 'min' or 'max')."""
    _check_model_loader(model, train_loader)
    if not isinstance(n_epochs, int) or n_epochs < 1:
        raise ValueError(f"n_epochs must be a positive int, got {n_epochs!r}")
    if early_stopping is not None and (not isinstance(early_stopping, int) or early_stopping < 1):
        raise ValueError(f"early_stopping must be None or a patience (int >= 1), got {early_stopping!r}")
    metric_fns = _resolve_metrics(metrics)
    key = monitor[4:] if monitor.startswith("val_") and monitor[4:] in metric_fns else monitor
    if key not in ("train_loss", "val_loss", *metric_fns):
        raise ValueError(f"monitor must be 'train_loss', 'val_loss' or a metric name, got {monitor!r}")
    if val_loader is None and metric_fns:
        raise ValueError("metrics are computed on the validation set: pass a val_loader")
    if val_loader is None and key != "train_loss":
        if early_stopping is not None:
            raise ValueError(f"early stopping on {monitor!r} needs a val_loader (or monitor='train_loss')")
        key = "train_loss"
    return metric_fns, key, "min" if key.endswith("loss") else "max"


def _run_epoch(model, loaders, step, optimizer, device, metric_fns, history, scheduler=None, loss_fn=None):
    """One epoch of training (and validation, when ``loaders[1]`` is a loader), appended to ``history``."""
    train_loader, val_loader = loaders
    start = time.perf_counter()
    train_loss, extras = _train_pass(model, train_loader, step, optimizer, device, scheduler, history.step_lr)
    history.train_loss.append(train_loss)
    for name, value in extras.items():
        history.metrics.setdefault(name, []).append(value)
    if val_loader is not None and metric_fns:
        val_loss, y, out = _run_eval(model, val_loader, loss_fn, device, keep=True)
        for name, fn in metric_fns.items():
            history.metrics[name].append(float(fn(y, out)))
    elif val_loader is not None:
        val_loss = _run_eval(model, val_loader, loss_fn, device, keep=False)
    if val_loader is not None:
        history.val_loss.append(val_loss)
    history.epoch_time.append(time.perf_counter() - start)


def _make_scheduler(scheduler, optimizer):
    if scheduler is None or hasattr(scheduler, "step"):
        return scheduler
    if callable(scheduler):
        return scheduler(optimizer)
    raise TypeError(f"scheduler must be None, an LR scheduler or a function optimizer -> scheduler, got "
                    f"{type(scheduler).__name__}")


def fit(model, train_loader, val_loader=None, loss_fn=None, optimizer=None, lr=1e-3, n_epochs=5, device=None,
        metrics=None, early_stopping=None, restore_best=True, monitor="val_loss", progress=True, seed=0, step=None,
        scheduler=None, desc="fit"):
    """Train ``model`` for ``n_epochs`` and return a :class:`History`.

    model: nn.Module; moved to ``device`` (default: CUDA, then MPS, then CPU), batches too.
    loss_fn: default :func:`pick_loss` of the outputs. optimizer: default ``Adam(model.parameters(), lr)``.
    metrics: names ('accuracy', 'roc_auc'/'auc', 'sensitivity', 'specificity', 'f1', 'dice') or a dict
        name -> ``fn(y, logits) -> float``, computed on the whole validation set each epoch (CPU tensors).
    monitor: what picks the best epoch: 'val_loss' (default; 'train_loss' without a val_loader), 'train_loss'
        or a metric name (losses are minimised, metrics maximised).
    early_stopping: patience (int): stop after that many epochs without improvement of ``monitor``.
    restore_best: with early stopping, load the best epoch's weights (an in-memory copy) at the end.
    progress: one tqdm bar per call (labelled ``desc``), updated once per epoch. seed: training runs inside
        ``torch.random.fork_rng`` seeded with ``seed`` (dropout, unseeded shuffles), so runs repeat exactly on the
        CPU and the caller's global random state is left as it was. Data order is the DataLoader's ``generator``'s
        job.
    step: ``step(model, batch) -> loss`` or ``(loss, {name: float})`` for every mini-batch (moved to the
        device); default :func:`supervised_step` with ``loss_fn``. Extra numbers are averaged per epoch into
        ``history.metrics``. Validation (``val_loader``) always scores ``model(x)`` with ``loss_fn``.
    scheduler: an LR scheduler, or a function ``optimizer -> scheduler`` (for the default optimizer), stepped
        after every optimiser step; each step's learning rate is kept in ``history.step_lr``.
    """
    from tqdm.auto import tqdm

    from labkit.config import pick_device

    metric_fns, key, mode = _check_fit_args(model, train_loader, val_loader, n_epochs, early_stopping, metrics,
                                            monitor)
    device = pick_device(device)
    model.to(device)
    optimizer = optimizer if optimizer is not None else torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = _make_scheduler(scheduler, optimizer)
    step = step if step is not None else supervised_step(loss_fn)
    history = History(monitor=key, metrics={name: [] for name in metric_fns})
    best_value, best_state, waited = None, None, 0
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        with tqdm(total=n_epochs, desc=desc, unit="epoch", disable=not progress) as bar:
            for epoch in range(n_epochs):
                _run_epoch(model, (train_loader, val_loader), step, optimizer, device, metric_fns, history, scheduler,
                           loss_fn)
                value = history.values(key)[-1]
                if _is_better(value, best_value, mode):
                    best_value, waited, history.best_epoch = value, 0, epoch
                    if early_stopping is not None and restore_best:
                        best_state = copy.deepcopy(model.state_dict())
                else:
                    waited += 1
                bar.set_postfix({k: f"{v:.4f}" for k, v in history.row(-1).items()}, refresh=False)
                bar.update(1)
                if early_stopping is not None and waited >= early_stopping and epoch < n_epochs - 1:
                    history.stopped_early = True
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
