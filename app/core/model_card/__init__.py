"""The model card: the one source of truth for how a model is run and decided on.

`model_card.json` holds input size and preprocessing, temperature, decision threshold, the
uncertain band and whether test-time augmentation is on by default, next to the evaluation
numbers.  Nothing in the app repeats these values as literals.  This module is the card's
schema: training builds a `ModelCard` and writes it with `ModelCard.write`, the app and the
benchmarks read it with `ModelCard.load`, which also reads cards of earlier schema versions.
"""

from app.core.model_card.card import SCHEMA_VERSION, ModelCard, ModelCardError, migrated
from app.core.model_card.sections import (
    DecisionSection,
    FamiliaritySection,
    GuardVerdicts,
    LabCells,
    LabData,
    LabEvaluation,
    Metrics,
    ModelDescription,
    ModelFiles,
    ModelRates,
    Speed,
    TrainingData,
    TrainingRecipe,
    TtaComparison,
)

MODEL_FILE = "blast_classifier.tflite"
KERAS_FILE = "blast_classifier.keras"
CARD_FILE = "model_card.json"
CARD_MARKDOWN_FILE = "MODEL_CARD.md"
FAMILIARITY_FILE = "familiarity.npz"

__all__ = [
    "CARD_FILE",
    "CARD_MARKDOWN_FILE",
    "FAMILIARITY_FILE",
    "KERAS_FILE",
    "MODEL_FILE",
    "SCHEMA_VERSION",
    "DecisionSection",
    "FamiliaritySection",
    "GuardVerdicts",
    "LabCells",
    "LabData",
    "LabEvaluation",
    "Metrics",
    "ModelCard",
    "ModelCardError",
    "ModelDescription",
    "ModelFiles",
    "ModelRates",
    "Speed",
    "TrainingData",
    "TrainingRecipe",
    "TtaComparison",
    "migrated",
]
