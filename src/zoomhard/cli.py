"""The `zoomhard` command: a thin layer that maps options onto one config object per command.

Every user mistake (unknown model, missing folder, bad option) ends in one line on stderr and
exit code 2; an interrupted sweep says how to resume.
"""

from __future__ import annotations

import json
import sys

import click

from .grid import ZoomGrid

def _user_errors() -> tuple[type[Exception], ...]:
    """Errors that are the user's to fix: one line, exit code 2, no traceback."""
    from .data import DataError
    from .models import ModelError
    from .store import RunError

    return (DataError, ModelError, RunError, ValueError, FileNotFoundError)


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
    f = click.option("--anchors", default=3, show_default=True, type=click.IntRange(1, 15),
                     help="Anchors per side: an N x N grid over the resized image.")(f)
    f = click.option("--crop", default=224, show_default=True, type=click.IntRange(8, 4096),
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


def sweep_options(f):
    from .engines import ENGINES
    from .sweep import SUBSET_CHOICES

    f = click.option("--weights", type=click.Path(dir_okay=False), help="Local state dict for the model.")(f)
    f = click.option("--labels", type=click.Path(dir_okay=False),
                     help="Labels CSV (image,labels[,origin]) for a plain folder of images.")(f)
    f = click.option("--subset", type=click.Choice(SUBSET_CHOICES), default="auto", show_default=True,
                     help="Restrict predictions to a class subset; auto = the wnid folders present.")(f)
    f = click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1, 65536))(f)
    f = click.option("--workers", default=None, type=click.IntRange(1, 256),
                     help="Decode/resize threads [default: min(4, cores)].")(f)
    f = click.option("--backend", type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True,
                     help="auto: ONNX Runtime on CPU, torch (bf16, channels_last) on CUDA.")(f)
    f = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)(f)
    f = click.option("--mean", callback=_triple, help="Override the model's normalisation mean, e.g. 0.5,0.5,0.5.")(f)
    f = click.option("--std", callback=_triple, help="Override the model's normalisation std.")(f)
    f = click.option("--flush-seconds", default=30.0, show_default=True, type=click.FloatRange(0),
                     help="Write finished images at least this often (what a kill can cost).")(f)
    f = click.option("--progress/--no-progress", default=True, show_default=True)(f)
    f = click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
                     help="local: threads here; ray: a Ray Data pipeline (pip install 'zoomhard[ray]').")(f)
    f = click.option("--ray-address", metavar="ADDR",
                     help="With --engine ray: join this Ray cluster (auto, or HEAD:6379, run on a cluster "
                          "node); default: start a local one.")(f)
    return f


@cli.command()
@click.option("--model", "-m", required=True, help="lite0, torchvision:NAME, timm:NAME, onnx:PATH (see `zoomhard models`).")
@click.option("--data", "-d", required=True, help="samples, a folder, parquet:GLOB or hf:REPO (see `zoomhard datasets`).")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Run folder (resumed if it exists).")
@grid_options
@sweep_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def sweep(model, data, out, scales, anchors, crop, weights, labels, subset, batch_size, workers, backend,
          device, mean, std, flush_seconds, progress, engine, ray_address, as_json):
    """Classify every image under every zoom transform; store predictions as Parquet."""
    from .sweep import SweepConfig, format_summary, run_sweep

    if ray_address and engine != "ray":
        raise click.UsageError("--ray-address needs --engine ray")
    cfg = SweepConfig(model=model, data=data, out=out, weights=weights, labels=labels,
                      grid=make_grid(scales, anchors, crop), subset=subset, batch_size=batch_size,
                      backend=backend, device=device, mean=mean, std=std, flush_seconds=flush_seconds,
                      progress=progress, engine=engine, ray_address=ray_address)
    if workers:
        cfg.workers = workers
    summary = run_sweep(cfg, log=lambda m: click.echo(m, err=True))
    click.echo(json.dumps(summary) if as_json else format_summary(summary, out))


@cli.command()
@click.option("--out", "-o", default="demo-run", show_default=True, type=click.Path(file_okay=False))
@click.option("--model", "-m", default="lite0", show_default=True)
def demo(out, model):
    """Sweep the bundled sample photos with EfficientNet-Lite0 (offline) and summarise."""
    from .sweep import SweepConfig, format_summary, run_sweep

    click.echo(f"zoomhard demo: {model} on the bundled samples, {len(ZoomGrid())} transforms each", err=True)
    summary = run_sweep(SweepConfig(model=model, data="samples", out=out), log=lambda m: click.echo(m, err=True))
    click.echo(format_summary(summary, out))


@cli.command("models")
@click.option("--json", "as_json", is_flag=True)
def models_cmd(as_json):
    """The model specs zoomhard understands."""
    from .models import list_models

    rows = list_models()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['spec']:<20} weights: {r['weights']}")


@cli.command("datasets")
@click.option("--json", "as_json", is_flag=True)
def datasets_cmd(as_json):
    """The data specs zoomhard understands."""
    from .data.samples import SAMPLES

    rows = [
        {"spec": "samples", "what": f"{len(SAMPLES)} bundled photos (scikit-image, matplotlib), offline"},
        {"spec": "PATH", "what": "a folder of wnid sub-folders, or images with labels.csv (image,labels[,origin])"},
        {"spec": "parquet:PATH_OR_GLOB", "what": "ImageNet-Hard layout: image{bytes,path}, label list, origin"},
        {"spec": "hf:REPO[@REVISION][:SPLIT]", "what": "a Hugging Face dataset in that layout (needs a network)"},
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['spec']:<28} {r['what']}")


def main(argv: list[str] | None = None) -> int:
    errors = _user_errors()
    try:
        rv = cli.main(args=argv, prog_name="zoomhard", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("zoomhard: interrupted; finished images are saved, run the same command to resume", err=True)
        return 130
    except click.ClickException as e:
        click.echo(f"zoomhard: error: {e.format_message()}", err=True)
        return e.exit_code
    except errors as e:
        click.echo(f"zoomhard: error: {e}", err=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
