"""Which case a set of images belongs to: one rule for every front."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from app.core.store import Case, CaseStore, StoreError


def resolved_sources(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Absolute, symlink-free paths: the same folder always names the same images."""
    return [Path(path).expanduser().resolve() for path in paths]


def case_for_sources(
    store: CaseStore,
    paths: Sequence[str | os.PathLike[str]],
    *,
    name: str | None = None,
    operator: str | None = None,
    input_kind: str | None = None,
) -> Case:
    """The case of these images, created if new.

    With a `name`, the case of that name (its sources grow by `paths`).  Without, the case
    made from exactly these files and folders, else a new one named after the first folder.
    """
    sources = resolved_sources(paths)
    case = store.find_case(name) if name else store.find_case_by_sources(sources)
    if case is None:
        case = store.create_case(
            name or unique_case_name(store, case_name_for(sources)), operator=operator, input_kind=input_kind
        )
    known = set(store.list_sources(case.id))
    new = [source for source in sources if os.fspath(source) not in known]
    if new:
        store.add_sources(case.id, new)
    return case


def case_name_for(sources: Sequence[Path]) -> str:
    """A case is named after the folder given (or the folder of the images given)."""
    first = sources[0]
    return first.name if first.is_dir() else first.parent.name or first.name


def unique_case_name(store: CaseStore, base: str) -> str:
    """`base`, or `base (2)`, `base (3)`... whichever is free."""
    name, number = base, 1
    while store.find_case(name) is not None:
        number += 1
        name = f"{base} ({number})"
    return name


def find_case(store: CaseStore, name_or_id: str) -> Case | None:
    """The case of that name, else of that id (a name wins: a case may be named '12')."""
    case = store.find_case(name_or_id)
    if case is None and name_or_id.strip().isdigit():
        try:
            case = store.get_case(int(name_or_id))
        except StoreError:
            return None
    return case
