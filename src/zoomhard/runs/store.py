"""The run folder: configuration, predictions as Parquet, and what could not be used.

    RUN/run.json               model, preprocessing, grid, data, versions, timings, summary
    RUN/predictions/part-*.parquet   one row per (image, transform)   PREDICTIONS
    RUN/images/part-*.parquet        one row per swept image          IMAGES
    RUN/errors.csv                   image_id,reason,fault for images that could not be used: the
                                     image's fault (for good) or the environment's (retried)

Each part holds whole images only and is written to a temporary name, then renamed, so a run
killed at any instant leaves only complete parts behind. The images part of a flush is written
before its predictions part; an image counts as done once its predictions part exists.

A run's identity (zoomhard.runs.identity) decides whether a folder is resumed or refused. Every
part carries a digest of it in its schema metadata, so parts of another run are refused even
without run.json. A part
that cannot be read (a disk fault, a copy cut short) is moved to `.corrupt/` beside it, with a
line saying so, and its images are swept again on resume. One process writes a folder at a time
(zoomhard.runs.lock); each writer records its own session in run.json.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import RunError
from .files import atomic_write, atomic_write_bytes
from .identity import (IDENTITY_KEYS, IDENTITY_META, IdentityError, brief, identity_digest, identity_value,
                       library_versions)

FORMAT_VERSION = 1
ERRORS_HEADER = ["image_id", "reason", "fault"]   # errors.csv; files of earlier versions lack "fault"


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
    ("locator", pa.string()),          # where to read the image again (zoomhard.data.read_locator reads it)
])


# The types of run.json's keys, as a sweep writes them.
CONFIG_TYPES = {"model": (str,), "weights": (str, type(None)), "digests": (dict,), "grid": (dict,), "data": (dict,),
                "subset": (dict, str), "mode": (str,), "protocol": (str,), "summary": (dict,), "sessions": (list,)}


def _check_part(path: Path, schema: pa.Schema, identity: str) -> None:
    """One part as its run wrote it: stamped with the run's identity, with its kind's columns."""
    try:
        found = pq.read_schema(path)
    except (OSError, pa.ArrowException) as e:
        raise RunError(f"{path}: unreadable part ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    stamp = (found.metadata or {}).get(IDENTITY_META)
    if stamp is None:
        raise RunError(f"{path} carries no run identity, so nothing says this run wrote it: move it away "
                       "(a resumed sweep computes its images again)")
    if stamp.decode(errors="replace") != identity:
        raise RunError(f"{path} was written by another run (identity {stamp.decode(errors='replace')}, this run "
                       f"{identity}); the folder mixes runs: move it away")
    for field in schema:
        if field.name not in found.names:
            raise RunError(f"{path} has no {field.name!r} column; not a part zoomhard wrote: move it away")
        have = found.field(field.name).type
        if have != field.type and not (pa.types.is_dictionary(have) and have.value_type == field.type):
            raise RunError(f"{path}: column {field.name!r} is {have}, not {field.type}; not a part zoomhard "
                           "wrote: move it away")


def _check_transforms(path: Path, t: pa.Table, grid) -> None:
    import pyarrow.compute as pc

    bad = pc.invert(pc.and_(pc.and_(pc.is_in(t["scale"], pa.array(grid.scales, pa.int16())),
                                     pc.and_(pc.greater_equal(t["row"], 0), pc.less(t["row"], grid.rows))),
                            pc.and_(pc.greater_equal(t["col"], 0), pc.less(t["col"], grid.cols))))
    if pc.any(bad).as_py():
        row = t.filter(bad).slice(0, 1).to_pylist()[0]
        raise RunError(f"{path} holds transform s{row['scale']}-r{row['row']}c{row['col']}, which is not in the "
                       f"run's grid ({brief('grid', grid.to_dict())}); not a part of this run: move it away")


def _stderr(message: str) -> None:
    print(f"zoomhard: {message}", file=sys.stderr)


class RunStore:
    def __init__(self, path: str | os.PathLike, log: Callable[[str], None] = _stderr):
        self.path = Path(path)
        self.log = log                  # where a part set aside is said
        self.identity: str | None = None  # this run's identity digest, once opened
        self.session: str | None = None   # this process's session id in run.json
        self._lock = None
        self._made = False              # the folder did not exist before this writer's lock
        self._checked: dict[str, tuple] = {}  # part path -> (size, mtime) whose footer was read

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
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RunError(f"{self.config_path}: unreadable ({e})") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT_VERSION:
            found = config.get("format") if isinstance(config, dict) else None
            raise RunError(f"{self.path}: run format {found!r} is not {FORMAT_VERSION}; "
                           "sweep it again with this version of zoomhard")
        for key, types in CONFIG_TYPES.items():
            if key in config and not isinstance(config[key], types):
                want = " or ".join("null" if t is type(None) else t.__name__ for t in types)
                raise RunError(f"{self.config_path}: {key!r} is {type(config[key]).__name__} "
                               f"({str(config[key])[:40]!r}), not {want}; not a run.json zoomhard wrote")
        return config

    def checked_parts(self, config: dict | None = None, grid=None) -> list[Path]:
        """For a reader (analyze, report, open_run, curate): the predictions parts, each stamped
        with this run's identity, holding the columns of its kind with their types, no image
        that another part holds too (a copied part would count it twice) and, given the grid,
        only its transforms. Anything else is one RunError naming the file: a run folder from
        elsewhere is read as its writer left it, or not at all."""
        config = config if config is not None else self.read_config()
        identity = identity_digest(config)
        images = {p.name: p for p in self._parts("images")}
        seen: dict[str, Path] = {}
        parts = self._parts("predictions")
        for part in parts:
            for p, schema in ((part, PREDICTIONS), (images.get(part.name), IMAGES)):
                if p is not None:
                    _check_part(p, schema, identity)
            t = pq.read_table(part, columns=["image_id", "scale", "row", "col"])
            for image_id in t.column("image_id").unique().to_pylist():
                if image_id in seen:
                    raise RunError(f"{part} holds image {image_id!r} that {seen[image_id].name} holds too (a copied "
                                   "part?); its rows would count twice: move one of the two away")
                seen[image_id] = part
            if grid is not None and len(t):
                _check_transforms(part, t, grid)
        return parts

    def open(self, config: dict, shard: tuple[int, int] | None = None, lock: bool = True,
             session: dict | None = None) -> dict:
        """Start a new run with `config`, or resume one made with the same identity keys.

        The writer's lock is taken first (none for a per-GPU worker, whose parent holds it), then
        the parts already there are checked: unreadable ones set aside, another run's refused.
        This process's session is added to run.json beside the others'."""
        from .lock import update_json

        config = {"format": FORMAT_VERSION, **config}
        if lock:
            self.lock(shard)
        try:
            if self.exists():
                old = self.read_config()
                diff = [k for k in IDENTITY_KEYS if identity_value(old, k) != identity_value(config, k)]
                if diff:
                    raise IdentityError(f"{self.path} holds a run with another {', '.join(diff)} "
                                   f"({'; '.join(f'{k}: {brief(k, old.get(k))}' for k in diff)}); "
                                   f"choose another --out folder, or delete {self.path} to start over")
            else:
                self._refuse_orphan_parts()
            self.identity = identity_digest(config)
            self.check_parts()
            self.session = uuid.uuid4().hex[:12]
            mine = {"id": self.session, "started": time.time(), "pid": os.getpid(), "host": socket.gethostname(),
                    **({"shard": f"{shard[0]}/{shard[1]}"} if shard else {}), **(session or {})}

            def add(old: dict) -> dict:
                return {**config, "versions": library_versions(), "created": old.get("created", time.time()),
                        "sessions": old.get("sessions", []) + [mine],
                        **({"summary": old["summary"]} if "summary" in old else {})}

            (self.path / "predictions").mkdir(parents=True, exist_ok=True)
            (self.path / "images").mkdir(exist_ok=True)
            return update_json(self.config_path, add)
        except BaseException:
            self.close()
            raise

    def lock(self, shard: tuple[int, int] | None = None) -> None:
        """Take the writer's lock (kept if held already), or RunError saying who holds it."""
        from .lock import LockedError, acquire_run_lock

        if self._lock is None:
            self._made = not self.path.exists()
            try:
                self._lock = acquire_run_lock(self.path, shard)
            except LockedError as e:
                raise RunError(str(e)) from None

    def close(self) -> None:
        """Let another writer in (the lock also goes when the process ends). A folder this
        writer made and never opened as a run (a bad spec, say) is removed again."""
        if self._lock is None:
            return
        self._lock.release()
        self._lock = None
        if self._made and not self.exists():
            try:
                leftovers = list(self.path.iterdir())
                if all(p.name.startswith(".lock") for p in leftovers):
                    for p in leftovers:
                        p.unlink()
                    self.path.rmdir()
            except OSError:
                pass

    def update_session(self, **fields) -> dict:
        """This process's session entry in run.json, updated with `fields` (others' untouched)."""
        from .lock import update_json

        def change(config: dict) -> dict:
            for s in config.get("sessions", []):
                if s.get("id") == self.session:
                    s.update(fields)
            return config

        return update_json(self.config_path, change)

    def update_config(self, **fields) -> dict:
        """Top-level keys of run.json set, the rest as another writer may have left it."""
        from .lock import update_json

        return update_json(self.config_path, lambda config: {**config, **fields})

    def write_config(self, config: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.config_path, (json.dumps(config, indent=2) + "\n").encode())

    def _refuse_orphan_parts(self) -> None:
        """Parts without a run.json say nothing about what made them: never resumed as ours."""
        held = {kind: len(self._parts(kind, check=False)) for kind in ("predictions", "images")}
        if any(held.values()):
            what = " and ".join(f"{n} {kind} part{'s' if n != 1 else ''}" for kind, n in held.items() if n)
            raise RunError(f"{self.path} holds {what} but no run.json, so nothing says which model and data "
                           "made them; move them away or choose another --out folder")

    # -- results -------------------------------------------------------------------------------
    def _parts(self, kind: str, check: bool = True) -> list[Path]:
        parts = sorted((self.path / kind).glob("part-*.parquet"))
        return [p for p in parts if self._readable(p)] if check else parts

    def _readable(self, part: Path) -> bool:
        """The part's footer reads (a copy cut short fails here); if not, it is set aside."""
        try:
            st = part.stat()
        except FileNotFoundError:  # set aside meanwhile by another reader
            return False
        key = (st.st_size, st.st_mtime_ns)
        if self._checked.get(str(part)) == key:
            return True
        try:
            pq.read_metadata(part)
        except (OSError, pa.ArrowException) as e:
            self.set_aside(part, e)
            return False
        self._checked[str(part)] = key
        return True

    def set_aside(self, part: Path, why: Exception | str) -> None:
        """Move an unreadable part (and its partner of the same flush) into `.corrupt/` beside
        it: its images count as not done, so a resumed sweep computes them again."""
        reason = str(why).strip().splitlines()[0] if str(why).strip() else type(why).__name__
        moved = []
        for kind in ("predictions", "images"):
            p = self.path / kind / part.name
            if not p.exists():
                continue
            try:
                (p.parent / ".corrupt").mkdir(exist_ok=True)
                os.replace(p, p.parent / ".corrupt" / p.name)
                moved.append(kind)
            except OSError as e:  # a read-only run: left in place, and skipped
                self.log(f"{p} is unreadable ({reason}) and cannot be set aside ({e.strerror}); skipped")
                return
        self._checked.pop(str(part), None)
        self.log(f"{part} is unreadable ({reason}); set aside in {'/.corrupt and '.join(moved)}/.corrupt, "
                 "its images are swept again when the run resumes")

    def check_parts(self) -> None:
        """Before writing: every part readable (else set aside), each predictions part beside
        its images part, and none made by another run (refused)."""
        images = {p.name for p in self._parts("images")}
        for part in self._parts("predictions"):
            if part.name not in images:
                self.set_aside(part, "its images part is missing or unreadable")
                continue
            for p in (part, self.path / "images" / part.name):
                stamp = (pq.read_schema(p).metadata or {}).get(IDENTITY_META)
                if stamp is not None and self.identity is not None and stamp.decode() != self.identity:
                    raise RunError(f"{p} was written by another run (identity {stamp.decode()}, this run "
                                   f"{self.identity}); the folder mixes runs: choose another --out folder")

    def _stamp(self, table: pa.Table, schema: pa.Schema) -> pa.Table:
        table = table.cast(schema)
        if self.identity is None:
            return table
        return table.replace_schema_metadata({**(table.schema.metadata or {}), IDENTITY_META: self.identity.encode()})

    def write_part(self, predictions: pa.Table, images: pa.Table) -> None:
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:6]}.parquet"
        for kind, table in (("images", self._stamp(images, IMAGES)),
                            ("predictions", self._stamp(predictions, PREDICTIONS))):  # images first: see above
            atomic_write(self.path / kind / name, lambda tmp, t=table: pq.write_table(t, tmp, compression="zstd"))

    def _read(self, part: Path, columns: list[str] | None = None) -> pa.Table | None:
        """One part's table, or None once an unreadable one is set aside."""
        try:
            return pq.read_table(part, columns=columns)
        except (OSError, pa.ArrowException) as e:
            self.set_aside(part, e)
            return None

    def done_ids(self) -> set[str]:
        done: set[str] = set()
        for part in self._parts("predictions"):
            t = self._read(part, ["image_id"])
            if t is not None:
                done.update(t.column(0).unique().to_pylist())
        return done

    def predictions(self, columns: Iterable[str] | None = None) -> pa.Table:
        """Every prediction row of the run (complete parts only)."""
        cols = list(columns) if columns is not None else None
        tables = [t for t in (self._read(p, cols) for p in self._parts("predictions")) if t is not None]
        if not tables:
            return PREDICTIONS.empty_table().select(cols) if cols else PREDICTIONS.empty_table()
        return pa.concat_tables([t.replace_schema_metadata() for t in tables])

    def prediction_parts(self) -> list[Path]:
        """The complete predictions parts, oldest first (each holds whole images)."""
        return self._parts("predictions")

    def images(self) -> pa.Table:
        """One row per swept image: labels, origin, size and where to read it again."""
        pred_names = {p.name for p in self._parts("predictions")}
        parts = [p for p in self._parts("images") if p.name in pred_names]
        tables = [t for t in (self._read(p) for p in parts) if t is not None]
        if not tables:
            return IMAGES.empty_table()
        return pa.concat_tables([t.replace_schema_metadata() for t in tables])

    # -- images that could not be used ---------------------------------------------------------
    @property
    def errors_path(self) -> Path:
        return self.path / "errors.csv"

    def record_error(self, image_id: str, reason: str, fault: str = "image") -> None:
        """One line of errors.csv: the image, why, and whose fault ("image": for good;
        "environment": tried again on resume). A file of an earlier version (no fault column)
        gets the column first, its records the image's fault."""
        if self.errors_path.exists() and self._error_rows()[:1] == [ERRORS_HEADER[:2]]:
            rows = [ERRORS_HEADER] + [r + ["image"] for r in self._error_rows()[1:] if len(r) == 2]

            def rewrite(tmp: Path) -> None:
                with open(tmp, "w", newline="", encoding="utf-8") as f:
                    csv.writer(f).writerows(rows)

            atomic_write(self.errors_path, rewrite)
        new = not self.errors_path.exists()
        with open(self.errors_path, "a", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            if new:
                w.writerow(ERRORS_HEADER)
            w.writerow([image_id, reason, fault])
            f.flush()
            os.fsync(f.fileno())

    def errors(self, transient: bool = True) -> dict[str, str]:
        """image_id -> reason of the images that could not be used: the last record of each,
        less those of the environment's fault that a later try swept (and, with `transient`
        False, less every one of the environment's fault: a resume tries those again). A
        record cut short by a kill is ignored (the image is retried); an errors.csv of an
        earlier version (image_id,reason) reads as all the image's fault."""
        rows = self._error_rows()[1:]
        last = {r[0]: (r[1], r[2] if len(r) == 3 else "image") for r in rows if len(r) in (2, 3)}
        if not transient:
            return {i: reason for i, (reason, fault) in last.items() if fault == "image"}
        retried = self.done_ids() if any(fault != "image" for _, fault in last.values()) else set()
        return {i: reason for i, (reason, fault) in last.items() if fault == "image" or i not in retried}

    def error_faults(self) -> dict[str, str]:
        """image_id -> whose fault its last record says: "image" or "environment"."""
        return {r[0]: (r[2] if len(r) == 3 else "image") for r in self._error_rows()[1:] if len(r) in (2, 3)}

    def _error_rows(self) -> list[list[str]]:
        """errors.csv's complete records, header first.

        Records end in the csv writer's CRLF; an id may hold a bare newline (quoted), so the
        file is parsed as CSV, never split into lines."""
        if not self.errors_path.exists():
            return []
        with open(self.errors_path, newline="", encoding="utf-8", errors="replace") as f:
            text = f.read()
        complete = text if text.endswith("\r\n") else text[: text.rfind("\r\n") + 2] if "\r\n" in text else ""
        if complete != text:  # drop the torn record so that the next append starts clean
            try:
                with open(self.errors_path, "r+b") as f:
                    f.truncate(len(complete.encode()))
            except OSError:  # a read-only run: read what is complete, change nothing
                pass
        return list(csv.reader(io.StringIO(complete, newline="")))
