"""The study file: models, datasets and experiments named once, validated before anything runs.

    name = "paper"
    protocol = "study"                      # native | study; per experiment too
    [models.r50]
    spec = "torchvision:resnet50.IMAGENET1K_V1"     # weights = "r50.pth" optional
    [datasets.in-a]
    data = "~/imagenet-a"                   # any sweep/bench data option; paper = "IN-A" optional
    subset = "imagenet-a"
    [[experiments]]
    kind = "zoom"                           # zoom | bench | tta; models, datasets: default all

Every mistake is one line naming what is valid (StudyError, a ValueError: the CLI's user-error
path). Relative paths are read from the study file's folder; `~` is the user's home.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..data import BUILTIN_SPECS
from ..errors import StudyError, UsageError
from ..report.datasets import PAPER_DATASETS
from ..spec import DataSpec, onnx_path
from ..protocol import PROTOCOLS, check_model

EXPERIMENT_KINDS = ("zoom", "bench", "tta")
# What a dataset's `paper` key may name: the study's dataset columns (its Table 1, MEMO's table)
# and its two benchmarks, whose published figures the study's tables set beside a cell's.
PAPER_NAMES = (*PAPER_DATASETS, "ImageNet-Hard", "ImageNet-Hard-4K")

# How each cell runs, not what it computes: left out of a cell's fingerprint.
RUN_KEYS = {"device": str, "backend": str, "batch_size": int, "workers": int}
TOP_KEYS = {"name": str, "protocol": str, "models": dict, "datasets": dict, "experiments": list, **RUN_KEYS}
MODEL_KEYS = {"spec": str, "weights": str}
DATASET_KEYS = {"data": str, "labels": str, "subset": str, "real_labels": str, "real_mode": str, "paper": str,
                "allow_outside_root": bool}
GRID_KEYS = {"scales": (str, list), "anchors": int, "crop": int}
EXPERIMENT_KEYS = {"kind": str, "name": str, "models": list, "datasets": list, "protocol": str, **RUN_KEYS}
KIND_KEYS = {
    "zoom": {**GRID_KEYS, "clip_norm": str},
    "bench": {"clip_norm": str},
    "tta": {**GRID_KEYS, "methods": list, "views": int, "steps": int, "lr": float, "seed": int,
            "prior_strength": float, "transforms": str, "clip_norm": str},
}
PATH_KEYS = ("weights", "labels", "real_labels")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")   # names become folder names


@dataclass(frozen=True)
class Experiment:
    name: str                    # its folder under OUT/runs (default: its kind)
    kind: str
    models: tuple[str, ...]
    datasets: tuple[str, ...]
    protocol: str
    options: dict                # the kind's own options (grid, methods, ...)
    run: dict                    # device, backend, batch_size, workers


@dataclass(frozen=True)
class Cell:
    experiment: Experiment
    model: str                   # the study file's names
    dataset: str
    model_options: dict          # spec, weights
    dataset_options: dict        # data, labels, subset, real_labels, real_mode, paper[, allow_outside_root]

    @property
    def key(self) -> str:
        return f"{self.experiment.name}/{self.model}/{self.dataset}"

    @property
    def kind(self) -> str:
        return self.experiment.kind

    def folder(self, out: Path) -> Path:
        return Path(out) / "runs" / self.experiment.name / self.model / self.dataset

    def input_files(self) -> dict[str, str]:
        """The local files whose content decides the cell's results under the same names: the
        weights (or an onnx:PATH model), the labels CSV (given, or a data folder's own
        labels.csv), the ReaL labels and a tta cell's analysis.json of transforms."""
        from ..data.folder import LABELS_FILE
        from ..tta.zoom import JSON_SPEC

        m, d = self.model_options, self.dataset_options
        data = Path(d["data"]) if isinstance(d.get("data"), str) else None
        own_labels = data / LABELS_FILE if data is not None and data.is_dir() else None
        spec = m.get("spec") or ""
        transforms = JSON_SPEC.match(str(self.experiment.options.get("transforms", "")).strip())
        files = {"weights": m.get("weights"), "model": onnx_path(spec),
                 "labels": d.get("labels") or (own_labels if own_labels and own_labels.is_file() else None),
                 "real_labels": d.get("real_labels"), "transforms": transforms["path"] if transforms else None}
        return {what: str(path) for what, path in files.items() if path}

    def fingerprint(self) -> str:
        """What the cell computes, its input files' content (sha256) included, as a run's
        identity holds them: a cell recorded as done under another fingerprint runs again."""
        digests = {what: _sha256(path) for what, path in self.input_files().items()}
        what = {"kind": self.kind, "protocol": self.experiment.protocol, "options": self.experiment.options,
                "model": self.model_options, "inputs": digests,
                "dataset": {k: v for k, v in self.dataset_options.items() if k != "paper"}}
        return hashlib.sha1(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


_DIGESTS: dict[tuple, str] = {}


def _sha256(path: str) -> str:
    """A file's sha256, read once per content stamp (size, mtime) in a process: a study asks for
    each cell's fingerprint several times, and weights run to gigabytes."""
    from ..runs.files import file_sha256

    try:
        st = Path(path).stat()
    except OSError:
        return "missing"
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_sha256(path)
    return _DIGESTS[key]


@dataclass
class Study:
    name: str
    path: Path
    protocol: str
    models: dict[str, dict]
    datasets: dict[str, dict]
    experiments: list[Experiment]

    def cells(self) -> list[Cell]:
        return [Cell(e, m, d, self.models[m], self.datasets[d])
                for e in self.experiments for m in e.models for d in e.datasets]

    def resolved(self) -> dict:
        """The study as it runs: every default filled in, every path absolute."""
        return {"name": self.name, "file": str(self.path), "protocol": self.protocol, "models": self.models,
                "datasets": self.datasets,
                "experiments": [{"name": e.name, "kind": e.kind, "models": list(e.models),
                                 "datasets": list(e.datasets), "protocol": e.protocol, **e.options,
                                 **({"grid": grid(e.options).to_dict()} if e.kind in ("zoom", "tta") else {}),
                                 **e.run} for e in self.experiments]}


def load_study(path: str | Path) -> Study:
    """Read and validate a study file; StudyError (one line) on the first mistake."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI
        import tomli as tomllib

    path = Path(path).expanduser()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudyError(f"{path}: no such study file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise StudyError(f"{path}: cannot read the study file ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise StudyError(f"{path}: not valid TOML ({e})") from None
    return parse_study(raw, path)


def parse_study(raw: dict, path: Path) -> Study:
    where = path.name
    _check_keys(raw, TOP_KEYS, where)
    base = path.resolve().parent
    name = raw.get("name", path.stem)
    protocol = _choice(raw.get("protocol", "native"), PROTOCOLS, f"{where}: protocol")
    run = {k: raw[k] for k in RUN_KEYS if k in raw}
    models = {n: _model(n, t, base, where) for n, t in _named_tables(raw, "models", where).items()}
    datasets = {n: _dataset(n, t, base, where) for n, t in _named_tables(raw, "datasets", where).items()}
    tables = raw.get("experiments")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise StudyError(f"{where}: give at least one [[experiments]] table (kind = one of: {', '.join(EXPERIMENT_KINDS)})")
    experiments = [_experiment(k, t, models, datasets, protocol, run, where, base) for k, t in enumerate(tables)]
    names = [e.name for e in experiments]
    for n in names:
        if names.count(n) > 1:
            raise StudyError(f"{where}: two experiments are named {n!r}; give each one a distinct name = \"...\"")
    return Study(name, path.resolve(), protocol, models, datasets, experiments)


def _check_keys(table: dict, allowed: dict, where: str) -> None:
    for key, value in table.items():
        if key not in allowed:
            raise StudyError(f"{where}: unknown key {key!r}; valid keys: {', '.join(allowed)}")
        want = allowed[key]
        types = want if isinstance(want, tuple) else (want,)
        if float in types:
            types = (*types, int)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = " or ".join({str: "a string", int: "an integer", float: "a number", list: "a list",
                                 dict: "a table", bool: "true or false"}[t] for t in (want if isinstance(want, tuple) else (want,)))
            raise StudyError(f"{where}: {key} must be {names}, not {value!r}")


def _choice(value: str, valid: tuple[str, ...], what: str) -> str:
    if value not in valid:
        raise StudyError(f"{what} {value!r} is unknown; valid: {', '.join(valid)}")
    return value


def _named_tables(raw: dict, key: str, where: str) -> dict[str, dict]:
    tables = raw.get(key)
    if not tables:
        raise StudyError(f"{where}: no [{key}.NAME] table; name at least one")
    for n, t in tables.items():
        if not NAME.fullmatch(n):
            raise StudyError(f"{where}: {key[:-1]} name {n!r} must be letters, digits and ._+- (it names a folder)")
        if not isinstance(t, dict):
            raise StudyError(f"{where}: {key}.{n} must be a table")
    return tables


def _path(value: str, base: Path) -> str:
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else base / p)


def _model(name: str, table: dict, base: Path, where: str) -> dict:
    from ..models import ModelError, parse_spec

    _check_keys(table, MODEL_KEYS, f"{where}: models.{name}")
    if "spec" not in table:
        raise StudyError(f"{where}: models.{name} has no spec (e.g. spec = \"torchvision:resnet50\")")
    try:
        parse_spec(table["spec"])
    except ModelError as e:
        raise StudyError(f"{where}: models.{name}: {e}") from None
    return {"spec": table["spec"], "weights": _path(table["weights"], base) if "weights" in table else None}


def _dataset(name: str, table: dict, base: Path, where: str) -> dict:
    from ..protocols import REAL_MODES, SUBSET_CHOICES

    at = f"{where}: datasets.{name}"
    _check_keys(table, DATASET_KEYS, at)
    if "data" not in table:
        raise StudyError(f"{at} has no data (samples, a folder, parquet:GLOB or hf:REPO)")
    out = {"data": _data_spec(table["data"], base), "labels": None, "subset": "auto", "real_labels": None,
           "real_mode": REAL_MODES[0], "paper": None}
    out.update({k: _path(v, base) if k in PATH_KEYS else v for k, v in table.items() if k != "data"})
    _choice(out["subset"], SUBSET_CHOICES, f"{at}: subset")
    _choice(out["real_mode"], REAL_MODES, f"{at}: real_mode")
    if out["paper"] is not None:
        _choice(out["paper"], PAPER_NAMES, f"{at}: paper")
    return out


def _data_spec(spec: str, base: Path) -> str:
    """A folder or parquet glob relative to the study file; samples and hub names as given."""
    ds = DataSpec.parse(spec)
    if spec in BUILTIN_SPECS or ds.source == "hf":
        return spec
    if ds.source == "parquet":
        return "parquet:" + _path(ds.rest, base)
    return _path(spec, base)


def _transforms(text: str, base: Path) -> str:
    """tta's transforms: ids as given; RUN/analysis.json[:K] read from the study file's folder."""
    from ..tta.zoom import JSON_SPEC

    m = JSON_SPEC.match(text.strip())
    return text if not m else _path(m["path"], base) + (f":{m['k']}" if m["k"] is not None else "")


def _experiment(k: int, table: dict, models: dict, datasets: dict, protocol: str, run: dict,
                where: str, base: Path) -> Experiment:
    kind = table.get("kind")
    if kind not in EXPERIMENT_KINDS:
        raise StudyError(f"{where}: experiment {k + 1} has kind {kind!r}; valid kinds: {', '.join(EXPERIMENT_KINDS)}")
    name = table.get("name", kind)
    at = f"{where}: experiment {name!r}"
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise StudyError(f"{at}: name must be letters, digits and ._+- (it names a folder)")
    _check_keys(table, {**EXPERIMENT_KEYS, **KIND_KEYS[kind]}, at)
    chosen = {}
    for key, defined in (("models", models), ("datasets", datasets)):
        names = table.get(key, list(defined))
        for n in names:
            if n not in defined:
                raise StudyError(f"{at}: unknown {key[:-1]} {n!r}; the study's {key}: {', '.join(defined)}")
        chosen[key] = tuple(dict.fromkeys(names))
    protocol = _choice(table.get("protocol", protocol), PROTOCOLS, f"{at}: protocol")
    for n in chosen["models"]:
        try:
            check_model(models[n]["spec"], models[n]["weights"], protocol)
        except UsageError as e:
            raise StudyError(f"{at}: models.{n}: {e}") from None
    options = {k: v for k, v in table.items() if k in KIND_KEYS[kind]}
    if "transforms" in options:
        options["transforms"] = _transforms(options["transforms"], base)
    _check_options(kind, options, at)
    _check_run(run_options := {**run, **{k: table[k] for k in RUN_KEYS if k in table}}, at)
    return Experiment(name, kind, chosen["models"], chosen["datasets"], protocol, options, run_options)


def _check_options(kind: str, options: dict, at: str) -> None:
    if "clip_norm" in options:
        _choice(options["clip_norm"], ("clip", "imagenet"), f"{at}: clip_norm")
    if "scales" in options or "anchors" in options or "crop" in options:
        try:
            grid(options)
        except (ValueError, TypeError) as e:
            raise StudyError(f"{at}: {e}") from None
    if kind == "tta":
        from ..tta import parse_methods

        if "methods" not in options:
            raise StudyError(f"{at}: tta needs methods = [...] (memo-augmix, memo-rrc, zoom-mean, zoom-max)")
        try:
            options["methods"] = list(parse_methods(",".join(map(str, options["methods"]))))
        except ValueError as e:
            raise StudyError(f"{at}: {e}") from None
        for key in ("views", "steps"):
            if options.get(key, 1) < (1 if key == "views" else 0):
                raise StudyError(f"{at}: {key} must be at least {1 if key == 'views' else 0}")


def _check_run(run: dict, at: str) -> None:
    from ..models.backends import BACKENDS

    if "backend" in run:
        _choice(run["backend"], BACKENDS, f"{at}: backend")
    if "device" in run and not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", run["device"]):
        raise StudyError(f"{at}: device {run['device']!r} is unknown; valid: auto, cpu, cuda, cuda:N, mps")
    for key in ("batch_size", "workers"):
        if key in run and run[key] < 1:
            raise StudyError(f"{at}: {key} must be at least 1")


def grid(options: dict):
    """The experiment's zoom grid: the study's unless scales, anchors or crop say otherwise."""
    from ..grid import ZoomGrid

    scales = options.get("scales", "study")
    scales = ZoomGrid.parse_scales(scales) if isinstance(scales, str) else scales
    anchors = options.get("anchors", 3)
    return ZoomGrid(scales, anchors, anchors, options.get("crop", 224))
