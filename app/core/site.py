"""This lab's setup: which model and which site profile classify new cells.

Everything lives in the data folder beside the case database:

- ``site_profiles/site_profile_<n>.json``: versioned site profiles (a refitted decision rule
  for one model version, with its before/after evidence); never changed once written;
- ``models/<name>/``: models retrained on this lab's cells (`python -m training
  --lab-data`), each a `blast_classifier.tflite` with its `model_card.json`;
- ``active_setup.json``: the model and profile in use, and who changed them when.

Nothing changes silently: a new profile or model is only used once someone chooses it, and
the bundled model with its own card is always one call (`use_model(BUNDLED)`) away.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from app.core.decision import DecisionRule
from app.core.files import replaced_atomically
from app.core.model_card import CARD_FILE, MODEL_FILE, ModelCard, ModelCardError
from app.core.pipeline import assess_familiarity
from app.core.recalibration import RateEstimate, Recalibration
from app.core.resources import models_dir
from app.core.store import Case, CaseStore

PROFILES_FOLDER = "site_profiles"
MODELS_FOLDER = "models"
SETUP_FILE = "active_setup.json"
BUNDLED = "bundled"
"""Key of the model that ships with the app."""


class SiteError(RuntimeError):
    """A request about profiles or models that cannot be done, with a reason for a person."""


@dataclass(frozen=True)
class SiteProfile:
    """A decision rule refitted on this lab's reviewed cells for one model version."""

    number: int
    created_at: str
    created_by: str
    model_version: str
    target_recall: float
    rule: DecisionRule
    based_on: str
    """The rule in use when it was fitted: what `before` measures."""
    before: RateEstimate
    after: RateEstimate
    auroc: float
    folds: int

    @property
    def name(self) -> str:
        return self.rule.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "model_version": self.model_version,
            "target_recall": self.target_recall,
            "decision": self.rule.to_dict(),
            "based_on": self.based_on,
            "evaluation": {
                "method": (
                    "case-grouped cross-validation; 95% Wilson intervals on the design-effect-adjusted number of cells"
                ),
                "folds": self.folds,
                "auroc": self.auroc,
                "before": self.before.to_dict(),
                "after": self.after.to_dict(),
            },
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SiteProfile:
        evaluation = values["evaluation"]
        return cls(
            number=int(values["number"]),
            created_at=values["created_at"],
            created_by=values["created_by"],
            model_version=values["model_version"],
            target_recall=float(values["target_recall"]),
            rule=DecisionRule.from_dict(values["decision"]),
            based_on=values["based_on"],
            before=RateEstimate.from_dict(evaluation["before"]),
            after=RateEstimate.from_dict(evaluation["after"]),
            auroc=float(evaluation["auroc"]),
            folds=int(evaluation["folds"]),
        )


@dataclass(frozen=True)
class ModelChoice:
    """A model the lab can use: the bundled one or one retrained here."""

    key: str
    folder: Path
    card: ModelCard

    @property
    def bundled(self) -> bool:
        return self.key == BUNDLED

    @property
    def label(self) -> str:
        return f"{self.card.version} ({'bundled' if self.bundled else 'retrained on this lab'})"


@dataclass(frozen=True)
class ActiveSetup:
    """The model and, if any, the site profile that decide new cells."""

    model: ModelChoice
    profile: SiteProfile | None
    note: str = ""
    """Why the saved choice could not be used, when the setup fell back to the bundled model."""

    @property
    def rule(self) -> DecisionRule:
        return self.profile.rule if self.profile is not None else self.model.card.rule

    def describe(self) -> str:
        return f"Model {self.model.label} · rule: {self.rule.name}"


class SiteLibrary:
    """Site profiles, lab models and the active choice, in one data folder."""

    def __init__(self, folder: str | os.PathLike[str], bundled_models: Path | None = None) -> None:
        self.folder = Path(folder)
        self._bundled = bundled_models or models_dir()

    # Profiles

    def profiles(self) -> list[SiteProfile]:
        """All saved profiles, oldest first; unreadable files are skipped."""
        found = []
        for path in sorted((self.folder / PROFILES_FOLDER).glob("site_profile_*.json")):
            try:
                found.append(SiteProfile.from_dict(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return sorted(found, key=lambda profile: profile.number)

    def profile(self, number: int) -> SiteProfile:
        for profile in self.profiles():
            if profile.number == number:
                return profile
        raise SiteError(f"there is no site profile {number}")

    def save_profile(
        self, recalibration: Recalibration, model_version: str, created_by: str, based_on: str
    ) -> SiteProfile:
        """Keep a new profile (not used until chosen); its number is one more than the last."""
        number = max((profile.number for profile in self.profiles()), default=0) + 1
        name = f"site profile {number}"
        rule = DecisionRule(**{**recalibration.rule.to_dict(), "name": name})
        profile = SiteProfile(
            number=number,
            created_at=_now(),
            created_by=created_by,
            model_version=model_version,
            target_recall=recalibration.target_recall,
            rule=rule,
            based_on=based_on,
            before=recalibration.before,
            after=recalibration.after,
            auroc=recalibration.auroc,
            folds=recalibration.folds,
        )
        path = self.folder / PROFILES_FOLDER / f"site_profile_{number:04d}.json"
        if path.exists():
            raise SiteError(f"{path} exists already")
        _write_json_atomically(path, profile.to_dict())
        return profile

    # Models

    def models(self) -> list[ModelChoice]:
        """The bundled model first, then the lab's retrained models (valid ones), oldest first."""
        choices = [ModelChoice(BUNDLED, self._bundled, ModelCard.load(self._bundled / CARD_FILE))]
        for folder in sorted((self.folder / MODELS_FOLDER).glob("*/")):
            if not (folder / MODEL_FILE).is_file():
                continue
            try:
                choices.append(ModelChoice(folder.name, folder, ModelCard.load(folder / CARD_FILE)))
            except ModelCardError:
                continue
        return choices

    def model(self, key: str) -> ModelChoice:
        for choice in self.models():
            if choice.key == key:
                return choice
        raise SiteError(f"there is no model {key!r} (have: {', '.join(c.key for c in self.models())})")

    # The active choice

    def active(self) -> ActiveSetup:
        """What is in use; the bundled model with its card when nothing (usable) was chosen."""
        saved = self._saved()
        try:
            model = self.model(saved.get("model", BUNDLED))
            number = saved.get("profile")
            profile = None if number is None else self.profile(int(number))
        except SiteError as error:
            return ActiveSetup(self.model(BUNDLED), None, f"{error}; using the bundled model and its card")
        if profile is not None and profile.model_version != model.card.version:
            return ActiveSetup(model, None, f"{profile.name} belongs to model {profile.model_version}")
        return ActiveSetup(model, profile)

    def use(self, model_key: str, profile_number: int | None, changed_by: str) -> ActiveSetup:
        """Choose the model and profile (None: the model's own card) for new cells; logged."""
        model = self.model(model_key)
        if profile_number is not None:
            profile = self.profile(profile_number)
            if profile.model_version != model.card.version:
                raise SiteError(
                    f"{profile.name} was fitted for model {profile.model_version}, not {model.card.version}"
                )
        saved = self._saved()
        history = [
            *saved.get("history", []),
            {"at": _now(), "by": changed_by, "model": model_key, "profile": profile_number},
        ]
        _write_json_atomically(
            self.folder / SETUP_FILE, {"model": model_key, "profile": profile_number, "history": history}
        )
        return self.active()

    def setup_for(self, case: Case | None) -> ActiveSetup:
        """What classifies more of `case`: the active setup, unless the case was begun with
        another model; then that model (and the case's profile, if it is that model's), since
        one case never mixes two models' numbers."""
        active = self.active()
        if case is None or case.model_version is None or case.model_version == active.model.card.version:
            return active
        model = next((m for m in self.models() if m.card.version == case.model_version), None)
        if model is None:
            raise SiteError(
                f"case {case.name!r} was classified with model {case.model_version}, which is "
                "not installed any more; start a new case from the same images instead"
            )
        return ActiveSetup(
            model, self.profile_of(case), f"case {case.name!r} continues with its own model {model.label}"
        )

    def profile_of(self, case: Case) -> SiteProfile | None:
        """The site profile that decided `case`, if one did and its file is still here."""
        return next(
            (p for p in self.profiles() if p.name == case.decision_rule and p.model_version == case.model_version), None
        )

    def history(self) -> list[dict[str, Any]]:
        """Every change of the active setup: when, who, model key and profile number."""
        return list(self._saved().get("history", []))

    def _saved(self) -> dict[str, Any]:
        try:
            saved = json.loads((self.folder / SETUP_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return saved if isinstance(saved, dict) else {}


def apply_to_open_cases(store: CaseStore, setup: ActiveSetup) -> list[str]:
    """Re-decide the open cases classified with the active model by its active rule.

    Signed-off cases keep the numbers they were signed with; cases of another model keep
    theirs (their logits are another model's).  The familiarity check is judged again: a site
    profile fitted on this lab lifts it, going back to the card brings it back.  Returns the
    names of the cases changed.
    """
    changed = []
    guard = setup.model.card.familiarity_guard(setup.model.folder)
    for case in store.list_cases():
        if case.signed_off or case.model_version != setup.model.card.version:
            continue
        if case.decision_rule != setup.rule.name or case.threshold != setup.rule.threshold:
            store.set_case_model(case.id, case.model_version, setup.rule, setup.rule.threshold)
            assess_familiarity(store, case.id, case.model_version, setup.rule.name, guard)
            changed.append(case.name)
    return changed


def _write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=2)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
