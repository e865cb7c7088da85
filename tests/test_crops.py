import numpy as np
import pytest
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

from badimages import sample, write_awkward
from zoomhard.crops import ImageDecodeError, decode_image, grid_crops, zoom_crop, zoom_crops
from zoomhard.grid import Zoom, ZoomGrid, crop_origin


def reference_crop(img: Image.Image, zoom: Zoom) -> np.ndarray:
    """torchvision's PIL path: Resize(scale, bicubic) then crop with zero padding."""
    resized = T.Resize(zoom.scale, interpolation=T.InterpolationMode.BICUBIC)(img)
    left, top = crop_origin(*img.size, zoom)
    return np.asarray(F.crop(resized, top, left, 224, 224))


def reference_grid(img: Image.Image, grid: ZoomGrid) -> np.ndarray:
    """reference_crop for every transform of `grid`, each scale resized once."""
    out = []
    for s in grid.scales:
        resized = T.Resize(s, interpolation=T.InterpolationMode.BICUBIC)(img)
        for r in range(grid.rows):
            for c in range(grid.cols):
                left, top = crop_origin(*img.size, Zoom(s, r, c), grid.crop, grid.rows, grid.cols)
                out.append(np.asarray(F.crop(resized, top, left, grid.crop, grid.crop)))
    return np.stack(out)


def assert_equal_to_reference(img: Image.Image, grid: ZoomGrid, what: str) -> None:
    ours, ref = grid_crops(img, grid), reference_grid(img, grid)
    assert ours.shape == ref.shape == (len(grid), grid.crop, grid.crop, 3) and ours.dtype == np.uint8
    for k, zoom in enumerate(grid):
        diff = np.abs(ours[k].astype(int) - ref[k].astype(int)).max()
        assert diff == 0, f"{what} {img.size} {zoom}: differs by {diff}/255"


@pytest.mark.parametrize("name", ["chelsea.png", "motorcycle_left.png"])
def test_all_324_crops_equal_torchvision_pil(name):
    img = sample(name)
    grid = ZoomGrid()
    ours = grid_crops(img, grid)
    assert ours.shape == (324, 224, 224, 3) and ours.dtype == np.uint8
    ref = reference_grid(img, grid)
    for k, zoom in enumerate(grid):
        diff = np.abs(ours[k].astype(int) - ref[k].astype(int)).max()
        assert diff == 0, f"{name} {zoom}: differs by {diff}/255"


def test_portrait_image_crops_match():
    img = sample("coffee.png").transpose(Image.Transpose.ROTATE_90)  # 400 x 600
    grid = ZoomGrid(scales=(10, 224, 333, 601, 1024))
    ours = grid_crops(img, grid)
    for k, zoom in enumerate(grid):
        assert np.array_equal(ours[k], reference_crop(img, zoom)), zoom


# Only some source rows are resampled horizontally (those the crops' vertical kernels reach)
# and the vertical pass only under the crops: every shape of gap between crop rows and columns,
# reductions and enlargements, and crops flush with the borders (scale 672 on a landscape).
@pytest.mark.parametrize("name, size", [
    ("grace_hopper.jpg", None),            # 512 x 600 portrait, enlarged at most scales
    ("rocket.jpg", (611, 173)),            # a wide strip: short side reduced and enlarged
    ("coffee.png", (157, 233)),            # a small portrait: everything enlarged
])
def test_every_scale_equals_torchvision_pil_on_other_shapes(name, size):
    img = sample(name) if size is None else sample(name).resize(size, Image.BICUBIC)
    assert_equal_to_reference(img, ZoomGrid(), name)


@pytest.mark.parametrize("size", [(3000, 2000), (1500, 2600)])
def test_large_photos_equal_torchvision_pil(size):
    img = sample("chelsea.png").resize(size, Image.BICUBIC)
    assert_equal_to_reference(img, ZoomGrid(scales=(10, 235, 672, 700, 911, 1024)), "large")


def test_other_grids_equal_torchvision_pil():
    # crops smaller than the gaps between anchors and a grid of its own shape
    img = sample("motorcycle_left.png")
    assert_equal_to_reference(img, ZoomGrid(scales=(96, 448, 911), rows=4, cols=2, crop=96), "4x2 grid")


def test_a_panorama_far_wider_than_it_is_tall_is_exact():
    img = sample("rocket.jpg").resize((2000, 40))  # 51200 x 1024 at scale 1024, never built
    assert_equal_to_reference(img, ZoomGrid(scales=(48, 1024)), "panorama")


def test_zoom_out_is_a_small_image_on_black():
    img = sample("chelsea.png")  # 451 x 300 -> 15 x 10 at scale 10
    crop = zoom_crop(img, Zoom(10, 1, 1))
    lit = np.argwhere(crop.max(axis=2) > 0)
    assert crop[:100].max() == 0 and crop[:, :100].max() == 0
    (y0, x0), (y1, x1) = lit.min(0), lit.max(0)
    assert (y1 - y0 + 1, x1 - x0 + 1) == (10, 15)


def test_panorama_is_cropped_without_building_the_huge_resize():
    # 2000 x 40 at scale 1024 would be 51200 x 1024 = 52 M pixels: only the crops are resampled
    img = sample("rocket.jpg").resize((2000, 40))
    zoom = Zoom(1024, 1, 1)
    ours = zoom_crop(img, zoom)
    ref = reference_crop(img, zoom)
    assert np.abs(ours.astype(int) - ref.astype(int)).max() <= 2


def test_awkward_files_decode_or_say_why(tmp_path):
    expected = write_awkward(tmp_path)
    for name, outcome in expected.items():
        if outcome == "ok":
            img = decode_image(tmp_path / name)
            assert img.mode == "RGB", name
        else:
            with pytest.raises(ImageDecodeError, match=outcome):
                decode_image(tmp_path / name)


def test_exif_orientation_and_bit_depth_are_honoured(tmp_path):
    write_awkward(tmp_path)
    cat = sample("chelsea.png")
    rotated = decode_image(tmp_path / "exif_rotated.jpg")
    assert rotated.size == cat.size  # turned back upright
    diff = np.abs(np.asarray(rotated, dtype=int) - np.asarray(cat, dtype=int)).mean()
    assert diff < 8, "the EXIF orientation was not applied"
    g16 = np.asarray(decode_image(tmp_path / "gray16.png"))
    g8 = np.asarray(cat.convert("L"))
    assert np.abs(g16[..., 0].astype(int) - g8).max() <= 1, "16-bit must be rescaled, not clipped"
    assert decode_image((tmp_path / "plain.jpg").read_bytes()).size == cat.size  # bytes work too


def test_device_crops_match_the_pil_path():
    from zoomhard.crops import device_grid_crops

    img = sample("rocket.jpg")
    grid = ZoomGrid()
    ours = grid_crops(img, grid).astype(int)
    device = device_grid_crops(np.asarray(img), grid, "cpu").numpy().astype(int)
    diff = np.abs(ours - device)
    assert diff.max() <= 2 and (diff > 0).mean() < 1e-3


def test_device_crops_of_a_large_photo_match_the_pil_path_at_every_reduction():
    """A 2 MP photo zoomed out to 10 pixels is a 150x reduction: each output pixel then weighs
    hundreds of source pixels, which CUDA's antialiased interpolation refuses (too much shared
    memory); the device path must still give Pillow's pixels."""
    from zoomhard.crops import device_grid_crops

    img = sample("rocket.jpg").resize((1632, 1224), Image.BICUBIC)
    grid = ZoomGrid(scales=(10, 64, 1024))
    ours = grid_crops(img, grid).astype(int)
    device = device_grid_crops(np.asarray(img), grid, "cpu").numpy().astype(int)
    diff = np.abs(ours - device)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-4


def test_zoom_crops_are_the_named_transforms_in_the_order_given():
    img = sample("coffee.png")
    grid = ZoomGrid()
    zooms = [Zoom(512, 2, 0), Zoom(96, 1, 1), Zoom(512, 0, 2), Zoom(256, 1, 1)]
    crops = zoom_crops(img, zooms, grid)
    assert crops.shape == (4, 224, 224, 3)
    for crop, zoom in zip(crops, zooms):
        assert np.array_equal(crop, reference_crop(img, zoom)), zoom
