"""Privacy and fairness: DICOM de-identification, membership inference, DP-SGD and subgroup rates.

Introduced in 21_privacy_ethics.ipynb (the lesson writes the de-identifier, the membership-inference AUC and the
subgroup rates by hand first).

De-identification follows the DICOM Basic Application Level Confidentiality Profile (PS3.15 Annex E) for the
attributes listed in :data:`BASIC_PROFILE` (a subset of its Table E.1-1) and, more strictly than that table, empties
every person name and removes every other date and time. Action codes: ``Z`` replace with an empty value, ``X``
remove, ``U`` replace a UID by one derived from it with a secret salt (so the same original UID always gives the
same new one: a study stays a study). Pixel data are not touched: burned-in text needs a separate check
(:func:`burned_in_risk`).
"""

import copy
import hashlib
import uuid
import warnings

import numpy as np
import torch

__all__ = ["BASIC_PROFILE", "KEEP_UIDS", "RISKY_MODALITIES", "pseudonym_uid", "deidentify", "pixel_hash",
           "identifying_values", "find_leaks", "compare_tags", "burned_in_risk", "per_sample_loss",
           "membership_auc", "fit_private", "group_rates", "equalised_odds_gap", "thresholds_for_sensitivity"]

# keyword -> action of PS3.15 Table E.1-1 for the Basic Profile (where the table allows X/Z/D, the attributes
# below are Type 3 in the course's images, so X applies).
BASIC_PROFILE = {
    "PatientName": "Z", "PatientID": "Z", "PatientBirthDate": "Z", "PatientSex": "Z", "AccessionNumber": "Z",
    "ReferringPhysicianName": "Z", "StudyDate": "Z", "StudyTime": "Z", "StudyID": "Z",
    "PatientAge": "X", "PatientBirthTime": "X", "OtherPatientIDs": "X", "OtherPatientNames": "X",
    "PatientAddress": "X", "PatientSize": "X", "PatientWeight": "X", "AdditionalPatientHistory": "X",
    "InstitutionName": "X", "InstitutionAddress": "X", "InstitutionalDepartmentName": "X", "StationName": "X",
    "OperatorsName": "X", "PerformingPhysicianName": "X", "PhysiciansOfRecord": "X", "DeviceSerialNumber": "X",
    "ImageComments": "X", "StudyInstanceUID": "U", "SeriesInstanceUID": "U", "SOPInstanceUID": "U",
    "FrameOfReferenceUID": "U", "MediaStorageSOPInstanceUID": "U", "ReferencedSOPInstanceUID": "U",
}
# UIDs that name a standard thing (a SOP class, a transfer syntax), not a patient's data: never replaced.
KEEP_UIDS = ("SOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID", "ImplementationClassUID",
             "ReferencedSOPClassUID", "CodingSchemeUID", "ContextGroupExtensionCreatorUID")
# Modalities whose images often carry text written into the pixels (ultrasound, secondary capture, other,
# endoscopy, external photos, X-ray angiography screens).
RISKY_MODALITIES = ("US", "SC", "OT", "ES", "XC", "XA")


def pseudonym_uid(uid, salt):
    """A new UID ``2.25.<int>`` derived from ``uid`` and a secret ``salt`` (name-based UUID, RFC 4122 version 5).

    The same (uid, salt) always gives the same result, so references between instances survive; without the salt
    the original cannot be recovered or linked. Introduced in 21_privacy_ethics.ipynb.
    """
    if not isinstance(uid, str) or not uid or not isinstance(salt, str) or not salt:
        raise ValueError(f"uid and salt must be non-empty strings, got {uid!r} and {salt!r}")
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, salt + '|' + uid).int}"


def _check_dataset(ds):
    import pydicom

    if not isinstance(ds, pydicom.Dataset):
        raise TypeError(f"expected a pydicom Dataset, got {type(ds).__name__}")


def _apply(ds, salt, profile):
    """Apply the profile to one dataset level (and, through walk, to every nested sequence item)."""
    def handle(dataset, elem):
        keyword = elem.keyword
        action = profile.get(keyword)
        if elem.VR == "UI" and keyword not in KEEP_UIDS and elem.value:
            action = "U"
        elif action is None and elem.VR == "PN":
            action = "Z"
        elif action is None and elem.VR in ("DA", "DT", "TM"):
            action = "X"
        if action == "X":
            del dataset[elem.tag]
        elif action == "Z":
            elem.value = ""
        elif action == "U" and elem.value:
            values = elem.value if elem.VM > 1 else [elem.value]
            new = [pseudonym_uid(str(v), salt) for v in values]
            elem.value = new if elem.VM > 1 else new[0]

    ds.walk(handle)


def deidentify(ds, salt, profile=None):
    """A de-identified copy of the pydicom Dataset ``ds`` (the input is not changed).

    Applies ``profile`` (default :data:`BASIC_PROFILE`) to the dataset, its file meta and every sequence item;
    replaces every other UID (except :data:`KEEP_UIDS`) with :func:`pseudonym_uid`; empties every other person
    name; removes every other date/time and all private attributes; then records what was done: Patient Identity
    Removed = YES, De-identification Method and its code (DCM 113100, Basic Application Confidentiality Profile),
    Longitudinal Temporal Information Modified = REMOVED. Pixel data are left exactly as they were.
    """
    from pydicom.dataset import Dataset

    _check_dataset(ds)
    if not isinstance(salt, str) or not salt:
        raise ValueError(f"salt must be a non-empty string (keep it secret), got {salt!r}")
    profile = BASIC_PROFILE if profile is None else profile
    bad = {k: v for k, v in profile.items() if v not in ("X", "Z", "U")}
    if bad:
        raise ValueError(f"profile actions must be 'X', 'Z' or 'U', got {bad}")
    out = copy.deepcopy(ds)
    out.remove_private_tags()
    _apply(out, salt, profile)
    if getattr(out, "file_meta", None) is not None:
        _apply(out.file_meta, salt, profile)
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = "PS3.15 Basic Application Level Confidentiality Profile"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = "113100", "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    out.DeidentificationMethodCodeSequence = [code]
    out.LongitudinalTemporalInformationModified = "REMOVED"
    return out


def pixel_hash(ds):
    """sha256 (hex) of the stored pixel bytes (Pixel Data) of ``ds``: equal before and after header changes."""
    _check_dataset(ds)
    if "PixelData" not in ds:
        raise ValueError("the dataset has no Pixel Data")
    return hashlib.sha256(bytes(ds.PixelData)).hexdigest()


def identifying_values(ds, profile=None):
    """{keyword: value as str} of the non-empty, non-UID attributes that ``profile`` empties or removes, plus every
    person name: the strings that must not survive de-identification anywhere in the file."""
    _check_dataset(ds)
    profile = BASIC_PROFILE if profile is None else profile
    found = {}

    def visit(_, elem):
        if elem.VR == "SQ" or elem.VR == "UI" or elem.value in (None, "", b""):
            return
        if profile.get(elem.keyword) in ("X", "Z") or elem.VR == "PN":
            text = str(elem.value).strip()
            if len(text) >= 3 and set(text) - set("0.-+ Y"):   # skip placeholders such as '00000', '000Y'

                found[elem.keyword] = text

    ds.walk(visit)
    return found


def find_leaks(ds, values, ignore=("Manufacturer", "ManufacturerModelName")):
    """[(keyword where found, value)] for every value of ``values`` (dict from :func:`identifying_values`, or
    original UIDs) that still appears, as a substring, in any text or UID element of ``ds`` (sequences too).
    ``ignore``: attributes the profile keeps on purpose (a vendor name may equal a site name field)."""
    _check_dataset(ds)
    needles = [str(v) for v in (values.values() if isinstance(values, dict) else values) if str(v)]
    leaks = []

    def visit(_, elem):
        if elem.VR in ("SQ", "OB", "OW", "OF", "OD", "UN") or elem.value is None or elem.keyword in ignore:
            return
        text = str(elem.value)
        leaks.extend((elem.keyword, n) for n in needles if n in text)

    ds.walk(visit)
    if getattr(ds, "file_meta", None) is not None:
        ds.file_meta.walk(visit)
    return leaks


def compare_tags(original, keywords, **versions):
    """Rows (keyword, original value, {name: fate}) for ``keywords``, where fate is 'removed', 'emptied',
    'kept', 'replaced' (or 'added' when the original had none) in each de-identified version."""
    _check_dataset(original)
    rows = []
    for keyword in keywords:
        before = original.get(keyword)
        fates = {}
        for name, ds in versions.items():
            _check_dataset(ds)
            after = ds.get(keyword)
            if after is None:
                fates[name] = "removed" if before is not None else "absent"
            elif str(after) == "":
                fates[name] = "emptied" if before not in (None, "") else "kept (empty)"
            elif before is None:
                fates[name] = "added"
            else:
                fates[name] = "kept" if str(after) == str(before) else "replaced"
        rows.append((keyword, "" if before is None else str(before), fates))
    return rows


def burned_in_risk(ds):
    """(verdict, reason): 'yes' when Burned In Annotation is YES, 'review' when it is absent and the modality often
    carries text in its pixels (:data:`RISKY_MODALITIES`), else 'low'. A header check only: it cannot see text."""
    _check_dataset(ds)
    flag = str(ds.get("BurnedInAnnotation", "")).strip().upper()
    modality = str(ds.get("Modality", "")).strip().upper()
    if flag == "YES":
        return "yes", "Burned In Annotation is YES: the pixels hold identifying text"
    if flag == "NO":
        return "low", "Burned In Annotation is NO (stated by the device)"
    if modality in RISKY_MODALITIES:
        return "review", f"Burned In Annotation absent and modality {modality} often has text in its pixels"
    return "low", f"Burned In Annotation absent; modality {modality or '?'} rarely has text in its pixels"


# ------------------------------------------------------------------------------------ membership inference
def per_sample_loss(model, x, y, batch_size=256):
    """Binary cross-entropy of a one-logit ``model`` per sample -> (N,) float64 array (eval mode, no gradients).

    x: (N, ...) float32 array/tensor; y: (N,) 0/1 labels.
    """
    x, y = torch.as_tensor(np.asarray(x, np.float32)), torch.as_tensor(np.asarray(y), dtype=torch.float32)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be non-empty with one label per sample, got {len(x)} and {len(y)}")
    device = next(model.parameters()).device
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            logits = model(x[i:i + batch_size].to(device)).reshape(-1).cpu()
            out.append(torch.nn.functional.binary_cross_entropy_with_logits(logits, y[i:i + batch_size],
                                                                            reduction="none"))
    return torch.cat(out).double().numpy()


def membership_auc(member_losses, nonmember_losses):
    """AUC of the loss-threshold membership attack (Yeom et al., 2018): the chance that a random training sample
    (member) has a lower loss than a random unseen one (ties count one half). 0.5 = the attacker learns nothing.
    Introduced in 21_privacy_ethics.ipynb."""
    from sklearn.metrics import roc_auc_score

    members = np.asarray(member_losses, np.float64).ravel()
    others = np.asarray(nonmember_losses, np.float64).ravel()
    if members.size == 0 or others.size == 0 or not (np.isfinite(members).all() and np.isfinite(others).all()):
        raise ValueError("member_losses and nonmember_losses must be non-empty arrays of finite numbers")
    labels = np.r_[np.ones(members.size), np.zeros(others.size)]
    return float(roc_auc_score(labels, -np.r_[members, others]))


def fit_private(model, x, y, noise_multiplier, max_grad_norm=1.0, n_epochs=10, lr=1e-2, batch_size=32, delta=1e-3,
                seed=0):
    """Train a one-logit ``model`` on (x, y) with DP-SGD (Opacus): per-sample gradients clipped to
    ``max_grad_norm``, Gaussian noise of std ``noise_multiplier * max_grad_norm`` added, batches drawn by Poisson
    sampling. ``noise_multiplier=0`` is the control: clipping only, no privacy guarantee (epsilon = inf).

    Returns (model, epsilon) with epsilon from Opacus' RDP accountant at ``delta``. The model must have no
    BatchNorm (per-sample gradients need layers that treat each sample on its own) and no in-place activations
    (``ReLU(inplace=True)`` breaks Opacus' hooks). Introduced in 21_privacy_ethics.ipynb.
    """
    if noise_multiplier < 0 or max_grad_norm <= 0:
        raise ValueError(f"need noise_multiplier >= 0 and max_grad_norm > 0, got {noise_multiplier}, {max_grad_norm}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be non-empty with one label per sample, got {len(x)} and {len(y)}")
    with warnings.catch_warnings():
        # Opacus warns that its fast (non-cryptographic) noise generator is in use, and torch that the backward
        # hooks fire on module outputs; both are expected here (a teaching run, not a production release).
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        return _fit_private(model, x, y, noise_multiplier, max_grad_norm, n_epochs, lr, batch_size, delta, seed)


def _fit_private(model, x, y, noise_multiplier, max_grad_norm, n_epochs, lr, batch_size, delta, seed):
    from opacus import PrivacyEngine

    data = torch.utils.data.TensorDataset(torch.as_tensor(np.asarray(x, np.float32)),
                                          torch.as_tensor(np.asarray(y), dtype=torch.float32))
    gen = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, generator=gen)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    engine = PrivacyEngine(accountant="rdp")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        private, optimizer, loader = engine.make_private(module=model, optimizer=optimizer, data_loader=loader,
                                                         noise_multiplier=float(noise_multiplier),
                                                         max_grad_norm=float(max_grad_norm), noise_generator=gen)
        private.train()
        for _ in range(n_epochs):
            for xb, yb in loader:
                if len(xb) == 0:
                    continue
                loss = torch.nn.functional.binary_cross_entropy_with_logits(private(xb).reshape(-1), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    epsilon = float("inf") if noise_multiplier == 0 else float(engine.get_epsilon(delta))
    return private._module.eval(), epsilon


# ------------------------------------------------------------------------------------ subgroup fairness
def _check_groups(y_true, probs, groups):
    y, p, g = np.asarray(y_true).ravel(), np.asarray(probs, np.float64).ravel(), np.asarray(groups).ravel()
    if not (y.shape == p.shape == g.shape) or y.size == 0:
        raise ValueError(f"y_true, probs and groups need one entry per case, got {y.shape}, {p.shape}, {g.shape}")
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValueError("y_true must hold 0/1 labels")
    return y, p, g


def group_rates(y_true, probs, groups, thresholds=0.5):
    """{group: {'sensitivity', 'specificity', 'n_pos', 'n_neg', 'threshold'}} at one threshold for everybody
    (a float) or one per group (dict group -> float). A rate with no cases to count is NaN.
    Introduced in 21_privacy_ethics.ipynb."""
    y, p, g = _check_groups(y_true, probs, groups)
    out = {}
    for group in np.unique(g).tolist():
        t = thresholds[group] if isinstance(thresholds, dict) else float(thresholds)
        sel = g == group
        pred = p[sel] >= t
        pos, neg = y[sel] == 1, y[sel] == 0
        out[group] = {"sensitivity": float(pred[pos].mean()) if pos.any() else float("nan"),
                      "specificity": float((~pred[neg]).mean()) if neg.any() else float("nan"),
                      "n_pos": int(pos.sum()), "n_neg": int(neg.sum()), "threshold": float(t)}
    return out


def equalised_odds_gap(rates):
    """Largest difference between groups in sensitivity (true-positive rate) or in false-positive rate
    (1 - specificity), from :func:`group_rates`: 0 when every group is treated alike (Hardt et al., 2016)."""
    if not isinstance(rates, dict) or len(rates) < 2:
        raise ValueError("rates must be a dict of at least two groups from group_rates")
    tpr = [r["sensitivity"] for r in rates.values()]
    fpr = [1 - r["specificity"] for r in rates.values()]
    return float(max(np.nanmax(tpr) - np.nanmin(tpr), np.nanmax(fpr) - np.nanmin(fpr)))


def thresholds_for_sensitivity(y_true, probs, groups, target=0.9):
    """One threshold per group: the highest at which the group's sensitivity reaches ``target`` (chosen on
    validation data, applied to new cases) -> {group: threshold}."""
    y, p, g = _check_groups(y_true, probs, groups)
    if not 0 < target <= 1:
        raise ValueError(f"target must be in (0, 1], got {target}")
    out = {}
    for group in np.unique(g).tolist():
        pos = np.sort(p[(g == group) & (y == 1)])[::-1]
        if pos.size == 0:
            raise ValueError(f"group {group!r} has no positive case to set a threshold on")
        out[group] = float(pos[int(np.ceil(target * pos.size)) - 1])
    return out
