"""The model card: the one source of truth for how the bundled model is run and decided on.

`models/model_card.json` holds input size and preprocessing, temperature, decision
threshold, the uncertain band and whether test-time augmentation is on by default, next to
the evaluation numbers.  Nothing in the app repeats these values as literals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from app.core.decision import DecisionRule
from app.core.familiarity import FamiliarityGuard
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
    tta: bool
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            decision = raw["decision"]
            return cls(
                version=str(raw["version"]),
                preprocessing=Preprocessing.from_dict(raw["preprocessing"]),
                temperature=float(decision["temperature"]),
                threshold=float(decision["threshold"]),
                uncertain_low=float(decision["uncertain_band"][0]),
                tta=bool(decision["tta"]),
                raw=raw,
            )
        except FileNotFoundError as error:
            raise ModelCardError(f"model card not found: {path}") from error
        except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
            raise ModelCardError(f"model card {path} is not valid: {error!r}") from error

    @property
    def rule(self) -> DecisionRule:
        """The decision rule the model was trained with (see `app.core.decision`)."""
        return DecisionRule(self.temperature, self.threshold, self.uncertain_low)

    def familiarity_guard(self, folder: Path) -> FamiliarityGuard | None:
        """The card's familiarity reference (files in `folder`), or None if it has none."""
        section = self.raw.get("familiarity")
        return FamiliarityGuard(section, Path(folder)) if section else None
