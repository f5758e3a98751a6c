"""A case as the report shows it, read from the store once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from app.core.site import SiteLibrary, SiteProfile
from app.core.store import Case, CaseStore, CaseSummary, CellRecord, Decision, ImageRecord, SignOff


@dataclass(frozen=True)
class CaseData:
    """Everything the sheets show, read from the store once."""

    case: Case
    counts: CaseSummary
    images: list[ImageRecord]
    cells: list[CellRecord]
    """In image order, then cell index."""
    store: CaseStore
    written_at: datetime
    profile: SiteProfile | None
    """The site profile that decided the case, when one did and its file is still there."""
    sign_offs: list[SignOff]
    """Every sign-off of the case, oldest first, with the amendments that reopened them."""

    @classmethod
    def read(cls, store: CaseStore, case_id: int) -> CaseData:
        case = store.get_case(case_id)
        return cls(
            case=case,
            profile=SiteLibrary(store.path.parent).profile_of(case),
            counts=store.summary(case_id),
            images=store.list_images(case_id),
            cells=store.list_cells(case_id, sort="position"),
            sign_offs=store.sign_offs(case_id),
            store=store,
            written_at=datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0),
        )

    def decided(self, decision: str) -> int:
        return sum(cell.decision == decision for cell in self.cells)

    @property
    def artefacts(self) -> list[CellRecord]:
        """The cells decided 'artefact', left out of the count."""
        return [cell for cell in self.cells if cell.decision == Decision.ARTEFACT]
