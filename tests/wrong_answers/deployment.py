"""Plausible but wrong answers for the checkers in labkit/checks/deployment.py (one per checker)."""

WRONG = {
    "deidentify": '''
import copy
from labkit import privacy
def deidentify(ds, salt):
    out = copy.deepcopy(ds)
    for keyword, action in privacy.BASIC_PROFILE.items():   # private attributes are left in the file
        if keyword not in out:
            continue
        if action == "X":
            delattr(out, keyword)
        elif action == "Z":
            setattr(out, keyword, "")
        else:
            setattr(out, keyword, privacy.pseudonym_uid(str(getattr(out, keyword)), salt))
    out.PatientIdentityRemoved = "YES"
    return out
''',
    "weighted_average": '''
def weighted_average(states, n_examples):
    # every client counts the same, whatever its number of examples
    return {key: sum(state[key] for state in states) / len(states) for key in states[0]}
''',
    "membership_auc": '''
import numpy as np
def membership_auc(member_losses, nonmember_losses):
    m = np.asarray(member_losses, dtype=float)[:, None]
    o = np.asarray(nonmember_losses, dtype=float)[None, :]
    return float((m > o).mean())   # counts members with the HIGHER loss, and ignores ties
''',
    "input_gate": '''
def input_gate(ds, spec):
    # stops at the first failed check: the other reasons are never reported
    if ds.get("Modality") != spec.modality:
        return {"modality": f"modality {ds.get('Modality')}"}
    spacing = ds.get("PixelSpacing")
    if spacing is None or not all(spec.spacing_mm[0] <= float(s) <= spec.spacing_mm[1] for s in spacing):
        return {"spacing": f"pixel spacing {spacing}"}
    if not all(spec.size[0] <= int(ds.get(k) or 0) <= spec.size[1] for k in ("Rows", "Columns")):
        return {"size": "image size outside the range"}
    if int(ds.get("SamplesPerPixel") or 1) != 1:
        return {"channels": "not grey"}
    if int(ds.get("NumberOfFrames") or 1) > 1:
        return {"frames": "more than one frame"}
    if ds.get("RescaleSlope") is None or ds.get("RescaleIntercept") is None:
        return {"hounsfield": "no rescale"}
    return {}
''',
    "export_parity": '''
import numpy as np
import torch
import onnxruntime
def export_parity(model, onnx_path, x, atol=1e-4):
    x = np.asarray(x, dtype=np.float32)
    with torch.no_grad():
        reference = model.eval()(torch.as_tensor(x)).numpy()
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    diff = float(abs(np.abs(out).max() - np.abs(reference).max()))   # compares the largest values, not each output
    return {"max_abs_diff": diff, "ok": diff <= atol}
''',
}
