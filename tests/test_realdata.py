"""labkit.realdata: every source verifies, loads with the documented shapes/units, and fails clearly."""

import shutil

import numpy as np
import pytest

from labkit import realdata


@pytest.fixture
def fresh_cache():
    realdata.source_path.cache_clear()
    yield
    realdata.source_path.cache_clear()


SERIES_SLICES = {key for keys in realdata.SERIES.values() for key in keys}


@pytest.mark.parametrize("key", sorted(realdata.MANIFEST))
def test_every_source_verifies(key):
    path = realdata.source_path(key)
    assert path.is_file()
    assert path.name.endswith((".gz", ".dcm", ".jpg", ".png", ".tif")) or key in SERIES_SLICES  # DICOMDIR files


def test_list_sources_rows():
    rows = realdata.list_sources()
    assert [r[0] for r in rows] == list(realdata.MANIFEST)
    assert all(len(r) == 4 and isinstance(r[3], tuple) for r in rows)


@pytest.mark.parametrize("key", realdata.DICOM_KEYS)
def test_load_dicom_shapes_and_fields(key):
    image = realdata.load_dicom(key)
    assert image.pixels.dtype == np.float32
    assert image.pixels.shape == realdata.MANIFEST[key][5] == image.raw.shape
    assert image.spacing is None or (len(image.spacing) == 2 and min(image.spacing) > 0)
    assert isinstance(image.windows, list) and all(w > 0 for _, w in image.windows)
    assert image.modality == realdata.MANIFEST[key][4]
    assert "PatientName" not in image.metadata and "PatientID" not in image.metadata


@pytest.mark.parametrize("key", ["ct_small", "head_ct"])
def test_ct_is_in_hounsfield_units(key):
    image = realdata.load_dicom(key)
    assert image.hu and image.modality == "CT"
    hu = image.pixels
    assert np.mean((hu > -1100) & (hu < -800)) > 0.01, "air at about -1000 HU"
    assert hu.max() > 300, "bone above 300 HU"
    soft = hu[(hu > -100) & (hu < 100)]
    assert soft.size > 500 and -50 < np.median(soft) < 80, "soft tissue near 0-60 HU"


def test_head_ct_spacing_and_window():
    image = realdata.load_dicom("head_ct")
    assert image.spacing == pytest.approx((0.478516, 0.478516))
    assert image.windows == [(40.0, 100.0)]
    assert image.orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def test_monochrome1_xray_is_inverted():
    image = realdata.load_dicom("chest_xray")
    assert image.metadata["PhotometricInterpretation"] == "MONOCHROME1"
    assert np.corrcoef(image.raw.ravel()[::97], image.pixels.ravel()[::97])[0, 1] < -0.99
    assert not image.hu and image.spacing is None  # header spacing is 0: unknown


def test_ultrasound_rgb_and_multiframe():
    assert realdata.load_dicom("ultrasound").pixels.shape == (480, 640, 3)
    assert realdata.load_dicom("mr_multiframe").pixels.shape == (10, 64, 64)


@pytest.mark.parametrize("key", realdata.DICOM_KEYS)
def test_pixels_are_pydicoms_modality_lut_and_equal_to_hu(key):
    """The loader's pixels are pydicom's Modality LUT, which for these files is the lesson's to_hu line."""
    import pydicom

    ds = pydicom.dcmread(realdata.source_path(key))
    image = realdata.load_dicom(key)
    by_hand = realdata.to_hu(image.raw, float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0)))
    if ds.PhotometricInterpretation == "MONOCHROME1":
        by_hand = image.pixels.max() + by_hand.min() - by_hand  # inverted around the same range ...
        assert np.corrcoef(by_hand.ravel()[::97], image.pixels.ravel()[::97])[0, 1] > 0.999  # ... same ordering
    else:
        np.testing.assert_allclose(image.pixels, by_hand, rtol=1e-6, atol=1e-3)


def test_apply_header_window_is_dicoms_linear_window():
    image = realdata.load_dicom("head_ct")
    center, width = image.windows[0]
    display = realdata.apply_header_window("head_ct")
    assert display.shape == image.pixels.shape and display.dtype == np.float32
    assert display.min() == 0.0 and display.max() == 1.0
    # DICOM's LINEAR window uses center - 0.5 and width - 1 (PS3.3 C.11.2.1.2): at most about 1/width apart
    assert np.abs(display - realdata.apply_window(image.pixels, center, width)).max() <= 1.01 / (width - 1)
    exact = np.clip((image.pixels - (center - 0.5)) / (width - 1) + 0.5, 0, 1)
    np.testing.assert_allclose(display, exact, atol=1e-6)
    xray = realdata.load_dicom("chest_xray")  # MONOCHROME1: inverted like the loader's pixels
    shown = realdata.apply_header_window("chest_xray")
    mine = realdata.apply_window(xray.pixels, *xray.windows[0])
    assert np.abs(shown - mine).max() < 1e-3


@pytest.mark.parametrize("key,match", [("ct_small", "0 window"), ("ultrasound", "grey-scale"),
                                       ("mr_multiframe", "0 window")])
def test_apply_header_window_refuses_what_it_cannot_do(key, match):
    with pytest.raises(realdata.DataError, match=match):
        realdata.apply_header_window(key)


def test_slice_positions_project_on_the_normal():
    axial = (1, 0, 0, 0, 1, 0)
    np.testing.assert_allclose(realdata.slice_positions([[5, 7, -3.0], [0, 0, 2.5]], axial), [-3.0, 2.5])
    sagittal = (0, 1, 0, 0, 0, -1)  # rows along y, columns along -z: the normal is -x
    np.testing.assert_allclose(realdata.slice_positions([[10.0, 0, 0]], sagittal), [-10.0])
    with pytest.raises(ValueError, match="6 values"):
        realdata.slice_positions([[0, 0, 0]], (1, 0, 0))


def test_load_dicom_series_sorts_by_position_not_file_name():
    series = realdata.load_dicom_series("cardiac_ct")
    assert series.volume.shape == (5, 16, 16) and series.volume.dtype == np.float32
    assert series.spacing == pytest.approx((2.5, 0.488281, 0.488281))
    assert np.all(np.diff(series.positions @ series.normal) > 0)
    assert series.sources == tuple(reversed(realdata.SERIES["cardiac_ct"]))  # the files lie in reverse body order
    assert series.thickness == 2.5
    first = realdata.load_dicom(series.sources[0])
    np.testing.assert_array_equal(series.volume[0], first.pixels)
    same = realdata.load_dicom_series(list(reversed(realdata.SERIES["cardiac_ct"])))
    np.testing.assert_array_equal(same.volume, series.volume)


def test_load_dicom_series_refuses_gaps_duplicates_and_bad_names():
    with pytest.raises(realdata.DataError, match="not evenly spaced"):
        realdata.load_dicom_series("head_ct_series")
    with pytest.raises(realdata.DataError, match="same position"):
        realdata.load_dicom_series(["cardiac_ct_1", "cardiac_ct_1"])
    with pytest.raises(realdata.DataError, match="at least 2 slices"):
        realdata.load_dicom_series("no_such_series")
    with pytest.raises(realdata.DataError, match="at least 2 slices"):
        realdata.load_dicom_series(["cardiac_ct_1"])
    with pytest.raises(realdata.DataError, match="different ImageOrientationPatient"):
        realdata.load_dicom_series(["cardiac_ct_1", "mr_shoulder"])
    with pytest.raises(realdata.DataError, match="different numbers of rows"):
        realdata.load_dicom_series(["cardiac_ct_1", "ct_small"])


def test_load_dicom_accepts_a_path():
    by_key = realdata.load_dicom("ct_small")
    by_path = realdata.load_dicom(realdata.source_path("ct_small"))
    np.testing.assert_array_equal(by_key.pixels, by_path.pixels)


def test_load_dicom_rejects_non_dicom(tmp_path):
    fake = tmp_path / "notes.dcm"
    fake.write_text("not an image")
    with pytest.raises(realdata.DataError, match="not a DICOM file"):
        realdata.load_dicom(fake)
    with pytest.raises(realdata.DataError, match="neither a DICOM key"):
        realdata.load_dicom(tmp_path / "missing.dcm")
    with pytest.raises(realdata.DataError, match="not a DICOM source"):
        realdata.load_dicom("retina")


def test_to_hu_and_apply_window():
    np.testing.assert_allclose(realdata.to_hu(np.array([0, 1024, 2048]), 1.0, -1024.0), [-1024, 0, 1024])
    assert realdata.to_hu(np.array([10], np.int16), 2, 0).dtype == np.float32
    window = realdata.apply_window(np.array([-100.0, 40.0, 90.0, 200.0]), center=40, width=100)
    np.testing.assert_allclose(window, [0.0, 0.5, 1.0, 1.0])
    assert window.dtype == np.float32
    with pytest.raises(ValueError, match="width must be > 0"):
        realdata.apply_window(np.zeros(3), 40, 0)
    with pytest.raises(ValueError, match="slope"):
        realdata.to_hu(np.zeros(3), 0, 0)


def test_checksum_mismatch_names_file_and_hashes(tmp_path, monkeypatch, fresh_cache):
    original = realdata.source_path("ct_small")
    copy = tmp_path / "data" / "test_files" / "CT_small.dcm"
    copy.parent.mkdir(parents=True)
    shutil.copy(original, copy)
    with open(copy, "r+b") as f:  # tamper with one byte
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    realdata.source_path.cache_clear()
    monkeypatch.setattr(realdata, "_package_dir", lambda module: tmp_path)
    with pytest.raises(realdata.DataError) as err:
        realdata.source_path("ct_small")
    message = str(err.value)
    assert "CT_small.dcm" in message and realdata.MANIFEST["ct_small"][3] in message and "got" in message


def test_missing_package_names_pip_package(monkeypatch, fresh_cache):
    entry = ("not-a-course-package", "not_a_course_module_xyz", "x.dcm", "0" * 64, "CT", (1, 1))
    monkeypatch.setitem(realdata.MANIFEST, "ghost", entry)
    with pytest.raises(realdata.DataError, match="pip install not-a-course-package"):
        realdata.source_path("ghost")
    with pytest.raises(realdata.DataError, match="unknown data source"):
        realdata.source_path("nope")


def test_load_mni_volume():
    vol = realdata.load_mni()
    assert vol is realdata.load_mni(), "cached"
    for name in ("t1", "gm", "wm", "csf"):
        array = getattr(vol, name)
        assert array.shape == (197, 233, 189) and array.dtype == np.float32
        assert array.min() >= 0 and array.max() <= 1 and not array.flags.writeable
    assert vol.mask.dtype == bool and 0.15 < vol.mask.mean() < 0.3
    assert vol.spacing == (1.0, 1.0, 1.0) and vol.axcodes == ("R", "A", "S") and vol.affine.shape == (4, 4)
    assert not np.any(vol.csf[~vol.mask])
    t1_csf, t1_gm, t1_wm = (vol.t1[p > 0.5].mean() for p in (vol.csf, vol.gm, vol.wm))
    assert t1_csf < t1_gm < t1_wm, "T1 contrast: CSF dark, white matter bright"


def test_load_mni_slices_matches_the_full_volume():
    z = slice(60, 121, 3)
    slab = realdata.load_mni_slices(z)
    vol = realdata.load_mni()
    for name in ("t1", "gm", "wm", "csf", "mask"):
        assert np.array_equal(getattr(slab, name), getattr(vol, name)[:, :, z]), name
    assert slab.spacing == (1.0, 1.0, 3.0) and slab.axcodes == ("R", "A", "S")
    np.testing.assert_allclose(slab.affine @ [10, 20, 4, 1], vol.affine @ [10, 20, 60 + 3 * 4, 1])
    for bad in (60, slice(200, 210), slice(0, 10, -1)):
        with pytest.raises(ValueError):
            realdata.load_mni_slices(bad)


def test_load_mni_t1_matches_the_full_volume_without_caching_it():
    realdata.load_mni.cache_clear()
    t1, mask = realdata.load_mni_t1()
    assert realdata.load_mni.cache_info().currsize == 0, "the light path must not fill load_mni's cache"
    vol = realdata.load_mni()
    assert np.array_equal(t1, vol.t1) and np.array_equal(mask, vol.mask)
    assert not t1.flags.writeable and not mask.flags.writeable
    cached_t1, _ = realdata.load_mni_t1()
    assert cached_t1 is vol.t1, "reuses the cached volume when there is one"


@pytest.mark.parametrize("key", realdata.PHOTO_KEYS)
def test_load_photo(key):
    image = realdata.load_photo(key)
    assert image.shape == realdata.MANIFEST[key][5] and image.dtype == np.float32
    assert 0 <= image.min() and image.max() <= 1


def test_load_photo_unknown_key():
    with pytest.raises(realdata.DataError, match="unknown photo"):
        realdata.load_photo("brain")


def test_load_nuclei_boxes_enclose_instances():
    nuclei = realdata.load_nuclei()
    assert nuclei.image.shape == nuclei.labels.shape == (512, 512)
    assert nuclei.labels.max() == 125 and len(np.unique(nuclei.labels)) == 126
    assert nuclei.boxes.shape == (125, 4) and nuclei.boxes.dtype == np.float32
    for i in (0, 60, 124):
        x1, y1, x2, y2 = nuclei.boxes[i].astype(int)
        ys, xs = np.nonzero(nuclei.labels == i + 1)
        assert (x1, y1, x2, y2) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_nuclei_patches():
    images, boxes = realdata.nuclei_patches(size=64)
    assert images.shape == (64, 1, 64, 64) and images.dtype == np.float32 and len(boxes) == 64
    stacked = np.concatenate(boxes)
    assert len(stacked) > 100
    assert stacked.min() >= 0 and stacked.max() <= 64
    assert np.all(stacked[:, 2] > stacked[:, 0]) and np.all(stacked[:, 3] > stacked[:, 1])
    with pytest.raises(ValueError, match="size"):
        realdata.nuclei_patches(size=4)
