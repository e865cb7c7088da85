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

    from zoomhard.runs.store import RunError, RunStore

    RunStore(tmp_path / "old").open({"model": "lite0"})               # written before "protocol" existed
    RunStore(tmp_path / "old").open({"model": "lite0", "protocol": "native"})
    with pytest.raises(RunError, match="protocol"):
        RunStore(tmp_path / "old").open({"model": "lite0", "protocol": "study"})


def test_every_network_of_the_shipped_paper_study_carries_the_figures_of_its_cells():
    """studies/paper.toml names only the study's exact networks, each where the paper prints a
    figure for it: zoom cells Table 1's, bench cells ImageNet-Hard's, tta cells MEMO's."""
    from pathlib import Path

    from zoomhard.report.compare import paper_figures
    from zoomhard.reproduce import load_study
    from zoomhard.reproduce.tables import HARD_TABLES, PAPER_METHODS, paper_column, paper_tta

    study = load_study(Path(__file__).parents[1] / "studies" / "paper.toml")
    missing = []
    for cell in study.cells():
        spec = cell.model_options["spec"]
        column = paper_column(study.datasets[cell.dataset])
        table = HARD_TABLES[column] if cell.kind == "bench" else "zoom"
        twin = study_model(spec, None, table)
        if cell.kind == "zoom":
            figures = paper_figures(twin.paper_model, column) if twin else None
            filled = figures is not None and None not in (figures["crop1"], figures["crop324"])
        elif cell.kind == "bench":
            filled = twin is not None and twin.paper_model in top1_figures(table)
        else:
            rows = paper_tta()[1]
            filled = twin is not None and all(column in rows.get((twin.paper_model, PAPER_METHODS[m]), {})
                                              for m in cell.experiment.options["methods"])
        if not filled:
            missing.append(f"{cell.key}: {spec}")
    assert not missing, missing
    specs = {m["spec"] for m in study.models.values()}
    assert "open_clip:ViT-L-14/datacomp_xl_s13b_b90k" in specs and "torchvision:vgg19.IMAGENET1K_V1" in specs
    assert not any("laion2b_s32b_b82k" in s for s in specs)
    assert {m.exact for m in study_models()} <= specs, "every network the paper prints is in the study"


def test_the_study_protocol_refuses_a_bare_spec_whose_default_weights_are_not_the_studys(tmp_path, capsys):
    import pytest

    from zoomhard.cli import main
    from zoomhard.config import Setup
    from zoomhard.errors import UsageError

    with pytest.raises(UsageError, match=r"write torchvision:resnet50\.IMAGENET1K_V1 \(or torchvision:resnet50\.IMAGENET1K_V2"):
        Setup("torchvision:resnet50", "samples", protocol="study")
    Setup("torchvision:resnet50", "samples")                                     # native: DEFAULT as asked
    Setup("torchvision:resnet50.IMAGENET1K_V2", "samples", protocol="study")    # a tag: as given
    Setup("torchvision:resnet50", "samples", weights="r50.pth", protocol="study")  # local weights: as given
    Setup("torchvision:alexnet", "samples", protocol="study")                    # DEFAULT is the study's V1
    out = tmp_path / "run"
    assert main(["sweep", "-m", "torchvision:resnet50", "-d", "samples", "--protocol", "study",
                 "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "IMAGENET1K_V1" in err and err.count("\n") == 0, err
    assert not out.exists(), "refused before the run folder is made"
