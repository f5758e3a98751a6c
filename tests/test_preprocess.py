"""The shared preprocessing: canvas, model input, colour normalisation, TTA views."""

import numpy as np
from PIL import Image

from app.core.preprocess import CANVAS_SIZE, Preprocessing, cell_colour_statistics, model_input, to_canvas, tta_views


def _cell(shared_data) -> np.ndarray:
    return np.asarray(Image.open(sorted((shared_data / "cnmc" / "all").iterdir())[0]).convert("RGB"))


def test_small_and_large_images_are_centred_on_the_canvas_without_rescaling():
    small = np.full((10, 20, 3), 200, np.uint8)
    canvas = to_canvas(small)
    assert canvas.shape == (CANVAS_SIZE, CANVAS_SIZE, 3) and canvas.sum() == small.sum()
    assert canvas[220:230, 215:235].min() == 200
    large = np.zeros((600, 500, 3), np.uint8)
    large[300, 250] = 255
    assert to_canvas(large)[225, 225].tolist() == [255, 255, 255]


def test_model_input_has_the_card_size_and_keeps_black_black(shared_data):
    preprocessing = Preprocessing(input_size=96, crop_size=320)
    inputs = model_input(_cell(shared_data), preprocessing)
    assert inputs.shape == (96, 96, 3) and inputs.dtype == np.float32
    assert inputs[0, 0].tolist() == [0, 0, 0] and inputs.max() > 50


def test_colour_normalisation_maps_a_cell_onto_the_target_statistics(shared_data):
    cell = _cell(shared_data)
    tinted = np.where(
        cell.max(axis=-1, keepdims=True) > 20, np.clip(cell * np.array([1.3, 0.8, 1.1]), 0, 255), 0
    ).astype(np.uint8)
    target = tuple(cell_colour_statistics(cell))
    preprocessing = Preprocessing(input_size=224, crop_size=320, colour_target=target)
    plain, restored = model_input(cell, preprocessing), model_input(tinted, preprocessing)
    assert Preprocessing.from_dict(preprocessing.to_dict()) == preprocessing
    restored_stats = cell_colour_statistics(restored.astype(np.uint8))
    np.testing.assert_allclose(restored_stats[:3], target[:3], atol=1.5)
    assert (
        np.abs(restored - plain).mean()
        < np.abs(model_input(tinted, Preprocessing()) - model_input(cell, Preprocessing())).mean() / 3
    )
    assert restored[0, 0].tolist() == [0, 0, 0]


def test_tta_views_are_the_eight_distinct_flips_and_rotations():
    batch = np.arange(2 * 3 * 3 * 1, dtype=np.float32).reshape(2, 3, 3, 1)
    views = tta_views(batch)
    assert len(views) == 8 and np.array_equal(views[0], batch)
    assert len({view.tobytes() for view in views}) == 8
