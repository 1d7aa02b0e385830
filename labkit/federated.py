"""Federated learning across simulated hospitals: FedAvg by hand, with local-only and centralised baselines.

``weighted_average`` and ``fedavg`` introduced in 21_privacy_ethics.ipynb (the lesson writes the weighted average by
hand first and compares it with Flower's ``flwr.server.strategy.aggregate.aggregate``).

The hospitals are simulated: each draws its own generated lesion crops (``labkit.synthetic``) with its own case mix
(prevalence) and scanner (a :class:`~labkit.synthetic.SiteEffect`). What a hospital shares in FedAvg is the model's
weights after some local training, never an image. Everything runs in one process (no network, no Ray).
"""

import copy
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Hospital", "make_hospitals", "weighted_average", "train_local", "fedavg", "iid_partition",
           "state_to_ndarrays", "ndarrays_to_state", "make_head"]


@dataclass(frozen=True, eq=False)
class Hospital:
    """One simulated hospital: ``splits`` maps 'train', 'val', 'test' to (images (N, 1, S, S) float32, labels (N,)
    int64, crop groups (N,) int64); ``prevalence`` and ``effect`` (its scanner) describe how it differs."""

    name: str
    prevalence: float
    effect: object
    splits: dict

    def n(self, split="train"):
        """Number of cases in ``split``."""
        return len(self.splits[split][1])


def make_hospitals(specs, n=480, size=32, contrast=0.4, fractions=(0.4, 0.2, 0.4), seed=0, **lesion_kwargs):
    """Simulated hospitals -> list of :class:`Hospital`.

    specs: list of (name, prevalence, SiteEffect). Each hospital draws ``n`` crops with
    :func:`labkit.synthetic.make_lesion_dataset` (its own seed, prevalence and scanner) and splits them by crop group
    into train/val/test (``fractions``, stratified by label). Crop groups are numbered per hospital.
    """
    from labkit import synthetic, validation

    if not specs:
        raise ValueError("specs must list at least one (name, prevalence, SiteEffect)")
    hospitals = []
    for k, spec in enumerate(specs):
        if len(spec) != 3 or not isinstance(spec[2], synthetic.SiteEffect):
            raise ValueError(f"each spec must be (name, prevalence, SiteEffect), got {spec!r}")
        name, prevalence, effect = spec
        data = synthetic.make_lesion_dataset(n=n, size=size, contrast=contrast, prevalence=prevalence,
                                             site_effects=[effect], seed=seed * 100 + k, **lesion_kwargs)
        split = validation.split_by_group(data.group, fractions, seed=seed + k, stratify=data.labels)
        splits = {s: (data.images[i], data.labels[i], data.group[i]) for s, i in split.items()}
        hospitals.append(Hospital(name=str(name), prevalence=float(prevalence), effect=effect, splits=splits))
    return hospitals


def weighted_average(states, n_examples):
    """FedAvg's aggregation: the average of the clients' state dicts weighted by their numbers of training
    examples, sum_k (n_k / n) * w_k. Integer buffers (e.g. BatchNorm's counter) are taken from the first client.
    Introduced in 21_privacy_ethics.ipynb."""
    if not states or len(states) != len(n_examples):
        raise ValueError(f"need one example count per state dict, got {len(states)} states and "
                         f"{len(n_examples)} counts")
    weights = np.asarray(n_examples, dtype=np.float64)
    if np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(f"example counts must be >= 0 with a positive total, got {list(n_examples)}")
    keys = list(states[0])
    if any(list(s) != keys for s in states):
        raise ValueError("all state dicts must have the same keys (the same model)")
    weights = weights / weights.sum()
    out = {}
    for key in keys:
        first = states[0][key]
        if not torch.is_floating_point(first):
            out[key] = first.clone()
            continue
        out[key] = sum(float(w) * s[key].double() for w, s in zip(weights, states)).to(first.dtype)
    return out


def make_head(n_features, hidden=32, seed=0):
    """A small classification head (Linear, ReLU, Linear to one logit) whose initial weights depend only on
    ``seed``: every hospital and every method starts from the same weights."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(n_features, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))


def train_local(model, x, y, n_epochs=1, lr=3e-3, batch_size=16, seed=0):
    """Train a one-logit ``model`` on (x, y) with Adam and binary cross-entropy, in batches drawn from ``seed``;
    returns the model. x: (N, ...) float32 tensor/array; y: (N,) 0/1."""
    x = torch.as_tensor(np.asarray(x, np.float32)) if not isinstance(x, torch.Tensor) else x.float()
    y = torch.as_tensor(np.asarray(y), dtype=torch.float32) if not isinstance(y, torch.Tensor) else y.float()
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be non-empty with one label per sample, got {len(x)} and {len(y)}")
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(n_epochs):
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), batch_size):
            batch = order[i:i + batch_size]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[batch]).reshape(-1), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def fedavg(global_model, clients, rounds=10, local_epochs=1, lr=3e-3, batch_size=16, seed=0, evaluate=None,
           aggregate=None):
    """Federated averaging (McMahan et al., 2017) simulated in one process -> (global model, history).

    clients: list of (x, y) training sets, one per hospital. Each round every client copies the global model,
    trains it ``local_epochs`` on its own data, and sends back only the weights; the server replaces the global
    weights by their average weighted by the clients' sizes (``aggregate``, default :func:`weighted_average`).
    evaluate: optional ``fn(model) -> float`` recorded after every round in ``history``.
    """
    if not clients or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"need at least one client and rounds >= 1, got {len(clients)} clients, rounds={rounds!r}")
    aggregate = aggregate or weighted_average
    sizes = [len(y) for _, y in clients]
    history = []
    for r in range(rounds):
        states = []
        for k, (x, y) in enumerate(clients):
            local = train_local(copy.deepcopy(global_model), x, y, local_epochs, lr, batch_size,
                                seed=seed + 1000 * r + k)
            states.append(local.state_dict())
        global_model.load_state_dict(aggregate(states, sizes))
        if evaluate is not None:
            history.append(float(evaluate(global_model)))
    return global_model.eval(), history


def iid_partition(sizes, seed=0):
    """The IID control: indices 0..sum(sizes)-1 dealt at random into parts of the given sizes -> list of arrays."""
    sizes = [int(s) for s in sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be positive ints, got {sizes}")
    order = np.random.default_rng(seed).permutation(sum(sizes))
    return np.split(order, np.cumsum(sizes)[:-1])


def state_to_ndarrays(state):
    """A state dict as a list of float64 NumPy arrays (the form Flower's ``aggregate`` takes)."""
    return [v.detach().cpu().double().numpy() for v in state.values()]


def ndarrays_to_state(arrays, like):
    """Arrays back into a state dict with the keys, shapes and dtypes of ``like``."""
    if len(arrays) != len(like):
        raise ValueError(f"expected {len(like)} arrays, got {len(arrays)}")
    return {k: torch.as_tensor(np.asarray(a)).to(v.dtype).reshape(v.shape) for (k, v), a in zip(like.items(), arrays)}
