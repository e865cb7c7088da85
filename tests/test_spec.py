"""A spec string is split into its parts in one place (zoomhard.spec), and the parts give the
spec back."""

from __future__ import annotations

import pytest

from zoomhard.spec import DataSpec, ModelSpec, onnx_path


@pytest.mark.parametrize("spec, parts", [
    ("lite0", ("", "lite0", None)),
    ("torchvision:resnet50", ("torchvision", "resnet50", None)),
    ("torchvision:resnet50.IMAGENET1K_V1", ("torchvision", "resnet50", "IMAGENET1K_V1")),
    ("open_clip:ViT-B-32/openai", ("open_clip", "ViT-B-32", "openai")),
    ("open_clip:ViT-B-32", ("open_clip", "ViT-B-32", None)),
    ("timm:vit_base_patch32_224.augreg_in21k_ft_in1k", ("timm", "vit_base_patch32_224.augreg_in21k_ft_in1k", None)),
    ("onnx:/models/a.b/model.onnx", ("onnx", "/models/a.b/model.onnx", None)),
    ("hfmodel:google/vit-base-patch16-224", ("hfmodel", "google/vit-base-patch16-224", None)),
])
def test_a_model_spec_splits_into_source_name_and_tag_and_joins_back(spec, parts):
    ms = ModelSpec.parse(spec)
    assert (ms.source, ms.name, ms.tag) == parts
    assert (f"{ms.source}:{ms.body}" if ms.source else ms.body) == spec


def test_only_torchvision_and_open_clip_specs_carry_a_weights_tag():
    assert ModelSpec.parse("torchvision:resnet50.IMAGENET1K_V2").base == "torchvision:resnet50"
    assert ModelSpec.parse("timm:resnet50.tv_in1k").base == "timm:resnet50.tv_in1k"
    assert onnx_path("onnx:m.onnx") == "m.onnx" and onnx_path("lite0") is None


@pytest.mark.parametrize("spec, parts", [
    ("samples", ("", "samples")),
    ("parquet:/data/*.parquet", ("parquet", "/data/*.parquet")),
    ("hf:taesiri/imagenet-hard@abc:validation", ("hf", "taesiri/imagenet-hard@abc:validation")),
    ("/data/val", ("", "/data/val")),
])
def test_a_data_spec_splits_into_source_and_rest(spec, parts):
    ds = DataSpec.parse(spec)
    assert (ds.source, ds.rest) == parts
