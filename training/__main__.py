"""`python -m training`: rebuild the bundled blast classifier from labelled cell images, or
(`--lab-data`) retrain it on a lab's reviewed cells into that lab's data folder."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
LAB_SHARE = 0.5
"""Default weight of the lab's cells together: as much as all original cells.  The lab's
cells are the population the model will meet; the original cells carry what generalises
across patients and the cell types the lab has not labelled; at one half neither can be
ignored, whatever the counts."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from app.core.recalibration import MINIMUM_BLASTS, MINIMUM_CASES, MINIMUM_NORMALS

    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train the blast classifier with patient-grouped cross-validation and export "
        "the model the app bundles (tflite, keras, model card). With --lab-data: "
        "retrain it on a lab's reviewed cells together with the original data, compare "
        "it with the lab's current model on the same held-out lab cases, and write it "
        "into the lab's data folder, where the app offers it beside the current one.",
    )
    parser.add_argument(
        "--recipe",
        choices=("multilab", "frozen-head"),
        default="multilab",
        help="multilab (default): fine-tune on every training lab of --data-root, "
        "judge on held-out patients, fields and labs, export with the familiarity "
        "reference; frozen-head: the earlier linear head on frozen features of --data",
    )
    parser.add_argument(
        "--data-root",
        type=Path,
        default=SHARED_DATA,
        help="multilab: the shared data folder with every lab (default: %(default)s)",
    )
    parser.add_argument(
        "--leave-out",
        nargs="*",
        default=[],
        metavar="LAB",
        help="multilab: labs kept out of training and scored (leave-one-lab-out runs)",
    )
    parser.add_argument("--steps-per-epoch", type=int, default=None, help="multilab: batches per epoch")
    parser.add_argument(
        "--lolo-card",
        type=Path,
        default=None,
        help="multilab: model_card.json of a leave-one-lab-out run, reported in this card",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=SHARED_DATA / "cnmc",
        help="frozen-head and --lab-data: folder with class subfolders all|blast and hem|normal",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where the model goes (default: models/; with --lab-data: <data dir>/models/<version>/, not to be given)",
    )
    parser.add_argument(
        "--lab-data",
        type=Path,
        default=None,
        help="a BlastScan data folder (case store): retrain on the cells reviewed in "
        f"its signed-off cases (at least {MINIMUM_BLASTS} blasts, {MINIMUM_NORMALS} normal cells, "
        f"{MINIMUM_CASES} cases)",
    )
    parser.add_argument(
        "--lab-share",
        type=float,
        default=None,
        help="with --lab-data: the share of the training weight the lab's cells carry "
        f"together, the original data the rest (default {LAB_SHARE}: neither "
        "source can be ignored, whatever their counts)",
    )
    parser.add_argument(
        "--run-dir", type=Path, default=REPO / "training" / "runs", help="checkpoints and the feature cache"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs (default: multilab 14 of --steps-per-epoch batches, frozen-head 30)",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="model input size in pixels (default: multilab 128, frozen-head 224)",
    )
    parser.add_argument(
        "--crop-size", type=int, default=320, help="centre of the 450 px cell canvas that is resized to the input"
    )
    parser.add_argument(
        "--views",
        type=int,
        choices=(1, 8),
        default=8,
        help="8: every cell in its 8 flips/rotations (augmentation, and test-time "
        "augmentation where it helps); 1: as it is (8x faster feature extraction)",
    )
    parser.add_argument(
        "--colour-normalisation",
        action="store_true",
        help="map each cell's CIELAB colour statistics onto the training cells' "
        "average (measured: out-of-fold AUROC 0.877 vs 0.895 without, one "
        "view; no gain on another lab's fields), default off",
    )
    parser.add_argument(
        "--folds", type=int, default=5, help="patient-grouped CV folds (with --lab-data: folds of the lab's cases)"
    )
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument(
        "--target-recall", type=float, default=0.95, help="blast recall the decision threshold must reach out-of-fold"
    )
    parser.add_argument("--weight-decay", type=float, default=1e-3, help="L2 on the head")
    parser.add_argument(
        "--extra-negatives",
        default=str(SHARED_DATA / "pbc_normal_other"),
        help="folder of normal non-lymphoid cells with background (one subfolder per "
        "cell type): segmented like the app does and added to training as "
        "negatives, never to the metrics; 'none' to leave them out "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from the checkpoints in --run-dir instead of starting over"
    )
    args = parser.parse_args(argv)
    from training.finetune import FinetuneConfig

    multilab = args.recipe == "multilab" and args.lab_data is None
    args.epochs = args.epochs or (FinetuneConfig.epochs if multilab else 30)
    args.image_size = args.image_size or (FinetuneConfig.input_size if multilab else 224)
    if not multilab and (args.leave_out or args.steps_per_epoch or args.lolo_card):
        parser.error("--leave-out, --steps-per-epoch and --lolo-card belong to the multilab recipe")
    if multilab and not args.data_root.is_dir():
        parser.error(f"--data-root {args.data_root} is not a folder")
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    if not 0 < args.target_recall < 1:
        parser.error("--target-recall must be between 0 and 1")
    if not args.data.is_dir():
        parser.error(f"--data {args.data} is not a folder")
    if args.lab_data is None:
        if args.lab_share is not None:
            parser.error("--lab-share needs --lab-data")
        args.out = args.out or REPO / "models"
    else:
        from app.core.store import DB_FILE

        if not (args.lab_data / DB_FILE).is_file():
            parser.error(f"--lab-data {args.lab_data} holds no case store ({DB_FILE})")
        if args.out is not None or args.resume:
            parser.error("--out and --resume do not apply to --lab-data")
        args.lab_share = LAB_SHARE if args.lab_share is None else args.lab_share
        if not 0 < args.lab_share < 1:
            parser.error("--lab-share must be between 0 and 1")
        args.out = args.lab_data / "models"
    args.extra_negatives = None if args.extra_negatives.lower() == "none" else Path(args.extra_negatives)
    if args.extra_negatives is not None and not args.extra_negatives.is_dir():
        parser.error(f"--extra-negatives {args.extra_negatives} is not a folder (or say 'none')")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{(time.monotonic() - started) / 60:5.1f} min] {message}", flush=True)

    if args.recipe == "multilab" and args.lab_data is None:
        return _multilab(args, log)
    from training.export import build_classifier, export_model, write_card
    from training.train import TrainingConfig, run

    config = TrainingConfig(
        data=args.data.resolve(),
        out=args.out,
        run_dir=args.run_dir,
        epochs=args.epochs,
        input_size=args.image_size,
        crop_size=args.crop_size,
        folds=args.folds,
        seed=args.seed,
        target_recall=args.target_recall,
        weight_decay=args.weight_decay,
        views=args.views,
        colour_normalisation=args.colour_normalisation,
        extra_negatives=args.extra_negatives.resolve() if args.extra_negatives else None,
    )

    if args.lab_data is not None:
        from app.core.recalibration import RecalibrationRefused
        from training.lab import retrain

        try:
            retrain(config, args.lab_data.resolve(), args.lab_share, log)
        except RecalibrationRefused as refusal:
            print(f"retraining refused: {refusal}", file=sys.stderr)
            return 2
        return 0
    if not args.resume:
        for checkpoint in args.run_dir.glob("fold*"):
            shutil.rmtree(checkpoint)
        shutil.rmtree(args.run_dir / "final", ignore_errors=True)
    head, cv = run(config, log)
    export_model(build_classifier(head, config.input_size), args.out)
    card = write_card(config, cv, args.out)
    log(
        f"wrote {args.out}: AUROC {card.metrics.auroc:.3f}, recall "
        f"{card.metrics.recall:.3f}, specificity {card.metrics.specificity:.3f}"
    )
    return 0


def _multilab(args: argparse.Namespace, log) -> int:
    from training.finetune import FinetuneConfig, train
    from training.release import release

    run_dir = args.run_dir / ("finetune" + "".join(f"_without_{lab}" for lab in args.leave_out))
    if not args.resume:
        shutil.rmtree(run_dir, ignore_errors=True)
    config = FinetuneConfig(
        data_root=args.data_root.resolve(),
        run_dir=run_dir.resolve(),
        input_size=args.image_size,
        crop_size=args.crop_size,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch or FinetuneConfig.steps_per_epoch,
        seed=args.seed,
        leave_out=tuple(args.leave_out),
    )
    train(config, log)
    card = release(config.run_dir, args.out.resolve(), args.target_recall, log, lolo_card=args.lolo_card)
    log(
        f"wrote {args.out}: held-out AUROC {card.metrics.auroc:.3f}, recall {card.metrics.recall:.3f}, "
        f"specificity {card.metrics.specificity:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
