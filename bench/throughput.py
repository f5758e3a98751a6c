"""Batch throughput of classification (cells/s): the real pipeline against the model alone.

Run: .venv/bin/python bench/throughput.py [--cells 2000] [--repeats 3] [--tta both|on|off] [--threads N]
                                          [--format bmp|webp]

Pipeline: `classify_case` on N C-NMC cells (450x450; the shared lossless WebP copy, or with
`--format bmp` the same pixels as 24-bit BMP like the published set and a lab's files; read
once beforehand so that the page cache holds them) into a new case of a fresh temporary store, with the desktop
app's cell finder (`find_cells`: kind check, crop used as it is) and the app's defaults
(model batch 16 images, all CPU threads unless `--threads`, 2 read-ahead workers); timed
from the call to its return.  Limit: the same `Classifier` (model, batch size, threads, TTA) on the same cells'
model inputs, prepared beforehand and held in memory, `predict` called on groups of
`cells_per_batch` cells as the pipeline calls it.  Ratio = pipeline / limit.  Limit and
pipeline runs alternate; the median of `--repeats` runs is reported.

Then one serial pass over `--profile-cells` cells (TTA off) times each stage of the pipeline
per cell, on one thread (the model on its threads), to show where the time goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np
from _common import (
    Classifier,
    cnmc_cells,
    find_cells,
    load_image,
    median_and_spread,
    model_only,
    run_pipeline,
    stage_costs,
    timed,
    warm_page_cache,
)
from PIL import Image


def as_bmp(paths: list[Path], folder: Path) -> list[Path]:
    """The cells written as 24-bit BMP into `folder` (same pixels), in the same order."""
    converted = []
    for path in paths:
        target = folder / (path.stem + ".bmp")
        Image.open(path).convert("RGB").save(target, format="BMP")
        converted.append(target)
    return converted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=2000, help="C-NMC cells per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each kind (median reported)")
    parser.add_argument("--tta", choices=("both", "off", "on"), default="both", help="test-time augmentation")
    parser.add_argument("--profile-cells", type=int, default=200, help="cells for the per-stage breakdown (0: none)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="model threads (limit and pipeline)")
    parser.add_argument(
        "--format",
        choices=("webp", "bmp"),
        default="webp",
        help="webp: the shared lossless WebP copy as it is (default, as in earlier runs); "
        "bmp: the same pixels as 24-bit BMP, as C-NMC publishes them and a lab gets them",
    )
    parser.add_argument(
        "--record-card",
        action="store_true",
        help="write the figures at the card's default TTA into the bundled model card "
        "(its 'speed' section, and a line of its markdown)",
    )
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory(prefix="blastscan-bench-bmp-")
    paths = cnmc_cells(args.cells)
    if args.format == "bmp":
        paths = as_bmp(paths, Path(scratch.name))
    warm_page_cache(paths)
    canvases = [find_cells(load_image(path).rgb)[0].canvas for path in paths]
    print(
        f"{len(paths)} C-NMC cells as {args.format.upper()}, {os.cpu_count()} CPUs, "
        f"{args.repeats} runs each: median (min-max)"
    )
    for tta in {"both": (False, True), "off": (False,), "on": (True,)}[args.tta]:
        classifier = Classifier(tta=tta, num_threads=args.threads)
        inputs = np.stack([classifier.prepare(canvas) for canvas in canvases])
        model_only(classifier, inputs[: classifier.cells_per_batch])  # warm-up
        limit, pipeline = [], []
        for _ in range(args.repeats):
            limit.append(len(paths) / timed(model_only, classifier, inputs))
            seconds, cells = run_pipeline(classifier, paths)
            if cells != len(paths):
                raise SystemExit(f"the pipeline stored {cells} cells for {len(paths)} images")
            pipeline.append(len(paths) / seconds)
        ratios = ", ".join(f"{p / m:.2f}" for p, m in zip(pipeline, limit, strict=True))
        print(
            f"\nTTA {'on (8 views)' if tta else 'off'}: batch {classifier.batch_size} images "
            f"({classifier.cells_per_batch} cells), {args.threads} model threads"
        )
        print(f"  model-only limit  {median_and_spread(limit)} cells/s")
        print(f"  pipeline          {median_and_spread(pipeline)} cells/s")
        print(
            f"  ratio             {statistics.median(pipeline) / statistics.median(limit):.2f} "
            f"(of the medians; run by run {ratios})"
        )
        if args.record_card and tta == Classifier().tta:
            record_in_card(args, tta, statistics.median(limit), statistics.median(pipeline))
        if not tta and args.profile_cells:
            costs, _ = stage_costs(classifier, paths[: args.profile_cells])
            print(f"  per cell, stages run serially on {args.profile_cells} cells (ms):")
            for name, ms in costs.items():
                print(f"    {name:14s} {ms:7.2f}")


def record_in_card(args, tta: bool, limit: float, pipeline: float) -> None:
    """The default-settings throughput as the card's 'speed' section and a line of its markdown."""
    import dataclasses
    import datetime as dt

    from app.core.files import replaced_atomically
    from app.core.model_card import CARD_FILE, CARD_MARKDOWN_FILE, ModelCard, Speed
    from app.core.resources import models_dir

    card_path, markdown_path = models_dir() / CARD_FILE, models_dir() / CARD_MARKDOWN_FILE
    speed = Speed(
        command=f"bench/throughput.py --cells {args.cells} --repeats {args.repeats} --tta {'on' if tta else 'off'}",
        measured=dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes"),
        cpus=os.cpu_count(),
        tta=tta,
        model_only_limit_cells_per_s=round(limit, 1),
        pipeline_cells_per_s=round(pipeline, 1),
        ratio=round(pipeline / limit, 3),
    )
    dataclasses.replace(ModelCard.load(card_path), speed=speed).write(card_path)
    line = (
        f"Speed at the default settings (TTA {'on' if tta else 'off'}), `{speed.command}`, "
        f"{speed.measured}, {speed.cpus} CPUs: {pipeline:.1f} cells/s end to end, "
        f"{pipeline / limit:.2f} of the model-only limit ({limit:.1f} cells/s)."
    )
    lines = [
        row
        for row in markdown_path.read_text(encoding="utf-8").splitlines()
        if not row.startswith("Speed at the default")
    ]
    at = lines.index("## Held-out results (cells never trained on, at the threshold above)")
    with replaced_atomically(markdown_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join([*lines[:at], line, "", *lines[at:]]) + "\n")
    print(f"  recorded in {card_path}")


if __name__ == "__main__":
    main()
