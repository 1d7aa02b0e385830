"""De-identification, membership inference, DP-SGD and subgroup rates (labkit.privacy), bad input included."""

import copy

import numpy as np
import pydicom
import pytest
import torch

from labkit import privacy, realdata


def _dataset():
    ds = pydicom.Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Jane", "ID1234", "19700101"
    ds.StudyDate, ds.AcquisitionDate, ds.Modality = "20240102", "20240102", "CT"
    ds.InstitutionName, ds.OperatorsName = "General Hospital", "Smith^Bob"
    ds.StudyInstanceUID, ds.SOPInstanceUID = "1.2.840.99.1", "1.2.840.99.3"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ref = pydicom.Dataset()
    ref.ReferencedSOPInstanceUID, ref.ReferencedSOPClassUID = "1.2.840.99.3", "1.2.840.10008.5.1.4.1.1.2"
    ds.ReferencedImageSequence = [ref]
    ds.add_new(0x00091001, "LO", "vendor secret")
    ds.PixelData, ds.Rows, ds.Columns = b"\x01\x02\x03\x04", 2, 2
    return ds


def test_pseudonym_uid_is_deterministic_keyed_and_valid():
    a = privacy.pseudonym_uid("1.2.3", "salt")
    assert a == privacy.pseudonym_uid("1.2.3", "salt") and a != privacy.pseudonym_uid("1.2.3", "pepper")
    assert a.startswith("2.25.") and len(a) <= 64 and a != privacy.pseudonym_uid("1.2.4", "salt")
    with pytest.raises(ValueError, match="non-empty"):
        privacy.pseudonym_uid("", "salt")


def test_deidentify_removes_identity_everywhere_and_keeps_pixels():
    ds = _dataset()
    original = copy.deepcopy(ds)
    out = privacy.deidentify(ds, "salt")
    assert str(ds.PatientName) == "Doe^Jane", "the input must not change"
    assert out.PatientName == "" and out.PatientID == "" and "InstitutionName" not in out
    assert "AcquisitionDate" not in out and "OperatorsName" not in out
    assert not any(e.tag.is_private for e in out) and out.PatientIdentityRemoved == "YES"
    assert out.SOPClassUID == original.SOPClassUID
    assert out.SOPInstanceUID == privacy.pseudonym_uid("1.2.840.99.3", "salt")
    assert out.ReferencedImageSequence[0].ReferencedSOPInstanceUID == out.SOPInstanceUID   # links kept
    assert privacy.find_leaks(out, privacy.identifying_values(original)) == []
    assert privacy.find_leaks(out, ["1.2.840.99.1", "1.2.840.99.3"]) == []
    assert privacy.pixel_hash(out) == privacy.pixel_hash(original)


def test_find_leaks_and_compare_tags_report_what_survives():
    ds = _dataset()
    assert ("PatientName", "Doe^Jane") in privacy.find_leaks(ds, {"PatientName": "Doe^Jane"})
    rows = dict((k, f) for k, _, f in privacy.compare_tags(ds, ["PatientName", "InstitutionName", "Modality"],
                                                          ours=privacy.deidentify(ds, "s")))
    assert rows == {"PatientName": {"ours": "emptied"}, "InstitutionName": {"ours": "removed"},
                    "Modality": {"ours": "kept"}}


def test_deidentify_a_real_file_leaves_no_identifying_value():
    ds = pydicom.dcmread(realdata.source_path("ct_small"))
    out = privacy.deidentify(ds, "salt")
    assert privacy.find_leaks(out, privacy.identifying_values(ds)) == []
    assert privacy.pixel_hash(out) == privacy.pixel_hash(ds)


def test_burned_in_risk():
    ds = _dataset()
    assert privacy.burned_in_risk(ds)[0] == "low"
    ds.Modality = "US"
    assert privacy.burned_in_risk(ds)[0] == "review"
    ds.BurnedInAnnotation = "YES"
    assert privacy.burned_in_risk(ds)[0] == "yes"


def test_bad_input_is_refused_clearly():
    with pytest.raises(TypeError, match="pydicom Dataset"):
        privacy.deidentify({"PatientName": "x"}, "salt")
    with pytest.raises(ValueError, match="salt"):
        privacy.deidentify(_dataset(), "")
    with pytest.raises(ValueError, match="profile actions"):
        privacy.deidentify(_dataset(), "s", profile={"PatientName": "Q"})
    with pytest.raises(ValueError, match="no Pixel Data"):
        privacy.pixel_hash(pydicom.Dataset())
    with pytest.raises(ValueError, match="non-empty"):
        privacy.membership_auc([], [0.1])
    with pytest.raises(ValueError, match="finite"):
        privacy.membership_auc([np.nan], [0.1])
    with pytest.raises(ValueError, match="one entry per case"):
        privacy.group_rates([0, 1], [0.2], ["a", "b"])
    with pytest.raises(ValueError, match="0/1"):
        privacy.group_rates([0, 2], [0.2, 0.3], ["a", "b"])
    with pytest.raises(ValueError, match="at least two groups"):
        privacy.equalised_odds_gap({"a": {"sensitivity": 1, "specificity": 1}})
    with pytest.raises(ValueError, match="no positive"):
        privacy.thresholds_for_sensitivity([0, 1], [0.2, 0.9], ["a", "b"])
    with pytest.raises(ValueError, match="noise_multiplier"):
        privacy.fit_private(torch.nn.Linear(2, 1), np.zeros((4, 2)), np.zeros(4), noise_multiplier=-1)


def test_membership_auc_matches_pairwise_counting():
    rng = np.random.default_rng(0)
    m, o = rng.exponential(0.3, 30), rng.exponential(0.6, 40)
    pairwise = (np.sum(m[:, None] < o[None, :]) + 0.5 * np.sum(m[:, None] == o[None, :])) / (m.size * o.size)
    assert np.isclose(privacy.membership_auc(m, o), pairwise)
    assert privacy.membership_auc([0.1, 0.2], [0.1, 0.2]) == 0.5


def test_per_sample_loss_matches_torch():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x, y = np.random.default_rng(0).random((5, 3), dtype=np.float32), np.array([0, 1, 1, 0, 1])
    want = torch.nn.functional.binary_cross_entropy_with_logits(model(torch.as_tensor(x))[:, 0],
                                                                torch.as_tensor(y, dtype=torch.float32),
                                                                reduction="none")
    assert np.allclose(privacy.per_sample_loss(model, x, y, batch_size=2), want.detach().numpy(), atol=1e-6)


def test_fit_private_reports_epsilon_that_shrinks_with_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    make = lambda: torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    _, eps_none = privacy.fit_private(make(), x, y, noise_multiplier=0, n_epochs=1, seed=0)
    _, eps_low = privacy.fit_private(make(), x, y, noise_multiplier=0.8, n_epochs=2, seed=0)
    model, eps_high = privacy.fit_private(make(), x, y, noise_multiplier=2.0, n_epochs=2, seed=0)
    assert eps_none == float("inf") and np.isfinite(eps_high) and eps_high < eps_low
    assert isinstance(model, torch.nn.Sequential)


def test_group_rates_thresholds_and_gap():
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    p = np.array([0.9, 0.6, 0.4, 0.1, 0.45, 0.3, 0.2, 0.1])
    g = np.array(["a"] * 4 + ["b"] * 4)
    rates = privacy.group_rates(y, p, g, 0.5)
    assert rates["a"]["sensitivity"] == 1.0 and rates["b"]["sensitivity"] == 0.0
    assert privacy.equalised_odds_gap(rates) == 1.0
    t = privacy.thresholds_for_sensitivity(y, p, g, target=1.0)
    assert t == {"a": 0.6, "b": 0.3}
    fixed = privacy.group_rates(y, p, g, t)
    assert fixed["a"]["sensitivity"] == fixed["b"]["sensitivity"] == 1.0
    assert privacy.equalised_odds_gap(fixed) == 0.0
