"""The `blastscan` command: `classify` runs a headless batch, `report` writes a case's workbook,
`lab` adapts to the lab, and the review commands of `app.cli_review` (`decide`, `sign-off`,
`amend`, `case`) review headless; no command opens the desktop app.

Exit codes: 0 when the batch ran (bad files are rows with status 'error'), 1 when the run
could not start (model, case database) or the report could not be written, 2 on a usage
error or when no input could be read, 3 when the case's review rules refuse (`app.cli_support`).
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from app import __version__
from app.cli_review import REVIEW_COMMANDS, add_case_details, apply_case_details
from app.cli_support import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandFailed, opened_case
from app.cli_support import add_data_dir as _add_data_dir
from app.cli_support import fail as _fail

if TYPE_CHECKING:  # the core is imported only when a command runs: the app must open fast
    from app.core.recalibration import LabelSet
    from app.core.site import SiteLibrary

_CLASSIFY_EPILOG = """\
The CSV has one row per cell (a single-cell crop is one row, cell_index 0) with its box
in image pixels and its calibrated blast probability; 'flagged' is yes, no or uncertain
(inside the uncertain band of the model card or site profile in use: review it).  A file
that cannot be read is one row with status 'error' and the reason in 'message'.  Results
are kept in the case; running the same paths (or --case) again classifies only what is
new (and retries files that failed); the desktop app opens the same case for the same
folder.  The model and rule come from `blastscan lab`.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `blastscan` and `python -m app`; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        return _open_gui(argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_request:  # --help, --version and usage errors
        return int(exit_request.code or 0)
    from app.core.store import data_dir
    from app.logs import log_path, start_logging

    start_logging(data_dir(args.data_dir))
    try:
        code = args.run(args)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
        return code
    except BrokenPipeError:  # the reader went away (`blastscan lab | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except CommandFailed as failure:
        return _fail(str(failure), failure.code, failure.details)
    except Exception as error:  # a bug: its traceback goes to the log, the user gets one line
        logging.getLogger(__name__).exception("blastscan %s failed", argv[0])
        where = log_path()
        return _fail(
            f"unexpected error: {type(error).__name__}: {error}" + (f" (details in {where})" if where else ""),
            EXIT_FAILED,
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blastscan",
        usage="blastscan [PATH ...]\n       blastscan COMMAND ...",
        description="Flags suspected leukemic blasts in blood-smear images, offline. "
        "Without a command, opens the desktop app on the given images or folders.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add_command in COMMANDS.values():
        add_command(commands)
    return parser


def _add_classify(commands: argparse._SubParsersAction) -> None:
    classify = commands.add_parser(
        "classify",
        prog="blastscan classify",
        help="classify images or folders into a case and write a CSV",
        description="Classify images (files or folders, searched recursively) and write one CSV row per cell.",
        epilog=_CLASSIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = classify.add_argument
    add("paths", nargs="+", metavar="PATH", help="image files or folders")
    add("--csv", required=True, type=Path, metavar="OUT.csv", help="where to write the results")
    add(
        "--case",
        metavar="NAME",
        help="case to add to (created if new; default: the case of these files and folders, as the desktop "
        "app opens it, named after the first folder)",
    )
    add(
        "--threshold",
        type=_probability,
        metavar="T",
        help="override the decision threshold (default: the rule's; the case records it with --by)",
    )
    add("--by", metavar="NAME", help="who overrides the threshold (required with --threshold)")
    add_case_details(classify)
    add(
        "--tta",
        action=argparse.BooleanOptionalAction,
        help="average the 8 flips and rotations of each cell (default: as the model card says)",
    )
    add(
        "--input-kind",
        choices=("auto", "crop", "field"),
        default="auto",
        help="crop: each image is one cell on black; field: find the white cells in each image; "
        "auto (default): decide per image (a new case keeps the choice)",
    )
    add("--threads", type=_positive_int, metavar="N", help="CPU threads for the model (default: all)")
    add("--xlsx", type=Path, metavar="OUT.xlsx", help="also write the case report (Excel workbook)")
    _add_data_dir(classify)
    classify.set_defaults(run=_run_classify)


def _add_report(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        prog="blastscan report",
        help="write the report of a case as an Excel workbook",
        description="Write the report of a case: summary with the blast percentage and its 95% confidence "
        "interval, every cell, a gallery of flagged and confirmed cells, charts, unreadable files "
        "and the audit trail of review decisions.",
    )
    report.add_argument("case", metavar="CASE", help="case name or id")
    report.add_argument("--xlsx", required=True, type=Path, metavar="OUT.xlsx", help="where to write the report")
    _add_data_dir(report)
    report.set_defaults(run=_run_report)


def _add_lab(commands: argparse._SubParsersAction) -> None:
    lab = commands.add_parser(
        "lab",
        prog="blastscan lab",
        help="adapt to this lab: show, fit or choose site profiles and models",
        description="Without options: the model and site profile in use, this lab's labels (reviewed "
        "cells of signed-off cases), the saved profiles and models.  --recalibrate fits a new site "
        "profile from the labels (kept, not used until chosen); --use-model/--use-profile choose "
        "what classifies from now on and re-decide the open cases of that model.",
    )
    lab.add_argument("--recalibrate", action="store_true", help="fit and save a new site profile")
    lab.add_argument(
        "--target-recall",
        type=_probability,
        default=None,
        metavar="R",
        help="blast recall the profile must reach (default: the model card's target)",
    )
    lab.add_argument("--use-model", metavar="KEY", help="'bundled' or a lab model's folder name")
    lab.add_argument("--use-profile", metavar="N", help="site profile number, or 'none' for the model card")
    lab.add_argument("--by", metavar="NAME", help="who makes the change (required to fit or choose)")
    _add_data_dir(lab)
    lab.set_defaults(run=_run_lab)


COMMANDS = {"classify": _add_classify, "report": _add_report, "lab": _add_lab, **REVIEW_COMMANDS}
"""Sub-commands by name, each a function adding its parser (with `run` as default)."""


def _run_classify(args: argparse.Namespace) -> int:
    from app.core.classifier import ClassifierError
    from app.core.discovery import discover_images
    from app.core.report import ReportError
    from app.core.site import SiteError
    from app.core.store import CaseStore, StoreError
    from app.services import export
    from app.services.cases import case_for_sources, resolved_sources
    from app.services.classification import ClassificationJob

    out = args.csv.expanduser()
    report = args.xlsx.expanduser() if args.xlsx else None
    for target, what in ((out, "CSV"), (report, "report")):
        if target is not None and not target.parent.is_dir():
            return _fail(f"the folder for the {what} does not exist: {target.parent}", EXIT_USAGE)
    if args.threshold is not None and not (args.by or "").strip():
        return _fail("say who overrides the threshold with --by NAME", EXIT_USAGE)
    sources = resolved_sources(args.paths)
    images = discover_images(sources)
    if not images:
        return _fail("no images found in " + ", ".join(args.paths), EXIT_USAGE)
    try:
        store = CaseStore.open(args.data_dir)
    except StoreError as error:
        return _fail(str(error), EXIT_FAILED)
    with store:
        try:
            input_kind = None if args.input_kind == "auto" else args.input_kind
            case = apply_case_details(
                store, case_for_sources(store, sources, name=args.case, input_kind=input_kind), args
            )
            job = ClassificationJob.for_case(
                store,
                case.id,
                tuple(images),
                tta=args.tta,
                threshold=args.threshold,
                threads=args.threads,
                threshold_by=args.by,
            )
            print(job.setup.describe() + (f" ({job.setup.note})" if job.setup.note else ""), file=sys.stderr)
            summary = job.run(progress=_ProgressBar(sys.stderr))
            case = store.get_case(case.id)
        except (ClassifierError, StoreError, SiteError) as error:
            return _fail(str(error), EXIT_FAILED)
        except KeyboardInterrupt:
            return _fail(f"interrupted; finished images are kept in case {case.name!r}: run it again to go on", 130)
        rows = export.csv_rows(store, case.id, images)
        totals = store.summary(case.id)
        report_problem = None
        if report:
            try:
                export.write_report(store, case.id, report)
            except ReportError as error:
                report_problem = str(error)
    export.write_csv(out, rows)
    if summary.familiarity.familiar is False:
        print(
            f"warning: unfamiliar images: {summary.familiarity.describe().removeprefix('unfamiliar: ')}; "
            "the model's recall is not known to hold here, so every cell it did not flag is "
            "'uncertain': review them all (or adapt the model to this lab: blastscan lab)",
            file=sys.stderr,
        )
    print(
        f"{summary.total} image(s), {summary.skipped} done before, {summary.errors} unreadable. "
        f"Case {case.name!r}: {totals.cells} cell(s), {totals.flagged} flagged, {totals.uncertain} uncertain; "
        f"AI flag rate {totals.flag_rate.describe()}. Decided by: {case.rule_label}. "
        f"CSV: {out}" + (f" Report: {report}" if report and not report_problem else ""),
        file=sys.stderr,
    )
    if report_problem:
        return _fail(report_problem, EXIT_FAILED)
    if not any(row[export.CSV_HEADER.index("status")] == "ok" for row in rows):
        return _fail("none of the inputs could be read", EXIT_USAGE)
    return EXIT_OK


def _run_report(args: argparse.Namespace) -> int:
    from app.core.report import ReportError
    from app.services import export

    with opened_case(args.data_dir, args.case) as (store, case):
        out = args.xlsx.expanduser()
        try:
            export.write_report(store, case.id, out)
        except ReportError as error:
            return _fail(str(error), EXIT_FAILED)
    print(f"Report of case {case.name!r}: {out}", file=sys.stderr)
    return EXIT_OK


def _run_lab(args: argparse.Namespace) -> int:
    from app.core.recalibration import RecalibrationRefused
    from app.core.site import SiteError, SiteLibrary
    from app.core.store import CaseStore, StoreError
    from app.services import lab

    changing = args.recalibrate or args.use_model or args.use_profile
    if changing and not (args.by or "").strip():
        return _fail("say who makes the change with --by NAME", EXIT_USAGE)
    try:
        store = CaseStore.open(args.data_dir)
    except StoreError as error:
        return _fail(str(error), EXIT_FAILED)
    with store:
        library = SiteLibrary(store.path.parent)
        setup = library.active()
        try:
            if args.recalibrate:
                target = args.target_recall or setup.model.card.decision.target_recall
                result = lab.fit_profile(lab.lab_labels(store, setup), setup, target)
                profile = lab.save_profile(library, setup, result, args.by)
                print(f"Saved {profile.name} (not in use; choose it with --use-profile {profile.number}).")
                for warning in result.warnings:
                    print(f"Warning: {warning}")
            if args.use_model or args.use_profile:
                same_model = args.use_model in (None, setup.model.key)  # a profile belongs to one model
                number = setup.profile.number if setup.profile and same_model and not args.use_profile else None
                if args.use_profile and args.use_profile.lower() != "none":
                    if not args.use_profile.isdigit():
                        return _fail(
                            f"--use-profile takes a profile number or 'none', not {args.use_profile!r}", EXIT_USAGE
                        )
                    number = int(args.use_profile)
                setup, changed = lab.switch_setup(store, library, args.use_model or setup.model.key, number, args.by)
                print(f"Open cases re-decided: {', '.join(changed) if changed else 'none'}.")
        except (RecalibrationRefused, SiteError, StoreError) as error:
            return _fail(str(error), EXIT_FAILED)
        _print_lab(library, lab.lab_labels(store, library.active()))
    return EXIT_OK


def _print_lab(library: SiteLibrary, labels: LabelSet) -> None:
    setup = library.active()
    print(f"In use: {setup.describe()}" + (f" ({setup.note})" if setup.note else ""))
    print(
        f"Lab labels for this model: {labels.blasts} blasts, {labels.normals} normals "
        f"from {labels.cases} signed-off cases"
    )
    for profile in library.profiles():
        print(
            f"  {profile.name} ({profile.created_at}, by {profile.created_by}, model {profile.model_version}): "
            f"threshold {profile.rule.threshold:.3f}; before: {profile.before.describe()}; "
            f"after: {profile.after.describe()}"
        )
    for model in library.models():
        print(f"  model {model.key}: {model.label}, threshold {model.card.threshold:.3f}")


class _ProgressBar:
    """A plain-text progress bar: redrawn in place on a terminal, a line per tenth otherwise."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.interactive = stream.isatty()
        self.last_tenth = -1

    def __call__(self, done: int, total: int, current: Path | None) -> None:
        filled = self.WIDTH * done // max(total, 1)
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total}"
        if self.interactive:
            name = current.name if current else ""
            self.stream.write(f"\r{line} {name[:40]:<40}" + ("\n" if done == total else ""))
        elif done * 10 // max(total, 1) != self.last_tenth:
            self.last_tenth = done * 10 // max(total, 1)
            self.stream.write(line + "\n")
        self.stream.flush()


def _open_gui(paths: Sequence[str]) -> int:
    missing = [path for path in paths if not Path(path).expanduser().exists()]
    if missing:
        close = difflib.get_close_matches(missing[0], COMMANDS, n=1)
        hint = f"; did you mean 'blastscan {close[0]}'?" if close else f" (commands: {', '.join(COMMANDS)})"
        return _fail(f"no such command, file or folder: {missing[0]!r}{hint}", EXIT_USAGE)
    if _no_display():
        return _fail(
            "no display to open the desktop app on (DISPLAY and WAYLAND_DISPLAY are not set); "
            "use 'blastscan classify PATH... --csv OUT.csv' (see 'blastscan --help')",
            EXIT_USAGE,
        )
    try:
        from app.gui.main import run
    except ModuleNotFoundError as error:
        if error.name not in ("app.gui", "app.gui.main"):
            raise
        return _fail(
            "the desktop app is not part of this build; "
            "use 'blastscan classify PATH... --csv OUT.csv' (see 'blastscan --help')",
            EXIT_USAGE,
        )
    return int(run([Path(path) for path in paths]) or 0)


def _no_display() -> bool:
    """True on a Linux machine without a display server, where Qt would abort (exit 134)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive): {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value
