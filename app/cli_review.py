"""The headless review commands of `blastscan`: `decide`, `sign-off`, `amend` and `case`.

They apply the same rules as the desktop app (the case store's, `app.core.store.review`).
Exit codes: see `app.cli_support`; a refusal (sign-off gate, a signed-off case) exits 3 with
each reason on its own line of stderr.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli_support import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, CommandFailed, add_data_dir, opened_case

if TYPE_CHECKING:
    from app.core.store import Case, CaseStore

_DECIDE_EPILOG = """\
blast, normal: final decisions.  artefact: not a white cell (smudge, cut cell, doublet,
red-cell clump, a piece of a cell): it leaves the blast-% denominator and stays in the
audit.  unsure: needs a second look; an unsure cell blocks sign-off.
"""


def add_case_details(parser: argparse.ArgumentParser) -> None:
    """The options that set a case's Sample ID and who prepared it."""
    parser.add_argument("--sample-id", metavar="ID", help="the sample / patient id of the case (needed for sign-off)")
    parser.add_argument("--prepared-by", metavar="NAME", help="who prepared the case (smear, images)")


def apply_case_details(store: CaseStore, case: Case, args: argparse.Namespace) -> Case:
    """Set the details `add_case_details` options give (an empty value clears one)."""
    changes = {
        column: value.strip() or None
        for column, value in (("sample_id", args.sample_id), ("operator", args.prepared_by))
        if value is not None
    }
    return store.update_case(case.id, **changes) if changes else case


def _add_decide(commands: argparse._SubParsersAction) -> None:
    from app.core.store import DECISIONS

    decide = commands.add_parser(
        "decide",
        prog="blastscan decide",
        help="record a review decision on one cell",
        description="Record a review decision on one cell of a case, found as in the classify CSV.",
        epilog=_DECIDE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    decide.add_argument("case", metavar="CASE", help="case name or id")
    decide.add_argument("decision", choices=DECISIONS, help="the decision")
    decide.add_argument("--image", required=True, type=Path, metavar="PATH", help="image_path of the classify CSV")
    decide.add_argument("--cell-index", required=True, type=int, metavar="N", help="cell_index of the classify CSV")
    decide.add_argument("--by", required=True, metavar="NAME", help="who decides")
    add_data_dir(decide)
    decide.set_defaults(run=_run_decide)


def _add_sign_off(commands: argparse._SubParsersAction) -> None:
    sign_off = commands.add_parser(
        "sign-off",
        prog="blastscan sign-off",
        help="sign a reviewed case off",
        description="Sign a case off.  Refused (exit 3, every reason on its own line) while an image file of "
        "the case is not classified, an unreadable file is not acknowledged, a flagged or uncertain cell (every "
        "cell of an unfamiliar case) has no final decision, a cell is unsure, or the Sample ID is empty.",
    )
    sign_off.add_argument("case", metavar="CASE", help="case name or id")
    sign_off.add_argument("--by", required=True, metavar="NAME", help="who signs off")
    add_data_dir(sign_off)
    sign_off.set_defaults(run=_run_sign_off)


def _add_amend(commands: argparse._SubParsersAction) -> None:
    amend = commands.add_parser(
        "amend",
        prog="blastscan amend",
        help="reopen a signed-off case to amend it",
        description="Reopen a signed-off case, with a reason; the first sign-off stays in the audit and the "
        "report shows both signatures once the case is signed off again.",
    )
    amend.add_argument("case", metavar="CASE", help="case name or id")
    amend.add_argument("--reason", required=True, metavar="TEXT", help="why the case is amended")
    amend.add_argument("--by", required=True, metavar="NAME", help="who amends it")
    add_data_dir(amend)
    amend.set_defaults(run=_run_amend)


def _add_case(commands: argparse._SubParsersAction) -> None:
    case = commands.add_parser(
        "case",
        prog="blastscan case",
        help="show a case, set its details, acknowledge its unreadable files",
        description="Show a case: details, decision rule, counts, review, blast % once decided, sign-offs and "
        "what sign-off still needs.  The options change the case first.",
    )
    case.add_argument("case", metavar="CASE", help="case name or id")
    add_case_details(case)
    case.add_argument(
        "--acknowledge-errors",
        action="store_true",
        help="accept that the case's unreadable files are left out (needed for sign-off; recorded with --by)",
    )
    case.add_argument("--by", metavar="NAME", help="who acknowledges the unreadable files")
    add_data_dir(case)
    case.set_defaults(run=_run_case)


REVIEW_COMMANDS = {"decide": _add_decide, "sign-off": _add_sign_off, "amend": _add_amend, "case": _add_case}
"""The review commands by name, each a function adding its parser (with `run` as default)."""


def _run_decide(args: argparse.Namespace) -> int:
    from app.core.store import StoreError
    from app.services.review import CellNotFound, cell_at

    with opened_case(args.data_dir, args.case) as (store, case):
        try:
            cell = cell_at(store, case.id, args.image, args.cell_index)
            previous = store.set_decision(cell.id, args.decision, args.by)
        except CellNotFound as error:
            raise CommandFailed(str(error), EXIT_USAGE) from error
        except StoreError as error:
            raise CommandFailed(str(error), EXIT_REFUSED) from error
    print(f"{cell.image_path} cell {cell.index}: {args.decision} (was: {previous or 'no decision'}), by {args.by}")
    return EXIT_OK


def _run_sign_off(args: argparse.Namespace) -> int:
    from app.core.store import SignOffRefused, StoreError
    from app.services.review import case_summary

    with opened_case(args.data_dir, args.case) as (store, case):
        try:
            store.sign_off(case.id, args.by)
        except SignOffRefused as refused:
            raise CommandFailed(f"case {case.name!r} cannot be signed off:", EXIT_REFUSED, refused.reasons) from None
        except StoreError as error:
            raise CommandFailed(str(error), EXIT_REFUSED) from error
        print("\n".join(case_summary(store, case.id)))
    return EXIT_OK


def _run_amend(args: argparse.Namespace) -> int:
    from app.core.store import StoreError

    with opened_case(args.data_dir, args.case) as (store, case):
        try:
            store.amend(case.id, args.reason, args.by)
        except StoreError as error:
            raise CommandFailed(str(error), EXIT_REFUSED) from error
    print(f"Case {case.name!r} reopened for amendment by {args.by.strip()}; sign it off again when done.")
    return EXIT_OK


def _run_case(args: argparse.Namespace) -> int:
    from app.core.store import StoreError
    from app.services.review import case_summary

    if args.acknowledge_errors and not (args.by or "").strip():
        raise CommandFailed("say who acknowledges the unreadable files with --by NAME", EXIT_USAGE)
    with opened_case(args.data_dir, args.case) as (store, case):
        try:
            case = apply_case_details(store, case, args)
            if args.acknowledge_errors:
                store.acknowledge_errors(case.id, args.by)
        except StoreError as error:
            raise CommandFailed(str(error), EXIT_REFUSED) from error
        print("\n".join(case_summary(store, case.id)))
    return EXIT_OK
