"""What the `blastscan` commands share: exit codes, failures, the --data-dir option and opening a case.

The core is imported inside the functions, when a command runs: the desktop app must open fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.core.store import Case, CaseStore

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
"""0 done; 1 could not run (model, case database, report file); 2 usage error or nothing to work on;
3 refused by the case's review rules (sign-off gate, a signed-off case), each reason on a line."""


class CommandFailed(Exception):
    """Ends a command: `main` prints the message (and each detail on its own line) and exits with `code`."""

    def __init__(self, message: str, code: int, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.details = tuple(details)


def fail(message: str, code: int, details: Sequence[str] = ()) -> int:
    """Print `blastscan: message` and each detail on its own line to stderr; return `code`."""
    print(f"blastscan: {message}", file=sys.stderr)
    for detail in details:
        print(f"  - {detail}", file=sys.stderr)
    return code


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="D",
        help="folder of the case database (default: $BLASTSCAN_DATA_DIR or the user data folder)",
    )


@contextmanager
def opened_case(folder: Path | None, name_or_id: str) -> Iterator[tuple[CaseStore, Case]]:
    """The existing case store of the data folder and the case named (or numbered) `name_or_id`."""
    from app.core.store import DB_FILE, CaseStore, StoreError, data_dir
    from app.services.cases import find_case

    database = data_dir(folder) / DB_FILE
    if not database.is_file():
        raise CommandFailed(f"no case database in {database.parent}", EXIT_USAGE)
    try:
        store = CaseStore(database)
    except StoreError as error:
        raise CommandFailed(str(error), EXIT_FAILED) from error
    with store:
        case = find_case(store, name_or_id)
        if case is None:
            raise CommandFailed(f"no case with the name or id {name_or_id!r} in {database}", EXIT_USAGE)
        yield store, case
