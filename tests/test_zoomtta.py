"""ZoomTTA: the sweep's zoom transforms as an nn.Module, against a hand-made loop over the
sweep's own (PIL) crops of the same images."""

import numpy as np
import pytest
import torch

import zoomhard as zh
from zoomhard.crops import decode_image, zoom_crops
from zoomhard.data.samples import SAMPLES, sample_path
from zoomhard.models import Preprocess, load_model

ZOOMS = ["s128-r1c1", "s256-r1c1", "s256-r0c2", "s384-r2c0", "s512-r1c1", "s64-r0c0"]


@pytest.fixture(scope="module")
def lite0():
    module, pre = load_model("lite0")
    return module.eval(), pre


def _photo(k: int) -> np.ndarray:
    _, package, rel, _ = SAMPLES[k]
    return np.array(decode_image(sample_path(package, rel)))


def _hand_made(module, pre: Preprocess, rgb: np.ndarray, zooms: list[str]) -> np.ndarray:
    """(views, classes): each transform's crop cut by the sweep (PIL), normalised, classified."""
    from PIL import Image

    crops = zoom_crops(Image.fromarray(rgb), [zh.Zoom.parse(z) for z in zooms], zh.ZoomGrid())
    with torch.no_grad():
        return module(torch.from_numpy(pre.normalize(crops))).numpy()


def test_same_top1_as_the_sweeps_crops(lite0):
    module, pre = lite0
    for k in (0, 3):
        rgb = _photo(k)
        views = _hand_made(module, pre, rgb, ZOOMS)
        z = views - views.max(1, keepdims=True)
        log_softmax = z - np.log(np.exp(z).sum(1, keepdims=True))
        batch = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)   # uint8 NCHW
        for merge, want in (("mean", views.mean(0)), ("max", views.max(0)), ("gmean", log_softmax.mean(0))):
            tta = zh.ZoomTTA(module, zooms=ZOOMS, merge=merge, mean=pre.mean, std=pre.std)
            with torch.no_grad():
                got = tta(batch).numpy()
            assert got.shape == (2, 1000)
            assert (got.argmax(1) == want.argmax()).all(), (k, merge)
            np.testing.assert_allclose(got[0], want, atol=0.05)     # torch's resize against Pillow's
        with torch.no_grad():
            as_float = tta(batch[:1].float() / 255).numpy()
        np.testing.assert_allclose(as_float, got[:1], atol=1e-3)


def test_each_view_is_the_sweeps_transform(lite0, tmp_path):
    """Per view, the top-1 of the sweep's run (same model, same photo) for that transform."""
    module, pre = lite0
    image_id, package, rel, labels = SAMPLES[0]
    grid = zh.ZoomGrid((96, 256, 448))
    run = zh.sweep(module, [(sample_path(package, rel), list(labels), image_id)], grid=grid, mean=pre.mean,
                   std=pre.std, backend="torch", progress=False)
    want = {(r["scale"], r["row"], r["col"]): r["top1"] for r in run.predictions.to_pylist()}
    tta = zh.ZoomTTA(module, zooms=grid, mean=pre.mean, std=pre.std, max_batch=5)
    with torch.no_grad():
        views = tta.views(torch.from_numpy(_photo(0)).permute(2, 0, 1)[None])
    assert views.shape == (len(grid), 1, 1000)
    got = {(z.scale, z.row, z.col): int(v.argmax()) for z, v in zip(tta.zooms, views[:, 0])}
    assert got == want
    # a min-cover picks the same views as its ids
    cover = run.analyze()
    assert zh.ZoomTTA(module, zooms=cover, mean=pre.mean, std=pre.std).zooms == cover.min_cover


def test_spec_and_bad_arguments(lite0):
    module, pre = lite0
    tta = zh.ZoomTTA("lite0", zooms="s256-r1c1")
    assert torch.allclose(tta.shift.flatten(), torch.tensor(pre.mean) * 255)
    with pytest.raises(TypeError, match="pass mean= and std="):
        zh.ZoomTTA(module, zooms="s256-r1c1")
    with pytest.raises(ValueError, match="unknown merge 'median'"):
        zh.ZoomTTA(module, zooms="s256-r1c1", merge="median", mean=pre.mean, std=pre.std)
    with pytest.raises(ValueError, match="outside the 3 x 3 anchor grid"):
        zh.ZoomTTA(module, zooms=["s256-r3c1"], mean=pre.mean, std=pre.std)
    tta = zh.ZoomTTA(module, zooms=["s256-r1c1"], mean=pre.mean, std=pre.std)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        tta(torch.full((1, 3, 32, 32), 200.0))
    with pytest.raises(ValueError, match=r"batch \(n, 3, h, w\)"):
        tta(torch.zeros(3, 32, 32, dtype=torch.uint8))
