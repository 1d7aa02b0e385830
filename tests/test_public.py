"""labkit.public: the optional online loader, tested offline on small files the tests make (file:// URLs and a
download function that fails as it does without a network)."""

import hashlib
import urllib.error
import urllib.request

import numpy as np
import pytest

from labkit import public


def _make_npz(path, rgb=False, n=(6, 2, 3)):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n):
        shape = (count, 28, 28, 3) if rgb else (count, 28, 28)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 8, (count, 1), dtype=np.uint8)
    np.savez(path, **arrays)
    return arrays, hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "source" / "blood.npz"
    path.parent.mkdir()
    arrays, md5 = _make_npz(path, rgb=True)
    return path.as_uri(), md5, arrays


def test_load_from_a_file_url_then_from_the_cache(tmp_path, source, monkeypatch):
    url, md5, arrays = source
    cache = tmp_path / "cache"
    images, labels = public.load_medmnist("bloodmnist", "val", directory=cache, url=url, md5=md5)
    assert images.shape == (2, 3, 28, 28) and images.dtype == np.float32
    assert np.allclose(images * 255, arrays["val_images"].transpose(0, 3, 1, 2))
    assert labels.dtype == np.int64 and np.array_equal(labels, arrays["val_labels"][:, 0])
    assert (cache / "bloodmnist.npz").is_file() and not list(cache.glob("*.part"))

    def no_network(*args, **kwargs):
        raise AssertionError("a cached file must not be downloaded again")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    again, _ = public.load_medmnist("bloodmnist", "val", directory=cache, url=url, md5=md5, download=False)
    assert np.array_equal(again, images)


def test_gray_images_get_a_channel_axis(tmp_path):
    path = tmp_path / "gray.npz"
    _, md5 = _make_npz(path, rgb=False)
    images, labels = public.load_medmnist("pneumoniamnist", "test", directory=tmp_path / "c", url=path.as_uri(),
                                          md5=md5)
    assert images.shape == (3, 1, 28, 28) and images.min() >= 0 and images.max() <= 1 and labels.shape == (3,)


def test_checksum_mismatch_on_download_caches_nothing(tmp_path, source):
    url, md5, _ = source
    cache = tmp_path / "cache"
    with pytest.raises(public.ChecksumError, match="nothing was cached"):
        public.load_medmnist("bloodmnist", directory=cache, url=url, md5="0" * 32)
    assert not any(cache.iterdir())


def test_altered_cached_file_is_refused(tmp_path, source):
    url, md5, _ = source
    cache = tmp_path / "cache"
    path = public.fetch(url, "blood.npz", md5=md5, directory=cache)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(public.ChecksumError, match="delete it"):
        public.fetch(url, "blood.npz", md5=md5, directory=cache)


def test_sha256_is_checked_too(tmp_path, source):
    url, md5, _ = source
    with pytest.raises(public.ChecksumError, match="sha256"):
        public.fetch(url, "blood.npz", md5=md5, sha256="f" * 64, directory=tmp_path / "c")


def test_offline_download_gives_a_clear_error(tmp_path, monkeypatch):
    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    with pytest.raises(public.OfflineError) as err:
        public.load_medmnist("bloodmnist", directory=tmp_path / "cache")
    message = str(err.value)
    assert "could not download" in message and "realdata" in message and "offline" in message
    assert not list((tmp_path / "cache").glob("*"))


def test_not_cached_and_no_download_never_touches_the_network(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("download=False must not open a connection")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(public.OfflineError, match="not in the cache"):
        public.load_medmnist("breastmnist", directory=tmp_path, download=False)


def test_missing_file_url_is_an_offline_error(tmp_path):
    with pytest.raises(public.OfflineError):
        public.fetch((tmp_path / "absent.npz").as_uri(), "absent.npz", md5="0" * 32, directory=tmp_path / "c")


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    assert public.cache_dir() == tmp_path
    monkeypatch.delenv("LABKIT_DATA")
    assert public.cache_dir().name == "labkit"


def test_bad_input(tmp_path, source):
    url, md5, _ = source
    with pytest.raises(ValueError, match="known"):
        public.load_medmnist("nucleimnist")
    with pytest.raises(ValueError, match="split"):
        public.load_medmnist("bloodmnist", split="validation")
    with pytest.raises(ValueError, match="checksum"):
        public.fetch(url, "x.npz", directory=tmp_path)
    with pytest.raises(ValueError, match="plain file name"):
        public.fetch(url, "../x.npz", md5=md5, directory=tmp_path)
    with pytest.raises(ValueError, match="algorithm"):
        public.file_digest(tmp_path, "sha1")


def test_file_without_the_split_is_refused(tmp_path):
    path = tmp_path / "odd.npz"
    np.savez(path, images=np.zeros((2, 28, 28), np.uint8))
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    with pytest.raises(public.PublicDataError, match="expected"):
        public.load_medmnist("bloodmnist", directory=tmp_path / "c", url=path.as_uri(), md5=md5)


def test_registry_lists_real_urls_and_md5s():
    for name, (url, md5) in public.MEDMNIST.items():
        assert url.startswith("https://zenodo.org/records/10519652/files/") and f"/{name}.npz" in url
        assert len(md5) == 32 and int(md5, 16) >= 0
