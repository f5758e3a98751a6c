"""Shared test set-up: headless Qt and the locations of real data and the bundled model."""

import os
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
    from PIL import Image

    from bad_inputs import SAMPLE_CELL

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
