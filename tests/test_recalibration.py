"""Site recalibration on a simulated second lab: real cells in another lab's look, real model,
real store; the fitted rule is checked on held-out cases of the same lab."""

import numpy as np
import pytest

from app.core.classifier import Classifier
from app.core.pipeline import classify_case
from app.core.recalibration import LabelSet, RecalibrationRefused, recalibrate
from app.core.store import CaseStore
from conftest import MODELS
from simulated_lab import is_blast_patient, lab_patients, write_lab_images

TARGET = 0.95
CELLS_PER_PATIENT = 12


def classify_and_sign_off(store, folders, classifier, reviewer="ana"):
    """One case per patient, every cell reviewed with the truth, then signed off."""
    for patient, folder in folders.items():
        case = store.create_case(f"lab case {patient}")
        classify_case(store, case.id, [folder], classifier)
        for cell in store.list_cells(case.id):
            store.set_decision(cell.id, "blast" if is_blast_patient(patient) else "normal", reviewer)
        store.sign_off(case.id, reviewer)


def flagged_share(store, folders, classifier, is_blast):
    """Share of the cells of these patients' folders (of one class) the classifier flags."""
    case = store.create_case(f"held out {len(store.list_cases())}")
    chosen = [folder for patient, folder in folders.items() if is_blast_patient(patient) == is_blast]
    classify_case(store, case.id, chosen, classifier)
    cells = store.list_cells(case.id)
    return np.mean([cell.call == "flagged" for cell in cells]), len(cells)


@pytest.fixture(scope="module")
def lab(shared_data, tmp_path_factory):
    """Fitting cases (6 ALL + 6 healthy patients) signed off in a store; held-out patients' folders."""
    folder = tmp_path_factory.mktemp("other_lab")
    fitting = write_lab_images(shared_data, folder, lab_patients(shared_data, 6, 6), CELLS_PER_PATIENT)
    held_out = write_lab_images(shared_data, folder, lab_patients(shared_data, 4, 4, skip=6), CELLS_PER_PATIENT)
    classifier = Classifier(MODELS, tta=False, batch_size=8)
    store = CaseStore(tmp_path_factory.mktemp("lab_data") / "cases.sqlite3")
    classify_and_sign_off(store, fitting, classifier)
    yield store, classifier, held_out
    store.close()


def test_recalibration_reaches_the_target_and_its_interval_covers_held_out_cases(lab):
    store, classifier, held_out = lab
    labels = LabelSet.of_model(store.lab_labels(), classifier.version)
    assert (labels.blasts, labels.normals, labels.cases) == (72, 72, 12)
    result = recalibrate(labels, classifier.rule, TARGET)
    assert result.before.recall < TARGET - 0.1  # the card's threshold does not carry to this lab
    assert result.auroc > 0.8  # ... but its ranking does
    low, high = result.after.recall_interval
    assert low <= result.after.recall <= high and high - low < 0.3
    site = Classifier(MODELS, tta=False, batch_size=8, rule=result.rule)
    held_out_recall, blasts = flagged_share(store, held_out, site, is_blast=True)
    held_out_flagged_normals, normals = flagged_share(store, held_out, site, is_blast=False)
    assert blasts >= 40 and normals >= 40
    assert held_out_recall >= TARGET - 0.05 > result.before.recall
    assert low <= held_out_recall <= high
    spec_low, spec_high = result.after.specificity_interval
    assert spec_low <= 1 - held_out_flagged_normals <= spec_high


def test_too_few_labels_are_refused_with_the_reason(lab):
    store, classifier, _ = lab
    labels = LabelSet.of_model(store.lab_labels(), classifier.version)
    few = labels.subset(np.isin(labels.case_ids, np.unique(labels.case_ids)[:4]))
    with pytest.raises(RecalibrationRefused, match=r"confirmed blasts \(need 50\).*4 signed-off cases"):
        recalibrate(few, classifier.rule, TARGET)
    with pytest.raises(RecalibrationRefused, match="0 confirmed blasts"):
        recalibrate(LabelSet.of_model(store.lab_labels(), "another model"), classifier.rule, TARGET)
