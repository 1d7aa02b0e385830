"""labkit.pretrained: packaged EfficientNet-Lite0 weights (checksum, loading), input handling, freezing,
cached activations, and the offline-safe torchvision path (never downloads)."""

import functools

import pytest
import torch
from torchvision.transforms import Normalize

from labkit import pretrained


@functools.lru_cache(maxsize=1)
def _model():
    return pretrained.load_efficientnet_lite0()


def test_packaged_weights_match_the_manifest_and_load():
    path = pretrained.weights_path()
    assert pretrained.verify_checksum(path, pretrained.MANIFEST["efficientnet_lite0"][3]) == path
    model = _model()
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert torch.equal(model._conv_stem.weight, state["_conv_stem.weight"])
    assert not model.training
    with torch.no_grad():
        logits = model(pretrained.gray_to_rgb_normalized(torch.rand(2, 1, 64, 64)))
    assert logits.shape == (2, 1000) and torch.isfinite(logits).all()
    random_init = pretrained.load_efficientnet_lite0(pretrained=False, n_classes=3)
    assert not torch.equal(random_init._conv_stem.weight, model._conv_stem.weight)
    assert random_init._fc.out_features == 3


def test_checksum_failure_is_refused_before_loading(tmp_path):
    fake = tmp_path / "efficientnet-lite0.pth"
    torch.save({"_conv_stem.weight": torch.zeros(32, 3, 3, 3)}, fake)
    with pytest.raises(pretrained.WeightsError, match="checksum mismatch"):
        pretrained.load_efficientnet_lite0(weights=fake)
    with pytest.raises(pretrained.WeightsError, match="does not exist"):
        pretrained.load_efficientnet_lite0(weights=tmp_path / "missing.pth")
    with pytest.raises(pretrained.WeightsError, match="no EfficientNet-Lite0 weights"):
        pretrained.load_efficientnet_lite0(weights=fake, verify=False)   # wrong content, caught clearly
    with pytest.raises(TypeError, match="pretrained"):
        pretrained.load_efficientnet_lite0(pretrained="yes")


def test_gray_to_rgb_normalized_matches_torchvision_and_rejects_bad_shapes():
    x = torch.rand(3, 1, 8, 8)
    want = Normalize(pretrained.IMAGENET_MEAN, pretrained.IMAGENET_STD)(x.repeat(1, 3, 1, 1))
    assert torch.allclose(pretrained.gray_to_rgb_normalized(x), want, atol=1e-6)
    assert torch.allclose(pretrained.gray_to_rgb_normalized(x.numpy()), want, atol=1e-6)
    for bad in (torch.rand(3, 8, 8), torch.rand(2, 3, 8, 8)):
        with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
            pretrained.gray_to_rgb_normalized(bad)


def test_freeze_backbone_leaves_only_the_head_trainable():
    model = pretrained.load_efficientnet_lite0(pretrained=False, n_classes=1)
    assert pretrained.freeze_backbone(model, model._fc) is model
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["_fc.weight", "_fc.bias"]
    with pytest.raises(ValueError, match="submodule"):
        pretrained.freeze_backbone(model, torch.nn.Linear(2, 2))
    with pytest.raises(TypeError):
        pretrained.freeze_backbone(model, "head")


def test_cached_activations_give_the_same_features_as_one_pass():
    model, x = _model(), torch.rand(4, 1, 64, 64)
    acts = pretrained.block_activations(model, x, upto=7)
    assert acts.shape == (4, 80, 4, 4)
    direct = pretrained.extract_features(model, x, upto=10)
    resumed = pretrained.extract_features(model, acts, upto=10, start=8)
    assert direct.shape == (4, 112) and torch.allclose(direct, resumed, atol=1e-5)
    assert pretrained.extract_features(model, acts, start=8).shape == (4, 1280)
    head = pretrained.top_blocks(model, start=8, stop=11, n_classes=2)
    assert head(acts).shape == (4, 2)
    assert head[0]._expand_conv.weight is not model._blocks[8]._expand_conv.weight   # a copy, not shared


def test_top_blocks_from_the_stem_is_the_whole_network_up_to_a_block():
    model, x = _model(), torch.rand(3, 1, 64, 64)
    whole = pretrained.top_blocks(model, start=0, stop=11).eval()
    with torch.no_grad():
        pooled = whole[:-1](x)   # everything but the new head
    assert torch.allclose(pooled, pretrained.extract_features(model, x, upto=10), atol=1e-5)
    assert whole(x).shape == (3, 1) and all(p.requires_grad for p in whole.parameters())
    with pytest.raises(ValueError, match="0 <= start < stop"):
        pretrained.top_blocks(model, start=5, stop=5)
    with pytest.raises(TypeError, match="EfficientNet"):
        pretrained.top_blocks(torch.nn.Linear(2, 2), start=0)


@pytest.mark.parametrize("bad, kwargs, match", [
    (torch.rand(2, 1, 60, 60), {"upto": 3}, "multiples of 32"),
    (torch.rand(2, 2, 64, 64), {"upto": 3}, "multiples of 32"),
    (torch.rand(2, 40, 4, 4), {"upto": 10, "start": 8}, r"\(N, 80, h, w\)"),
    (torch.rand(2, 1, 64, 64), {"upto": 16}, "0 <= start <= upto <= 15"),
])
def test_bad_inputs_are_rejected_clearly(bad, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pretrained.block_activations(_model(), bad, **kwargs)


def test_torchvision_path_never_downloads_and_names_the_offline_alternative(tmp_path, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    assert pretrained.load_torchvision_pretrained("resnet18", cache_dir=tmp_path) is None
    message = capsys.readouterr().out
    assert "never downloads" in message and "load_efficientnet_lite0" in message and str(tmp_path) in message
    assert pretrained.torchvision_cache_path("resnet18", tmp_path).name == "resnet18-f37072fd.pth"
    with pytest.raises(ValueError, match="unknown torchvision model"):
        pretrained.load_torchvision_pretrained("vgg99", cache_dir=tmp_path)


def test_torchvision_cached_file_is_verified_then_loaded(tmp_path, monkeypatch):
    import torchvision

    path = pretrained.torchvision_cache_path("mobilenet_v3_small", tmp_path)
    path.parent.mkdir(parents=True)
    state = torchvision.models.mobilenet_v3_small(weights=None).state_dict()
    torch.save(state, path)   # its sha256 does not start with the hash in the official name
    with pytest.raises(pretrained.WeightsError, match="checksum mismatch"):
        pretrained.load_torchvision_pretrained("mobilenet_v3_small", cache_dir=tmp_path)
    renamed = path.with_name(f"mobilenet_v3_small-{pretrained.sha256sum(path)[:8]}.pth")
    path.rename(renamed)
    monkeypatch.setattr(pretrained, "torchvision_cache_path", lambda name, cache_dir=None: renamed)
    model = pretrained.load_torchvision_pretrained("mobilenet_v3_small", cache_dir=tmp_path)
    assert torch.equal(model.features[0][0].weight, state["features.0.0.weight"])
