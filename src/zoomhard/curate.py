"""Curate a hard benchmark from several sweeps and export it in the ImageNet-Hard layout.

    runs -> per image and run: swept? solved under any transform of the run's grid?
         -> kept: swept by at least --min-runs runs and solved by at most --max-solved
         -> ranked hardest first (fewest runs solving it, then fewest correct transforms)
         -> near-duplicates dropped (perceptual hash; the harder copy stays)
         -> per-origin quotas (the hardest N of an origin stay)
         -> DIR/data/*.parquet   image{bytes,path} (the original encoded file), label, origin,
                                 english_label, with Hugging Face datasets' feature metadata
            DIR/README.md        dataset card;  DIR/origins.png  images per origin
            DIR/selection.csv    the kept images and who solved them
            DIR/removed.csv      what was dropped after selection, and why
            DIR/curate.json      the configuration and the counts

The default is the study's criterion: no given run classifies the image correctly under any
transform of its grid. `--relabel` adds acceptable labels, and an image one of whose runs'
top-1 predictions becomes correct under the new labels counts as solved: every exported image
stays unsolved by the given runs under the labels it is exported with.
"""

from __future__ import annotations

import csv
import errno
import glob
import json
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from . import __version__
from . import labels as L
from .data import DataError, LocatorReader
from .data.confine import LocatorPolicy
from .data.parquet import write_parquet
from .errors import UsageError
from .grid import ZoomGrid
from .runs import tables
from .runs.files import write_csv
from .runs.store import RunError, RunStore

DEFAULT_DEDUP_THRESHOLD = 8  # bits of 64; unrelated photos differ in ~32, a resized JPEG copy in 0-2
MARKER = "curate.json"  # a folder holding it is a curated set that --force may replace


@dataclass
class CurateConfig:
    runs: list[str]
    out: str
    max_solved: int = 0                 # the study's criterion: solved by no run
    min_runs: int | None = None         # runs that must have swept an image; None: all of them
    quotas: dict[str, int] = field(default_factory=dict)  # origin -> most images kept
    dedup_threshold: int = DEFAULT_DEDUP_THRESHOLD  # Hamming bits; -1 keeps near-duplicates
    relabel: str | None = None          # CSV image_id,labels of extra acceptable labels
    force: bool = False
    workers: int = min(4, os.cpu_count() or 1)  # image reading and hashing threads
    allow_outside_root: bool = False    # read images outside a run's data, if it was swept so (data.confine)

    def __post_init__(self):
        from . import checks

        self.workers = checks.whole("workers", self.workers, 1, checks.MAX_WORKERS)
        checks.out_folder(self.out)


@dataclass
class Candidates:
    """Every image of the runs, with one column per run."""

    run_names: list[str]
    image_ids: list[str]
    labels: list[tuple[int, ...]]
    origins: list[str]
    locators: list[str]
    swept: np.ndarray      # (images, runs) bool: the run has predictions for the image
    solved: np.ndarray     # (images, runs) bool: some transform of the run's grid is correct
    hit_rate: np.ndarray   # (images, runs) float: fraction of the grid that is correct; 0 if not swept
    configs: list[dict]    # each run's run.json
    relabelled: int = 0    # images that got extra labels from --relabel
    refused: dict[int, str] = field(default_factory=dict)   # image -> why its locator is not read (data.confine)

    def read(self, reader: LocatorReader, i: int) -> bytes:
        """Image i's encoded bytes, from where its run says it lies, if it may be read there."""
        if i in self.refused:
            raise DataError(self.refused[i])
        return reader.read(self.locators[i])


# -- input -----------------------------------------------------------------------------------------

def parse_quotas(items: list[str] | tuple[str, ...]) -> dict[str, int]:
    """['ImageNet-Sketch=500', ...] -> {'ImageNet-Sketch': 500}."""
    out: dict[str, int] = {}
    for item in items:
        origin, sep, n = item.rpartition("=")
        try:
            count = int(n)
        except ValueError:
            count = -1
        if not sep or not origin or count < 0:
            raise UsageError(f"--quota {item!r}: give ORIGIN=N with N a count >= 0")
        out[origin] = count
    return out


def read_relabel(path: str) -> dict[str, tuple[int, ...]]:
    """A CSV with the columns image_id,labels (wnids or indices separated by spaces, ';' or '|')."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{path}: no such relabel file")
    with open(p, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"image_id", "labels"} <= set(rows[0]):
        raise UsageError(f"{path}: needs a header with the columns image_id,labels")
    out: dict[str, tuple[int, ...]] = {}
    for n, row in enumerate(rows, start=2):
        try:
            extra = L.parse_labels(row["labels"] or "")
        except ValueError as e:
            raise UsageError(f"{path}, line {n}: {e}") from None
        out[row["image_id"]] = tuple(sorted(set(out.get(row["image_id"], ())) | set(extra)))
    return out


def _run_images(store: RunStore) -> pa.Table:
    images = store.images()
    if images.num_rows == 0:
        raise RunError(f"{store.path}: the run has no finished images yet")
    return images


def _check_same_data(names: list[str], configs: list[dict], images: list[pa.Table]) -> None:
    """Refuse runs over other data, or over the same data with other labels."""
    groups: dict[str, list[str]] = {}  # data identity -> runs
    for name, config in zip(names, configs):
        groups.setdefault(json.dumps(config.get("data"), sort_keys=True), []).append(name)
    if len(groups) > 1:
        specs = [str((json.loads(key) or {}).get("spec")) for key in groups]
        shown = [spec if specs.count(spec) == 1 else key for spec, key in zip(specs, groups)]
        raise RunError("runs cover different data: " + "; ".join(f"{', '.join(runs)} swept {what}"
                                                                for what, runs in zip(shown, groups.values()))
                       + "; curate runs over the same data")
    labels: dict[str, list] = {}
    for name, table in zip(names, images):
        for image_id, lab in zip(table.column("image_id").to_pylist(), table.column("labels").to_pylist()):
            seen = labels.setdefault(image_id, [name, lab])
            if sorted(seen[1]) != sorted(lab):
                raise RunError(f"runs cover different labels: {image_id} has {sorted(seen[1])} in {seen[0]} "
                               f"and {sorted(lab)} in {name}; curate runs swept with the same labels")


def load_runs(paths: list[str], relabel: dict[str, tuple[int, ...]] | None = None,
              allow_outside_root: bool = False) -> Candidates:
    """Read each run's images and correctness matrix; refuse runs that do not cover the same data."""
    if not paths:
        raise UsageError("give at least one run folder")
    resolved = [Path(p).resolve() for p in paths]
    twice = sorted({p for p in paths if resolved.count(Path(p).resolve()) > 1})
    if twice:
        raise UsageError(f"run given twice: {', '.join(twice)}")
    stores = [RunStore(p) for p in paths]
    configs = [s.read_config() for s in stores]
    images = [_run_images(s) for s in stores]
    _check_same_data(list(paths), configs, images)
    relabel = relabel or {}

    index: dict[str, int] = {}
    labels, origins, locators = [], [], []
    refused: dict[int, str] = {}
    relabelled = 0
    for path, config, table in zip(paths, configs, images):
        policy = LocatorPolicy(config, path, allow_outside_root)
        for row in table.select(["image_id", "labels", "origin", "locator"]).to_pylist():
            if row["image_id"] in index:
                continue
            index[row["image_id"]] = len(index)
            try:
                row["locator"] = policy.check(row["locator"])   # where it is read here
            except DataError as e:
                refused[index[row["image_id"]]] = f"{row['image_id']}: {e}"
            extra = relabel.get(row["image_id"], ())
            relabelled += bool(set(extra) - set(row["labels"]))
            labels.append(tuple(sorted(set(row["labels"]) | set(extra))))
            origins.append(row["origin"] or "")
            locators.append(row["locator"])
    n, r = len(index), len(paths)
    swept = np.zeros((n, r), dtype=bool)
    solved = np.zeros((n, r), dtype=bool)
    hit_rate = np.zeros((n, r), dtype=np.float64)
    for j, (store, config) in enumerate(zip(stores, configs)):
        grid = ZoomGrid.from_dict(config["grid"])
        store.checked_parts(config, grid)   # another run's parts, copies, odd columns: one line, as analyze
        table = store.predictions(columns=["image_id", "scale", "row", "col", "top1", "correct"])
        lay = tables.layout(table, grid)
        c = tables.correctness(_rescore(table, relabel, lay), grid, lay)
        rows = np.array([index[i] for i in c.image_ids], dtype=np.int64)
        seen = c.observed.sum(axis=1)
        swept[rows, j] = seen > 0
        solved[rows, j] = c.matrix.any(axis=1)
        hit_rate[rows, j] = c.matrix.sum(axis=1) / np.maximum(seen, 1)
    return Candidates(list(paths), list(index), labels, origins, locators, swept, solved, hit_rate, configs, relabelled,
                      refused)


def _rescore(table: pa.Table, relabel: dict[str, tuple[int, ...]], lay: tables.Layout) -> pa.Table:
    """`correct` under the merged labels: right before, or top-1 is one of the extra labels."""
    if not relabel or table.num_rows == 0:
        return table
    img = lay.image.astype(np.int64)
    pairs = np.array([i * 1000 + lab for i, image_id in enumerate(lay.image_ids) for lab in relabel.get(image_id, ())],
                     dtype=np.int64)
    if not len(pairs):
        return table
    top1 = table.column("top1").to_numpy().astype(np.int64)
    correct = table.column("correct").to_numpy(zero_copy_only=False).astype(bool) | np.isin(img * 1000 + top1, pairs)
    return table.set_column(table.schema.get_field_index("correct"), "correct", pa.array(correct))


# -- selection -------------------------------------------------------------------------------------

@dataclass
class Removal:
    image_id: str
    origin: str
    reason: str                 # "near-duplicate", "quota" or "too few runs"
    duplicate_of: str = ""
    distance: int | None = None
    detail: str = ""


def select(c: Candidates, max_solved: int = 0, min_runs: int | None = None) -> tuple[list[int], list[Removal]]:
    """Indices of the kept images, hardest first, and the images dropped for too few runs.

    Without `min_runs` every run must have swept every image (unfinished runs are refused)."""
    runs = len(c.run_names)
    need = runs if min_runs is None else min_runs
    if not 1 <= need <= runs:
        raise UsageError(f"--min-runs {need}: give 1 to {runs} (the number of runs)")
    if max_solved < 0:
        raise UsageError("--max-solved must be >= 0")
    swept_by = c.swept.sum(axis=1)
    if min_runs is None and (swept_by < runs).any():
        n = len(c.image_ids)
        short = [f"{name} lacks {n - k} of {n} images" for name, k in zip(c.run_names, c.swept.sum(axis=0)) if k < n]
        raise RunError(f"runs cover different images: {'; '.join(short)} "
                       "(finish those sweeps, or pass --min-runs N to accept images swept by N runs)")
    solved_by = (c.solved & c.swept).sum(axis=1)
    removed = [Removal(c.image_ids[i], c.origins[i], "too few runs", detail=f"swept by {swept_by[i]} of {runs} runs")
               for i in np.flatnonzero((swept_by < need) & (solved_by <= max_solved))]
    keep = np.flatnonzero((swept_by >= need) & (solved_by <= max_solved))
    mean_hits = np.where(c.swept, c.hit_rate, 0).sum(axis=1) / np.maximum(swept_by, 1)
    order = sorted(keep.tolist(), key=lambda i: (solved_by[i], mean_hits[i], i))
    return order, removed


def apply_quotas(c: Candidates, order: list[int], quotas: dict[str, int]) -> tuple[list[int], list[Removal]]:
    """Keep at most N images of each origin with a quota: the first (hardest) ones in `order`."""
    known = sorted(set(c.origins))
    unknown = [o for o in quotas if o not in known]
    if unknown:
        raise UsageError(f"--quota: no image has origin {', '.join(map(repr, unknown))}; "
                         f"origins: {', '.join(map(repr, known))}")
    taken: dict[str, int] = {}
    kept, removed = [], []
    for i in order:
        origin = c.origins[i]
        if origin in quotas and taken.get(origin, 0) >= quotas[origin]:
            removed.append(Removal(c.image_ids[i], origin, "quota", detail=f"{origin} is capped at {quotas[origin]}"))
            continue
        taken[origin] = taken.get(origin, 0) + 1
        kept.append(i)
    return kept, removed


# -- near-duplicates -------------------------------------------------------------------------------

def perceptual_hash(data: bytes) -> bytes:
    """The 64-bit DCT perceptual hash (imagehash.phash) of an encoded image, as 8 bytes."""
    import imagehash

    from .crops import decode_image

    bits = imagehash.phash(decode_image(data)).hash.flatten()
    return np.packbits(bits).tobytes()


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(x)
    return _POPCOUNT[x[..., None].view(np.uint8)].sum(axis=-1, dtype=np.uint8)


def near_duplicates(hashes: np.ndarray, threshold: int, block: int = 512) -> list[tuple[int, int, int]]:
    """(dropped, kept, distance) for hashes (n, 8) uint8 in order of preference: an image within
    `threshold` bits of an earlier image that is kept is dropped in favour of the nearest one.

    Distances are computed block by block (n^2/2 popcounts; 20,000 hashes take seconds), and
    the walk in order only visits the few close pairs."""
    if threshold < 0 or len(hashes) < 2:
        return []
    h = np.ascontiguousarray(hashes, dtype=np.uint8).view(">u8").ravel().astype(np.uint64)
    earlier: dict[int, list[tuple[int, int]]] = {}  # image -> [(distance, earlier image)]
    for start in range(0, len(h), block):
        stop = min(start + block, len(h))
        d = _popcount(h[start:stop, None] ^ h[None, :stop])
        rows, cols = np.nonzero(d <= threshold)
        for r, j in zip(rows.tolist(), cols.tolist()):
            if j < start + r:
                earlier.setdefault(start + r, []).append((int(d[r, j]), j))
    out, dropped = [], set()
    for i in sorted(earlier):
        kept = [(dist, j) for dist, j in earlier[i] if j not in dropped]
        if kept:
            dist, j = min(kept)
            out.append((i, j, dist))
            dropped.add(i)
    return out


def _hash_all(c: Candidates, order: list[int], reader: LocatorReader, workers: int) -> tuple[np.ndarray, list[int]]:
    """Hashes and file sizes of `order`'s images, read in data order."""
    def one(i: int) -> tuple[bytes, int]:
        try:
            data = c.read(reader, i)
            return perceptual_hash(data), len(data)
        except DataError as e:  # the data moved or no reader knows it: say which image, stop
            raise DataError(f"{c.image_ids[i]}: cannot read the image back ({e})") from None
        except Exception as e:  # the bytes are there but do not decode
            raise DataError(f"{c.image_ids[i]}: cannot read the image back from {c.locators[i]} ({e})") from None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = dict(zip(sorted(order), pool.map(one, sorted(order))))
    hashes = np.zeros((len(order), 8), np.uint8)
    for k, i in enumerate(order):
        hashes[k] = np.frombuffer(results[i][0], dtype=np.uint8)
    return hashes, [results[i][1] for i in order]


# -- export ----------------------------------------------------------------------------------------

def _origin_counts(c: Candidates, chosen: list[int]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for i in chosen:
        counts[c.origins[i] or "(unknown)"] = counts.get(c.origins[i] or "(unknown)", 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def origins_figure(counts: list[tuple[str, int]], path: Path) -> None:
    """Share of images per origin, largest first (the study's source breakdown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    total = sum(n for _, n in counts) or 1
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(counts), 1) + 1.2), dpi=120)
    names = [o for o, _ in counts][::-1]
    shares = [100 * n / total for _, n in counts][::-1]
    bars = ax.barh(names, shares, color="#4c72b0")
    for bar, (_, n), share in zip(bars, counts[::-1], shares):
        ax.text(bar.get_width() + 0.5, bar.get_y() + bar.get_height() / 2, f"{share:.1f}% ({n})",
                va="center", fontsize=9)
    ax.set_xlabel("share of images (%)")
    ax.set_xlim(0, max(shares, default=0) * 1.25 + 1)
    ax.set_title(f"Images per origin (n = {sum(n for _, n in counts)})")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def selection_rule(cfg: CurateConfig, runs: int) -> str:
    need = runs if cfg.min_runs is None else cfg.min_runs
    solved = ("no given run classifies it correctly under any transform of its zoom grid" if cfg.max_solved == 0
              else f"at most {cfg.max_solved} of the {runs} runs classify it correctly under some transform "
                   "of their zoom grid")
    rule = f"An image is kept when {solved}, among the images swept by at least {need} of the {runs} runs."
    if cfg.dedup_threshold >= 0:
        rule += (f" Near-duplicates (64-bit DCT perceptual hashes within {cfg.dedup_threshold} bits) are dropped, "
                 "keeping the harder copy.")
    if cfg.quotas:
        rule += " Per-origin quotas keep the hardest images of: " + \
            ", ".join(f"{o} ({n})" for o, n in sorted(cfg.quotas.items())) + "."
    if cfg.relabel:
        rule += (" Extra acceptable labels were merged from a relabel file, and a run whose top-1 matches one of "
                 "them counts as solving the image.")
    return rule


def dataset_card(summary: dict, runs: list[dict], counts: list[tuple[str, int]], rule: str) -> str:
    total = summary["images"]
    lines = [
        "---",
        "task_categories:",
        "- image-classification",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: validation",
        "    path: data/*.parquet",
        "---",
        "",
        f"# {summary['name']}",
        "",
        f"A hard image-classification benchmark curated with zoomhard from {len(runs)} zoom "
        f"sweep{'s' if len(runs) != 1 else ''}: images that stay misclassified even when the classifier may "
        "look at the image through any zoom transform (scale x anchor) of its grid, as in "
        '"ImageNet-Hard" (Taesiri et al., NeurIPS 2023). Every image keeps all of its acceptable '
        "ImageNet-1k labels.",
        "",
        "## Size",
        "",
        f"- {total} images, {summary['bytes'] / 2**20:.1f} MiB of original image files in "
        f"{len(summary['files'])} parquet file{'s' if len(summary['files']) != 1 else ''} under `data/`",
        f"- {summary['candidates']} images swept; {summary['selected']} met the selection rule, "
        f"{summary['removed']['near-duplicate']} near-duplicates and {summary['removed']['quota']} images over a "
        f"quota were dropped ({summary['removed']['too few runs']} were swept by too few runs)",
        f"- {summary['labels_per_image']:.2f} acceptable labels per image on average"
        + (f"; {summary['relabelled']} images got extra labels from a relabel file" if summary["relabelled"] else ""),
        "",
        "## Images per origin",
        "",
        "![images per origin](origins.png)",
        "",
        "| origin | images | share |",
        "|---|---:|---:|",
    ]
    lines += [f"| {o} | {n} | {n / max(total, 1):.1%} |" for o, n in counts]
    lines += ["", "## Selection rule", "", rule, "",
              "`selection.csv` lists each kept image with the runs that swept and solved it; `removed.csv` lists "
              "every image dropped after selection and why (for a near-duplicate: the image it duplicates and "
              "the Hamming distance between their hashes).", "",
              "## Models used", "",
              "| run | model | weights | transforms | data |", "|---|---|---|---:|---|"]
    lines += [f"| {r['run']} | `{r['model']}` | {r['weights'] or 'pretrained'} | {r['transforms']} | "
              f"`{r['data'].get('spec', '')}` |" for r in runs]
    lines += ["", "## Columns", "",
              "- `image`: `{bytes, path}`, the original encoded file and its image id in the source data",
              "- `label`: every acceptable ImageNet-1k class index",
              "- `origin`: the source dataset",
              "- `english_label`: the class names of `label`", "",
              "## How to evaluate", "",
              "With zoomhard (the parquet files are a data spec):", "",
              "    zoomhard bench --model SPEC --data 'parquet:DIR/data/*.parquet'",
              "    zoomhard sweep --model SPEC --data 'parquet:DIR/data/*.parquet' --out RUN", "",
              "A prediction is correct when its top-1 class is one of the image's labels. With Hugging Face "
              "datasets:", "",
              "    import datasets",
              "    ds = datasets.load_dataset('parquet', data_files='DIR/data/*.parquet', split='train')",
              "    ds[0]['image'], ds[0]['label']   # a PIL image and its acceptable labels", "",
              f"Curated on {time.strftime('%Y-%m-%d', time.gmtime(summary['created']))} with zoomhard "
              f"{summary['zoomhard']}.", ""]
    return "\n".join(lines).replace("DIR/", f"{summary['name']}/")


# -- the command -----------------------------------------------------------------------------------

def _check_out(out: Path, force: bool, runs: list[str]) -> None:
    if any(out.resolve() == Path(r).resolve() for r in runs):
        raise UsageError(f"{out} is one of the runs; choose another --out folder")
    if out.is_symlink():
        raise UsageError(f"{out} is a symbolic link; it is left alone, choose another --out folder")
    if out.exists():
        if not force:
            raise UsageError(f"{out} exists; pass --force to replace it")
        stray = _not_curated(out)
        if stray:
            raise UsageError(f"{out} exists and is not an earlier curated set ({stray}); it is left alone, "
                             "choose another --out folder")


# What an export writes beside its data files (listed in curate.json's "files").
WRITTEN = ("README.md", "origins.png", "selection.csv", "removed.csv", MARKER, "data")


def _not_curated(out: Path) -> str | None:
    """Why `out` is not verifiably a set this command wrote (so --force may replace it), or None:
    it must hold a curate.json of an export and nothing that export did not write."""
    if not out.is_dir():
        return "not a folder"
    entries = {p.name for p in out.iterdir()}
    if not entries:
        return None  # an empty folder: nothing to lose
    try:
        summary = json.loads((out / MARKER).read_text())
        files = set(summary["files"])
        assert isinstance(summary["images"], int) and "zoomhard" in summary
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        return f"no {MARKER} of an export"
    stray = sorted(entries - set(WRITTEN))
    if not stray and (out / "data").exists():
        stray = sorted(f"data/{p.name}" for p in (out / "data").iterdir() if f"data/{p.name}" not in files)
    return f"it holds {stray[0]}, which no export wrote" if stray else None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux renameat2 RENAME_EXCHANGE); False where the system
    cannot, and nothing was changed."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _leftovers(out: Path) -> list[Path]:
    """Folders an earlier curate into `out` left beside it when killed: a set being built
    (.OUT.*.tmp) or an earlier set moved aside (.OUT.*.old)."""
    return sorted(p for p in out.parent.glob(f".{glob.escape(out.name)}.*.*")
                  if p.suffix in (".tmp", ".old") and p.is_dir() and not p.is_symlink())


def _recover(out: Path, log: Callable[[str], None]) -> None:
    """After a curate killed mid-way: the earlier set back in place if it was moved aside and
    never replaced, and the rest removed (under the lock, so no live curate's)."""
    for p in _leftovers(out):
        if p.suffix == ".old" and not out.exists() and not _not_curated(p):
            os.replace(p, out)
            log(f"{out}: an earlier curate was killed while replacing it; the set before it is back in place")
            continue
        shutil.rmtree(p, ignore_errors=True)
        log(f"removed {p}, left by an earlier curate that was killed")


def _swap_in(tmp: Path, out: Path) -> None:
    """The complete new set `tmp` takes the place of `out` (an earlier set, or nothing): the
    earlier set is replaced in one step where the system can swap folders, else moved aside
    first (a kill between the two renames is undone by the next curate); then removed."""
    if not out.exists():
        os.replace(tmp, out)
        return
    if _exchange(tmp, out):
        old = tmp
    else:
        old = tmp.with_suffix(".old")
        os.replace(out, old)
        os.replace(tmp, out)
    shutil.rmtree(old)


def curate(cfg: CurateConfig, log: Callable[[str], None] = print) -> dict:
    """Select, deduplicate and export; returns the summary also written to DIR/curate.json.
    One curate writes an --out folder at a time; the new set replaces the old one only once
    complete, so a killed curate leaves the old set (or the new one) whole."""
    from .runs.lock import acquire_run_lock

    out = Path(cfg.out)
    lock = acquire_run_lock(out, lock_file=out.parent / f".{out.name}.lock")
    try:
        _recover(out, log)
        return _curate(cfg, out, log)
    finally:
        lock.release()


def _curate(cfg: CurateConfig, out: Path, log: Callable[[str], None]) -> dict:
    _check_out(out, cfg.force, cfg.runs)
    relabel = read_relabel(cfg.relabel) if cfg.relabel else None
    c = load_runs(cfg.runs, relabel, cfg.allow_outside_root)
    order, removed = select(c, cfg.max_solved, cfg.min_runs)
    if cfg.quotas:  # check the origins before the slow part
        apply_quotas(c, [], cfg.quotas)
    if not order:  # no empty parquet (datasets refuses to load one): say so instead
        raise RunError(f"no image of the {len(c.image_ids)} meets the rule ({selection_rule(cfg, len(c.run_names))}); "
                       f"nothing written to {out}")
    log(f"{len(order)} of {len(c.image_ids)} images meet the rule; hashing them")
    reader = LocatorReader(keep_groups=2 * cfg.workers + 2)  # the original encoded files
    hashes, sizes = _hash_all(c, order, reader, cfg.workers)
    dups = near_duplicates(hashes, cfg.dedup_threshold)
    dropped = {k for k, _, _ in dups}
    removed += [Removal(c.image_ids[order[k]], c.origins[order[k]], "near-duplicate",
                        duplicate_of=c.image_ids[order[j]], distance=d,
                        detail=f"perceptual hash within {d} bits (threshold {cfg.dedup_threshold})")
                for k, j, d in dups]
    unique = [i for k, i in enumerate(order) if k not in dropped]
    chosen, over = apply_quotas(c, unique, cfg.quotas)
    if not chosen:
        raise RunError(f"the quotas leave none of the {len(order)} images that meet the rule; nothing written to {out}")
    chosen.sort()  # exported in data order: the order the runs swept the images in
    removed += over
    position = {i: k for k, i in enumerate(order)}
    chosen_sizes = [sizes[position[i]] for i in chosen]

    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        files = write_parquet(tmp, ((c.read(reader, i), c.image_ids[i], c.labels[i], c.origins[i]) for i in chosen),
                              chosen_sizes)
        solved_by = (c.solved & c.swept).sum(axis=1)
        write_csv(tmp / "selection.csv",
                   ["image_id", "origin", "labels", "swept_by", "solved_by", "solved_in", "hit_rate", "phash"],
                   [[c.image_ids[i], c.origins[i], " ".join(map(str, c.labels[i])), int(c.swept[i].sum()),
                     int(solved_by[i]), ";".join(n for n, s in zip(c.run_names, c.solved[i] & c.swept[i]) if s),
                     round(float(c.hit_rate[i][c.swept[i]].mean()), 6), hashes[position[i]].tobytes().hex()]
                    for i in chosen])
        write_csv(tmp / "removed.csv", ["image_id", "origin", "reason", "duplicate_of", "distance", "detail"],
                   [[r.image_id, r.origin, r.reason, r.duplicate_of, "" if r.distance is None else r.distance,
                     r.detail] for r in removed])
        counts = _origin_counts(c, chosen)
        origins_figure(counts, tmp / "origins.png")
        runs = [{"run": name, "model": config.get("model"), "weights": config.get("weights"),
                 "transforms": len(ZoomGrid.from_dict(config["grid"])), "grid": config["grid"],
                 "data": config.get("data") or {}} for name, config in zip(c.run_names, c.configs)]
        reasons = ("too few runs", "near-duplicate", "quota")
        summary = {
            "name": out.name, "created": time.time(), "zoomhard": __version__,
            "images": len(chosen), "bytes": int(sum(chosen_sizes)), "files": files,
            "candidates": len(c.image_ids), "selected": len(order),
            "removed": {r: sum(1 for x in removed if x.reason == r) for r in reasons},
            "origins": {o: n for o, n in counts},
            "origin_share": {o: n / max(len(chosen), 1) for o, n in counts},
            "labels_per_image": float(np.mean([len(c.labels[i]) for i in chosen])) if chosen else 0.0,
            "relabelled": c.relabelled,
            "rule": selection_rule(cfg, len(c.run_names)),
            "config": {"runs": cfg.runs, "max_solved": cfg.max_solved, "min_runs": cfg.min_runs,
                       "quotas": cfg.quotas, "dedup_threshold": cfg.dedup_threshold, "relabel": cfg.relabel},
            "runs": runs,
        }
        (tmp / "README.md").write_text(dataset_card(summary, runs, counts, summary["rule"]))
        (tmp / MARKER).write_text(json.dumps(summary, indent=2) + "\n")
        _swap_in(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return summary


def format_summary(summary: dict, out: str) -> str:
    removed = summary["removed"]
    origins = ", ".join(f"{o} {n}" for o, n in summary["origins"].items())
    return (f"{summary['images']} of {summary['candidates']} images kept ({summary['selected']} met the rule, "
            f"{removed['near-duplicate']} near-duplicates and {removed['quota']} over quota dropped)"
            f"{': ' + origins if origins else ''} -> {out}")
