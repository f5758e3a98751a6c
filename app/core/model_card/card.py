"""The model card as a whole: its schema version, reading (with migration) and writing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.decision import DecisionRule
from app.core.familiarity import FamiliarityGuard
from app.core.files import replaced_atomically
from app.core.model_card.sections import (
    DecisionSection,
    FamiliaritySection,
    LabEvaluation,
    Metrics,
    ModelDescription,
    Speed,
    TrainingData,
    TrainingRecipe,
    without_none,
)
from app.core.preprocess import Preprocessing

SCHEMA_VERSION = 2
"""Version 1 (no `schema_version`): metrics, training data and training settings in one flat
object each.  Version 2: the figures the app reads apart from the `details` and `settings`."""


class ModelCardError(ValueError):
    """The model card is missing or does not describe a usable model."""


@dataclass(frozen=True)
class ModelCard:
    """Everything known about one model; see the sections' classes."""

    name: str
    version: str
    created: str
    """When the model was exported (ISO 8601, UTC)."""
    model: ModelDescription
    training_data: TrainingData
    training: TrainingRecipe
    preprocessing: Preprocessing
    decision: DecisionSection
    metrics: Metrics
    familiarity: FamiliaritySection | None = None
    validation: dict[str, Any] | None = None
    """Tables of the model's validation, kept as the recipe wrote them."""
    lab_evaluation: LabEvaluation | None = None
    speed: Speed | None = None
    schema_version: int = field(default=SCHEMA_VERSION, init=False)

    @property
    def temperature(self) -> float:
        return self.decision.temperature

    @property
    def threshold(self) -> float:
        return self.decision.threshold

    @property
    def uncertain_low(self) -> float:
        return self.decision.uncertain_low

    @property
    def tta(self) -> bool:
        """Whether test-time augmentation is on by default."""
        return self.decision.tta

    @property
    def rule(self) -> DecisionRule:
        """The decision rule the model was trained with (see `app.core.decision`)."""
        return self.decision.rule

    def familiarity_guard(self, folder: Path) -> FamiliarityGuard | None:
        """The card's familiarity reference (files in `folder`), or None if it has none."""
        return FamiliarityGuard(self.familiarity.to_dict(), Path(folder)) if self.familiarity else None

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON-ready data, in the current schema."""
        return without_none(
            {
                "schema_version": self.schema_version,
                "name": self.name,
                "version": self.version,
                "created": self.created,
                "model": self.model.to_dict(),
                "training_data": self.training_data.to_dict(),
                "training": self.training.to_dict(),
                "preprocessing": self.preprocessing.to_dict(),
                "decision": self.decision.to_dict(),
                "familiarity": self.familiarity.to_dict() if self.familiarity else None,
                "metrics": self.metrics.to_dict(),
                "validation": self.validation,
                "lab_evaluation": self.lab_evaluation.to_dict() if self.lab_evaluation else None,
                "speed": self.speed.to_dict() if self.speed else None,
            }
        )

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> ModelCard:
        """A card from JSON data of any schema version up to the current one."""
        values = migrated(document)
        familiarity, lab_evaluation, speed = (values.get(key) for key in ("familiarity", "lab_evaluation", "speed"))
        return cls(
            name=values["name"],
            version=str(values["version"]),
            created=values["created"],
            model=ModelDescription.from_dict(values["model"]),
            training_data=TrainingData.from_dict(values["training_data"]),
            training=TrainingRecipe.from_dict(values["training"]),
            preprocessing=Preprocessing.from_dict(values["preprocessing"]),
            decision=DecisionSection.from_dict(values["decision"]),
            metrics=Metrics.from_dict(values["metrics"]),
            familiarity=FamiliaritySection.from_dict(familiarity) if familiarity else None,
            validation=values.get("validation"),
            lab_evaluation=LabEvaluation.from_dict(lab_evaluation) if lab_evaluation else None,
            speed=Speed.from_dict(speed) if speed else None,
        )

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        """The card in the file `path`; `ModelCardError` if it is missing or not a usable card."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError as error:
            raise ModelCardError(f"model card not found: {path}") from error
        except ModelCardError as error:
            raise ModelCardError(f"model card {path}: {error}") from error
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
            raise ModelCardError(f"model card {path} is not valid: {error!r}") from error

    def write(self, path: Path) -> None:
        """Write the card to `path` atomically, in the current schema."""
        with replaced_atomically(Path(path), "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=2)


def migrated(document: dict[str, Any]) -> dict[str, Any]:
    """The card's JSON data in the current schema (a copy; the argument is left as it is)."""
    version = document.get("schema_version", 1)
    if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
        raise ModelCardError(
            f"model card schema version {version!r} is not one this BlastScan reads (1 to {SCHEMA_VERSION})"
        )
    return _version_2_of_1(document) if version == 1 else dict(document)


def _version_2_of_1(document: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept every figure of a section in one object: the figures the app reads stay,
    the rest moves to `details` (metrics, training data) or `settings` (training); the metrics'
    `scope` (a lab-retrained model's) is their `basis`."""
    metrics, data, training = dict(document["metrics"]), dict(document["training_data"]), dict(document["training"])
    typed_data = {key: data.pop(key) for key in ("source", "labs", "held_out_groups", "never_shown") if key in data}
    return {
        **document,
        "schema_version": 2,
        "metrics": {
            **{key: metrics.pop(key) for key in ("auroc", "recall", "specificity")},
            "basis": metrics.pop("basis", None) or metrics.pop("scope", ""),
            "details": metrics,
        },
        "training_data": {**typed_data, "details": data},
        "training": {"leave_out": training.pop("leave_out", []), "settings": training},
    }
