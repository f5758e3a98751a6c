"""Shared test set-up: headless Qt and the locations of real data and the bundled model."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
MODELS = REPO / "models"
DEMO_CASE = REPO / "resources" / "samples" / "demo_case"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only labelled images beside the checkout (CI has them too)."""
    assert SHARED_DATA.is_dir(), f"expected the shared data at {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A private BlastScan data folder (case store) for one test."""
    folder = tmp_path / "blastscan-data"
    monkeypatch.setenv("BLASTSCAN_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def store(data_dir):
    """A case store (real SQLite) in the test's private data folder."""
    from app.core.store import CaseStore

    with CaseStore.open() as opened:
        yield opened


@pytest.fixture(scope="session")
def sample_cell(shared_data) -> np.ndarray:
    """One real C-NMC cell (450x450 RGB) that generated test files are made of."""
    from bad_inputs import SAMPLE_CELL
    from PIL import Image

    return np.asarray(Image.open(shared_data / SAMPLE_CELL).convert("RGB"))


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, sample_cell) -> Path:
    """A folder of awkward inputs (see tests/bad_inputs.py); read-only by convention."""
    from bad_inputs import make_corpus

    folder = tmp_path_factory.mktemp("corpus")
    make_corpus(folder, sample_cell)
    return folder


@pytest.fixture(scope="session")
def classifier():
    """The bundled model without test-time augmentation (fast), shared by the tests."""
    from app.core.classifier import Classifier

    return Classifier(MODELS, tta=False, batch_size=8)


TARGET_RECALL = 0.95
LAB_CELLS_PER_PATIENT = 12


@pytest.fixture(scope="session")
def lab(shared_data, tmp_path_factory):
    """A simulated second lab (tests/simulated_lab.py): 12 signed-off cases (6 ALL, 6 healthy
    patients, 144 reviewed cells) in a store; also the bundled model without TTA, and the
    folders of 8 held-out patients.  Read-only: use `lab_copy` to change anything."""
    from simulated_lab import classify_and_sign_off, lab_patients, write_lab_images

    from app.core.classifier import Classifier
    from app.core.store import CaseStore

    folder = tmp_path_factory.mktemp("other_lab")
    fitting = write_lab_images(shared_data, folder, lab_patients(shared_data, 6, 6), LAB_CELLS_PER_PATIENT)
    held_out = write_lab_images(shared_data, folder, lab_patients(shared_data, 4, 4, skip=6), LAB_CELLS_PER_PATIENT)
    classifier = Classifier(MODELS, tta=False, batch_size=8)
    store = CaseStore(tmp_path_factory.mktemp("lab_data") / "cases.sqlite3")
    classify_and_sign_off(store, fitting, classifier)
    yield store, classifier, held_out
    store.close()


@pytest.fixture
def lab_copy(lab, tmp_path):
    """A private copy of the simulated lab's data folder (its store), free to change."""
    import sqlite3

    from app.core.store import DB_FILE, CaseStore

    store, classifier, held_out = lab
    folder = tmp_path / "lab-data"
    folder.mkdir()
    with sqlite3.connect(folder / DB_FILE) as copy, sqlite3.connect(store.path) as source:
        source.backup(copy)
    with CaseStore(folder / DB_FILE) as private:
        yield private, classifier, held_out


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, shared_data) -> Path:
    """4 images from each of 3 ALL and 3 healthy patients, one of them unreadable."""
    root = tmp_path_factory.mktemp("tiny")
    for label, patients in (("all", ("3", "4", "5")), ("hem", ("H6", "H7", "H11"))):
        (root / label).mkdir()
        for patient in patients:
            for source in sorted((shared_data / "cnmc" / label).glob(f"UID_{patient}_*"))[:4]:
                shutil.copy(source, root / label / source.name)
    (root / "hem" / "UID_H6_99_9_hem.bmp").write_bytes(b"BM not really a bitmap")
    return root
