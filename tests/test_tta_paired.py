"""tta compares like for like: every method says how many views it pooled, carries a 95 %
interval and its exact paired test against the baseline on the same images; --match-views gives
zoom methods MEMO's view count, --seeds runs MEMO once per seed."""

import json

import numpy as np
import pytest
from scipy.stats import binomtest

from zoomhard.cli import main
from zoomhard.config import Setup
from zoomhard.tta import TTAConfig, format_table, run_tta

from test_tta import two_samples  # noqa: F401

ZOOMS = "s256-r1c1,s384-r0c0,s512-r1c1,s448-r2c2"


def config(data, **kw) -> TTAConfig:
    return TTAConfig(Setup("lite0", str(data)), progress=False, **kw)


def test_every_method_has_its_views_interval_and_paired_test(two_samples):  # noqa: F811
    report = run_tta(config(two_samples, methods=("memo-rrc", "zoom-max"), views=2, transforms=ZOOMS))
    memo, zoom = report.results
    assert (memo["views"], zoom["views"]) == (2, 4)
    for r in report.results:
        m = r["method"]
        base = np.array([x["baseline_correct"] for x in report.images])
        mine = np.array([x[f"{m}_correct"] for x in report.images])
        gained, lost = int((mine & ~base).sum()), int((base & ~mine).sum())
        assert (r["vs_baseline"]["gained"], r["vs_baseline"]["lost"]) == (gained, lost)
        expected = binomtest(min(gained, lost), gained + lost, 0.5).pvalue if gained + lost else 1.0
        assert r["vs_baseline"]["p_value"] == pytest.approx(expected)
        lo, hi = r["top1_ci"]
        assert lo <= r["top1"] <= hi
    table = format_table(report.results)
    assert "views" in table.splitlines()[0] and "vs baseline" in table.splitlines()[0]
    assert f"+{zoom['vs_baseline']['gained']}/-{zoom['vs_baseline']['lost']} p=" in table


def test_match_views_gives_zoom_methods_the_first_k_transforms(two_samples):  # noqa: F811
    matched = run_tta(config(two_samples, methods=("zoom-mean",), views=2, transforms=ZOOMS, match_views=True))
    first_two = run_tta(config(two_samples, methods=("zoom-mean",), views=2, transforms="s256-r1c1,s384-r0c0"))
    assert matched.results[0]["views"] == 2
    assert [r["zoom-mean_top1"] for r in matched.images] == [r["zoom-mean_top1"] for r in first_two.images]
    assert run_tta(config(two_samples, methods=("zoom-mean",), views=2, transforms=ZOOMS)).results[0]["views"] == 4


def test_seeds_run_memo_once_per_seed(two_samples, capsys):  # noqa: F811
    args = ["tta", "-m", "lite0", "-d", str(two_samples), "--method", "memo-rrc,zoom-max", "--views", "2",
            "--transforms", ZOOMS, "--no-progress"]
    assert main(args + ["--seeds", "3,4", "--json"]) == 0
    memo, zoom = json.loads(capsys.readouterr().out)
    assert memo["seeds"] == [3, 4] and len(memo["top1_per_seed"]) == 2
    assert memo["top1"] == pytest.approx(np.mean(memo["top1_per_seed"]))
    assert memo["top1_std"] == pytest.approx(np.std(memo["top1_per_seed"], ddof=1))
    assert "seeds" not in zoom                        # no randomness: run once
    for k, seed in enumerate((3, 4)):
        assert main(args + ["--seed", str(seed), "--json", "--method", "memo-rrc"]) == 0
        alone = json.loads(capsys.readouterr().out)
        assert alone["top1"] == memo["top1_per_seed"][k]
    assert main(args + ["--seeds", "3,4"]) == 0
    out = capsys.readouterr().out
    assert "±" in out and "seeds 3, 4" in out
    assert main(args + ["--seeds", "a,b"]) == 2
    assert "--seeds" in capsys.readouterr().err
