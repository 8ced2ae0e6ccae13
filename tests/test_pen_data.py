"""Real pen handwriting: the UNIPEN parser, the writer-disjoint split, rendering as the pad delivers a drawing,
the training renders' writers, and a floor on held-out writers (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_demo.drawing import pen_data as P
from mnist_demo.drawing import pen_renders as R
from mnist_demo.drawing.preprocess import preprocess
from tests.support.data import needs_pen

FIXTURE = """.INCLUDE        dene.doc

.LEXICON "0" "1" "2" "3" "4" "5" "6" "7" "8" "9"
.HIERARCHY      DIGIT

.SEGMENT DIGIT    0 ? "7"
.COMMENT 7 12  224
.PEN_DOWN
 100  400
 300  400
 200  100
.PEN_UP
.PEN_DOWN
 150  250
 260  250
.PEN_UP

.SEGMENT DIGIT    1 ? "1"
.COMMENT 1 3  5
.PEN_DOWN
 250  450
 250  60
.PEN_UP
"""


def test_parser_reads_labels_writers_and_every_stroke() -> None:
    seven, one = P.parse_unipen(FIXTURE)
    assert (seven.label, seven.writer, seven.sample) == (7, 12, 224)
    assert (one.label, one.writer, one.sample) == (1, 3, 5)
    assert [len(s) for s in seven.strokes] == [3, 2]  # the crossbar is a second stroke
    # y grows up on the tablet and down on the canvas: the 7's top bar must come out above its foot
    top_bar, foot = seven.strokes[0][0], seven.strokes[0][2]
    assert top_bar[1] < foot[1]
    np.testing.assert_array_equal(seven.strokes[1], [[150, -250], [260, -250]])


@pytest.mark.parametrize("text,match", [
    (FIXTURE.replace(".COMMENT 7 12  224", ".COMMENT 12 12 224"), "line 7: label 12 is not a digit"),
    (FIXTURE.replace(" 300  400", " 300  x"), "line 10"),
    (FIXTURE.replace(".PEN_DOWN\n 250  450", " 250  450"), "a point outside"),
    (FIXTURE.replace(".PEN_DOWN\n 250  450\n 250  60\n.PEN_UP\n", ""), "has no strokes"),
])
def test_a_malformed_file_names_the_line(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        P.parse_unipen(text)


def test_missing_or_bad_pen_data_gives_a_clear_error_and_the_app_still_predicts(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PEN_DATA_DIR", str(tmp_path))  # a folder without the file
    P._load.cache_clear()
    with pytest.raises(P.PenDataUnavailableError, match="PEN_DATA_DIR"):
        P.load_pen_digits()
    assert P.pen_data_available() is False
    (tmp_path / P.FILE_NAME).write_text("this is not\npen data\n")
    with pytest.raises(P.PenDataUnavailableError, match="not UNIPEN pen data: pen data line 1"):
        P.load_pen_digits()
    P._load.cache_clear()
    # Nothing at run time needs it: the committed models still read a drawing.
    from mnist_demo.predict import predict_digit

    img = P.render_pen(P.parse_unipen(FIXTURE)[1].strokes, P.PenSpec())
    assert max(predict_digit(img, "lenet5").items(), key=lambda kv: kv[1])[0] == "1"


def test_the_split_is_writer_disjoint_and_covers_the_thirty_writers() -> None:
    assert not set(P.TRAIN_WRITERS) & set(P.HELD_OUT_WRITERS)
    assert set(P.TRAIN_WRITERS) | set(P.HELD_OUT_WRITERS) == set(range(1, 31))


@needs_pen
def test_the_real_file_splits_by_writer() -> None:
    train, held = P.load_pen_digits(P.TRAIN_WRITERS), P.load_pen_digits(P.HELD_OUT_WRITERS)
    assert len(train) + len(held) == len(P.load_pen_digits()) == 7494
    assert {d.writer for d in train} == set(P.TRAIN_WRITERS) and {d.writer for d in held} == set(P.HELD_OUT_WRITERS)
    assert 1400 <= len(held) <= 1600 and {d.label for d in held} == set(range(10))


@pytest.mark.parametrize("background", ["white", "transparent"])
@pytest.mark.parametrize("canvas", [280, 800])
def test_a_rendered_digit_has_the_pads_format_and_survives_preprocessing(background: str, canvas: int) -> None:
    seven = P.parse_unipen(FIXTURE)[0]
    img = P.render_pen(seven, P.PenSpec(canvas=canvas, height_frac=0.5, cx=0.3, cy=0.7, radius=9, slant=0.2,
                                        background=background))
    assert img.shape == (canvas, canvas, 4) and img.dtype == np.uint8
    ink = img[..., 3] > 0 if background == "transparent" else img[..., 0] == 0
    if background == "transparent":  # the pad sends RGB 0 under alpha 0
        assert (img[~ink] == 0).all() and (img[ink][:, 3] == 255).all()
    else:
        assert (img[..., 3] == 255).all() and set(np.unique(img[..., 0])) == {0, 255}
    ys, xs = np.nonzero(ink)
    assert 0.45 * canvas <= ys.max() - ys.min() <= 0.6 * canvas  # height_frac plus the pen
    assert ys.mean() > 0.55 * canvas and xs.mean() < 0.45 * canvas  # placed low and left as asked
    pre = preprocess(img)
    assert pre is not None and pre.image.shape == (28, 28) and pre.image.max() > 0.9


def test_random_specs_cover_both_canvases_every_brush_and_stay_legible() -> None:
    rng = np.random.default_rng(0)
    specs = [P.random_pen_spec(rng) for _ in range(600)]
    assert {s.canvas for s in specs} == {280, 800}
    assert {s.radius for s in specs} == set(P.BRUSH_RADII)
    assert {s.background for s in specs} == {"white", "transparent"}
    assert all(2 * s.radius <= 0.22 * s.height_frac * s.canvas or s.radius == P.BRUSH_RADII[0] for s in specs)


def test_style_edits_add_what_people_write() -> None:
    seven, one = P.parse_unipen(FIXTURE)
    rng = np.random.default_rng(1)
    flagged = R.style_edit(list(one.strokes), 1, rng)
    assert len(flagged) >= 2 and flagged[0][-1][1] == one.strokes[0][:, 1].min()  # the flag ends at the 1's top
    assert len(R.style_edit(list(seven.strokes), 7, rng)) == 3  # a crossbar stroke
    nine = [np.array([[0, 0], [10, -10], [0, -20], [-10, -10], [0, 0], [0, 40]], np.float32)]
    curled = R.style_edit(nine, 9, rng)
    assert len(curled[0]) > len(nine[0]) and curled[0][-1][0] < 0  # the tail hooks left
    four = [np.array([[10, 0], [0, 30], [30, 30]], np.float32), np.array([[25, 10], [25, 50]], np.float32)]
    opened = R.style_edit(four, 4, rng)
    assert abs(opened[0][0][0] - 0) <= 3  # the diagonal is now (nearly) upright: an open top


def test_resampling_keeps_the_ends_and_the_spacing() -> None:
    line = np.array([[0, 0], [100, 0]], np.float32)
    r = R.resample(line, 10)
    np.testing.assert_allclose(r[[0, -1]], line)
    np.testing.assert_allclose(np.diff(r[:, 0]), 10, atol=1e-4)


def test_training_renders_use_only_the_training_writers(monkeypatch, tmp_path) -> None:
    seen: list[tuple[int, ...] | None] = []
    fake = P.parse_unipen(FIXTURE)

    def load(writers=None):
        seen.append(writers)
        return [d for d in fake if writers is None or d.writer in writers]

    monkeypatch.setattr(R, "load_pen_digits", load)
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path))
    split = R.pen_renders(20, seed=3, workers=1)
    assert seen == [P.TRAIN_WRITERS]  # never the held-out writers
    assert len(split) == 20 and split.images.shape == (20, 28, 28)
    assert set(split.labels.tolist()) == {7, 1}  # both fixture digits are training writers (12 and 3)
    assert (split.images.flatten(1).max(1).values > 200).all()  # every render has ink
    assert list(tmp_path.glob("renders/pen_train_20_3_v*.pt"))  # cached


@needs_pen
def test_held_out_writers_are_read_at_the_floor() -> None:
    # A fixed slice (every 4th digit of the held-out writers, ~375 drawings) through predict_digit's path.
    from mnist_demo.predict import predict_digit

    suite = P.held_out_suite()[::4]
    right = sum(max(predict_digit(s["image"], "best").items(), key=lambda kv: kv[1])[0] == str(s["label"])
                for s in suite)
    assert right / len(suite) >= FLOOR, f"{right}/{len(suite)}"


# Measured 2026-12-01: 373 of 375 (99.5 %) with `best` = cnn_fc3 trained on the training writers' pen renders;
# the checkpoints before real pen data read ~96.7 % of the held-out writers, which this floor would refuse.
FLOOR = 0.985
