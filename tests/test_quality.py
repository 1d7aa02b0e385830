"""labkit.quality: label noise at the asked rates, loss ranking, kappa like scikit-learn, STAPLE like SimpleITK,
artefacts within range; bad input is refused."""

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from labkit import metrics, quality


def test_flip_labels_symmetric_and_class_dependent_rates():
    y = np.random.default_rng(0).integers(0, 2, 20000)
    noisy = quality.flip_labels(y, 0.3, seed=1)
    assert abs(np.mean(noisy != y) - 0.3) < 0.02
    missed = quality.flip_labels(y, {1: 0.4}, seed=1)
    assert abs(np.mean(missed[y == 1] == 0) - 0.4) < 0.02 and np.all(missed[y == 0] == 0)
    three = quality.flip_labels(np.arange(3).repeat(3000), 0.5, seed=2)
    assert set(np.unique(three)) == {0, 1, 2} and abs(np.mean(three != np.arange(3).repeat(3000)) - 0.5) < 0.03
    assert np.array_equal(quality.flip_labels(y, 0.3, seed=1), noisy)


def test_rank_by_loss_puts_confident_disagreements_first():
    probs = np.array([0.9, 0.2, 0.6, 0.01, 0.5])
    labels = np.array([0, 0, 1, 1, 1])
    loss = quality.per_sample_loss(probs, labels)
    assert loss == pytest.approx(-np.log([0.1, 0.8, 0.6, 0.01, 0.5]))
    assert quality.rank_by_loss(probs, labels).tolist() == [3, 0, 4, 2, 1]
    two_column = np.stack([1 - probs, probs], axis=1)
    assert np.array_equal(quality.rank_by_loss(two_column, labels), quality.rank_by_loss(probs, labels))
    assert quality.precision_recall_at_k([3, 0, 4, 2, 1], [True, False, False, True, False], 2) == (1.0, 1.0)


def test_cohens_kappa_matches_sklearn():
    rng = np.random.default_rng(3)
    for n_classes in (2, 3):
        a = rng.integers(0, n_classes, 300)
        b = np.where(rng.random(300) < 0.3, rng.integers(0, n_classes, 300), a)
        assert quality.cohens_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert np.isnan(quality.cohens_kappa([1, 1], [1, 1]))


def _disks(n=6, size=24):
    yy, xx = np.mgrid[:size, :size]
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        masks[i] = (yy - 8) ** 2 + (xx - 8) ** 2 <= 9 + i
        masks[i] |= (yy - 17) ** 2 + (xx - 16) ** 2 <= 4
    return masks


def test_simulated_annotators_have_the_asked_habits():
    truth = _disks()
    wide = quality.simulate_annotator(truth, bias=1, seed=0)
    tight = quality.simulate_annotator(truth, bias=-1, seed=0)
    missing = quality.simulate_annotator(truth, miss_rate=1.0, seed=0)
    assert wide.sum() > truth.sum() > tight.sum() and missing.sum() == 0
    assert np.all(wide >= truth) and np.all(tight <= truth)
    assert np.array_equal(quality.simulate_annotator(truth, seed=0), truth)


def test_staple_matches_simpleitk_and_finds_the_better_rater():
    truth = _disks(n=10)
    raters = np.stack([quality.simulate_annotator(truth, bias=0, miss_rate=0.05, seed=1),
                       quality.simulate_annotator(truth, bias=-1, miss_rate=0.3, seed=2),
                       quality.simulate_annotator(truth, bias=1, seed=3)])
    prob, sens, spec = quality.staple(raters)
    prob_sitk, sens_sitk, spec_sitk = quality.staple_sitk(raters)
    assert np.abs(prob - prob_sitk).max() < 1e-3
    assert sens == pytest.approx(sens_sitk, abs=1e-3) and spec == pytest.approx(spec_sitk, abs=1e-3)
    assert sens[2] >= sens[0] > sens[1] and spec[2] < spec[0]
    vote = quality.majority_vote(raters)
    assert metrics.dice_score(prob >= 0.5, truth) >= metrics.dice_score(vote, truth) - 0.02
    assert quality.majority_vote(np.stack([truth, truth, 1 - truth])).astype(int).tolist() == truth.tolist()


@pytest.mark.parametrize("name", sorted(quality.ARTEFACTS))
def test_artefacts_stay_in_range_grow_with_strength_and_repeat(name):
    images = np.random.default_rng(4).random((3, 1, 32, 32)).astype(np.float32) * 0.6 + 0.2
    add = quality.ARTEFACTS[name]
    weak, strong = add(images, 1.0 if name == "ghosting" else 0.05, seed=0), add(images, 4.0 if name == "ghosting"
                                                                                 else 0.2, seed=0)
    assert weak.shape == images.shape and weak.dtype == np.float32 and 0 <= strong.min() and strong.max() <= 1
    assert 0 < np.abs(weak - images).mean() < np.abs(strong - images).mean()
    assert np.array_equal(add(images, 0.0, seed=0), images)
    assert np.array_equal(add(images, 0.05, seed=3), add(images, 0.05, seed=3))


@pytest.mark.parametrize("call, match", [
    (lambda: quality.flip_labels([0, 1], 1.5), r"\[0, 1\]"),
    (lambda: quality.flip_labels([0, 1], {3: 0.2}), "class 3"),
    (lambda: quality.flip_labels([0.5, 1.0], 0.1), "integer"),
    (lambda: quality.per_sample_loss([0.2, 0.7], [0, 1, 1]), "probs"),
    (lambda: quality.precision_recall_at_k([0, 1], [True, False], 3), "k"),
    (lambda: quality.cohens_kappa([0, 1], [0, 1, 1]), "same length"),
    (lambda: quality.majority_vote(np.zeros((1, 4, 4))), "R >= 2"),
    (lambda: quality.simulate_annotator(np.full((2, 4, 4), 2)), "binary"),
    (lambda: quality.add_noise(np.zeros((4, 4)), 0.1), "shape"),
    (lambda: quality.add_streaks(np.zeros((2, 16, 16)), -1), "strength"),
])
def test_bad_input_gets_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
