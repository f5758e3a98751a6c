"""The classifier on the real bundled model: card contract, TTA, batching, calls, bad models."""

import ast
import json
import shutil

import numpy as np
import pytest
from conftest import DEMO_CASE, MODELS, REPO
from PIL import Image

from app.core.classifier import Classifier, ClassifierError
from app.core.model_card import CARD_FILE, FAMILIARITY_FILE, MODEL_FILE
from app.core.preprocess import tta_views


def _demo_inputs(classifier: Classifier, suffix: str, count: int) -> np.ndarray:
    files = sorted(DEMO_CASE.glob(f"*_{suffix}.bmp"))[:count]
    return np.stack([classifier.prepare(np.asarray(Image.open(path))) for path in files])


def test_model_matches_its_card(classifier):
    card = classifier.card
    assert classifier.version == card.version
    assert 0.0 < card.threshold < 1.0 and card.temperature > 0
    written = json.loads((MODELS / CARD_FILE).read_text(encoding="utf-8"))["decision"]
    assert card.uncertain_low <= card.threshold == written["uncertain_band"][1]
    size = card.preprocessing.input_size
    assert classifier.prepare(np.zeros((450, 450, 3), np.uint8)).shape == (size, size, 3)


def test_blasts_score_higher_than_normal_cells(classifier):
    blasts = classifier.predict(_demo_inputs(classifier, "all", 6))
    normals = classifier.predict(_demo_inputs(classifier, "hem", 6))
    assert np.mean([p.probability for p in blasts]) > np.mean([p.probability for p in normals])


def test_tta_averages_the_logits_of_the_8_views_then_calibrates(classifier):
    inputs = _demo_inputs(classifier, "all", 2)
    with_tta = Classifier(MODELS, tta=True, batch_size=8)
    view_logits = np.stack([classifier.logits(view) for view in tta_views(inputs)])
    expected_logits = view_logits.mean(axis=0)
    expected = 1.0 / (1.0 + np.exp(-expected_logits / classifier.card.temperature))  # card rule: no bias
    predictions = with_tta.predict(inputs)
    np.testing.assert_allclose([p.logit for p in predictions], expected_logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose([p.probability for p in predictions], expected, rtol=1e-4, atol=1e-5)


def test_results_do_not_depend_on_batch_size(classifier):
    inputs = np.concatenate([_demo_inputs(classifier, "all", 3), _demo_inputs(classifier, "hem", 2)])
    one_at_a_time = Classifier(MODELS, tta=False, batch_size=1, num_threads=1)
    np.testing.assert_allclose(one_at_a_time.logits(inputs), classifier.logits(inputs), rtol=1e-4, atol=1e-4)


def test_calls_follow_the_card_and_an_overridden_threshold(classifier):
    inputs = np.concatenate([_demo_inputs(classifier, "all", 4), _demo_inputs(classifier, "hem", 4)])
    for threshold in (None, 0.05, 0.95):
        for prediction in classifier.predict(inputs, threshold):
            assert prediction.call == classifier.card.rule.call(prediction.probability, threshold)
    assert classifier.classify([]) == [] and classifier.predict(inputs[:0]) == []
    assert {p.call for p in classifier.predict(inputs, 0.999)} <= {"normal", "uncertain"}


def test_wrong_input_shape_is_refused(classifier):
    with pytest.raises(ValueError, match="expected inputs"):
        classifier.logits(np.zeros((1, 10, 10, 3), np.float32))


@pytest.fixture
def model_copy(tmp_path):
    for name in (MODEL_FILE, CARD_FILE, FAMILIARITY_FILE):
        shutil.copy(MODELS / name, tmp_path / name)
    return tmp_path


def test_missing_model_or_card(model_copy):
    (model_copy / MODEL_FILE).unlink()
    with pytest.raises(ClassifierError, match="model file not found"):
        Classifier(model_copy)
    (model_copy / CARD_FILE).unlink()
    with pytest.raises(ClassifierError, match="model card not found"):
        Classifier(model_copy)


def test_missing_or_damaged_familiarity_reference(model_copy):
    (model_copy / FAMILIARITY_FILE).write_bytes(b"PK not really an npz")
    with pytest.raises(ClassifierError, match="familiarity reference"):
        Classifier(model_copy)
    (model_copy / FAMILIARITY_FILE).unlink()
    with pytest.raises(ClassifierError, match=r"familiarity reference .* not found"):
        Classifier(model_copy)


def test_damaged_model_file(model_copy):
    data = (model_copy / MODEL_FILE).read_bytes()
    (model_copy / MODEL_FILE).write_bytes(b"\x00" * 64 + data[64:1000])
    with pytest.raises(ClassifierError, match="damaged or not a LiteRT model"):
        Classifier(model_copy)


def test_card_that_does_not_fit_the_model(model_copy):
    raw = json.loads((model_copy / CARD_FILE).read_text(encoding="utf-8"))
    raw["preprocessing"]["input_size"] += 32
    (model_copy / CARD_FILE).write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ClassifierError, match="model card says"):
        Classifier(model_copy)
    (model_copy / CARD_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ClassifierError, match="not valid"):
        Classifier(model_copy)


def test_app_never_imports_tensorflow():
    for source in (REPO / "app").rglob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            assert not any(name.split(".")[0] == "tensorflow" for name in names), source


def test_calls_are_recall_first_with_the_uncertain_band_just_below_the_threshold(classifier):
    card = classifier.card.rule
    low, threshold = card.uncertain_low, card.threshold
    assert card.call(threshold) == "flagged" and card.call(1.0) == "flagged"
    assert card.call(np.nextafter(threshold, 0)) == "uncertain" and card.call(low) == "uncertain"
    assert card.call(np.nextafter(low, 0)) == "normal" and card.call(0.0) == "normal"
    shifted = threshold + 0.1
    assert card.call(shifted - 0.05, shifted) == "uncertain"
    assert card.call(low + 0.05, shifted) == "normal"  # the band moved up by 0.1 too
    assert card.call(shifted, shifted) == "flagged"
