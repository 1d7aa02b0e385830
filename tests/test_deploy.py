"""labkit.deploy: packaging and safe loading, export and parity, the input gate, DICOM SEG/SR, the monitoring log."""

import json

import numpy as np
import pydicom
import pytest
import torch

from labkit import deploy, realdata


def _net(seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                   torch.nn.Conv2d(4, 1, 1)).eval()


def _package(tmp_path, model=None):
    return deploy.save_package(model or _net(), tmp_path / "pkg", name="net", version="1.0", intended_use="tests",
                               data_card={"images": "none"}, threshold=0.5)


def test_package_round_trip_and_manifest(tmp_path):
    manifest = _package(tmp_path)
    assert manifest["sha256"] == deploy.sha256_file(tmp_path / "pkg" / "weights.pt") and manifest["threshold"] == 0.5
    assert json.loads((tmp_path / "pkg" / "manifest.json").read_text())["version"] == "1.0"
    loaded, info = deploy.load_package(tmp_path / "pkg", _net(seed=1))
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), _net()(x)) and not loaded.training and info["name"] == "net"


def test_tampered_and_malicious_packages_are_refused(tmp_path):
    manifest = _package(tmp_path)
    weights = tmp_path / "pkg" / "weights.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(deploy.PackageError, match="checksum"):
        deploy.load_package(tmp_path / "pkg", _net())

    class Payload:
        def __reduce__(self):
            return (print, ("should never run",))

    torch.save({"0.weight": Payload()}, weights)
    (tmp_path / "pkg" / "manifest.json").write_text(json.dumps(dict(manifest, sha256=deploy.sha256_file(weights))))
    with pytest.raises(deploy.PackageError, match="not a plain state dict"):
        deploy.load_package(tmp_path / "pkg", _net())


def test_package_bad_input(tmp_path):
    with pytest.raises(deploy.PackageError, match="no manifest"):
        deploy.load_package(tmp_path, _net())
    with pytest.raises(ValueError, match="version"):
        deploy.save_package(_net(), tmp_path, name="n", version="", intended_use="x", data_card={"a": 1})
    with pytest.raises(ValueError, match="data_card"):
        deploy.save_package(_net(), tmp_path, name="n", version="1", intended_use="x", data_card={})
    _package(tmp_path)
    (tmp_path / "pkg" / "weights.pt").unlink()
    with pytest.raises(deploy.PackageError, match="missing"):
        deploy.load_package(tmp_path / "pkg", _net())


def test_exports_agree_with_pytorch_and_parity_can_fail(tmp_path):
    model, x = _net(), torch.rand(2, 1, 8, 8)
    ts = torch.jit.load(str(deploy.export_torchscript(model, x, tmp_path / "m.ts")))
    onnx_path = deploy.export_onnx(model, x, tmp_path / "m.onnx", dynamic_size=True)
    big = np.random.default_rng(0).random((3, 1, 16, 12), dtype=np.float32)   # other batch and size
    with torch.no_grad():
        assert torch.allclose(ts(x), model(x))
        assert np.allclose(deploy.onnx_predict(onnx_path, big), model(torch.as_tensor(big)).numpy(), atol=1e-5)
    good = deploy.export_parity(model, onnx_path, big)
    bad = deploy.export_parity(_net(seed=5), onnx_path, big)
    assert good["ok"] and good["max_abs_diff"] < 1e-4 and not bad["ok"] and bad["max_abs_diff"] > 1e-3
    assert deploy.time_inference(lambda a: a.sum(), big, repeats=3) >= 0


def _ct(**changes):
    ds = pydicom.Dataset()
    ds.Modality, ds.Rows, ds.Columns, ds.SamplesPerPixel = "CT", 512, 512, 1
    ds.PixelSpacing, ds.RescaleSlope, ds.RescaleIntercept = [0.5, 0.5], 1, -1024
    for key, value in changes.items():
        if value is None:
            delattr(ds, key)
        else:
            setattr(ds, key, value)
    return ds


def test_input_gate_names_every_failed_check():
    spec = deploy.GateSpec(spacing_mm=(0.4, 1.0), size=(256, 1024))
    assert deploy.input_gate(_ct(), spec) == {}
    assert set(deploy.input_gate(_ct(Modality="MR", RescaleSlope=None), spec)) == {"modality", "hounsfield"}
    assert set(deploy.input_gate(_ct(PixelSpacing=[0.2, 0.5], Rows=128), spec)) == {"spacing", "size"}
    assert set(deploy.input_gate(_ct(SamplesPerPixel=3, NumberOfFrames=4), spec)) == {"channels", "frames"}
    assert set(deploy.input_gate(_ct(PixelSpacing=None), spec)) == {"spacing"}
    assert set(deploy.input_gate(_ct(), spec, pixels=np.full((4, 4), 5000.0))) == {"intensity"}
    assert all(isinstance(r, str) and r for r in deploy.input_gate(pydicom.Dataset(), spec).values())
    head = pydicom.dcmread(realdata.source_path("head_ct"))
    assert deploy.input_gate(head, spec) == {}


def test_to_model_input_resamples_and_windows():
    hu = np.full((100, 60), 40.0, np.float32)
    x, factors = deploy.to_model_input(hu, (0.5, 0.5), 1.0, window=(40.0, 80.0))
    assert tuple(x.shape) == (1, 1, 48, 28) and factors == (0.5, 0.5)
    assert torch.allclose(x, torch.full_like(x, 0.5))


@pytest.fixture(scope="module")
def case():
    source = pydicom.dcmread(realdata.source_path("ct_small"))
    return deploy.with_simulated_lesion(source, (64, 64), 5.0, 40.0, tissue_hu=(-2000.0, 4000.0))


def test_simulated_lesion_is_a_derived_image_of_the_same_study(case):
    source = pydicom.dcmread(realdata.source_path("ct_small"))
    ds, truth = case
    assert ds.StudyInstanceUID == source.StudyInstanceUID and ds.SOPInstanceUID != source.SOPInstanceUID
    diff = pydicom.pixels.apply_modality_lut(ds.pixel_array, ds) - pydicom.pixels.apply_modality_lut(
        source.pixel_array, source)
    assert np.allclose(diff[truth], 40.0) and np.all(diff[~truth] == 0) and 100 < truth.sum() < 250
    with pytest.raises(ValueError, match="CT"):
        deploy.with_simulated_lesion(pydicom.dcmread(realdata.source_path("mr_small")), (10, 10), 3.0, 40.0)


def test_seg_and_sr_round_trip(case, tmp_path):
    ds, truth = case
    seg = deploy.write_seg(ds, truth, tmp_path / "seg.dcm")
    mask, back = deploy.read_seg(tmp_path / "seg.dcm")
    assert np.array_equal(mask, truth) and back.StudyInstanceUID == ds.StudyInstanceUID == seg.StudyInstanceUID
    square = np.array([[60, 60], [70, 60], [70, 70], [60, 70], [60, 60]], float)
    findings = [{"outline": square, "area_mm2": 43.7, "probability": 0.91},
                {"outline": square + 20, "area_mm2": 12.0, "probability": 0.55}]
    deploy.write_sr(ds, tmp_path / "sr.dcm", findings)
    values, refs, sr = deploy.read_sr(tmp_path / "sr.dcm")
    assert values == [{"Area": 43.7, "Probability": 0.91}, {"Area": 12.0, "Probability": 0.55}]
    assert refs == [ds.SOPInstanceUID] and sr.StudyInstanceUID == ds.StudyInstanceUID
    with pytest.raises(ValueError, match="mask shape"):
        deploy.write_seg(ds, truth[:10], tmp_path / "bad.dcm")
    with pytest.raises(ValueError, match="non-empty list"):
        deploy.write_sr(ds, tmp_path / "bad.dcm", [])
    with pytest.raises(ValueError, match="lacks"):
        deploy.write_sr(ds, tmp_path / "bad.dcm", [{"outline": square}])


def test_monitoring_log(tmp_path):
    log = deploy.MonitoringLog(tmp_path / "logs" / "log.jsonl")
    assert log.read() == []
    log.log(day=1, value=0.5)
    log.log(day=2, value=np.float32(0.25), time_utc="2024-01-01T00:00:00+00:00")
    records = log.read()
    assert len(records) == 2 and "time_utc" in records[0] and records[1]["time_utc"].startswith("2024")
    assert np.allclose(log.column("value"), [0.5, 0.25])
    log.log(day=3)
    with pytest.raises(KeyError, match="missing from 1 of 3"):
        log.column("value")
    with pytest.raises(ValueError, match="at least one field"):
        log.log()
