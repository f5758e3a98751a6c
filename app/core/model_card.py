"""The model card: the one source of truth for how the bundled model is run and decided on.

`models/model_card.json` holds input size and preprocessing, temperature, decision
threshold, the uncertain band and whether test-time augmentation is on by default, next to
the evaluation numbers.  Nothing in the app repeats these values as literals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from app.core.preprocess import Preprocessing


class ModelCardError(ValueError):
    """The model card is missing or does not describe a usable model."""


@dataclass(frozen=True)
class ModelCard:
    """What the app needs from `model_card.json`; `raw` keeps the full document."""

    version: str
    preprocessing: Preprocessing
    temperature: float
    threshold: float
    uncertain_low: float
    uncertain_high: float
    tta: bool
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path) -> "ModelCard":
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            decision = raw["decision"]
            return cls(
                version=str(raw["version"]),
                preprocessing=Preprocessing.from_dict(raw["preprocessing"]),
                temperature=float(decision["temperature"]),
                threshold=float(decision["threshold"]),
                uncertain_low=float(decision["uncertain_band"][0]),
                uncertain_high=float(decision["uncertain_band"][1]),
                tta=bool(decision["tta"]),
                raw=raw,
            )
        except FileNotFoundError as error:
            raise ModelCardError(f"model card not found: {path}") from error
        except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
            raise ModelCardError(f"model card {path} is not valid: {error!r}") from error

    def call(self, probability: float, threshold: float | None = None) -> str:
        """'flagged', 'uncertain' or 'normal' for a calibrated blast probability.

        Inside the uncertain band a cell is 'uncertain' (it goes to the review queue either
        way); otherwise at or above the threshold it is 'flagged' (recall first).  An
        overridden threshold carries the band along with it.
        """
        threshold = self.threshold if threshold is None else threshold
        shift = threshold - self.threshold
        if self.uncertain_low + shift <= probability < self.uncertain_high + shift:
            return "uncertain"
        return "flagged" if probability >= threshold else "normal"
