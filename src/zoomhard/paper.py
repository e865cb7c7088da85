"""The study's networks and figures: which exact model (spec and weights tag) stands behind each
figure the paper prints, so that a figure is set beside a run only when the run's network is
the study's own (resources/study_models.csv).

    study_model("torchvision:resnet50.IMAGENET1K_V1")          -> ResNet-50 of the zoom table
    study_model("torchvision:resnet50")                        -> None (DEFAULT is IMAGENET1K_V2)
    paper_note("torchvision:resnet50", None, "hard")           -> what the study used instead

Tables: "zoom" (Table 1's zoom upper bounds), "hard" (ImageNet-Hard top-1), "hard-4k"
(ImageNet-Hard-4K top-1, from that dataset's card).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from .spec import ModelSpec

TABLES = ("zoom", "hard", "hard-4k")

STUDY_IMAGES = 10_980
# The commits whose dataset card lists the paper's 10,980 validation images: the default
# branches have changed since (13,925 rows in March 2023, fewer later).
STUDY_REVISIONS = {
    "taesiri/imagenet-hard": "e292574214aa16ede29857c613a50a12f60b8eb1",
    "taesiri/imagenet-hard-4k": "42a6d8d2fa33f5df0aa26f70e38040f4341f4f80",
}
_TOP1_FILES = {"hard": "imagenet_hard_top1.csv", "hard-4k": "imagenet_hard_4k_top1.csv"}

# Specs often taken for one of the study's networks that load other weights or another
# preprocessing: they get a note naming the study's network, never its figure.
LOOKALIKES = {
    "torchvision:vgg16": "VGG-16", "timm:vgg16.tv_in1k": "VGG-16", "timm:vgg19.tv_in1k": "VGG-16",
    "timm:resnet50": "ResNet-50", "timm:resnet50.tv_in1k": "ResNet-50", "timm:resnet18": "ResNet-18",
    "timm:vit_base_patch32_224": "ViT-B/32", "timm:tf_efficientnet_b0": "EfficientNet-B0",
    "timm:tf_efficientnet_b7": "EfficientNet-B7", "timm:tf_efficientnet_l2_ns": "EfficientNet-L2-NS",
    "timm:tf_efficientnet_l2.ns_jft_in1k_475": "EfficientNet-L2-NS",
}


@dataclass(frozen=True)
class StudyModel:
    table: str
    paper_model: str          # the row's name in the paper
    spec: str                 # zoomhard spec without the tag
    tag: str | None           # torchvision weights tag; None where the spec names the weights
    note: str = ""

    @property
    def exact(self) -> str:
        """The spec that loads exactly this network: torchvision:resnet50.IMAGENET1K_V1."""
        return f"{self.spec}.{self.tag}" if self.tag else self.spec


def _rows(name: str) -> list[dict]:
    text = resources.files("zoomhard.resources").joinpath(name).read_text()
    return list(csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#")))


@lru_cache(maxsize=1)
def study_models() -> tuple[StudyModel, ...]:
    return tuple(StudyModel(r["table"], r["paper_model"], r["spec"], r["tag"] or None, r["note"] or "")
                 for r in _rows("study_models.csv"))


def study_rows() -> list[dict]:
    """`zoomhard models --study`: {spec, table, paper_model, note} per row of the paper's tables,
    the spec exact (with its weights tag), to copy into --model or a study file."""
    return [{"spec": m.exact, "table": m.table, "paper_model": m.paper_model, "note": m.note} for m in study_models()]


@lru_cache(maxsize=None)
def top1_figures(table: str) -> dict[str, float]:
    """paper model -> top-1 as a fraction, for "hard" or "hard-4k"."""
    return {r["model"]: round(float(r["top1"]) / 100, 6) for r in _rows(_TOP1_FILES[table])}


def split_tag(spec: str) -> tuple[str, str | None]:
    """'torchvision:resnet50.IMAGENET1K_V1' -> ('torchvision:resnet50', 'IMAGENET1K_V1'); other
    sources keep their spec whole (timm's '.tag' names its own pretrained weights)."""
    ms = ModelSpec.parse(spec)
    if ms.source == "torchvision" and ms.tag is not None:
        return ms.base, ms.tag
    return spec, None


def default_tag(spec: str) -> str | None:
    """The torchvision weights a bare `torchvision:NAME` loads (its DEFAULT), else None."""
    ms = ModelSpec.parse(spec)
    if ms.source != "torchvision":
        return None
    import torchvision

    try:
        return torchvision.models.get_model_weights(ms.body).DEFAULT.name
    except (ValueError, KeyError, AttributeError):
        return None


def resolve(spec: str, tag: str | None = None) -> tuple[str, str | None]:
    """(spec without tag, the weights tag it loads): a tag in the spec, else `tag`, else a bare
    torchvision spec's DEFAULT."""
    base, own = split_tag(spec)
    return base, own or tag or default_tag(base)


def study_model(spec: str | None, tag: str | None = None, table: str = "zoom") -> StudyModel | None:
    """The study's network of `table` that `spec` (with weights `tag`) loads exactly, or None.
    A bare torchvision spec counts as its DEFAULT weights."""
    if not spec:
        return None
    base, tag = resolve(spec, tag)
    for m in study_models():
        if m.table == table and m.spec == base and m.tag == tag:
            return m
    return None


def study_network(paper_model: str, table: str = "zoom") -> StudyModel | None:
    """The network the study ran for a row of `table`."""
    return next((m for m in study_models() if m.table == table and m.paper_model == paper_model), None)


def paper_note(spec: str | None, tag: str | None = None, table: str = "zoom") -> str:
    """A line on how `spec` relates to the study's networks of `table`: the twin's own note, or
    which network the study used instead, or that the study has no such model."""
    twin = study_model(spec, tag, table)
    if twin is not None:
        return twin.note
    base, tag = resolve(spec or "", tag)
    same_arch = [m for m in study_models() if m.table == table and m.spec == base]
    looks = LOOKALIKES.get(base) or LOOKALIKES.get(spec or "")
    wanted = same_arch[0] if same_arch else (study_network(looks, table) if looks else None)
    if wanted is None:
        return f"the study has no {table} figure for {spec}"
    loaded = f"weights {tag}" if tag else ("local weights of unknown tag" if base.startswith("torchvision:") else spec)
    return f"no study figure: the study's {wanted.paper_model} is {wanted.exact}; this is {loaded}"


def study_model_of_run(config: dict, table: str = "zoom") -> StudyModel | None:
    """The study's network behind a run.json (or a bench summary): by its model spec and the
    weights tag it recorded. Local weights without a recorded tag are no study network."""
    spec = config.get("model")
    tag = config.get("weights_tag")
    if tag is None and config.get("weights") and split_tag(spec or "")[1] is None:
        return None
    return study_model(spec, tag, table)


def note_of_run(config: dict, table: str = "zoom") -> str:
    """paper_note for a run.json or a bench summary (see study_model_of_run)."""
    spec = config.get("model")
    if config.get("weights_tag") is None and config.get("weights") and split_tag(spec or "")[1] is None:
        wanted = next((m for m in study_models() if m.table == table and m.spec == spec), None)
        hint = f"; the study's {wanted.paper_model} is {wanted.exact}" if wanted else ""
        return f"local weights without a tag are no study network{hint}"
    return paper_note(spec, config.get("weights_tag"), table)


# -- ImageNet-Hard figures beside a benchmark ---------------------------------------------------

def hard_table(data_spec: str) -> str:
    """"hard-4k" for ImageNet-Hard-4K data (by name), else "hard"."""
    return "hard-4k" if "hard-4k" in data_spec.lower() or "hard_4k" in data_spec.lower() else "hard"


def is_study_revision(repo: str, revision: str | None) -> bool:
    """Whether a hub dataset at `revision` is the paper's own revision of it."""
    return revision is not None and STUDY_REVISIONS.get(repo.lower()) == revision


def study_data(described: dict) -> tuple[bool, str]:
    """(whether data is the paper's 10,980-image revision, a note when it is not): a hub
    dataset by its commit, anything else by its image count."""
    if described.get("kind") == "hf":
        repo, revision = described.get("repo", ""), described.get("revision")
        if is_study_revision(repo, revision):
            return True, ""
        known = STUDY_REVISIONS.get(repo.lower())
        wanted = f" (revision {known})" if known else ""
        return False, (f"the study's figures belong to the paper's {STUDY_IMAGES:,}-image revision{wanted}; "
                       f"this is {repo}@{revision}")
    n = described.get("images")
    if n == STUDY_IMAGES:
        return True, ""
    return False, f"the study's figures belong to the paper's {STUDY_IMAGES:,} images; this data has {n}"


def hard_paper(spec: str, tag: str | None, weights: str | None, described: dict, protocol: str) -> dict:
    """bench's "paper" entry on ImageNet-Hard data: {"model", "top1", "note"}; model and top1
    null without a twin among the study's networks, top1 also null on other data revisions."""
    table = hard_table(str(described.get("spec", "")))
    record = {"model": spec, "weights": weights, "weights_tag": tag}
    twin = study_model_of_run(record, table)
    notes = [note_of_run(record, table)]
    top1 = None
    if twin is not None:
        same_data, why = study_data(described)
        top1 = top1_figures(table)[twin.paper_model] if same_data else None
        notes.append(why)
        if protocol != "study":
            notes.append("measured with the model's own preprocessing; the study's figure with its own "
                         "(--protocol study)")
    return {"model": twin.paper_model if twin else None, "top1": top1,
            "note": "; ".join(n for n in notes if n)}
