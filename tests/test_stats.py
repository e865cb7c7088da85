"""The numbers beside every figure: the chance level of a best-of-N upper bound (exact, equal to
a brute-force double loop), bootstrap intervals that cover the true rate, and the exact McNemar
test of two classifiers on the same images."""

import json

import numpy as np
import pytest
from scipy.stats import binomtest

from zoomhard import analysis as A
from zoomhard import stats
from zoomhard.cli import main
from zoomhard.grid import ZoomGrid
from zoomhard.protocols import class_space, score

GRID = ZoomGrid((128, 256, 512))


def brute_chance(top1: np.ndarray, labels: list[tuple[int, ...]], columns=None) -> float:
    """(1/n) sum_i (1/(n-1)) #{j != i : T_i and L_j share a class}, by two loops."""
    n = len(labels)
    cols = range(top1.shape[1]) if columns is None else columns
    total = 0.0
    for i in range(n):
        t = {int(top1[i, k]) for k in cols}
        total += sum(bool(t & set(labels[j])) for j in range(n) if j != i) / (n - 1)
    return total / n


def random_run(rng, n: int, n_classes: int, max_labels: int, subset=None):
    """Random logits scored as a sweep scores them (under `subset`, the subset's argmax):
    (Correctness, top1, labels)."""
    space = class_space(subset) if subset else None
    pool = np.flatnonzero(space.allowed) if space else np.arange(n_classes)
    labels = [tuple(sorted(rng.choice(pool[:n_classes], rng.integers(1, max_labels + 1), replace=False).tolist()))
              for _ in range(n)]
    top1 = np.zeros((n, len(GRID)), np.int64)
    correct = np.zeros((n, len(GRID)), bool)
    for i in range(n):
        logits = rng.normal(size=(len(GRID), 1000)).astype(np.float32)
        logits[:, pool[:n_classes]] += 4.0   # predictions crowd onto a few classes, as real ones do
        s = score(logits, labels[i], space.allowed if space else None)
        top1[i], correct[i] = s["top1"], s["correct"]
    ids = [f"im{i}" for i in range(n)]
    c = A.Correctness(ids, list(GRID), correct, np.ones_like(correct))
    return c, top1, labels


@pytest.mark.parametrize("max_labels,subset", [(1, None), (3, None), (2, "imagenet-a")])
def test_chance_upper_bound_equals_the_double_loop(max_labels, subset):
    rng = np.random.default_rng(max_labels)
    for n, n_classes in ((2, 3), (17, 6), (40, 12)):
        c, top1, labels = random_run(rng, n, n_classes, max_labels, subset)
        if subset:
            assert set(np.unique(top1)) <= set(np.flatnonzero(class_space(subset).allowed))
        r = A.analyze(c, GRID, top1=top1, labels=labels)
        assert r["chance_upper_bound"] == pytest.approx(brute_chance(top1, labels), abs=1e-12)
        for row in range(3):
            for col in range(3):
                at = [k for k, z in enumerate(GRID) if (z.row, z.col) == (row, col)]
                assert r["chance_per_anchor"][row][col] == pytest.approx(brute_chance(top1, labels, at), abs=1e-12)
        assert r["distinct_top1"] == pytest.approx(np.mean([len(set(t)) for t in top1]))
        # the same predictions score the upper bound against their own labels
        assert r["upper_bound"] == np.mean([bool(set(t) & set(l)) for t, l in zip(top1, labels)])


def test_chance_is_high_when_the_grid_names_many_classes_and_few_are_in_play():
    """A classifier that names a different class at every framing "solves" most images of a
    200-class benchmark by chance: the chance level says so."""
    rng = np.random.default_rng(0)
    n = 300
    labels = [(int(x),) for x in rng.integers(0, 200, n)]
    top1 = rng.integers(0, 200, (n, len(GRID)))
    correct = np.array([[t in l for t in row] for row, l in zip(top1, labels)])
    c = A.Correctness([str(i) for i in range(n)], list(GRID), correct, np.ones_like(correct))
    r = A.analyze(c, GRID, top1=top1, labels=labels)
    expected = 1 - (1 - 1 / 200) ** len(GRID)        # 27 guesses among 200 classes
    assert r["chance_upper_bound"] == pytest.approx(expected, abs=0.02)
    assert r["upper_bound"] == pytest.approx(r["chance_upper_bound"], abs=0.05)
    lo, hi = r["confidence"]["chance_upper_bound"]
    assert lo <= r["chance_upper_bound"] <= hi


def test_a_partial_run_has_no_chance_level_and_keeps_the_intervals_of_what_is_exact():
    rng = np.random.default_rng(1)
    c, top1, labels = random_run(rng, 10, 5, 1)
    observed = np.ones_like(c.matrix)
    observed[:, 5:] = False
    partial = A.Correctness(c.image_ids, c.zooms, c.matrix & observed, observed)
    r = A.analyze(partial, GRID, partial=True, top1=top1, labels=labels)
    assert r["chance_upper_bound"] is r["chance_per_anchor"] is r["distinct_top1"] is None
    assert set(r["confidence"]) <= {"standard_top1", "upper_bound"} and "upper_bound" in r["confidence"]


def test_every_interval_holds_its_figure_and_the_keys_are_the_ones_analysis_json_names():
    rng = np.random.default_rng(2)
    c, top1, labels = random_run(rng, 60, 8, 2)
    r = A.analyze(c, GRID, top1=top1, labels=labels)
    ci = r["confidence"]
    anchors = {A.anchor_key(row, col) for row in range(3) for col in range(3)}
    assert set(ci) == {"standard_top1", "upper_bound", "top36_upper_bound", "chance_upper_bound"} | anchors
    for key in ("standard_top1", "upper_bound", "top36_upper_bound", "chance_upper_bound"):
        assert ci[key][0] <= r[key] <= ci[key][1], key
    for row in range(3):
        for col in range(3):
            lo, hi = ci[A.anchor_key(row, col)]
            assert lo <= r["per_anchor"][row][col] <= hi
    assert A.analyze(c, GRID, top1=top1, labels=labels) == r            # a fixed seed: the same intervals
    assert A.analyze(c, GRID, top1=top1, labels=labels, ci_resamples=0)["confidence"] == {}


@pytest.mark.parametrize("n,p", [(200, 0.3), (1000, 0.85), (150, 0.5)])
def test_95_percent_intervals_cover_the_true_rate_in_at_least_90_percent_of_data_sets(n, p):
    rng = np.random.default_rng(n)
    covered = 0
    for k in range(200):
        x = rng.random(n) < p
        lo, hi = stats.bootstrap_ci(x, seed=k)[0]
        covered += lo <= p <= hi
    assert covered >= 180, covered


def test_intervals_of_a_non_binary_mean_cover_it_too():
    rng = np.random.default_rng(3)
    covered = 0
    for k in range(200):
        x = rng.beta(2, 5, 300)                     # mean 2/7
        lo, hi = stats.bootstrap_ci(x, resamples=500, seed=k)[0]
        covered += lo <= 2 / 7 <= hi
    assert covered >= 180, covered


def test_mcnemar_p_value_is_scipys_exact_binomial_test():
    for b in range(0, 30, 3):
        for c in range(0, 30, 4):
            expected = binomtest(min(b, c), b + c, 0.5).pvalue if b + c else 1.0
            assert stats.mcnemar_p(b, c) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert stats.mcnemar_p(400, 300) == pytest.approx(binomtest(300, 700, 0.5).pvalue, rel=1e-9)


def test_mcnemar_counts_the_discordant_images():
    a = np.array([1, 1, 0, 0, 1, 0, 0, 1], bool)
    b = np.array([1, 0, 1, 1, 1, 1, 0, 1], bool)
    r = stats.mcnemar(a, b)
    assert (r["gained"], r["lost"]) == (3, 1)
    assert r["p_value"] == pytest.approx(binomtest(1, 4, 0.5).pvalue)
    with pytest.raises(ValueError):
        stats.mcnemar(a, b[:3])


def test_analyze_writes_the_chance_level_and_intervals(samples_run, capsys):
    assert main(["analyze", str(samples_run), "--ci-resamples", "200", "--gallery", "0"]) == 0
    line = capsys.readouterr().out
    a = json.loads((samples_run / "analysis.json").read_text())
    assert a["analysis_version"] == A.ANALYSIS_VERSION
    assert 0 <= a["chance_upper_bound"] <= a["upper_bound"]
    assert a["distinct_top1"] >= 1 and len(a["chance_per_anchor"]) == 3
    lo, hi = a["confidence"]["upper_bound"]
    assert lo <= a["upper_bound"] <= hi
    assert f"chance {a['chance_upper_bound']:.2%}" in line
    assert main(["analyze", str(samples_run), "--ci-resamples", "-1"]) == 2
