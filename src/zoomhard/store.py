"""The run folder: configuration, predictions as Parquet, and what could not be used.

    RUN/run.json               model, preprocessing, grid, data, versions, timings, summary
    RUN/predictions/part-*.parquet   one row per (image, transform)   PREDICTIONS
    RUN/images/part-*.parquet        one row per swept image          IMAGES
    RUN/errors.csv                   image_id,reason for images that could not be used

Each part holds whole images only and is written to a temporary name, then renamed, so a run
killed at any instant leaves only complete parts behind. The images part of a flush is written
before its predictions part; an image counts as done once its predictions part exists.
"""

from __future__ import annotations

import csv
import json
import os
import time
import uuid
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

FORMAT_VERSION = 1


def write_csv(path: Path, header: list[str], rows: Iterable) -> None:
    """A CSV table with a header line; its folder is created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)

PREDICTIONS = pa.schema([
    ("image_id", pa.string()),
    ("scale", pa.int16()),
    ("row", pa.int8()),
    ("col", pa.int8()),
    ("top1", pa.int16()),            # ImageNet-1k index (argmax over the class subset, if any)
    ("correct", pa.bool_()),         # top1 is one of the image's labels
    ("top5", pa.list_(pa.int16())),
    ("top5_prob", pa.list_(pa.float32())),  # softmax over the subset's classes
    ("label_prob", pa.float32()),    # highest probability among the image's labels
])

IMAGES = pa.schema([
    ("image_id", pa.string()),
    ("labels", pa.list_(pa.int16())),  # every acceptable ImageNet-1k index
    ("origin", pa.string()),           # source benchmark or folder; "" when unknown
    ("width", pa.int32()),             # after EXIF orientation
    ("height", pa.int32()),
    ("locator", pa.string()),          # where to read the image again (see zoomhard.data.open_locator)
])


class RunError(Exception):
    """A run folder that is missing, incomplete, or holds another configuration."""


def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for pkg in ("zoomhard", "torch", "torchvision", "timm", "onnxruntime", "pyarrow", "pillow", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _atomic_write_table(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


# The keys of run.json that must match for a run to be resumed rather than refused.
IDENTITY_KEYS = ("model", "weights", "grid", "data", "subset", "mode", "protocol")
# What a run.json written before a key existed means by its absence.
IDENTITY_DEFAULTS = {"protocol": "native"}


def _brief(key: str, value) -> str:
    """A run.json identity value as a user reads it in one line."""
    if key == "grid" and isinstance(value, dict):
        scales = value.get("scales", [])
        span = f"{scales[0]}-{scales[-1]}" if scales else "none"
        return f"{len(scales)} scales {span}, {value.get('rows')}x{value.get('cols')} anchors, crop {value.get('crop')}"
    if key == "data" and isinstance(value, dict):
        return value.get("spec", repr(value))
    return repr(value)


class RunStore:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # -- configuration -------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "run.json"

    def exists(self) -> bool:
        return self.config_path.exists()

    def read_config(self) -> dict:
        if not self.path.is_dir():
            raise RunError(f"{self.path}: no such run folder")
        if not self.config_path.exists():
            raise RunError(f"{self.path}: not a zoomhard run (no run.json)")
        try:
            config = json.loads(self.config_path.read_text())
        except json.JSONDecodeError as e:
            raise RunError(f"{self.config_path}: unreadable ({e})") from None
        if config.get("format") != FORMAT_VERSION:
            raise RunError(f"{self.path}: run format {config.get('format')!r} is not {FORMAT_VERSION}; "
                           "sweep it again with this version of zoomhard")
        return config

    def open(self, config: dict) -> dict:
        """Start a new run with `config`, or resume one made with the same identity keys."""
        config = {"format": FORMAT_VERSION, **config}
        if self.exists():
            old = self.read_config()
            diff = [k for k in IDENTITY_KEYS
                    if old.get(k, IDENTITY_DEFAULTS.get(k)) != config.get(k, IDENTITY_DEFAULTS.get(k))]
            if diff:
                raise RunError(f"{self.path} holds a run with another {', '.join(diff)} "
                               f"({'; '.join(f'{k}: {_brief(k, old.get(k))}' for k in diff)}); "
                               "choose another --out folder")
            old.setdefault("sessions", []).append({"started": time.time()})
            config = {**config, "sessions": old["sessions"], "created": old.get("created")}
        else:
            config.update(created=time.time(), sessions=[{"started": time.time()}])
        config["versions"] = _versions()
        (self.path / "predictions").mkdir(parents=True, exist_ok=True)
        (self.path / "images").mkdir(exist_ok=True)
        self.write_config(config)
        return config

    def write_config(self, config: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        _atomic_write_bytes(self.config_path, (json.dumps(config, indent=2) + "\n").encode())

    # -- results -------------------------------------------------------------------------------
    def _parts(self, kind: str) -> list[Path]:
        return sorted((self.path / kind).glob("part-*.parquet"))

    def write_part(self, predictions: pa.Table, images: pa.Table) -> None:
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:6]}.parquet"
        _atomic_write_table(images.cast(IMAGES), self.path / "images" / name)
        _atomic_write_table(predictions.cast(PREDICTIONS), self.path / "predictions" / name)

    def done_ids(self) -> set[str]:
        done: set[str] = set()
        for part in self._parts("predictions"):
            done.update(pq.read_table(part, columns=["image_id"]).column(0).unique().to_pylist())
        return done

    def predictions(self, columns: Iterable[str] | None = None) -> pa.Table:
        """Every prediction row of the run (complete parts only)."""
        parts = self._parts("predictions")
        cols = list(columns) if columns is not None else None
        if not parts:
            return PREDICTIONS.empty_table().select(cols) if cols else PREDICTIONS.empty_table()
        return pa.concat_tables([pq.read_table(p, columns=cols) for p in parts])

    def prediction_parts(self) -> list[Path]:
        """The complete predictions parts, oldest first (each holds whole images)."""
        return self._parts("predictions")

    def images(self) -> pa.Table:
        """One row per swept image: labels, origin, size and where to read it again."""
        pred_names = {p.name for p in self._parts("predictions")}
        parts = [p for p in self._parts("images") if p.name in pred_names]
        if not parts:
            return IMAGES.empty_table()
        return pa.concat_tables([pq.read_table(p) for p in parts])

    # -- images that could not be used ---------------------------------------------------------
    @property
    def errors_path(self) -> Path:
        return self.path / "errors.csv"

    def record_error(self, image_id: str, reason: str) -> None:
        new = not self.errors_path.exists()
        with open(self.errors_path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["image_id", "reason"])
            w.writerow([image_id, reason])
            f.flush()
            os.fsync(f.fileno())

    def errors(self) -> dict[str, str]:
        """image_id -> reason. A line cut short by a kill is ignored (the image is retried)."""
        if not self.errors_path.exists():
            return {}
        with open(self.errors_path, newline="") as f:
            text = f.read()
        complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
        if complete != text:  # drop the torn line so that the next append starts clean
            with open(self.errors_path, "r+") as f:
                f.truncate(len(complete.encode()))
        rows = list(csv.reader(complete.splitlines()))
        return {r[0]: r[1] for r in rows[1:] if len(r) == 2}
