"""The study's networks: exact spec and weights tag behind each paper figure."""

import torchvision

from zoomhard.paper import (note_of_run, paper_note, study_model, study_model_of_run, study_models,
                            study_network, top1_figures)


def test_resnet50_default_weights_are_not_the_studys():
    # torchvision's own record of which weights a bare name loads, not zoomhard's
    assert torchvision.models.get_model_weights("resnet50").DEFAULT.name == "IMAGENET1K_V2"
    assert study_model("torchvision:resnet50") is None
    assert study_model("torchvision:resnet50", "IMAGENET1K_V2", "hard") is None
    v1 = study_model("torchvision:resnet50.IMAGENET1K_V1")
    assert (v1.paper_model, v1.table, v1.exact) == ("ResNet-50", "zoom", "torchvision:resnet50.IMAGENET1K_V1")
    assert study_model("torchvision:resnet50", "IMAGENET1K_V1", "hard").paper_model == "ResNet-50"
    note = paper_note("torchvision:resnet50", None, "hard")
    assert "torchvision:resnet50.IMAGENET1K_V1" in note and "IMAGENET1K_V2" in note


def test_bare_names_with_one_weights_tag_are_the_studys():
    # alexnet's DEFAULT is its only (V1) weights: the bare name is the study's network
    assert study_model("torchvision:alexnet").paper_model == "AlexNet"
    assert study_model("torchvision:vit_b_32", table="hard").paper_model == "ViT-B/32"


def test_the_vgg_row_of_imagenet_hard_is_vgg19():
    assert study_network("VGG-16", "hard").exact == "torchvision:vgg19.IMAGENET1K_V1"
    assert study_model("torchvision:vgg16", table="hard") is None
    assert study_model("torchvision:vgg16", table="zoom").paper_model == "VGG-16"
    assert "vgg19" in study_model("torchvision:vgg19", table="hard").note
    assert "torchvision:vgg19.IMAGENET1K_V1" in paper_note("torchvision:vgg16", None, "hard")


def test_lookalikes_get_a_note_not_a_figure():
    assert study_model("timm:vit_base_patch32_224", table="hard") is None
    assert "torchvision:vit_b_32.IMAGENET1K_V1" in paper_note("timm:vit_base_patch32_224", None, "hard")
    assert "no hard figure" in paper_note("lite0", None, "hard")


def test_every_hard_row_has_a_network_and_4k_its_own_figures():
    for table in ("hard", "hard-4k"):
        figures = top1_figures(table)
        names = {m.paper_model for m in study_models() if m.table == table}
        assert names == set(figures), table
    assert top1_figures("hard")["ResNet-50"] == 0.1474 and top1_figures("hard-4k")["ResNet-50"] == 0.1393


def test_runs_with_local_weights_need_a_tag():
    assert study_model_of_run({"model": "torchvision:resnet50", "weights": "/w.pth"}) is None
    assert "IMAGENET1K_V1" in note_of_run({"model": "torchvision:resnet50", "weights": "/w.pth"})
    run = {"model": "torchvision:resnet50", "weights": "/w.pth", "weights_tag": "IMAGENET1K_V1"}
    assert study_model_of_run(run).paper_model == "ResNet-50"
    assert study_model_of_run({"model": "torchvision:resnet50"}) is None  # an old run: DEFAULT


def test_a_run_folder_refuses_another_protocol(tmp_path):
    import pytest

    from zoomhard.store import RunError, RunStore

    RunStore(tmp_path / "old").open({"model": "lite0"})               # written before "protocol" existed
    RunStore(tmp_path / "old").open({"model": "lite0", "protocol": "native"})
    with pytest.raises(RunError, match="protocol"):
        RunStore(tmp_path / "old").open({"model": "lite0", "protocol": "study"})
