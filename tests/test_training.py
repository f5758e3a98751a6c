"""Training: patient ids and folds, metrics, the Keras port, and a tiny real training run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from app.core.classifier import Classifier  # noqa: E402
from app.core.loading import load_image  # noqa: E402
from app.core.model_card import (  # noqa: E402
    CARD_FILE,
    CARD_MARKDOWN_FILE,
    FAMILIARITY_FILE,
    KERAS_FILE,
    MODEL_FILE,
    SCHEMA_VERSION,
)
from app.core.segmentation import find_cells  # noqa: E402
from training import metrics  # noqa: E402
from training.__main__ import main as train_main  # noqa: E402
from training.data import find_labelled_images, patient_id  # noqa: E402
from training.train import grouped_folds  # noqa: E402


def test_patient_ids_follow_cnmc_names():
    assert patient_id(Path("all/UID_11_10_1_all.webp")) == "11"
    assert patient_id(Path("hem/UID_H10_43_1_hem.bmp")) == "H10"
    assert patient_id(Path("hem/uid_h7_2_3_hem.png")) == "H7"
    assert patient_id(Path("blast/cell 17.png")) == "file:blast/cell 17.png"


def test_folds_never_share_a_patient(shared_data):
    images = find_labelled_images(shared_data / "cnmc")
    labels = np.array([image.is_blast for image in images])
    patients = np.array([image.patient for image in images])
    fold_of = grouped_folds(labels, list(patients), folds=5, seed=2019)
    for patient in set(patients):
        assert len(set(fold_of[patients == patient])) == 1, patient
    for fold in range(5):
        held_out = labels[fold_of == fold]
        assert held_out.any() and not held_out.all(), "every fold holds both classes"


def test_training_and_app_see_identical_inputs(shared_data):
    """The app's path (load, find cells, prepare) gives exactly the training input."""
    from training.features import training_input

    classifier = Classifier()
    for path in (
        sorted((shared_data / "cnmc" / "all").iterdir())[:2] + sorted((shared_data / "cnmc" / "hem").iterdir())[:2]
    ):
        cells = find_cells(load_image(path).rgb)
        assert len(cells) == 1
        app_input = classifier.prepare(cells[0].canvas)
        np.testing.assert_array_equal(app_input, training_input(path, classifier.card.preprocessing))


def test_keras_port_reproduces_pytorch_imagenet_features():
    from training.convert_efficientnet import reference_image
    from training.efficientnet_lite import build_backbone, reference_features

    features = build_backbone(224)(reference_image(), training=False).numpy()
    np.testing.assert_allclose(features, reference_features(), atol=1e-4)


def test_auroc_and_thresholds_match_definitions():
    rng = np.random.default_rng(0)
    labels = rng.random(500) < 0.4
    scores = rng.normal(labels * 1.5, 1.0)
    pairs = scores[labels][:, None] - scores[~labels][None, :]
    assert metrics.auroc(labels, scores) == pytest.approx((pairs > 0).mean() + 0.5 * (pairs == 0).mean())
    threshold = metrics.threshold_for_recall(labels, scores, 0.95)
    assert (scores[labels] >= threshold).mean() >= 0.95
    assert (scores[labels] >= np.nextafter(threshold, np.inf)).mean() < 0.95


def test_temperature_scaling_recovers_a_known_temperature():
    rng = np.random.default_rng(1)
    true_logits = rng.normal(0, 2.0, 20000)
    labels = rng.random(20000) < metrics.sigmoid(true_logits)
    fitted = metrics.fit_temperature(labels, true_logits * 3.0)
    assert fitted == pytest.approx(3.0, rel=0.08)
    overconfident = metrics.sigmoid(true_logits * 3.0)
    assert metrics.expected_calibration_error(
        labels, metrics.sigmoid(true_logits * 3.0 / fitted)
    ) < metrics.expected_calibration_error(labels, overconfident)


@pytest.mark.slow
def test_one_epoch_on_real_images_exports_a_model_the_app_runs(tiny_dataset, tmp_path, capsys, shared_data):
    extra = tmp_path / "extra" / "neutrophil"
    extra.mkdir(parents=True)
    for source in sorted((shared_data / "pbc_normal_other" / "neutrophil").iterdir())[:2]:
        shutil.copy(source, extra / source.name)
    out = tmp_path / "models"
    assert (
        train_main(
            [
                "--recipe",
                "frozen-head",
                "--data",
                str(tiny_dataset),
                "--out",
                str(out),
                "--run-dir",
                str(tmp_path / "run"),
                "--epochs",
                "1",
                "--folds",
                "2",
                "--image-size",
                "64",
                "--extra-negatives",
                str(extra.parent),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "skipped" in printed and "UID_H6_99_9_hem.bmp" in printed
    for name in (MODEL_FILE, KERAS_FILE, CARD_FILE, CARD_MARKDOWN_FILE, "roc_curve.png", "reliability.png"):
        assert (out / name).stat().st_size > 0, name

    classifier = Classifier(out, tta=False, batch_size=4)
    assert classifier.card.preprocessing.input_size == 64
    assert classifier.card.schema_version == SCHEMA_VERSION
    assert classifier.card.training_data.details["images_per_class"] == {"all": 12, "hem": 12}
    assert classifier.card.training_data.details["extra_negatives"]["cells"] == 2
    assert classifier.card.metrics.details["extra_negatives_flagged"]["neutrophil"]["cells"] == 2
    paths = sorted(tiny_dataset.glob("*/*.webp"))
    inputs = np.stack([classifier.prepare(load_image(p).rgb) for p in paths])
    keras_logits = tf.keras.models.load_model(out / KERAS_FILE)(inputs, training=False)
    keras_probabilities = metrics.sigmoid(keras_logits.numpy()[:, 0] / classifier.card.temperature)
    app_probabilities = [prediction.probability for prediction in classifier.predict(inputs)]
    np.testing.assert_allclose(app_probabilities, keras_probabilities, atol=1e-4)
    # LiteRT's fused float32 kernels differ from TensorFlow's in the last digits of the logit.
    np.testing.assert_allclose(classifier.logits(inputs), keras_logits.numpy()[:, 0], atol=5e-4)


@pytest.fixture(scope="module")
def tiny_labs(tmp_path_factory, shared_data) -> Path:
    """A shared-data folder in miniature: every lab, a few images each (links to the real files)."""
    root = tmp_path_factory.mktemp("tiny_labs")

    def link(source_folder: str, target_folder: str, pattern: str, count: int, step: int = 1) -> None:
        target = root / target_folder
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted((shared_data / source_folder).glob(pattern))[::step][:count]:
            (target / source.name).symlink_to(source)

    for patient in ("1", "2", "3", "4", "5", "11", "14"):
        link("cnmc/all", "cnmc/all", f"UID_{patient}_*", 2)
    for subject in ("H6", "H7", "H10", "H11"):
        link("cnmc/hem", "cnmc/hem", f"UID_{subject}_*", 2)
    for klass in ("Benign", "Early"):  # fields 10 apart: two field blocks per class
        link(f"fields_taleqani/Original/{klass}", f"fields_taleqani/Original/{klass}", "*.jpg", 2, step=12)
    link("pbc_normal_other/neutrophil", "pbc_normal_other/neutrophil", "*.jpg", 2)
    for lab, klass in (
        ("bccd", "lymphocyte"),
        ("raabin_wbc", "unlabelled"),
        ("jiangxi_tecom", "lymphocyte"),
        ("cellavision_blog", "lymphocyte"),
    ):
        link(f"other_labs_normal/{lab}/{klass}", f"other_labs_normal/{lab}/{klass}", "*", 2)
    return root


@pytest.mark.slow
def test_multilab_run_resumes_and_exports_a_model_with_its_familiarity_reference(tiny_labs, tmp_path, capsys):
    out, runs = tmp_path / "models", tmp_path / "runs"
    args = [
        "--data-root",
        str(tiny_labs),
        "--out",
        str(out),
        "--run-dir",
        str(runs),
        "--epochs",
        "2",
        "--steps-per-epoch",
        "2",
        "--image-size",
        "64",
    ]
    assert train_main(args) == 0
    run = runs / "finetune"
    first = (run / "history.jsonl").read_text().splitlines()
    assert len(first) == 2
    for stale in run.glob("epoch_02.*"):  # as if the machine had stopped during epoch 2
        stale.unlink()
    (run / "history.jsonl").write_text(first[0] + "\n")
    assert train_main([*args, "--resume"]) == 0
    assert "resumed after epoch 1" in capsys.readouterr().out
    assert len((run / "history.jsonl").read_text().splitlines()) == 2

    classifier = Classifier(out, tta=False, batch_size=4)
    card = classifier.card
    assert classifier.guard is not None and card.preprocessing.input_size == 64
    assert {lab.lab for lab in card.training_data.labs if not lab.trained_on} == {"jiangxi", "cellavision"}
    assert len(card.training_data.held_out_groups["cnmc"]) == 9
    assert set(card.validation) >= {"held_out", "confound_baseline", "counterfactual_colour_swap"}
    assert card.familiarity.reference_file == FAMILIARITY_FILE and card.decision.tta_comparison is not None
    paths = sorted((tiny_labs / "cnmc" / "all").iterdir())[:3]
    inputs = np.stack([classifier.prepare(load_image(p).rgb) for p in paths])
    predictions = classifier.predict(inputs)
    assert all(len(p.distances) == classifier.guard.width for p in predictions)
    keras_logits, _ = tf.keras.models.load_model(out / KERAS_FILE)(inputs, training=False)
    np.testing.assert_allclose(classifier.logits(inputs), keras_logits.numpy()[:, 0], atol=5e-4)
