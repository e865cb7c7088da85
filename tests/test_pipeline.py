"""The shared hot loop on real photos: decode in threads, in order, one typed result per image,
an unusable image recorded with its reason while the rest go on; batched logits equal the
classifier's on the same crops."""

import numpy as np
import pytest
from PIL import Image, ImageOps

from zoomhard.data import open_source
from zoomhard.data.samples import SAMPLES, sample_path
from zoomhard.pipeline import NO_LABEL, Batcher, ImageCrops, Prepared, classify, prefetch


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The sample photos, with a file that is no image and an unlabelled photo between them."""
    root = tmp_path_factory.mktemp("photos")
    lines = []
    for i, (name, package, rel, labels) in enumerate(SAMPLES):
        (root / name).symlink_to(sample_path(package, rel))
        lines.append(f"{name},{';'.join(map(str, labels))}")
        if i == 1:
            (root / "broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
            lines.append("broken.jpg,281")
        if i == 3:
            (root / "unlabelled.png").symlink_to(sample_path(package, rel))
            lines.append("unlabelled.png,")
    (root / "labels.csv").write_text("image,labels\n" + "\n".join(lines) + "\n")
    return root


def test_prefetch_keeps_order_and_types_each_failure(folder):
    source = open_source(str(folder))
    got = list(prefetch(source, np.asarray, workers=3))
    assert [p.item.image_id for p in got] == [it.image_id for it in source]
    assert all(isinstance(p, Prepared) for p in got)
    by_id = {p.item.image_id: p for p in got}

    broken = by_id["broken.jpg"]
    assert not broken.ok and broken.data is None and not broken.unlabelled
    assert "not an image" in broken.reason
    unlabelled = by_id["unlabelled.png"]
    assert unlabelled.unlabelled and unlabelled.reason == NO_LABEL and unlabelled.data is None

    good = [p for p in got if p.ok]
    assert len(good) == len(SAMPLES)
    for p in good:
        with Image.open(folder / p.item.image_id) as im:
            expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        assert p.size == (expected.shape[1], expected.shape[0])
        assert np.array_equal(p.data, expected), p.item.image_id


def test_classify_gives_every_usable_image_its_logits_once(folder):
    from zoomhard.models import load_classifier

    classifier = load_classifier("lite0")
    source = open_source(str(folder))

    def centre(img):  # one 224 crop from the middle of the photo
        small = img.resize((256, 256))
        return np.asarray(small)[16:240, 16:240]

    def crops_of(p):  # two crops per image: batches of 3 split images across calls
        crops = np.stack([p.data, p.data[:, ::-1]])
        return ImageCrops(p.item, p.size, crops, np.empty((2, classifier.num_classes), np.float32), 2)

    batcher = Batcher(classifier, batch_size=3, crop=224)
    events, done = [], []
    prepared = list(prefetch(source, centre, workers=2))
    try:
        for p, completed in classify(prepared, batcher, crops_of):
            events.append(p)
            if p is not None and not p.ok:
                assert completed == []
            done += completed
    finally:
        batcher.close()
    assert events[:-1] == prepared and events[-1] is None
    ok = [p for p in prepared if p.ok]
    assert [im.item.image_id for im in done] == [p.item.image_id for p in ok]
    for p, im in zip(ok, done):
        expected = classifier.logits(np.stack([p.data, p.data[:, ::-1]]))
        assert np.allclose(im.logits, expected, atol=1e-4), p.item.image_id
