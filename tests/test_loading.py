"""Safe loading: every supported format and mode to RGB uint8; every bad file a clear error."""

import numpy as np
import pytest
from bad_inputs import ERRORS, VALID, png_header_only
from PIL import Image

from app.core.loading import MAX_PIXELS, ImageLoadError, load_image


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_bad_file_gives_its_reason(corpus, name):
    with pytest.raises(ImageLoadError) as caught:
        load_image(corpus / name)
    assert ERRORS[name] in caught.value.reason
    assert caught.value.path == corpus / name


@pytest.mark.parametrize("name", sorted(VALID))
def test_odd_but_valid_file_loads_as_rgb(corpus, name):
    loaded = load_image(corpus / name)
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.ndim == 3 and loaded.rgb.shape[2] == 3
    if VALID[name]:
        assert any(VALID[name] in note for note in loaded.warnings), loaded.warnings


@pytest.mark.parametrize(
    "name, tolerance",
    [
        ("CAPITALS.BMP", 0),
        ("nested/deeper/cell.webp", 0),
        ("two pages.tif", 0),
        ("deep 16-bit.tif", 1),  # 12-bit data in 16 bits must come back at full contrast
        ("cmyk.jpg", 8),
    ],
)
def test_pixels_survive_the_round_trip(corpus, sample_cell, name, tolerance):
    loaded = load_image(corpus / name)
    difference = np.abs(loaded.rgb.astype(int) - sample_cell.astype(int))
    assert difference.mean() <= max(tolerance, 0.5) and np.percentile(difference, 99) <= max(tolerance, 1) * 4


def test_16_bit_grey_is_scaled_not_clipped(corpus, sample_cell):
    loaded = load_image(corpus / "grey 16-bit.png")
    assert np.array_equal(loaded.rgb[:, :, 0], sample_cell[:, :, 1])
    assert np.array_equal(loaded.rgb[:, :, 0], loaded.rgb[:, :, 2])


def test_exif_orientation_is_applied(corpus, sample_cell):
    loaded = load_image(corpus / "sideways.jpg")
    assert (loaded.height, loaded.width) == (450, 300)  # stored 450 wide, 300 high
    expected = np.asarray(Image.fromarray(sample_cell).crop((0, 0, 450, 300)).transpose(Image.Transpose.ROTATE_270))
    assert np.abs(loaded.rgb.astype(int) - expected.astype(int)).mean() < 3


def test_transparency_becomes_black(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[:2, :, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "half.png")
    loaded = load_image(tmp_path / "half.png")
    assert loaded.rgb[:2].min() == 255 and loaded.rgb[2:].max() == 0


def test_size_guard_refuses_before_decoding(tmp_path):
    side = int(MAX_PIXELS**0.5) + 1
    (tmp_path / "big.png").write_bytes(png_header_only(side, side))
    with pytest.raises(ImageLoadError) as caught:
        load_image(tmp_path / "big.png")
    assert f"{side} x {side} pixels" in caught.value.reason


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="is a folder"):
        load_image(tmp_path)


def test_demo_case_is_24_bit_bmp_of_both_classes():
    from conftest import DEMO_CASE

    files = sorted(DEMO_CASE.glob("*.bmp"))
    assert len(files) == 24
    assert sum(path.stem.endswith("_all") for path in files) == 12
    for path in files:
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("BMP", "RGB", (450, 450))
