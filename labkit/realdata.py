"""Real medical images shipped inside installed PyPI packages, verified by sha256.

Nothing is downloaded: every file comes from an installed package (nilearn, pydicom, pydicom-data,
scikit-image, stardist), is located without importing that package and is checked against the
sha256 in ``MANIFEST`` the first time a process uses it. ``list_sources()`` lists them.
pydicom-data ships each image twice uncompressed: ``*_UNCR`` (the original, lossless) and ``*_UNCI``
(decoded from lossy JPEG 2000, with block artefacts); the course uses the lossless ``*_UNCR`` files.
Two small CT series from pydicom's DICOMDIR test set (slices downsized to 16 x 16 pixels, real headers) teach
how slices are sorted and spaced (:data:`SERIES`, :func:`load_dicom_series`).

Pixel conversion uses pydicom's own implementations of the DICOM standard: the modality LUT (rescale slope and
intercept, or a Modality LUT Sequence) with ``pydicom.pixels.apply_modality_lut`` and the header's window with
``pydicom.pixels.apply_voi_lut``. Lesson 01 writes both by hand (:func:`to_hu`, :func:`apply_window`).
"""

import functools
import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["MANIFEST", "DICOM_KEYS", "SERIES", "PHOTO_KEYS", "CT_WINDOWS", "DataError", "DicomImage", "DicomSeries",
           "BrainVolume", "NucleiImage", "sha256_file", "source_path", "list_sources", "load_dicom", "to_hu",
           "apply_window", "apply_header_window", "slice_positions", "load_dicom_series", "load_mni",
           "load_mni_slices", "load_mni_t1", "load_photo", "load_nuclei", "nuclei_patches"]

_MNI = "datasets/data/mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"
# key: (pip package, import name, path inside the import package, sha256, modality, shape)
MANIFEST = {
    "mni_t1": ("nilearn", "nilearn", _MNI.format("t1"),
               "421a10e872fd6cadae7f61d358dffbcc1795a497d61ee76c5dda2503e1a1e9e6", "MR T1 (NIfTI)", (197, 233, 189)),
    "mni_gm": ("nilearn", "nilearn", _MNI.format("gm"),
               "97a5ca69bd24db37a9cb7b32525e1733a209af904129bf1cd36da06d24243bed", "GM probability", (197, 233, 189)),
    "mni_wm": ("nilearn", "nilearn", _MNI.format("wm"),
               "382d92812de4744f9c86c7a0e4f680dc317a0a50e4da1f0153618a6798c7b7db", "WM probability", (197, 233, 189)),
    "ct_small": ("pydicom", "pydicom", "data/test_files/CT_small.dcm",
                 "3dd31e5cc835b3f2cdd46c9da1982f59251e78518fefa8163d914631c66437d6", "CT", (128, 128)),
    "mr_small": ("pydicom", "pydicom", "data/test_files/MR_small.dcm",
                 "3f27d1c22f1a66e80d7bb7c911e8610fd0bb70325a76746a7adb1c0ddefcf2bb", "MR", (64, 64)),
    "chest_xray": ("pydicom-data", "data_store", "data/RG1_UNCR.dcm",
                   "946f28f48b9fbf360196a9b835c8fce83b0c654bf85a5107663c8a61df02e498", "CR", (1955, 1841)),
    "head_ct": ("pydicom-data", "data_store", "data/693_UNCR.dcm",
                "cc4cdd599231922ecf63de2ddacf03d51c4588805c9154c2eef1ff49c23b32be", "CT", (512, 512)),
    "mr_shoulder": ("pydicom-data", "data_store", "data/MR2_UNCR.dcm",
                    "c14c7f0c6e25bd4dfbb822fe264e540fc7142bf1c9d15d4c652ec8f5f97fa9e8", "MR", (1024, 1024)),
    "ultrasound": ("pydicom-data", "data_store", "data/US1_UNCR.dcm",
                   "af5a66e40cd49d15dfbf7b78c850eba0662bdc7339339c3fa13f123a57e812cb", "US", (480, 640, 3)),
    "mr_multiframe": ("pydicom-data", "data_store", "data/emri_small.dcm",
                      "151233ec63f64ebb63b979df51aa827cd612a53422c073f6ef341770c7bc9a56", "MR", (10, 64, 64)),
    "retina": ("scikit-image", "skimage", "data/retina.jpg",
               "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6", "fundus photo", (1411, 1411, 3)),
    "microaneurysms": ("scikit-image", "skimage", "data/microaneurysms.png",
                       "a1e1be59aa447f8ce082f7fa809997ab369a2b137cb6c4202abc647c7ccf6456", "fundus photo", (102, 102)),
    "ihc": ("scikit-image", "skimage", "data/ihc.png",
            "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef", "histology (IHC)", (512, 512, 3)),
    "phantom": ("scikit-image", "skimage", "data/phantom.png",
                "552ff698167aa402cceb17981130607a228a0a0aa7c519299eaa4d5f301ba36c", "Shepp-Logan phantom", (400, 400)),
    "nuclei_image": ("stardist", "stardist", "data/images/img2d.tif",
                     "f9ccc1571b92c861ff87e28463068b43f61bd47357ed0503f711e5cd1eb97750", "fluorescence", (512, 512)),
    "nuclei_mask": ("stardist", "stardist", "data/images/mask2d.tif",
                    "59ad5e820b7982ca9d13e946fa6e7f64e2714899e00a2ae6c69aa79aad53d46f", "instance labels", (512, 512)),
}
_SERIES_FILES = {  # series name: (folder in pydicom's test files, [(file, sha256), ...] in file-name order)
    "cardiac_ct": ("data/test_files/dicomdirtests/98892001/CT5N/", [
        ("2062", "27f8126485634a817f0941cc727094e8cfacb18341fbc317d175ff373804118b"),
        ("2392", "02b0af20eeae95f6d42554c53a630babaa5ed2519657208137d3c7418b6acb81"),
        ("2693", "6020fdffd513017e7b2d5dc52435b2bbf27209aabee183a30207a149dccecb2e"),
        ("3023", "4f7f4f2b3c79acdd5e0fc23fdd9f6bae6e6da9dccfadd1f9147b7bff53756653"),
        ("3353", "5eaa662118b8d87601a14231893cb7ecf1737a434c95120cfb4076cfce667b18")]),
    "head_ct_series": ("data/test_files/dicomdirtests/77654033/CT2/", [
        ("17106", "678df720411e86df67031c28e16192cd31e2062a3f090d657b9f16ce86db3f1d"),
        ("17136", "5b2d0734bfd387e93aea75cf5cdb73a5670cf5914937de636ff69ef5dc720573"),
        ("17166", "049b221c9b2ee9a4bdd843dddf561dce1db9ad1924f1b83d87bc3c6e74cc9ab7"),
        ("17196", "e4796e51480a8c73ed717c3300d7384ec92d63e6322edd080d33665ab37365f0")]),
}
MANIFEST.update({f"{name}_{i}": ("pydicom", "pydicom", folder + file, sha256, "CT", (16, 16))
                 for name, (folder, files) in _SERIES_FILES.items()
                 for i, (file, sha256) in enumerate(files, start=1)})
# A series: the MANIFEST keys of its slices, in file-name order (which is not the order of the slices in the body).
# cardiac_ct: an ECG-gated cardiac CT, five consecutive slices; head_ct_series: four slices kept from a head CT
# series whose other slices were removed from the test set, so the series has a gap.
SERIES = {name: tuple(f"{name}_{i}" for i in range(1, len(files) + 1)) for name, (_, files) in _SERIES_FILES.items()}
DICOM_KEYS = ("ct_small", "mr_small", "chest_xray", "head_ct", "mr_shoulder", "ultrasound", "mr_multiframe")
PHOTO_KEYS = ("retina", "microaneurysms", "ihc", "phantom")
_GRAY_PHOTOS = ("microaneurysms", "phantom")
# Common CT display presets (center, width) in HU.
CT_WINDOWS = {"brain": (40, 80), "subdural": (75, 215), "stroke": (40, 40), "soft tissue": (50, 400),
              "lung": (-600, 1500), "bone": (400, 1800), "liver": (60, 160)}


class DataError(Exception):
    """A course data file is missing, altered, or not what the loader expects."""


def _package_dir(module):
    spec = importlib.util.find_spec(module)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def sha256_file(path):
    """The sha256 hex digest of the file at ``path``, read in 1 MiB blocks (how every source file is verified)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def source_path(key):
    """Return the verified Path of the file ``key`` of MANIFEST (hashed once per process)."""
    if key not in MANIFEST:
        raise DataError(f"unknown data source {key!r}; expected one of {sorted(MANIFEST)}")
    package, module, rel, expected = MANIFEST[key][:4]
    root = _package_dir(module)
    if root is None:
        raise DataError(f"{key!r} needs the package {package!r}: install it with `pip install {package}`")
    path = root / rel
    if not path.is_file():
        raise DataError(f"{key!r}: file {path} is missing from the installed {package!r}; "
                        f"reinstall it with `pip install --force-reinstall {package}`")
    actual = sha256_file(path)
    if actual != expected:
        raise DataError(f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}")
    return path


def list_sources():
    """Rows (key, pip package, modality, shape) of every file in MANIFEST, for the data card."""
    return [(key, entry[0], entry[4], entry[5]) for key, entry in MANIFEST.items()]


# ----------------------------------------------------------------------------------------------- DICOM
@dataclass(frozen=True, eq=False)
class DicomImage:
    """One DICOM image: pixels (H, W), (frames, H, W) or (H, W, 3) float32 after the modality LUT
    (Hounsfield units for CT; MONOCHROME1 inverted so that bright = dense), the raw stored values,
    spacing (row, col) in mm or None, ImageOrientationPatient or None, header windows [(center, width)]."""

    pixels: np.ndarray
    raw: np.ndarray
    modality: str
    spacing: tuple | None
    orientation: tuple | None
    windows: list
    hu: bool
    description: str
    body_part: str
    metadata: dict = field(default_factory=dict)


def to_hu(raw, slope=1.0, intercept=0.0):
    """Stored values -> Hounsfield units: ``raw * slope + intercept`` as float32.

    Introduced in 01_medical_images.ipynb.
    """
    if not np.isfinite(slope) or slope == 0:
        raise ValueError(f"slope must be a finite non-zero number, got {slope!r}")
    return (np.asarray(raw, dtype=np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32)


def apply_window(image, center, width):
    """Window/level: map [center - width/2, center + width/2] linearly to [0, 1], clip outside.

    image: any shape, values in the units of ``center`` (e.g. HU). Returns float32 in [0, 1].
    Introduced in 01_medical_images.ipynb.
    """
    if not width > 0:
        raise ValueError(f"window width must be > 0, got {width!r}")
    low = center - width / 2.0
    return np.clip((np.asarray(image, dtype=np.float32) - low) / width, 0.0, 1.0).astype(np.float32)


def _first_spacing(ds):
    for name in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(name)
        if value is not None and len(value) == 2 and float(value[0]) > 0 and float(value[1]) > 0:
            return float(value[0]), float(value[1])
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        try:
            return _first_spacing(ds[group][0].PixelMeasuresSequence[0])
        except (KeyError, AttributeError, IndexError, TypeError):
            continue
    return None


def _as_list(value):
    if value is None:
        return []
    return [float(v) for v in value] if hasattr(value, "__len__") and not isinstance(value, str) else [float(value)]


def _read_dicom(key_or_path):
    import pydicom

    key = str(key_or_path)
    if key in MANIFEST:
        if key not in DICOM_KEYS and not any(key in keys for keys in SERIES.values()):
            raise DataError(f"{key!r} is not a DICOM source; DICOM keys are {list(DICOM_KEYS)} and the slices of "
                            f"the series {list(SERIES)}")
        path = source_path(key)
    else:
        path = Path(key_or_path)
        if not path.is_file():
            raise DataError(f"{key!r} is neither a DICOM key {list(DICOM_KEYS)} nor an existing file")
    try:
        ds = pydicom.dcmread(path)
    except pydicom.errors.InvalidDicomError as err:
        raise DataError(f"{path} is not a DICOM file (no 'DICM' marker): {err}") from None
    if "PixelData" not in ds:
        raise DataError(f"{path} is a DICOM file without pixel data (modality {ds.get('Modality', '?')})")
    return ds


def _modality_values(ds, raw):
    """The modality LUT of the header applied by pydicom (rescale slope/intercept or a LUT) -> float32."""
    from pydicom.pixels import apply_modality_lut

    return np.asarray(apply_modality_lut(raw, ds), dtype=np.float32)


def load_dicom(key_or_path):
    """Read a course DICOM source (key of MANIFEST, see DICOM_KEYS) or any .dcm path -> DicomImage.

    ``pixels`` are the stored values after the header's modality LUT, applied by pydicom's
    ``apply_modality_lut`` (for CT: ``stored * RescaleSlope + RescaleIntercept`` = HU, as :func:`to_hu`).
    CT pixels are HU as stored: outside the reconstruction circle some scanners store values far
    below air (head_ct stores -3024 HU there), which is why preprocessing clips HU to a range.
    """
    ds = _read_dicom(key_or_path)
    raw = ds.pixel_array
    pixels = _modality_values(ds, raw)
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    centers, widths = _as_list(ds.get("WindowCenter")), _as_list(ds.get("WindowWidth"))
    windows = [(c, w) for c, w in zip(centers, widths)]
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":  # stored bright = less dense: invert
        pivot = 2 * intercept + slope * (2 ** int(ds.get("BitsStored", 16)) - 1)
        pixels = (pivot - pixels).astype(np.float32)
        windows = [(pivot - c, w) for c, w in windows]
    modality = str(ds.get("Modality", ""))
    orientation = ds.get("ImageOrientationPatient")
    safe = ("Modality", "Manufacturer", "StudyDescription", "SeriesDescription", "BodyPartExamined",
            "PhotometricInterpretation", "Rows", "Columns", "BitsStored", "NumberOfFrames",
            "SliceThickness", "SpacingBetweenSlices", "RescaleType", "PixelPaddingValue")
    metadata = {name: str(ds.get(name)) for name in safe if ds.get(name) not in (None, "")}
    description = str(ds.get("StudyDescription") or ds.get("SeriesDescription") or "")
    return DicomImage(pixels=pixels, raw=raw, modality=modality, spacing=_first_spacing(ds),
                      orientation=tuple(float(v) for v in orientation) if orientation else None,
                      windows=windows, hu=modality == "CT" and "RescaleSlope" in ds, description=description,
                      body_part=str(ds.get("BodyPartExamined", "") or ""), metadata=metadata)


def apply_header_window(key_or_path, index=0):
    """Display a grey-scale DICOM image with the window its header suggests -> (H, W) float32 in [0, 1].

    The modality LUT and then the VOI LUT (WindowCenter/WindowWidth number ``index``) are applied by pydicom
    (``apply_modality_lut``, ``apply_voi_lut``), with the DICOM standard's exact linear window (it uses
    ``center - 0.5`` and ``width - 1``, PS3.3 C.11.2.1.2), scaled to [0, 1]; MONOCHROME1 is inverted so that
    bright = dense. Compare :func:`apply_window`, the plain formula written in 01_medical_images.ipynb.
    """
    from pydicom.pixels import apply_voi_lut

    ds = _read_dicom(key_or_path)
    if ds.get("PhotometricInterpretation") not in ("MONOCHROME1", "MONOCHROME2"):
        raise DataError(f"{key_or_path!r}: a window applies to grey-scale images, this one is "
                        f"{ds.get('PhotometricInterpretation')}")
    n_windows = len(_as_list(ds.get("WindowWidth")))
    if not 0 <= index < n_windows:
        raise DataError(f"{key_or_path!r}: the header has {n_windows} window(s), asked for number {index}")
    shown = apply_voi_lut(_modality_values(ds, ds.pixel_array).astype(np.float64), ds, index=index,
                          prefer_lut=False)
    low, high = apply_voi_lut(np.array([-1e12, 1e12]), ds, index=index, prefer_lut=False)  # the output range
    display = ((shown - low) / (high - low)).astype(np.float32)
    return 1.0 - display if ds.PhotometricInterpretation == "MONOCHROME1" else display


@dataclass(frozen=True, eq=False)
class DicomSeries:
    """Slices of one series stacked in the order of their position along the slice normal.

    volume (S, H, W) float32 after the modality LUT (HU for CT); spacing (slice, row, col) in mm, the slice
    spacing measured from ImagePositionPatient; positions (S, 3) ImagePositionPatient in mm (LPS), sorted;
    normal (3,) the slice normal (row direction x column direction); thickness: SliceThickness in mm (what
    one slice measures, not the distance between slices) or None; sources: the keys or paths in slice order.
    """

    volume: np.ndarray
    spacing: tuple
    positions: np.ndarray
    normal: np.ndarray
    orientation: tuple
    thickness: float | None
    sources: tuple


def slice_positions(positions, orientation):
    """Position of each slice along the slice normal, in mm: ``ImagePositionPatient . (row x column direction)``.

    positions: (S, 3) ImagePositionPatient per slice; orientation: the 6 values of ImageOrientationPatient.
    Returns (S,) float64; sorting by it orders the slices, its differences are the slice spacing.
    Introduced in 01_medical_images.ipynb.
    """
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    orientation = np.asarray(orientation, dtype=np.float64)
    if orientation.shape != (6,):
        raise ValueError(f"orientation must hold 6 values (row and column direction), got shape {orientation.shape}")
    return positions @ np.cross(orientation[:3], orientation[3:])


def load_dicom_series(series, tolerance=0.01):
    """Read the slices of one series (a name of :data:`SERIES`, or a list of keys/paths) -> DicomSeries.

    Slices are sorted by :func:`slice_positions`, not by file name or InstanceNumber. Raises DataError when the
    slices do not share one orientation and size, when two lie at the same position, or when the gaps between
    neighbours differ by more than ``tolerance`` (a fraction of the median gap): a missing slice, which a
    volume with one slice spacing cannot represent.
    """
    sources = SERIES[series] if isinstance(series, str) and series in SERIES else tuple(series)
    if isinstance(series, str) and series not in SERIES or len(sources) < 2:
        raise DataError(f"a series needs at least 2 slices: a name of {list(SERIES)} or a list of keys/paths, "
                        f"got {series!r}")
    datasets = [_read_dicom(s) for s in sources]
    orientation = np.array([float(v) for v in datasets[0].ImageOrientationPatient])
    if any(not np.allclose([float(v) for v in ds.ImageOrientationPatient], orientation, atol=1e-4) for ds in datasets):
        raise DataError(f"{series!r}: the slices have different ImageOrientationPatient; they are not one stack")
    if len({(int(ds.Rows), int(ds.Columns)) for ds in datasets}) > 1:
        raise DataError(f"{series!r}: the slices have different numbers of rows and columns; they are not one stack")
    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in datasets])
    along = slice_positions(positions, orientation)
    order = np.argsort(along)
    gaps = np.diff(along[order])
    if np.any(gaps <= 1e-6):
        raise DataError(f"{series!r}: two slices lie at the same position ({np.round(along[order], 3)} mm)")
    if np.ptp(gaps) > tolerance * np.median(gaps):
        raise DataError(f"{series!r}: the slices are not evenly spaced, gaps {np.round(gaps, 3).tolist()} mm "
                        f"between neighbours: slices are missing, so the series is not one regular volume")
    volume = np.stack([_modality_values(datasets[i], datasets[i].pixel_array) for i in order])
    row_spacing, col_spacing = _first_spacing(datasets[0]) or (1.0, 1.0)
    thickness = datasets[0].get("SliceThickness")
    return DicomSeries(volume=volume, spacing=(float(np.median(gaps)), row_spacing, col_spacing),
                       positions=positions[order], normal=np.cross(orientation[:3], orientation[3:]),
                       orientation=tuple(orientation), thickness=None if thickness is None else float(thickness),
                       sources=tuple(sources[i] for i in order))


# ----------------------------------------------------------------------------------------------- MNI
@dataclass(frozen=True, eq=False)
class BrainVolume:
    """MNI152 2009 brain, 1 mm, RAS: t1 (197, 233, 189) float32 in [0, 1]; gm, wm, csf probability maps
    float32 in [0, 1]; mask bool; affine (4, 4) voxel -> mm; spacing (1, 1, 1); axcodes e.g. ('R','A','S').
    Arrays are read-only (shared cache): copy before modifying."""

    t1: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    mask: np.ndarray
    affine: np.ndarray
    spacing: tuple
    axcodes: tuple


def _read_nifti(key, z=None):
    """A MNI volume as float32 in [0, 1] (stored as uint8) and its image; ``z``: a slice of axial slices to read
    (nibabel's ``slicer`` reads only those and adjusts the affine), or None for the whole volume."""
    import nibabel as nib

    img = nib.load(source_path(key))
    if z is not None:
        img = img.slicer[:, :, z]
    array = np.asarray(img.dataobj, dtype=np.float32)
    array /= 255.0  # in place: these volumes are 35 MB each
    return array, img


def _frozen(array):
    array.flags.writeable = False
    return array


def _brain_volume(z=None):
    import nibabel as nib

    t1, img = _read_nifti("mni_t1", z)
    gm, _ = _read_nifti("mni_gm", z)
    wm, _ = _read_nifti("mni_wm", z)
    mask = t1 > 0.2
    csf = 1.0 - gm  # in place below, to keep the peak memory low
    csf -= wm
    np.clip(csf, 0.0, 1.0, out=csf)
    csf[~mask] = 0.0
    spacing = tuple(float(s) for s in img.header.get_zooms()[:3])
    return BrainVolume(t1=_frozen(t1), gm=_frozen(gm), wm=_frozen(wm), csf=_frozen(csf), mask=_frozen(mask),
                       affine=_frozen(img.affine.astype(np.float64)), spacing=spacing,
                       axcodes=tuple(nib.aff2axcodes(img.affine)))


@functools.lru_cache(maxsize=1)
def load_mni():
    """Load the MNI152 T1 and tissue maps (cached per process) -> BrainVolume.

    mask = t1 > 0.2 (the rule of nilearn.datasets.load_mni152_brain_mask; the T1 is skull-stripped).
    csf = inside the mask, the probability left after grey and white matter: clip(1 - gm - wm, 0, 1);
    these voxels are dark in T1 (ventricles, sulci), as CSF is.
    """
    return _brain_volume()


def load_mni_slices(z):
    """Axial slices ``z`` (a ``slice``, e.g. ``slice(60, 121, 3)``) of the MNI152 T1 and tissue maps -> BrainVolume.

    The same arrays as ``load_mni()`` indexed with ``[:, :, z]``, read without loading the whole volumes (a
    fraction of the memory and time; not cached); ``affine`` and ``spacing`` are those of the slab (a step of 3
    gives 3 mm between slices), so voxel indices of the slab still map to the right world coordinates.
    """
    if not isinstance(z, slice) or (z.step is not None and z.step < 1):
        raise ValueError(f"z must be a slice of axial slices with a positive step, e.g. slice(60, 121, 3); got {z!r}")
    if len(range(*z.indices(MANIFEST["mni_t1"][5][2]))) == 0:
        raise ValueError(f"z={z!r} selects no slice of the {MANIFEST['mni_t1'][5][2]} axial slices")
    return _brain_volume(z)


def load_mni_t1():
    """The MNI152 T1 and its brain mask (t1 > 0.2), without the tissue maps -> (t1, mask).

    Not cached: code that only cuts patches from the T1 (the lesion generator) holds 45 MB for a moment instead of
    keeping the 150 MB of :func:`load_mni` alive. Reuses :func:`load_mni`'s volumes when they are cached already.
    """
    if load_mni.cache_info().currsize:
        vol = load_mni()
        return vol.t1, vol.mask
    t1, _ = _read_nifti("mni_t1")
    return _frozen(t1), _frozen(t1 > 0.2)


# ----------------------------------------------------------------------------------------------- photos
def load_photo(key):
    """Read a bundled photograph -> float32 in [0, 1], (H, W) gray or (H, W, 3) RGB. Keys: PHOTO_KEYS."""
    from PIL import Image

    if key not in PHOTO_KEYS:
        raise DataError(f"unknown photo {key!r}; expected one of {list(PHOTO_KEYS)}")
    with Image.open(source_path(key)) as img:
        img = img.convert("L" if key in _GRAY_PHOTOS else "RGB")
        return np.asarray(img, dtype=np.float32) / 255.0


# ----------------------------------------------------------------------------------------------- nuclei
@dataclass(frozen=True, eq=False)
class NucleiImage:
    """Fluorescence nuclei: image (H, W) float32 in [0, 1], labels (H, W) int32 (0 = background,
    1..N instances), boxes (N, 4) float32 x1, y1, x2, y2 in pixel-edge coordinates (x2, y2 exclusive)."""

    image: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray


def _boxes_from_labels(labels):
    from scipy import ndimage

    slices = ndimage.find_objects(labels)
    boxes = [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in slices if s is not None]
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


def load_nuclei():
    """Read the stardist nuclei image and its instance mask -> NucleiImage (125 nuclei, 512 x 512)."""
    import tifffile

    image = tifffile.imread(source_path("nuclei_image")).astype(np.float32)
    raw_labels = tifffile.imread(source_path("nuclei_mask"))
    _, inverse = np.unique(raw_labels, return_inverse=True)  # ids 0..N, consecutive
    labels = inverse.reshape(raw_labels.shape).astype(np.int32)
    image = (image - image.min()) / max(float(image.max() - image.min()), 1e-8)
    return NucleiImage(image=image, labels=labels, boxes=_boxes_from_labels(labels))


def _clip_boxes(boxes, x0, y0, size, min_keep):
    clipped = np.clip(boxes - np.float32([x0, y0, x0, y0]), 0, size)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    return clipped[(kept > 0) & (kept >= min_keep * np.maximum(area, 1))].astype(np.float32).reshape(-1, 4)


def nuclei_patches(size=64, stride=None, min_keep=0.4):
    """Tile the nuclei image into patches -> (images (N, 1, size, size) float32 in [0, 1], boxes).

    boxes: list of N arrays (k, 4) float32 x1, y1, x2, y2 in patch coordinates; a nucleus cut by the
    patch border is kept (clipped) only if at least ``min_keep`` of its box area lies inside.
    stride defaults to ``size`` (no overlap).
    """
    nuclei = load_nuclei()
    height, width = nuclei.image.shape
    stride = size if stride is None else stride
    if not (8 <= size <= min(height, width)) or not stride >= 1:
        raise ValueError(f"need 8 <= size <= {min(height, width)} and stride >= 1, got size={size}, stride={stride}")
    if not 0.0 <= min_keep <= 1.0:
        raise ValueError(f"min_keep must be in [0, 1], got {min_keep}")
    images, boxes = [], []
    for y0 in range(0, height - size + 1, stride):
        for x0 in range(0, width - size + 1, stride):
            images.append(nuclei.image[y0:y0 + size, x0:x0 + size])
            boxes.append(_clip_boxes(nuclei.boxes, x0, y0, size, min_keep))
    return np.stack(images)[:, None].astype(np.float32), boxes
