"""Site recalibration on a simulated second lab: real cells in another lab's look, real model,
real store; the fitted rule is checked on held-out cases of the same lab."""

import json
import shutil

import numpy as np
import pytest
from conftest import MODELS, TARGET_RECALL
from openpyxl import load_workbook
from simulated_lab import is_blast_patient

from app.cli import EXIT_OK, EXIT_USAGE, main
from app.core.classifier import Classifier
from app.core.model_card import CARD_FILE, FAMILIARITY_FILE, MODEL_FILE
from app.core.pipeline import classify_case
from app.core.recalibration import LabelSet, RecalibrationRefused, clustered_proportion, estimate, recalibrate
from app.core.report import write_report
from app.core.site import BUNDLED, MODELS_FOLDER, SiteError, SiteLibrary, apply_to_open_cases

TARGET = TARGET_RECALL


def held_out_estimate(store, folders, classifier):
    """Recall and specificity the classifier's calls reach on held-out patients (a case each)."""
    case_ids, is_blast, flagged = [], [], []
    for patient, folder in folders.items():
        case = store.create_case(f"held out {patient} {classifier.rule.name}")
        classify_case(store, case.id, [folder], classifier)
        cells = store.list_cells(case.id)
        case_ids += [case.id] * len(cells)
        is_blast += [is_blast_patient(patient)] * len(cells)
        flagged += [cell.call == "flagged" for cell in cells]
    labels = LabelSet(np.array(case_ids), np.zeros(len(case_ids)), np.array(is_blast))
    return estimate(labels, np.array(flagged))


def overlap(first: tuple[float, float], second: tuple[float, float]) -> bool:
    return first[0] <= second[1] and second[0] <= first[1]


def test_recalibration_reaches_the_target_and_held_out_cases_agree_with_its_estimate(lab):
    store, classifier, held_out = lab
    labels = LabelSet.of_model(store.lab_labels(), classifier.version)
    assert (labels.blasts, labels.normals, labels.cases) == (72, 72, 12)
    result = recalibrate(labels, classifier.rule, TARGET)
    assert result.auroc > 0.65  # the bundled model ranks this lab's cells
    assert result.rule.threshold != classifier.rule.threshold  # refitted on the lab's own labels
    low, high = result.after.recall_interval
    assert low <= result.after.recall <= high and high - low < 0.3
    held = held_out_estimate(store, held_out, Classifier(MODELS, tta=False, batch_size=8, rule=result.rule))
    assert held.blasts >= 40 and held.normals >= 40 and held.cases == 8
    assert (
        held.recall_interval[0] <= TARGET <= held.recall_interval[1] + 0.02
    )  # held-out cases do not refute the target
    # what the held-out cases show agrees with the estimate (each has its sampling error)
    assert overlap(held.recall_interval, result.after.recall_interval)
    assert overlap(held.specificity_interval, result.after.specificity_interval)


def test_too_few_labels_are_refused_with_the_reason(lab):
    store, classifier, _ = lab
    labels = LabelSet.of_model(store.lab_labels(), classifier.version)
    few = labels.subset(np.isin(labels.case_ids, np.unique(labels.case_ids)[:4]))
    with pytest.raises(RecalibrationRefused, match=r"confirmed blasts \(need 50\).*4 signed-off cases"):
        recalibrate(few, classifier.rule, TARGET)
    with pytest.raises(RecalibrationRefused, match="0 confirmed blasts"):
        recalibrate(LabelSet.of_model(store.lab_labels(), "another model"), classifier.rule, TARGET)


def test_switching_profiles_back_and_forth_changes_the_numbers_and_loses_nothing(lab_copy, tmp_path):
    store, classifier, held_out = lab_copy
    library = SiteLibrary(store.path.parent)
    open_case = store.create_case("open case")
    classify_case(store, open_case.id, list(held_out.values())[:2], classifier)
    original = [(c.probability, c.call) for c in store.list_cells(open_case.id, sort="position")]
    first_cell = store.list_cells(open_case.id, sort="position")[0].id
    store.set_decision(first_cell, "unsure", "ana")
    signed = store.list_cases()[-1]
    signed_calls = [c.call for c in store.list_cells(signed.id)]

    result = recalibrate(LabelSet.of_model(store.lab_labels(), classifier.version), classifier.rule, TARGET)
    profile = library.save_profile(result, classifier.version, "ana", classifier.rule.name)
    assert library.active().profile is None  # kept, not used until chosen
    assert library.profiles() == [profile] and profile.name == "site profile 1"

    setup = library.use(BUNDLED, profile.number, "ben")
    assert setup.rule == profile.rule and "open case" in apply_to_open_cases(store, setup)
    recalled = store.list_cells(open_case.id, sort="position")
    assert store.get_case(open_case.id).decision_rule == "site profile 1"
    assert [c.call for c in recalled] != [call for _, call in original]  # the profile decides now
    assert [c.call for c in store.list_cells(signed.id)] == signed_calls  # signed off: frozen
    summary = _report_summary(store, open_case.id, tmp_path / "site.xlsx")
    assert summary["Decision rule"] == f"site profile 1, threshold {profile.rule.threshold:.3f}"
    assert summary["Site profile labels"] == "72 blasts, 72 normal cells, 12 cases"
    assert summary["Site profile recall (cross-validated)"].startswith(f"{profile.after.recall:.2f} (95% CI")
    assert "by ana" in summary["Site profile fitted"]
    assert summary["Decision threshold"] == pytest.approx(profile.rule.threshold)

    setup = library.use(BUNDLED, None, "ben")
    apply_to_open_cases(store, setup)
    back = store.list_cells(open_case.id, sort="position")
    assert [c.call for c in back] == [call for _, call in original]
    assert [c.probability for c in back] == pytest.approx([probability for probability, _ in original])
    assert store.get_cell(first_cell).decision == "unsure"
    card_summary = _report_summary(store, open_case.id, tmp_path / "card.xlsx")
    assert card_summary["Decision rule"] == f"model card (no site profile), threshold {classifier.rule.threshold:.3f}"
    assert not any(key.startswith("Site profile") for key in card_summary)
    assert [(h["by"], h["profile"]) for h in library.history()] == [("ben", 1), ("ben", None)]


def test_a_lab_model_is_offered_beside_the_bundled_one_and_profiles_stay_with_their_model(lab_copy):
    store, classifier, _ = lab_copy
    library = SiteLibrary(store.path.parent)
    profile = library.save_profile(
        recalibrate(LabelSet.of_model(store.lab_labels(), classifier.version), classifier.rule, TARGET),
        classifier.version,
        "ana",
        classifier.rule.name,
    )
    library.use(BUNDLED, profile.number, "ana")
    lab_model = store.path.parent / MODELS_FOLDER / "retrained-1"
    lab_model.mkdir(parents=True)
    for name in (MODEL_FILE, FAMILIARITY_FILE):
        shutil.copy(MODELS / name, lab_model / name)
    card = json.loads((MODELS / CARD_FILE).read_text())
    (lab_model / CARD_FILE).write_text(json.dumps({**card, "version": "lab-retrained-1"}))
    assert [m.key for m in library.models()] == [BUNDLED, "retrained-1"]
    assert library.active().model.bundled  # offered, not used
    with pytest.raises(SiteError, match="fitted for model"):
        library.use("retrained-1", profile.number, "ana")
    assert main(["lab", "--use-model", "retrained-1", "--by", "ana", "--data-dir", str(store.path.parent)]) == 0
    setup = library.active()  # the old model's profile is left behind, not an error
    assert setup.model.card.version == "lab-retrained-1" and setup.profile is None
    assert Classifier(setup.model.folder, tta=False, rule=setup.rule).version == "lab-retrained-1"
    shutil.rmtree(lab_model)  # a model folder that went away: back to the bundled model, said so
    fallback = library.active()
    assert fallback.model.bundled and "no model 'retrained-1'" in fallback.note


def test_the_lab_command_fits_and_chooses_profiles_and_classify_uses_them(lab_copy, capsys, tmp_path):
    store, _, held_out = lab_copy
    folder = ["--data-dir", str(store.path.parent)]
    assert main(["lab", "--recalibrate", *folder]) == EXIT_USAGE  # who?
    assert main(["lab", "--recalibrate", "--by", "ana", *folder]) == EXIT_OK
    assert "Saved site profile 1 (not in use" in capsys.readouterr().out
    assert main(["lab", "--use-profile", "1", "--by", "ana", *folder]) == EXIT_OK
    out = capsys.readouterr().out
    assert "rule: site profile 1" in out and "72 blasts, 72 normals from 12 signed-off cases" in out
    csv_file = tmp_path / "out.csv"
    assert main(["classify", str(next(iter(held_out.values()))), "--csv", str(csv_file), "--no-tta", *folder]) == 0
    assert "rule: site profile 1" in capsys.readouterr().err
    assert main(["lab", "--use-profile", "7", "--by", "ana", *folder]) == 1
    assert "there is no site profile 7" in capsys.readouterr().err


def _report_summary(store, case_id, path):
    write_report(store, case_id, path)
    sheet = load_workbook(path)["Summary"]
    return {row[0]: row[1] for row in sheet.iter_rows(values_only=True) if row[0]}


def test_intervals_count_cases_not_only_cells():
    alike = clustered_proportion(np.tile([True] * 9 + [False], 10), np.repeat(np.arange(10), 10))
    per_case = clustered_proportion(np.repeat([True] * 9 + [False], 10), np.repeat(np.arange(10), 10))
    assert alike[0] == per_case[0] == 0.9
    width = lambda interval: interval[1][1] - interval[1][0]  # noqa: E731
    assert width(per_case) > 2 * width(alike)  # whole cases missed: far less certain
    every, interval = clustered_proportion(np.ones(400, dtype=bool), np.repeat(np.arange(8), 50))
    assert every == 1.0 and interval[1] == 1.0 and 0.6 < interval[0] < 0.8  # 8 cases, not 400 cells
