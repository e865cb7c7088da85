"""The figures as a reader sees them: curves at 100 % inside the frame, legends beside the data
rather than over it, a short cover drawn as a curve, titles without plotting jargon."""

import matplotlib.pyplot as plt
import pytest

from zoomhard.report import figures as F
from zoomhard.report.analyze import analyze_run
from zoomhard.reproduce import figures as study_figures


@pytest.fixture(scope="module")
def analysis(samples_run, tmp_path_factory):
    return analyze_run(samples_run, figures=False, out=tmp_path_factory.mktemp("analysis")).result


@pytest.fixture
def drawn(monkeypatch):
    """The figures the drawing functions would close, kept open to be read."""
    kept, close = [], plt.close
    monkeypatch.setattr(plt, "close", kept.append)
    yield kept
    for fig in kept:
        close(fig)


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _legend_outside(fig, ax) -> bool:
    fig.canvas.draw()
    legend = ax.get_legend()
    return legend is not None and not _overlaps(legend.get_window_extent(), ax.get_window_extent())


def _texts(fig) -> str:
    return " ".join([t.get_text() for t in fig.texts] + [ax.get_title() for ax in fig.axes]
                    + [ax.get_xlabel() + " " + ax.get_ylabel() for ax in fig.axes])


def test_a_one_transform_cover_is_a_curve_from_none_to_all_with_room_around_it(analysis, drawn, tmp_path):
    assert analysis.cover_size == 1   # the bundled photos: one framing solves all six
    assert F.cover_curve(analysis, tmp_path, tmp_path / "c.png")
    [fig] = drawn
    ax = fig.axes[0]
    x, y = ax.lines[0].get_data()
    assert list(x) == [0, 1] and list(y) == [0, 100]
    assert ax.get_xlim()[0] == 0 and ax.get_xlim()[1] >= 5
    assert ax.get_ylim()[1] > 100                    # the 100 % curve is not drawn on the frame
    assert _legend_outside(fig, ax)
    assert "1 transform covers every solvable image" in ax.get_title()


def test_accuracy_vs_scale_keeps_its_legend_off_the_data_and_100_inside_the_frame(analysis, drawn, tmp_path):
    assert F.scale_curves(analysis, tmp_path, tmp_path / "s.png")
    [fig] = drawn
    ax = fig.axes[0]
    assert max(max(line.get_ydata()) for line in ax.lines[:2]) == 100
    assert ax.get_ylim() == (0, F.PERCENT_TOP) and F.PERCENT_TOP > 100
    assert _legend_outside(fig, ax)


def test_the_study_page_scale_curves_do_the_same(analysis, drawn, tmp_path):
    study_figures.scale_curves("samples", [("lite0", analysis), ("again", analysis)], tmp_path / "s.png")
    [fig] = drawn
    ax = fig.axes[0]
    assert ax.get_ylim()[1] > 100 and _legend_outside(fig, ax)
    assert len(ax.get_legend().get_texts()) == 4


@pytest.mark.parametrize("figure", ["spatial_bias", "top_histograms", "cover_curve", "scale_curves"])
def test_titles_and_labels_speak_plainly(analysis, drawn, tmp_path, figure):
    assert getattr(F, figure)(analysis, tmp_path, tmp_path / "f.png")
    text = _texts(drawn[0])
    for jargon in ("imshow", "origin=", "row 0", "visibility mask", "pick)"):
        assert jargon not in text, (jargon, text)
    assert "lite0 on 6 images" in text


def test_a_short_cover_is_not_called_its_first_36(analysis, drawn, tmp_path):
    assert F.top_histograms(analysis, tmp_path, tmp_path / "h.png")
    text = _texts(drawn[0])
    assert "The greedy cover's 1 transform" in text and "first 36" not in text
