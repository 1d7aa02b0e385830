"""labkit.losses against PyTorch, MONAI and torchvision, plus bad input."""

import functools

import pytest
import torch
import torch.nn.functional as F

from labkit import losses


def _binary(shape, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=g, dtype=torch.float64) * scale
    target = (torch.rand(shape, generator=g) < 0.3).double()
    return logits, target


@pytest.mark.parametrize("pos_weight", [1.0, 0.3, 5.0, 13.3])
@pytest.mark.parametrize("shape", [(50,), (8, 1), (4, 3, 5, 5)])
def test_weighted_bce_matches_torch(pos_weight, shape):
    logits, target = _binary(shape)
    for reduction in ("mean", "sum", "none"):
        want = F.binary_cross_entropy_with_logits(logits, target, pos_weight=torch.tensor(pos_weight,
                                                  dtype=torch.float64), reduction=reduction)
        got = losses.weighted_bce(logits, target, pos_weight=pos_weight, reduction=reduction)
        torch.testing.assert_close(got, want)


def test_weighted_bce_per_output_weights_and_extreme_logits():
    logits, target = _binary((6, 3))
    weights = torch.tensor([1.0, 2.0, 9.0], dtype=torch.float64)
    torch.testing.assert_close(losses.weighted_bce(logits, target, weights),
                               F.binary_cross_entropy_with_logits(logits, target, pos_weight=weights))
    huge = torch.tensor([200.0, -200.0])
    assert torch.isfinite(losses.weighted_bce(huge, torch.tensor([0.0, 1.0]), 3.0))


def test_weighted_bce_accepts_flat_target_for_column_logits():
    logits, target = _binary((10, 1))
    torch.testing.assert_close(losses.weighted_bce(logits, target[:, 0].long()),
                               F.binary_cross_entropy_with_logits(logits, target))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
@pytest.mark.parametrize("alpha", [None, 0.25, 0.9])
def test_focal_loss_matches_monai_and_torchvision(gamma, alpha):
    from monai.losses import FocalLoss
    from torchvision.ops import sigmoid_focal_loss

    logits, target = _binary((4, 1, 6, 6), seed=1)
    got = losses.focal_loss(logits, target, gamma=gamma, alpha=alpha)
    monai = FocalLoss(gamma=gamma, alpha=alpha, use_softmax=False)(logits, target)  # MONAI computes in float32
    torch.testing.assert_close(got, monai.double(), rtol=1e-5, atol=1e-6)
    tv = sigmoid_focal_loss(logits, target, alpha=-1 if alpha is None else alpha, gamma=gamma, reduction="mean")
    torch.testing.assert_close(got, tv)


def test_focal_loss_with_gamma_zero_is_bce():
    logits, target = _binary((30,), seed=2)
    torch.testing.assert_close(losses.focal_loss(logits, target, gamma=0.0),
                               F.binary_cross_entropy_with_logits(logits, target))


@pytest.mark.parametrize("smooth", [1e-5, 1.0])
@pytest.mark.parametrize("shape", [(3, 1, 8, 8), (2, 4, 5, 6), (2, 2, 3, 4, 5)])
def test_soft_dice_loss_matches_monai(smooth, shape):
    from monai.losses import DiceLoss

    logits, target = _binary(shape, seed=3)
    probs = torch.sigmoid(logits)
    want = DiceLoss(smooth_nr=smooth, smooth_dr=smooth)(probs, target)
    torch.testing.assert_close(losses.soft_dice_loss(probs, target, smooth), want)
    none = DiceLoss(smooth_nr=smooth, smooth_dr=smooth, reduction="none")(probs, target)
    torch.testing.assert_close(losses.soft_dice_loss(probs, target, smooth, reduction="none"), none.reshape(shape[:2]))


def test_soft_dice_loss_properties():
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:5, 2:6] = 1
    assert losses.soft_dice_loss(mask, mask).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.soft_dice_loss(1 - mask, mask).item() == pytest.approx(1.0, abs=1e-6)
    assert losses.soft_dice_loss(torch.zeros_like(mask), torch.zeros_like(mask)).item() == pytest.approx(0.0)


def test_dice_ce_loss_matches_monai_binary_and_multiclass():
    from monai.losses import DiceCELoss

    logits, target = _binary((3, 1, 8, 8), seed=4)
    torch.testing.assert_close(losses.dice_ce_loss(logits, target), DiceCELoss(sigmoid=True)(logits, target))
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 3, 6, 6, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 3, (2, 1, 6, 6), generator=g).double()
    want = DiceCELoss(softmax=True, to_onehot_y=True, lambda_dice=0.7, lambda_ce=1.5)(logits, labels)
    torch.testing.assert_close(losses.dice_ce_loss(logits, labels, lambda_dice=0.7, lambda_ce=1.5), want)


def test_losses_work_as_fit_loss_fn():
    from labkit import train

    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).float()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    model = torch.nn.Linear(4, 1)
    history = train.fit(model, loader, loss_fn=functools.partial(losses.focal_loss, gamma=2.0), n_epochs=2,
                        device="cpu", progress=False)
    assert history.n_epochs == 2 and all(v > 0 for v in history.train_loss)


@pytest.mark.parametrize("call, error", [
    (lambda: losses.weighted_bce([0.1, 0.2], torch.zeros(2)), TypeError),
    (lambda: losses.weighted_bce(torch.zeros(3), torch.zeros(4)), ValueError),
    (lambda: losses.weighted_bce(torch.zeros(3, dtype=torch.long), torch.zeros(3)), TypeError),
    (lambda: losses.weighted_bce(torch.zeros(3), torch.tensor([0.0, 2.0, 1.0])), ValueError),
    (lambda: losses.weighted_bce(torch.zeros(3), torch.zeros(3), pos_weight=-1.0), ValueError),
    (lambda: losses.weighted_bce(torch.zeros(3), torch.zeros(3), reduction="avg"), ValueError),
    (lambda: losses.weighted_bce(torch.zeros(0), torch.zeros(0)), ValueError),
    (lambda: losses.focal_loss(torch.zeros(3), torch.zeros(3), gamma=-1.0), ValueError),
    (lambda: losses.focal_loss(torch.zeros(3), torch.zeros(3), alpha=1.5), ValueError),
    (lambda: losses.soft_dice_loss(torch.full((1, 1, 4, 4), 2.0), torch.zeros(1, 1, 4, 4)), ValueError),
    (lambda: losses.soft_dice_loss(torch.zeros(4, 4), torch.zeros(4, 4)), ValueError),
    (lambda: losses.soft_dice_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 4, 4)), ValueError),
    (lambda: losses.dice_ce_loss(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)), ValueError),
    (lambda: losses.dice_ce_loss(torch.zeros(2, 3, 4, 4), torch.full((2, 1, 4, 4), 3.0)), ValueError),
    (lambda: losses.dice_ce_loss(torch.zeros(2, 3), torch.zeros(2, 1)), ValueError),
])
def test_bad_input_raises_clear_errors(call, error):
    with pytest.raises(error):
        call()
