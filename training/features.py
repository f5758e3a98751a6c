"""Pooled EfficientNet-Lite0 features of every training image, in its 8 flips/rotations.

Extraction is the costly step of training (a forward pass per view), so it runs once per
data set and preprocessing, in chunks saved to disk: an interrupted run resumes at the
first missing chunk.  Every later step (folds, heads, calibration, TTA study) works on
these cached arrays in seconds.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from app.core.loading import ImageLoadError, load_image
from app.core.preprocess import Preprocessing, cell_colour_statistics, model_input, to_canvas, tta_views
from app.core.segmentation import find_cells, nearest_to_centre
from training.data import LabelledImage
from training.efficientnet_lite import WEIGHTS, build_backbone

keras = tf.keras

FEATURE_LAYERS = ("_blocks.14_add", "pool")
"""Backbone layers whose globally pooled outputs, concatenated, feed the head."""
CHUNK_SIZE = 256


def build_feature_extractor(input_size: int) -> keras.Model:
    """Image (0..255) to the concatenated pooled features of FEATURE_LAYERS."""
    backbone = build_backbone(input_size)
    pooled = []
    for name in FEATURE_LAYERS:
        output = backbone.get_layer(name).output
        if len(output.shape) == 4:
            output = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(output)
        pooled.append(output)
    features = keras.layers.Concatenate(name="features")(pooled)
    return keras.Model(backbone.input, features, name="features")


def extract_features(
    images: list[LabelledImage],
    preprocessing: Preprocessing,
    cache_dir: Path,
    views: int = 8,
    batch_size: int = 32,
    log: Callable[[str], None] = print,
    canvas: Callable[[Path], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Features [N, views, D] (float32) and a mask of images that could be read.

    `views` is 8 (the flips and rotations of `tta_views`) or 1 (the image as it is).
    `canvas` reads an image's cell canvas (default `training_canvas`: the labelled cell as the
    app finds it; `stored_canvas` for canvases the app stored).

    Chunks are cached under a hash of their model inputs, so the cache is reused exactly
    when the inputs are the same, whatever code change made them.  Unreadable files are
    reported through `log` and get a mask of False.
    """
    folder = Path(cache_dir) / "features"
    folder.mkdir(parents=True, exist_ok=True)
    extractor = None
    chunks, started = [], time.monotonic()
    for start in range(0, len(images), CHUNK_SIZE):
        inputs, readable = _chunk_inputs(
            images[start : start + CHUNK_SIZE], preprocessing, canvas or training_canvas, log
        )
        chunk_file = folder / f"{_inputs_key(inputs, readable, views)}.npz"
        if not chunk_file.exists():
            if extractor is None:
                extractor = tf.function(
                    functools.partial(build_feature_extractor(preprocessing.input_size), training=False),
                    reduce_retracing=True,
                )
            features = _chunk_features(inputs, extractor, batch_size, views)
            temporary = chunk_file.with_suffix(".tmp.npz")
            np.savez(temporary, features=features)
            temporary.replace(chunk_file)
            done = min(start + CHUNK_SIZE, len(images))
            rate = (done - start) / max(time.monotonic() - started, 1e-9)
            started = time.monotonic()
            log(f"features {done}/{len(images)}  {rate:.1f} img/s  ETA {(len(images) - done) / rate / 60:.1f} min")
        with np.load(chunk_file) as chunk:
            chunks.append((chunk["features"], readable))
    features = np.concatenate([c[0] for c in chunks]).astype(np.float32)
    readable = np.concatenate([c[1] for c in chunks])
    return features, readable


def training_input(path: Path, preprocessing: Preprocessing) -> np.ndarray:
    """The model input for one labelled image, through the app's own path.

    Load, find the cells (a crop on black is itself), take the cell nearest the centre (the
    labelled one) and preprocess it, exactly as the app does for the cells it finds.
    """
    return model_input(training_canvas(path), preprocessing)


def training_canvas(path: Path) -> np.ndarray:
    """The canvas of the labelled cell of one image (see `training_input`)."""
    rgb = load_image(path).rgb
    cell = nearest_to_centre(find_cells(rgb), rgb.shape)
    if cell is None:
        raise ImageLoadError(path, "no white cell found")
    return cell.canvas


def stored_canvas(path: Path) -> np.ndarray:
    """A cell canvas as the app stored it (`CaseStore.cell_crop`: its centred crop), read without
    cell finding and padded back to the full canvas."""
    return to_canvas(load_image(path).rgb)


def colour_target(images: list[LabelledImage], sample: int, seed: int) -> tuple[float, ...]:
    """The training cells' typical CIELAB mean and spread (mean over a seeded sample)."""
    chosen = np.random.default_rng(seed).permutation(len(images))[:sample]
    statistics = []
    for index in sorted(chosen):
        try:
            found = cell_colour_statistics(training_canvas(images[index].path))
        except ImageLoadError:
            continue
        if found is not None:
            statistics.append(found)
    return tuple(float(v) for v in np.mean(statistics, axis=0))


def _chunk_inputs(images, preprocessing, canvas, log) -> tuple[np.ndarray, np.ndarray]:
    inputs, readable = [], np.ones(len(images), dtype=bool)
    for index, image in enumerate(images):
        try:
            inputs.append(model_input(canvas(image.path), preprocessing))
        except ImageLoadError as error:
            log(f"skipped {image.path}: {error.reason}")
            readable[index] = False
            inputs.append(np.zeros((preprocessing.input_size,) * 2 + (3,), dtype=np.float32))
    return np.stack(inputs), readable


def _chunk_features(inputs: np.ndarray, extractor, batch_size: int, views: int) -> np.ndarray:
    if views not in (1, 8):
        raise ValueError(f"views must be 1 or 8, not {views}")
    batches = []
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start : start + batch_size]
        outputs = [extractor(view).numpy() for view in (tta_views(batch) if views == 8 else [batch])]
        batches.append(np.stack(outputs, axis=1))
    return np.concatenate(batches).astype(np.float16)


def _inputs_key(inputs: np.ndarray, readable: np.ndarray, views: int) -> str:
    """Hash of a chunk's model inputs and of what turns them into features."""
    digest = hashlib.sha256(json.dumps([FEATURE_LAYERS, views, WEIGHTS.name]).encode())
    digest.update(readable.tobytes())
    digest.update(np.ascontiguousarray(inputs, dtype=np.float32).tobytes())
    return digest.hexdigest()[:24]
