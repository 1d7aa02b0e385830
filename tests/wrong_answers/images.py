"""Plausible but wrong answers for the checkers in labkit/checks/images.py (one per checker)."""

WRONG = {
    "bright_fraction": '''
import numpy as np
def bright_fraction(image, threshold):
    return float(np.sum(image > threshold))   # a count, not a fraction
''',
    "to_hu": '''
import numpy as np
def to_hu(raw, slope, intercept):
    return np.asarray(raw, dtype=np.float32) + intercept   # forgets the slope
''',
    "apply_window": '''
import numpy as np
def apply_window(image, center, width):
    return (np.asarray(image, dtype=np.float32) - center) / width + 0.5   # not clipped to [0, 1]
''',
    "voxel_to_world": '''
import numpy as np
def voxel_to_world(affine, index):
    return np.asarray(affine)[:3, :3] @ np.asarray(index, dtype=float)   # forgets the translation
''',
    "zscore": '''
import numpy as np
def zscore(image, mask):
    out = (image - image.mean()) / image.std()   # statistics of the whole image, not of the mask
    return np.where(mask, out, 0.0)
''',
    "minmax_scale": '''
import numpy as np
def minmax_scale(image):
    return image / image.max()   # forgets to subtract the minimum
''',
    "crop_or_pad": '''
import numpy as np
def crop_or_pad(image, size):
    out = np.zeros(size, dtype=image.dtype)   # top-left corner instead of the centre
    h, w = min(size[0], image.shape[0]), min(size[1], image.shape[1])
    out[:h, :w] = image[:h, :w]
    return out
''',
}
