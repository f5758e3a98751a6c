"""The blast classifier: the bundled LiteRT model, run as its model card says.

The model takes float32 N x S x S x 3 RGB in 0..255 (`model_input` of a cell canvas) and
returns one logit per cell, and, where its card has a familiarity reference, an embedding
per cell as a second output.  With test-time augmentation the logits of the 8 flips and
rotations are averaged; a `DecisionRule` (the card's, or a site profile's) turns the logit
into a calibrated probability and a call, and the `FamiliarityGuard` the embedding into the
cell's distances from the training data.  A `Classifier` holds one
interpreter and is not thread-safe: use it from one thread (the pipeline's).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.decision import DecisionRule
from app.core.familiarity import FamiliarityError
from app.core.model_card import CARD_FILE, MODEL_FILE, ModelCard, ModelCardError
from app.core.preprocess import model_input, tta_views
from app.core.resources import models_dir

if TYPE_CHECKING:
    from ai_edge_litert.interpreter import Interpreter

TTA_VIEWS = 8
"""Images per cell with test-time augmentation: `tta_views`, 4 rotations x 2 flips."""


class ClassifierError(RuntimeError):
    """The model or its card is missing, damaged or does not fit together."""


@dataclass(frozen=True)
class Prediction:
    """One cell's result: the raw logit (TTA mean), its calibrated probability and the call,
    and its familiarity distances (None when the model has no familiarity reference)."""

    logit: float
    probability: float
    call: str
    distances: tuple[float, ...] | None = None


class Classifier:
    """Runs the bundled model on cell canvases, batched, on `num_threads` CPU threads."""

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        tta: bool | None = None,
        num_threads: int | None = None,
        batch_size: int = 16,
        rule: DecisionRule | None = None,
    ) -> None:
        folder = Path(model_dir) if model_dir is not None else models_dir()
        try:
            self.card = ModelCard.load(folder / CARD_FILE)
        except ModelCardError as error:
            raise ClassifierError(str(error)) from error
        self.tta = self.card.tta if tta is None else tta
        self.rule = rule or self.card.rule
        """How logits become probabilities and calls: the card's, or a site profile's."""
        self.batch_size = max(1, batch_size)
        try:
            self.guard = self.card.familiarity_guard(folder)
        except FamiliarityError as error:
            raise ClassifierError(str(error)) from error
        """Measures how far cells lie from the training data; None for a model without reference."""
        self._interpreter = _open_interpreter(folder / MODEL_FILE, num_threads or os.cpu_count() or 1)
        size = self.card.preprocessing.input_size
        self._input_shape = (size, size, 3)
        self._input_index, self._output_index, self._embedding_index = self._bind(folder / MODEL_FILE)

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def cells_per_batch(self) -> int:
        """How many cells fill one model batch (each cell is 8 images with TTA)."""
        return max(1, self.batch_size // (TTA_VIEWS if self.tta else 1))

    def prepare(self, canvas: np.ndarray) -> np.ndarray:
        """Model input (S x S x 3 float32) of one cell canvas; safe to call from any thread."""
        return model_input(canvas, self.card.preprocessing)

    def classify(self, canvases: Sequence[np.ndarray], threshold: float | None = None) -> list[Prediction]:
        """Predictions for cell canvases (see `predict`)."""
        if not canvases:
            return []
        return self.predict(np.stack([self.prepare(canvas) for canvas in canvases]), threshold)

    def predict(self, inputs: np.ndarray, threshold: float | None = None) -> list[Prediction]:
        """Predictions for N x S x S x 3 model inputs; `threshold` overrides the rule's."""
        if len(inputs) == 0:
            return []
        if self.tta:
            views = tta_views(inputs)
            logits, embeddings = self.run(np.concatenate(views))
            logits = logits.reshape(len(views), len(inputs)).mean(axis=0)
            embeddings = None if embeddings is None else embeddings[: len(inputs)]  # view 0: as it is
        else:
            logits, embeddings = self.run(inputs)
        probabilities = self.rule.probabilities(logits)
        distances = (
            [None] * len(inputs)
            if self.guard is None or embeddings is None
            else [tuple(float(d) for d in row) for row in self.guard.distances(embeddings, inputs)]
        )
        return [
            Prediction(float(logit), float(probability), self.rule.call(float(probability), threshold), cell)
            for logit, probability, cell in zip(logits, probabilities, distances, strict=True)
        ]

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        """The model's raw logits (no augmentation, no temperature) for N x S x S x 3 inputs."""
        return self.run(inputs)[0]

    def run(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Raw logits [N] and embeddings [N, D] (None if the model has none) of N x S x S x 3 inputs."""
        inputs = np.asarray(inputs, dtype=np.float32)
        if inputs.shape[1:] != self._input_shape:
            raise ValueError(f"expected inputs of shape N x {self._input_shape}, got {inputs.shape}")
        logits = np.empty(len(inputs), dtype=np.float32)
        embeddings = None
        for start in range(0, len(inputs), self.batch_size):
            chunk = inputs[start : start + self.batch_size]
            batch = np.zeros((self.batch_size, *self._input_shape), dtype=np.float32)
            batch[: len(chunk)] = chunk
            self._interpreter.set_tensor(self._input_index, batch)
            self._interpreter.invoke()
            logits[start : start + len(chunk)] = self._interpreter.get_tensor(self._output_index)[: len(chunk), 0]
            if self._embedding_index is not None:
                found = self._interpreter.get_tensor(self._embedding_index)[: len(chunk)]
                if embeddings is None:
                    embeddings = np.empty((len(inputs), found.shape[1]), dtype=np.float32)
                embeddings[start : start + len(chunk)] = found
        return logits, embeddings

    def _bind(self, model_path: Path) -> tuple[int, int, int | None]:
        """Check the model against the card and fix its batch size; return the indices of the
        input, the logit and the embedding (None without one)."""
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) not in (1, 2):
            raise ClassifierError(f"{model_path}: expected one input and one or two output tensors")
        outputs = sorted(outputs, key=lambda output: int(output["shape_signature"][-1]))  # logit first
        if self.guard is not None and len(outputs) != 2:
            raise ClassifierError(
                f"{model_path}: the model card has a familiarity reference, but the model has no embedding output"
            )
        shape = tuple(int(n) for n in inputs[0]["shape"][1:])
        if shape != self._input_shape or inputs[0]["dtype"] != np.float32:
            raise ClassifierError(
                f"{model_path}: model input is {shape} {inputs[0]['dtype'].__name__}, but the "
                f"model card says {self._input_shape} float32"
            )
        output_shape = [int(n) for n in outputs[0]["shape_signature"]]
        if len(output_shape) != 2 or output_shape[1] != 1:
            raise ClassifierError(f"{model_path}: expected one logit per image, got output {output_shape}")
        try:
            self._interpreter.resize_tensor_input(inputs[0]["index"], [self.batch_size, *shape])
            self._interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as error:
            raise ClassifierError(f"{model_path}: cannot run batches of {self.batch_size}: {error}") from error
        return (
            int(inputs[0]["index"]),
            int(outputs[0]["index"]),
            int(outputs[1]["index"]) if len(outputs) == 2 else None,
        )


def _open_interpreter(model_path: Path, num_threads: int) -> Interpreter:
    """LiteRT is imported here, when a model is opened: modules that only name the classifier
    (the report, the site library) load without it."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        content = model_path.read_bytes()
    except FileNotFoundError as error:
        raise ClassifierError(f"model file not found: {model_path}") from error
    except OSError as error:
        raise ClassifierError(f"model file cannot be read: {model_path}: {error}") from error
    try:
        return Interpreter(model_content=content, num_threads=num_threads)
    except (ValueError, RuntimeError) as error:
        raise ClassifierError(f"model file is damaged or not a LiteRT model: {model_path}: {error}") from error
