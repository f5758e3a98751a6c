"""The trainable part of the classifier: a linear head over pooled backbone features.

Standardise each feature, then one logistic unit with L2 weight decay; trained with Adam
on every flip/rotation view of every training image, classes weighted to balance (or by
weights the caller gives each image).
Checkpointed after every epoch so that an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

keras = tf.keras


def build_head(feature_size: int, weight_decay: float) -> keras.Model:
    inputs = keras.Input((feature_size,), name="features")
    standardised = keras.layers.Normalization(name="standardise")(inputs)
    logit = keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L2(weight_decay), name="blast_logit")(
        standardised
    )
    return keras.Model(inputs, logit, name="head")


def train_head(
    features: np.ndarray,
    labels: np.ndarray,
    epochs: int,
    seed: int,
    weight_decay: float,
    checkpoint_dir: Path | None = None,
    batch_size: int = 512,
    learning_rate: float = 1e-3,
    image_weights: np.ndarray | None = None,
) -> keras.Model:
    """Train a head on features [N, views, D] with labels [N]; resumes from `checkpoint_dir`.

    `image_weights` [N] weigh each image's loss (default `class_balanced_weights`).
    """
    keras.utils.set_random_seed(seed)
    samples = features.reshape(-1, features.shape[-1])
    targets = np.repeat(labels.astype(np.float32), features.shape[1])
    if image_weights is None:
        image_weights = class_balanced_weights(labels)
    sample_weights = np.repeat(np.asarray(image_weights, dtype=np.float32), features.shape[1])
    head = build_head(features.shape[-1], weight_decay)
    head.get_layer("standardise").adapt(samples)
    head.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    first_epoch = 0
    callbacks = []
    if checkpoint_dir is not None:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        weights, state = checkpoint_dir / "head.weights.h5", checkpoint_dir / "state.json"
        if weights.exists() and state.exists():
            head.load_weights(weights)
            first_epoch = json.loads(state.read_text())["epochs_done"]
        callbacks.append(_EpochCheckpoint(weights, state))
    if first_epoch < epochs:
        head.fit(
            samples,
            targets,
            batch_size=batch_size,
            epochs=epochs,
            initial_epoch=first_epoch,
            sample_weight=sample_weights,
            shuffle=True,
            verbose=0,
            callbacks=callbacks,
        )
    return head


def class_balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Per-image weights under which each class weighs half of the total; their mean is 1."""
    positives = labels.mean()
    return np.where(labels, 0.5 / positives, 0.5 / (1 - positives))


def head_logits(head: keras.Model, features: np.ndarray) -> np.ndarray:
    """Logits [N, views] for features [N, views, D]."""
    flat = features.reshape(-1, features.shape[-1])
    return head(flat, training=False).numpy().reshape(features.shape[:2])


class _EpochCheckpoint(keras.callbacks.Callback):
    def __init__(self, weights: Path, state: Path) -> None:
        super().__init__()
        self.weights, self.state = weights, state

    def on_epoch_end(self, epoch, logs=None):
        self.model.save_weights(self.weights)
        self.state.write_text(json.dumps({"epochs_done": epoch + 1, "loss": (logs or {}).get("loss")}))
