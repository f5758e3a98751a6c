"""Segmentation: white cells found in real fields and crops, normalised like C-NMC canvases."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage as ndi

from app.core.preprocess import CANVAS_SIZE
from app.core.segmentation import (
    CANVAS_RBC_PX,
    central_cell,
    classify_input_kind,
    detect,
    find_cells,
    nearest_to_centre,
)

# fields whose Segmented reference is clean (no red-cell speckle kept, no cell missed)
TALEQANI_FIELDS = [
    "Benign/WBC-Benign-020.jpg",
    "Early/WBC-Malignant-Early-062.jpg",
    "Early/WBC-Malignant-Early-075.jpg",
    "Pre/WBC-Malignant-Pre-024.jpg",
    "Pre/WBC-Malignant-Pre-468.jpg",
]
PBC_CLASSES = ["neutrophil", "eosinophil", "basophil", "monocyte", "ig", "erythroblast"]


def rgb_of(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def box_centre(box: tuple[int, int, int, int]) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def reference_cells(segmented: np.ndarray) -> np.ndarray:
    """Label image of the white cells of a taleqani Segmented image (the rule of bench/)."""
    nonblack = segmented.max(axis=-1) > 60
    cells = ndi.binary_fill_holes(ndi.binary_closing(nonblack, iterations=2))
    labels, count = ndi.label(ndi.binary_opening(cells, iterations=2))
    for index in range(1, count + 1):
        component = labels == index
        kept = component & nonblack
        if component.sum() < 60 or kept.sum() < 0.5 * component.sum() or np.median(segmented[kept][:, 1]) < 85:
            labels[component] = 0
    return ndi.label(labels > 0)[0]


def synthetic_field(wbc_centres: list[tuple[int, int]], size=(480, 640), seed=0) -> np.ndarray:
    """A smear-like field: pink red cells with pallor on cream, purple white cells at the centres."""
    rng = np.random.default_rng(seed)
    height, width = size
    yy, xx = np.mgrid[:height, :width]
    image = np.empty((height, width, 3), np.float32)
    image[:] = (242, 234, 222)

    def disc(cy, cx, radius):
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2

    for _ in range(60):
        cy, cx = rng.integers(0, height), rng.integers(0, width)
        if min(np.hypot(cy - wy, cx - wx) for wy, wx in wbc_centres or [(-999, -999)]) < 60:
            continue
        image[disc(cy, cx, 20)] = (214, 160, 168)
        image[disc(cy, cx, 8)] = (228, 196, 196)
    for cy, cx in wbc_centres:
        image[disc(cy, cx, 30)] = (196, 184, 226)
    for cy, cx in wbc_centres:
        image[disc(cy, cx, 23)] = (92, 42, 148)
    image = ndi.gaussian_filter(image, sigma=(1.2, 1.2, 0)) + rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def assert_canvas(cell) -> None:
    canvas = cell.canvas
    assert canvas.shape == (CANVAS_SIZE, CANVAS_SIZE, 3) and canvas.dtype == np.uint8
    for corner in (canvas[:20, :20], canvas[:20, -20:], canvas[-20:, :20], canvas[-20:, -20:]):
        assert corner.max() == 0, "the background is black"
    ys, xs = np.nonzero(canvas.max(axis=-1) > 0)
    assert ys.size > 2000, "a cell, not a speck"
    assert abs(ys.mean() - CANVAS_SIZE / 2) < 60 and abs(xs.mean() - CANVAS_SIZE / 2) < 60, "centred"


def test_cnmc_crop_is_recognised_and_used_as_it_is(shared_data):
    cnmc = shared_data / "cnmc"
    for path in sorted((cnmc / "all").iterdir())[:2] + sorted((cnmc / "hem").iterdir())[:2]:
        rgb = rgb_of(path)
        assert classify_input_kind(rgb) == "crop_on_black"
        cells = find_cells(rgb)
        assert len(cells) == 1
        np.testing.assert_array_equal(cells[0].canvas, rgb)
        x, y, w, h = cells[0].box
        cell = rgb.max(axis=-1) > 10
        assert cell[y : y + h, x : x + w].sum() == cell.sum(), "the box holds the whole cell"


def test_fields_and_crops_with_background_are_fields(shared_data):
    field = rgb_of(shared_data / "fields_taleqani" / "Original" / TALEQANI_FIELDS[0])
    crop = rgb_of(next((shared_data / "pbc_normal_other" / "monocyte").glob("*.jpg")))
    assert classify_input_kind(field) == classify_input_kind(crop) == "field"


@pytest.mark.parametrize("name", TALEQANI_FIELDS)
def test_real_fields_find_the_reference_white_cells(shared_data, name):
    folder = shared_data / "fields_taleqani"
    rgb = rgb_of(folder / "Original" / name)
    reference = reference_cells(rgb_of(folder / "Segmented" / name))
    cells = find_cells(rgb)
    assert classify_input_kind(rgb) == "field" and cells
    centres = [box_centre(cell.box) for cell in cells]
    found = 0
    for index in range(1, reference.max() + 1):
        row, col = ndi.center_of_mass(reference == index)
        found += any(x <= col < x + w and y <= row < y + h for x, y, w, h in (c.box for c in cells))
    assert found >= 0.8 * reference.max(), f"{found} of {reference.max()} reference cells found"
    on_reference = sum(reference[int(y), int(x)] > 0 for x, y in centres)
    assert on_reference >= 0.75 * len(cells), f"only {on_reference} of {len(cells)} cells on the reference"
    for cell in cells:
        assert_canvas(cell)


@pytest.mark.parametrize("name", PBC_CLASSES)
def test_pbc_crops_give_their_central_cell(shared_data, name):
    path = sorted((shared_data / "pbc_normal_other" / name).glob("*.jpg"))[0]
    rgb = rgb_of(path)
    cells = find_cells(rgb)
    assert 1 <= len(cells) <= 3
    central = nearest_to_centre(cells, rgb.shape)
    x, y, w, h = central.box
    assert x < rgb.shape[1] / 2 < x + w and y < rgb.shape[0] / 2 < y + h, "the labelled cell is central"
    assert not central.touches_border
    assert_canvas(central)
    np.testing.assert_array_equal(central_cell(rgb).canvas, central.canvas)


def test_a_cell_cut_by_the_border_is_flagged(shared_data):
    rgb = rgb_of(sorted((shared_data / "pbc_normal_other" / "neutrophil").glob("*.jpg"))[0])
    central = central_cell(rgb)
    x, _y, w, _h = central.box
    cut = rgb[:, x + w // 2 :]
    cells = find_cells(cut)
    assert any(cell.touches_border and cell.box[0] == 0 for cell in cells)


@pytest.mark.parametrize("fill", [0, 255, 128])
def test_blank_images_give_no_cell(fill):
    assert find_cells(np.full((300, 400, 3), fill, np.uint8)) == []
    noise = np.random.default_rng(fill).normal(fill or 200, 2, (300, 400, 3))
    assert find_cells(np.clip(noise, 0, 255).astype(np.uint8)) == []


def test_odd_images_do_not_break_it():
    drawing = np.full((60, 80, 3), (240, 230, 220), np.uint8)
    drawing[20:35, 30:45] = (90, 40, 150)
    assert len(find_cells(drawing)) <= 1
    for shape in [(1, 1, 3), (5, 7, 3), (3, 900, 3)]:
        assert find_cells(np.full(shape, 120, np.uint8)) == []
    assert find_cells(np.random.default_rng(1).integers(0, 256, (200, 300, 3), dtype=np.uint8)) is not None


def test_red_cells_only_give_no_cell(shared_data):
    assert find_cells(synthetic_field([])) == []
    rgb = rgb_of(sorted((shared_data / "pbc_normal_other" / "neutrophil").glob("*.jpg"))[0])
    for corner in (rgb[:120, :120], rgb[:120, -120:], rgb[-120:, -120:]):
        assert find_cells(corner) == []


def test_touching_white_cells_are_split():
    centres = [(200, 250), (200, 300), (248, 262), (250, 318), (120, 500)]
    cells = find_cells(synthetic_field(centres))
    assert len(cells) == len(centres)
    found = np.array([box_centre(cell.box)[::-1] for cell in cells])
    for centre in centres:
        assert np.hypot(*(found - centre).T).min() <= 12, f"no cell found at {centre}"
    for cell in cells:
        assert_canvas(cell)


def test_synthetic_red_cells_set_the_scale():
    detection = detect(synthetic_field([(240, 320)]))
    assert detection.rbc_found and detection.rbc_diameter == pytest.approx(40, rel=0.15)
    cell = find_cells(synthetic_field([(240, 320)]))[0]
    area = (cell.canvas.max(axis=-1) > 0).sum()
    # a white cell of 1.5 red-cell diameters shows at 1.5 * CANVAS_RBC_PX
    assert 2 * np.sqrt(area / np.pi) == pytest.approx(1.5 * CANVAS_RBC_PX, rel=0.15)


def test_blasts_in_fields_come_out_at_cnmc_blast_size(shared_data):
    """C-NMC blasts measure a median 216 px (equivalent diameter) on the canvas, 5-95% 180-270."""
    diameters = []
    for name in TALEQANI_FIELDS[1:]:
        for cell in find_cells(rgb_of(shared_data / "fields_taleqani" / "Original" / name)):
            if not cell.touches_border:
                diameters.append(2 * np.sqrt((cell.canvas.max(axis=-1) > 0).sum() / np.pi))
    assert len(diameters) >= 20
    assert 185 <= np.median(diameters) <= 235


def test_scale_follows_the_red_cells_not_the_pixels(shared_data):
    rgb = rgb_of(shared_data / "fields_taleqani" / "Original" / TALEQANI_FIELDS[3])
    larger = np.asarray(Image.fromarray(rgb).resize((672, 672), Image.Resampling.BICUBIC))

    def sizes(image):
        cells = [cell for cell in find_cells(image) if not cell.touches_border]
        return sorted((cell.canvas.max(axis=-1) > 0).sum() for cell in cells)

    small, large = sizes(rgb), sizes(larger)
    assert small and len(small) == len(large)
    assert np.median(large) == pytest.approx(np.median(small), rel=0.2)


def test_a_big_field_is_segmented(shared_data):
    """A 224 px field upscaled to 1944 px and mirror-padded to 2592 x 1944 finds the same cells."""
    rgb = rgb_of(shared_data / "fields_taleqani" / "Original" / TALEQANI_FIELDS[4])
    zoom = 1944 / 224
    big = np.asarray(Image.fromarray(rgb).resize((1944, 1944), Image.Resampling.BICUBIC))
    big = np.pad(big, ((0, 0), (324, 324), (0, 0)), mode="reflect")
    native, cells = find_cells(rgb), find_cells(big)
    assert big.shape == (1944, 2592, 3) and cells
    for cell in cells:
        x, y, w, h = cell.box
        assert x >= 0 and y >= 0 and x + w <= 2592 and y + h <= 1944
        if not cell.touches_border:
            assert_canvas(cell)
    found = np.array([box_centre(cell.box) for cell in cells])
    tolerance = 0.5 * detect(rgb).rbc_diameter * zoom
    inner = [box_centre(cell.box) for cell in native if not cell.touches_border]
    matched = sum(np.hypot(*(found - (324 + cx * zoom, cy * zoom)).T).min() <= tolerance for cx, cy in inner)
    assert matched >= 0.8 * len(inner), f"{matched} of {len(inner)} cells found again"


def test_kind_can_be_overridden(shared_data):
    cnmc = rgb_of(sorted((shared_data / "cnmc" / "all").iterdir())[0])
    assert isinstance(find_cells(cnmc, kind="field"), list)
    field = rgb_of(shared_data / "fields_taleqani" / "Original" / TALEQANI_FIELDS[0])
    whole = find_cells(field, kind="crop_on_black")
    assert len(whole) == 1 and whole[0].box == (0, 0, 224, 224)


def test_segmentation_needs_neither_tensorflow_nor_qt():
    code = "import sys, app.core.segmentation; print(sorted(m for m in ('tensorflow', 'PySide6') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
