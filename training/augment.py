"""Augmentation drawn fresh for every training view, in TensorFlow (runs in the tf.data pipeline).

A cached canvas (cell on black at 1/CACHE_SCALE) becomes one model input by a random affine
map (magnification, any rotation, flip, a small shift) and a random change of everything a
lab changes: the stain (its colour statistics replaced by another cell's, from any training
lab; HED jitter), hue, saturation, brightness, contrast, gamma, focus, sensor noise, JPEG
compression, and how tightly the cell finder drew the mask.  The cell stays on black, as the
app hands it to the model.  `centre_view` is the same map with nothing random: what the app's
`model_input` does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import tensorflow as tf

from app.core.preprocess import CELL_LEVEL
from training.labs import CACHE_SCALE

RGB_FROM_HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], dtype=np.float32)
"""Ruifrok & Johnston's haematoxylin, eosin and DAB optical-density vectors (rows), as in
scikit-image, normalised below; the third stands in for any other absorber."""
RGB_FROM_HED /= np.linalg.norm(RGB_FROM_HED, axis=1, keepdims=True)
HED_FROM_RGB = np.linalg.inv(RGB_FROM_HED).astype(np.float32)


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random changes (recorded in the model card)."""

    magnification: tuple[float, float] = (0.6, 1.6)
    shift_px: float = 6.0
    stain_transfer_p: float = 0.5
    stain_transfer_strength: tuple[float, float] = (0.3, 1.0)
    hed_scale: tuple[float, float] = (0.7, 1.3)
    hed_shift: float = 0.03
    hue_turn: float = 0.05
    saturation: tuple[float, float] = (0.6, 1.4)
    brightness: tuple[float, float] = (0.8, 1.2)
    contrast: tuple[float, float] = (0.7, 1.3)
    gamma: tuple[float, float] = (0.7, 1.4)
    blur_p: float = 0.4
    blur_sigma: tuple[float, float] = (0.3, 1.5)
    noise_p: float = 0.3
    noise_sigma: tuple[float, float] = (1.0, 6.0)
    jpeg_p: float = 0.3
    jpeg_quality: tuple[int, int] = (40, 95)
    erode_p: float = 0.3

    def describe(self) -> dict:
        return asdict(self)


def stain_bank(canvases: np.ndarray, size: int = 2048, seed: int = 0) -> np.ndarray:
    """Optical-density mean and spread (6 values) of the cell pixels of a sample of canvases:
    the stains a training view may be given."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in rng.choice(len(canvases), min(size, len(canvases)), replace=False):
        canvas = canvases[index].astype(np.float32)
        cell = canvas.max(axis=-1) > CELL_LEVEL
        if cell.sum() < 50:
            continue
        od = -np.log((canvas[cell] + 1) / 256)
        rows.append(np.r_[od.mean(axis=0), od.std(axis=0)])
    return np.asarray(rows, dtype=np.float32)


def view_transform(
    cached_size: int, input_size: int, crop_size: int, magnification, angle, flip, shift_x, shift_y
) -> tf.Tensor:
    """The 8 projective parameters mapping output pixels to cached-canvas pixels."""
    step = crop_size / CACHE_SCALE / input_size / magnification
    cos, sin = tf.cos(angle) * step, tf.sin(angle) * step
    a0, a1, b0, b1 = cos * flip, -sin, sin * flip, cos
    centre_in, centre_out = (cached_size - 1) / 2, (input_size - 1) / 2
    a2 = centre_in + shift_x - (a0 + a1) * centre_out
    b2 = centre_in + shift_y - (b0 + b1) * centre_out
    zero = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zero, zero])


def _warp(canvas: tf.Tensor, transform: tf.Tensor, input_size: int) -> tf.Tensor:
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=canvas[None],
        transforms=transform[None],
        output_shape=[input_size, input_size],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )[0]


def centre_view(canvas: tf.Tensor, input_size: int, crop_size: int) -> tf.Tensor:
    """The model input of a cached canvas as the app makes it (centre crop, resized), float 0..255."""
    canvas = tf.cast(canvas, tf.float32)
    one = tf.constant(1.0)
    transform = view_transform(canvas.shape[0], input_size, crop_size, one, 0.0 * one, one, 0.0 * one, 0.0 * one)
    return _warp(canvas, transform, input_size)


def random_view(canvas: tf.Tensor, bank: tf.Tensor, input_size: int, crop_size: int, aug: Augmentation) -> tf.Tensor:
    """One augmented model input (float32 0..255, cell on black) of a cached canvas."""
    canvas = tf.cast(canvas, tf.float32)
    low, high = aug.magnification
    magnification = tf.exp(tf.random.uniform([], math.log(low), math.log(high)))
    angle = tf.random.uniform([], 0.0, 2 * math.pi)
    flip = tf.where(tf.random.uniform([]) < 0.5, -1.0, 1.0)
    shift = tf.random.uniform([2], -aug.shift_px, aug.shift_px)
    transform = view_transform(canvas.shape[0], input_size, crop_size, magnification, angle, flip, shift[0], shift[1])
    image = _warp(canvas, transform, input_size)
    mask = tf.cast(tf.reduce_max(image, axis=-1, keepdims=True) > CELL_LEVEL, tf.float32)
    mask = tf.cond(tf.random.uniform([]) < aug.erode_p, lambda: _erode(mask), lambda: mask)
    image = _stain(image, mask, bank, aug)
    image = _colour(image, aug)
    image = _focus_and_sensor(image, aug)
    return tf.clip_by_value(image, 0.0, 255.0) * mask


def _erode(mask: tf.Tensor) -> tf.Tensor:
    size = tf.random.uniform([], 1, 3, dtype=tf.int32) * 2 + 1
    return tf.cond(
        size == 3,
        lambda: -tf.nn.max_pool2d(-mask[None], 3, 1, "SAME")[0],
        lambda: -tf.nn.max_pool2d(-mask[None], 5, 1, "SAME")[0],
    )


def _masked_moments(values: tf.Tensor, mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    count = tf.maximum(tf.reduce_sum(mask), 1.0)
    mean = tf.reduce_sum(values * mask, axis=[0, 1]) / count
    variance = tf.reduce_sum(tf.square(values - mean) * mask, axis=[0, 1]) / count
    return mean, tf.sqrt(variance + 1e-6)


def _stain(image: tf.Tensor, mask: tf.Tensor, bank: tf.Tensor, aug: Augmentation) -> tf.Tensor:
    od = -tf.math.log((image + 1.0) / 256.0)
    if aug.stain_transfer_p > 0:
        mean, spread = _masked_moments(od, mask)
        target = bank[tf.random.uniform([], 0, tf.shape(bank)[0], dtype=tf.int32)]
        strength = tf.random.uniform([], *aug.stain_transfer_strength)
        strength = tf.where(tf.random.uniform([]) < aug.stain_transfer_p, strength, 0.0)
        new_mean = mean + strength * (target[:3] - mean)
        new_spread = spread + strength * (target[3:] - spread)
        od = (od - mean) / spread * new_spread + new_mean
    hed = tf.tensordot(od, tf.constant(HED_FROM_RGB), 1)
    scale = tf.random.uniform([3], *aug.hed_scale)
    shift = tf.random.uniform([3], -aug.hed_shift, aug.hed_shift)
    od = tf.maximum(tf.tensordot(hed * scale + shift, tf.constant(RGB_FROM_HED), 1), 0.0)
    return tf.clip_by_value(256.0 * tf.exp(-od) - 1.0, 0.0, 255.0)


def _colour(image: tf.Tensor, aug: Augmentation) -> tf.Tensor:
    unit = image / 255.0
    unit = tf.image.adjust_hue(unit, tf.random.uniform([], -aug.hue_turn, aug.hue_turn))
    unit = tf.image.adjust_saturation(unit, tf.random.uniform([], *aug.saturation))
    unit = tf.clip_by_value(unit * tf.random.uniform([], *aug.brightness), 0.0, 1.0)
    mean = tf.reduce_mean(unit)
    unit = tf.clip_by_value((unit - mean) * tf.random.uniform([], *aug.contrast) + mean, 0.0, 1.0)
    unit = tf.pow(unit + 1e-6, tf.random.uniform([], *aug.gamma))
    return unit * 255.0


def _focus_and_sensor(image: tf.Tensor, aug: Augmentation) -> tf.Tensor:
    image = tf.cond(
        tf.random.uniform([]) < aug.blur_p,
        lambda: _gaussian_blur(image, tf.random.uniform([], *aug.blur_sigma)),
        lambda: image,
    )
    image = tf.cond(
        tf.random.uniform([]) < aug.noise_p,
        lambda: image + tf.random.normal(tf.shape(image)) * tf.random.uniform([], *aug.noise_sigma),
        lambda: image,
    )
    low, high = aug.jpeg_quality
    return tf.cond(
        tf.random.uniform([]) < aug.jpeg_p,
        lambda: tf.cast(
            tf.image.adjust_jpeg_quality(
                tf.cast(tf.clip_by_value(image, 0.0, 255.0), tf.uint8),
                tf.random.uniform([], low, high + 1, dtype=tf.int32),
            ),
            tf.float32,
        ),
        lambda: image,
    )


def _gaussian_blur(image: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
    taps = tf.range(-3.0, 4.0)
    kernel = tf.exp(-0.5 * tf.square(taps / sigma))
    kernel /= tf.reduce_sum(kernel)
    horizontal = tf.tile(tf.reshape(kernel, [1, 7, 1, 1]), [1, 1, 3, 1])
    vertical = tf.tile(tf.reshape(kernel, [7, 1, 1, 1]), [1, 1, 3, 1])
    out = tf.nn.depthwise_conv2d(image[None], horizontal, [1, 1, 1, 1], "SAME")
    return tf.nn.depthwise_conv2d(out, vertical, [1, 1, 1, 1], "SAME")[0]
