"""The `zoomhard` command: a thin layer that maps options onto one config object per command.

Every user mistake (unknown model, missing folder, bad option: a ZoomhardError or one of click's
usage errors) ends in one line on stderr and exit code 2; anything else is a bug in zoomhard and
shows its traceback, exit code 1. An interrupted sweep says how to resume.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import sys

import click

from .errors import ZoomhardError
from .grid import MAX_ANCHORS, MAX_CROP, MIN_CROP, ZoomGrid
from .models.registry import model_help


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="zoomhard")
def cli() -> None:
    """Would the classifier get this image right if it looked at the right part of it?

    The zoom sweep of "ImageNet-Hard" (NeurIPS 2023): every image through 36 scales x 3 x 3
    anchors, upper bounds, spatial bias, and a hard benchmark.
    """


def grid_options(f):
    f = click.option("--scales", default="study", show_default=True,
                     help="'study' (the 36 scales), a list '224,256,384' or a range '64:1024:64'.")(f)
    f = click.option("--anchors", default=3, show_default=True, type=click.IntRange(1, MAX_ANCHORS),
                     help="Anchors per side: an N x N grid over the resized image.")(f)
    f = click.option("--crop", default=224, show_default=True, type=click.IntRange(MIN_CROP, MAX_CROP),
                     help="Crop size in pixels.")(f)
    return f


def make_grid(scales: str, anchors: int, crop: int) -> ZoomGrid:
    return ZoomGrid(ZoomGrid.parse_scales(scales), anchors, anchors, crop)


def _triple(ctx, param, value):
    if value is None:
        return None
    try:
        parts = tuple(float(v) for v in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3:
        raise click.BadParameter("give three comma-separated numbers, e.g. 0.485,0.456,0.406")
    return parts


def _shard(ctx, param, value):
    if value is None:
        return None
    try:
        k, n = (int(v) for v in value.split("/"))
    except ValueError:
        k, n = -1, 0
    if not 0 <= k < n:
        raise click.BadParameter("give K/N with 0 <= K < N, e.g. 0/4")
    return k, n


@functools.cache
def _setup_option_table() -> dict[str, tuple[tuple[str, ...], dict]]:
    """Each config.Setup field's option, declared once: (names, click.option keywords). A command
    may reword a help (tta's --model names what MEMO cannot run)."""
    from .models.clip import CLIP_NORMS
    from .protocol import PROTOCOLS
    from .protocols import REAL_MODES, SUBSET_CHOICES

    return {
        "model": (("--model", "-m"), dict(required=True, help=model_help())),
        "data": (("--data", "-d"), dict(required=True,
                                        help="samples, a folder, parquet:GLOB or hf:REPO (see `zoomhard datasets`).")),
        "weights": (("--weights",), dict(type=click.Path(dir_okay=False), help="Local state dict for the model.")),
        "labels": (("--labels",), dict(type=click.Path(dir_okay=False),
                                       help="Labels CSV (image,labels[,origin]) for a plain folder of images.")),
        "subset": (("--subset",), dict(type=click.Choice(SUBSET_CHOICES), default="auto", show_default=True,
                                       help="Class space of the prediction; auto = the wnid folders present.")),
        "real_labels": (("--real-labels",), dict(
            type=click.Path(dir_okay=False),
            help="ReaL labels JSON (timm's imagenet_real_labels.json) for ImageNet val images.")),
        "real_mode": (("--real-mode",), dict(type=click.Choice(REAL_MODES), default=REAL_MODES[0], show_default=True)),
        "clip_norm": (("--clip-norm",), dict(type=click.Choice(CLIP_NORMS), default=None,
                                             help="open_clip models: CLIP's own mean/std, or ImageNet's [default: clip; "
                                                  "sweep --protocol study: imagenet, the study's].")),
        "mean": (("--mean",), dict(callback=_triple,
                                   help="Override the model's normalisation mean, e.g. 0.5,0.5,0.5.")),
        "std": (("--std",), dict(callback=_triple, help="Override the model's normalisation std.")),
        "protocol": (("--protocol",), dict(
            type=click.Choice(PROTOCOLS), default="native", show_default=True,
            help="native: each model's own configuration; study: the authors' setup (eval crop "
                 "Resize(256)+CenterCrop(224), MEMO's 64 views, CLIP with ImageNet mean/std, fp32; "
                 "see README 'Reproducing the paper').")),
        "backend": (("--backend",), dict(
            type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True,
            help="auto: ONNX Runtime on CPU, torch (fp16 autocast, channels_last) on CUDA (tta's MEMO: always torch).")),
        "device": (("--device",), dict(
            default="auto", show_default=True, callback=_device, metavar="DEVICE",
            help="auto (CUDA when there is one, else the CPU), cpu, cuda, cuda:N (one GPU of several) or mps (Apple).")),
        "drop_background": (("--drop-background",), dict(
            is_flag=True, help="The model gives 1001 logits, a background class first (TensorFlow models): drop "
                               "that first one (timm's label_offset). Any width but ImageNet-1k's 1000 is refused.")),
        "allow_outside_root": (("--allow-outside-root",), dict(
            is_flag=True, help="Read image files a dataset names outside its own folder (labels.csv rows with ../ or "
                               "absolute paths, parquet paths outside the parquet file's folder); "
                               "by default they are recorded in errors.csv, not read.")),
    }


# The shared options, in the order --help lists them (the model first, where a command takes one).
SHARED_SETUP = ("data", "weights", "labels", "subset", "real_labels", "real_mode", "clip_norm", "mean", "std",
                "protocol", "backend", "device", "drop_background", "allow_outside_root")


def setup_option(name: str, **changes):
    """One config.Setup field's option, as _setup_option_table declares it (`changes`: its help, say)."""
    decls, keywords = _setup_option_table()[name]
    return click.option(*decls, name, **{**keywords, **changes})


def setup_options(*items, help: dict[str, str | None] | None = None):
    """config.Setup's options, in the order of `items`: field names, or another option's
    decorator to list between them (look's --batch-size); `help` replaces a field's help. The
    command receives their values as one `setup` dict keyed by Setup's fields, for `make_setup`."""
    names = [item for item in items if isinstance(item, str)]

    def decorate(f):
        @functools.wraps(f)
        def command(**kwargs):
            return f(setup={name: kwargs.pop(name) for name in names}, **kwargs)

        for item in reversed(items):
            if isinstance(item, str):
                item = setup_option(item, **({"help": help[item]} if help and item in help else {}))
            command = item(command)
        return command

    return decorate


def make_setup(values: dict, **given):
    """The one Setup a command's options make: their values, with what the command decides
    itself (bench: each model and its weights)."""
    from .config import Setup

    return Setup(**{**values, **given})


def ci_option(f):
    """--ci-resamples: the bootstrap behind every 95 % interval a command prints."""
    from .stats import CI_RESAMPLES

    return click.option("--ci-resamples", default=CI_RESAMPLES, show_default=True, type=click.IntRange(0, 1_000_000),
                        help="Bootstrap resamples (over images, fixed seed) for the 95 % intervals; 0: none.")(f)


def read_outside_option(f):
    """--allow-outside-root for the commands that read a run's images back (analyze, report, curate)."""
    return click.option("--allow-outside-root", is_flag=True,
                        help="Read a run's images back from outside the data it was swept from, when it was "
                             "swept with --allow-outside-root (a run folder from elsewhere names files; by "
                             "default only those inside its data's folder are read).")(f)


def _device(ctx, param, value):
    from . import checks

    try:
        return checks.device(value)
    except ZoomhardError as e:
        raise click.BadParameter(str(e)) from None


def quiet_option(f):
    return click.option("--quiet", "-q", is_flag=True,
                        help="No progress bar and no log lines on stderr (results and errors still print).")(f)


def output_options(f):
    """--progress/--no-progress (default: bars on a terminal only) and -q/--quiet; the command
    receives `progress` resolved to a bool and `quiet`."""

    @functools.wraps(f)
    def command(progress, quiet, **kwargs):
        progress = False if quiet else sys.stderr.isatty() if progress is None else progress
        return f(progress=progress, quiet=quiet, **kwargs)

    command = quiet_option(command)
    return click.option("--progress/--no-progress", default=None,
                        help="Progress bars [default: when stderr is a terminal].")(command)


def say(quiet: bool):
    """Where a command's log lines go: stderr, or nowhere with --quiet."""
    return (lambda m: None) if quiet else (lambda m: click.echo(m, err=True))


def batch_options(f):
    """--batch-size and --workers: sweep, bench and tta feed the model alike."""
    f = click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1, 65536))(f)
    f = click.option("--workers", default=None, type=click.IntRange(1, 256),
                     help="Decode/resize threads [default: min(4, cores)].")(f)
    return f


def sweep_options(f):
    from .sweep.engines import ENGINES

    f = batch_options(f)
    f = click.option("--resize", type=click.Choice(["auto", "pil", "device"]), default="auto", show_default=True,
                     help="Where crops are resized: pil (exact), device (torch on the model's device); "
                          "auto: device on CUDA.")(f)
    f = click.option("--shard", callback=_shard, metavar="K/N",
                     help="Sweep only images K, K+N, K+2N, ... (several machines or processes, one folder).")(f)
    f = click.option("--flush-seconds", default=30.0, show_default=True, type=click.FloatRange(0),
                     help="Write finished images at least this often (what a kill can cost).")(f)
    f = output_options(f)
    f = click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
                     help="local: threads here; ray: a Ray Data pipeline (pip install 'zoomhard[ray]').")(f)
    f = click.option("--ray-address", metavar="ADDR",
                     help="With --engine ray: join this Ray cluster (auto, or HEAD:6379, run on a cluster "
                          "node); default: start a local one.")(f)
    return f


@cli.command()
@setup_options("model", *SHARED_SETUP)
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Run folder (resumed if it exists).")
@grid_options
@sweep_options
@click.option("--until-correct", is_flag=True,
              help="Stop at each image's first correct transform: the upper bound for a fraction of the work.")
@click.option("--order", type=click.Path(exists=True, dir_okay=False),
              help="With --until-correct: a previous run's analysis.json whose min_cover goes first.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def sweep(setup, out, scales, anchors, crop, batch_size, workers, resize, shard, flush_seconds, progress,
          quiet, engine, ray_address, until_correct, order, as_json):
    """Classify every image under every zoom transform; store predictions as Parquet."""
    from .sweep import SweepConfig, format_summary, run_sweep

    if ray_address and engine != "ray":
        raise click.UsageError("--ray-address needs --engine ray")
    cfg = SweepConfig(make_setup(setup), out=out, grid=make_grid(scales, anchors, crop), batch_size=batch_size,
                      resize=resize, shard=shard, until_correct=until_correct, order=order,
                      flush_seconds=flush_seconds, progress=progress, quiet=quiet, engine=engine,
                      ray_address=ray_address, **({"workers": workers} if workers else {}))
    summary = run_sweep(cfg, log=say(quiet))
    click.echo(json.dumps(summary) if as_json else format_summary(summary, out))


@cli.command()
@click.option("--out", "-o", default="demo-run", show_default=True, type=click.Path(file_okay=False))
@click.option("--model", "-m", default="lite0", show_default=True)
@output_options
def demo(out, model, progress, quiet):
    """Sweep the bundled sample photos with EfficientNet-Lite0 (offline), analyse them and write a report."""
    from pathlib import Path

    from .report.html import write_report
    from .report.analyze import analyze_run
    from .sweep import SweepConfig, format_summary, run_sweep

    say(quiet)(f"zoomhard demo: {model} on the bundled samples, {len(ZoomGrid())} transforms each")
    summary = run_sweep(SweepConfig(make_setup({"model": model, "data": "samples"}), out=out, progress=progress,
                                    quiet=quiet), log=say(quiet))
    click.echo(format_summary(summary, out))
    analyze_run(out)
    click.echo(f"analysis: {Path(out) / 'analysis.json'}, figures: {Path(out) / 'figures'}")
    click.echo(f"report: {write_report([out], Path(out) / 'report.html')}")


@cli.command("models")
@click.argument("pattern", required=False)
@click.option("--study", is_flag=True,
              help="The study's networks: the exact spec behind each row of the paper's tables.")
@click.option("--json", "as_json", is_flag=True)
def models_cmd(pattern, study, as_json):
    """The model specs zoomhard understands; with PATTERN, the concrete models that match it, from
    the libraries' own registries: 'timm:vit_*', 'torchvision:*', 'open_clip:ViT-B-32/*', 'resnet5?'
    (every source). Quote the pattern so that the shell leaves it alone."""
    import fnmatch

    from .models import list_models
    from .models.registry import find_models
    from .paper import study_rows
    from .spec import ModelSpec

    if pattern and not study:
        found = find_models(pattern)
        if not found:
            raise ZoomhardError(f"no model matches {pattern!r} (patterns: * any text, ? one character; "
                                "e.g. 'timm:vit_*')")
        click.echo(json.dumps(found, indent=2) if as_json else "\n".join(found))
        return
    rows = study_rows() if study else list_models()
    if pattern:
        names = lambda r: (r["spec"], ModelSpec.parse(r["spec"]).body, r["paper_model"])  # noqa: E731
        rows = [r for r in rows if any(fnmatch.fnmatchcase(n.lower(), pattern.lower()) for n in names(r))]
        if not rows:
            raise ZoomhardError(f"no study network matches {pattern!r}")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if study:
        width = max(len(r["spec"]) for r in rows) + 2
        for r in rows:
            click.echo(f"{r['spec']:<{width}}{r['table']:<8}{r['paper_model']}" + (f"  ({r['note']})" if r["note"] else ""))
        return
    width = max(len(r["spec"]) for r in rows) + 2
    for r in rows:
        click.echo(f"{r['spec']:<{width}}{r['what']}; weights: {r['weights']}")


@cli.command("datasets")
@click.option("--json", "as_json", is_flag=True)
def datasets_cmd(as_json):
    """The data specs zoomhard understands."""
    from .data.samples import SAMPLES

    rows = [
        {"spec": "samples", "what": f"{len(SAMPLES)} bundled photos (scikit-image, matplotlib), offline"},
        {"spec": "samples-offcentre", "what": "the same photos, each at a corner of a grey canvas twice its size"},
        {"spec": "PATH", "what": "a folder of wnid sub-folders, or images with labels.csv (image,labels[,origin])"},
        {"spec": "parquet:PATH_OR_GLOB", "what": "ImageNet-Hard layout: image{bytes,path}, label list, origin"},
        {"spec": "hf:REPO[@REVISION][:SPLIT]", "what": "a Hugging Face dataset in that layout: a hub id (needs a network) or a local folder"},
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['spec']:<28} {r['what']}")


@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Folder for the dataset: data/*.parquet, README.md, origins.png, selection.csv, removed.csv.")
@click.option("--max-solved", default=0, show_default=True, type=click.IntRange(0), metavar="K",
              help="Keep images that at most K runs solve under some transform (0: the study's criterion).")
@click.option("--min-runs", type=click.IntRange(1), default=None, metavar="N",
              help="Runs that must have swept an image for it to count [default: all runs].")
@click.option("--quota", multiple=True, metavar="ORIGIN=N",
              help="Keep at most N images (the hardest) of ORIGIN; repeatable.")
@click.option("--dedup-threshold", default=8, show_default=True, type=click.IntRange(-1, 64), metavar="BITS",
              help="Drop images whose 64-bit perceptual hash is within BITS of a harder one; -1 keeps all.")
@click.option("--relabel", type=click.Path(dir_okay=False),
              help="CSV image_id,labels of extra acceptable labels (wnids or indices) to merge.")
@click.option("--force", is_flag=True, help="Replace --out if it holds an earlier curated set.")
@read_outside_option
@quiet_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def curate(runs, out, max_solved, min_runs, quota, dedup_threshold, relabel, force, allow_outside_root, quiet,
           as_json):
    """Build a hard benchmark from sweeps: the images no run frames right, in the ImageNet-Hard layout."""
    from .curate import CurateConfig, curate as run_curate, format_summary, parse_quotas

    cfg = CurateConfig(runs=list(runs), out=out, max_solved=max_solved, min_runs=min_runs,
                       quotas=parse_quotas(quota), dedup_threshold=dedup_threshold, relabel=relabel, force=force,
                       allow_outside_root=allow_outside_root)
    summary = run_curate(cfg, log=say(quiet))
    click.echo(json.dumps(summary) if as_json else format_summary(summary, out))


@cli.command()
@click.argument("run", type=click.Path())
@click.option("--gallery", default=6, show_default=True, type=click.IntRange(0, 100),
              help="Images fixed by zoom to show in the gallery.")
@ci_option
@read_outside_option
@click.option("--json", "as_json", is_flag=True, help="Print analysis.json instead of a summary line.")
def analyze(run, gallery, ci_resamples, allow_outside_root, as_json):
    """Analyse a run: RUN/analysis.json, CSVs under RUN/analysis/ and PNG figures under RUN/figures/."""
    from .report.analyze import analyze_run, format_result

    result = analyze_run(run, gallery=gallery, ci_resamples=ci_resamples,
                         allow_outside_root=allow_outside_root).result
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=1))
    else:
        click.echo(f"{format_result(result)} -> {run}/analysis.json, {run}/analysis/*.csv, {run}/figures/")


@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--out", "-o", type=click.Path(dir_okay=False),
              help="HTML file to write [default: RUN/report.html for one run, ./report.html for several "
                   "or a read-only run].")
@click.option("--explorer-limit", default=1000, show_default=True, type=click.IntRange(1, 1_000_000),
              help="Images per run in the explorer (the first ones).")
@click.option("--thumbnails", default=200, show_default=True, type=click.IntRange(0, 1_000_000),
              help="Show thumbnails in the explorer for runs with at most this many images.")
@read_outside_option
def report(runs, out, explorer_limit, thumbnails, allow_outside_root):
    """One self-contained HTML page for the runs (analysing any that need it)."""
    from pathlib import Path

    from .report.html import write_report

    if out is None:  # a run folder that cannot be written to (someone else's) leaves it here
        one = len(runs) == 1 and Path(runs[0]).is_dir() and os.access(runs[0], os.W_OK)
        out = Path(runs[0]) / "report.html" if one else Path("report.html")
    path = write_report(list(runs), out, explorer_limit, thumbnails, allow_outside_root)
    click.echo(f"report of {len(runs)} run(s) -> {path}")


@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--paper", is_flag=True, help="Show the study's own figures beside (its Table 1).")
@click.option("--paper-dataset", type=click.Choice(["IN", "ReaL", "IN+ReaL", "IN-A", "IN-R", "IN-S", "ON"]),
              help="The study's dataset column to set beside the runs [default: from the run's class subset].")
@click.option("--json", "as_json", is_flag=True)
def compare(runs, paper, paper_dataset, as_json):
    """A Table-1-style table: standard 1-crop, 36-crop (greedy cover) and all-crop upper bound per run."""
    from .report.compare import compare_rows, format_table, paper_table

    rows = compare_rows(list(runs), paper=paper, dataset=paper_dataset)
    if as_json:
        click.echo(json.dumps({"runs": rows, **({"paper": paper_table()} if paper else {})}, indent=1))
    else:
        click.echo(format_table(rows, paper=paper))


@cli.command()
@click.option("--model", "-m", "models", required=True, multiple=True,
              help="A model spec (repeatable, or several joined by commas), or a file of 'SPEC [WEIGHTS]' lines: "
                   + model_help())
@setup_options(*SHARED_SETUP)
@batch_options
@click.option("--predictions", type=click.Path(dir_okay=False), help="Write per-image predictions to this CSV.")
@click.option("--results", type=click.Path(dir_okay=False), help="Append one row per model to this results CSV.")
@output_options
@ci_option
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON (a list for several models).")
def bench(models, setup, batch_size, workers, predictions, results, progress, quiet, ci_resamples, as_json):
    """Single-crop accuracy with each model's own eval preprocessing, or the study's (ImageNet-Hard protocol)."""
    from .bench import BenchConfig, format_table, read_model_specs, run_bench

    specs = read_model_specs(models)
    if setup["weights"]:
        if len(specs) != 1:
            raise click.UsageError("--weights goes with a single --model; put 'SPEC WEIGHTS' lines in a file instead")
        specs = [(specs[0][0], setup["weights"])]
    setups = [make_setup(setup, model=spec, weights=weights) for spec, weights in specs]
    cfg = BenchConfig(setups, batch_size=batch_size, predictions=predictions, results=results,
                      progress=progress, ci_resamples=ci_resamples,
                      **({"workers": workers} if workers else {}))
    summaries = run_bench(cfg, log=say(quiet))
    if as_json:
        click.echo(json.dumps(summaries[0] if len(summaries) == 1 else summaries, indent=2))
    else:
        click.echo(format_table(summaries))


@cli.command()
@click.argument("source", type=click.Path(exists=True))
@click.option("--out", "-o", type=click.Path(file_okay=False),
              help="Folder for errors.csv, confusions.csv, errors.json, errors.png [default: beside SOURCE].")
@click.option("--model", "model", default=None, help="Which model of a several-model predictions CSV.")
@click.option("--transform", default=None, help="Transform id of a run (default: its standard crop, s256-r1c1).")
@click.option("--max-hops", default=3, show_default=True, type=click.IntRange(1, 20),
              help="A mistake is common when top-1 and a label share a WordNet ancestor within this many hops of both.")
@click.option("--top", default=15, show_default=True, type=click.IntRange(1, 1000), help="Confusions to list.")
@click.option("--json", "as_json", is_flag=True)
def errors(source, out, model, transform, max_hops, top, as_json):
    """Common (semantically close) vs rare mistakes, from a run folder or bench --predictions CSV."""
    from .mistakes import analyze_errors, format_errors

    summary = analyze_errors(source, out=out, model=model, transform=transform, max_hops=max_hops, top=top)
    click.echo(json.dumps(summary, indent=2) if as_json else format_errors(summary))


@cli.command("objectnet-labels")
@click.argument("images", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="labels.csv to write.")
def objectnet_labels(images, out):
    """Write labels.csv for ObjectNet's images/ folder (the 113 classes mapped to ImageNet)."""
    from .protocols import objectnet_labels_csv

    r = objectnet_labels_csv(images, out)
    click.echo(f"{r['images']} images of {r['classes']} ObjectNet classes -> {r['labels']} "
               f"({r['skipped_images']} images of unmapped classes left out); "
               f"bench with: --data {images} --labels {r['labels']} --subset objectnet "
               "(the study's 113-class argmax; objectnet-groups: each class by its best ImageNet class)")


@cli.command()
@setup_options("model", *SHARED_SETUP, help={"model": model_help("MEMO needs a torch model, not onnx:PATH")})
@click.option("--method", "methods", required=True,
              help="Comma-separated: memo-augmix, memo-rrc, zoom-mean, zoom-max.")
@click.option("--views", default=None, type=click.IntRange(1, 4096),
              help="MEMO: views per adaptation step [default: 16; --protocol study: 64].")
@click.option("--steps", default=1, show_default=True, type=click.IntRange(0, 1000), help="MEMO: SGD steps per image.")
@click.option("--lr", default=0.00025, show_default=True, type=click.FloatRange(0), help="MEMO: SGD learning rate.")
@click.option("--prior-strength", default=16.0, show_default=True, type=float,
              help="MEMO: batch-norm test-time prior N (N/(N+1) running + 1/(N+1) batch); negative: off.")
@click.option("--seed", default=0, show_default=True, type=int, help="Views are a function of seed and image id.")
@click.option("--seeds", default=None, metavar="S,S,...",
              help="MEMO once per seed (e.g. 0,1,2): top-1 reported as mean ± std over them [default: --seed].")
@click.option("--match-views", is_flag=True,
              help="zoom-*: only the first --views transforms of their order, as many as MEMO's views (like for like).")
@click.option("--transforms", default=None,
              help="zoom-*: ids 's256-r1c1,s384-r0c2' or RUN/analysis.json[:K] (its min-cover) "
                   "[default: every transform of the grid with scale > 224].")
@click.option("--imagenet-c", is_flag=True,
              help="With --protocol study: the data is ImageNet-C (224-pixel images), whose test crop is "
                   "CenterCrop(224) alone, as MEMO's.")
@batch_options
@output_options
@ci_option
@click.option("--json", "as_json", is_flag=True,
              help="Print {method, n, top1, top1_ci, baseline_top1, vs_baseline: {gained, lost, p_value}, "
                   "seconds_per_image, views, protocol}.")
def tta(setup, methods, views, steps, lr, prior_strength, seed, seeds, match_views, transforms, imagenet_c,
        batch_size, workers, progress, quiet, ci_resamples, as_json):
    """Test-time augmentation vs the standard crop: MEMO (AugMix or zoom-in views) and zoom ensembles."""
    from .tta import TTAConfig, format_table, parse_methods, run_tta
    from .tta.run import seed_list

    if imagenet_c and setup["protocol"] != "study":
        raise click.UsageError("--imagenet-c goes with --protocol study (natively the baseline is the grid's standard crop)")
    cfg = TTAConfig(make_setup(setup), methods=parse_methods(methods), views=views,
                    steps=steps, lr=lr, seed=seed, seeds=seed_list(seeds), match_views=match_views,
                    ci_resamples=ci_resamples, prior_strength=prior_strength, transforms=transforms,
                    batch_size=batch_size, progress=progress, imagenet_c=imagenet_c,
                    **({"workers": workers} if workers else {}))
    report = run_tta(cfg, log=say(quiet))
    if as_json:
        click.echo(json.dumps(report.results[0] if len(report.results) == 1 else report.results))
    else:
        click.echo(format_table(report.results))


@cli.command()
@click.argument("study_file", metavar="STUDY.toml", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Study folder: runs/KIND/MODEL/DATASET/, tables/, report.html, study.json (resumed if it exists).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="How zoom cells sweep, as `sweep --engine`.")
@click.option("--ray-address", metavar="ADDR", help="With --engine ray: join this Ray cluster.")
@click.option("--dry-run", is_flag=True,
              help="List the cells, what is already done, every data and weights path that is missing and the "
                   "work (images x crops per image, where the data is there); run nothing.")
@output_options
def reproduce(study_file, out, engine, ray_address, dry_run, progress, quiet):
    """Every (experiment, model, dataset) cell of a study file, its tables and one report page."""
    from pathlib import Path

    from .reproduce import Engine, dry_run as plan, format_dry_run, format_outcome, load_study, run_study

    if ray_address and engine != "ray":
        raise click.UsageError("--ray-address needs --engine ray")
    study = load_study(study_file)
    if dry_run:
        click.echo(format_dry_run(plan(study, Path(out))))
        return 0
    from .sweep.signals import terminate_as_interrupt

    with terminate_as_interrupt():   # a stopped study writes the tables of its finished cells
        result = run_study(study, out, Engine(engine, ray_address, progress), progress=progress, log=say(quiet))
    click.echo(format_outcome(result, Path(out)))
    return 1 if any(c["status"] != "done" for c in result["cells"]) else 0


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@setup_option("model")
@click.option("--label", "-l", "label", metavar="L",
              help="The right classes, separated by ',' or ';': indices, wnids or names ('tabby,tiger cat'). "
                   "Without: what the image can be seen as.")
@click.option("--out", "-o", type=click.Path(dir_okay=False),
              help="Write a PNG: the image with the crops' boxes, the standard crop beside the best framing, "
                   "the scales x anchors map (several images: one PNG each, OUT-STEM-IMAGE.png).")
@click.option("--json", "as_json", is_flag=True,
              help="Print {image, labels, model, transforms, correct_transforms, standard, best} (a list for several).")
@grid_options
@setup_options("weights", "backend", "device",
               click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1, 65536)),
               "drop_background",
               help={"backend": None, "drop_background": "A 1001-wide model: drop its first logit (a background class)."})
def look(images, model, label, out, as_json, scales, anchors, crop, setup, batch_size):
    """One image through every framing: the standard crop, the best framing and a map of them all."""
    from pathlib import Path

    from .config import open_classifier
    from .look import format_look, look as look_at, parse_label_option, write_figure

    labels = parse_label_option(label)   # a wrong name fails before the model loads
    grid = make_grid(scales, anchors, crop)
    classifier = open_classifier(make_setup(setup, model=model), "look", crop=grid.crop)
    results = []
    for image in images:
        lk = look_at(image, classifier, labels, grid, batch_size)
        if out:
            target = Path(out)
            if len(images) > 1:
                target = target.with_name(f"{target.stem}-{Path(image).stem}{target.suffix or '.png'}")
            write_figure(lk, target)
            click.echo(f"{image}: figure -> {target}", err=True)
        results.append(lk.to_json())
        if not as_json:
            click.echo(format_look(lk) + ("\n" if len(images) > 1 else ""))
    if as_json:
        click.echo(json.dumps(results[0] if len(results) == 1 else results, indent=1))


def main(argv: list[str] | None = None) -> int:
    try:
        rv = cli.main(args=argv, prog_name="zoomhard", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort as e:
        from .sweep import Terminated

        click.echo("zoomhard: interrupted; finished images are saved, run the same command to resume", err=True)
        return 143 if isinstance(e.__context__, Terminated) else 130
    except click.ClickException as e:
        click.echo(f"zoomhard: error: {e.format_message()}", err=True)
        return e.exit_code
    except ZoomhardError as e:
        click.echo(f"zoomhard: error: {e}", err=True)
        return 2
    except OSError as e:
        if _errno(e) not in _STORAGE_ERRNOS:
            raise
        click.echo(f"zoomhard: error: {_storage_message(e)}", err=True)
        return 2


# A folder that cannot be written to, a full disk: the user's to fix. Parts are written whole
# or not at all, so what was written before stays intact and the same command resumes.
# A path that cannot be a folder or file (a file where a folder would be, a name too long).
_PATH_ERRNOS = {errno.ENOTDIR, errno.ENAMETOOLONG, errno.EISDIR, errno.EEXIST}
_STORAGE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT} | _PATH_ERRNOS


def _errno(e: OSError) -> int | None:
    """The error number, also of pyarrow's I/O errors, which carry it only in their message."""
    if e.errno is not None:
        return e.errno
    for number in _STORAGE_ERRNOS:
        if f"[Errno {number}]" in str(e):
            return number
    return None


def _storage_message(e: OSError) -> str:
    number = _errno(e)
    where = e.filename or "the output folder"
    reason = e.strerror or os.strerror(number)
    if number in _PATH_ERRNOS:
        return f"{str(where)[:200]}: {reason}; choose another path"
    if number in (errno.ENOSPC, errno.EDQUOT):
        return f"{where}: {reason}; everything written before is intact: free some space and run the same command again"
    return f"{where}: {reason} (check its permissions, or write somewhere else)"


if __name__ == "__main__":
    sys.exit(main())
