"""Checkers for Part IV, privacy, deployment and the capstone: lessons 21_privacy_ethics,
22_clinical_deployment and 23_capstone."""

import copy
import tempfile
from pathlib import Path

import numpy as np
import torch

from labkit.checks.framework import CheckFailed, call, checker, expect_close, expect_true

__all__ = ["deidentify", "weighted_average", "membership_auc", "input_gate", "export_parity"]


# ------------------------------------------------------------------------------------ 21: de-identification
def _datasets():
    """Small generated DICOM datasets: identifying attributes, UIDs, a private attribute, some absent fields."""
    import pydicom

    cases = []
    for i in range(3):
        ds = pydicom.Dataset()
        ds.PatientName, ds.PatientID, ds.PatientSex = f"Doe^Jane{i}", f"ID{1000 + i}", "F"
        ds.StudyDate, ds.StudyTime, ds.Modality, ds.Manufacturer = "20240102", "101500", "CT", "ACME"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = f"1.2.840.99.{i}.1", f"1.2.840.99.{i}.2"
        ds.SOPInstanceUID, ds.SOPClassUID = f"1.2.840.99.{i}.3", "1.2.840.10008.5.1.4.1.1.2"
        if i != 1:
            ds.InstitutionName, ds.PatientAge, ds.AccessionNumber = "General Hospital", "054Y", f"A{i}"
        if i != 2:
            ds.add_new(0x00091001, "LO", "vendor secret")
        ds.Rows = 4
        cases.append(ds)
    return cases


def _same_dataset(got, want, what):
    import pydicom

    expect_true(isinstance(got, pydicom.Dataset), f"{what} must return a pydicom Dataset, got {type(got).__name__}")
    got_tags, want_tags = {e.tag for e in got}, {e.tag for e in want}
    extra = sorted(str(getattr(got[t], "keyword", "") or t) for t in got_tags - want_tags)
    missing = sorted(str(want[t].keyword or t) for t in want_tags - got_tags)
    expect_true(not extra, f"{what} still holds attributes the profile removes (or you added): {extra}")
    expect_true(not missing, f"{what} lacks attributes that should stay (emptied or replaced): {missing}")
    for elem in want:
        expect_true(str(got[elem.tag].value) == str(elem.value),
                    f"{what}: {elem.keyword} is {str(got[elem.tag].value)!r}, expected {str(elem.value)!r}")


@checker(hint="Each attribute of the profile gets its action: X removes it, Z keeps it with an empty value, U "
              "replaces the UID by one derived from it and the salt; private attributes go; the copy says "
              "Patient Identity Removed = YES. Never change the caller's dataset.",
         formula="out = copy.deepcopy(ds); out.remove_private_tags(); for keyword, action in "
                 "privacy.BASIC_PROFILE.items(): if keyword in out: X -> delattr(out, keyword), Z -> setattr(out, "
                 "keyword, ''), U -> setattr(out, keyword, privacy.pseudonym_uid(str(value), salt)); "
                 "out.PatientIdentityRemoved = 'YES'.")
def deidentify(answer):
    """Top-level Basic Profile actions, compared attribute by attribute with labkit.privacy.deidentify."""
    from labkit import privacy

    for i, ds in enumerate(_datasets()):
        original = copy.deepcopy(ds)
        got = call(answer, ds, "salt-a")
        want = privacy.deidentify(original, "salt-a")
        for name in ("DeidentificationMethod", "DeidentificationMethodCodeSequence",
                     "LongitudinalTemporalInformationModified"):
            if name in want:
                delattr(want, name)
        _same_dataset(got, want, f"deidentify(dataset {i}, 'salt-a')")
        expect_true(str(ds.PatientName) == str(original.PatientName),
                    "deidentify changed the dataset it was given: work on a copy (copy.deepcopy)")
    again = call(answer, _datasets()[0], "salt-a")
    other = call(answer, _datasets()[0], "salt-b")
    expect_true(str(again.StudyInstanceUID) == privacy.pseudonym_uid("1.2.840.99.0.1", "salt-a"),
                "the new Study Instance UID must be privacy.pseudonym_uid(old UID, salt)")
    expect_true(str(other.StudyInstanceUID) != str(again.StudyInstanceUID), "another salt must give other UIDs")


# ------------------------------------------------------------------------------------ 21: FedAvg
def _client_states(seed):
    gen = torch.Generator().manual_seed(seed)
    shapes = {"layer.weight": (3, 4), "layer.bias": (3,), "head.weight": (1, 3)}
    return [{k: torch.randn(s, generator=gen, dtype=torch.float64) for k, s in shapes.items()} for _ in range(4)]


@checker(hint="FedAvg weighs each client's weights by its share of all training examples, n_k / n, and adds them "
              "up, tensor by tensor.",
         formula="total = sum(n_examples); {key: sum((n / total) * state[key] for n, state in zip(n_examples, "
                 "states)) for key in states[0]}")
def weighted_average(answer):
    """Weighted average of state dicts, compared with NumPy's np.average(..., weights=n_examples)."""
    for seed, counts in ((0, [10, 20, 30, 40]), (1, [1, 1, 1, 1]), (2, [0, 5, 0, 995])):
        states = _client_states(seed)
        got = call(answer, [copy.deepcopy(s) for s in states], list(counts))
        expect_true(isinstance(got, dict) and set(got) == set(states[0]),
                    f"weighted_average must return a dict with the keys {sorted(states[0])}")
        for key in states[0]:
            want = np.average(np.stack([s[key].numpy() for s in states]), axis=0, weights=counts)
            expect_close(got[key], want, f"weighted_average(...)[{key!r}] with counts {counts}", atol=1e-9)


# ------------------------------------------------------------------------------------ 21: membership AUC
@checker(hint="The attacker guesses 'member' for low losses. The AUC is the chance that a random member has a "
              "lower loss than a random non-member, ties counting one half.",
         formula="Compare every member loss with every non-member loss: (np.sum(m[:, None] < o[None, :]) + 0.5 * "
                 "np.sum(m[:, None] == o[None, :])) / (len(m) * len(o)).")
def membership_auc(answer):
    """Loss-threshold membership AUC, compared with scikit-learn's roc_auc_score on -loss."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(21)
    cases = [(rng.exponential(0.2, 40), rng.exponential(0.6, 55)), (rng.random(30), rng.random(30)),
             (np.array([0.1, 0.2, 0.2]), np.array([0.2, 0.5])), (rng.exponential(1.0, 20), rng.exponential(0.3, 25))]
    for m, o in cases:
        want = roc_auc_score(np.r_[np.ones(len(m)), np.zeros(len(o))], -np.r_[m, o])
        expect_close(call(answer, m, o), want, f"membership_auc({len(m)} member, {len(o)} non-member losses)",
                     atol=1e-9)


# ------------------------------------------------------------------------------------ 22: input gate
def _gate_cases():
    """(dataset, set of checks that must fail) for the default deploy.GateSpec."""
    import pydicom

    def make(**changes):
        ds = pydicom.Dataset()
        ds.Modality, ds.Rows, ds.Columns, ds.SamplesPerPixel = "CT", 128, 128, 1
        ds.PixelSpacing, ds.RescaleSlope, ds.RescaleIntercept = [0.66, 0.66], 1, -1024
        for key, value in changes.items():
            if value is None:
                delattr(ds, key)
            else:
                setattr(ds, key, value)
        return ds

    return [(make(), set()), (make(Modality="MR"), {"modality"}), (make(PixelSpacing=[0.3, 0.3]), {"spacing"}),
            (make(PixelSpacing=None), {"spacing"}), (make(Rows=32), {"size"}), (make(Columns=4096), {"size"}),
            (make(SamplesPerPixel=3), {"channels"}), (make(NumberOfFrames=10), {"frames"}),
            (make(RescaleSlope=None, RescaleIntercept=None), {"hounsfield"}),
            (make(Modality="US", SamplesPerPixel=3, PixelSpacing=None), {"modality", "channels", "spacing"})]


@checker(hint="Check each expectation of the spec on its own and collect every one that fails, each with a reason "
              "a person can act on; an empty dict means the image may go to the model.",
         formula="reasons = {}; if ds.get('Modality') != spec.modality: reasons['modality'] = ...; spacing = "
                 "ds.get('PixelSpacing') -> missing or outside spec.spacing_mm: reasons['spacing']; Rows/Columns "
                 "outside spec.size: 'size'; SamplesPerPixel != 1: 'channels'; NumberOfFrames > 1: 'frames'; no "
                 "RescaleSlope/RescaleIntercept: 'hounsfield'; return reasons.")
def input_gate(answer):
    """The input gate's failed checks (keys) on generated datasets, compared with labkit.deploy.input_gate."""
    from labkit import deploy

    spec = deploy.GateSpec()
    for ds, expected in _gate_cases():
        got = call(answer, copy.deepcopy(ds), spec)
        expect_true(isinstance(got, dict), f"input_gate must return a dict check -> reason, got {type(got).__name__}")
        want = set(deploy.input_gate(ds, spec))
        expect_true(want == expected, "internal: reference gate disagrees with the test case")
        shown = f"Modality {ds.get('Modality')}, {ds.get('Rows')}x{ds.get('Columns')}, spacing " \
                f"{ds.get('PixelSpacing')}, samples {ds.get('SamplesPerPixel')}, frames {ds.get('NumberOfFrames', 1)}"
        expect_true(set(got) == want, f"input_gate({shown}) failed the checks {sorted(got)}, expected {sorted(want)}")
        expect_true(all(isinstance(r, str) and r.strip() for r in got.values()),
                    "every failed check needs a reason (a non-empty string)")


# ------------------------------------------------------------------------------------ 22: export parity
def _parity_models():
    """A small network and a slightly different version of it (another checkpoint: weights moved a little)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(22)
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                    torch.nn.Conv2d(4, 2, 1)).eval()
        other = copy.deepcopy(model)
        with torch.no_grad():
            for param in other.parameters():
                param.add_(0.05 * torch.randn_like(param))
        return model, other


@checker(hint="Run the same input through the PyTorch model (eval mode, no gradients) and through an onnxruntime "
              "session of the exported file, then compare the largest absolute difference with the tolerance.",
         formula="with torch.no_grad(): ref = model.eval()(torch.as_tensor(x)).numpy(); session = "
                 "onnxruntime.InferenceSession(str(onnx_path), providers=['CPUExecutionProvider']); out = "
                 "session.run(None, {session.get_inputs()[0].name: x})[0]; diff = float(np.abs(out - ref).max()); "
                 "return {'max_abs_diff': diff, 'ok': diff <= atol}")
def export_parity(answer):
    """Export parity against onnxruntime: a faithful export passes, an export of another model fails."""
    from labkit import deploy

    model, other = _parity_models()
    x = np.random.default_rng(22).random((3, 1, 8, 8), dtype=np.float32)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        wrong = Path(folder) / "other.onnx"
        deploy.export_onnx(model, torch.as_tensor(x), path)
        deploy.export_onnx(other, torch.as_tensor(x), wrong)
        for onnx_path, same in ((path, True), (wrong, False)):
            got = call(answer, model, onnx_path, x, 1e-4)
            expect_true(isinstance(got, dict) and {"max_abs_diff", "ok"} <= set(got),
                        "export_parity must return a dict with 'max_abs_diff' and 'ok'")
            want = deploy.export_parity(model, onnx_path, x, 1e-4)
            expect_close(got["max_abs_diff"], want["max_abs_diff"], f"max_abs_diff ({onnx_path.name})", atol=1e-5)
            if bool(got["ok"]) != same:
                which = "the faithful export" if same else "an export of another model"
                raise CheckFailed(f"ok is {got['ok']} for {which}; expected {same}")
