"""The sections of the model card, each a frozen dataclass with `to_dict` and `from_dict`."""

from __future__ import annotations

from dataclasses import Field, asdict, dataclass, field
from typing import Any, ClassVar, TypeVar

from app.core.decision import DecisionRule

_S = TypeVar("_S", bound="_Section")


class _Section:
    """A part of the card, stored as a JSON object of its fields."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # every section is a dataclass

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls: type[_S], values: dict[str, Any]) -> _S:
        return cls(**values)


@dataclass(frozen=True)
class ModelFiles(_Section):
    """The files of a model folder."""

    tflite: str
    keras: str
    familiarity: str | None = None


@dataclass(frozen=True)
class ModelDescription(_Section):
    """What the model is, in words, and its files."""

    architecture: str
    output: str
    final_model: str
    files: ModelFiles

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelDescription:
        return cls(
            values["architecture"], values["output"], values["final_model"], ModelFiles.from_dict(values["files"])
        )


@dataclass(frozen=True)
class TtaComparison(_Section):
    """Held-out AUROC per lab without and with test-time augmentation, and whether it is used."""

    auroc_without_and_with: dict[str, tuple[float, float]]
    min_gain: float
    used: bool

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TtaComparison:
        pairs = {lab: (float(a), float(b)) for lab, (a, b) in values["auroc_without_and_with"].items()}
        return cls(pairs, float(values["min_gain"]), bool(values["used"]))


@dataclass(frozen=True)
class DecisionSection:
    """How logits become calls: temperature, the threshold for the target recall, the uncertain
    band below it (up to the threshold), test-time augmentation, and how each was chosen."""

    temperature: float
    threshold: float
    target_recall: float
    uncertain_low: float
    tta: bool
    uncertain_band_rule: str
    threshold_rule: str | None = None
    tta_comparison: TtaComparison | None = None

    @property
    def rule(self) -> DecisionRule:
        """The decision rule (see `app.core.decision`); the card's has no bias."""
        return DecisionRule(self.temperature, self.threshold, self.uncertain_low)

    def to_dict(self) -> dict[str, Any]:
        return without_none(
            {
                "threshold": self.threshold,
                "target_recall": self.target_recall,
                "threshold_rule": self.threshold_rule,
                "uncertain_band": [self.uncertain_low, self.threshold],
                "uncertain_band_rule": self.uncertain_band_rule,
                "temperature": self.temperature,
                "tta": self.tta,
                "tta_comparison": self.tta_comparison.to_dict() if self.tta_comparison else None,
            }
        )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DecisionSection:
        comparison = values.get("tta_comparison")
        return cls(
            temperature=float(values["temperature"]),
            threshold=float(values["threshold"]),
            target_recall=float(values["target_recall"]),
            uncertain_low=float(values["uncertain_band"][0]),
            tta=bool(values["tta"]),
            uncertain_band_rule=values["uncertain_band_rule"],
            threshold_rule=values.get("threshold_rule"),
            tta_comparison=TtaComparison.from_dict(comparison) if comparison else None,
        )


@dataclass(frozen=True)
class GuardVerdicts(_Section):
    """The familiarity check on one set of held-out cases: the share it read unfamiliar."""

    cases: int
    unfamiliar: float
    trained_on: bool


@dataclass(frozen=True)
class FamiliaritySection(_Section):
    """The familiarity reference (`app.core.familiarity`): reference labs, cut-offs per lab and
    statistic, scales, the reference file, how it was calibrated and how it did."""

    neighbours: int
    labs: tuple[str, ...]
    cutoffs: dict[str, dict[str, float]]
    colour_scale: tuple[float, ...]
    size_scale: float
    reference_file: str
    calibration: str = ""
    evaluation: dict[str, GuardVerdicts] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FamiliaritySection:
        return cls(
            neighbours=int(values["neighbours"]),
            labs=tuple(values["labs"]),
            cutoffs={lab: {name: float(v) for name, v in row.items()} for lab, row in values["cutoffs"].items()},
            colour_scale=tuple(float(v) for v in values["colour_scale"]),
            size_scale=float(values["size_scale"]),
            reference_file=values["reference_file"],
            calibration=values.get("calibration", ""),
            evaluation={name: GuardVerdicts.from_dict(row) for name, row in values.get("evaluation", {}).items()},
        )


@dataclass(frozen=True)
class Metrics(_Section):
    """The model's headline figures at its threshold, what they were measured on, and more."""

    auroc: float
    recall: float
    specificity: float
    basis: str
    details: dict[str, Any] = field(default_factory=dict)
    """Further figures of the recipe (calibration error, confusion matrix, per patient ...)."""

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Metrics:
        return cls(
            float(values["auroc"]),
            float(values["recall"]),
            float(values["specificity"]),
            values["basis"],
            values.get("details", {}),
        )


@dataclass(frozen=True)
class LabData(_Section):
    """One lab's cells in the training data: its role, counts and what was held out."""

    lab: str
    source: str
    role: str
    trained_on: bool
    cells: int
    blasts: int
    groups: int
    held_out_cells: int


@dataclass(frozen=True)
class TrainingData(_Section):
    """Where the training cells come from; per lab and held-out groups for a multi-lab model."""

    source: str
    labs: tuple[LabData, ...] = ()
    held_out_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    never_shown: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    """Further facts of the recipe (image counts, file list hashes, the lab's own cells ...)."""

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingData:
        return cls(
            source=values["source"],
            labs=tuple(LabData.from_dict(lab) for lab in values.get("labs", ())),
            held_out_groups={lab: tuple(groups) for lab, groups in values.get("held_out_groups", {}).items()},
            never_shown=values.get("never_shown"),
            details=values.get("details", {}),
        )


@dataclass(frozen=True)
class TrainingRecipe(_Section):
    """The labs left out of training, and the recipe's settings as it recorded them."""

    leave_out: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingRecipe:
        return cls(tuple(values.get("leave_out", ())), values.get("settings", {}))


@dataclass(frozen=True)
class ModelRates(_Section):
    """One model on a lab's held-out cells: AUROC, its threshold, recall and specificity with
    their 95% intervals."""

    version: str
    auroc: float
    threshold: float
    recall: float
    recall_interval: tuple[float, float]
    specificity: float
    specificity_interval: tuple[float, float]

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelRates:
        return cls(
            **{
                **values,
                "recall_interval": tuple(values["recall_interval"]),
                "specificity_interval": tuple(values["specificity_interval"]),
            }
        )


@dataclass(frozen=True)
class LabCells(_Section):
    """The reviewed cells of a lab a model was retrained and judged on."""

    blasts: int
    normals: int
    cases: int


@dataclass(frozen=True)
class LabEvaluation(_Section):
    """A model retrained on a lab's cells beside the lab's model before it, on the same cells."""

    method: str
    lab_cells: LabCells
    folds: int
    current: ModelRates
    retrained: ModelRates

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LabEvaluation:
        return cls(
            values["method"],
            LabCells.from_dict(values["lab_cells"]),
            int(values["folds"]),
            ModelRates.from_dict(values["current"]),
            ModelRates.from_dict(values["retrained"]),
        )


@dataclass(frozen=True)
class Speed(_Section):
    """Throughput at the card's default settings (`bench/throughput.py --record-card`)."""

    command: str
    measured: str
    cpus: int
    tta: bool
    model_only_limit_cells_per_s: float
    pipeline_cells_per_s: float
    ratio: float


def without_none(values: dict[str, Any]) -> dict[str, Any]:
    """The entries that are not None (optional parts of the card are left out, not null)."""
    return {key: value for key, value in values.items() if value is not None}
