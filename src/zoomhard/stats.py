"""The numbers that keep a figure honest: the chance level of a best-of-N, bootstrap intervals,
and the exact paired test of two classifiers on the same images.

Chance control. A best-of-N upper bound counts an image as solved when any of its N framings
is right. Part of that figure any N guesses reach: an image whose framings name 20 distinct
classes is "solved" whenever its label is one of those 20, however they were chosen. The
chance upper bound asks how often the same predictions are right against the labels of another
image of the run, drawn uniformly at random, computed exactly rather than sampled:

    chance = (1/n) sum_i (1/(n-1)) #{ j != i : T_i and L_j share a class }

with T_i the set of top-1 classes over image i's transforms and L_j image j's labels. Images
are grouped by their label set, so the count is a sparse (images x label sets) product: seconds
for 50,000 images, not n^2.
"""

from __future__ import annotations

import numpy as np

CI_LEVEL = 0.95
CI_RESAMPLES = 1000   # bootstrap resamples by default
CI_SEED = 0           # intervals are a function of the data alone


# -- chance control -----------------------------------------------------------------------------

def predicted_sets(top1: np.ndarray, observed: np.ndarray | None = None, n_classes: int | None = None):
    """(images, classes) sparse 0/1 matrix (scipy CSR): the classes each image's transforms
    predict top-1. `top1` is (images, transforms) class indices; `observed` masks the cells
    that hold a prediction."""
    from scipy import sparse

    top1 = np.asarray(top1)
    n = top1.shape[0]
    width = int(n_classes if n_classes is not None else (top1.max() + 1 if top1.size else 0))
    # each row sorted, its repeats (and unobserved cells, set to -1) dropped: CSR without a dense matrix
    t = np.sort(np.where(observed, top1, -1) if observed is not None else top1, axis=1).astype(np.int32, copy=False)
    keep = np.ones(t.shape, dtype=bool)
    keep[:, 1:] = t[:, 1:] != t[:, :-1]
    keep &= t >= 0
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(keep.sum(axis=1), out=indptr[1:])
    cols = t[keep]
    return sparse.csr_matrix((np.ones(len(cols), np.float32), cols, indptr), shape=(n, max(width, 1)))


def _label_sets(labels: list[tuple[int, ...]], n_classes: int):
    """(S, sizes, owner): S (sets x classes) sparse indicator of the distinct label sets, how
    many images hold each, and each image's set."""
    from scipy import sparse

    index: dict[tuple[int, ...], int] = {}
    owner = np.fromiter((index.setdefault(tuple(sorted(set(x))), len(index)) for x in labels),
                        dtype=np.int64, count=len(labels))
    sets = list(index)
    sizes = np.bincount(owner, minlength=len(sets)).astype(np.float32)   # exact up to 2**24 images
    lengths = np.fromiter((len(s) for s in sets), dtype=np.int64, count=len(sets))
    cols = np.fromiter((c for s in sets for c in s), dtype=np.int64, count=int(lengths.sum()))
    keep = cols < n_classes   # a label no prediction can take never matches
    rows = np.repeat(np.arange(len(sets)), lengths)
    S = sparse.csr_matrix((np.ones(int(keep.sum()), np.float32), (rows[keep], cols[keep])),
                          shape=(len(sets), n_classes))
    return S, sizes, owner


def chance_counts(predicted: np.ndarray, labels: list[tuple[int, ...]], _sets=None) -> np.ndarray:
    """Per image i: #{j != i : predicted[i] holds one of image j's labels}. `predicted` is
    (images, classes), 0/1 or bool, dense or sparse (`predicted_sets`), `labels[j]` image j's
    label set. `predicted` may stack several sets per image, groups of len(labels) rows (row
    g * len(labels) + i: image i's g-th set), counted alike."""
    from scipy import sparse

    n, n_classes = predicted.shape
    if not labels or n % len(labels):
        raise ValueError("labels must give one label set per image")
    S, sizes, owner = _sets or _label_sets(labels, n_classes)
    if n != len(labels):
        owner = np.tile(owner, n // len(labels))
    P = sparse.csr_matrix(predicted, dtype=np.float32)
    hits = (P @ S.T).tocsr()                           # (images, label sets): shared classes
    hits.data[:] = 1.0
    counts = hits @ sizes                              # images whose labels share a class
    own = np.asarray(hits[np.arange(n), owner]).ravel()  # image i itself, when its own labels match
    return np.rint(counts - own).astype(np.int64)


def chance_upper_bound(predicted: np.ndarray, labels: list[tuple[int, ...]], _sets=None) -> float | None:
    """The upper bound these predictions reach against the labels of another image of the run
    drawn uniformly at random (exact); None for fewer than two images."""
    n = predicted.shape[0]
    if n < 2:
        return None
    return float(chance_counts(predicted, labels, _sets).sum() / (n * (n - 1)))


def chance_per_image(predicted: np.ndarray, labels: list[tuple[int, ...]], _sets=None) -> np.ndarray:
    """Each image's share of the other images whose labels its predictions hit."""
    n = predicted.shape[0]
    return chance_counts(predicted, labels, _sets) / max(n - 1, 1)


def label_sets(labels: list[tuple[int, ...]], n_classes: int):
    """The grouping `chance_counts` uses, made once for several calls over the same images."""
    return _label_sets(labels, n_classes)


# -- bootstrap intervals ------------------------------------------------------------------------

def bootstrap_ci(values: np.ndarray, resamples: int = CI_RESAMPLES, level: float = CI_LEVEL,
                 seed: int = CI_SEED) -> np.ndarray:
    """95 % percentile bootstrap intervals, over images, of the mean of each column of
    `values` (images, k): a (k, 2) array of [lo, hi]. A 0/1 column's resampled mean is exactly
    Binomial(n, mean) / n, so it is drawn as that; other columns resample image indices."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n, k = x.shape
    out = np.full((k, 2), np.nan)
    if n == 0 or resamples < 1:
        return out
    rng = np.random.default_rng(seed)
    means = np.empty((resamples, k))
    binary = ((x == 0) | (x == 1)).all(axis=0)
    if binary.any():
        p = x[:, binary].mean(axis=0)
        means[:, binary] = rng.binomial(n, p, size=(resamples, int(binary.sum()))) / n
    if (~binary).any():
        rest = x[:, ~binary].astype(np.float32)   # half the memory traffic; means to 1e-7
        step = max(1, 4_000_000 // n)   # resamples per chunk: a few million gathered values
        for s in range(0, resamples, step):
            idx = rng.integers(0, n, size=(min(step, resamples - s), n), dtype=np.int32)
            means[s:s + len(idx), ~binary] = rest[idx].mean(axis=1)
    alpha = (1 - level) / 2
    out[:] = np.quantile(means, [alpha, 1 - alpha], axis=0).T
    return out


def interval(lo_hi) -> str:
    """'[lo, hi]' in percent, for tables."""
    if lo_hi is None:
        return ""
    lo, hi = lo_hi
    return f"[{lo:.1%}, {hi:.1%}]"


# -- paired comparison --------------------------------------------------------------------------

def mcnemar(a: np.ndarray, b: np.ndarray) -> dict:
    """The exact two-sided McNemar test of two classifiers on the same images: `a` and `b` are
    per-image correctness. gained: images b gets right and a wrong; lost: the reverse; p_value:
    the binomial test of the discordant images against 1/2."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.shape != b.shape:
        raise ValueError("a paired test needs the same images on both sides")
    gained, lost = int(np.count_nonzero(b & ~a)), int(np.count_nonzero(a & ~b))
    return {"gained": gained, "lost": lost, "p_value": mcnemar_p(gained, lost)}


def mcnemar_p(b: int, c: int) -> float:
    """Two-sided exact p-value of b vs c discordant pairs: 2 P(X <= min(b, c)), X ~ Bin(b + c, 1/2),
    at most 1 (scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue)."""
    n = b + c
    if n == 0:
        return 1.0
    from scipy.stats import binom

    return float(min(1.0, 2.0 * binom.cdf(min(b, c), n, 0.5)))


def paired(result: dict | None) -> str:
    """'+gained/-lost, p=...' for tables."""
    if not result:
        return ""
    p = result["p_value"]
    return f"+{result['gained']}/-{result['lost']} p={p:.2g}" if p >= 1e-4 else f"+{result['gained']}/-{result['lost']} p<1e-4"


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
