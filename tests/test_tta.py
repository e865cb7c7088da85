"""zoomhard tta: MEMO (AugMix and zoom-in views) and the zoom ensembles."""

import csv
import json
import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from zoomhard.cli import main
from zoomhard.config import Setup
from zoomhard.data.samples import SAMPLES, sample_path
from zoomhard.labels import objectnet_to_imagenet, wnid_index
from zoomhard.protocols import class_space, objectnet_space, score
from zoomhard.tta import METHODS, TTAConfig, batchnorm_prior, marginal_entropy, parse_transforms, run_tta
from zoomhard.tta import reference as R
from zoomhard.tta import views as V
from zoomhard.tta.memo import Memo
from zoomhard.tta.run import MemoRunner, choice_probs


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """MEMO's small batches gain little from a second thread and lose much on a shared CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _write_folder(folder, rows):
    """rows: (file name, PIL image, labels) -> folder with the images and a labels.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "labels"])
        for name, img, labels in rows:
            if img is not None:
                img.save(folder / name)
            w.writerow([name, ";".join(str(x) for x in labels)])
    return folder


def _samples(k=None):
    out = []
    for image_id, package, rel, labels in SAMPLES[:k]:
        out.append((image_id.rsplit(".", 1)[0] + ".png", Image.open(sample_path(package, rel)).convert("RGB"), labels))
    return out


@pytest.fixture(scope="module")
def two_samples(tmp_path_factory):
    return _write_folder(tmp_path_factory.mktemp("two"), _samples(2))


# -- the loss and the batch-norm prior ---------------------------------------------------------

def test_marginal_entropy_matches_hand_computation():
    logits = np.array([[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 3.0, -2.0], [1.0, 1.0, 1.0, 1.0]])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    mean = p.mean(0)
    expected = -(mean * np.log(mean)).sum()
    got = marginal_entropy(torch.tensor(logits, dtype=torch.float64)).item()
    assert got == pytest.approx(expected, abs=1e-12)
    # Extreme logits: two certain, disagreeing views -> the marginal is (1/2, 1/2), entropy log 2.
    far = marginal_entropy(torch.tensor([[1000.0, -1000.0], [-1000.0, 1000.0]]))
    assert far.item() == pytest.approx(math.log(2), abs=1e-6)
    # One certain view: entropy 0, and the gradient is finite.
    one = torch.tensor([[500.0, -500.0, -500.0]], requires_grad=True)
    h = marginal_entropy(one)
    h.backward()
    assert h.item() == pytest.approx(0.0, abs=1e-6) and torch.isfinite(one.grad).all()


def _memo_reference_bn(bn, x, prior):
    """MEMO's published BatchNorm forward: batch statistics via a training-mode batch_norm on
    fresh buffers with momentum 1, mixed with the running statistics."""
    est_mean, est_var = torch.zeros_like(bn.running_mean), torch.ones_like(bn.running_var)
    torch.nn.functional.batch_norm(x, est_mean, est_var, None, None, True, 1.0, bn.eps)
    mean = prior * bn.running_mean + (1 - prior) * est_mean
    var = prior * bn.running_var + (1 - prior) * est_var
    return torch.nn.functional.batch_norm(x, mean, var, bn.weight, bn.bias, False, 0.0, bn.eps)


def test_batchnorm_prior_mixes_running_and_batch_statistics():
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm2d(3).eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
        bn.running_var.copy_(torch.tensor([1.5, 0.2, 4.0]))
        bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        bn.bias.copy_(torch.tensor([0.0, 0.1, -0.3]))
    train_mean, train_var = bn.running_mean.clone(), bn.running_var.clone()
    x = torch.randn(2, 3, 5, 7) * 3 + 1
    seen = {}
    with batchnorm_prior(bn, 16):
        # registered after the prior's own hook, so it sees the statistics the layer will use
        h = bn.register_forward_pre_hook(lambda m, a: seen.update(mean=m.running_mean.clone(), var=m.running_var.clone()))
        y = bn(x)
        h.remove()
    batch_mean = x.mean(dim=(0, 2, 3))
    batch_var = x.var(dim=(0, 2, 3), unbiased=True)
    assert torch.allclose(seen["mean"], 16 / 17 * train_mean + 1 / 17 * batch_mean, atol=1e-6)
    assert torch.allclose(seen["var"], 16 / 17 * train_var + 1 / 17 * batch_var, atol=1e-6)
    assert torch.allclose(y, _memo_reference_bn(bn, x, 16 / 17), atol=1e-5)
    # Outside the context the layer is back to its training statistics.
    assert torch.equal(bn.running_mean, train_mean) and torch.equal(bn.running_var, train_var)
    assert torch.allclose(bn(x), torch.nn.functional.batch_norm(x, train_mean, train_var, bn.weight, bn.bias,
                                                                False, 0.0, bn.eps))


# -- views ---------------------------------------------------------------------------------------

def test_batched_augmix_operations_match_pillow():
    img = _samples(1)[0][1].resize((224, 224), Image.BICUBIC)
    t = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None]
    for op, name in enumerate(V.OPS):
        for level, sign in ((0.15, 1), (0.55, -1), (0.99, 1)):
            want = torch.from_numpy(np.array(R.pil_op(img, op, level, sign))).permute(2, 0, 1).int()
            if op in V._COLOUR_OPS:
                got = V._apply_colour(t.clone(), np.array([op]), np.array([level]))[0].int()
                assert torch.equal(got, want), name
            else:
                got = V._apply_affine(t.clone(), np.array([V.affine_matrix(op, level, sign, 224, 224)]))[0].int()
                diff = (got - want).abs()
                assert diff.max() <= 1 and (diff > 0).float().mean() < 0.02, name
            if name.startswith("translate"):  # the exact whole-pixel path
                shifted = V._shift(t[0], V.translate_pixels(level, sign), axis=2 if name == "translate_x" else 1)
                assert torch.equal(shifted.int(), want), name


def test_batched_augmix_chains_match_pillow_chains():
    img = _samples(2)[1][1].resize((224, 224), Image.BICUBIC)
    t = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].repeat(6, 1, 1, 1)
    params = V.sample_augmix(np.random.default_rng(3), 6)
    chains = V.augmix_chains(t, params)
    for k in range(6):
        for j, chain in enumerate(R.pil_chains(img, params.view(k))):
            want = torch.from_numpy(np.array(chain)).permute(2, 0, 1).int()
            assert (chains[k, j].int() - want).abs().float().mean() < 0.1


def test_augmix_mixing_is_memos_formula():
    """m * norm(view) + (1 - m) * sum_j w_j * norm(chain_j), as MEMO writes it."""
    g = torch.Generator().manual_seed(0)
    views = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8, generator=g)
    chains = torch.randint(0, 256, (4, 3, 3, 8, 8), dtype=torch.uint8, generator=g)
    params = V.sample_augmix(np.random.default_rng(0), 4)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    norm = lambda t: (t.float() / 255 - mean) / std  # noqa: E731
    want = torch.stack([
        float(params.mix[k]) * norm(views[k:k + 1])[0]
        + (1 - float(params.mix[k])) * sum(float(params.weights[k, j]) * norm(chains[k, j:j + 1])[0] for j in range(3))
        for k in range(4)])
    assert torch.allclose(V.augmix_mix(views, chains, params, mean, std), want, atol=1e-4)


def test_views_are_a_function_of_seed_and_image_id():
    image = torch.from_numpy(np.array(_samples(1)[0][1])).permute(2, 0, 1)
    mean = torch.full((1, 3, 1, 1), 0.5)
    a = V.augmix_views(image, V.image_rng(0, "a.png"), 3, mean, mean)
    b = V.augmix_views(image, V.image_rng(0, "a.png"), 3, mean, mean)
    c = V.augmix_views(image, V.image_rng(0, "b.png"), 3, mean, mean)
    assert a.shape == (3, 3, 224, 224) and torch.equal(a, b) and not torch.equal(a, c)
    r = V.rrc_views(image, V.image_rng(1, "a.png"), 4)
    assert r.dtype == torch.uint8 and r.shape == (4, 3, 224, 224)
    boxes = V.rrc_boxes(np.random.default_rng(0), 640, 480, 200)
    area = boxes[:, 2] * boxes[:, 3] / (640 * 480)
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= 480).all()
    assert (boxes[:, 1] + boxes[:, 3] <= 640).all() and area.min() > 0.06 and area.max() <= 1.0


def test_rrc_views_are_pillows_crop_and_bicubic_resize():
    """The authors' views: torchvision's RandomResizedCrop(224, BICUBIC) on PIL images, i.e. each
    box cropped and resized by Pillow. Here on real photos, small and upscaled past 1000 pixels."""
    for k, (_, img, _) in enumerate(_samples(3)):
        for im in (img, img.resize((1200, 1200 * img.height // img.width), Image.BICUBIC)):
            image = torch.from_numpy(np.array(im)).permute(2, 0, 1).contiguous()
            views = V.rrc_views(image, V.image_rng(k, "x.png"), 6)
            boxes = V.rrc_boxes(V.image_rng(k, "x.png"), im.width, im.height, 6)
            for view, (top, left, h, w) in zip(views, boxes.tolist()):
                want = np.array(im.crop((left, top, left + w, top + h)).resize((224, 224), Image.BICUBIC))
                diff = np.abs(view.permute(1, 2, 0).numpy().astype(int) - want)
                # Pillow picks the order of its two passes itself; torch's uint8 kernel goes
                # horizontal first: rounding apart, within a level almost everywhere
                assert (diff > 1).mean() < 0.03 and diff.mean() < 0.3, (k, im.size, (h, w))


# -- MEMO on real weights ------------------------------------------------------------------------

def test_memo_restores_the_weights_exactly_after_each_image():
    cfg = TTAConfig(Setup("lite0", "samples"), methods=("memo-rrc",), views=2, lr=0.05)
    runner = MemoRunner(cfg, None)
    before = {k: v.clone() for k, v in runner.module.state_dict().items()}
    images = [img for _, img, _ in _samples(1)]
    adapted = []
    for i, img in enumerate(images):
        standard = np.array(img.resize((224, 224), Image.BICUBIC))
        for method in ("memo-rrc", "memo-augmix"):
            adapted.append(runner(method, img, standard, f"img{i}"))
            after = runner.module.state_dict()
            assert all(torch.equal(before[k], after[k]) for k in before), method
    # ... and the step did change the model while it lasted: lr 0 gives other logits.
    runner.memo.lr = 0.0
    standard = np.array(images[0].resize((224, 224), Image.BICUBIC))
    unadapted = runner("memo-rrc", images[0], standard, "img0")
    assert not np.allclose(unadapted, adapted[0], atol=1e-4)


def test_reversing_the_image_order_changes_nothing(tmp_path):
    rows = _samples(2)
    forward = _write_folder(tmp_path / "forward", rows)
    backward = tmp_path / "backward"
    backward.mkdir()
    for name, _, _ in rows:
        shutil.copy(forward / name, backward / name)
    _write_folder(backward, [(name, None, labels) for name, _, labels in reversed(rows)])
    common = dict(methods=("memo-rrc", "memo-augmix", "zoom-max"), views=2, lr=0.05,
                  transforms="s320-r0c0,s512-r2c2", progress=False)
    a = run_tta(TTAConfig(Setup("lite0", str(forward)), **common), log=lambda m: None)
    b = run_tta(TTAConfig(Setup("lite0", str(backward)), **common), log=lambda m: None)
    assert [r["image_id"] for r in a.images] == [r["image_id"] for r in reversed(b.images)]
    by_id = {r["image_id"]: r for r in b.images}
    for row in a.images:
        other = by_id[row["image_id"]]
        for key, value in row.items():
            if key.endswith("_prob"):
                assert value == pytest.approx(other[key], abs=1e-6), key
            else:
                assert value == other[key], key
    same = lambda r: (r["method"], r["n"], r["top1"], r["baseline_top1"])  # noqa: E731
    assert [same(r) for r in a.results] == [same(r) for r in b.results]


@pytest.mark.parametrize("subset", ["imagenet-a", "objectnet", "objectnet-groups"])
def test_a_class_subset_limits_every_method(two_samples, subset):
    report = run_tta(TTAConfig(Setup("lite0", str(two_samples), subset=subset), methods=("memo-rrc", "zoom-max"),
                               views=2, transforms="s256-r1c1,s512-r0c0", progress=False),
                     log=lambda m: None)
    allowed = set(class_space(subset).members.ravel().tolist())
    assert len(allowed) == {"imagenet-a": 200, "objectnet": 113, "objectnet-groups": 125}[subset]
    for row in report.images:
        assert {row["baseline_top1"], row["memo-rrc_top1"], row["zoom-max_top1"]} <= allowed


def test_objectnet_methods_choose_among_its_113_classes_as_bench_does():
    """Under --subset objectnet-groups every method ranks the 113 ObjectNet classes, each by the best
    logit of its ImageNet classes, as sweep and bench score them: MEMO's loss included."""
    space = objectnet_space()
    mapping = objectnet_to_imagenet()
    clock, bicycle = mapping["Alarm clock"], mapping["Bicycle"]
    logits = np.zeros((2, 1000), np.float32)
    logits[:, wnid_index()["n02123045"]] = 99.0   # tabby: no ObjectNet class
    logits[0, clock[0]] = 5.0
    logits[0, list(bicycle)] = 4.0                # two members at 4.0 count once
    logits[1, bicycle[1]] = 6.0
    probs, members = choice_probs(logits, space)
    assert probs.shape == members.shape == (2, 113)
    s = score(logits, bicycle, space.allowed, space.groups)
    np.testing.assert_allclose(-np.sort(-probs, axis=1)[:, :5], s["top5_prob"], rtol=1e-5)
    b = space.group_names.index("Bicycle")
    assert members[1, b] == bicycle[1] and members[0, b] in bicycle
    assert probs[:, b].mean() > probs[:, space.group_names.index("Alarm clock")].mean()  # zoom-mean's pick
    group_max = np.array([[logits[v, list(g)].max() for g in space.groups] for v in range(2)], np.float64)
    memo = Memo(torch.nn.Linear(2, 1000), members=space.members)
    assert memo.loss(torch.tensor(logits, dtype=torch.float64)).item() == pytest.approx(
        marginal_entropy(torch.tensor(group_max)).item(), abs=1e-12)


def test_memo_on_the_torch_classifier_shares_its_module_and_leaves_it_as_found(two_samples):
    """With a torch classifier, MEMO adapts that very module (no second copy of the weights):
    its results equal MEMO on a separately loaded module (the ONNX backend's case), and the
    zoom method run after it on the same module sees the original weights."""
    common = dict(views=2, lr=0.05, transforms="s320-r0c0,s512-r2c2", progress=False)
    onnx, torch_ = Setup("lite0", str(two_samples), backend="onnx"), Setup("lite0", str(two_samples), backend="torch")
    separate = run_tta(TTAConfig(onnx, methods=("memo-rrc", "zoom-max"), **common), log=lambda m: None)
    shared = run_tta(TTAConfig(torch_, methods=("memo-rrc", "zoom-max"), **common), log=lambda m: None)
    alone = run_tta(TTAConfig(torch_, methods=("zoom-max",), **common), log=lambda m: None)
    for a, b, c in zip(separate.images, shared.images, alone.images):
        assert a["memo-rrc_top1"] == b["memo-rrc_top1"]
        assert a["memo-rrc_prob"] == pytest.approx(b["memo-rrc_prob"], abs=1e-5)
        assert (b["baseline_top1"], b["zoom-max_top1"]) == (c["baseline_top1"], c["zoom-max_top1"])
        assert b["zoom-max_prob"] == pytest.approx(c["zoom-max_prob"], abs=1e-6)


# -- zoom ensembles --------------------------------------------------------------------------------

def test_parse_transforms(tmp_path):
    assert len(parse_transforms(None)) == 26 * 9 and all(z.scale > 224 for z in parse_transforms(None))
    assert [z.id for z in parse_transforms("s256-r1c1, s384-r0c2")] == ["s256-r1c1", "s384-r0c2"]
    analysis = tmp_path / "analysis.json"
    analysis.write_text(json.dumps({"min_cover": [{"id": "s512-r0c0"}, {"id": "s256-r1c1"}, {"id": "s64-r2c2"}]}))
    assert [z.id for z in parse_transforms(f"{analysis}:2")] == ["s512-r0c0", "s256-r1c1"]
    assert len(parse_transforms(str(analysis))) == 3
    for bad in ("s256-r3c1", "zoom", f"{tmp_path}/missing.json"):
        with pytest.raises(ValueError):
            parse_transforms(bad)


def test_zoom_max_finds_samples_planted_small_and_off_centre(tmp_path):
    """Each photo shrunk to 220 px and pasted near the top-left corner of a black 1024 x 1024
    canvas: the standard crop sees a speck, the zoom-in transforms find it."""
    rows = []
    for name, img, labels in _samples():
        img = img.copy()
        img.thumbnail((220, 220), Image.BICUBIC)
        canvas = Image.new("RGB", (1024, 1024))
        canvas.paste(img, (60, 60))
        rows.append((name, canvas, labels))
    folder = _write_folder(tmp_path / "planted", rows)
    # Every anchor of three zoom-in scales (27 of the default 234 transforms, to stay quick).
    zooms = ",".join(f"s{s}-r{r}c{c}" for s in (448, 640, 1024) for r in range(3) for c in range(3))
    report = run_tta(TTAConfig(Setup("lite0", str(folder)), methods=("zoom-max", "zoom-mean"), transforms=zooms,
                               progress=False), log=lambda m: None)
    zmax = report.results[0]
    assert zmax["n"] == len(rows)
    assert zmax["top1"] >= zmax["baseline_top1"] + 0.3, report.results


# -- the command -------------------------------------------------------------------------------------

def test_cli_json_shape(two_samples, capsys):
    args = ["tta", "-m", "lite0", "-d", str(two_samples), "--views", "2", "--transforms", "s256-r1c1,s384-r0c0",
            "--json", "--no-progress"]
    assert main(args + ["--method", "memo-rrc,zoom-mean"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out, list) and [r["method"] for r in out] == ["memo-rrc", "zoom-mean"]
    for r in out:
        assert set(r) == {"method", "n", "top1", "baseline_top1", "seconds_per_image", "views", "protocol",
                          "weights_tag", "top1_ci", "vs_baseline"}
        assert r["views"] == 2 and r["protocol"] == "native"   # MEMO's views; the zoom method's two transforms
        assert r["n"] == 2 and 0 <= r["top1"] <= 1 and 0 <= r["baseline_top1"] <= 1 and r["seconds_per_image"] > 0
    assert main(args + ["--method", "zoom-max"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert isinstance(one, dict) and one["method"] == "zoom-max" and one["baseline_top1"] == out[0]["baseline_top1"]


def test_unknown_method_is_one_line_listing_the_methods(capsys):
    assert main(["tta", "-m", "lite0", "-d", "samples", "--method", "memo,zoom-max"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "memo" in err and all(m in err for m in METHODS)


def test_gradient_methods_on_an_onnx_file_say_so(tmp_path, capsys):
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"not really")
    assert main(["tta", "-m", f"onnx:{onnx}", "-d", "samples", "--method", "memo-rrc", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "gradients" in err and "torch" in err


# -- the shared setup: ReaL labels, normalisation, images that cannot be used ----------------------

def _val_folder(folder):
    """Three val-named photos whose original labels are wrong for the cat and the coffee, a file
    that is no image, and a labels.csv row naming a file that is not there."""
    folder.mkdir()
    for i, rel in enumerate(["data/chelsea.png", "data/coffee.png", "data/camera.png"], start=1):
        Image.open(sample_path("skimage", rel)).convert("RGB").save(folder / f"ILSVRC2012_val_{i:08d}.JPEG")
    (folder / "ILSVRC2012_val_00000004.JPEG").write_bytes(b"\xff\xd8 not a jpeg after all")
    (folder / "labels.csv").write_text("image,labels\nILSVRC2012_val_00000001.JPEG,1\nILSVRC2012_val_00000002.JPEG,2\n"
                                       "ILSVRC2012_val_00000003.JPEG,872\nILSVRC2012_val_00000004.JPEG,3\n"
                                       "ILSVRC2012_val_00000005.JPEG,4\n")
    return folder


def test_tta_scores_real_labels_and_records_images_it_cannot_use(tmp_path):
    folder = _val_folder(tmp_path / "val")
    real = tmp_path / "real.json"
    real.write_text(json.dumps([[281, 282, 285], [], [872], [3], [4]]))
    common = dict(methods=("zoom-mean",), transforms="s256-r1c1", progress=False, workers=2)
    plain = run_tta(TTAConfig(Setup("lite0", str(folder)), **common), log=lambda m: None)
    both = run_tta(TTAConfig(Setup("lite0", str(folder), real_labels=str(real)), **common), log=lambda m: None)
    only = run_tta(TTAConfig(Setup("lite0", str(folder), real_labels=str(real), real_mode="real"), **common),
                   log=lambda m: None)
    # the same images and predictions each time; only the labels they are scored against differ
    assert [r["image_id"] for r in plain.images] == [r["image_id"] for r in both.images]
    assert [r["baseline_top1"] for r in plain.images] == [r["baseline_top1"] for r in both.images]
    assert (plain.results[0]["n"], plain.results[0]["baseline_top1"]) == (3, pytest.approx(1 / 3))
    assert (both.results[0]["n"], both.results[0]["baseline_top1"]) == (3, pytest.approx(2 / 3))  # ReaL: the cat
    assert both.images[0]["labels"] == [1, 281, 282, 285]
    assert (only.results[0]["n"], only.results[0]["baseline_top1"]) == (2, 1.0)  # ReaL leaves the coffee unlabelled
    assert only.skipped["ILSVRC2012_val_00000002.JPEG"] == "no ImageNet-1k label"
    # one zoom transform, the standard one: zoom-mean is the baseline itself
    assert all(r["zoom-mean_top1"] == r["baseline_top1"] for r in both.images)
    # the file that is no image and the missing one are recorded with their reasons; the rest went on
    for report in (plain, both, only):
        assert {"ILSVRC2012_val_00000004.JPEG", "ILSVRC2012_val_00000005.JPEG"} <= set(report.skipped)
    assert "image" in plain.skipped["ILSVRC2012_val_00000004.JPEG"]
    assert "not found" in plain.skipped["ILSVRC2012_val_00000005.JPEG"] or "missing" in plain.skipped[
        "ILSVRC2012_val_00000005.JPEG"]


def test_tta_cli_takes_the_setup_options_sweep_and_bench_take(tmp_path, capsys):
    folder = _val_folder(tmp_path / "val")
    real = tmp_path / "real.json"
    real.write_text(json.dumps([[281, 282, 285], [], [872], [3], [4]]))
    args = ["tta", "-m", "lite0", "-d", str(folder), "--method", "zoom-max", "--transforms", "s256-r1c1",
            "--real-labels", str(real), "--workers", "1", "--batch-size", "8", "--json", "--no-progress"]
    assert main(args) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert (out["n"], out["baseline_top1"]) == (3, pytest.approx(2 / 3))
    assert "skipped 2 of 5 images" in captured.err


def test_memo_normalises_as_the_classifier_does(two_samples, tmp_path, monkeypatch):
    """(Its own export cache: an ONNX lite0 with another normalisation must not land where other
    tests look for lite0's.)"""
    from zoomhard.config import open_classifier

    monkeypatch.setenv("ZOOMHARD_CACHE", str(tmp_path / "cache"))
    cfg = TTAConfig(Setup("lite0", str(two_samples), backend="onnx", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)),
                    methods=("memo-rrc",), progress=False)
    classifier = open_classifier(cfg.setup, "tta")
    assert classifier.backend == "onnxruntime" and classifier.preprocess.mean == (0.5, 0.5, 0.5)
    runner = MemoRunner(cfg, None, classifier)
    assert runner.mean.flatten().tolist() == [0.5, 0.5, 0.5] and runner.std.flatten().tolist() == [0.25] * 3
    assert isinstance(cfg.setup, Setup) and cfg.setup.mean == (0.5, 0.5, 0.5)
