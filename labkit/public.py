"""Optional, online only: a public data set (MedMNIST) downloaded once, checked against its checksum, then cached.

Introduced in 23_capstone.ipynb. No lesson needs this module: every lesson runs offline on the images that ship
inside installed packages (:mod:`labkit.realdata`). Where a learner is online, :func:`load_medmnist` swaps in a
public data set for a project. Files go to ``$LABKIT_DATA`` (default ``~/.cache/labkit``); a file already in the
cache is checked and used without the network. MedMNIST publishes an MD5 for each file (see :data:`MEDMNIST`);
MD5 catches a truncated or corrupted download, not a deliberately altered file, so :func:`fetch` also takes a
sha256 when you know one.
"""

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

__all__ = ["MEDMNIST", "PublicDataError", "OfflineError", "ChecksumError", "cache_dir", "file_digest", "fetch",
           "load_medmnist"]

_RECORD = "https://zenodo.org/records/10519652/files/{}.npz?download=1"
# name: (url, md5) as published by MedMNIST v3 (medmnist/info.py, Zenodo record 10519652), CC BY 4.0.
# 28 x 28 images unless the name ends in _64 (64 x 64).
MEDMNIST = {
    "bloodmnist": (_RECORD.format("bloodmnist"), "7053d0359d879ad8a5505303e11de1dc"),
    "bloodmnist_64": (_RECORD.format("bloodmnist_64"), "2b94928a2ae4916078ca51e05b6b800b"),
    "pathmnist": (_RECORD.format("pathmnist"), "a8b06965200029087d5bd730944a56c1"),
    "pneumoniamnist": (_RECORD.format("pneumoniamnist"), "28209eda62fecd6e6a2d98b1501bb15f"),
    "pneumoniamnist_64": (_RECORD.format("pneumoniamnist_64"), "8f4eceb4ccffa70c672198ea285246c6"),
    "breastmnist": (_RECORD.format("breastmnist"), "750601b1f35ba3300ea97c75c52ff8f6"),
}
_SPLITS = ("train", "val", "test")
_OFFLINE_HINT = ("Every lesson of this course runs offline on the images that ship with its packages "
                 "(labkit.realdata, for example realdata.load_nuclei()); use those, or connect to the internet and "
                 "call again with download=True.")


class PublicDataError(Exception):
    """A public data file cannot be used: not available, or not what the loader expects."""


class OfflineError(PublicDataError):
    """The file is not in the cache and could not (or may not) be downloaded."""


class ChecksumError(PublicDataError):
    """A file's checksum differs from the published one (a broken download, or a different file)."""


def cache_dir():
    """The cache folder: ``$LABKIT_DATA`` if set, else ``~/.cache/labkit`` (not created here)."""
    return Path(os.environ.get("LABKIT_DATA") or Path.home() / ".cache" / "labkit")


def file_digest(path, algorithm="md5"):
    """Hex digest of a file ('md5' or 'sha256'), read in 1 MB blocks."""
    if algorithm not in ("md5", "sha256"):
        raise ValueError(f"algorithm must be 'md5' or 'sha256', got {algorithm!r}")
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path, md5, sha256):
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is not None:
            actual = file_digest(path, algorithm)
            if actual != expected.lower():
                return f"{algorithm} {actual}, expected {expected}"
    return None


def _download(url, target, timeout):
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
    except (urllib.error.URLError, OSError, ValueError) as err:
        partial.unlink(missing_ok=True)
        raise OfflineError(f"could not download {url} ({type(err).__name__}: {err}). {_OFFLINE_HINT}") from None
    return partial


def fetch(url, filename, md5=None, sha256=None, directory=None, download=True, timeout=60):
    """Path of ``filename`` in the cache, downloaded from ``url`` first if it is not there -> Path.

    The file must match ``md5`` and/or ``sha256`` (at least one is required): a cached file that does not match
    raises :class:`ChecksumError` (delete it and fetch again); a download that does not match is deleted and
    raises it too, so the cache never holds an unchecked file. ``download=False`` never touches the network:
    a missing file raises :class:`OfflineError`, as does a failed download. ``url`` may be ``file://...``.
    """
    if md5 is None and sha256 is None:
        raise ValueError("fetch needs a checksum (md5= or sha256=) for every file it relies on")
    if not filename or Path(filename).name != filename:
        raise ValueError(f"filename must be a plain file name, got {filename!r}")
    folder = Path(directory) if directory is not None else cache_dir()
    target = folder / filename
    if target.is_file():
        problem = _verify(target, md5, sha256)
        if problem:
            raise ChecksumError(f"cached file {target} has {problem}: delete it and fetch again")
        return target
    if not download:
        raise OfflineError(f"{filename} is not in the cache ({folder}) and download=False. {_OFFLINE_HINT}")
    folder.mkdir(parents=True, exist_ok=True)
    partial = _download(url, target, timeout)
    problem = _verify(partial, md5, sha256)
    if problem:
        partial.unlink(missing_ok=True)
        raise ChecksumError(f"download of {url} has {problem}; the file was deleted, nothing was cached")
    os.replace(partial, target)
    return target


def load_medmnist(name, split="train", directory=None, download=True, url=None, md5=None):
    """One split of a MedMNIST data set -> (images (N, C, H, W) float32 in [0, 1], labels (N,) int64).

    name: a key of :data:`MEDMNIST` (its url and md5 are used unless ``url``/``md5`` are given, e.g. a mirror).
    split: 'train', 'val' or 'test' (MedMNIST's official splits). The .npz file is fetched (and checked) by
    :func:`fetch`; offline, with the file not cached, this raises :class:`OfflineError` with what to do instead.
    """
    if name not in MEDMNIST:
        raise ValueError(f"unknown MedMNIST data set {name!r}; known: {sorted(MEDMNIST)}")
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    known_url, known_md5 = MEDMNIST[name]
    path = fetch(url or known_url, f"{name}.npz", md5=md5 or known_md5, directory=directory, download=download)
    with np.load(path, allow_pickle=False) as archive:
        keys = (f"{split}_images", f"{split}_labels")
        if not all(k in archive.files for k in keys):
            raise PublicDataError(f"{path} holds {sorted(archive.files)}, expected {list(keys)}")
        images, labels = archive[keys[0]], archive[keys[1]]
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[-1] in (1, 3):
        images = images.transpose(0, 3, 1, 2)
    else:
        raise PublicDataError(f"{path}: expected images (N, H, W) or (N, H, W, C), got shape {images.shape}")
    labels = np.asarray(labels).reshape(len(labels), -1)
    if labels.shape[1] != 1 or len(labels) != len(images):
        raise PublicDataError(f"{path}: expected one label per image, got labels of shape {labels.shape}")
    return images.astype(np.float32) / 255.0, labels[:, 0].astype(np.int64)
