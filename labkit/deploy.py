"""Deployment: a model packaged with a manifest and loaded safely, exported (TorchScript, ONNX) with a parity check,
an input gate for DICOM images, DICOM SEG and SR results (highdicom), and a monitoring log.

``input_gate`` and ``export_parity`` introduced in 22_clinical_deployment.ipynb (the lesson writes both by hand
first); the rest is plumbing the lesson shows and uses.
"""

import datetime
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from labkit.realdata import sha256_file  # the one hashing of the course, re-exported for packages

__all__ = ["PackageError", "GateSpec", "sha256_file", "save_package", "load_package", "export_torchscript",
           "export_onnx", "onnx_predict", "export_parity", "time_inference", "input_gate", "to_model_input",
           "write_seg", "read_seg", "write_sr", "read_sr", "with_simulated_lesion", "MonitoringLog"]


class PackageError(Exception):
    """A model package is incomplete, altered, or not what the loader expects."""


# ------------------------------------------------------------------------------------ packaging
def save_package(model, folder, name, version, intended_use, data_card, **extra):
    """Save ``model``'s state dict as ``weights.pt`` and a ``manifest.json`` beside it -> the manifest (dict).

    The manifest records name, version, the weights' sha256 and size, the intended use, the training data card
    (a dict), the creation time (UTC), torch's version and any ``extra`` fields (e.g. input spec, threshold).
    """
    folder = Path(folder)
    for what, value in (("name", name), ("version", version), ("intended_use", intended_use)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    if not isinstance(data_card, dict) or not data_card:
        raise ValueError(f"data_card must be a non-empty dict describing the training data, got {data_card!r}")
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "weights.pt"
    torch.save(model.state_dict(), weights)
    manifest = {"name": name, "version": version, "weights": weights.name, "sha256": sha256_file(weights),
                "bytes": weights.stat().st_size, "intended_use": intended_use, "data_card": data_card,
                "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "torch": torch.__version__, **extra}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    return manifest


def load_package(folder, model):
    """Load a package saved by :func:`save_package` into ``model`` -> (model in eval mode, manifest).

    Refuses (PackageError) a missing manifest or weights file and weights whose sha256 differs from the manifest
    (checked before unpickling anything); then ``torch.load(..., weights_only=True)``, which refuses any pickle that
    would build objects other than tensors and plain containers.
    """
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise PackageError(f"no manifest.json in {folder}")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    weights = folder / str(manifest.get("weights", ""))
    if not weights.is_file():
        raise PackageError(f"weights file {weights.name!r} named by the manifest is missing")
    actual = sha256_file(weights)
    if actual != manifest.get("sha256"):
        raise PackageError(f"checksum mismatch for {weights.name}: manifest says {manifest.get('sha256')}, file has "
                           f"{actual}; the weights were altered or replaced, refusing to load")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as err:
        raise PackageError(f"{weights.name} is not a plain state dict: {type(err).__name__}: {err}") from None
    model.load_state_dict(state)
    return model.eval(), manifest


# ------------------------------------------------------------------------------------ export
def export_torchscript(model, example, path):
    """Trace ``model`` (eval mode) on ``example`` and save it as TorchScript -> path. (TorchScript is frozen in
    PyTorch in favour of torch.export, but many serving runtimes still read it.)"""
    model = model.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example)
        traced.save(str(path))
    return Path(path)


def export_onnx(model, example, path, opset=17, dynamic_size=False):
    """Export ``model`` (eval mode) to ONNX with the TorchScript-based exporter (``dynamo=False``), an input named
    'image', an output named 'logits' and a dynamic batch axis (and dynamic height and width when
    ``dynamic_size``, for fully convolutional models) -> path."""
    model = model.eval()
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic_size else {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": axes, "logits": dict(axes)}, opset_version=opset)
    return Path(path)


def _session(onnx_path):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    return onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def onnx_predict(onnx_path, x):
    """Run an ONNX model with onnxruntime (CPU) on x (N, ...) float32 -> NumPy outputs."""
    session = _session(onnx_path)
    return session.run(None, {session.get_inputs()[0].name: np.asarray(x, np.float32)})[0]


def export_parity(model, onnx_path, x, atol=1e-4):
    """Compare PyTorch's and onnxruntime's outputs on the same input -> {'max_abs_diff': float, 'ok': bool}.

    x: (N, ...) float32 array. ``ok`` when the largest absolute difference is at most ``atol``.
    Introduced in 22_clinical_deployment.ipynb.
    """
    x = np.asarray(x, np.float32)
    with torch.no_grad():
        reference = model.eval()(torch.as_tensor(x)).cpu().numpy()
    out = onnx_predict(onnx_path, x)
    if out.shape != reference.shape:
        return {"max_abs_diff": float("inf"), "ok": False}
    diff = float(np.abs(out - reference).max())
    return {"max_abs_diff": diff, "ok": diff <= atol}


def time_inference(run, x, repeats=10):
    """Median wall time in milliseconds of ``run(x)`` over ``repeats`` calls (after one warm-up call)."""
    run(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


# ------------------------------------------------------------------------------------ input gate
@dataclass(frozen=True)
class GateSpec:
    """What the model was validated on: modality, pixel spacing range (mm), image size range (pixels, rows and
    columns), one sample per pixel (grey), one frame, CT values in Hounsfield units (a rescale slope and
    intercept), and the plausible range of those values."""

    modality: str = "CT"
    spacing_mm: tuple = (0.5, 0.8)
    size: tuple = (64, 1024)
    hu_range: tuple = (-1100.0, 3100.0)
    extra: dict = field(default_factory=dict)


def _spacing(ds):
    value = ds.get("PixelSpacing")
    try:
        return tuple(float(v) for v in value) if value is not None and len(value) == 2 else None
    except (TypeError, ValueError):
        return None


def input_gate(ds, spec=None, pixels=None):
    """Check a DICOM image against what the model expects -> {check: reason} for every failed check ({} = accept).

    Checks: 'modality', 'spacing' (missing, or outside ``spec.spacing_mm``), 'size' (rows or columns outside
    ``spec.size``), 'channels' (not one sample per pixel), 'frames' (more than one), 'hounsfield' (no rescale
    slope/intercept), and, when ``pixels`` (HU) are given, 'intensity' (median outside ``spec.hu_range``).
    Introduced in 22_clinical_deployment.ipynb.
    """
    spec = spec or GateSpec()
    reasons = {}
    modality = str(ds.get("Modality", ""))
    if modality != spec.modality:
        reasons["modality"] = f"modality {modality or 'missing'}, the model was validated on {spec.modality} only"
    spacing = _spacing(ds)
    low, high = spec.spacing_mm
    if spacing is None:
        reasons["spacing"] = "no Pixel Spacing: physical size unknown"
    elif not all(low <= s <= high for s in spacing):
        reasons["spacing"] = f"pixel spacing {spacing[0]:.3g} x {spacing[1]:.3g} mm outside {low}-{high} mm"
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if not (spec.size[0] <= rows <= spec.size[1] and spec.size[0] <= cols <= spec.size[1]):
        reasons["size"] = f"image {rows} x {cols} pixels outside {spec.size[0]}-{spec.size[1]}"
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        reasons["channels"] = f"{ds.get('SamplesPerPixel')} samples per pixel (colour); expected grey"
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        reasons["frames"] = f"{ds.get('NumberOfFrames')} frames; expected a single slice"
    if "RescaleSlope" not in ds or "RescaleIntercept" not in ds:
        reasons["hounsfield"] = "no Rescale Slope/Intercept: values are not Hounsfield units"
    if pixels is not None and not reasons.get("hounsfield"):
        median = float(np.median(pixels))
        if not spec.hu_range[0] <= median <= spec.hu_range[1]:
            reasons["intensity"] = f"median value {median:.0f} HU outside {spec.hu_range}"
    return reasons


def to_model_input(hu, spacing, target_spacing, window=(40.0, 400.0), multiple=4):
    """Preprocess a CT slice for the model: resample (H, W) HU values from ``spacing`` to ``target_spacing`` mm
    (linear), window to [0, 1], crop to a multiple of ``multiple`` -> ((1, 1, h, w) float32 tensor, zoom factors)."""
    from scipy import ndimage

    from labkit import realdata

    factors = (spacing[0] / target_spacing, spacing[1] / target_spacing)
    resampled = ndimage.zoom(np.asarray(hu, np.float32), factors, order=1, mode="nearest")
    h, w = (resampled.shape[0] // multiple) * multiple, (resampled.shape[1] // multiple) * multiple
    image = realdata.apply_window(resampled[:h, :w], *window)
    return torch.as_tensor(image)[None, None], factors


# ------------------------------------------------------------------------------------ DICOM results
def _algorithm(name, version):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    return hd.AlgorithmIdentificationSequence(name=name, version=version, family=codes.DCM.ArtificialIntelligence)


def write_seg(source, mask, path, name="lesion detector", version="1.0", series_number=900):
    """Write a binary DICOM Segmentation (highdicom) of ``mask`` (H, W) bool on the grid of ``source`` (a pydicom
    single-frame image) -> the Segmentation dataset; same study as the source, new series, references the source."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    mask = np.asarray(mask, bool)
    if mask.shape != (int(source.Rows), int(source.Columns)):
        raise ValueError(f"mask shape {mask.shape} must equal the source image {(source.Rows, source.Columns)}")
    description = hd.seg.SegmentDescription(
        segment_number=1, segment_label="lesion", segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=_algorithm(name, version))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. single-component patient names in the source
        seg = _build_seg(hd, source, mask, description, name, version, series_number)
    seg.save_as(str(path))
    return seg


def _build_seg(hd, source, mask, description, name, version, series_number):
    return hd.seg.Segmentation(
        source_images=[source], pixel_array=mask[None], segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description], series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="labkit course", manufacturer_model_name=name,
        software_versions=version, device_serial_number="none", series_description=f"{name} {version} (AI)")


def read_seg(path):
    """Read a DICOM Segmentation -> (mask (H, W) bool of segment 1, dataset)."""
    import highdicom as hd

    seg = hd.seg.segread(str(path))
    frame = seg.get_volume(combine_segments=True).array if hasattr(seg, "get_volume") else seg.pixel_array
    return np.asarray(frame).reshape(int(seg.Rows), int(seg.Columns)) > 0, seg


def write_sr(source, path, findings, name="lesion detector", version="1.0", series_number=901):
    """Write a DICOM Structured Report (highdicom Comprehensive 3D SR, TID 1500 measurement report) with one
    measurement group per finding on ``source`` -> the SR dataset (same study as the source, new series).

    findings: list of dicts with 'outline' (K, 2) polyline in pixels (column, row), 'area_mm2' (float) and
    'probability' (float in [0, 1], the model's output for that finding).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    if not isinstance(findings, (list, tuple)) or not findings:
        raise ValueError("findings must be a non-empty list of dicts with 'outline', 'area_mm2' and 'probability'")
    device = hd.sr.DeviceObserverIdentifyingAttributes(uid=hd.UID(), name=name, model_name=version)
    context = hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Device, observer_identifying_attributes=device))
    groups = []
    for k, finding in enumerate(findings, start=1):
        missing = {"outline", "area_mm2", "probability"} - set(finding)
        if missing:
            raise ValueError(f"finding {k} lacks {sorted(missing)}")
        region = hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                                   graphic_data=np.asarray(finding["outline"], np.float64),
                                   source_image=hd.sr.SourceImageForRegion.from_source_image(source))
        measurements = [
            hd.sr.Measurement(name=codes.SCT.Area, value=float(finding["area_mm2"]), unit=codes.UCUM.SquareMillimeter),
            hd.sr.Measurement(name=codes.DCM.Probability, value=float(finding["probability"]),
                              unit=hd.sr.CodedConcept("1", "UCUM", "no units"))]
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"finding {k}"),
            referenced_region=region, finding_type=codes.SCT.Lesion, measurements=measurements))
    report = hd.sr.MeasurementReport(observation_context=context, procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
                                     imaging_measurements=groups)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. single-component patient names in the source
        sr = hd.sr.Comprehensive3DSR(evidence=[source], content=report, series_number=series_number,
                                     series_instance_uid=hd.UID(), sop_instance_uid=hd.UID(), instance_number=1,
                                     manufacturer="labkit course", series_description=f"{name} {version} (AI)")
    sr.save_as(str(path))
    return sr


def read_sr(path):
    """Read a report written by :func:`write_sr` -> (list of {measurement name: value}, one per finding, referenced
    SOP Instance UIDs of the evidence, dataset)."""
    import highdicom as hd

    sr = hd.sr.srread(str(path))
    findings = [{m.name.meaning: float(m.value) for m in group.get_measurements()}
                for group in sr.content.get_planar_roi_measurement_groups()]
    refs = [str(item.ReferencedSOPInstanceUID) for study in sr.get("CurrentRequestedProcedureEvidenceSequence", [])
            for series in study.ReferencedSeriesSequence for item in series.ReferencedSOPSequence]
    return findings, refs, sr


def with_simulated_lesion(ds, centre, radius_mm, delta_hu, tissue_hu=(-20.0, 100.0)):
    """A copy of a CT image (pydicom) with a round simulated lesion: ``delta_hu`` added to the pixels within
    ``radius_mm`` of ``centre`` (row, column) whose value lies in ``tissue_hu`` -> (new dataset, truth (H, W) bool).

    The copy is a derived image of the same study: new series and SOP Instance UIDs, ImageType DERIVED, and a new
    Frame of Reference UID where the source has none (DICOM Segmentations require one).
    """
    import copy

    import highdicom as hd
    from pydicom.pixels import apply_modality_lut

    if str(ds.get("Modality", "")) != "CT" or "RescaleSlope" not in ds:
        raise ValueError(f"expected a CT image with a rescale slope, got modality {ds.get('Modality')!r}")
    raw = ds.pixel_array
    hu = np.asarray(apply_modality_lut(raw, ds), np.float32)
    spacing = [float(v) for v in ds.PixelSpacing]
    rows, cols = np.mgrid[:raw.shape[0], :raw.shape[1]]
    disc = ((rows - centre[0]) * spacing[0]) ** 2 + ((cols - centre[1]) * spacing[1]) ** 2 <= radius_mm ** 2
    truth = disc & (hu >= tissue_hu[0]) & (hu <= tissue_hu[1])
    step = round(delta_hu / float(ds.RescaleSlope))
    info = np.iinfo(raw.dtype)
    out = copy.deepcopy(ds)
    out.PixelData = np.clip(raw.astype(np.int64) + step * truth, info.min, info.max).astype(raw.dtype).tobytes()
    out.SOPInstanceUID, out.SeriesInstanceUID = hd.UID(), hd.UID()
    out.ImageType = ["DERIVED", "SECONDARY"]
    if "FrameOfReferenceUID" not in out:
        out.FrameOfReferenceUID = hd.UID()
    out.SeriesDescription = f"{ds.get('SeriesDescription', '')} with a simulated lesion".strip()
    if hasattr(out, "file_meta"):
        out.file_meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    return out, truth


# ------------------------------------------------------------------------------------ monitoring
class MonitoringLog:
    """An append-only log of what a deployed model saw and said: one JSON object per line (JSON Lines).

    ``log(**record)`` adds a record (numbers, strings, lists; a UTC time stamp is added unless given);
    ``read()`` returns all records; ``column(name)`` one field as a NumPy array.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, **record):
        if not record:
            raise ValueError("a log record needs at least one field")
        record.setdefault("time_utc", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=float) + "\n")

    def read(self):
        if not self.path.is_file():
            return []
        with open(self.path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def column(self, name):
        records = self.read()
        missing = [i for i, r in enumerate(records) if name not in r]
        if missing:
            raise KeyError(f"field {name!r} is missing from {len(missing)} of {len(records)} records")
        return np.asarray([r[name] for r in records])

