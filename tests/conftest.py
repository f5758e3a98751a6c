"""Shared test set-up: headless Qt and the locations of real data and the bundled model."""

import os
from pathlib import Path

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
