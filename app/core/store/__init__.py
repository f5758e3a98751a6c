"""The case store: cases, images, cells, predictions and review decisions in one SQLite file.

The file is ``cases.sqlite3`` in the data folder (`location`); `schema` holds its tables and
named migrations, `records` what the store hands out, `policy` the review rules it applies,
`repository` the `CaseStore` itself, on the one connection of `connection`, with the review,
sign-off and amendment of `review`.
"""

from app.core.store.common import StoreError
from app.core.store.location import DATA_DIR_ENV, DB_FILE, data_dir
from app.core.store.policy import REVIEW_POLICY, ReviewPolicy
from app.core.store.records import (
    CALLS,
    DECISIONS,
    Call,
    Case,
    CaseSummary,
    CellGroup,
    CellRecord,
    CellSort,
    Decision,
    DecisionChange,
    ImageRecord,
    InputKind,
    LabLabel,
    NewCell,
    SignOff,
)
from app.core.store.repository import CaseStore
from app.core.store.review import SignOffCheck, SignOffRefused
from app.core.store.schema import MIGRATIONS, SCHEMA_VERSION, Migration

__all__ = [
    "CALLS",
    "DATA_DIR_ENV",
    "DB_FILE",
    "DECISIONS",
    "MIGRATIONS",
    "REVIEW_POLICY",
    "SCHEMA_VERSION",
    "Call",
    "Case",
    "CaseStore",
    "CaseSummary",
    "CellGroup",
    "CellRecord",
    "CellSort",
    "Decision",
    "DecisionChange",
    "ImageRecord",
    "InputKind",
    "LabLabel",
    "Migration",
    "NewCell",
    "ReviewPolicy",
    "SignOff",
    "SignOffCheck",
    "SignOffRefused",
    "StoreError",
    "data_dir",
]
