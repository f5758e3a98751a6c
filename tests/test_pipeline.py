"""A whole case run on real files, the real model and real SQLite: errors, skipping, progress, cancel."""

import io

import numpy as np
import pytest
from bad_inputs import ERRORS, VALID
from conftest import MODELS
from PIL import Image

from app.core.cells import FoundCell, whole_image_as_cell
from app.core.classifier import Classifier
from app.core.pipeline import classify_case
from app.core.preprocess import to_canvas


class CountingClassifier:
    """The real classifier, counting the cells it is asked to classify."""

    def __init__(self, classifier):
        self._classifier = classifier
        self.cells = 0

    def __getattr__(self, name):
        return getattr(self._classifier, name)

    def predict(self, inputs, threshold=None):
        self.cells += len(inputs)
        return self._classifier.predict(inputs, threshold)


def test_whole_image_as_cell_boxes_the_content(sample_cell):
    image = np.zeros((500, 600, 3), np.uint8)
    image[100:110, 200:230] = 180
    (cell,) = whole_image_as_cell(image)
    assert cell.box == (200, 100, 30, 10) and not cell.touches_border
    assert cell.canvas.shape == (450, 450, 3) and cell.canvas.sum() == image.sum()
    image[0, 0] = 255
    assert whole_image_as_cell(image)[0].touches_border
    assert whole_image_as_cell(np.zeros((5, 5, 3), np.uint8)) == []
    (real,) = whole_image_as_cell(sample_cell)
    assert np.array_equal(real.canvas, sample_cell)


def test_corpus_case_errors_stored_rest_classified_and_second_run_does_nothing_twice(store, corpus, classifier):
    case = store.create_case("corpus")
    counting = CountingClassifier(classifier)
    first = classify_case(store, case.id, [corpus], counting)
    expected_images = len(ERRORS) + len(VALID)
    assert (first.total, first.skipped, first.classified, first.errors) == (expected_images, 0, len(VALID), len(ERRORS))
    assert counting.cells == first.cells == len(VALID)  # every valid file is one cell on black
    errors = {image.path.rsplit("/", 1)[-1]: image.message for image in store.list_errors(case.id)}
    assert set(errors) == set(ERRORS)
    for name, phrase in ERRORS.items():
        assert phrase in errors[name]
    cells = store.list_cells(case.id)
    assert len(cells) == len(VALID)
    assert {cell.model_version for cell in cells} == {classifier.version}
    assert {cell.call for cell in cells} <= {"flagged", "uncertain", "normal"}
    crop = Image.open(io.BytesIO(store.cell_crop(cells[0].id)))
    assert crop.width == crop.height <= 450

    counting.cells = 0
    second = classify_case(store, case.id, [corpus], counting)
    assert (second.skipped, second.classified, counting.cells) == (len(VALID), 0, 0)
    assert len(store.list_cells(case.id)) == len(VALID)
    assert len(store.list_images(case.id)) == expected_images


def test_progress_counts_every_image_and_cancel_stops_between_images(store, shared_data):
    classifier = Classifier(MODELS, tta=False, batch_size=1)  # one image per batch: progress per image
    files = sorted((shared_data / "cnmc" / "hem").glob("*.webp"))[:6]
    case = store.create_case("cancel")
    seen = []

    def progress(done, total, current):
        seen.append((done, total, current))

    summary = classify_case(store, case.id, files, classifier, progress=progress, is_cancelled=lambda: len(seen) >= 3)
    assert summary.cancelled and summary.classified == 2
    assert seen[0] == (0, len(files), None)
    assert [done for done, _, _ in seen] == list(range(len(seen)))
    seen.clear()
    rest = classify_case(store, case.id, files, classifier, progress=progress)
    assert not rest.cancelled and rest.skipped + rest.classified == len(files)
    assert seen[-1][:2] == (len(files), len(files)) and seen[0][0] == rest.skipped
    assert len(store.list_cells(case.id)) == len(files)


def test_cell_finder_results_are_stored_and_its_failures_are_per_file_errors(store, corpus, classifier, sample_cell):
    def two_cells(rgb):
        if rgb.shape[:2] == (1, 1):
            raise ValueError("too small to segment")
        return [FoundCell((0, 0, 5, 5), sample_cell, True), FoundCell((5, 5, 9, 9), sample_cell)]

    case = store.create_case("finder")
    summary = classify_case(store, case.id, [corpus / "grey.png", corpus / "one pixel.png"], classifier, two_cells)
    assert (summary.classified, summary.errors, summary.cells) == (1, 1, 2)
    cells = store.list_cells(case.id, sort="position")
    assert [(cell.index, cell.box, cell.touches_border) for cell in cells] == [
        (0, (0, 0, 5, 5), True),
        (1, (5, 5, 9, 9), False),
    ]
    assert cells[0].probability == pytest.approx(cells[1].probability)
    (error,) = store.list_errors(case.id)
    assert "cell detection failed: too small to segment" in error.message
    assert store.list_images(case.id)[0].cell_finder == "two_cells"


def test_stored_canvases_are_losslessly_what_the_model_saw(store, corpus, classifier, sample_cell):
    noise = np.random.default_rng(0).integers(0, 256, sample_cell.shape, dtype=np.uint8)
    case = store.create_case("canvases")
    classify_case(
        store,
        case.id,
        [corpus / "grey.png"],
        classifier,
        lambda rgb: [FoundCell((0, 0, 5, 5), sample_cell), FoundCell((5, 5, 9, 9), noise)],
    )
    stored = [Image.open(io.BytesIO(store.cell_crop(cell.id))) for cell in store.list_cells(case.id, sort="position")]
    assert [(image.format, image.mode) for image in stored] == [("PNG", "RGB")] * 2
    assert stored[0].width < 450, "the black margin around the cell is not stored"
    assert np.array_equal(to_canvas(np.asarray(stored[0])), sample_cell)
    assert np.array_equal(to_canvas(np.asarray(stored[1])), noise)


def test_threshold_is_remembered_by_the_case(store, corpus, classifier):
    case = store.create_case("threshold")
    classify_case(store, case.id, [corpus / "grey.png"], classifier, threshold=0.999)
    assert store.get_case(case.id).threshold == 0.999
    classify_case(store, case.id, [corpus / "cmyk.jpg"], classifier)
    assert store.get_case(case.id).threshold == 0.999
    assert all(cell.call != "flagged" for cell in store.list_cells(case.id))
