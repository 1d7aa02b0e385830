"""Federated averaging across simulated hospitals (labkit.federated), bad input included."""

import copy

import numpy as np
import pytest
import torch

from labkit import federated, synthetic


def _states(seed, n=3):
    gen = torch.Generator().manual_seed(seed)
    return [{"w": torch.randn(2, 3, generator=gen), "b": torch.randn(2, generator=gen),
             "count": torch.tensor(7 + k)} for k in range(n)]


def test_weighted_average_matches_numpy_and_flower():
    from flwr.server.strategy.aggregate import aggregate

    states, counts = _states(0), [10, 30, 60]
    got = federated.weighted_average(states, counts)
    for key in ("w", "b"):
        want = np.average(np.stack([s[key].numpy() for s in states]), axis=0, weights=counts)
        assert np.allclose(got[key].numpy(), want, atol=1e-6) and got[key].dtype == states[0][key].dtype
    assert int(got["count"]) == 7, "integer buffers come from the first client"
    float_states = [{k: v for k, v in s.items() if k != "count"} for s in states]
    flower = aggregate([(federated.state_to_ndarrays(s), n) for s, n in zip(float_states, counts)])
    back = federated.ndarrays_to_state(flower, float_states[0])
    assert all(torch.allclose(back[k], got[k], atol=1e-6) for k in back)


def test_weighted_average_of_identical_states_is_that_state_and_zero_weight_is_ignored():
    s = _states(1, 1)[0]
    same = federated.weighted_average([s, copy.deepcopy(s)], [3, 5])
    assert all(torch.allclose(same[k].float(), s[k].float()) for k in s)
    other = _states(2, 1)[0]
    only_first = federated.weighted_average([s, other], [4, 0])
    assert torch.allclose(only_first["w"], s["w"])


def test_weighted_average_refuses_bad_input():
    with pytest.raises(ValueError, match="one example count per state"):
        federated.weighted_average(_states(0), [1, 2])
    with pytest.raises(ValueError, match="positive total"):
        federated.weighted_average(_states(0), [0, 0, 0])
    with pytest.raises(ValueError, match=">= 0"):
        federated.weighted_average(_states(0), [1, -1, 2])
    broken = _states(0)
    broken[1] = {"w": broken[1]["w"]}
    with pytest.raises(ValueError, match="same keys"):
        federated.weighted_average(broken, [1, 1, 1])


def _blobs(n, shift, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    x[:, 0] += 2.0 * y + shift
    return torch.as_tensor(x), torch.as_tensor(y, dtype=torch.float32)


def test_make_head_is_seeded_and_train_local_learns():
    a, b = federated.make_head(4, seed=3), federated.make_head(4, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    x, y = _blobs(200, 0.0, 0)
    model = federated.train_local(a, x, y, n_epochs=5, lr=1e-2, seed=0)
    with torch.no_grad():
        accuracy = ((model(x)[:, 0] > 0).float() == y).float().mean()
    assert accuracy > 0.8
    with pytest.raises(ValueError, match="one label per sample"):
        federated.train_local(b, x, y[:10])


def test_fedavg_is_deterministic_and_learns_across_clients():
    clients = [_blobs(120, s, k) for k, s in enumerate((-0.5, 0.0, 0.5))]
    x_all, y_all = torch.cat([c[0] for c in clients]), torch.cat([c[1] for c in clients])

    def accuracy(m):
        with torch.no_grad():
            return float(((m(x_all)[:, 0] > 0).float() == y_all).float().mean())

    m1, h1 = federated.fedavg(federated.make_head(4, seed=0), clients, rounds=4, lr=1e-2, seed=0, evaluate=accuracy)
    m2, h2 = federated.fedavg(federated.make_head(4, seed=0), clients, rounds=4, lr=1e-2, seed=0, evaluate=accuracy)
    assert h1 == h2 and len(h1) == 4 and h1[-1] > 0.8
    with pytest.raises(ValueError, match="rounds"):
        federated.fedavg(federated.make_head(4), clients, rounds=0)
    with pytest.raises(ValueError, match="at least one client"):
        federated.fedavg(federated.make_head(4), [], rounds=1)


def test_iid_partition_and_state_round_trip():
    parts = federated.iid_partition([3, 4, 5], seed=0)
    assert [len(p) for p in parts] == [3, 4, 5] and sorted(np.concatenate(parts).tolist()) == list(range(12))
    with pytest.raises(ValueError, match="positive"):
        federated.iid_partition([3, 0])
    state = federated.make_head(4).state_dict()
    back = federated.ndarrays_to_state(federated.state_to_ndarrays(state), state)
    assert all(torch.equal(back[k], state[k]) for k in state)
    with pytest.raises(ValueError, match="expected"):
        federated.ndarrays_to_state([np.zeros(1)], state)


def test_make_hospitals_splits_by_group_with_own_case_mix():
    specs = [("A", 0.25, synthetic.SiteEffect()), ("B", 0.75, synthetic.SiteEffect(gamma=2.0))]
    hospitals = federated.make_hospitals(specs, n=96, size=16, seed=0, patches_per_group=4, radius=(2, 3))
    assert [h.name for h in hospitals] == ["A", "B"]
    for h in hospitals:
        groups = [set(h.splits[s][2].tolist()) for s in ("train", "val", "test")]
        assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
        assert h.splits["train"][0].shape[1:] == (1, 16, 16) and sum(h.n(s) for s in h.splits) == 96
    assert hospitals[0].splits["train"][1].mean() < hospitals[1].splits["train"][1].mean()
    with pytest.raises(ValueError, match="SiteEffect"):
        federated.make_hospitals([("A", 0.5, None)], n=32)
    with pytest.raises(ValueError, match="at least one"):
        federated.make_hospitals([], n=32)
