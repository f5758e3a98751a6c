"""EfficientNet-Lite0 in Keras 3, with the converted ImageNet weights.

Lite variant: ReLU6, no squeeze-excitation, fixed stem (32) and head (1280) widths.
Layer names follow the PyTorch state dict (`_blocks.N...`) so weights map one to one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

keras = tf.keras

WEIGHTS = Path(__file__).parent / "weights" / "efficientnet_lite0_imagenet.npz"
BN_EPSILON = 1e-3
# (repeats, kernel, first stride, expand ratio, output filters) per stage, Lite0.
STAGES = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
]


def _conv_bn(
    x,
    filters: int,
    name: str,
    bn_name: str,
    kernel: int = 1,
    stride: int = 1,
    activate: bool = True,
    depthwise: bool = False,
):
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=name)(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=bn_name)(x)
    return keras.layers.ReLU(6.0, name=f"{bn_name}_relu6")(x) if activate else x


def build_backbone(input_size: int, weights: Path | None = WEIGHTS) -> keras.Model:
    """EfficientNet-Lite0 from RGB 0..255 input to 1280 pooled features."""
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = keras.layers.Rescaling(1 / (255.0 * 0.502), offset=-0.498 / 0.502, name="normalise")(inputs)
    x = _conv_bn(x, 32, "_conv_stem", "_bn0", kernel=3, stride=2)
    in_filters, block = 32, 0
    for repeats, kernel, stride, expand, out_filters in STAGES:
        for repeat in range(repeats):
            prefix = f"_blocks.{block}"
            block_input, block_stride = x, stride if repeat == 0 else 1
            if expand != 1:
                x = _conv_bn(x, in_filters * expand, f"{prefix}._expand_conv", f"{prefix}._bn0")
            x = _conv_bn(
                x, 0, f"{prefix}._depthwise_conv", f"{prefix}._bn1", kernel=kernel, stride=block_stride, depthwise=True
            )
            x = _conv_bn(x, out_filters, f"{prefix}._project_conv", f"{prefix}._bn2", activate=False)
            if block_stride == 1 and in_filters == out_filters:
                x = keras.layers.Add(name=f"{prefix}_add")([x, block_input])
            in_filters, block = out_filters, block + 1
    x = _conv_bn(x, 1280, "_conv_head", "_bn1")
    outputs = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inputs, outputs, name="efficientnet_lite0")
    if weights is not None:
        load_imagenet_weights(model, weights)
    return model


def load_imagenet_weights(model: keras.Model, weights: Path = WEIGHTS) -> None:
    """Copy the converted PyTorch tensors into the matching Keras layers."""
    arrays = np.load(weights)
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            layer.set_weights([arrays[f"{layer.name}.weight"].transpose(2, 3, 0, 1)])
        elif isinstance(layer, keras.layers.Conv2D):
            layer.set_weights([arrays[f"{layer.name}.weight"].transpose(2, 3, 1, 0)])
        elif isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights(
                [arrays[f"{layer.name}.{key}"] for key in ("weight", "bias", "running_mean", "running_var")]
            )


def reference_features(weights: Path = WEIGHTS) -> np.ndarray:
    """The PyTorch model's pooled features for the converter's reference image."""
    return np.load(weights)["__reference_features__"]
