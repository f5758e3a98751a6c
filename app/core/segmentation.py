"""Find the white cells in an image and normalise each like the C-NMC training data.

A crop already segmented onto black (like C-NMC) is used as it is (`whole_image_as_cell`).
Any other image, a whole field or a single-cell crop that keeps its red-cell background,
goes through one detector (`detect`), every length in it relative to the image's red cells:

1. a working copy of at most WORK_PIXELS pixels (finer for low-magnification fields);
2. optical density relative to the image's own background white;
3. foreground (cells) by multi-Otsu on the mean optical density, red-cell pallor filled;
4. nuclei by Otsu on a nuclear-stain channel (green minus half the red optical density):
   purple nuclei absorb green far more than red; pink or grey-blue red cells do not;
5. the ruler: the red-cell diameter, from the inscribed circles of the nucleus-free
   foreground (falls back to the largest nucleus without red cells);
6. nuclear lobes merged by a closing, touching nuclei split by a watershed on the distance
   transform from its h-maxima, debris, platelets and ragged clumps rejected by size and
   solidity;
7. each nucleus grown into its cytoplasm by a watershed over the foreground in which the
   red cells compete as markers, at most a rim beyond the nucleus.

Each cell is then cut from the full-resolution image, masked onto black, rescaled so that a
red cell of its image would measure CANVAS_RBC_PX on the canvas, and centred on a 450 px
canvas.  `central_cell` gives the labelled cell of a pbc_normal_other-like crop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage import feature, filters, measure, morphology, segmentation

from app.core.cells import BLACK_LEVEL, CellFinder, FoundCell, whole_image_as_cell
from app.core.preprocess import brightest_channel, to_canvas

InputKind = Literal["crop_on_black", "field"]

CANVAS_RBC_PX = 150.0
"""Red-cell diameter on the canvas, in pixels.

Calibrated on fields_taleqani (bench/scale_calibration.py): a white cell there measures a
median 1.46 red-cell diameters (equivalent diameter) in the blast fields and 1.27 in the
benign ones; C-NMC canvases show blasts at a median 216 px and normal cells at 176 px, so
216 / 1.46 = 148, and 176 / 1.27 = 139 is a lower bound (benign fields mix in granulocytes).
At 7.5 um per red cell this is 20 px/um: blasts 10.8 um, normal lymphoid cells 8.8 um."""

WORK_PIXELS = 100_000
MAX_WORK_PIXELS = 1_000_000
MIN_WORK_RBC_PX = 14.0
"""Detection runs on a reduced copy (see `detect`); crops are cut at full resolution."""

MIN_CONTRAST = 0.1
"""Images whose mean optical density spans less than this are blank."""

FOREGROUND_FRACTION = 0.6
"""Foreground = density above this share of the background/cell multi-Otsu level (keeps pallor)."""

NUCLEUS_CONTRAST = 2.2
NUCLEUS_MARGIN = 0.12
"""A nucleus stains at least NUCLEUS_CONTRAST times, and NUCLEUS_MARGIN more than, the red cells."""

LOBE_GAP = 0.3
SPLIT_DEPTH = 0.25
MIN_NUCLEUS_RADIUS = 0.45
CYTOPLASM_RIM = 0.6
"""In red-cell radii: lobes closer than LOBE_GAP merge; a nucleus splits where its distance
transform dips by SPLIT_DEPTH; a nucleus smaller than MIN_NUCLEUS_RADIUS (equivalent) is
debris or a platelet; the cytoplasm reaches at most CYTOPLASM_RIM beyond the nucleus."""

ROUND_HOLE = 1.5
DISC_AREA = (0.6, 2.0)
"""Shape limits (area over inscribed-circle area) of a red-cell pallor hole and of a red cell."""

MIN_SOLIDITY = 0.75
"""A nucleus (lobes merged) is compact; ragged stained blobs are red-cell clumps."""

MIN_NUCLEUS_PIXELS = 20
MAX_NUCLEUS_RATIO = 3.0
"""Without red cells, or when the median nucleus is over MAX_NUCLEUS_RATIO red-cell radii
(the red cells were missed), the largest nucleus (of at least MIN_NUCLEUS_PIXELS) is taken
as one red cell: lymphocyte nuclei are about that size."""


@dataclass(frozen=True)
class Detection:
    """Detector output at working resolution: one label per white cell, and the ruler."""

    labels: np.ndarray  # int32, 0 = not a white cell, k = cell k (working resolution)
    scale: float  # working / source pixel ratio (<= 1)
    rbc_diameter: float  # red-cell diameter in source pixels
    rbc_found: bool  # False when the ruler fell back to the white cells' own size


def classify_input_kind(rgb: np.ndarray) -> InputKind:
    """ "crop_on_black" for a cell pre-segmented on black (frame mostly black, 30% black), else "field"."""
    rgb = np.asarray(rgb)
    frame = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])[..., :3]
    if (
        brightest_channel(frame) <= BLACK_LEVEL
    ).mean() < 0.6:  # a crop cut by the image edge keeps most of its black frame
        return "field"
    step = max(1, min(rgb.shape[:2]) // 200)
    black = brightest_channel(rgb[::step, ::step]) <= BLACK_LEVEL
    return "crop_on_black" if black.mean() >= 0.3 else "field"


def find_cells(rgb: np.ndarray, kind: InputKind | None = None) -> list[FoundCell]:
    """Every white cell of an H x W x 3 uint8 RGB image as a normalised canvas, top to bottom.

    `kind` overrides the automatic `classify_input_kind`.
    """
    rgb = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[..., :3])
    kind = kind or classify_input_kind(rgb)
    if kind == "crop_on_black":
        return whole_image_as_cell(rgb)
    detection = detect(rgb)
    factor = CANVAS_RBC_PX / detection.rbc_diameter
    cells = [
        _normalise(rgb, detection, region.slice, region.image, factor)
        for region in measure.regionprops(detection.labels)
    ]
    return sorted(cells, key=lambda cell: (cell.box[1] + cell.box[3] // 2, cell.box[0]))


CASE_INPUT_KINDS: dict[str | None, InputKind | None] = {None: None, "crop": "crop_on_black", "field": "field"}
"""A case's input-kind override (as the store keeps it) as the segmentation's; None: detect."""


def cell_finder(input_kind: str | None) -> CellFinder:
    """The cell finder for a case's input-kind override (None: detected per image)."""
    kind = CASE_INPUT_KINDS[input_kind]
    if kind is None:
        return find_cells

    def find_cells_as_kind(rgb: np.ndarray) -> list[FoundCell]:
        return find_cells(rgb, kind)

    find_cells_as_kind.__name__ = f"find_cells[{kind}]"  # the store records the finder's name
    return find_cells_as_kind


def central_cell(rgb: np.ndarray) -> FoundCell | None:
    """The canvas of the white cell nearest the centre of a single-cell crop that keeps its
    background (e.g. pbc_normal_other), or None: for adding such cells to training."""
    return nearest_to_centre(find_cells(rgb, kind="field"), rgb.shape)


def nearest_to_centre(cells: list[FoundCell], shape: tuple[int, ...]) -> FoundCell | None:
    """The cell whose box centre is nearest the centre of an image of this shape, or None."""
    if not cells:
        return None
    centre_x, centre_y = shape[1] / 2, shape[0] / 2
    return min(
        cells,
        key=lambda cell: np.hypot(cell.box[0] + cell.box[2] / 2 - centre_x, cell.box[1] + cell.box[3] / 2 - centre_y),
    )


def detect(rgb: np.ndarray) -> Detection:
    """Label the white cells of a field image at working resolution and measure its red cells.

    The working copy has at most WORK_PIXELS pixels; where its red cells come out smaller
    than MIN_WORK_RBC_PX (a low-magnification field), detection reruns finer, up to
    MAX_WORK_PIXELS.
    """
    height, width = rgb.shape[:2]
    scale = min(1.0, float(np.sqrt(WORK_PIXELS / (height * width))))
    detection = _detect_at(rgb, scale)
    work_rbc = detection.rbc_diameter * scale
    if detection.rbc_found and scale < 1.0 and work_rbc < MIN_WORK_RBC_PX:
        finer = min(1.0, scale * MIN_WORK_RBC_PX / work_rbc, float(np.sqrt(MAX_WORK_PIXELS / (height * width))))
        if finer > 1.2 * scale:
            detection = _detect_at(rgb, finer)
    return detection


def _detect_at(rgb: np.ndarray, scale: float) -> Detection:
    """`detect` on a working copy scaled by `scale` (<= 1)."""
    height, width = rgb.shape[:2]
    work = rgb
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = Image.fromarray(rgb)
        work = np.asarray(image.reduce(max(1, int(1 / scale) - 1)).resize(size, Image.Resampling.BOX))
    empty = Detection(np.zeros(work.shape[:2], dtype=np.int32), scale, CANVAS_RBC_PX, False)
    od = _optical_density(work)
    density = od.mean(axis=-1)
    if np.ptp(density) < MIN_CONTRAST or min(work.shape[:2]) < 8:
        return empty
    stain = filters.gaussian(od[..., 1] - 0.5 * od[..., 0], sigma=1.0)
    # the 99th percentile cap keeps black debris and labels from skewing the levels
    capped = np.minimum(density, np.percentile(density, 99))
    try:
        level = filters.threshold_multiotsu(capped, classes=3, nbins=128)[0]
    except ValueError:  # only two tones (drawings, synthetic images)
        level = filters.threshold_otsu(capped)
    foreground = density > FOREGROUND_FRACTION * level
    # nuclei absorb green most, red well (unlike red text), blue little (unlike black debris)
    purple = foreground & (od[..., 0] >= 0.2 * od[..., 1]) & (od[..., 2] <= 0.6 * od[..., 1])
    nuclei = purple & (stain > _nuclear_threshold(stain, purple))
    foreground = _fill_round_holes(foreground)
    rbc_radius = _rbc_radius(foreground, nuclei)
    nucleus_radii = _nucleus_radii(nuclei)
    rbc_found = rbc_radius is not None and (
        nucleus_radii.size == 0 or np.median(nucleus_radii) <= MAX_NUCLEUS_RATIO * rbc_radius
    )
    if not rbc_found or rbc_radius is None:  # (rbc_found implies a radius)
        if nucleus_radii.size == 0:
            return empty
        rbc_radius = float(nucleus_radii.max())
    labels = _cells(foreground, nuclei, rbc_radius)
    return Detection(labels, scale, 2 * rbc_radius / scale, rbc_found)


def _optical_density(work: np.ndarray) -> np.ndarray:
    """Per-channel optical density relative to the image's background white (>= 0)."""
    pixels = work.reshape(-1, 3)[:: max(1, work.size // 3 // 50_000)]
    white = np.maximum(np.percentile(pixels, 99, axis=0), 1.0).astype(np.float32)
    density: np.ndarray = np.clip(np.log((white + 1.0) / (work.astype(np.float32) + 1.0)), 0.0, None)
    return density


def _nuclear_threshold(stain: np.ndarray, candidates: np.ndarray) -> float:
    """Otsu on the stain of the purple foreground, and well above the red cells' own level."""
    values = stain[candidates]
    if values.size < 16 or np.ptp(values) < 1e-3:
        return float("inf")
    otsu = float(filters.threshold_otsu(values))
    rbc_level = float(np.median(values[values <= otsu]))
    return max(otsu, NUCLEUS_CONTRAST * rbc_level, rbc_level + NUCLEUS_MARGIN)


def _fill_round_holes(foreground: np.ndarray) -> np.ndarray:
    """Fill the round holes (red-cell pallor), not the angular gaps between touching cells.

    A hole is round if its area is at most ROUND_HOLE times that of its inscribed circle
    (a disc: 1; the gap between four touching discs: 1.6; between three: 2.1).
    """
    holes, count = ndi.label(ndi.binary_fill_holes(foreground) & ~foreground)
    if count == 0:
        return foreground
    index = np.arange(1, count + 1)
    inner = ndi.maximum(ndi.distance_transform_edt(holes > 0), holes, index)
    area = np.bincount(holes.ravel(), minlength=count + 1)[1:]
    round_holes = np.concatenate([[False], area <= ROUND_HOLE * np.pi * inner**2])
    filled: np.ndarray = foreground | round_holes[holes]
    return filled


def _rbc_radius(foreground: np.ndarray, nuclei: np.ndarray) -> float | None:
    """Area-weighted median inscribed-circle radius of the foreground's nucleus-free discs.

    The foreground is cut into discs by a watershed on its distance transform; each disc's
    radius is its distance maximum, so touching and overlapping red cells still count.
    Regions far from disc-shaped (area outside DISC_AREA times their inscribed circle's:
    smears, uneven background, blobs cut by the image border) are no ruler.
    """
    distance = ndi.distance_transform_edt(foreground)
    peaks = feature.peak_local_max(distance, min_distance=2, threshold_abs=2.0, exclude_border=False)
    if len(peaks) == 0:
        return None
    markers = np.zeros(foreground.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    discs = segmentation.watershed(-distance, markers, mask=foreground)
    index = np.arange(1, len(peaks) + 1)
    radius = distance[tuple(peaks.T)]
    area = np.bincount(discs.ravel(), minlength=len(peaks) + 1)[1:]
    roundness = area / (np.pi * radius**2)
    keep = (
        ~np.isin(index, discs[ndi.binary_dilation(nuclei, iterations=2)])
        & (roundness >= DISC_AREA[0])
        & (roundness <= DISC_AREA[1])
    )
    if not keep.any():
        return None
    order = np.argsort(radius[keep])
    weights = np.cumsum(area[keep][order])
    return float(radius[keep][order][np.searchsorted(weights, weights[-1] / 2)])


def _nucleus_radii(nuclei: np.ndarray) -> np.ndarray:
    """Equivalent radii of the nucleus blobs of at least MIN_NUCLEUS_PIXELS."""
    areas = np.bincount(ndi.label(ndi.binary_fill_holes(nuclei))[0].ravel())[1:]
    return np.sqrt(areas[areas >= MIN_NUCLEUS_PIXELS] / np.pi)


def _cells(foreground: np.ndarray, nuclei: np.ndarray, rbc_radius: float) -> np.ndarray:
    """One label per white cell: merged, split and size-filtered nuclei grown into cytoplasm."""
    split = _split_nuclei(nuclei, rbc_radius)
    count = int(split.max())
    if count == 0:
        return split
    # red cells compete with the nuclei for the foreground near them, as one extra label
    fg_distance = ndi.distance_transform_edt(foreground)
    near = ndi.distance_transform_edt(split == 0)
    rbc_zone = foreground & (near > 0.5 * rbc_radius) & (near <= (CYTOPLASM_RIM + 1.5) * rbc_radius)
    rbc_peaks = feature.peak_local_max(
        np.where(rbc_zone, fg_distance, 0),
        min_distance=max(1, int(rbc_radius)),
        threshold_abs=0.5 * rbc_radius,
        exclude_border=False,
    )
    markers = split.copy()
    markers[tuple(rbc_peaks.T)] = count + 1
    zone = (foreground | (split > 0)) & (near <= (CYTOPLASM_RIM + 1.5) * rbc_radius)
    grown: np.ndarray = segmentation.watershed(-fg_distance, markers, mask=zone)
    grown[(grown > count) | (near > CYTOPLASM_RIM * rbc_radius)] = 0
    return grown.astype(np.int32)


def _split_nuclei(nuclei: np.ndarray, rbc_radius: float) -> np.ndarray:
    """Label one nucleus per cell: lobes merged, touching nuclei split, debris dropped.

    Touching nuclei are split by a watershed on the distance transform from its h-maxima
    (peaks that rise SPLIT_DEPTH red-cell radii above the saddle to any higher peak).
    """
    merged = ndi.binary_fill_holes(_close(nuclei, LOBE_GAP * rbc_radius))
    merged = _open(merged, 0.2 * rbc_radius)
    distance = ndi.distance_transform_edt(merged)
    blobs, _ = ndi.label(merged)
    markers = np.zeros(merged.shape, dtype=np.int32)
    depth = SPLIT_DEPTH * rbc_radius
    count = 0
    for index, window in enumerate(ndi.find_objects(blobs), start=1):
        blob = blobs[window] == index
        local = np.where(blob, distance[window], 0.0)
        summits = morphology.reconstruction(np.maximum(local - depth, 0.0), local)
        peaks, found = ndi.label(morphology.local_maxima(summits) & blob)
        markers[window][peaks > 0] = peaks[peaks > 0] + count
        count += found
    split = segmentation.watershed(-distance, markers, mask=merged)
    min_area = np.pi * (MIN_NUCLEUS_RADIUS * rbc_radius) ** 2
    for region in measure.regionprops(split):
        if region.area < min_area or region.solidity < MIN_SOLIDITY:
            split[region.slice][region.image] = 0
    relabelled: np.ndarray = segmentation.relabel_sequential(split)[0]
    return relabelled.astype(np.int32)


def _dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    """Binary dilation by a disc, via the distance transform (fast for any radius)."""
    return ndi.distance_transform_edt(~mask) <= radius if mask.any() and not mask.all() else mask


def _erode(mask: np.ndarray, radius: float) -> np.ndarray:
    """Binary erosion by a disc; the image border does not erode."""
    return ndi.distance_transform_edt(mask) > radius if mask.any() and not mask.all() else mask


def _close(mask: np.ndarray, radius: float) -> np.ndarray:
    return _erode(_dilate(mask, radius), radius)


def _open(mask: np.ndarray, radius: float) -> np.ndarray:
    return _dilate(_erode(mask, radius), radius)


def _normalise(
    rgb: np.ndarray, detection: Detection, window: tuple[slice, slice], mask: np.ndarray, factor: float
) -> FoundCell:
    """Cut one cell at full resolution, mask it onto black, rescale it by `factor`, centre it.

    `window` and `mask` are the cell's bounding box and mask at working resolution.
    """
    height, width = rgb.shape[:2]
    rows, cols = window
    x0, y0 = int(cols.start / detection.scale), int(rows.start / detection.scale)
    x1 = min(width, int(np.ceil(cols.stop / detection.scale)))
    y1 = min(height, int(np.ceil(rows.stop / detection.scale)))
    touches = (
        rows.start == 0
        or cols.start == 0
        or rows.stop == detection.labels.shape[0]
        or (cols.stop == detection.labels.shape[1])
    )
    smooth = ndi.binary_fill_holes(_close(np.pad(mask, 2), 1.5)[2:-2, 2:-2])  # seals 1 px cracks
    # blurred by a working pixel before upscaling, so the mask edge has no staircase
    alpha_image = Image.fromarray(ndi.gaussian_filter(smooth.astype(np.float32), 0.7, mode="constant"))
    size = (max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor)))
    cell = np.asarray(Image.fromarray(rgb[y0:y1, x0:x1]).resize(size, Image.Resampling.BILINEAR))
    alpha = np.asarray(alpha_image.resize(size, Image.Resampling.BILINEAR))
    cell = np.where((alpha >= 0.5)[..., None], cell, 0).astype(np.uint8)
    return FoundCell(box=(x0, y0, x1 - x0, y1 - y0), canvas=to_canvas(cell), touches_border=bool(touches))
