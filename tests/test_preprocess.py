"""Preprocessing of every input form the pad or a caller can send."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from harness.reference import plain_bounds, plain_drop_specks
from mnist_demo.drawing.preprocess import BadImageError, naive_resize, preprocess, stroke_width
from tests.support.drawings import seven


def _img(im: Image.Image) -> np.ndarray:
    out = preprocess(im)
    assert out is not None
    return out.image


def test_output_is_mnist_like() -> None:
    img = _img(seven())
    assert img.shape == (28, 28) and img.dtype == np.float32
    assert img.min() >= 0 and img.max() <= 1 and img.max() > 0.9
    ys, xs = np.nonzero(img > 0.1)
    assert max(np.ptp(ys), np.ptp(xs)) <= 21  # fitted into the 20 px box (+ anti-aliasing)
    cy, cx = (img * np.indices(img.shape)[0]).sum() / img.sum(), (img * np.indices(img.shape)[1]).sum() / img.sum()
    assert abs(cy - 14) < 1 and abs(cx - 14) < 1  # centre of mass in the middle


def test_every_input_form_gives_the_same_digit() -> None:
    ref = _img(seven())
    gray = np.asarray(seven())
    rgb = np.repeat(gray[..., None], 3, 2)
    rgba_white = np.concatenate([rgb, np.full_like(gray[..., None], 255)], 2)
    rgba_clear = np.zeros_like(rgba_white)  # black ink on a transparent background (RGB 0 underneath)
    rgba_clear[..., 3] = 255 - gray
    forms = {
        "L": gray, "RGB": rgb, "RGBA white": rgba_white, "RGBA transparent": rgba_clear,
        "float01": gray / 255.0, "float255": gray.astype(np.float64), "PIL": seven(),
        "inverted (white on black)": 255 - gray, "channels-first": np.moveaxis(rgb, 2, 0),
        "dict composite": {"background": None, "layers": [], "composite": rgba_white},
        "dict background+layers": {"background": np.full_like(rgba_white, 255), "layers": [rgba_clear],
                                   "composite": None},
    }
    for name, value in forms.items():
        out = preprocess(value)
        assert out is not None, name
        assert np.abs(out.image - ref).mean() < 0.02, name


@pytest.mark.parametrize("value", [
    None, {"background": None, "layers": [], "composite": None},
    np.full((280, 280), 255, np.uint8), np.zeros((280, 280, 4), np.uint8), np.zeros((1, 1), np.uint8),
])
def test_blank_inputs(value) -> None:
    assert preprocess(value) is None


def test_a_dot_and_a_speck_are_not_digits() -> None:
    im = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(im).ellipse([130, 130, 154, 154], fill=0)
    assert preprocess(im) is None
    im2 = Image.new("L", (280, 280), 255)
    im2.putpixel((5, 5), 0)
    assert preprocess(im2) is None


def test_specks_far_from_the_digit_do_not_shift_it() -> None:
    ref = _img(seven())
    im = seven()
    ImageDraw.Draw(im).ellipse([255, 255, 262, 262], fill=0)
    assert np.abs(_img(im) - ref).mean() < 0.01


def test_small_in_a_corner_equals_large_off_centre() -> None:
    small = _img(seven(width=8, box=(10, 10, 60, 80)))
    large = _img(seven(width=30, box=(100, 20, 270, 270)))
    assert np.abs(small - large).mean() < 0.06


def test_thin_and_thick_pens_are_normalised() -> None:
    thin, thick = seven(width=4), seven(width=44)
    assert stroke_width(np.asarray(thin) < 128) < 6 < 40 < stroke_width(np.asarray(thick) < 128)

    def ink_ratio(**kw) -> float:
        a, b = (int((preprocess(im, **kw).image > 0.5).sum()) for im in (thin, thick))
        return max(a, b) / min(a, b)

    assert ink_ratio(thickness=False) > 1.8  # without the step a 4 px and a 44 px pen differ a lot
    assert ink_ratio() < 1.35  # with it both look like MNIST strokes


def test_odd_data_is_handled() -> None:
    nan = np.asarray(seven(), np.float32)
    nan[:5] = np.nan
    assert preprocess(nan) is not None
    assert preprocess(np.asarray(seven()).astype(np.uint16) * 257) is not None
    assert preprocess(np.asarray(seven()) < 128) is not None  # bool mask, ink = True
    with pytest.raises(BadImageError):
        preprocess(np.zeros((3, 3, 3, 3, 3)))
    with pytest.raises(BadImageError):
        preprocess("/etc/passwd")
    with pytest.raises(BadImageError):
        preprocess(np.array(["a", "b"]))


def test_huge_image_is_cheap() -> None:
    big = np.full((10_000, 10_000), 255, np.uint8)
    big[2000:8000, 4900:5300] = 0  # a "1"
    out = preprocess(big)
    assert out is not None and out.image[:, 12:16].sum() > out.image.sum() * 0.5


def test_switches_show_each_step() -> None:
    full = preprocess(seven())
    assert list(full.steps) == ["raw", "cropped", "stroke width", "fitted 20×20", "model input"]
    naive = preprocess(seven(), crop=False)
    assert naive.image.shape == (28, 28) and not np.allclose(naive.image, full.image)
    assert naive_resize(seven()).shape == (28, 28)


@pytest.mark.parametrize("shape", [(280, 280), (281, 199), (97, 500), (1000, 1000), (50, 60)])
def test_speck_removal_matches_its_plain_definition(shape: tuple[int, int]) -> None:
    from mnist_demo.drawing.preprocess import _bounds, _drop_specks

    rng = np.random.default_rng(sum(shape))
    mask = np.zeros(shape, bool)
    h, w = shape
    mask[h // 4:3 * h // 4, w // 3:w // 3 + max(2, w // 12)] = True  # the stroke
    for _ in range(6):  # specks of a few pixels anywhere
        y, x = rng.integers(0, h - 3), rng.integers(0, w - 3)
        mask[y:y + rng.integers(1, 4), x:x + rng.integers(1, 4)] = True
    expected = plain_drop_specks(mask)
    out = _drop_specks(mask)
    assert np.array_equal(out, expected)
    assert out[h // 2, w // 3] and out.sum() < mask.sum()  # the stroke stays, some specks went
    assert _bounds(out) == plain_bounds(out)
