"""Checkers for Part I, medical images and preprocessing: lessons 00_welcome, 01_medical_images, 02_preprocessing."""

import numpy as np

from labkit.checks.framework import call, checker, expect_close

__all__ = ["bright_fraction", "to_hu", "apply_window", "voxel_to_world", "zscore", "minmax_scale", "crop_or_pad"]


def _example_images(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random((16, 16), dtype=np.float32), rng.random((7, 5)).astype(np.float32),
            np.zeros((4, 4), np.float32), np.linspace(0, 1, 9, dtype=np.float32).reshape(3, 3)]


@checker(hint="A fraction is a count divided by the total: how many pixels are above the threshold, out of all the "
              "pixels. NumPy compares a whole array with a number in one go.",
         formula="np.mean(image > threshold): the comparison gives True/False per pixel and the mean of booleans is "
                 "the share of True values; return it as a float.")
def bright_fraction(answer):
    """00_welcome: fraction of pixels strictly brighter than a threshold."""
    for image in _example_images():
        for threshold in (0.0, 0.25, 0.5):
            want = float(np.mean(image > threshold))
            expect_close(call(answer, image, threshold), want,
                         f"bright_fraction(image of shape {image.shape}, {threshold})")


def _stored_values(seed=0):
    """(raw stored values, slope, intercept) cases as DICOM files hold them: unsigned and signed integers."""
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 4096, (8, 8)).astype(np.uint16), 1, -1024),
            (rng.integers(-2000, 3000, (5, 7)).astype(np.int16), 1.0, -1024.0),
            (rng.integers(0, 4096, (6, 6)).astype(np.uint16), 3.774114, 6.1e-05),
            (rng.integers(0, 2000, (4,)).astype(np.int16), 0.5, -1000.0)]


@checker(hint="Hounsfield units are a straight line of the stored values (slope and intercept from the header); "
              "watch the integer type of the stored values.",
         formula="Convert to float first (np.asarray(raw, dtype=np.float32)): stored values are often unsigned "
              "integers, and uint16 - 1024 overflows. Then HU = raw * slope + intercept.")
def to_hu(answer):
    """01_medical_images: stored values -> Hounsfield units with RescaleSlope/RescaleIntercept."""
    for raw, slope, intercept in _stored_values():
        want = raw.astype(np.float64) * slope + intercept
        expect_close(call(answer, raw, slope, intercept), want,
                     f"to_hu({raw.dtype} array, slope={slope}, intercept={intercept})", atol=1e-3)


@checker(hint="A window maps one band of HU values linearly onto the display range [0, 1]; everything below is "
              "black, everything above white.",
         formula="low = center - width / 2; map low -> 0 and low + width -> 1 with (image - low) / width, "
              "then clip to [0, 1] with np.clip.")
def apply_window(answer):
    """01_medical_images: window/level maps [center - width/2, center + width/2] to [0, 1], clipped."""
    hu = np.random.default_rng(1).uniform(-1100, 1500, (12, 12)).astype(np.float32)
    for center, width in [(40, 80), (-600, 1500), (400, 1800), (50.5, 1.0)]:
        want = np.clip((hu.astype(np.float64) - (center - width / 2)) / width, 0, 1)
        expect_close(call(answer, hu, center, width), want, f"apply_window(hu, {center}, {width})", atol=1e-5)


@checker(hint="The affine is a 4 x 4 matrix in homogeneous coordinates: rotation and scaling in the top-left 3 x 3 "
              "block, translation in the last column.",
         formula="Append a 1 to the index, (i, j, k, 1), multiply by the 4 x 4 affine and keep the first three "
              "values: the last column of the affine is the translation.")
def voxel_to_world(answer):
    """01_medical_images: voxel index (i, j, k) -> world coordinates in mm through a NIfTI affine."""
    from nibabel.affines import apply_affine

    rotation = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    affines = [np.diag([1.0, 1, 1, 1]), np.array([[1.0, 0, 0, -98], [0, 1, 0, -134], [0, 0, 1, -72], [0, 0, 0, 1]]),
               np.block([[rotation * [0.8, 0.8, 3.0], np.array([[10.0], [-20.0], [5.0]])], [np.zeros((1, 3)), 1]])]
    for affine in affines:
        for index in [(0, 0, 0), (98, 134, 72), (3, 7, 11)]:
            expect_close(call(answer, affine, np.array(index)), apply_affine(affine, index),
                         f"voxel_to_world(affine, {index})", atol=1e-6)


def _masked_images(seed=2):
    rng = np.random.default_rng(seed)
    image = rng.gamma(2.0, 150.0, (20, 24)).astype(np.float32)
    mask = np.zeros(image.shape, bool)
    mask[4:15, 3:20] = True
    return [(image, mask), (image * 0.01 + 5, image > 300), (rng.normal(0, 1, (6, 5, 4)).astype(np.float32),
                                                            rng.random((6, 5, 4)) > 0.3)]


@checker(hint="The mean and standard deviation must come from the voxels inside the mask only; what lies outside is"
              " background.",
         formula="Take mean and std (np.std, ddof=0) of image[mask] only, normalise with them, and set the "
              "voxels outside the mask to 0 (np.where(mask, ..., 0)).")
def zscore(answer):
    """02_preprocessing: z-score normalisation with statistics from inside a mask; 0 outside."""
    for image, mask in _masked_images():
        values = image[mask].astype(np.float64)
        want = np.where(mask, (image - values.mean()) / values.std(), 0.0)
        expect_close(call(answer, image, mask), want, f"zscore(image of shape {image.shape}, mask)", atol=1e-4)


@checker(hint="Shift so that the smallest value becomes 0, then scale so that the largest becomes 1; think about "
              "what happens when all values are equal.",
         formula="(image - image.min()) / (image.max() - image.min()); if max == min, return np.zeros_like(image).")
def minmax_scale(answer):
    """02_preprocessing: min-max scaling to [0, 1]; a constant image gives zeros."""
    for image, _ in _masked_images():
        want = (image - image.min()) / (image.max() - image.min())
        expect_close(call(answer, image), want, f"minmax_scale(image of shape {image.shape})", atol=1e-5)
    expect_close(call(answer, np.full((3, 4), 7.0, np.float32)), np.zeros((3, 4)), "minmax_scale(constant image)")


@checker(hint="Treat each axis on its own: too long means cut equally from both ends, too short means add zeros "
              "equally at both ends (odd leftovers go to the end).",
         formula="Per axis with n pixels and target t: crop keeps rows n // 2 - t // 2 onwards (t of them); pad puts "
              "(t - n) // 2 zeros before and the rest after (np.pad).")
def crop_or_pad(answer):
    """02_preprocessing: centre crop or zero-pad to a fixed size, compared with MONAI ResizeWithPadOrCrop."""
    from monai.transforms import ResizeWithPadOrCrop

    image = np.arange(1, 7 * 10 + 1, dtype=np.float32).reshape(7, 10)
    for size in [(4, 6), (9, 12), (7, 5), (10, 10), (6, 13)]:
        want = ResizeWithPadOrCrop(size)(image[None])[0].numpy()
        expect_close(call(answer, image, size), want, f"crop_or_pad(image of shape (7, 10), {size})")
