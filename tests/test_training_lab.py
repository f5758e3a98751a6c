"""Retraining on a lab's reviewed cells (`python -m training --lab-data`): a tiny real run on
the simulated second lab, and the refusal with too few labels."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from app.core.classifier import Classifier  # noqa: E402
from app.core.model_card import CARD_MARKDOWN_FILE, KERAS_FILE, MODEL_FILE, LabCells  # noqa: E402
from app.core.site import BUNDLED, SiteLibrary  # noqa: E402
from app.core.store import CaseStore  # noqa: E402
from training.__main__ import main as train_main  # noqa: E402
from training.features import stored_canvas  # noqa: E402
from training.lab import mixed_weights  # noqa: E402


def tiny_run(data_dir, tiny_dataset, run_dir) -> list[str]:
    return [
        "--lab-data",
        str(data_dir),
        "--data",
        str(tiny_dataset),
        "--run-dir",
        str(run_dir),
        "--epochs",
        "2",
        "--folds",
        "3",
        "--image-size",
        "64",
        "--views",
        "1",
        "--extra-negatives",
        "none",
    ]


def test_lab_weights_balance_classes_within_each_source():
    original, lab = np.array([True] * 30 + [False] * 70), np.array([True] * 5 + [False] * 15)
    weights = mixed_weights(original, lab, 0.25)
    assert weights.mean() == pytest.approx(1.0)
    original_weights, lab_weights = weights[:100] / weights.sum(), weights[100:] / weights.sum()
    assert lab_weights.sum() == pytest.approx(0.25)
    assert lab_weights[lab].sum() == pytest.approx(lab_weights[~lab].sum())
    assert original_weights[original].sum() == pytest.approx(original_weights[~original].sum())


def test_stored_canvas_reads_back_the_canvas_the_model_saw(lab, tmp_path):
    store, classifier, _ = lab
    cell = store.lab_labels()[0]
    canvas = stored_canvas_of(store, cell.cell_id, tmp_path)
    assert canvas.shape == (450, 450, 3)
    assert classifier.predict(classifier.prepare(canvas)[None])[0].logit == pytest.approx(cell.logit, abs=1e-4)


@pytest.mark.slow
def test_retraining_writes_a_model_the_app_offers_with_both_models_on_the_same_cells(
    lab_copy, tiny_dataset, tmp_path, capsys
):
    store, _, _ = lab_copy
    data_dir = store.path.parent
    assert train_main(tiny_run(data_dir, tiny_dataset, tmp_path / "run")) == 0
    assert "wrote" in capsys.readouterr().out

    library = SiteLibrary(data_dir)
    bundled, retrained = library.models()
    assert bundled.key == BUNDLED and retrained.card.version.startswith("0.1.0+lab")
    assert [p.name for p in data_dir.iterdir() if p.name.startswith(".retraining")] == []
    for name in (MODEL_FILE, KERAS_FILE, CARD_MARKDOWN_FILE, "roc_curve.png"):
        assert (retrained.folder / name).stat().st_size > 0, name

    classifier = Classifier(retrained.folder, batch_size=4)
    assert classifier.card.preprocessing.input_size == 64
    canvases = [stored_canvas_of(store, label.cell_id, tmp_path) for label in store.lab_labels()[:3]]
    assert all(0 <= p.probability <= 1 for p in classifier.classify(canvases))

    evaluation = retrained.card.lab_evaluation
    assert evaluation.lab_cells == LabCells(blasts=72, normals=72, cases=12)
    assert evaluation.folds == 3
    assert evaluation.current.version == bundled.card.version
    assert evaluation.retrained.version == retrained.card.version
    assert evaluation.current.auroc > 0.65  # the bundled model ranks this lab's cells
    for model in (evaluation.current, evaluation.retrained):
        assert model.recall_interval[0] <= model.recall <= model.recall_interval[1]
        assert model.specificity_interval[0] <= model.specificity <= model.specificity_interval[1]
    assert retrained.card.training_data.details["lab"]["cases"] == 12
    assert retrained.card.metrics.basis.startswith("this lab's cells")
    assert library.active().model.bundled, "a new model is used only once someone chooses it"


def test_too_few_labels_are_refused_with_the_reason(tiny_dataset, tmp_path, capsys):
    data_dir = tmp_path / "new-lab"
    CaseStore.open(data_dir).close()
    assert train_main(tiny_run(data_dir, tiny_dataset, tmp_path / "run")) == 2
    assert "not enough reviewed cells to retrain: 0 confirmed blasts (need 50)" in capsys.readouterr().err
    assert not (data_dir / "models").exists()


def stored_canvas_of(store: CaseStore, cell_id: int, folder) -> np.ndarray:
    path = folder / f"{cell_id}.png"
    path.write_bytes(store.cell_crop(cell_id))
    return stored_canvas(path)
