"""Fine-tune EfficientNet-Lite0 on cells of several labs, with held-out patients, fields and labs.

One run: the backbone (batch norm frozen at its ImageNet statistics) and a linear head learn
from every training lab at once, each batch drawn with fixed shares per lab and class (so no
lab's colour predicts the class), every view augmented afresh (`training.augment`).  Held out
of training and scored after every epoch: a seeded set of C-NMC patients, a seeded share of
Taleqani field blocks, a share of each normal-cell lab's files, and every `evaluate` lab
(plus any lab named in `leave_out`).  Each epoch's weights, optimiser state and held-out
logits are saved, so a run resumes where it stopped and checkpoints are chosen (or averaged)
afterwards on held-out labs, not on in-lab validation alone.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from training import metrics
from training.augment import Augmentation, centre_view, random_view, stain_bank
from training.efficientnet_lite import build_backbone
from training.labs import LABS, CellSet, lab_by_name, load_cells

keras = tf.keras

SHARES = {
    ("cnmc", True): 0.25,
    ("taleqani", True): 0.25,
    ("cnmc", False): 0.20,
    ("taleqani", False): 0.15,
    ("normal_labs", False): 0.15,
}
"""Share of each batch per (lab, is_blast); the normal-cell labs split theirs evenly."""


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that decides a fine-tuning run (stored in the run folder and the model card)."""

    data_root: Path
    run_dir: Path
    input_size: int = 128
    crop_size: int = 320
    epochs: int = 14
    steps_per_epoch: int = 256
    batch_size: int = 32
    head_lr: float = 1e-3
    backbone_lr: float = 2e-4
    warmup_steps: int = 100
    weight_decay: float = 1e-4
    dropout: float = 0.3
    label_smoothing: float = 0.05
    seed: int = 2019
    held_out_cnmc: tuple[int, int] = (6, 3)  # ALL patients, healthy subjects
    held_out_share: float = 0.2  # of Taleqani field blocks and of each normal-cell lab's files
    leave_out: tuple[str, ...] = ()
    augmentation: Augmentation = field(default_factory=Augmentation)

    def to_json(self) -> dict:
        data = asdict(self)
        data.update(data_root=str(self.data_root), run_dir=str(self.run_dir))
        return data


def split(cells: CellSet, config: FinetuneConfig) -> np.ndarray:
    """True for the cells held out of training (whole groups and whole labs)."""
    rng = np.random.default_rng(config.seed)
    held = np.zeros(len(cells), dtype=bool)
    for lab in LABS:
        in_lab = cells.lab == lab.name
        if not lab.trained_on(config.leave_out):
            held |= in_lab
            continue
        if lab.name == "cnmc":
            for is_blast, count in zip((True, False), config.held_out_cnmc):
                groups = sorted(set(cells.group[in_lab & (cells.is_blast == is_blast)]))
                held |= np.isin(cells.group, rng.choice(groups, count, replace=False))
            continue
        for is_blast in (True, False):
            groups = sorted(set(cells.group[in_lab & (cells.is_blast == is_blast)]))
            if groups:
                chosen = rng.choice(groups, max(1, round(config.held_out_share * len(groups))), replace=False)
                held |= in_lab & np.isin(cells.group, chosen)
    return held


def epoch_indices(cells: CellSet, training: np.ndarray, config: FinetuneConfig, epoch: int) -> np.ndarray:
    """The cells of one epoch, drawn with SHARES; within a stratum a group of n cells weighs sqrt(n)."""
    rng = np.random.default_rng([config.seed, epoch])
    total = config.steps_per_epoch * config.batch_size
    normal_labs = [lab.name for lab in LABS if lab.normal_only and lab.trained_on(config.leave_out)]
    strata = {key: share for key, share in SHARES.items() if key[0] != "normal_labs"}
    strata.update({(name, False): SHARES[("normal_labs", False)] / len(normal_labs) for name in normal_labs})
    strata = {key: share for key, share in strata.items() if key[0] not in config.leave_out}
    scale = 1 / sum(strata.values())
    chosen = []
    for (lab, is_blast), share in strata.items():
        members = np.flatnonzero(training & (cells.lab == lab) & (cells.is_blast == is_blast))
        if len(members) == 0:
            continue
        _, inverse, counts = np.unique(cells.group[members], return_inverse=True, return_counts=True)
        weights = 1 / np.sqrt(counts[inverse])
        chosen.append(rng.choice(members, round(total * share * scale), p=weights / weights.sum()))
    indices = np.concatenate(chosen)
    rng.shuffle(indices)
    return indices[: total - total % config.batch_size]


def _labelled_canvases(cells: CellSet, indices: np.ndarray):
    """(canvas, label) of the given cells, in order."""
    return ((cells.canvases[i], np.float32(cells.is_blast[i])) for i in indices)


def build_model(input_size: int, dropout: float) -> keras.Model:
    """Image (0..255 RGB) to [blast logit (N x 1), pooled features (N x 1280)]."""
    backbone = build_backbone(input_size)
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False  # inference mode: ImageNet statistics, as the app runs it
    features = backbone.output
    logit = keras.layers.Dense(1, name="logit")(keras.layers.Dropout(dropout, name="dropout")(features))
    return keras.Model(backbone.input, [logit, features], name="blast_classifier")


def _optimiser(config: FinetuneConfig, peak: float) -> keras.optimizers.Optimizer:
    total = config.epochs * config.steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, max(1, total - config.warmup_steps), warmup_target=peak, warmup_steps=config.warmup_steps
    )
    return keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)


def train(config: FinetuneConfig, log: Callable[[str], None] = print) -> Path:
    """Run (or resume) the fine-tuning; return the run folder with one checkpoint per epoch."""
    config.run_dir.mkdir(parents=True, exist_ok=True)
    (config.run_dir / "config.json").write_text(json.dumps(config.to_json(), indent=1))
    cells = load_cells([lab for lab in LABS], config.data_root, config.run_dir.parent / "cells", log)
    held = split(cells, config)
    np.save(config.run_dir / "held_out.npy", held)
    training = ~held
    bank = tf.constant(stain_bank(cells.canvases[training], seed=config.seed))
    model = build_model(config.input_size, config.dropout)
    head_vars = model.get_layer("logit").trainable_variables
    backbone_vars = [v for v in model.trainable_variables if all(v is not h for h in head_vars)]
    head_opt, backbone_opt = _optimiser(config, config.head_lr), _optimiser(config, config.backbone_lr)
    head_opt.build(head_vars)
    backbone_opt.build(backbone_vars)
    start_epoch = _resume(config.run_dir, model, head_opt, backbone_opt, log)

    @tf.function(reduce_retracing=True)
    def step(images, labels):
        targets = labels * (1 - config.label_smoothing) + 0.5 * config.label_smoothing
        with tf.GradientTape() as tape:
            logits = model(images, training=True)[0][:, 0]
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(targets, logits))
        gradients = tape.gradient(loss, head_vars + backbone_vars)
        head_opt.apply_gradients(zip(gradients[: len(head_vars)], head_vars))
        backbone_opt.apply_gradients(zip(gradients[len(head_vars) :], backbone_vars))
        return loss

    aug = config.augmentation
    for epoch in range(start_epoch, config.epochs):
        indices = epoch_indices(cells, training, config, epoch)
        dataset = (
            tf.data.Dataset.from_generator(
                functools.partial(_labelled_canvases, cells, indices),
                output_signature=(tf.TensorSpec(cells.canvases.shape[1:], tf.uint8), tf.TensorSpec([], tf.float32)),
            )
            .map(
                lambda c, y: (random_view(c, bank, config.input_size, config.crop_size, aug), y),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            .batch(config.batch_size)
            .prefetch(2)
        )
        started, losses = time.monotonic(), []
        for batch, (images, labels) in enumerate(dataset):
            losses.append(float(step(images, labels)))
            if (batch + 1) % 32 == 0:
                rate = (batch + 1) * config.batch_size / (time.monotonic() - started)
                log(
                    f"epoch {epoch + 1} step {batch + 1}/{len(indices) // config.batch_size} "
                    f"loss {np.mean(losses[-32:]):.4f} {rate:.1f} img/s"
                )
        logits = predict_held_out(model, cells, held, config)
        summary = held_out_summary(cells, held, logits)
        summary.update(epoch=epoch + 1, loss=float(np.mean(losses)), minutes=(time.monotonic() - started) / 60)
        _save_epoch(config.run_dir, epoch + 1, model, head_opt, backbone_opt, logits, summary)
        log(f"epoch {epoch + 1}: " + json.dumps({k: v for k, v in summary.items() if k != "epoch"}))
    return config.run_dir


def predict_held_out(model: keras.Model, cells: CellSet, held: np.ndarray, config: FinetuneConfig) -> np.ndarray:
    """Logits of the held-out cells, centre view (as the app makes it)."""
    rows = np.flatnonzero(held)
    logits = [
        forward(model, centre_inputs(cells.canvases[rows[i : i + 1024]], config))[0] for i in range(0, len(rows), 1024)
    ]
    return np.concatenate(logits) if logits else np.zeros(0, np.float32)


def centre_inputs(canvases: np.ndarray, config: FinetuneConfig, batch: int = 256) -> np.ndarray:
    """Model inputs of cached canvases in the centre view (what the app's model_input gives)."""
    view = _centre_view_function(config.input_size, config.crop_size)
    parts = [view(tf.constant(canvases[i : i + batch])).numpy() for i in range(0, len(canvases), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, config.input_size, config.input_size, 3), np.float32)


@functools.cache
def _centre_view_function(input_size: int, crop_size: int):
    return tf.function(
        lambda c: tf.map_fn(lambda x: centre_view(x, input_size, crop_size), c, fn_output_signature=tf.float32),
        reduce_retracing=True,
    )


def forward(model: keras.Model, inputs: np.ndarray, batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Logits [N] and pooled features [N, 1280] of model inputs."""
    run = _forward_function(model)
    logits, features = [], []
    for start in range(0, len(inputs), batch):
        logit, feature = run(tf.constant(inputs[start : start + batch]))
        logits.append(logit.numpy()[:, 0])
        features.append(feature.numpy())
    return np.concatenate(logits), np.concatenate(features)


@functools.cache
def _forward_function(model: keras.Model):
    return tf.function(lambda x: model(x, training=False), reduce_retracing=True)


def held_out_summary(cells: CellSet, held: np.ndarray, logits: np.ndarray, target_recall: float = 0.95) -> dict:
    """AUROC per lab with both classes; flag rate of the normal-only labs at the threshold that
    gives `target_recall` on the held-out blasts of all labs together."""
    labs, labels = cells.lab[held], cells.is_blast[held]
    summary: dict = {}
    for name in sorted(set(labs)):
        in_lab = labs == name
        if labels[in_lab].any() and not labels[in_lab].all():
            summary[f"auroc_{name}"] = metrics.auroc(labels[in_lab], logits[in_lab])
    threshold = float(np.quantile(logits[labels], 1 - target_recall)) if labels.any() else 0.0
    summary["threshold_logit"] = threshold
    for name in sorted(set(labs)):
        in_lab = labs == name
        if lab_by_name(name).normal_only:
            summary[f"flagged_{name}"] = float((logits[in_lab] >= threshold).mean())
        elif labels[in_lab].any():
            summary[f"recall_{name}"] = float((logits[in_lab & labels] >= threshold).mean())
            summary[f"normal_flagged_{name}"] = float((logits[in_lab & ~labels] >= threshold).mean())
    return summary


def _resume(run_dir: Path, model, head_opt, backbone_opt, log) -> int:
    done = sorted(run_dir.glob("epoch_*.weights.h5"))
    if not done:
        return 0
    last = done[-1]
    epoch = int(last.name.split("_")[1].split(".")[0])
    model.load_weights(last)
    with np.load(run_dir / f"epoch_{epoch:02d}.optimiser.npz") as state:
        for name, opt in (("head", head_opt), ("backbone", backbone_opt)):
            for index, variable in enumerate(opt.variables):
                variable.assign(state[f"{name}_{index}"])
    log(f"resumed after epoch {epoch}")
    return epoch


def _save_epoch(run_dir: Path, epoch: int, model, head_opt, backbone_opt, logits, summary) -> None:
    """Weights, optimiser state, held-out logits and the summary of one epoch, each atomically."""
    temporary = run_dir / f"epoch_{epoch:02d}.tmp.weights.h5"
    model.save_weights(temporary)
    state = {
        f"{name}_{index}": variable.numpy()
        for name, opt in (("head", head_opt), ("backbone", backbone_opt))
        for index, variable in enumerate(opt.variables)
    }
    np.savez(run_dir / f"epoch_{epoch:02d}.optimiser.tmp.npz", **state)
    np.save(run_dir / f"epoch_{epoch:02d}.logits.npy", logits)
    (run_dir / f"epoch_{epoch:02d}.optimiser.tmp.npz").replace(run_dir / f"epoch_{epoch:02d}.optimiser.npz")
    temporary.replace(run_dir / f"epoch_{epoch:02d}.weights.h5")
    with open(run_dir / "history.jsonl", "a") as history:
        history.write(json.dumps(summary) + "\n")


def main(argv: list[str] | None = None) -> int:
    import argparse

    from training.__main__ import REPO, SHARED_DATA

    parser = argparse.ArgumentParser(prog="python -m training.finetune", description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=SHARED_DATA, help="the shared data folder")
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=REPO / "training" / "runs" / "finetune",
        help="checkpoints; an interrupted run in it resumes",
    )
    parser.add_argument("--epochs", type=int, default=FinetuneConfig.epochs)
    parser.add_argument("--steps-per-epoch", type=int, default=FinetuneConfig.steps_per_epoch)
    parser.add_argument("--input-size", type=int, default=FinetuneConfig.input_size)
    parser.add_argument("--seed", type=int, default=FinetuneConfig.seed)
    parser.add_argument("--leave-out", nargs="*", default=[], help="labs kept out of training (scored)")
    parser.add_argument(
        "--magnification",
        nargs=2,
        type=float,
        default=Augmentation.magnification,
        metavar=("LOW", "HIGH"),
        help="range of the random magnification of a view",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    config = FinetuneConfig(
        data_root=args.data_root.resolve(),
        run_dir=args.run_dir.resolve(),
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        input_size=args.input_size,
        seed=args.seed,
        leave_out=tuple(args.leave_out),
        augmentation=Augmentation(magnification=tuple(args.magnification)),
    )
    train(config, lambda m: print(f"[{(time.monotonic() - started) / 60:6.1f} min] {m}", flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
