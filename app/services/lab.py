"""Adapting to a lab: its labels, fitting a site profile, choosing what classifies."""

from __future__ import annotations

from app.core.recalibration import LabelSet, Recalibration, recalibrate
from app.core.site import ActiveSetup, SiteLibrary, SiteProfile, apply_to_open_cases
from app.core.store import CaseStore


def lab_labels(store: CaseStore, setup: ActiveSetup) -> LabelSet:
    """The reviewed cells of signed-off cases that the setup's model measured."""
    return LabelSet.of_model(store.lab_labels(), setup.model.card.version)


def fit_profile(labels: LabelSet, setup: ActiveSetup, target_recall: float) -> Recalibration:
    """A new rule for the setup's model from the lab's labels (slow: run off the GUI thread);
    raises `RecalibrationRefused` with the reason."""
    return recalibrate(labels, setup.rule, target_recall)


def save_profile(library: SiteLibrary, setup: ActiveSetup, result: Recalibration, by: str) -> SiteProfile:
    """Keep a fitted rule as a numbered site profile, not used until chosen."""
    return library.save_profile(result, setup.model.card.version, by, setup.rule.name)


def switch_setup(
    store: CaseStore, library: SiteLibrary, model_key: str, profile_number: int | None, by: str
) -> tuple[ActiveSetup, list[str]]:
    """Use a model and profile (None: the model's card) from now on and re-decide the open cases
    of that model; the new setup and the names of the cases re-decided."""
    setup = library.use(model_key, profile_number, by)
    return setup, apply_to_open_cases(store, setup)
