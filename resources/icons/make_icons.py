"""Draw the BlastScan icon: a purple blast nucleus inside its cell, on a round badge.

Writes, next to this script, `blastscan.svg` (scalable), `blastscan-<N>.png` for each size
in SIZES, `blastscan.png` (256 px, the window icon) and `blastscan.ico` (Windows, all
sizes).  The outputs are committed; run this again only to change the design:

    .venv/bin/python resources/icons/make_icons.py

The SVG and the PNGs are drawn from the same shapes (SHAPES, in units of a 256 px canvas).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SIZES = (16, 24, 32, 48, 64, 128, 256)
CANVAS = 256
SUPERSAMPLE = 4
"""PNGs are drawn at this multiple of 256 px and scaled down (smooth edges)."""

# (centre x, centre y, radius x, radius y, fill, outline, outline width), in 256 px units.
SHAPES = (
    (128, 128, 120, 120, "#4a1f73", None, 0),  # badge: deep purple disc
    (128, 128, 104, 104, "#f4eefa", None, 0),  # pale field inside the badge
    (128, 130, 82, 78, "#c7b2e4", "#9c7fc9", 5),  # cytoplasm: thin lilac rim
    (120, 124, 58, 55, "#5d2a96", None, 0),  # blast nucleus: large, round, dark purple
    (104, 110, 13, 12, "#9068c9", None, 0),  # nucleolus
    (140, 140, 9, 8, "#7f55bb", None, 0),  # second nucleolus
)


def svg() -> str:
    shapes = []
    for cx, cy, rx, ry, fill, outline, width in SHAPES:
        stroke = f' stroke="{outline}" stroke-width="{width}"' if outline else ""
        shapes.append(f'  <ellipse cx="{cx}" cy="{cy}" rx="{rx}" ry="{ry}" fill="{fill}"{stroke}/>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CANVAS}" height="{CANVAS}" '
        f'viewBox="0 0 {CANVAS} {CANVAS}">\n  <title>BlastScan</title>\n' + "\n".join(shapes) + "\n</svg>\n"
    )


def raster(size: int) -> Image.Image:
    big = CANVAS * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for cx, cy, rx, ry, fill, outline, width in SHAPES:
        s = SUPERSAMPLE
        box = ((cx - rx) * s, (cy - ry) * s, (cx + rx) * s, (cy + ry) * s)
        draw.ellipse(box, fill=fill)
        if outline:  # an SVG stroke is centred on the outline: half inside, half outside
            half = width * s / 2
            outer = (box[0] - half, box[1] - half, box[2] + half, box[3] + half)
            draw.ellipse(outer, outline=outline, width=round(width * s))
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    (HERE / "blastscan.svg").write_text(svg(), encoding="utf-8")
    images = {size: raster(size) for size in SIZES}
    for size, image in images.items():
        image.save(HERE / f"blastscan-{size}.png", optimize=True)
    images[256].save(HERE / "blastscan.png", optimize=True)
    images[256].save(HERE / "blastscan.ico", sizes=[(size, size) for size in SIZES])
    print(f"wrote blastscan.svg, blastscan.png, blastscan.ico and {len(SIZES)} PNG sizes in {HERE}")


if __name__ == "__main__":
    main()
