import pytest

from zoomhard.grid import STUDY_SCALES, Zoom, ZoomGrid, anchor, crop_origin, resized_size


def test_study_grid_is_36_scales_by_3x3():
    grid = ZoomGrid()
    assert len(STUDY_SCALES) == 36 and len(set(STUDY_SCALES)) == 36
    assert len(grid) == 324 == len(list(grid))
    assert grid.standard == Zoom(256, 1, 1)
    zooms = list(grid)
    assert zooms == sorted(zooms), "canonical order: scale, then row, then col"
    assert zooms[0] == Zoom(10, 0, 0) and zooms[1] == Zoom(10, 0, 1) and zooms[3] == Zoom(10, 1, 0)


@pytest.mark.parametrize("zoom", [Zoom(256, 1, 1), Zoom(10, 0, 2), Zoom(1024, 2, 0)])
def test_zoom_id_round_trips(zoom):
    assert Zoom.parse(zoom.id) == zoom
    assert str(Zoom(256, 1, 1)) == "s256-r1c1"


def test_bad_zoom_id_says_what_is_expected():
    with pytest.raises(ValueError, match="s256-r1c1"):
        Zoom.parse("256-1-1")


@pytest.mark.parametrize("size,scale,expected", [
    ((451, 300), 256, (384, 256)),     # landscape: int(256 * 451 / 300) = 384
    ((300, 451), 256, (256, 384)),     # portrait
    ((512, 512), 10, (10, 10)),        # square
    ((1, 1), 1024, (1024, 1024)),      # 1 x 1 pixel
    ((641, 427), 911, (1367, 911)),    # int() truncates 1367.5...
])
def test_resize_keeps_aspect_like_torchvision(size, scale, expected):
    assert resized_size(*size, scale) == expected


def test_anchor_goldens_integer_division():
    # 384 x 256: tile 128 x 85 -> x = 64, 192, 320; y = 42, 127, 212
    assert [anchor(384, 256, 0, c)[0] for c in range(3)] == [64, 192, 320]
    assert [anchor(384, 256, r, 0)[1] for r in range(3)] == [42, 127, 212]
    # odd sizes: 10 x 13 -> tiles 3 x 4
    assert anchor(10, 13, 2, 2) == (7, 10)
    # fewer pixels than anchors: every anchor sits at 0
    assert anchor(2, 2, 2, 2) == (0, 0)


def test_crop_origins_edges_and_small_scales():
    # chelsea (451 x 300) at the standard transform: resized 384 x 256, centre anchor (192, 127)
    assert crop_origin(451, 300, Zoom(256, 1, 1)) == (80, 15)
    # the bottom-right anchor at 1024: resized 1539 x 1024, tiles 513 x 341 -> (1282, 852)
    assert crop_origin(451, 300, Zoom(1024, 2, 2)) == (1282 - 112, 852 - 112)
    # scale 10: a 15 x 10 image; the crop starts far outside it (zoom-out on a black canvas)
    assert crop_origin(451, 300, Zoom(10, 0, 0)) == (2 - 112, 1 - 112)


def test_grid_options():
    g = ZoomGrid(scales=(512, 224, 224), rows=2, cols=4, crop=128)
    assert g.scales == (224, 512) and len(g) == 16
    assert Zoom(512, 1, 3) in g and Zoom(512, 2, 0) not in g
    assert ZoomGrid.from_dict(g.to_dict()) == g
    assert ZoomGrid.parse_scales("study") == STUDY_SCALES
    assert ZoomGrid.parse_scales("64:256:64") == (64, 128, 192, 256)
    assert ZoomGrid.parse_scales("224, 256") == (224, 256)
    assert ZoomGrid(scales=(100, 300)).standard == Zoom(300, 1, 1)
